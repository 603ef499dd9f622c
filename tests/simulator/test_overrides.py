"""Running the library with an image builder's own configuration, scripts and user data."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from guestsim.agent.config import DEFAULT_PLUGINS
from guestsim.simulator.cli import cli
from guestsim.simulator.overrides import OverrideError, load_overrides
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import Scenario, discover, load_scenario, run_scenario

STOCK = bundled("fixtures") / "confs" / "stock-cloudbase-init.conf"
LIBRARY = [load_scenario(path) for path in discover([bundled("scenarios")])]
TAKES_CONF = [s for s in LIBRARY if "conf" in s.overridable]


def conf_variant(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "cloudbase-init.conf"
    path.write_text(
        STOCK.read_text().replace("[DEFAULT]\n", "[DEFAULT]\n" + "\n".join(lines) + "\n")
    )
    return path


def outcomes(conf: Path) -> dict[str, list[str]]:
    overrides = load_overrides(conf=conf)
    return {s.name: run_scenario(s, overrides=overrides).failures for s in TAKES_CONF}


def test_the_library_declares_what_a_user_may_override() -> None:
    assert len(TAKES_CONF) >= 40
    assert all(set(s.overridable) <= {"conf", "user_data", "local_scripts"} for s in LIBRARY)


def test_the_whole_library_passes_with_the_stock_configuration() -> None:
    result = CliRunner().invoke(cli, ["run", "--conf", str(STOCK)])
    assert result.exit_code == 0, result.output
    skipped = len(LIBRARY) - len(TAKES_CONF)
    assert result.output.splitlines()[-1] == (
        f"{len(TAKES_CONF)} passed, 0 failed, {skipped} skipped"
    )


def test_allow_reboot_flipped_fails_exactly_the_stories_that_need_a_reboot(
    tmp_path: Path,
) -> None:
    failures = outcomes(conf_variant(tmp_path, "allow_reboot=false"))
    failed = {name for name, found in failures.items() if found}
    need_reboot = {s.name for s in TAKES_CONF if s.data["expect"]["boots"] > 1} - {
        # These stories keep allow_reboot: it is what they are about.
        s.name
        for s in TAKES_CONF
        if "allow_reboot" in s.data["agent"].get("keep", [])
    }
    assert failed == need_reboot
    for name in failed:
        assert any("(the configuration has allow_reboot = false)" in f for f in failures[name])


def test_a_missing_plugin_fails_the_stories_that_depend_on_it_saying_why(tmp_path: Path) -> None:
    without = [path for path in DEFAULT_PLUGINS if not path.endswith("SetHostNamePlugin")]
    failures = outcomes(conf_variant(tmp_path, "plugins=" + ",".join(without)))
    failed = {name for name, found in failures.items() if found}
    expected_to_run = {s.name for s in TAKES_CONF if _expects_to_run(s, "SetHostNamePlugin")}
    renames = {s.name for s in TAKES_CONF if "computer_name" in s.data["expect"]}
    assert expected_to_run <= failed <= expected_to_run | renames
    hint = "(the configuration does not list SetHostNamePlugin)"
    for name in expected_to_run:
        assert any(hint in failure for failure in failures[name])


def test_an_unattend_configuration_runs_first_in_its_own_boot() -> None:
    unattend = bundled("fixtures") / "confs" / "stock-cloudbase-init-unattend.conf"
    scenario = load_scenario(bundled("scenarios") / "clouds" / "stock-conf-openstack.yaml")
    overrides = load_overrides(conf=STOCK, unattend_conf=unattend)
    outcome = run_scenario(scenario, overrides=overrides)
    assert outcome.result.unattend is not None
    assert outcome.result.unattend.number == 0
    assert next(e.boot for e in outcome.result.trace.of_kind("agent_start")) == 0
    assert outcome.result.trace.of_kind("sysprep_reboot")
    # The unattend conf renames the machine during sysprep (SetHostName, allow_reboot
    # false); the sysprep restart applies the name, so the normal run needs no reboot.
    assert outcome.result.boots[0].number == 1
    assert outcome.result.boot_count == 1
    assert outcome.failures == []
    assert outcome.result.state.computer_name == "win-web-01"


def test_user_data_and_local_scripts_reach_the_guest(tmp_path: Path) -> None:
    scripts = tmp_path / "LocalScripts"
    scripts.mkdir()
    (scripts / "10-hello.ps1").write_text("Write-Host hello\n")
    user_data = tmp_path / "user-data.ps1"
    user_data.write_text("#ps1\nWrite-Host from user data\n")
    scenario = load_scenario(bundled("scenarios") / "clouds" / "stock-conf-openstack.yaml")
    overrides = load_overrides(conf=STOCK, local_scripts=scripts, user_data=user_data)
    outcome = run_scenario(scenario, overrides=overrides)
    runs = outcome.result.trace.of_kind("script")
    assert [r.get("interpreter") for r in runs] == ["powershell", "powershell"]
    assert runs[1].get("path", "").endswith("10-hello.ps1")
    cloud = outcome.result.clouds[0]
    assert cloud.model.user_data == b"#ps1\nWrite-Host from user data\n"  # type: ignore[attr-defined]


def test_scenarios_that_do_not_take_a_part_are_skipped_and_reported(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    result = CliRunner().invoke(
        cli, ["run", "--conf", str(STOCK), "-k", "plugin-raises or happy", "--junit", str(report)]
    )
    assert "SKIP  failures/plugin-raises  (its story does not take a user's conf)" in result.output
    assert '<skipped message="its story does not take a user\'s conf"' in report.read_text()


def test_cloud_filter() -> None:
    result = CliRunner().invoke(cli, ["run", "--cloud", "cloudstack,none", "-k", "happy or no"])
    names = [line.split()[1] for line in result.output.splitlines()[:-1]]
    assert names and all(
        next(s for s in LIBRARY if s.qualified_name == name).cloud_type in ("cloudstack", "none")
        for name in names
    )
    bad = CliRunner().invoke(cli, ["run", "--cloud", "vsphere"])
    assert bad.exit_code == 2 and "unknown cloud(s) vsphere" in bad.output


def test_bad_override_files_are_clear_errors(tmp_path: Path) -> None:
    broken = tmp_path / "c.conf"
    broken.write_text("[DEFAULT]\nallow_reboot=perhaps\n")
    with pytest.raises(OverrideError, match=r"c\.conf:2"):
        load_overrides(conf=broken)
    with pytest.raises(OverrideError, match="not a folder"):
        load_overrides(local_scripts=broken)


def _expects_to_run(scenario: Scenario, plugin: str) -> bool:
    expect = scenario.data["expect"]
    return expect.get("plugins", {}).get(plugin) in ("done", "next_boot") or (
        expect.get("plugin_runs", {}).get(plugin, 0) > 0
    )
