"""Page 1 (verdict banner, model identity, top findings, what to do), the policy rule results and the checks overview."""

from __future__ import annotations

from typing import Any

from reportlab.lib.units import mm
from reportlab.platypus import Spacer, Table, TableStyle

from .fmt import SEVERITY_ORDER, VERDICT_TAGLINE, WHAT_TO_DO, compact, duration, esc, fmt_num, fmt_size, human_time, severity_key
from ..fmt import check_details, competence_summary, coverage_rows, provenance_summary
from .styles import FRAME_W, STATUS_COLOURS, VERDICT_COLOURS, table


class SummaryMixin:
    def summary(self) -> list:
        r, s = self.r, self.s
        verdict = str(r.get("verdict", "error"))
        model = r.get("model", {})
        out: list = [self.p("Model audit report", s.title)]
        colour = VERDICT_COLOURS.get(verdict, VERDICT_COLOURS["error"])
        banner = Table(
            [
                [self.p(esc(verdict.upper()), s.banner)],
                [
                    self.p(
                        f"{esc(VERDICT_TAGLINE.get(verdict, ''))} · exit code {esc(r.get('exit_code'))}"
                        f" · policy “{esc(r.get('policy', {}).get('name'))}”",
                        s.banner_sub,
                    )
                ],
            ],
            colWidths=[FRAME_W],
        )
        banner.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, -1), colour),
                    ("TOPPADDING", (0, 0), (-1, 0), 10),
                    ("BOTTOMPADDING", (0, -1), (-1, -1), 10),
                    ("ROUNDEDCORNERS", [4, 4, 4, 4]),
                ]
            )
        )
        out += [banner, Spacer(1, 8)]

        rev = model.get("revision")
        rev_text = rev if rev else "(local files: no revision; identified by digest)"
        if model.get("requested_revision") and model.get("requested_revision") != rev:
            rev_text = f"{rev_text}  (requested: {model.get('requested_revision')})"
        signing = r.get("signing", {})
        tool = r.get("tool", {})
        pairs: list[tuple[str, Any]] = [
            ("Model", model.get("id")),
            ("Source", model.get("source") + (f" ({model['endpoint']})" if model.get("endpoint") else "")
             if isinstance(model.get("source"), str) else model.get("source")),
            ("Revision (commit)", rev_text),
            ("Model digest (sha256)", (model.get("digest") or {}).get("sha256")),
            ("Files", f"{len(model.get('files') or [])} ({fmt_size(sum(int(x.get('size') or 0) for x in model.get('files') or [] if isinstance(x, dict)))})"),
            ("Policy", f"{r.get('policy', {}).get('name')}" + (f"  ({r['policy']['path']})" if r.get("policy", {}).get("path") else "")),
            ("Policy sha256", r.get("policy", {}).get("sha256")),
            ("Audit time", f"{human_time(r.get('started_at'))} → {human_time(r.get('finished_at'))}"
             f"  ({duration(r.get('started_at'), r.get('finished_at'))})"),
            ("Tool", f"{tool.get('name')} {tool.get('version')}" + (f" (git {tool['git_commit']})" if tool.get("git_commit") else "")),
            ("Signing key", f"{signing.get('key_fingerprint', '(unsigned)')}  [{signing.get('algorithm', '?')}]"),
        ]
        prov = check_details(r, "provenance")
        if prov is not None:  # right under the model identity it vouches for
            status, line = provenance_summary(prov)
            colour = {"verified": "pass", "not verified": "violated"}.get(status, "warn")
            pairs.insert(4, ("Provenance", self.p(f"{self.badge(status, STATUS_COLOURS[colour])} {esc(line, limit=600)}", s.cell)))
        out.append(self.kv_table(pairs, mono_keys={"Revision (commit)", "Model digest (sha256)", "Policy sha256", "Signing key"}))
        out.append(Spacer(1, 6))

        # counts
        active = [x for x in self.findings if not x.get("waived")]
        counts = {sev: sum(1 for x in active if x.get("severity") == sev) for sev in SEVERITY_ORDER}
        waived = len(self.findings) - len(active)
        sev_line = "  ".join(f"{self.sev_badge(sev)} {counts[sev]}" for sev in SEVERITY_ORDER)
        rr = [x for x in r.get("rule_results", []) if isinstance(x, dict)]
        rcounts: dict[str, int] = {}
        for x in rr:
            rcounts[x.get("status", "?")] = rcounts.get(x.get("status", "?"), 0) + 1
        rule_line = ", ".join(f"{n} {esc(k).replace('_', ' ')}" for k, n in sorted(rcounts.items()))
        out.append(self.p(f"<b>Findings:</b> {sev_line}" + (f"  ({waived} waived)" if waived else ""), s.body))
        out.append(self.p(f"<b>Policy rules:</b> {len(rr)} evaluated — {rule_line or 'none'}", s.body))
        coverage = r.get("probe_coverage")
        if isinstance(coverage, dict):
            out.extend(self.coverage_table(coverage))

        # top findings
        out.append(self.p("Top findings", s.h2))
        top = sorted(active, key=severity_key)[:6]
        if top:
            rows = [[self.t("Severity", s.cell_b), self.t("Check", s.cell_b), self.t("Finding", s.cell_b)]]
            for x in top:
                rows.append(
                    [
                        self.p(self.sev_badge(str(x.get("severity"))), s.cell),
                        self.t(x.get("check")),
                        self.t(x.get("title"), limit=300),
                    ]
                )
            out.append(table(rows, [22 * mm, 30 * mm, FRAME_W - 52 * mm]))
            if len(active) > len(top):
                out.append(self.p(f"… and {len(active) - len(top)} more finding(s) in the sections below.", s.small))
        else:
            out.append(self.p("No (unwaived) findings.", s.body))

        errors = [e for e in r.get("errors", []) if isinstance(e, dict)]
        if errors:
            out.append(self.p("Errors", s.h2))
            for e in errors[:8]:
                out.append(self.p(f"<b>{esc(e.get('stage'))}:</b> {esc(e.get('message'), limit=400)}", s.body))
            if len(errors) > 8:
                out.append(self.p(f"… {len(errors) - 8} more in the Errors section.", s.small))

        out.append(self.p("What to do", s.h2))
        out.append(self.p(WHAT_TO_DO.get(verdict, WHAT_TO_DO["error"]), s.body))
        unrun = [x for x in rr if x.get("status") in ("not_run", "error")]
        if unrun and verdict in ("pass", "warn"):
            names = ", ".join(str(x.get("rule")) for x in unrun[:8]) + (" …" if len(unrun) > 8 else "")
            out.append(
                self.p(
                    f"<b>Coverage:</b> {len(unrun)} of {len(rr)} policy rules were not evaluated ({esc(names)}); "
                    "this verdict says nothing about what those rules check.",
                    s.body,
                )
            )
        out.append(
            self.p(
                "This PDF carries a PAdES signature; report.json and every other artifact are named by digest in "
                "the DSSE envelope report.json.dsse. Check both with "
                f"<font name='{self.f.mono}'>auditor verify DIR --key KEY.pub</font> and compare the key "
                "fingerprint above with the one you expect.",
                s.small,
            )
        )
        return out

    # policy results ----------------------------------------------------------
    def rule_results(self) -> list:
        s = self.s
        out: list = [self.p("1. Policy rules and results", s.h1)]
        rr = [x for x in self.r.get("rule_results", []) if isinstance(x, dict)]
        if not rr:
            return out + [self.p("The policy has no rules.", s.body)]
        rows = [[self.t(h, s.cell_b) for h in ("Rule", "Check", "Action", "Severity", "Result", "Message")]]
        for x in rr:
            msg = esc(x.get("message"), limit=600)
            if x.get("findings"):
                msg += f"<br/><font size='6.5' color='#555555'>findings: {esc(', '.join(map(str, x['findings'][:8])))}" + (
                    " …" if len(x["findings"]) > 8 else "") + "</font>"
            if isinstance(x.get("waiver"), dict):
                w = x["waiver"]
                bits = " · ".join(f"{k} {compact(v, 80)}" for k, v in w.items() if k not in ("rule", "reason"))
                msg += f"<br/><font color='#1565c0' size='6.5'>waiver: {esc(bits, limit=300)}</font>"
            rows.append(
                [
                    self.t(x.get("rule"), s.cell_b),
                    self.t(x.get("check")),
                    self.t(x.get("action")),
                    self.p(self.sev_badge(str(x.get("severity"))), s.cell),
                    self.p(self.status_badge(str(x.get("status"))), s.cell),
                    self.p(msg, s.cell),
                ]
            )
        w = [40 * mm, 27 * mm, 14 * mm, 19 * mm, 19 * mm]
        out.append(table(rows, w + [FRAME_W - sum(w)]))
        return out

    # checks --------------------------------------------------------------------
    def checks_overview(self) -> list:
        s = self.s
        out: list = [self.p("2. Checks", s.h1)]
        checks = [c for c in self.r.get("checks", []) if isinstance(c, dict)]
        rows = [[self.t(h, s.cell_b) for h in ("Check", "Status", "Findings", "Duration", "Note")]]
        for c in checks:
            d = c.get("duration_s")
            rows.append(
                [
                    self.t(c.get("id"), s.cell_b),
                    self.p(self.status_badge(str(c.get("status"))), s.cell),
                    self.t(c.get("n_findings")),
                    self.t(f"{d:.1f} s" if isinstance(d, (int, float)) else d),
                    self.t(c.get("error") or "", limit=400),
                ]
            )
        w = [36 * mm, 26 * mm, 16 * mm, 18 * mm]
        out.append(table(rows, w + [FRAME_W - sum(w)]))
        return out

    def coverage_table(self, coverage: dict) -> list:
        """"What the audit could see": the prompt sources behind the behavioural probes, compactly."""
        s = self.s
        reach = "yes" if coverage.get("reachable") else "no"
        out: list = [self.p("What the audit could see", s.h2)]
        comp = competence_summary(coverage)
        head = f"<b>Behaviour probes reachable:</b> {reach}"
        if comp:
            head += " · competence " + esc(comp)
        out.append(self.p(head, s.body))
        reasons = [x for x in coverage.get("reasons") or [] if x]
        if reasons:
            out.append(self.p("; ".join(esc(x, limit=200) for x in reasons[:5]), s.small))
        rows = [[self.t(h, s.cell_b) for h in ("Source", "Kind / purpose", "Prompts used", "Share", "Competence")]]
        for row in coverage_rows(coverage)[:12]:
            rows.append([self.t(row["source"], limit=80), self.t(row["kind"], limit=80), self.t(row["used"]),
                         self.t(row["share"]), self.t(row["competence"])])
        if len(rows) > 1:
            w = [50 * mm, 40 * mm, 28 * mm, 18 * mm]
            out.append(table(rows, w + [FRAME_W - sum(w)]))
        return out
