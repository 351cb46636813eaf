"""Compare two reports: what changed between two audits of a model.

`diff_reports(old, new)` returns a JSON-able dict: verdict/revision/digest/policy
changes, findings that are new or resolved (matched by stable id, else by
(check, rule, file/trigger/method/signal/import)), rates that moved
(triggered_rate & co.), rule results and check statuses that changed, and the
file manifest delta by sha256. `render_diff` prints it with rich.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ReportError

RATE_FIELDS = (
    "triggered_rate",
    "baseline_rate",
    "rate_before",
    "rate_after",
    "rate_with_trigger",
    "rate_without_trigger",
    "helpfulness_before",
    "helpfulness_after",
)
_KEY_FIELDS = ("trigger", "method", "signal", "import", "placement", "behaviour")
_SEV = ("info", "low", "medium", "high", "critical")


def load_report(path: str | Path) -> dict[str, Any]:
    """Read report.json (or DIR/report.json); ReportError if unreadable."""
    p = Path(path)
    if p.is_dir():
        p = p / "report.json"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError("no such report", path=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"cannot read report: {exc}", path=str(p)) from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"not valid JSON: {exc}", path=str(p)) from None
    if not isinstance(data, dict) or "findings" not in data or "model" not in data:
        raise ReportError("not an auditor report (no model/findings)", path=str(p))
    return data


def _match_key(f: dict[str, Any]) -> tuple:
    ev = f.get("evidence") if isinstance(f.get("evidence"), dict) else {}
    return (f.get("check"), f.get("rule"), f.get("file")) + tuple(
        json.dumps(ev.get(k), sort_keys=True) if k in ev else None for k in _KEY_FIELDS
    )


def _summary(f: dict[str, Any]) -> dict[str, Any]:
    out = {k: f.get(k) for k in ("id", "check", "rule", "severity", "title")}
    if f.get("file"):
        out["file"] = f["file"]
    ev = f.get("evidence") if isinstance(f.get("evidence"), dict) else {}
    for k in ("trigger", "method") + RATE_FIELDS[:1]:
        if k in ev:
            out[k] = ev[k]
    if f.get("waived"):
        out["waived"] = True
    return out


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _change(old: Any, new: Any) -> dict[str, Any]:
    return {"old": old, "new": new, "changed": old != new}


def diff_reports(old: dict[str, Any], new: dict[str, Any], *, rate_threshold: float = 0.005) -> dict[str, Any]:
    """What changed from `old` to `new`. Rates count as moved when |Δ| >= rate_threshold."""
    om, nm = old.get("model") or {}, new.get("model") or {}
    out: dict[str, Any] = {
        "old": {"model": om.get("id"), "revision": om.get("revision"), "finished_at": old.get("finished_at")},
        "new": {"model": nm.get("id"), "revision": nm.get("revision"), "finished_at": new.get("finished_at")},
        "verdict": _change(old.get("verdict"), new.get("verdict")),
        "exit_code": _change(old.get("exit_code"), new.get("exit_code")),
        "model_id": _change(om.get("id"), nm.get("id")),
        "revision": _change(om.get("revision"), nm.get("revision")),
        "model_digest": _change((om.get("digest") or {}).get("sha256"), (nm.get("digest") or {}).get("sha256")),
        "policy": _change(
            {"name": (old.get("policy") or {}).get("name"), "sha256": (old.get("policy") or {}).get("sha256")},
            {"name": (new.get("policy") or {}).get("name"), "sha256": (new.get("policy") or {}).get("sha256")},
        ),
    }

    # findings ------------------------------------------------------------
    of = [f for f in old.get("findings") or [] if isinstance(f, dict)]
    nf = [f for f in new.get("findings") or [] if isinstance(f, dict)]
    pairs: list[tuple[dict, dict, str]] = []
    o_left = list(of)
    n_left = []
    o_by_id = {f.get("id"): f for f in of}
    for f in nf:
        match = o_by_id.get(f.get("id"))
        if match is not None and match in o_left:
            o_left.remove(match)
            pairs.append((match, f, "id"))
        else:
            n_left.append(f)
    still_new = []
    for f in n_left:
        key = _match_key(f)
        match = next((o for o in o_left if _match_key(o) == key), None)
        if match is not None:
            o_left.remove(match)
            pairs.append((match, f, "key"))
        else:
            still_new.append(f)
    rates = []
    sev_changes = []
    waiver_changes = []
    for o, n, how in pairs:
        oev = o.get("evidence") if isinstance(o.get("evidence"), dict) else {}
        nev = n.get("evidence") if isinstance(n.get("evidence"), dict) else {}
        for k in RATE_FIELDS:
            a, b = oev.get(k), nev.get(k)
            if _num(a) and _num(b) and abs(b - a) >= rate_threshold:
                rates.append(
                    {
                        "finding": n.get("id"),
                        "check": n.get("check"),
                        "rule": n.get("rule"),
                        "title": n.get("title"),
                        "key": nev.get("trigger") or n.get("file") or nev.get("signal"),
                        "method": nev.get("method"),
                        "field": k,
                        "old": a,
                        "new": b,
                        "delta": round(b - a, 6),
                    }
                )
        if o.get("severity") != n.get("severity"):
            sev_changes.append({"finding": n.get("id"), "title": n.get("title"), "old": o.get("severity"), "new": n.get("severity")})
        if bool(o.get("waived")) != bool(n.get("waived")):
            waiver_changes.append({"finding": n.get("id"), "title": n.get("title"), "old": bool(o.get("waived")), "new": bool(n.get("waived"))})
    out["findings"] = {
        "new": [_summary(f) for f in still_new],
        "resolved": [_summary(f) for f in o_left],
        "persisting": len(pairs),
        "matched_by_key": sum(1 for *_, how in pairs if how == "key"),
        "severity_changed": sev_changes,
        "waiver_changed": waiver_changes,
    }
    out["rates"] = rates

    # rules and checks ------------------------------------------------------
    def by(items: Any, key: str) -> dict[Any, dict]:
        return {x.get(key): x for x in items or [] if isinstance(x, dict)}

    orr, nrr = by(old.get("rule_results"), "rule"), by(new.get("rule_results"), "rule")
    out["rules"] = [
        {"rule": r, "old": (orr.get(r) or {}).get("status"), "new": (nrr.get(r) or {}).get("status")}
        for r in sorted(set(orr) | set(nrr), key=str)
        if (orr.get(r) or {}).get("status") != (nrr.get(r) or {}).get("status")
    ]
    oc, nc = by(old.get("checks"), "id"), by(new.get("checks"), "id")
    out["checks"] = [
        {"check": c, "old": (oc.get(c) or {}).get("status"), "new": (nc.get(c) or {}).get("status")}
        for c in sorted(set(oc) | set(nc), key=str)
        if (oc.get(c) or {}).get("status") != (nc.get(c) or {}).get("status")
    ]

    # files -------------------------------------------------------------------
    ofl, nfl = by(om.get("files"), "path"), by(nm.get("files"), "path")

    def digest(f: dict) -> Any:
        return f.get("sha256") or f.get("hub_sha256")

    changed_files = []
    for p in sorted(set(ofl) & set(nfl), key=str):
        a, b = ofl[p], nfl[p]
        if digest(a) != digest(b) or a.get("size") != b.get("size"):
            changed_files.append(
                {"path": p, "old_sha256": digest(a), "new_sha256": digest(b), "old_size": a.get("size"), "new_size": b.get("size")}
            )
    out["files"] = {
        "added": sorted((p for p in set(nfl) - set(ofl)), key=str),
        "removed": sorted((p for p in set(ofl) - set(nfl)), key=str),
        "changed": changed_files,
    }
    out["changed"] = bool(
        out["verdict"]["changed"]
        or out["revision"]["changed"]
        or out["model_digest"]["changed"]
        or out["policy"]["changed"]
        or out["findings"]["new"]
        or out["findings"]["resolved"]
        or sev_changes
        or waiver_changes
        or rates
        or out["rules"]
        or out["checks"]
        or any(out["files"].values())
    )
    return out


def _pct(v: Any) -> str:
    return f"{v * 100:.1f}%" if _num(v) else str(v)


def render_diff(d: dict[str, Any], console=None) -> None:
    """Print a diff (from `diff_reports`) with rich. Model text is printed literally, never as markup."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    verdict_style = {"pass": "bold green", "warn": "bold yellow", "fail": "bold red", "error": "bold magenta"}

    def line(*parts: tuple[str, str]) -> Text:
        t = Text()
        for text, style in parts:
            t.append(str(text), style=style)
        return t

    v = d["verdict"]
    if v["changed"]:
        console.print(line(("Verdict: ", "bold"), (str(v["old"]).upper(), verdict_style.get(v["old"], "")), (" → ", ""),
                           (str(v["new"]).upper(), verdict_style.get(v["new"], ""))))
    else:
        console.print(line(("Verdict: ", "bold"), (str(v["new"]).upper(), verdict_style.get(v["new"], "")), (" (unchanged)", "dim")))
    for label, key in (("Model", "model_id"), ("Revision", "revision"), ("Model digest", "model_digest")):
        c = d[key]
        if c["changed"]:
            console.print(line((f"{label}: ", "bold"), (str(c["old"]), "red"), (" → ", ""), (str(c["new"]), "green")))
    if d["policy"]["changed"]:
        console.print(line(("Policy: ", "bold"), (f"{d['policy']['old']['name']} ({str(d['policy']['old']['sha256'])[:12]})", "red"),
                           (" → ", ""), (f"{d['policy']['new']['name']} ({str(d['policy']['new']['sha256'])[:12]})", "green")))

    fnd = d["findings"]
    if fnd["new"] or fnd["resolved"]:
        t = Table(title="Findings", show_lines=False)
        t.add_column("")
        t.add_column("severity")
        t.add_column("check")
        t.add_column("finding", overflow="fold")
        for f in fnd["new"]:
            t.add_row(Text("+ new", style="bold red"), Text(str(f.get("severity"))), Text(str(f.get("check"))), Text(str(f.get("title"))))
        for f in fnd["resolved"]:
            t.add_row(Text("- resolved", style="bold green"), Text(str(f.get("severity"))), Text(str(f.get("check"))), Text(str(f.get("title"))))
        console.print(t)
    console.print(line((f"{fnd['persisting']} finding(s) in both reports", "dim")))
    for s in fnd["severity_changed"]:
        console.print(line(("severity ", ""), (f"{s['old']} → {s['new']}", "yellow"), (": ", ""), (str(s["title"]), "")))
    for s in fnd["waiver_changed"]:
        console.print(line(("waiver ", ""), ("added" if s["new"] else "removed", "yellow"), (": ", ""), (str(s["title"]), "")))

    if d["rates"]:
        t = Table(title="Rates that moved")
        for col in ("check", "trigger / file", "method", "field", "old", "new", "Δ"):
            t.add_column(col, overflow="fold")
        for r in d["rates"]:
            delta = r["delta"]
            t.add_row(Text(str(r["check"])), Text(str(r.get("key") or "")), Text(str(r.get("method") or "")), Text(r["field"]),
                      Text(_pct(r["old"])), Text(_pct(r["new"])),
                      Text(f"{delta * 100:+.1f} pp", style="red" if delta > 0 and "helpfulness" not in r["field"] else "green"))
        console.print(t)
    for r in d["rules"]:
        console.print(line(("rule ", ""), (str(r["rule"]), "bold"), (f": {r['old']} → {r['new']}", "")))
    for c in d["checks"]:
        console.print(line(("check ", ""), (str(c["check"]), "bold"), (f": {c['old']} → {c['new']}", "")))
    files = d["files"]
    for p in files["added"]:
        console.print(line(("+ file ", "green"), (str(p), "")))
    for p in files["removed"]:
        console.print(line(("- file ", "red"), (str(p), "")))
    for f in files["changed"]:
        console.print(line(("~ file ", "yellow"), (str(f["path"]), ""),
                           (f"  {str(f['old_sha256'])[:12]} → {str(f['new_sha256'])[:12]}", "dim")))
    if not d["changed"]:
        console.print(Text("No differences.", style="green"))
