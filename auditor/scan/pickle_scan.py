"""Judge a pickle stream: imports, calls, stacked and broken pickles, embedded payloads, legacy torch."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, BinaryIO

from . import patterns
from .blob import Blob
from .imports_policy import DANGEROUS_MODULES, classify, normalise
from .pickle_walk import VALID, Global, PickleParseError, Reader, Walk
from .handlers import register

if TYPE_CHECKING:
    from .handlers import ScanContext

TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
MAX_TEXT_CHECKS = 200_000
TAIL_SCAN = 16 << 20
STORAGE_ELEM = {
    "Float": 4, "Double": 8, "Half": 2, "BFloat16": 2, "Long": 8, "Int": 4, "Short": 2, "Char": 1,
    "Byte": 1, "Bool": 1, "ComplexFloat": 8, "ComplexDouble": 16, "QUInt8": 1, "QInt8": 1, "QInt32": 4,
    "QUInt4x2": 1, "QUInt2x4": 1, "Untyped": 1,
}
_TRIGGER = re.compile(
    r"hf_|AKIA|ASIA|gh[pousr]_|github_pat_|sk-|BEGIN|xox|AIza|_live_|eyJ|import|__|os\.|subprocess|eval|exec|"
    r"compile|b64decode|marshal|pickle|zlib|codecs|rm -rf|curl|wget|chmod|/bin/|nc -|powershell|bash|<script|"
    r"javascript:|cookie|onerror|^[A-Za-z0-9+/]{20,}={0,2}$|80(?:\\x)?0[2-5]"
)
_GLOBAL_RE = re.compile(rb"[ci]([A-Za-z_][\w.]{0,120})\n([A-Za-z_][\w.]{0,120})\n")
_DANGEROUS_ROOTS = {m.split(".")[0] for m in DANGEROUS_MODULES} | {"posix", "nt", "__builtin__", "_pickle"}


class _Strings:
    """Per-stream callbacks for string and bytes operands (secrets, code, embedded payloads)."""

    def __init__(self, sc: "ScanContext", name: str, depth: int):
        self.sc, self.name, self.depth = sc, name, depth
        self.checked = 0
        self.skipped = 0
        self.secrets = sc.settings.get("secrets", True)

    def text(self, offset: int, s: str) -> None:
        if self.checked >= MAX_TEXT_CHECKS:
            self.skipped += 1
            return
        self.checked += 1
        if not _TRIGGER.search(s[:100_000]):
            return
        sc, loc = self.sc, f"offset {offset}"
        if self.secrets:
            for rule, sev, red, _pos in patterns.find_secrets(s, limit=5):
                sc.add(f"secret.{rule}", sev, f"{rule.replace('_', ' ')} in a pickle string", {"match": red}, self.name, loc, key=(rule, red))
        for kind, excerpt in patterns.find_code(s)[:3]:
            if kind in ("base64-encoded pickle", "hex-encoded pickle"):
                data = _decode_embedded(s.strip(), kind)
                if data:
                    self._embedded(offset, data, kind.split()[0] + " string")
                else:
                    sc.add("pickle.embedded_pickle", "medium", f"{kind} inside a pickle string", {"excerpt": excerpt[:80]},
                           self.name, loc, key=kind)
                continue
            sc.add("pickle.code_string", "medium", f"code-like string in pickle data ({kind})",
                   {"kind": kind, "excerpt": excerpt[:160]}, self.name, loc, key=kind)

    def bytes_(self, offset: int, data: bytes, truncated: bool) -> None:
        head = data[:2]
        if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
            if truncated:
                self.sc.add("pickle.embedded_pickle", "medium", "pickle embedded in a large bytes value (not scanned inside)",
                            {"offset": offset}, self.name, f"offset {offset}")
            else:
                self._embedded(offset, data, "bytes value")
        elif data[:4] == b"PK\x03\x04" and not truncated and self.depth < self.sc.limits.max_nesting_depth:
            self.sc.scan_blob(Blob.from_bytes(data, f"{self.name}!@{offset}", self.depth + 1))

    def _embedded(self, offset: int, data: bytes, how: str) -> None:
        self.sc.add("pickle.embedded_pickle", "medium", f"pickle embedded in a {how}; anything that loads it runs it",
                    {"offset": offset, "size": len(data)}, self.name, f"offset {offset}")
        if self.depth < self.sc.limits.max_nesting_depth:
            self.sc.scan_blob(Blob.from_bytes(data, f"{self.name}!@{offset}", self.depth + 1))


def _decode_embedded(s: str, kind: str) -> bytes | None:
    if kind.startswith("base64"):
        return patterns.decode_base64(s)
    try:
        return bytes.fromhex(s.replace("\\x", ""))
    except ValueError:
        return None


@register("pickle")
def scan_pickle(sc: "ScanContext", blob: Blob) -> dict[str, Any]:
    with blob.open() as f:
        return scan_stream(sc, f, blob.name, blob.size, blob.depth)


def scan_stream(sc: "ScanContext", f: BinaryIO, name: str, size: int | None, depth: int, start: int = 0,
                context: str = "pickle") -> dict[str, Any]:
    """Walk every pickle in the stream from `start` (absolute offset) and report what they import."""
    strings = _Strings(sc, name, depth)
    walk = Walk(sc.limits, strings.text, strings.bytes_)
    rd = Reader(f, start, size)
    info: dict[str, Any] = {}
    values: list[Any] = []
    legacy = False
    error: PickleParseError | None = None
    try:
        while True:
            if rd.at_end():
                break
            if values:
                if legacy and len(values) >= 5:
                    _legacy_storages(sc, rd, walk, name, size, info)
                    break
                first = rd.peek(1)[0]
                before = walk.n_ops
                if first not in VALID:
                    _trailing(sc, rd, name, size, context)
                    break
                try:
                    values.append(walk.walk_one(rd))
                except PickleParseError as e:
                    if walk.n_ops - before <= 1 and not legacy:
                        _trailing(sc, None, name, size, context, offset=e.offset)
                        break
                    raise
                continue
            values.append(walk.walk_one(rd))
            legacy = values[0] == TORCH_LEGACY_MAGIC and type(values[0]) is int
    except PickleParseError as e:
        error = e
    finally:
        _judge(sc, walk, name, depth)
    if error is not None:
        sc.add("pickle.parse_error", "high",
               "pickle stream is broken: a loader stops here, after running everything before it",
               {"error": error.message, "offset": error.offset, "opcode_index": error.index,
                "pickle_number": walk.n_pickles, "imports_before_error": sorted(f"{m}.{n}" for m, n in walk.imports)[:20]},
               name, f"offset {error.offset}, opcode #{error.index}")
        _raw_tail(sc, f, rd, name, error.offset, size)
    info.update({
        "format": "torch_legacy" if legacy else context,
        "opcodes": walk.n_ops,
        "pickles": walk.n_pickles,
        "protocols": sorted(walk.protocols),
        "imports": len(walk.imports),
    })
    if walk.joblib_arrays:
        info["joblib_arrays"] = walk.joblib_arrays
    if strings.skipped:
        info["strings_not_checked"] = strings.skipped
    info["_storage_keys"] = {p[2] for p in walk.persistent_ids if len(p) >= 3 and p[0] == "storage" and type(p[2]) is str}
    return info


def _judge(sc: "ScanContext", walk: Walk, name: str, depth: int) -> None:
    calls: dict[str, list] = {}
    for (target, kind), rec in walk.calls.items():
        calls.setdefault(target, []).append({"via": kind, "count": rec[2], **({"args": rec[3]} if rec[3] else {})})
    for (module, attr), (opname, offset, index, count) in walk.imports.items():
        full = f"{module}.{attr}"
        level, sev, reason = classify(module, attr)
        nm, na = normalise(module, attr)
        if level != "dangerous" and (full in sc.allow_imports or f"{nm}.{na}" in sc.allow_imports):
            level = "allowed"
        if level == "allowed":
            continue
        ev = {"import": full, "opcode": opname, "offset": offset, "opcode_index": index, "reason": reason}
        if f"{nm}.{na}" != full:
            ev["resolves_to"] = f"{nm}.{na}"
        if count > 1:
            ev["occurrences"] = count
        if full in calls:
            ev["called"] = calls[full][:3]
        rule = {"dangerous": "pickle.dangerous_import", "unknown": "pickle.unknown_import", "review": "pickle.review_import"}[level]
        title = {
            "dangerous": f"pickle imports {full}: {reason}",
            "unknown": f"pickle imports {full}, which is not on the allow-list",
            "review": f"pickle imports library class {full}",
        }[level]
        sc.add(rule, sev, title, ev, name, f"offset {offset}, opcode #{index}", key=full)
    for rule, detail, offset, index, ev in walk.anomalies:
        sev = {"pickle.unresolved_global": "critical", "pickle.computed_call": "high", "pickle.build_on_global": "high",
               "pickle.extension_code": "high", "pickle.frame_overrun": "low"}[rule]
        sc.add(rule, sev, detail, {"offset": offset, "opcode_index": index, **ev}, name,
               f"offset {offset}, opcode #{index}", key=(rule, repr(sorted(ev.items()))))


def _trailing(sc: "ScanContext", rd: Reader | None, name: str, size: int | None, context: str, offset: int | None = None) -> None:
    off = rd.tell() if rd is not None else offset
    sc.add("pickle.trailing_data", "medium", "bytes after the last pickle are not a pickle (hidden data?)",
           {"offset": off, "length": (size - off) if size is not None and off is not None else None}, name, f"offset {off}")


def _raw_tail(sc: "ScanContext", f: BinaryIO, rd: Reader, name: str, offset: int, size: int | None) -> None:
    """After a parse error, look in the unparsed rest for import signatures a lenient loader might reach."""
    try:
        tail = rd.buf[rd.i:rd.i + TAIL_SCAN]
        if len(tail) < TAIL_SCAN and not rd.eof:
            tail += f.read(TAIL_SCAN - len(tail))
    except Exception:  # noqa: BLE001 — best effort only
        return
    hits = set()
    for m in _GLOBAL_RE.finditer(tail):
        mod = m.group(1).decode()
        if mod.split(".")[0] in _DANGEROUS_ROOTS:
            hits.add(f"{mod}.{m.group(2).decode()}")
    i = tail.find(b"\x8c")
    while i >= 0 and len(hits) < 20:
        ln = tail[i + 1] if i + 1 < len(tail) else 0
        word = tail[i + 2:i + 2 + ln]
        if 1 < ln < 40 and word.decode("ascii", "replace") in _DANGEROUS_ROOTS:
            hits.add(word.decode())
        i = tail.find(b"\x8c", i + 1)
    if hits:
        sc.add("pickle.hidden_after_error", "high", "import-like content after the point where the pickle breaks",
               {"names": sorted(hits)[:20]}, name, f"after offset {offset}")


def _legacy_storages(sc: "ScanContext", rd: Reader, walk: Walk, name: str, size: int | None, info: dict) -> None:
    """Legacy torch.save: after five pickles come raw storages, each an 8-byte count then data."""
    storages: dict[str, int] = {}
    for p in walk.persistent_ids:
        if len(p) >= 3 and p[0] == "storage" and type(p[2]) is str:
            t = p[1]
            stype = t.name[:-7] if type(t) is Global and t.name.endswith("Storage") else None
            storages[p[2]] = STORAGE_ELEM.get(stype or "", 0)
    info["storages"] = len(storages)
    for key in sorted(storages):
        elem = storages[key]
        head = rd.peek(8)
        if len(head) < 8 or not elem:
            sc.add("torch.legacy_layout", "medium", "legacy torch file: storage area does not match the storages the pickle names",
                   {"storage": key, "offset": rd.tell()}, name, f"offset {rd.tell()}")
            return
        count = int.from_bytes(head, "little")
        rd.skip(8)
        if rd.skip(count * elem) < count * elem:
            sc.add("torch.legacy_layout", "medium", "legacy torch file: storage data truncated",
                   {"storage": key, "offset": rd.tell()}, name, f"offset {rd.tell()}")
            return
    if not rd.at_end():
        sc.add("torch.legacy_trailing_data", "medium", "bytes after the last storage of a legacy torch file",
               {"offset": rd.tell(), "length": (size - rd.tell()) if size else None}, name, f"offset {rd.tell()}")
