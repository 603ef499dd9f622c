"""``--html`` on run, trace and explore: the page holds the document of what ran."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from guestsim.simulator.cli import cli, main
from guestsim.simulator.html import read_document
from guestsim.simulator.paths import bundled

LIBRARY = bundled("scenarios")
REBOOTS = LIBRARY / "reboots"
HOSTNAME = REBOOTS / "hostname-reboot-allowed.yaml"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def document(page: Path) -> dict[str, Any]:
    return read_document(page.read_text(encoding="utf-8"))


def test_run_html_reports_every_scenario_with_what_each_boot_changed(tmp_path: Path) -> None:
    pages = []
    for jobs in ("1", "2"):
        page = tmp_path / f"report-{jobs}.html"
        result = invoke("run", str(REBOOTS), "--jobs", jobs, "--html", str(page))
        assert result.exit_code == 0, result.output
        pages.append(page.read_bytes())
    assert pages[0] == pages[1]
    report = document(tmp_path / "report-1.html")
    assert report["kind"] == "run"
    assert report["summary"] == {"passed": 4, "failed": 0, "skipped": 0}
    assert [s["path"] for s in report["scenarios"]] == [
        p.as_posix() for p in sorted(REBOOTS.glob("*.yaml"))
    ]
    boots = [boot for s in report["scenarios"] for boot in s["timeline"]["boots"]]
    assert all(boot["changes"] is not None for boot in boots)


def test_trace_html_follows_the_schedule_options(tmp_path: Path) -> None:
    page = tmp_path / "trace.html"
    result = invoke("trace", str(HOSTNAME), "--power-loss-at", "2", "--html", str(page))
    assert result.exit_code == 0, result.output
    assert "power" in result.output  # the text timeline is still printed
    report = document(page)
    assert report["kind"] == "trace"
    (entry,) = report["scenarios"]
    marks = [mark["kind"] for boot in entry["timeline"]["boots"] for mark in boot["marks"]]
    assert "power_loss" in marks


def test_explore_html_has_the_cut_matrix_and_each_cut_run(tmp_path: Path) -> None:
    page = tmp_path / "explore.html"
    result = invoke("explore", str(HOSTNAME), "--power-loss", "--html", str(page))
    assert result.exit_code == 0, result.output
    report = document(page)
    (matrix,) = report["explore"]
    runs = {entry["id"] for entry in report["scenarios"]}
    assert all(cut["run"] in runs for cut in matrix["cuts"])


def test_an_unwritable_html_path_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-folder" / "report.html"
    monkeypatch.setattr(sys, "argv", ["guestsim", "run", str(HOSTNAME), "--html", str(missing)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"Could not open file '{missing}': No such file or directory" in err


def test_run_html_is_for_a_run_not_a_replayed_schedule(tmp_path: Path) -> None:
    page = tmp_path / "r.html"
    result = invoke("run", str(HOSTNAME), "--power-loss-at", "2", "--html", str(page))
    assert result.exit_code == 2
    assert "guestsim trace SCENARIO takes them with --html" in result.output
    assert not page.exists()


def test_the_guard_lets_run_write_its_html_report(tmp_path: Path) -> None:
    page = tmp_path / "guarded.html"
    result = invoke("run", str(HOSTNAME), "--guard", "--html", str(page))
    assert result.exit_code == 0, result.output
    assert document(page)["summary"]["passed"] == 1


def test_explore_html_needs_the_power_loss_exploration(tmp_path: Path) -> None:
    # The page draws the cut matrix: a hypothesis search alone would give an empty report.
    page = tmp_path / "h.html"
    result = invoke("explore", str(HOSTNAME), "--hypothesis", "1", "--html", str(page))
    assert result.exit_code == 2
    assert "--html draws the --power-loss exploration" in result.output
    assert not page.exists()
