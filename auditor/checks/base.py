"""The one interface every check implements.

A check receives the audit context (the resolved model plus lazily loaded
runtime state, and what earlier checks published) and its settings from the
policy, and returns a `CheckResult` holding findings with evidence. Checks never
call each other; they communicate only through `AuditContext.shared`, so adding a
check never touches the others (the garak probe/detector split, inspect_ai's
solver/scorer split).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import AuditorError

SEVERITIES = ("info", "low", "medium", "high", "critical")
STATUSES = ("pass", "fail", "warn", "error", "not_applicable", "skipped")


def severity_rank(severity: str) -> int:
    """Order severities so policies can say "at least high"."""
    return SEVERITIES.index(severity)


@dataclass
class Finding:
    """One observation with the numbers behind it.

    `rule` is a stable id within the check (e.g. `pickle.dangerous_import`,
    `behaviour.trigger`), `evidence` is free-form JSON that a human can check.
    """

    check: str
    rule: str
    severity: str
    title: str
    evidence: dict[str, Any] = field(default_factory=dict)
    file: str | None = None
    location: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: v for k, v in d.items() if v is not None}


@dataclass
class CheckResult:
    """What a check hands back. `status` is the check's own view of itself:

    - `pass`: ran, found nothing; `fail`: ran, has findings;
    - `error`: could not finish (the audit becomes incomplete);
    - `not_applicable`: the model has nothing this check can examine
      (e.g. no scratchpad) — explicitly *not* a pass;
    - `skipped`: disabled by policy or budget.
    """

    id: str
    status: str
    settings: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "settings": self.settings,
            "duration_s": round(self.duration_s, 3),
            "n_findings": len(self.findings),
        }
        if self.error:
            out["error"] = self.error
        if self.details:
            out["details"] = self.details
        return out


class Check:
    """Base class. Sub-classes set `id`, `description` and implement `run`.

    `default_settings` are merged under the policy's settings, so a policy only
    names what it changes. `needs_weights` says the check loads the model
    (skipped with an error when the weights cannot be safely loaded).
    """

    id: ClassVar[str] = ""
    description: ClassVar[str] = ""
    default_settings: ClassVar[dict[str, Any]] = {}
    needs_weights: ClassVar[bool] = False

    def run(self, ctx: "AuditContext", settings: dict[str, Any]) -> CheckResult:  # pragma: no cover
        raise NotImplementedError

    def execute(self, ctx: "AuditContext", settings: dict[str, Any]) -> CheckResult:
        """Run with timing and error capture: an exception never escapes as a pass."""
        merged = deep_merge(self.default_settings, settings or {})
        start = time.perf_counter()
        try:
            result = self.run(ctx, merged)
        except AuditorError as exc:
            result = CheckResult(self.id, "error", merged, error=str(exc))
        except Exception as exc:  # noqa: BLE001 — a bug in a check is an incomplete audit
            result = CheckResult(
                self.id, "error", merged, error=f"internal error in check {self.id}: {type(exc).__name__}: {exc}"
            )
        result.settings = merged
        result.duration_s = time.perf_counter() - start
        return result


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge two settings dicts (override wins)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass
class AuditContext:
    """Everything a check may look at.

    `model` is the resolved model (files on disk, id, revision, manifest).
    `lm()` loads the weights once, on first use, for the behavioural checks.
    `shared` carries results between checks, e.g. `shared["triggers"]`: the
    triggers confirmed so far (list of dicts with `trigger`, `placement`,
    `behaviour`, ...), which persistence and scratchpad checks consume.
    `policy_dir` is the policy file's folder, against which settings' relative
    paths (keys, certificates, prompt files) resolve; None means the working directory.
    """

    model: Any  # auditor.resolve.ResolvedModel
    seed: int = 0
    device: str = "auto"
    policy_dir: Any = None  # pathlib.Path | None
    shared: dict[str, Any] = field(default_factory=dict)
    probe_settings: dict[str, Any] = field(default_factory=dict)  # the policy's `probe:` section
    engine: str = "auto"  # generation engine, see auditor.engine
    tensor_parallel: int = 1
    _lm: Any = None
    _lm_error: Exception | None = None
    _probe_set: Any = None

    def lm(self):
        """The loaded model (auditor.probe.loading.LoadedModel), loaded on first use.

        A load failure is remembered, so every behavioural check reports the same
        error without retrying an expensive or unsafe load.
        """
        if self._lm_error is not None:
            raise self._lm_error
        if self._lm is None:
            from ..probe.loading import load_model

            try:
                self._lm = load_model(
                    self.model.path, device=self.device, seed=self.seed,
                    engine=self.engine, tensor_parallel=self.tensor_parallel,
                )
            except AuditorError as exc:
                self._lm_error = exc
                raise
        return self._lm

    def probe_set(self, battery=None):
        """The prompts every behavioural check probes with, built once per audit.

        Sources in order of trust: the policy's prompt files, the model card's
        examples, prompts elicited from the model itself, the generic battery.
        """
        if self._probe_set is None:
            from ..probe.battery import load_battery
            from ..probe.probe_set import build_probe_set
            from ..search.prompts import load_extra

            battery = battery or self.shared.get("battery") or load_battery("builtin")
            self.shared.setdefault("battery", battery)
            self._probe_set = build_probe_set(
                self.lm(), self.model.path, policy_probe=self.probe_settings, policy_dir=self.policy_dir,
                battery=battery, extra=load_extra(), seed=self.seed, settings=self.probe_settings.get("settings"),
            )
        return self._probe_set
