"""Archives and compressed streams (zip incl. torch/keras/npz, tar, gzip/bz2/xz/zlib/zstd, 7z), nested and bounded."""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
import struct
import tarfile
import tempfile
import zipfile
import zlib
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import MalformedFileError
from .blob import Blob, Counting, DecompressStream, Window
from .handlers import register

if TYPE_CHECKING:
    from .handlers import ScanContext

_DRIVE = re.compile(r"^[A-Za-z]:")


def check_member_name(sc: "ScanContext", archive: str, name: str) -> bool:
    """Zip-slip and friends: absolute paths, `..`, drive letters, NUL. Returns True when unsafe."""
    norm = name.replace("\\", "/")
    bad = norm.startswith("/") or _DRIVE.match(norm) or ".." in norm.split("/") or "\x00" in name
    if bad:
        sc.add("archive.path_traversal", "high", "archive member path escapes the extraction directory (zip slip)",
               {"member": name}, archive, name, key=name)
    return bool(bad)


# -- zip -------------------------------------------------------------------------------------------
def _local_header(f: BinaryIO, offset: int) -> tuple[str, int, int, int] | None:
    """(name, flags, method, data offset) from the local file header, or None when it is not one."""
    if offset < 0:
        return None
    f.seek(offset)
    h = f.read(30)
    if len(h) < 30 or h[:4] != b"PK\x03\x04":
        return None
    flags, method = struct.unpack_from("<HH", h, 6)
    nlen, xlen = struct.unpack_from("<HH", h, 26)
    raw = f.read(nlen)
    name = raw.decode("utf-8" if flags & 0x800 else "cp437", "replace")
    return name, flags, method, offset + 30 + nlen + xlen


def _fallback_infos(f: BinaryIO, size: int) -> list[zipfile.ZipInfo]:
    """Walk local headers when the central directory is unusable (loaders may still read them)."""
    infos, off = [], 0
    while off + 30 <= size and len(infos) < 100_000:
        f.seek(off)
        h = f.read(30)
        if h[:4] != b"PK\x03\x04":
            break
        flags, method = struct.unpack_from("<HH", h, 6)
        csize, usize = struct.unpack_from("<II", h, 18)
        nlen, xlen = struct.unpack_from("<HH", h, 26)
        name = f.read(nlen).decode("utf-8", "replace")
        zi = zipfile.ZipInfo(name)
        zi.header_offset, zi.compress_size, zi.file_size = off, csize, usize
        zi.compress_type, zi.flag_bits = method, flags
        infos.append(zi)
        if flags & 0x08 and csize == 0:
            break  # sizes only in a trailing data descriptor: cannot walk further safely
        off += 30 + nlen + xlen + csize
    return infos


def _decompressor(method: int, raw: BinaryIO, sc: "ScanContext"):
    if method == 8:
        return DecompressStream(raw, zlib.decompressobj(-15), sc.charge)
    if method == 12:
        return DecompressStream(raw, bz2.BZ2Decompressor(), sc.charge)
    if method == 14:
        head = raw.read(4)
        psize = struct.unpack_from("<H", head, 2)[0] if len(head) == 4 else 0
        props = raw.read(psize)
        filt = lzma._decode_filter_properties(lzma.FILTER_LZMA1, props)  # noqa: SLF001 — stdlib, stable
        return DecompressStream(raw, lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[filt]), sc.charge)
    return None


