"""Fleet audits: many models, one manifest, Ray tasks, one signed summary."""

from .manifest import FleetJob, ManifestError, load_manifest
from .runner import FleetResult, run_fleet

__all__ = ["FleetJob", "FleetResult", "ManifestError", "load_manifest", "run_fleet"]
