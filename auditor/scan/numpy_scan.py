"""NumPy .npy: parse the header safely; object arrays are pickles, so walk the pickle after the header."""

from __future__ import annotations

import ast
import math
import struct
from typing import TYPE_CHECKING, Any

from ..errors import MalformedFileError
from .handlers import register

if TYPE_CHECKING:
    from .handlers import ScanContext
    from .blob import Blob

MAX_HEADER = 1 << 20


def _has_object(descr: Any) -> bool:
    if isinstance(descr, str):
        return descr.lstrip("<>|=").startswith("O")
    if isinstance(descr, (list, tuple)):
        return any(_has_object(x) for x in descr)
    return False


def _itemsize(descr: Any) -> int | None:
    if isinstance(descr, str):
        body = descr.lstrip("<>|=")
        kind, digits = body[:1], body[1:]
        if kind in "?b" and not digits:
            return 1
        if not digits.isdigit():
            return None
        return int(digits) * (4 if kind == "U" else 1)
    if isinstance(descr, list):
        total = 0
        for field in descr:
            if not isinstance(field, (list, tuple)) or len(field) < 2:
                return None
            sub = _itemsize(field[1])
            if sub is None:
                return None
            count = math.prod(field[2]) if len(field) > 2 and isinstance(field[2], tuple) else 1
            total += sub * count
        return total
    return None


@register("numpy")
def scan(sc: "ScanContext", blob: "Blob") -> dict[str, Any]:
    with blob.open() as f:
        pre = f.read(12)
        major = pre[6] if len(pre) > 6 else 0
        if major not in (1, 2, 3) or len(pre) < 10:
            raise _bad(sc, blob.name, f"unsupported .npy version {major}")
        if major == 1:
            hlen, start = struct.unpack_from("<H", pre, 8)[0], 10
        else:
            if len(pre) < 12:
                raise _bad(sc, blob.name, "truncated .npy header")
            hlen, start = struct.unpack_from("<I", pre, 8)[0], 12
        if hlen > MAX_HEADER:
            raise _bad(sc, blob.name, f".npy header of {hlen} bytes is implausibly large")
        if hlen > 10000:
            sc.add("numpy.large_header", "medium", "numpy header larger than numpy itself accepts by default",
                   {"header_length": hlen}, blob.name)
        f.seek(start) if blob.seekable else None
        raw = pre[start:] + f.read(hlen - len(pre[start:])) if not blob.seekable else f.read(hlen)
        try:
            header = ast.literal_eval(raw.decode("utf-8" if major == 3 else "latin-1").strip())
        except (ValueError, SyntaxError, RecursionError, MemoryError, TypeError) as e:
            raise _bad(sc, blob.name, f"header is not a Python literal ({type(e).__name__})") from None
        if not isinstance(header, dict) or not {"descr", "fortran_order", "shape"} <= set(header):
            raise _bad(sc, blob.name, "header lacks descr / fortran_order / shape")
        shape = header["shape"]
        if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise _bad(sc, blob.name, f"invalid shape {shape!r}")
        data_off = start + hlen
        info = {"descr": str(header["descr"])[:60], "shape": list(shape)[:8]}
        if _has_object(header["descr"]):
            sc.add("numpy.object_array", "low", "object array: np.load needs allow_pickle=True and unpickles its data",
                   {"descr": str(header["descr"])[:60]}, blob.name)
            from .pickle_scan import scan_stream

            if blob.seekable:
                f.seek(data_off)
            sub = scan_stream(sc, f, blob.name, blob.size, blob.depth, start=data_off, context="numpy_pickle")
            info.update({"pickle_opcodes": sub.get("opcodes"), "format": "numpy_object"})
            return info
        item = _itemsize(header["descr"])
        if item is not None and blob.size is not None:
            want = math.prod(shape) * item
            have = blob.size - data_off
            if have < want:
                sc.add("numpy.truncated", "medium", "array data shorter than its header says", {"expected": want, "actual": have}, blob.name)
            elif have > want:
                sc.add("numpy.trailing_data", "medium", "bytes after the array data", {"offset": data_off + want, "length": have - want},
                       blob.name, f"offset {data_off + want}")
                _tail(sc, blob, f, data_off + want)
        return info


def _tail(sc: "ScanContext", blob: "Blob", f, off: int) -> None:
    from .pickle_scan import scan_stream
    from .router import looks_like_pickle

    if not blob.seekable:
        return
    f.seek(off)
    head = f.read(65536)
    if looks_like_pickle(head, blob.size - off, text=False):
        f.seek(off)
        scan_stream(sc, f, blob.name, blob.size, blob.depth, start=off, context="appended_pickle")


def _bad(sc: "ScanContext", name: str, msg: str) -> MalformedFileError:
    sc.add("numpy.malformed", "medium", f"malformed .npy: {msg}", {}, name)
    return MalformedFileError(f"malformed .npy file: {msg}", path=name)
