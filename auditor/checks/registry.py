"""Name -> check class. A new check registers itself here and nowhere else."""

from __future__ import annotations

import importlib

from .base import Check

# id -> "module:Class"; imported lazily so `auditor scan` never imports torch.
_CHECKS: dict[str, str] = {
    "provenance": "auditor.checks.provenance:ProvenanceCheck",
    "static_scan": "auditor.checks.static_scan:StaticScanCheck",
    "probe_coverage": "auditor.checks.probe_coverage:ProbeCoverageCheck",
    "known_triggers": "auditor.checks.known_triggers:KnownTriggersCheck",
    "trigger_search": "auditor.checks.trigger_search:TriggerSearchCheck",
    "persistence": "auditor.checks.persistence:PersistenceCheck",
    "scratchpad": "auditor.checks.scratchpad:ScratchpadCheck",
    "activation_probe": "auditor.checks.activation_probe:ActivationProbeCheck",
}

# The order checks run in: later checks consume what earlier ones publish.
ORDER = list(_CHECKS)


def available() -> list[str]:
    return list(_CHECKS)


def get_check(check_id: str) -> Check:
    try:
        target = _CHECKS[check_id]
    except KeyError:
        raise KeyError(f"unknown check {check_id!r}; known: {', '.join(_CHECKS)}") from None
    module_name, cls_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    return cls()
