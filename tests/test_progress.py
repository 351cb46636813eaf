"""Progress: a no-op unless the CLI installs a display; check lines say what was found."""

from __future__ import annotations

import io

from rich.console import Console

from auditor import progress
from auditor.checks.base import CheckResult, Finding
from auditor.cli import describe
from conftest import ProgressRecorder as Recorder


def test_update_is_a_no_op_without_a_display():
    progress.update("vocab_scan", 1, 10)  # nothing installed: must not fail or print


def test_updates_reach_the_installed_display_and_stop_after():
    rec = Recorder()
    with progress.showing(rec):
        progress.update("vocab_scan", 256, 32000)
        progress.update("vocab_scan", 512, 32000)
    progress.update("vocab_scan", 768, 32000)
    assert rec.calls == [("vocab_scan", 256, 32000), ("vocab_scan", 512, 32000)]


def test_stage_budget_ticks_feed_the_display():
    from auditor.search.budget import StageBudget

    rec = Recorder()
    with progress.showing(rec):
        StageBudget("gradient", 10).tick(3, 40)
    assert rec.calls == [("gradient", 3, 40)]


def test_live_display_only_on_a_terminal_and_never_with_json_stdout():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert progress.wanted(None, Tty())
    assert not progress.wanted("-", Tty())
    assert not progress.wanted(None, io.StringIO())


def test_rich_display_renders_stage_and_plan_eta():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    display = progress.RichDisplay(console, {"vocab_scan": 42.0})
    with progress.showing(display):
        progress.update("vocab_scan", 10, 100)
        display.progress.refresh()
    assert "vocab_scan" in out.getvalue() and "plan ~42s" in out.getvalue()


def _finding(sev):
    return Finding("trigger_search", "behaviour.trigger", sev, "t")


def test_describe_says_what_a_check_found():
    assert describe(CheckResult("x", "pass"))[0] == "no findings"
    assert describe(CheckResult("x", "fail", findings=[_finding("low")])) == ("1 low finding", "cyan")
    text, style = describe(CheckResult("x", "fail", findings=[_finding("critical"), _finding("critical"), _finding("low")]))
    assert text == "2 critical, 1 low findings" and style == "bold red"
    assert describe(CheckResult("x", "skipped", details={"reason": "time budget: 3s"}))[0] == "skipped — time budget: 3s"
    assert describe(CheckResult("x", "error", error="boom"))[0] == "error — boom"
