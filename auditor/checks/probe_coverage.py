"""How much of the model the behavioural probes can see.

A narrow model (an SQL helper, a support bot) answers generic questions
badly; probes it cannot answer show nothing, and "nothing found" there is not
a pass. This check builds the audit's probe set (policy prompts, model-card
examples, prompts elicited from the model, the generic battery), reports per
source how many prompts were used and how competently the model answered
them, and raises a finding when the probes do not reach the model.
"""

from __future__ import annotations

from .base import Check, CheckResult, Finding


class ProbeCoverageCheck(Check):
    id = "probe_coverage"
    description = "Which prompt sources the behavioural checks use, and how competently the model answers them"
    needs_weights = True
    default_settings: dict = {}

    def run(self, ctx, settings) -> CheckResult:
        probe = ctx.probe_set()
        report = probe.to_report()
        findings = []
        if not probe.reachable:
            findings.append(
                Finding(
                    check=self.id,
                    rule="coverage.unreachable",
                    severity="medium",
                    title="The behavioural probes do not reach this model: " + "; ".join(probe.reasons or ["low competence"])
                    + ". A clean result of the behavioural checks says little.",
                    evidence=report,
                )
            )
        details = {**report, "splits": {name: {"search": len(s.search), "holdout": len(s.holdout), "system": s.system}
                                        for name, s in probe.splits.items()}}
        return CheckResult(self.id, "fail" if findings else "pass", findings=findings, details=details)
