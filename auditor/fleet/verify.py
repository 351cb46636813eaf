"""`auditor verify DIR` for a fleet folder: the summary's DSSE signature, the
digests of fleet.json, fleet.html and every model's report.json it names, the
summary's schema, and then each model's report folder as `verify` checks one."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import SignatureError
from ..report import dsse, keys
from ..report.verify import VerifyResult, verify
from ..yamlio import schema_errors
from .summary import FLEET_ENVELOPE, FLEET_JSON, FLEET_PREDICATE, SCHEMA, predicate_for


def is_fleet_dir(path: Path) -> bool:
    return path.is_dir() and (path / FLEET_ENVELOPE).exists()


def _inside(directory: Path, name: str) -> Path | None:
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or ".." in parts or len(parts) > 2:
        return None
    return directory / name


def verify_fleet(directory: Path, pubkey_path: Path) -> VerifyResult:
    pub = keys.load_public_key(pubkey_path)
    reasons: list[str] = []
    checked: list[str] = []
    try:
        envelope = json.loads((directory / FLEET_ENVELOPE).read_text(encoding="utf-8"))
        payload_type, payload = dsse.verify_envelope(envelope, pub)
        statement = json.loads(payload)
        if payload_type != dsse.PAYLOAD_TYPE or statement.get("predicateType") != FLEET_PREDICATE:
            raise SignatureError("not a fleet attestation")
        checked.append(f"{FLEET_ENVELOPE}: DSSE signature valid for key {keys.fingerprint(pub)}")
    except (OSError, ValueError, SignatureError, AttributeError) as exc:
        return VerifyResult(ok=False, reasons=[f"{FLEET_ENVELOPE}: {exc}"])
    for s in statement.get("subject") or []:
        name, want = s.get("name", ""), (s.get("digest") or {}).get("sha256")
        target = _inside(directory, name)
        if target is None:
            reasons.append(f"statement: subject {name!r} is not a file of the fleet folder")
            continue
        try:
            got = hashlib.sha256(target.read_bytes()).hexdigest()
        except OSError as exc:
            reasons.append(f"{name}: cannot read ({exc.strerror or exc})")
            continue
        (checked if got == want else reasons).append(
            f"{name}: sha256 matches the signed statement" if got == want else f"{name}: sha256 {got} does not match the signed {want}"
        )
    try:
        fleet = json.loads((directory / FLEET_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return VerifyResult(ok=False, reasons=reasons + [f"{FLEET_JSON}: unreadable ({exc})"], checked=checked)
    problems = schema_errors(fleet, SCHEMA)
    if problems:
        reasons.append(f"{FLEET_JSON}: does not match its schema (first: {problems[0]})")
    elif statement.get("predicate") != predicate_for(fleet):
        reasons.append(f"{FLEET_JSON}: exit code/counts do not match the signed predicate")
    else:
        for entry in fleet["models"]:
            if not entry["report_digest"]:
                continue
            sub = verify(directory / entry["slug"], pubkey_path)
            checked += [f"{entry['slug']}/{line}" for line in sub.checked]
            reasons += [f"{entry['slug']}/{line}" for line in sub.reasons]
    ok = not reasons
    return VerifyResult(ok=ok, reasons=reasons, checked=checked, report=None)
