"""Decide a file's format from its bytes (magic numbers and structure), never from its name alone."""

from __future__ import annotations

import io
import struct

from .limits import Limits
from .pickle_walk import PickleParseError, Reader, Walk

HEAD_SIZE = 64 * 1024

# Module roots that make a protocol-0 text GLOBAL look like a real import, not prose.
_KNOWN_ROOTS = {
    "os", "posix", "nt", "sys", "subprocess", "builtins", "__builtin__", "socket", "torch", "numpy",
    "collections", "copy_reg", "copyreg", "_codecs", "pickle", "runpy", "operator", "functools",
    "webbrowser", "pty", "shutil", "requests", "urllib", "httplib", "http", "importlib", "code", "pip",
}

TEXT_EXTS = {
    ".json": "json", ".py": "python", ".md": "markdown", ".yaml": "yaml", ".yml": "yaml",
    ".jinja": "jinja", ".jinja2": "jinja", ".j2": "jinja", ".txt": "text", ".sh": "shell",
    ".bash": "shell", ".cfg": "text", ".ini": "text", ".toml": "text", ".csv": "text", ".tsv": "text",
    ".model": "text", ".template": "jinja", ".ipynb": "json", ".jsonl": "text",
}


def detect(head: bytes, size: int, name: str) -> str:
    """Return a format id for data starting with `head` (the first HEAD_SIZE bytes)."""
    if size == 0:
        return "empty"
    h = head
    if h[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08") or h[:4] == b"PK\x01\x02":
        return "zip"
    if len(h) > 262 and h[257:262] == b"ustar":
        return "tar"
    if h[:2] == b"\x1f\x8b":
        return "gzip"
    if h[:3] == b"BZh" and h[3:4].isdigit():
        return "bz2"
    if h[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if h[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if h[:6] == b"7z\xbc\xaf\x27\x1c":
        return "7z"
    if h[:4] == b"Rar!":
        return "rar"
    if h[:4] == b"\x7fELF" or h[:4] in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"):
        return "executable"
    if h[:2] == b"MZ" and _is_pe(h):
        return "executable"
    if h[:4] == b"\xca\xfe\xba\xbe":
        return "executable"  # Mach-O fat binary or Java class: both are code
    if _is_safetensors(h, size):
        return "safetensors"
    if h[:1] == b"\x80" and len(h) > 1 and h[1] <= 5:
        return "pickle"
    if h[:6] == b"\x93NUMPY":
        return "numpy"
    if h[:4] == b"GGUF":
        return "gguf"
    if h[:4] in (b"lmgg", b"fmgg", b"tjgg", b"algg", b"ggml", b"ggjt", b"ggmf"):
        return "ggml"
    if _is_hdf5(h):
        return "hdf5"
    if h[4:8] == b"TFL3":
        return "tflite"
    if _looks_like_onnx(h) or (_looks_like_protobuf(h) and name.lower().endswith((".onnx", ".ort"))):
        return "onnx"
    text = _is_text(h)
    if text:
        if looks_like_pickle(h, size, text=True):
            return "pickle"
        return _text_kind(h, name)
    if looks_like_pickle(h, size, text=False):
        return "pickle"
    if _is_zlib(h):
        return "zlib"
    if h[:8] == b"\x89PNG\r\n\x1a\n" or h[:3] == b"\xff\xd8\xff" or h[:6] in (b"GIF87a", b"GIF89a") or (h[:4] == b"RIFF" and h[8:12] == b"WEBP"):
        return "image"
    if h[:5] == b"%PDF-":
        return "pdf"
    if _looks_like_protobuf(h) and name.lower().endswith(".pb"):
        return "protobuf"
    return "unknown"


def looks_like_pickle(head: bytes, size: int, text: bool) -> bool:
    """Trial walk over the head: a pickle reaches STOP, or makes real progress, or imports something known."""
    w = Walk(Limits(max_opcodes=200_000))
    rd = Reader(io.BytesIO(head), 0, len(head))
    try:
        w.walk_one(rd)
        return True
    except PickleParseError as e:
        cut = len(head) < size and e.offset >= len(head) - 16 and "truncated" in e.message
        if cut and w.n_ops >= 3:
            return True
        for (module, _name), rec in w.imports.items():
            root = module.split(".")[0]
            if root in _KNOWN_ROOTS and all(p.isidentifier() for p in module.split(".")) and _name.replace(".", "_").isidentifier():
                return True
        return (not text) and w.n_ops >= 8 and bool(w.imports or w.calls)
    except Exception:  # noqa: BLE001 — resource limit in a probe just means "not obviously a pickle"
        return False


def _is_text(h: bytes) -> bool:
    if b"\x00" in h:
        return False
    try:
        h.decode("utf-8")
        return True
    except UnicodeDecodeError as e:
        return e.start >= len(h) - 4 and len(h) >= HEAD_SIZE - 4  # cut inside a multi-byte char


def _text_kind(h: bytes, name: str) -> str:
    lower = name.lower()
    base = lower.rsplit("/", 1)[-1]
    for ext, kind in TEXT_EXTS.items():
        if base.endswith(ext):
            return kind
    if h[:2] == b"#!":
        return "shell"
    stripped = h.lstrip()
    if stripped[:1] in (b"{", b"[") and base.endswith((".json", "")):
        return "json" if stripped[:1] == b"{" else "text"
    return "text"


def _is_pe(h: bytes) -> bool:
    if len(h) < 0x40:
        return False
    off = struct.unpack_from("<I", h, 0x3C)[0]
    return off + 4 <= len(h) and h[off:off + 4] == b"PE\x00\x00"


def _is_hdf5(h: bytes) -> bool:
    sig = b"\x89HDF\r\n\x1a\n"
    return any(h[o:o + 8] == sig for o in (0, 512, 1024, 2048, 4096, 8192, 16384, 32768) if o + 8 <= len(h))


def _is_safetensors(h: bytes, size: int) -> bool:
    """An 8-byte little-endian length (< 2**48) followed by JSON: claims to be safetensors, valid or not."""
    if len(h) < 10:
        return False
    n = struct.unpack_from("<Q", h, 0)[0]
    return n >= 2 and h[6:8] == b"\x00\x00" and h[8:9] in (b"{", b"[")


def _is_zlib(h: bytes) -> bool:
    return len(h) >= 2 and h[0] == 0x78 and h[1] in (0x01, 0x5E, 0x9C, 0xDA) and ((h[0] << 8) | h[1]) % 31 == 0


def _varint(h: bytes, i: int) -> tuple[int, int]:
    v = shift = 0
    while i < len(h):
        b = h[i]
        i += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, i
        shift += 7
        if shift > 63:
            break
    raise ValueError("bad varint")


def _looks_like_protobuf(h: bytes) -> bool:
    """A few well-formed top-level protobuf fields in a row."""
    i, fields = 0, 0
    try:
        while i < len(h) and fields < 4:
            key, i = _varint(h, i)
            wt, fn = key & 7, key >> 3
            if fn == 0 or wt in (3, 4, 6, 7):
                return False
            if wt == 0:
                _, i = _varint(h, i)
            elif wt == 1:
                i += 8
            elif wt == 5:
                i += 4
            else:
                ln, i = _varint(h, i)
                i += ln
            fields += 1
        return fields >= 2 or (fields == 1 and i >= len(h))
    except ValueError:
        return False


def _looks_like_onnx(h: bytes) -> bool:
    """ONNX ModelProto usually opens with ir_version (field 1, varint 3..12) then a string or the graph."""
    if len(h) < 4 or h[0] != 0x08 or not (1 <= h[1] <= 15):
        return False
    return h[2] in (0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42) and _looks_like_protobuf(h)
