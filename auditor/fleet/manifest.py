"""Read a fleet manifest: which models to audit, each with its policy, checks and
time budget. Validated against manifest.schema.json so a typo is a clear error
(exit 2) before any audit starts."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import AuditorError
from ..yamlio import read_yaml, schema_errors

SCHEMA = Path(__file__).with_name("manifest.schema.json")
DEFAULT_TIME_BUDGET_S = 3600.0


class ManifestError(AuditorError):
    """The fleet manifest is missing, malformed or invalid."""


@dataclass(frozen=True)
class FleetJob:
    """One audit of the fleet, fully resolved against the manifest's defaults."""

    model: str
    revision: str | None
    policy_path: str
    policy_sha256: str
    time_budget_s: float
    checks: list[str] | None = None
    seed: int = 0
    device: str = "auto"
    engine: str = "auto"
    tensor_parallel: int = 1
    formats: list[str] = field(default_factory=lambda: ["json", "pdf"])
    num_cpus: float = 1.0
    num_gpus: float | None = None  # None: tensor_parallel GPUs when the cluster has any

    @property
    def slug(self) -> str:
        """A folder name for the model: filesystem-safe id plus a short revision."""
        name = self.model.rstrip("/\\")
        if Path(name).is_absolute():
            name = Path(name).name
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace("/", "__")).strip("._") or "model"
        if self.revision:
            rev = re.sub(r"[^A-Za-z0-9._-]+", "_", self.revision)[:12]
        else:
            rev = "local" if Path(self.model).is_absolute() else "main"
        # A digest of the full reference keeps two long names that share a prefix apart.
        tag = hashlib.sha256(f"{self.model}@{self.revision}".encode()).hexdigest()[:6]
        return f"{safe[:80]}-{rev}-{tag}"

    def to_dict(self) -> dict:
        return asdict(self)


def _local_or_hub(model: str, base: Path) -> str:
    """A model path relative to the manifest becomes absolute; anything else is a hub id."""
    if Path(model).is_absolute():
        return model
    candidate = base / model
    return str(candidate.resolve()) if candidate.exists() else model


def load_manifest(path: str | Path) -> list[FleetJob]:
    from ..policy import load_policy
    from ..settings import default_policy_path

    path = Path(path)
    data, _digest = read_yaml(path, ManifestError)
    problems = schema_errors(data, SCHEMA)
    if problems:
        raise ManifestError("invalid fleet manifest:\n  " + "\n  ".join(problems), path=str(path))
    base = path.resolve().parent
    defaults = data.get("defaults") or {}
    policies: dict[str, str] = {}
    jobs: list[FleetJob] = []
    seen: set[tuple[str, str | None]] = set()
    for i, entry in enumerate(data["models"]):
        merged = {**defaults, **entry}
        policy = merged.get("policy")
        policy_path = str((base / policy).resolve()) if policy else str(default_policy_path())
        if policy_path not in policies:
            policies[policy_path] = load_policy(policy_path).sha256  # PolicyError names the file
        model = _local_or_hub(merged["model"], base)
        key = (model, merged.get("revision"))
        if key in seen:
            raise ManifestError(f"models[{i}]: {merged['model']} at revision {key[1]} is listed twice", path=str(path))
        seen.add(key)
        jobs.append(
            FleetJob(
                model=model,
                revision=merged.get("revision"),
                policy_path=policy_path,
                policy_sha256=policies[policy_path],
                time_budget_s=float(merged.get("time_budget", DEFAULT_TIME_BUDGET_S)),
                checks=list(merged["checks"]) if merged.get("checks") else None,
                seed=int(merged.get("seed", 0)),
                device=merged.get("device", "auto"),
                engine=merged.get("engine", "auto"),
                tensor_parallel=int(merged.get("tensor_parallel", 1)),
                formats=list(merged.get("formats") or ["json", "pdf"]),
                num_cpus=float(merged.get("num_cpus", 1)),
                num_gpus=merged.get("num_gpus"),
            )
        )
    return jobs


def manifest_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


