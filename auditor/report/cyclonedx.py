"""CycloneDX 1.6 ML-BOM of the audited model (cyclonedx-python-lib).

The BOM describes the model as a `machine-learning-model` component (hub purl
`pkg:huggingface/<org>/<name>@<commit>`, licence from the model card, base
model as a pedigree ancestor), its files as `file` components with SHA-256
hashes, the training datasets named in the model card as `data` components
(referenced from `modelCard.modelParameters.datasets`), the unwaived findings
as vulnerabilities affecting the model, and the audit verdict as
`auditor:*` properties. The output is validated against the CycloneDX 1.6 JSON
schema bundled with the library before it is returned.
"""

from __future__ import annotations

import datetime as _dt
import json
import uuid
from typing import Any

from ..errors import ReportError

SPEC = "1.6"
_SEVERITIES = {"critical", "high", "medium", "low", "info"}


def _time(value: Any) -> _dt.datetime | None:
    try:
        t = _dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if isinstance(v, (str, int, float)) and str(v).strip()]
    return []


def _purl(model: dict[str, Any]):
    from packageurl import PackageURL

    if model.get("source") != "hub" or not model.get("id"):
        return None
    mid = str(model["id"])
    ns, _, name = mid.rpartition("/")
    try:
        return PackageURL(type="huggingface", namespace=ns or None, name=name, version=model.get("revision"))
    except ValueError:
        return None


