"""Validate a safetensors header without loading tensors; flag code in metadata and appended payloads."""

from __future__ import annotations

import json
import math
import struct
from typing import TYPE_CHECKING, Any

from ..errors import MalformedFileError
from . import patterns
from .handlers import register

if TYPE_CHECKING:
    from .handlers import ScanContext
    from .blob import Blob

DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16, "F16": 16,
    "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "F64": 64, "I64": 64, "U64": 64, "C64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}


def _no_dupes(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"duplicate key {k!r}")
        d[k] = v
    return d


@register("safetensors")
def scan(sc: "ScanContext", blob: "Blob") -> dict[str, Any]:
    try:
        return _scan(sc, blob)
    except MalformedFileError:
        from .router import looks_like_pickle

        if looks_like_pickle(blob.head(), blob.size or 0, text=False):  # a pickle dressed as safetensors
            from .pickle_scan import scan_pickle

            scan_pickle(sc, blob)
        raise


def _scan(sc: "ScanContext", blob: "Blob") -> dict[str, Any]:
    size = blob.size
    problems: list[tuple[str, dict]] = []
    with blob.open() as f:
        head = f.read(8)
        if len(head) < 8:
            _malformed(sc, blob.name, [("file shorter than the 8-byte header length", {})])
        n = struct.unpack("<Q", head)[0]
        if n > sc.limits.max_header_size:
            _malformed(sc, blob.name, [(f"header length {n} exceeds the limit {sc.limits.max_header_size}", {"header_length": n})])
        if size is not None and n > size - 8:
            _malformed(sc, blob.name, [(f"header length {n} runs past the end of the file ({size} bytes)", {"header_length": n})])
        raw = f.read(n)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            _malformed(sc, blob.name, [(f"header is not valid UTF-8 at byte {e.start}", {})])
        try:
            header = json.loads(text, object_pairs_hook=_no_dupes)
        except (ValueError, RecursionError) as e:
            _malformed(sc, blob.name, [(f"header is not valid JSON ({str(e)[:120]})", {})])
        if not isinstance(header, dict):
            _malformed(sc, blob.name, [("header is not a JSON object", {})])
        data_start = 8 + n
        data_len = (size - data_start) if size is not None else None
        meta = header.get("__metadata__")
        if meta is not None:
            if not isinstance(meta, dict):
                problems.append(("__metadata__ is not an object", {}))
            else:
                for k, v in meta.items():
                    if not isinstance(v, str):
                        problems.append((f"__metadata__ value for {k!r} is not a string", {"key": k, "type": type(v).__name__}))
                    else:
                        _check_meta(sc, blob.name, k, v)
        spans = []
        for name, t in header.items():
            if name == "__metadata__":
                continue
            if not isinstance(t, dict):
                problems.append((f"tensor {name!r} entry is not an object", {"tensor": name}))
                continue
            dtype, shape, offs = t.get("dtype"), t.get("shape"), t.get("data_offsets")
            extra = set(t) - {"dtype", "shape", "data_offsets"}
            if extra:
                problems.append((f"tensor {name!r} has unknown fields {sorted(extra)}", {"tensor": name}))
            if dtype not in DTYPE_BITS:
                problems.append((f"tensor {name!r} has unknown dtype {dtype!r}", {"tensor": name, "dtype": dtype}))
                continue
            if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
                problems.append((f"tensor {name!r} has an invalid shape {shape!r}", {"tensor": name}))
                continue
            if not (isinstance(offs, list) and len(offs) == 2 and all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offs)
                    and offs[0] <= offs[1]):
                problems.append((f"tensor {name!r} has invalid data_offsets {offs!r}", {"tensor": name}))
                continue
            nbits = math.prod(shape) * DTYPE_BITS[dtype]
            want = (nbits + 7) // 8
            if offs[1] - offs[0] != want:
                problems.append((f"tensor {name!r}: shape {shape} x {dtype} needs {want} bytes but data_offsets span {offs[1] - offs[0]}",
                                 {"tensor": name, "expected": want, "span": offs[1] - offs[0]}))
            if data_len is not None and offs[1] > data_len:
                problems.append((f"tensor {name!r} data_offsets {offs} run past the end of the file", {"tensor": name}))
            spans.append((offs[0], offs[1], name))
        spans.sort()
        pos = 0
        for b, e, name in spans:
            if b < pos:
                problems.append((f"tensor {name!r} overlaps the previous tensor at byte {b}", {"tensor": name}))
            elif b > pos:
                problems.append((f"gap of {b - pos} unreferenced bytes before tensor {name!r}", {"tensor": name, "gap": b - pos}))
            pos = max(pos, e)
        info: dict[str, Any] = {"tensors": len(spans), "header_bytes": n}
        if data_len is not None and pos < data_len:
            extra_bytes = data_len - pos
            off = data_start + pos
            sc.add("safetensors.trailing_data", "high", "bytes after the last tensor (payload appended to safetensors?)",
                   {"offset": off, "length": extra_bytes}, blob.name, f"offset {off}")
            problems.append((f"{extra_bytes} trailing bytes after the last tensor at offset {off}", {"offset": off}))
            _scan_tail(sc, blob, f, off, size)
    if problems:
        _malformed(sc, blob.name, problems)
    return info


def _check_meta(sc: "ScanContext", name: str, key: str, value: str) -> None:
    # Loaders never run metadata, so code or shell there has no benign purpose: it waits for someone to run it.
    for kind, match, excerpt in patterns.code_hits(value)[:3]:
        sc.add("safetensors.metadata_code", "high", f"code or shell command in safetensors metadata ({kind})",
               {"key": key, "kind": kind, "match": match, "excerpt": excerpt[:160], "value_chars": len(value)},
               name, f"__metadata__.{key}", key=(key, kind))
    for m in patterns.URL_RE.finditer(value[:100_000]):
        sc.add("safetensors.metadata_url", "low", "URL in safetensors metadata", {"key": key, "url": m.group(0)[:200]},
               name, f"__metadata__.{key}", key=(key, m.group(0)))
        break
    if sc.settings.get("secrets", True):
        for rule, sev, red, _ in patterns.find_secrets(value, 5):
            sc.add(f"secret.{rule}", sev, f"{rule.replace('_', ' ')} in safetensors metadata", {"key": key, "match": red},
                   name, f"__metadata__.{key}", key=(rule, red))


def _scan_tail(sc: "ScanContext", blob: "Blob", f, off: int, size: int) -> None:
    from .pickle_scan import scan_stream
    from .router import looks_like_pickle

    f.seek(off)
    head = f.read(64 * 1024)
    if looks_like_pickle(head, size - off, text=False):
        f.seek(off)
        scan_stream(sc, f, blob.name, size, blob.depth, start=off, context="appended_pickle")


def _malformed(sc: "ScanContext", name: str, problems: list[tuple[str, dict]]):
    for msg, ev in problems[:20]:
        sc.add("safetensors.malformed", "high", f"malformed safetensors: {msg}", ev, name, key=msg)
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    raise MalformedFileError(f"malformed safetensors file: {problems[0][0]}{more}", path=name)
