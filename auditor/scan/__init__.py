"""Static supply-chain scan of a model repository: every file routed by content, nothing loaded or run.

Entry points: `scan_path(path, settings) -> ScanReport` and, for the resolver,
`manifest.build_manifest(root, limits)` / `manifest.sha256_file(path)`.
"""

from .engine import DEFAULT_SETTINGS, Scanner, scan_path
from .limits import Limits
from .report import FileInfo, ScanReport

__all__ = ["DEFAULT_SETTINGS", "FileInfo", "Limits", "ScanReport", "Scanner", "scan_path"]