@register("zip")
def scan_zip(sc: "ScanContext", blob: Blob) -> dict[str, Any]:
    with blob.seekable_file(sc.charge) as f:
        size = f.seek(0, 2)
        f.seek(0)
        try:
            infos = zipfile.ZipFile(f).infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, struct.error) as e:
            sc.add("archive.malformed", "medium", "zip central directory is unreadable; members found by local headers",
                   {"error": str(e)[:200]}, blob.name)
            f.seek(0)
            infos = _fallback_infos(f, size)
            if not infos:
                raise MalformedFileError(f"unreadable zip archive ({e})", path=blob.name) from None
        names = [zi.filename for zi in infos]
        torch_prefix = _torch_prefix(names)
        info: dict[str, Any] = {"members": len(infos)}
        if torch_prefix is not None:
            info["format"] = "torch_zip"
            if any(n.startswith(torch_prefix + "code/") or n == torch_prefix + "constants.pkl" for n in names):
                info["format"] = "torchscript"
                sc.add("torch.torchscript", "medium", "TorchScript archive: torch.jit.load runs its serialized code",
                       {}, blob.name)
        elif "config.json" in names and ("metadata.json" in names or "model.weights.h5" in names):
            info["format"] = "keras_v3"
        elif names and all(n.endswith(".npy") for n in names if not n.endswith("/")):
            info["format"] = "npz"
        ordered = sorted(infos, key=lambda zi: (not zi.filename.endswith(".pkl"), zi.filename))
        storage_keys: set[str] = set()
        storages = 0
        for zi in ordered:
            sc.count_member(blob.name)
            check_member_name(sc, blob.name, zi.filename)
            if not zi.filename:
                sc.add("archive.malformed", "medium", "zip member with an empty name", {"offset": zi.header_offset}, blob.name)
            elif zi.filename.endswith("/"):
                continue
            mname = f"{blob.name}!{zi.filename}"
            local = _local_header(f, zi.header_offset)
            if local is None:
                sc.add("archive.malformed", "medium", "zip member has no valid local header", {"member": zi.filename}, mname)
                continue
            lname, lflags, lmethod, data_off = local
            if lname != zi.filename:
                sc.add("archive.header_mismatch", "medium",
                       "local header and central directory disagree on the member name (scanner evasion)",
                       {"central": zi.filename, "local": lname}, mname)
            if torch_prefix is not None and zi.filename.startswith(torch_prefix + "data/"):
                if zi.filename[len(torch_prefix) + 5:] in storage_keys:
                    storages += 1
                    continue
            method = zi.compress_type
            encrypted = bool(zi.flag_bits & 0x1 or lflags & 0x1)
            raw_len = zi.compress_size
            if method == 0:
                blob_m = Blob(mname, raw_len, lambda o=data_off, n=raw_len: Window(f, o, n), seekable=True,
                              depth=blob.depth + 1, member=True)
            elif method in (8, 12, 14):
                blob_m = Blob(mname, zi.file_size,
                              lambda o=data_off, n=raw_len, m=method: _decompressor(m, Window(f, o, n), sc),
                              depth=blob.depth + 1, member=True)
            else:
                sc.add("archive.unscannable", "high", f"zip member uses unsupported compression method {method}",
                       {"method": method}, mname)
                continue
            sub = sc.scan_blob(blob_m)
            if encrypted:
                if sub.get("format") == "unknown":
                    sc.unknown = [u for u in sc.unknown if u[0] != mname]
                sc.add("archive.encrypted_member", "medium",
                       "encrypted zip member: its real content cannot be inspected",
                       {"flags": zi.flag_bits, "content_sniffed_as": sub.get("format")}, mname)
            if sub.get("_storage_keys") and zi.filename == (torch_prefix or "") + "data.pkl":
                storage_keys = sub["_storage_keys"]
        if torch_prefix is not None:
            info["storages"] = storages
            missing = [k for k in storage_keys if torch_prefix + "data/" + k not in names]
            if missing:
                sc.add("torch.missing_storage", "low", "torch archive references storages it does not contain",
                       {"missing": sorted(missing)[:20]}, blob.name)
        return info


def _torch_prefix(names: list[str]) -> str | None:
    for n in names:
        if n == "data.pkl" or n.endswith("/data.pkl"):
            prefix = n[: -len("data.pkl")]
            if prefix.count("/") <= 1 and any(m in names for m in (prefix + "version", prefix + ".data/version", prefix + "byteorder")) \
                    or any(x.startswith(prefix + "data/") for x in names):
                return prefix
    return None


# -- tar -------------------------------------------------------------------------------------------
@register("tar")
def scan_tar(sc: "ScanContext", blob: Blob) -> dict[str, Any]:
    with blob.seekable_file(sc.charge) as f:
        try:
            tf = tarfile.open(fileobj=f, mode="r:")
        except (tarfile.TarError, OSError, EOFError) as e:
            sc.add("archive.malformed", "medium", "tar archive is unreadable", {"error": str(e)[:200]}, blob.name)
            raise MalformedFileError(f"unreadable tar archive ({e})", path=blob.name) from None
        n = 0
        try:
            for m in tf:
                n += 1
                sc.count_member(blob.name)
                check_member_name(sc, blob.name, m.name)
                mname = f"{blob.name}!{m.name}"
                if m.issym() or m.islnk():
                    target = m.linkname.replace("\\", "/")
                    esc = target.startswith("/") or ".." in target.split("/") or bool(_DRIVE.match(target))
                    sc.add("archive.link_escape" if esc else "archive.link", "high" if esc else "low",
                           f"{'symlink' if m.issym() else 'hard link'} member" + (" pointing outside the archive" if esc else ""),
                           {"target": m.linkname}, mname)
                    continue
                if m.isdev() or m.isfifo():
                    sc.add("archive.special_member", "medium", "device or FIFO member in archive", {}, mname)
                    continue
                if not m.isfile():
                    continue
                sc.scan_blob(Blob(mname, m.size, lambda m=m: tf.extractfile(m), seekable=True,
                                  depth=blob.depth + 1, member=True))
        except tarfile.TarError as e:
            sc.add("archive.malformed", "medium", "tar archive is corrupt after some members", {"error": str(e)[:200]}, blob.name)
            raise MalformedFileError(f"corrupt tar archive ({e})", path=blob.name) from None
        return {"members": n}