def build_cyclonedx(report: dict[str, Any]) -> str:
    """The CycloneDX 1.6 JSON document (a string) for `report`; raises ReportError if it does not validate."""
    try:
        from cyclonedx.contrib.license.factories import LicenseFactory
    except ImportError:  # cyclonedx-python-lib < 11.x
        from cyclonedx.factory.license import LicenseFactory
    from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, Property, XsUri
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType, Pedigree
    from cyclonedx.model.tool import ToolRepository
    from cyclonedx.model.vulnerability import (
        BomTarget,
        Vulnerability,
        VulnerabilityRating,
        VulnerabilityScoreSource,
        VulnerabilitySeverity,
        VulnerabilitySource,
    )
    from cyclonedx.output.json import JsonV1Dot6

    model = report.get("model", {})
    card = model.get("card") if isinstance(model.get("card"), dict) else {}
    tool = report.get("tool", {})
    policy = report.get("policy", {})
    digest = (model.get("digest") or {}).get("sha256", "")

    lf = LicenseFactory()
    licenses = []
    if card.get("license"):
        try:
            licenses = [lf.make_from_string(str(card["license"]))]
        except Exception:  # noqa: BLE001 - an odd licence string becomes a named licence
            licenses = [lf.make_with_name(str(card["license"]))]

    # files
    file_components = []
    for i, f in enumerate(model.get("files") or []):
        if not isinstance(f, dict):
            continue
        hashes = []
        sha = f.get("sha256") or f.get("hub_sha256")
        if sha:
            hashes.append(HashType(alg=HashAlgorithm.SHA_256, content=sha))
        props = [Property(name="auditor:size", value=str(f.get("size")))]
        if f.get("downloaded") is False:
            props.append(Property(name="auditor:downloaded", value="false"))
        if f.get("hub_sha256"):
            props.append(Property(name="auditor:hub_sha256", value=str(f["hub_sha256"])))
        file_components.append(
            Component(
                type=ComponentType.FILE,
                name=str(f.get("path")),
                bom_ref=f"file:{i}:{f.get('path')}",
                hashes=hashes,
                properties=props,
            )
        )

    # datasets (from the model card)
    dataset_components = [
        Component(type=ComponentType.DATA, name=ds, bom_ref=f"dataset:{ds}", description="training dataset named in the model card")
        for ds in dict.fromkeys(_as_list(card.get("datasets")))
    ]

    # base model(s) -> pedigree ancestors
    ancestors = [
        Component(type=ComponentType.MACHINE_LEARNING_MODEL, name=bm, bom_ref=f"base-model:{bm}",
                  purl=_purl({"source": "hub", "id": bm}))
        for bm in dict.fromkeys(_as_list(card.get("base_model")))
    ]

    findings = [f for f in report.get("findings", []) if isinstance(f, dict)]
    active = [f for f in findings if not f.get("waived")]
    props = [
        Property(name="auditor:verdict", value=str(report.get("verdict"))),
        Property(name="auditor:exit_code", value=str(report.get("exit_code"))),
        Property(name="auditor:finished_at", value=str(report.get("finished_at"))),
        Property(name="auditor:policy", value=str(policy.get("name"))),
        Property(name="auditor:policy_sha256", value=str(policy.get("sha256"))),
        Property(name="auditor:model_digest_sha256", value=str(digest)),
        Property(name="auditor:findings", value=str(len(active))),
        Property(name="auditor:findings_waived", value=str(len(findings) - len(active))),
        Property(name="auditor:source", value=str(model.get("source"))),
    ]
    for sev in ("critical", "high", "medium", "low", "info"):
        props.append(Property(name=f"auditor:findings:{sev}", value=str(sum(1 for f in active if f.get("severity") == sev))))
    if report.get("signing", {}).get("key_fingerprint"):
        props.append(Property(name="auditor:signing_key", value=str(report["signing"]["key_fingerprint"])))
    for rr in report.get("rule_results", []):
        if isinstance(rr, dict):
            props.append(Property(name=f"auditor:rule:{rr.get('rule')}", value=str(rr.get("status"))))

    ext = []
    if model.get("source") == "hub":
        endpoint = str(model.get("endpoint") or "https://huggingface.co").rstrip("/")
        try:
            ext.append(ExternalReference(type=ExternalReferenceType.WEBSITE, url=XsUri(f"{endpoint}/{model.get('id')}")))
        except Exception:  # noqa: BLE001 - an id that makes no URL: skip the reference
            pass
    model_component = Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=str(model.get("id")),
        version=str(model.get("revision") or f"sha256:{digest}"),
        bom_ref="model",
        purl=_purl(model),
        licenses=licenses,
        properties=props,
        external_references=ext,
        pedigree=Pedigree(ancestors=ancestors) if ancestors else None,
        description=f"Audited by {tool.get('name')} {tool.get('version')}: verdict {report.get('verdict')}",
    )

    tool_component = Component(type=ComponentType.APPLICATION, name=str(tool.get("name", "auditor")),
                               version=str(tool.get("version", "")), bom_ref="tool:auditor")
    metadata = BomMetaData(
        component=model_component,
        tools=ToolRepository(components=[tool_component]),
        timestamp=_time(report.get("finished_at")),
    )
    serial = uuid.uuid5(uuid.NAMESPACE_URL, f"auditor:{digest}:{report.get('finished_at')}:{model.get('revision')}")
    bom = Bom(metadata=metadata, serial_number=serial, components=file_components + dataset_components)
    bom.register_dependency(model_component, file_components + dataset_components)
    for c in file_components + dataset_components:
        bom.register_dependency(c, [])

    source = VulnerabilitySource(name=str(tool.get("name", "auditor")))
    vulns = []
    for f in active:
        sev = f.get("severity") if f.get("severity") in _SEVERITIES else "unknown"
        vulns.append(
            Vulnerability(
                bom_ref=f"finding:{f.get('id')}",
                id=f"AUDITOR-{f.get('id')}",
                source=source,
                description=str(f.get("title")),
                detail=f"check {f.get('check')}, rule {f.get('rule')}"
                + (f", file {f.get('file')}" if f.get("file") else "")
                + (f", violates {', '.join(f['policy_rules'])}" if f.get("policy_rules") else ""),
                ratings=[VulnerabilityRating(source=source, severity=VulnerabilitySeverity(sev), method=VulnerabilityScoreSource.OTHER)],
                affects=[BomTarget(ref="model")],
            )
        )
    bom.vulnerabilities = vulns

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = JsonV1Dot6(bom).output_as_string(indent=2)

    # The library has no model-card API yet: add modelParameters.datasets by reference.
    doc = json.loads(text)
    if dataset_components:
        doc["metadata"]["component"]["modelCard"] = {
            "modelParameters": {"datasets": [{"ref": c.bom_ref.value} for c in dataset_components]}
        }
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    problems = validate_cyclonedx(text)
    if problems:
        raise ReportError(f"CycloneDX BOM does not validate against the {SPEC} schema: {problems}")
    return text


def validate_cyclonedx(text: str) -> str | None:
    """None if `text` is valid CycloneDX 1.6 JSON (the library's bundled schema), else the error."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    err = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    return None if err is None else str(err)
