"""VMware guestinfo through the tool the configuration names (``vmware_rpctool_path``).

The fake Windows answers as VMware Tools' rpctool from whatever file the image's
configuration names as its tool, when the guest has that file (a scenario places it with
``machine.files``); a named file that is not there stays missing. Both agents run each case.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import ScenarioOutcome, load_scenario, run_scenario

HAPPY = bundled("scenarios") / "config-drives" / "vmware-happy-path.yaml"
MOCK = "C:\\tools\\mock-rpctool.exe"

AGENTS = [
    "guestsim",
    pytest.param(
        "upstream",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("cloudbaseinit") is None,
            reason="the published cloudbase-init is not installed (pip install -e '.[upstream]')",
        ),
    ),
]


def scenario(tmp_path: Path, configured: str, placed: str | None, vmware: bool = True) -> Path:
    text = HAPPY.read_text()
    files = f"  files:\n    '{placed}': ''\n" if placed else ""
    text = text.replace(
        "    guestinfo.userdata.encoding: base64\n",
        f"    guestinfo.userdata.encoding: base64\n{files}",
    )
    if not vmware:
        start = text.index("  guestinfo:\n")
        end = text.index("  files:\n") if placed else text.index("agent:\n")
        text = text[:start] + text[end:]
    text = text.replace(
        "  options:\n    DEFAULT:\n",
        f"  options:\n    vmwareguestinfo: {{vmware_rpctool_path: '{configured}'}}\n    DEFAULT:\n",
    )
    path = tmp_path / "vmware.yaml"
    path.write_text(text)
    return path


def run(path: Path, program: str) -> ScenarioOutcome:
    loaded = load_scenario(path)
    if program == "upstream":
        loaded = loaded.with_agent("upstream")
    return run_scenario(loaded)


def tool_runs(outcome: ScenarioOutcome) -> list[str]:
    return [
        event.get("args")[0]
        for event in outcome.result.trace.of_kind("os")
        if event.get("call") == "execute_process"
    ]


@pytest.mark.parametrize("program", AGENTS)
@pytest.mark.parametrize(
    "configured",
    [MOCK, "%SystemDrive%/tools/mock-rpctool.exe", "c:\\TOOLS\\.\\Mock-RpcTool.exe"],
    ids=["absolute", "variable-and-slashes", "case-and-dots"],
)
def test_the_tool_the_configuration_names_answers_guestinfo(
    tmp_path: Path, program: str, configured: str
) -> None:
    outcome = run(scenario(tmp_path, configured, MOCK), program)
    assert outcome.failures == []
    runs = tool_runs(outcome)
    assert runs and {path.lower().replace("/", "\\") for path in runs} == {
        "c:\\tools\\mock-rpctool.exe"
    }


@pytest.mark.parametrize("program", AGENTS)
def test_a_named_tool_the_guest_does_not_have_is_not_run(tmp_path: Path, program: str) -> None:
    outcome = run(scenario(tmp_path, MOCK, None), program)
    assert outcome.result.trace.of_kind("metadata_service")[-1].get("name") is None
    assert tool_runs(outcome) == []
    assert all(boot.outcome != "not_modelled" for boot in outcome.result.boots)


@pytest.mark.parametrize("program", AGENTS)
def test_off_vmware_the_named_tool_fails_as_rpctool_does(tmp_path: Path, program: str) -> None:
    outcome = run(scenario(tmp_path, MOCK, MOCK, vmware=False), program)
    assert outcome.result.trace.of_kind("metadata_service")[-1].get("name") is None
    assert tool_runs(outcome)
    assert all(boot.outcome != "not_modelled" for boot in outcome.result.boots)
