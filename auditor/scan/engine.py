"""The scanner: walk the repository, route every file (and archive member) by content, collect findings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..checks.base import deep_merge
from ..errors import AuditorError, MalformedFileError, PolicyError, ResourceLimitError
from . import handlers, router
from .blob import Blob, CorruptData
from .limits import Limits, exceeded
from .report import FileInfo, ScanReport

DEFAULT_SETTINGS: dict[str, Any] = {
    "limits": Limits().to_dict(),
    "allow_imports": [],
    "secrets": True,
    "template_min_words": 6,
    "max_file_infos": 2000,
}

MODEL_LIKE = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".npy", ".npz", ".h5", ".hdf5",
              ".keras", ".onnx", ".safetensors", ".gguf", ".ggml", ".msgpack", ".pb", ".tflite", ".mar",
              ".dill", ".sav", ".model", ".ot", ".mlmodel", ".llamafile", ".nemo")


ARCHIVES = ("zip", "tar", "gzip", "bz2", "xz", "zstd", "7z", "rar")


class GlobalLimit(ResourceLimitError):
    """A limit on the whole scan (files, total size, decompression): nothing more is scanned."""


class Scanner:
    """One scan (a `handlers.ScanContext`). Handlers (format modules) call back `add`, `charge` and `scan_blob`."""

    def __init__(self, settings: dict[str, Any] | None = None):
        self.settings = deep_merge(DEFAULT_SETTINGS, settings or {})
        self.limits = Limits.from_settings(self.settings.get("limits"))
        allow = self.settings.get("allow_imports") or []
        if isinstance(allow, str) or not all(isinstance(a, str) for a in allow):
            raise PolicyError("static_scan settings: allow_imports must be a list of 'module.name' strings")
        self.allow_imports = {a.replace(":", ".") for a in allow}
        self.report = ScanReport(root="", max_findings_per_file=self.limits.max_findings_per_file)
        self.decompressed = 0
        self.members = 0
        self.unknown: list[tuple[str, int | None, str]] = []
        self.referenced: set[str] = set()
        self.python_files: list[dict[str, Any]] = []
        self.configs: dict[str, Any] = {}
        self.stopped: str | None = None

    # -- callbacks for handlers ----------------------------------------------------------------
    def add(self, rule: str, severity: str, title: str, evidence: dict | None = None, file: str | None = None,
            location: str | None = None, key: Any = None):
        return self.report.add(rule, severity, title, evidence, file, location, key)

    def charge(self, nbytes: int) -> None:
        """Count decompressed / spilled bytes against max_decompressed_size."""
        self.decompressed += nbytes
        if self.decompressed > self.limits.max_decompressed_size:
            err = exceeded("max_decompressed_size", self.limits.max_decompressed_size, self.decompressed)
            raise GlobalLimit(str(err))

    def count_member(self, where: str) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise GlobalLimit(str(exceeded("max_members", self.limits.max_members, self.members, where)))

    # -- driving ---------------------------------------------------------------------------------
    def scan(self, root: Path, manifest: list | None = None) -> ScanReport:
        from . import manifest as mf

        t0 = time.perf_counter()
        root = Path(root)
        self.report.root = str(root)
        try:
            tree = mf.walk_tree(root, self.limits)
        except ResourceLimitError as e:
            self.report.error(str(e))
            return self._finish(t0, 0, 0)
        hashes = {m.path: m.sha256 for m in manifest or [] if getattr(m, "sha256", None)}
        handlers.run_pass("tree", self, root, tree)
        n_bytes = 0
        for entry in tree.files:
            if self.stopped:
                self.report.error(f"{entry.rel}: not scanned ({self.stopped})")
                continue
            n_bytes += entry.size
            if entry.size > self.limits.max_file_size:
                self.report.error(str(exceeded("max_file_size", self.limits.max_file_size, entry.size, entry.rel)))
                continue
            blob = Blob.from_path(entry.path, entry.rel, entry.size)
            self.scan_blob(blob, sha256=hashes.get(entry.rel), mode=entry.mode)
        handlers.run_pass("repo", self, root, tree)
        self._flush_unknown()
        return self._finish(t0, len(tree.files), n_bytes)

    def scan_blob(self, blob: Blob, sha256: str | None = None, mode: int | None = None) -> dict[str, Any]:
        """Detect the blob's format and hand it to its scanner; errors make the audit incomplete."""
        info: dict[str, Any] = {}
        fmt = "unknown"
        try:
            if blob.depth > self.limits.max_nesting_depth:
                raise ResourceLimitError(str(exceeded("max_nesting_depth", self.limits.max_nesting_depth, blob.depth, blob.name)))
            head = blob.head()
            size = blob.size if blob.size is not None else (len(head) if len(head) < router.HEAD_SIZE else 1 << 62)
            fmt = router.detect(head, size, blob.name)
            handler = handlers.get(fmt)
            info = handler(self, blob) or {}
            fmt = info.setdefault("format", fmt)
        except GlobalLimit as e:
            self.report.error(str(e))
            self.stopped = str(e)
        except CorruptData as e:
            self.add("archive.corrupt_member", "medium", "compressed data does not decompress: its content is hidden",
                     {"error": str(e)[:200]}, blob.name)
            self.report.error(f"{blob.name}: {e}")
        except (ResourceLimitError, MalformedFileError) as e:
            self.report.error(f"{blob.name}: {e}" if blob.name not in str(e) else str(e))
        except AuditorError as e:
            self.report.error(f"{blob.name}: {e}")
        except Exception as e:  # noqa: BLE001 — a scanner bug must never read as a clean file
            self.report.error(f"{blob.name}: internal error while scanning ({type(e).__name__}: {e})")
        if blob.depth == 0 and fmt in ARCHIVES:
            self.add("hygiene.archive", "low", "archive in the repository: no model loader reads it, but people extract it",
                     {"format": fmt}, blob.name)
        if mode is not None and fmt != "executable" and mode & 0o111:
            handlers.run_pass("mode", self, blob.name, fmt)
        public = {k: v for k, v in info.items() if not k.startswith("_") and k != "format"}
        if len(self.report.files) < self.settings["max_file_infos"]:
            self.report.files.append(FileInfo(blob.name, fmt, blob.size, sha256, public))
        return info

    def note_unknown(self, name: str, size: int | None, why: str) -> None:
        """Unknown formats are findings, but only once we know no other file references them."""
        self.unknown.append((name, size, why))

    def _flush_unknown(self) -> None:
        for name, size, why in self.unknown:
            if name in self.referenced:
                continue
            model_like = name.lower().rsplit("!", 1)[-1].endswith(MODEL_LIKE)
            sev = "medium" if model_like else "low"
            self.add("format.unknown", sev, "file format not recognised: its content was not inspected",
                     {"size": size, "detail": why}, name)

    def _finish(self, t0: float, n_files: int, n_bytes: int) -> ScanReport:
        self.report.stats = {
            "files": n_files,
            "bytes": n_bytes,
            "members": self.members,
            "decompressed_bytes": self.decompressed,
            "seconds": round(time.perf_counter() - t0, 3),
        }
        if self.python_files:
            self.report.code_files = self.python_files[:500]
        return self.report


def scan_path(path: str | Path, settings: dict[str, Any] | None = None, manifest: list | None = None) -> ScanReport:
    """Scan a directory or a single file without an audit context."""
    return Scanner(settings).scan(Path(path), manifest)
