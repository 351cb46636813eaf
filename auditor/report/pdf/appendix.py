"""Appendices: the file manifest with every digest, the policy and its waivers, the environment for reproduction."""

from __future__ import annotations

import shlex
from typing import Any

from reportlab.lib.units import mm
from reportlab.platypus import CondPageBreak, PageBreak, Spacer

from .fmt import compact, esc, fmt_size
from .styles import FRAME_W, table


def shell_quote(a: Any) -> str:
    return shlex.quote(str(a))


class AppendixMixin:
    # appendices --------------------------------------------------------------
    def appendix_files(self) -> list:
        s = self.s
        model = self.r.get("model", {})
        out: list = [PageBreak(), self.p("Appendix A. File manifest", s.h1)]
        out.append(
            self.p(
                f"Model digest (sha256 over the sorted per-file digests): "
                f"<font name='{self.f.mono}'>{esc((model.get('digest') or {}).get('sha256'))}</font>",
                s.small,
            )
        )
        rows = [[self.t(h, s.cell_b) for h in ("Path", "Size", "sha256")]]
        for fi in model.get("files") or []:
            if not isinstance(fi, dict):
                continue
            digest = fi.get("sha256")
            if digest:
                dcell = self.t(digest, s.digest)
            else:
                note = "not downloaded" if fi.get("downloaded") is False else "not hashed"
                hub = f"; hub LFS sha256 {fi['hub_sha256']}" if fi.get("hub_sha256") else ""
                dcell = self.p(f"<i>{esc(note)}</i>{esc(hub, s.cell_mono.fontName)}", s.cell_mono)
            rows.append([self.t(fi.get("path"), s.cell_mono, 300), self.t(fmt_size(fi.get("size"))), dcell])
        if len(rows) == 1:
            rows.append([self.t("(no files)"), "", ""])
        w = [62 * mm, 17 * mm]
        out.append(table(rows, w + [FRAME_W - sum(w)]))
        card = model.get("card")
        if isinstance(card, dict) and card:
            out.append(self.p("Model card metadata", s.h2))
            out.append(self.kv_table(list(card.items())))
        return out

    def appendix_policy(self) -> list:
        s = self.s
        pol = self.r.get("policy", {})
        out: list = [CondPageBreak(50 * mm), self.p("Appendix B. Policy", s.h1)]
        out.append(self.kv_table([("Name", pol.get("name")), ("Path", pol.get("path")), ("sha256", pol.get("sha256"))], mono_keys={"sha256", "Path"}))
        out.append(Spacer(1, 4))
        rows = [[self.t(h, s.cell_b) for h in ("Rule", "Check", "Severity", "Action", "Description / parameters")]]
        for rule in pol.get("rules") or []:
            if not isinstance(rule, dict):
                continue
            extra = {k: v for k, v in rule.items() if k not in ("id", "check", "severity", "action", "description")}
            desc = esc(rule.get("description") or "", limit=800)
            if extra:
                desc += ("<br/>" if desc else "") + f"<font name='{self.f.mono}' size='6.5'>{esc(compact(extra), self.f.mono)}</font>"
            rows.append(
                [
                    self.t(rule.get("id"), s.cell_b),
                    self.t(rule.get("check")),
                    self.p(self.sev_badge(str(rule.get("severity"))), s.cell),
                    self.t(rule.get("action", "fail")),
                    self.p(desc, s.cell),
                ]
            )
        w = [40 * mm, 27 * mm, 19 * mm, 14 * mm]
        out.append(table(rows, w + [FRAME_W - sum(w)]))
        waivers = [w_ for w_ in pol.get("waivers") or [] if isinstance(w_, dict)]
        out.append(self.p(f"Waivers ({len(waivers)})", s.h2))
        for w_ in waivers:
            out.append(self.kv_table(list(w_.items())))
            out.append(Spacer(1, 3))
        if not waivers:
            out.append(self.p("None.", s.body))
        return out

    def appendix_env(self) -> list:
        s = self.s
        rp = self.r.get("reproducibility", {})
        tool = self.r.get("tool", {})
        out: list = [CondPageBreak(60 * mm), self.p("Appendix C. Environment and reproducibility", s.h1)]
        host = rp.get("host") or {}
        pairs: list[tuple[str, Any]] = [
            ("Seed", rp.get("seed")),
            ("Device", rp.get("device")),
            ("Host", f"{host.get('platform')} · {host.get('machine')} · {host.get('cpu_count')} CPUs"),
            ("Policy sha256", rp.get("policy_sha256")),
        ]
        if rp.get("battery_sha256"):
            pairs.append(("Battery sha256", rp.get("battery_sha256")))
        pairs += [
            ("Tool", f"{tool.get('name')} {tool.get('version')}"),
            ("Tool git commit", tool.get("git_commit") or "(unknown)"),
            ("Started", self.r.get("started_at")),
            ("Finished", self.r.get("finished_at")),
            ("Command", " ".join(shell_quote(a) for a in rp.get("command") or [])),
        ]
        out.append(self.kv_table(pairs, mono_keys={"Policy sha256", "Battery sha256", "Tool git commit", "Command"}))
        versions = rp.get("versions") or {}
        if versions:
            out.append(self.p("Package versions", s.h2))
            out.append(self.kv_table([(k, v if v is not None else "(not installed)") for k, v in versions.items()]))
        errors = [e for e in self.r.get("errors", []) if isinstance(e, dict)]
        if errors:
            out.append(self.p("Errors", s.h2))
            rows = [[self.t("Stage", s.cell_b), self.t("Message", s.cell_b)]]
            rows += [[self.t(e.get("stage")), self.t(e.get("message"), limit=2000)] for e in errors]
            out.append(table(rows, [30 * mm, FRAME_W - 30 * mm]))
        return out
