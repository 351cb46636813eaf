"""Verify a written report directory against a public key.

Checks, all of which must pass:
  1. report.json.dsse is a DSSE envelope signed by the key, carrying an in-toto
     Statement v1 with our predicate type;
  2. every file subject's sha256 matches the file in the directory, report.json
     is among them, and no other report artifact lies there unsigned;
  3. report.json agrees with the signed predicate and the model subject, names
     the same key, and matches the report schema;
  4. report.pdf, when written (`--format json` writes none), carries a valid
     PAdES signature by the same key covering the entire file.

Unreadable *inputs* (no such path, unreadable key) raise AuditorError; anything
that could be tampering is a reason in a not-ok result.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ReportError, SignatureError
from . import dsse, keys
from .validate import report_problems
from .writer import ARTIFACT_NAMES, ENVELOPE, REPORT_JSON, REPORT_PDF


@dataclass
class VerifyResult:
    ok: bool
    reasons: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    report: dict[str, Any] | None = None  # the parsed report.json, when it verified

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "reasons": self.reasons, "checked": self.checked}


def _locate(path: Path) -> tuple[Path, Path]:
    """(directory, envelope path) for a directory, a report.json or an envelope."""
    if not path.exists():
        raise ReportError("no such file or directory", path=str(path))
    if path.is_dir():
        return path, path / ENVELOPE
    if path.name.endswith(".dsse"):
        return path.parent, path
    # report.json (or any artifact): the envelope beside it names every artifact by digest
    return path.parent, path.parent / ENVELOPE


def verify(path: Path, pubkey_path: Path) -> VerifyResult:
    """Verify the signed report at `path` (directory or report.json) with the key at `pubkey_path`."""
    path = Path(path)
    directory, env_path = _locate(path)
    pub = keys.load_public_key(pubkey_path)  # SignatureError -> caller exits 2
    fp = keys.fingerprint(pub)
    reasons: list[str] = []
    checked: list[str] = []

    # 1. envelope ---------------------------------------------------------
    statement: dict[str, Any] | None = None
    try:
        raw = env_path.read_bytes()
    except FileNotFoundError:
        reasons.append(f"{env_path.name}: missing — the report is not signed")
        raw = None
    except OSError as exc:
        raise ReportError(f"cannot read: {exc.strerror or exc}", path=str(env_path)) from None
    if raw is not None:
        try:
            envelope = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            reasons.append(f"{env_path.name}: not valid JSON ({exc})")
            envelope = None
        if envelope is not None:
            if isinstance(envelope, dict) and dsse.envelope_bytes(envelope) != raw:
                reasons.append(f"{env_path.name}: not byte-identical to its canonical form (the file was modified)")
            try:
                payload_type, payload = dsse.verify_envelope(envelope, pub)
                checked.append(f"{env_path.name}: DSSE signature valid for key {fp}")
                if payload_type != dsse.PAYLOAD_TYPE:
                    reasons.append(f"{env_path.name}: unexpected payloadType {payload_type!r}")
                try:
                    statement = json.loads(payload.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    reasons.append(f"{env_path.name}: signed payload is not JSON")
            except SignatureError as exc:
                reasons.append(f"{env_path.name}: {exc}")
    if statement is not None:
        if not isinstance(statement, dict) or statement.get("_type") != dsse.STATEMENT_TYPE:
            reasons.append("statement: not an in-toto Statement v1")
            statement = None
        elif statement.get("predicateType") != dsse.PREDICATE_TYPE:
            reasons.append(f"statement: unexpected predicateType {statement.get('predicateType')!r}")

    # 2. subjects -----------------------------------------------------------
    signed_names: set[str] = set()
    model_subject = None
    if statement is not None:
        subjects = statement.get("subject")
        if not isinstance(subjects, list):
            reasons.append("statement: no subject list")
            subjects = []
        for s in subjects:
            name = s.get("name") if isinstance(s, dict) else None
            want = (s.get("digest") or {}).get("sha256") if isinstance(s, dict) and isinstance(s.get("digest"), dict) else None
            if not isinstance(name, str) or not isinstance(want, str):
                reasons.append(f"statement: malformed subject {s!r:.80}")
                continue
            if name.startswith(dsse.MODEL_SUBJECT_PREFIX):
                model_subject = (name, want)
                continue
            if name != Path(name).name or name in (".", ".."):
                reasons.append(f"statement: subject {name!r} is not a file in the report directory")
                continue
            signed_names.add(name)
            target = directory / name
            try:
                got = hashlib.sha256(target.read_bytes()).hexdigest()
            except FileNotFoundError:
                reasons.append(f"{name}: signed artifact is missing")
                continue
            except OSError as exc:
                reasons.append(f"{name}: cannot read ({exc.strerror or exc})")
                continue
            if got != want:
                reasons.append(f"{name}: sha256 {got} does not match the signed digest {want} (file was modified)")
            else:
                checked.append(f"{name}: sha256 matches the signed statement")
        if REPORT_JSON not in signed_names:
            reasons.append(f"statement: {REPORT_JSON} is not among the signed subjects")
        if model_subject is None:
            reasons.append("statement: no model subject")
    for name in ARTIFACT_NAMES:
        if name not in signed_names and (directory / name).exists() and statement is not None:
            reasons.append(f"{name}: present but not covered by the signature")

    # 3. report.json content --------------------------------------------------
    report = None
    try:
        report = json.loads((directory / REPORT_JSON).read_text(encoding="utf-8"))
    except FileNotFoundError:
        if REPORT_JSON in signed_names or statement is None:
            reasons.append(f"{REPORT_JSON}: missing")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        reasons.append(f"{REPORT_JSON}: unreadable ({exc})")
    if isinstance(report, dict):
        problems = report_problems(report)
        if problems:
            reasons.append(f"{REPORT_JSON}: does not match the report schema ({len(problems)} problems, first: {problems[0]})")
        else:
            checked.append(f"{REPORT_JSON}: matches the report schema")
        signing = report.get("signing") if isinstance(report.get("signing"), dict) else {}
        if signing.get("key_fingerprint") != fp:
            reasons.append(f"{REPORT_JSON}: names signing key {signing.get('key_fingerprint')}, not {fp}")
        if statement is not None and not problems:
            predicate = statement.get("predicate")
            if predicate != dsse.predicate_for(report):
                reasons.append(f"{REPORT_JSON}: verdict/model/policy do not match the signed predicate")
            else:
                checked.append(
                    f"predicate: verdict {report['verdict']} for {report['model']['id']}@{report['model'].get('revision') or 'local'}"
                )
            if model_subject is not None and model_subject != (dsse.model_subject_name(report), report["model"]["digest"]["sha256"]):
                reasons.append("statement: model subject does not match report.json's model id/revision/digest")
    elif report is not None:
        reasons.append(f"{REPORT_JSON}: not a JSON object")

    # 4. PDF ----------------------------------------------------------------
    pdf_path = directory / REPORT_PDF
    if pdf_path.exists():
        from . import pades

        try:
            checked.append(f"{REPORT_PDF}: {pades.verify_pdf(pdf_path, pub)}")
        except SignatureError as exc:
            reasons.append(f"{REPORT_PDF}: {exc}")

    ok = not reasons
    return VerifyResult(ok=ok, reasons=reasons, checked=checked, report=report if ok else None)
