"""Streamed SHA-256 manifest of a repository that never follows symlinks (they become findings)."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..resolve.model import ModelFile
from .limits import Limits, exceeded

HASH_CHUNK = 1 << 20
SKIP_DIRS = {".git"}


@dataclass
class Entry:
    """A regular file of the repository (or a Hugging Face cache link to one of its blobs)."""

    rel: str
    path: Path
    size: int
    mode: int
    via_cache_link: bool = False


@dataclass
class Tree:
    root: Path
    is_file: bool
    files: list[Entry] = field(default_factory=list)
    symlinks: list[tuple[str, str, bool]] = field(default_factory=list)  # (rel, target, escapes root)
    specials: list[tuple[str, str]] = field(default_factory=list)
    skipped_dirs: list[str] = field(default_factory=list)


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks into one reused buffer (never the whole file)."""
    h = hashlib.sha256()
    buf = bytearray(HASH_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
    return h.hexdigest()


def _cache_blobs_dir(root: Path) -> Path | None:
    """`.../models--org--name/snapshots/<rev>` links its files to `.../models--org--name/blobs/`."""
    parts = root.resolve().parts
    if len(parts) >= 3 and parts[-2] == "snapshots" and "--" in parts[-3]:
        return Path(*parts[:-2]) / "blobs"
    return None


def walk_tree(root: Path, limits: Limits | dict[str, Any] | None = None) -> Tree:
    """List regular files (sorted, relative posix paths), symlinks and special files under root."""
    limits = Limits.from_settings(limits)
    root = Path(root)
    st = os.lstat(root)
    if not stat.S_ISDIR(st.st_mode) and not stat.S_ISLNK(st.st_mode):
        tree = Tree(root, True)
        if stat.S_ISREG(st.st_mode):
            tree.files.append(Entry(root.name, root, st.st_size, st.st_mode))
        else:
            tree.specials.append((root.name, _kind(st.st_mode)))
        return tree
    if stat.S_ISLNK(st.st_mode):
        target = root.resolve()  # the user named this link explicitly: follow it once
        if target.is_file():
            tree = Tree(root, True)
            tst = os.stat(target)
            tree.files.append(Entry(root.name, target, tst.st_size, tst.st_mode, True))
            return tree
        root = target
    tree = Tree(root, False)
    blobs = _cache_blobs_dir(root)
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dpath = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            p = dpath / d
            rel = p.relative_to(root).as_posix()
            if os.path.islink(p):
                tree.symlinks.append((rel, os.readlink(p), _escapes(root, p)))
            elif d in SKIP_DIRS:
                tree.skipped_dirs.append(rel)
            else:
                keep.append(d)
        dirnames[:] = keep
        for name in filenames:
            p = dpath / name
            rel = p.relative_to(root).as_posix()
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                real = Path(os.path.realpath(p))
                if blobs is not None and real.parent == blobs.resolve() and real.is_file():
                    rst = os.stat(real)
                    tree.files.append(Entry(rel, real, rst.st_size, rst.st_mode, True))
                    total += rst.st_size
                else:
                    tree.symlinks.append((rel, os.readlink(p), _escapes(root, p)))
                continue
            if not stat.S_ISREG(st.st_mode):
                tree.specials.append((rel, _kind(st.st_mode)))
                continue
            tree.files.append(Entry(rel, p, st.st_size, st.st_mode))
            total += st.st_size
            if len(tree.files) > limits.max_files:
                raise exceeded("max_files", limits.max_files, len(tree.files), str(root))
            if total > limits.max_total_size:
                raise exceeded("max_total_size", limits.max_total_size, total, str(root))
    tree.files.sort(key=lambda e: e.rel)
    tree.symlinks.sort()
    return tree


def build_manifest(root: Path, limits: Limits | dict[str, Any] | None = None) -> list[ModelFile]:
    """Every regular file under root (or root itself) with its streamed SHA-256, sorted by path."""
    tree = walk_tree(Path(root), limits)
    return [ModelFile(path=e.rel, size=e.size, sha256=sha256_file(e.path)) for e in tree.files]


def _escapes(root: Path, link: Path) -> bool:
    target = Path(os.path.realpath(link))
    try:
        target.relative_to(root.resolve())
        return False
    except ValueError:
        return True


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "char device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISDIR, "directory")):
        if test(mode):
            return name
    return "special"