# -- single compressed streams ----------------------------------------------------------------------
def _zstd_decompressor():
    try:
        from backports import zstd  # type: ignore

        return zstd.ZstdDecompressor()
    except ImportError:
        pass
    try:
        import zstandard  # type: ignore

        return zstandard.ZstdDecompressor().decompressobj()
    except ImportError:
        return None


@register("gzip", "bz2", "xz", "zlib", "zstd")
def scan_compressed(sc: "ScanContext", blob: Blob) -> dict[str, Any]:
    from .router import detect

    kind = detect(blob.head(), blob.size or 0, blob.name)
    if kind == "zstd" and _zstd_decompressor() is None:
        sc.add("archive.unscannable", "high", "zstd stream cannot be decompressed here (no zstd module)", {}, blob.name)
        return {}

    def opener():
        src = blob.open()
        if kind == "gzip":
            return Counting(gzip.GzipFile(fileobj=src, mode="rb"), sc.charge)
        if kind == "bz2":
            return Counting(bz2.BZ2File(src, mode="rb"), sc.charge)
        if kind == "xz":
            return Counting(lzma.LZMAFile(src, mode="rb"), sc.charge)
        if kind == "zstd":
            return DecompressStream(src, _zstd_decompressor(), sc.charge)
        return DecompressStream(src, zlib.decompressobj(), sc.charge)

    inner_name = re.sub(r"\.(gz|bz2|xz|z|zst|tgz)$", "", blob.name.rsplit("!", 1)[-1].rsplit("/", 1)[-1]) or "data"
    inner = Blob(f"{blob.name}!{inner_name}", None, opener, depth=blob.depth + 1, member=True)
    sc.count_member(blob.name)
    try:
        sc.scan_blob(inner)
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as e:
        raise MalformedFileError(f"corrupt {kind} stream ({e})", path=blob.name) from None
    return {"compression": kind}


# -- 7z --------------------------------------------------------------------------------------------
@register("7z")
def scan_7z(sc: "ScanContext", blob: Blob) -> dict[str, Any]:
    try:
        import py7zr
        from py7zr.io import Py7zIO, WriterFactory
    except ImportError:
        sc.add("archive.unscannable", "high", "7z archive cannot be inspected (py7zr not installed)", {}, blob.name)
        return {}

    class _Member(Py7zIO):
        def __init__(self, fname: str):
            self.fname, self.tmp, self.n = fname, tempfile.TemporaryFile(prefix="auditor-7z-"), 0

        def write(self, s):
            sc.charge(len(s))
            self.n += len(s)
            return self.tmp.write(s)

        def read(self, size=None):
            return self.tmp.read(size)

        def seek(self, offset, whence=0):
            return self.tmp.seek(offset, whence)

        def flush(self):
            self.tmp.flush()

        def size(self):
            return self.n

        def close(self):
            if self.tmp.closed:
                return
            self.tmp.flush()
            mname = f"{blob.name}!{self.fname}"
            sc.scan_blob(Blob(mname, self.n, lambda: Window(self.tmp, 0, self.n), seekable=True,
                              depth=blob.depth + 1, member=True))
            self.tmp.close()

    class _Factory(WriterFactory):
        def create(self, filename: str) -> Py7zIO:
            sc.count_member(blob.name)
            return _Member(filename)

    with blob.seekable_file(sc.charge) as f:
        try:
            z = py7zr.SevenZipFile(f, mode="r")
        except py7zr.exceptions.PasswordRequired:
            sc.add("archive.encrypted_member", "medium", "7z archive with encrypted headers: content cannot be inspected", {}, blob.name)
            return {"format": "7z"}
        except Exception as e:  # noqa: BLE001
            sc.add("archive.malformed", "medium", "7z archive is unreadable", {"error": str(e)[:200]}, blob.name)
            raise MalformedFileError(f"unreadable 7z archive ({e})", path=blob.name) from None
        with z:
            entries = z.list()
            for e in entries:
                check_member_name(sc, blob.name, e.filename)
            if z.needs_password():
                sc.add("archive.encrypted_member", "medium", "encrypted 7z archive: content cannot be inspected", {}, blob.name)
                return {"format": "7z", "members": len(entries)}
            try:
                z.extractall(factory=_Factory())  # nosec B202 — factory keeps every member in our temp files, nothing is written to a path
            except Exception as e:  # noqa: BLE001 — py7zr raises many types for corrupt data
                if type(e).__name__ in ("GlobalLimit", "ResourceLimitError"):
                    raise
                sc.add("archive.malformed", "medium", "7z archive could not be fully extracted", {"error": str(e)[:200]}, blob.name)
                raise MalformedFileError(f"7z extraction failed ({e})", path=blob.name) from None
        return {"format": "7z", "members": len(entries)}


@register("rar")
def scan_unsupported(sc: "ScanContext", blob: Blob) -> dict[str, Any]:
    sc.add("archive.unscannable", "high", "archive format that cannot be inspected (contents unknown)", {}, blob.name)
    return {}
