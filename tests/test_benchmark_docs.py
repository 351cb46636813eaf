"""The benchmark scripts rewrite their tables in the docs; bad pages stop them early."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from docs_block import replace_block, require_block  # noqa: E402


def test_only_the_named_block_is_rewritten(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- zoo:begin -->\nold table\n<!-- zoo:end -->\noutro\n<!-- other:begin -->\nkeep\n<!-- other:end -->\n")
    replace_block(page, "zoo", "\n| new | table |\n")
    assert page.read_text() == "intro\n<!-- zoo:begin -->\n| new | table |\n<!-- zoo:end -->\noutro\n<!-- other:begin -->\nkeep\n<!-- other:end -->\n"


@pytest.mark.parametrize(
    "content, problem",
    [
        (None, "cannot read docs page"),
        (b"\xff\xfe not text", "not UTF-8"),
        (b"no markers here\n", "needs exactly one 'zoo' block"),
        (b"<!-- zoo:end -->\nx\n<!-- zoo:begin -->\n", "needs exactly one 'zoo' block"),
        (b"<!-- zoo:begin -->\na\n<!-- zoo:end -->\n<!-- zoo:begin -->\nb\n<!-- zoo:end -->\n", "needs exactly one 'zoo' block"),
    ],
)
def test_a_bad_page_is_exit_2_naming_the_file(tmp_path, capsys, content, problem):
    page = tmp_path / "page.md"
    if content is not None:
        page.write_bytes(content)
    with pytest.raises(SystemExit) as exc:
        require_block(page, "zoo")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert problem in err and str(page) in err
    if content is not None:
        assert page.read_bytes() == content  # never modified


@pytest.mark.parametrize(
    "script, args",
    [
        ("bench_zoo.py", []),
        ("bench_persistence.py", ["--zoo-only"]),
        ("bench_scratchpad_probe.py", []),
        ("bench_fleet.py", []),
    ],
)
def test_benchmarks_check_the_docs_page_before_running(tmp_path, script, args):
    missing = tmp_path / "missing.md"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args, "--docs", str(missing)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "cannot read docs page" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "page, block",
    [
        ("docs/trigger_search.md", "zoo"),
        ("docs/persistence.md", "persistence-default"),
        ("docs/persistence.md", "persistence-strict"),
        ("docs/scratchpad.md", "measured"),
    ],
)
def test_the_docs_hold_the_blocks_their_benchmarks_write(page, block):
    require_block(ROOT / page, block)


def test_fleet_benchmark_fails_closed_on_a_bad_output_folder_or_a_fleet_that_wrote_nothing(tmp_path, capsys):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_fleet.py"), "--out", str(not_a_folder)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2 and "is not a folder" in proc.stderr and "Traceback" not in proc.stderr
    import bench_fleet

    with pytest.raises(SystemExit) as exc:
        bench_fleet._fleet_json(tmp_path, 2, "the fleet's own error")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "left no readable" in err and "the fleet's own error" in err
