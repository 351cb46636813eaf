"""A tiny bounded protobuf wire-format reader over a seekable file (no schema compiler, no big reads)."""

from __future__ import annotations

from typing import BinaryIO, Iterator

from ..errors import MalformedFileError

BLOCK = 64 * 1024


class Src:
    """Random-access reads with a one-block cache."""

    def __init__(self, f: BinaryIO, name: str):
        self.f, self.name = f, name
        self.bstart, self.block = -1, b""

    def read(self, pos: int, n: int) -> bytes:
        if self.bstart <= pos and pos + n <= self.bstart + len(self.block):
            return self.block[pos - self.bstart:pos - self.bstart + n]
        if n > BLOCK:
            self.f.seek(pos)
            return self.f.read(n)
        self.f.seek(pos)
        self.block, self.bstart = self.f.read(BLOCK), pos
        return self.block[:n]

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        raw = self.read(pos, 10)
        v = shift = 0
        for i, b in enumerate(raw):
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                if pos + i + 1 > end:
                    break
                return v, pos + i + 1
            shift += 7
        raise MalformedFileError(f"bad protobuf varint at offset {pos}", path=self.name)


def fields(src: Src, start: int, end: int) -> Iterator[tuple[int, int, object]]:
    """Yield (field number, wire type, value); length-delimited values are (offset, length), unread."""
    pos = start
    while pos < end:
        key, pos = src.varint(pos, end)
        fn, wt = key >> 3, key & 7
        if fn == 0:
            raise MalformedFileError(f"protobuf field number 0 at offset {pos}", path=src.name)
        if wt == 0:
            v, pos = src.varint(pos, end)
            yield fn, wt, v
        elif wt == 1:
            pos += 8
            yield fn, wt, None
        elif wt == 5:
            pos += 4
            yield fn, wt, None
        elif wt == 2:
            ln, pos = src.varint(pos, end)
            if pos + ln > end:
                raise MalformedFileError(f"protobuf field {fn} runs past its message at offset {pos}", path=src.name)
            yield fn, wt, (pos, ln)
            pos += ln
        else:
            raise MalformedFileError(f"unsupported protobuf wire type {wt} at offset {pos}", path=src.name)
        if pos > end:
            raise MalformedFileError("protobuf message overruns its bounds", path=src.name)


def text(src: Src, span: object, limit: int = 4096) -> str:
    off, ln = span  # type: ignore[misc]
    return src.read(off, min(ln, limit)).decode("utf-8", "replace")
