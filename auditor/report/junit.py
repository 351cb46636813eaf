"""JUnit XML: one test case per policy rule, so CI dashboards show the audit.

violated -> <failure>, error -> <error>, waived / not_run -> <skipped> (with
the reason), pass -> an empty test case.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _x(value: Any) -> str:
    """Text safe for XML 1.0 (ElementTree escapes markup but not illegal characters)."""
    return _BAD_XML.sub("?", "" if value is None else str(value))


def build_junit(report: dict[str, Any]) -> bytes:
    """The JUnit XML document (UTF-8 bytes with declaration) for `report`."""
    policy = report.get("policy", {})
    model = report.get("model", {})
    findings = {f.get("id"): f for f in report.get("findings", []) if isinstance(f, dict)}
    durations = {c.get("id"): c.get("duration_s") for c in report.get("checks", []) if isinstance(c, dict)}
    results = [r for r in report.get("rule_results", []) if isinstance(r, dict)]
    counts = {"tests": len(results), "failures": 0, "errors": 0, "skipped": 0}
    total_time = sum(float(d) for d in durations.values() if isinstance(d, (int, float)))

    suites = ET.Element("testsuites", name="auditor")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=_x(f"auditor policy {policy.get('name')} — {model.get('id')}"),
        timestamp=_x(report.get("started_at")),
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("verdict", report.get("verdict")),
        ("exit_code", report.get("exit_code")),
        ("model.id", model.get("id")),
        ("model.revision", model.get("revision")),
        ("model.digest.sha256", (model.get("digest") or {}).get("sha256")),
        ("policy.name", policy.get("name")),
        ("policy.sha256", policy.get("sha256")),
        ("tool.version", report.get("tool", {}).get("version")),
    ):
        ET.SubElement(props, "property", name=name, value=_x(value))

    for rr in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=_x(f"auditor.{rr.get('check')}"),
            name=_x(rr.get("rule")),
            time=f"{float(durations.get(rr.get('check')) or 0):.3f}",
        )
        status = rr.get("status")
        message = _x(rr.get("message"))
        if status == "violated":
            counts["failures"] += 1
            el = ET.SubElement(case, "failure", message=message, type=_x(f"{rr.get('action')}/{rr.get('severity')}"))
            lines = []
            for fid in rr.get("findings") or []:
                f = findings.get(fid, {})
                lines.append(f"[{f.get('severity', '?')}] {f.get('title', fid)} (finding {fid})")
            el.text = _x("\n".join(lines) or message)
        elif status == "error":
            counts["errors"] += 1
            ET.SubElement(case, "error", message=message, type="error")
        elif status in ("waived", "not_run"):
            counts["skipped"] += 1
            text = f"{status.replace('_', ' ')}: {rr.get('message')}"
            waiver = rr.get("waiver")
            if isinstance(waiver, dict) and waiver.get("reason"):
                text += f" (waiver: {waiver.get('reason')})"
            ET.SubElement(case, "skipped", message=_x(text))
        if rr.get("message") and status not in ("violated",):
            ET.SubElement(case, "system-out").text = message

    for el in (suites, suite):
        for k, v in counts.items():
            el.set(k, str(v))
        el.set("time", f"{total_time:.3f}")
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"
