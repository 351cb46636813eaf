"""GGUF: bounded header parse (magic, version, counts, string lengths) and the chat template it carries."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import MalformedFileError
from .handlers import register

if TYPE_CHECKING:
    from .handlers import ScanContext
    from .blob import Blob

MAX_KV = 1_000_000
MAX_TENSORS = 10_000_000
MAX_STRING = 64 << 20
MAX_ARRAY = 1 << 31
SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
FMT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class _R:
    def __init__(self, f: BinaryIO, size: int | None, name: str):
        self.f, self.size, self.name, self.pos = f, size, name, 0

    def read(self, n: int) -> bytes:
        d = self.f.read(n)
        if len(d) < n:
            raise MalformedFileError(f"GGUF truncated at offset {self.pos}", path=self.name)
        self.pos += n
        return d

    def skip(self, n: int) -> None:
        if self.size is not None and self.pos + n > self.size:
            raise MalformedFileError(f"GGUF field runs past end of file at offset {self.pos}", path=self.name)
        if self.f.seekable():
            self.f.seek(n, 1)
            self.pos += n
        else:
            while n:
                k = min(n, 1 << 20)
                self.read(k)
                n -= k

    def u32(self) -> int:
        return struct.unpack("<I", self.read(4))[0]

    def u64(self) -> int:
        return struct.unpack("<Q", self.read(8))[0]

    def string(self, keep: bool) -> str | None:
        n = self.u64()
        if n > MAX_STRING:
            raise MalformedFileError(f"GGUF string of {n} bytes at offset {self.pos}", path=self.name)
        if keep:
            return self.read(n).decode("utf-8", "replace")
        self.skip(n)
        return None


@register("gguf")
def scan(sc: "ScanContext", blob: "Blob") -> dict[str, Any]:
    with blob.open() as f:
        r = _R(f, blob.size, blob.name)
        r.read(4)
        version = r.u32()
        if version not in (2, 3):
            sc.add("gguf.unsupported_version", "medium", f"GGUF version {version} is not inspected", {"version": version}, blob.name)
            return {"version": version}
        n_tensors, n_kv = r.u64(), r.u64()
        if n_tensors > MAX_TENSORS or n_kv > MAX_KV:
            sc.add("gguf.malformed", "high", "GGUF header counts are implausible", {"tensors": n_tensors, "kv": n_kv}, blob.name)
            raise MalformedFileError(f"GGUF header counts implausible (tensors={n_tensors}, kv={n_kv})", path=blob.name)
        alignment = 32
        for _ in range(n_kv):
            key = r.string(True) or ""
            vtype = r.u32()
            keep = key.startswith("tokenizer.chat_template") or key == "general.alignment"
            value = _value(r, vtype, keep, blob.name)
            if key.startswith("tokenizer.chat_template") and isinstance(value, str):
                from . import templates  # imported on first use: jinja2's sandbox only when needed

                templates.check(sc, blob.name, value, key)
            elif key == "general.alignment" and isinstance(value, int) and value > 0:
                alignment = value
        for _ in range(n_tensors):
            r.string(False)
            n_dims = r.u32()
            if n_dims > 8:
                raise MalformedFileError(f"GGUF tensor with {n_dims} dimensions", path=blob.name)
            r.skip(8 * n_dims + 4)
            off = r.u64()
            if blob.size is not None and off > blob.size:
                sc.add("gguf.malformed", "high", "GGUF tensor offset beyond end of file", {"offset": off}, blob.name)
                raise MalformedFileError("GGUF tensor offset beyond end of file", path=blob.name)
        return {"version": version, "tensors": n_tensors, "kv": n_kv, "alignment": alignment}


def _value(r: _R, vtype: int, keep: bool, name: str):
    if vtype in SCALAR:
        raw = r.read(SCALAR[vtype])
        return struct.unpack(FMT[vtype], raw)[0]
    if vtype == 8:
        return r.string(keep)
    if vtype == 9:
        etype, count = r.u32(), r.u64()
        if count > MAX_ARRAY:
            raise MalformedFileError(f"GGUF array of {count} items", path=name)
        if etype in SCALAR:
            r.skip(SCALAR[etype] * count)
        elif etype == 8:
            for _ in range(count):
                r.string(False)
        elif etype == 9:
            for _ in range(count):
                _value(r, 9, False, name)
        else:
            raise MalformedFileError(f"GGUF array of unknown type {etype}", path=name)
        return None
    raise MalformedFileError(f"GGUF value of unknown type {vtype}", path=name)


@register("ggml")
def scan_ggml(sc: "ScanContext", blob: "Blob") -> dict[str, Any]:
    sc.add("format.not_inspected", "low", "legacy GGML/GGJT file (pre-GGUF) is not inspected", {}, blob.name)
    return {}
