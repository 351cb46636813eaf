"""One section per check, and each finding's evidence: trigger statistics with rate bars and example outputs, or generic key/value evidence."""

from __future__ import annotations

from typing import Any, Iterable

from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import CondPageBreak, KeepTogether, Spacer, Table, TableStyle

from .fmt import MAX_EXAMPLES, MAX_FINDINGS_PER_CHECK, MAX_TEXT, compact, esc, fmt_ci, fmt_num, fmt_p, fmt_rate, severity_key
from .styles import BASELINE_COLOUR, BOX_BG, FRAME_W, GRID, STATUS_COLOURS


class FindingsMixin:
    def check_sections(self) -> list:
        s = self.s
        out: list = []
        checks = [c for c in self.r.get("checks", []) if isinstance(c, dict)]
        ids = [c.get("id") for c in checks]
        for x in self.findings:  # findings of checks that have no entry
            if x.get("check") not in ids:
                ids.append(x.get("check"))
                checks.append({"id": x.get("check"), "status": "?"})
        for n, c in enumerate(checks, start=3):
            cid = c.get("id")
            fs = sorted((x for x in self.findings if x.get("check") == cid), key=severity_key)
            out.append(CondPageBreak(80 * mm))
            out.append(self.p(f"{n}. Check {esc(cid)} &nbsp;{self.status_badge(str(c.get('status')))}", s.h1))
            meta: list[tuple[str, Any]] = []
            if c.get("error"):
                meta.append(("Error", c["error"]))
            for k, v in (c.get("settings") or {}).items():
                meta.append((f"setting: {k}", v))
            for k, v in (c.get("details") or {}).items():
                meta.append((k, v))
            if meta:
                out += [self.kv_table(meta), Spacer(1, 4)]
            if not fs:
                status = str(c.get("status"))
                note = {
                    "pass": "No findings: the check ran and found nothing.",
                    "skipped": "No findings because the check did not run (skipped). This is not a pass.",
                    "not_applicable": "No findings because the model has nothing this check can examine. This is not a pass.",
                    "error": "The check failed to complete; see the error above. This is not a pass.",
                }.get(status, "No findings.")
                out.append(self.p(note, s.body))
                continue
            if any(isinstance(x.get("evidence", {}).get("curve"), list) for x in fs):
                out.extend(self.persistence_plots(fs))
            for x in fs[:MAX_FINDINGS_PER_CHECK]:
                out.extend(self.finding(x))
            if len(fs) > MAX_FINDINGS_PER_CHECK:
                out.append(self.p(f"… {len(fs) - MAX_FINDINGS_PER_CHECK} more findings of this check in report.json.", s.body))
        return out

    # one finding ---------------------------------------------------------------
    def finding(self, x: dict) -> list:
        s = self.s
        ev = x.get("evidence") if isinstance(x.get("evidence"), dict) else {}
        head = f"{self.sev_badge(str(x.get('severity')))} {esc(x.get('title'), limit=400)}"
        if x.get("waived"):
            head += f" {self.status_badge('waived')}"
        meta = [f"rule <b>{esc(x.get('rule'))}</b>", f"id <font name='{self.f.mono}'>{esc(x.get('id'))}</font>"]
        if x.get("file"):
            meta.append(f"file <font name='{self.f.mono}'>{esc(x.get('file'), self.f.mono, 300)}</font>")
        if x.get("location"):
            meta.append(f"at {esc(x.get('location'), limit=200)}")
        if x.get("policy_rules"):
            meta.append("violates " + esc(", ".join(map(str, x["policy_rules"]))))
        block: list = [self.p(head, s.h3), self.p(" · ".join(meta), s.small), Spacer(1, 2)]
        check = x.get("check")
        if check in ("known_triggers", "trigger_search") or ("trigger" in ev and "triggered_rate" in ev):
            rest = self.trigger_evidence(ev)
        elif check == "persistence" or ("method" in ev and "rate_before" in ev):
            rest = self.persistence_evidence(ev)
        elif check == "scratchpad" or "excerpts" in ev:
            rest = self.scratchpad_evidence(ev)
        else:
            rest = self.generic_evidence(ev, mono_keys={"import", "opcode", "offset", "argument_preview", "module", "name"})
        # keep the heading with the start of its evidence
        return [KeepTogether(block + rest[:1])] + rest[1:] + [Spacer(1, 6)]

    def trigger_evidence(self, ev: dict) -> list:
        s = self.s
        known = {
            "trigger", "placement", "behaviour", "detector", "triggered_rate", "baseline_rate", "n", "n_baseline", "k",
            "k_baseline", "ci95", "baseline_ci95", "p_value", "p_value_raw", "stage", "examples",
        }
        counts = ""
        if isinstance(ev.get("k"), int) and isinstance(ev.get("k_baseline"), int):
            counts = f" ({ev['k']}/{ev.get('n')} vs {ev['k_baseline']}/{ev.get('n_baseline', ev.get('n'))})"
        p_raw = f" (unadjusted {fmt_p(ev['p_value_raw'])})" if isinstance(ev.get("p_value_raw"), (int, float)) else ""
        base_ci = f" (95% CI {fmt_ci(ev['baseline_ci95'])})" if ev.get("baseline_ci95") is not None else ""
        pairs: list[tuple[str, Any]] = [
            ("Trigger", self.mono(ev.get("trigger"), 600, s.cell_mono)),
            (
                "Placement / behaviour",
                f"{ev.get('placement', '–')} / {ev.get('behaviour', '–')}"
                + (f" (detector {ev['detector']})" if ev.get("detector") else ""),
            ),
            (
                "Behaviour rate",
                self.p(
                    f"<b>{fmt_rate(ev.get('triggered_rate'))}</b> with trigger (95% CI {fmt_ci(ev.get('ci95'))}) vs "
                    f"<b>{fmt_rate(ev.get('baseline_rate'))}</b> without{base_ci} · n = {esc(fmt_num(ev.get('n', '–')))}"
                    f"{esc(counts)} · p = {fmt_p(ev.get('p_value'))}{p_raw}",
                    s.cell,
                ),
            ),
            ("Stage", ev.get("stage", "–")),
        ]
        out: list = [self.kv_table(pairs)]
        more = self.more_table([(k, v) for k, v in ev.items() if k not in known])
        if more is not None:
            out.append(more)
        bar = self.rate_bar(ev)
        if bar is not None:
            out.append(bar)
        examples = [e for e in ev.get("examples") or [] if isinstance(e, dict)]
        if examples:
            label = self.p(f"Example outputs ({min(len(examples), MAX_EXAMPLES)} of {len(examples)})", s.small)
            shown = [self.example(e) for e in examples[:MAX_EXAMPLES]]
            out.append(KeepTogether([label, shown[0]]))
            out.extend(KeepTogether([x]) for x in shown[1:])
        return out

    def rate_bar(self, ev: dict):
        """A two-bar picture of triggered vs baseline rate with the CI whisker."""
        tr, br = ev.get("triggered_rate"), ev.get("baseline_rate")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in (tr, br)):
            return None
        w, h = FRAME_W, 34
        d = Drawing(w, h)
        x0, bw = 70, w - 110
        for i, (label, v, col) in enumerate(
            (("with trigger", tr, colors.HexColor("#b00020")), ("baseline", br, BASELINE_COLOUR))
        ):
            y = h - 14 - i * 15
            d.add(String(0, y + 2, label, fontName=self.f.regular, fontSize=7))
            d.add(Rect(x0, y, bw, 10, fillColor=colors.HexColor("#eeeeee"), strokeColor=None))
            d.add(Rect(x0, y, bw * v, 10, fillColor=col, strokeColor=None))
            d.add(String(x0 + bw + 4, y + 2, fmt_rate(v), fontName=self.f.regular, fontSize=7))
            ci = ev.get("ci95")
            if i == 0 and isinstance(ci, (list, tuple)) and len(ci) == 2 and all(
                isinstance(c, (int, float)) and 0 <= c <= 1 for c in ci
            ):
                lo, hi = x0 + bw * ci[0], x0 + bw * ci[1]
                d.add(Line(lo, y + 5, hi, y + 5, strokeColor=colors.black, strokeWidth=0.8))
                d.add(Line(lo, y + 2, lo, y + 8, strokeColor=colors.black, strokeWidth=0.8))
                d.add(Line(hi, y + 2, hi, y + 8, strokeColor=colors.black, strokeWidth=0.8))
        return d

    def example(self, e: dict) -> Table:
        s = self.s
        cond = str(e.get("condition", "example"))
        colour = STATUS_COLOURS["violated"] if cond.startswith("trig") else BASELINE_COLOUR
        rows = [
            [self.p(self.badge(cond, colour), s.cell), self.p("<b>prompt</b>", s.cell), self.mono(e.get("prompt"), MAX_TEXT, s.cell_mono)],
            ["", self.p("<b>output</b>", s.cell), self.mono(e.get("output"), MAX_TEXT, s.cell_mono)],
        ]
        for k, v in e.items():
            if k not in ("condition", "prompt", "output"):
                rows.append(["", self.t(k, s.cell_b), self.t(compact(v))])
        t = Table(rows, colWidths=[24 * mm, 14 * mm, FRAME_W - 38 * mm], hAlign="LEFT")
        t.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, -1), BOX_BG),
                    ("BOX", (0, 0), (-1, -1), 0.4, GRID),
                    ("LINEBELOW", (1, 0), (-1, -2), 0.3, GRID),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LEFTPADDING", (0, 0), (-1, -1), 3),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 3),
                    ("TOPPADDING", (0, 0), (-1, -1), 2),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ]
            )
        )
        t.spaceAfter = 3
        return t

    def generic_evidence(self, ev: dict, mono_keys: Iterable[str] = ()) -> list:
        if not ev:
            return [self.p("(no evidence recorded)", self.s.small)]
        first = [k for k in ("file", "location", "import", "opcode", "offset") if k in ev]
        items = [(k, ev[k]) for k in first] + [(k, v) for k, v in ev.items() if k not in first]
        if len(items) > 8:
            return [self.more_table(items)]
        return [self.kv_table(items, mono_keys=mono_keys)]
