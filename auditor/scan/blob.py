"""A scannable byte source (file, archive member, decompressed stream) with bounded spilling."""

from __future__ import annotations

import io
import lzma
import os
import zlib
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from ..errors import MalformedFileError
from .router import HEAD_SIZE

COPY_CHUNK = 1 << 20
_CORRUPT = (zlib.error, lzma.LZMAError, EOFError, OSError, ValueError)


class CorruptData(MalformedFileError):
    """Compressed data that does not decompress: what it hides cannot be inspected."""


class Blob:
    """Something to scan. `name` is the display path: `dir/file` or `archive.zip!member`."""

    def __init__(
        self,
        name: str,
        size: int | None,
        opener: Callable[[], BinaryIO],
        *,
        seekable: bool = False,
        depth: int = 0,
        path: Path | None = None,
        member: bool = False,
    ):
        self.name, self.size, self._opener = name, size, opener
        self.seekable, self.depth, self.path, self.member = seekable, depth, path, member
        self._head: bytes | None = None

    @classmethod
    def from_path(cls, path: Path, name: str, size: int) -> "Blob":
        return cls(name, size, lambda: open(path, "rb"), seekable=True, path=path)

    @classmethod
    def from_bytes(cls, data: bytes, name: str, depth: int) -> "Blob":
        return cls(name, len(data), lambda: io.BytesIO(data), seekable=True, depth=depth, member=True)

    def open(self) -> BinaryIO:
        return self._opener()

    def head(self) -> bytes:
        if self._head is None:
            with self.open() as f:
                self._head = _read_up_to(f, HEAD_SIZE)
        return self._head

    @contextmanager
    def seekable_file(self, charge: Callable[[int], None]) -> Iterator[BinaryIO]:
        """A seekable handle: the blob itself when it can seek, else a temp-file copy (charged)."""
        if self.seekable:
            f = self.open()
            try:
                yield f
            finally:
                f.close()
            return
        with tempfile.TemporaryFile(prefix="auditor-scan-") as tmp, self.open() as src:
            total = 0
            while True:
                chunk = src.read(COPY_CHUNK)
                if not chunk:
                    break
                charge(len(chunk))
                tmp.write(chunk)
                total += len(chunk)
            tmp.seek(0)
            if self.size is None:
                self.size = total
            yield tmp


def _read_up_to(f: BinaryIO, k: int) -> bytes:
    parts, got = [], 0
    while got < k:
        d = f.read(k - got)
        if not d:
            break
        parts.append(d)
        got += len(d)
    return b"".join(parts)


class Window(io.RawIOBase):
    """A seekable read-only view of [start, start+length) of a shared seekable file."""

    def __init__(self, f: BinaryIO, start: int, length: int):
        self.f, self.start, self.length, self.pos = f, start, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.length}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.length - self.pos
        n = max(0, min(n, self.length - self.pos))
        if not n:
            return b""
        self.f.seek(self.start + self.pos)
        data = self.f.read(n)
        self.pos += len(data)
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


class DecompressStream(io.RawIOBase):
    """Forward-only decompressing reader (zlib-, bz2- or lzma-style object) charging each output byte."""

    def __init__(self, src: BinaryIO, decomp, charge: Callable[[int], None], chunk: int = 256 * 1024):
        self.src, self.d, self.charge, self.chunk = src, decomp, charge, chunk
        self.buf = b""
        self.done = False
        self.pos = 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def _more(self) -> bytes:
        d = self.d
        if hasattr(d, "needs_input"):  # bz2 / lzma API
            if d.eof:
                self.done = True
                return b""
            if not d.needs_input:
                return d.decompress(b"", max_length=COPY_CHUNK)
            raw = self.src.read(self.chunk)
            if not raw:
                self.done = True
                return b""
            return d.decompress(raw, max_length=COPY_CHUNK)
        tail = d.unconsumed_tail
        if tail:
            return d.decompress(tail, COPY_CHUNK)
        if d.eof:
            self.done = True
            return b""
        raw = self.src.read(self.chunk)
        if not raw:
            self.done = True
            return d.flush()
        return d.decompress(raw, COPY_CHUNK)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = 1 << 62
        out, need = [], n
        while need > 0:
            if self.buf:
                take = self.buf[:need]
                self.buf = self.buf[len(take):]
                out.append(take)
                need -= len(take)
                continue
            if self.done:
                break
            try:
                data = self._more()
            except _CORRUPT as e:
                raise CorruptData(f"compressed data is corrupt ({e})") from None
            if data:
                self.charge(len(data))
                self.buf = data
        result = b"".join(out)
        self.pos += len(result)
        return result

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self.src.close()
        finally:
            super().close()


class Counting(io.RawIOBase):
    """Charges every byte read from a (decompressing) file object to a budget."""

    def __init__(self, f: BinaryIO, charge: Callable[[int], None]):
        self.f, self.charge, self.pos = f, charge, 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def read(self, n: int = -1) -> bytes:
        try:
            data = self.f.read(n if n is not None and n >= 0 else -1)
        except _CORRUPT as e:
            raise CorruptData(f"compressed data is corrupt ({e})") from None
        self.charge(len(data))
        self.pos += len(data)
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self.f.close()
        finally:
            super().close()


def file_size(path: Path) -> int:
    return os.lstat(path).st_size
