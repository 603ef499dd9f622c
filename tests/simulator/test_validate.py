"""``guestsim validate`` catches each kind of conf mistake, naming file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from guestsim.simulator.cli import cli
from guestsim.simulator.paths import bundled
from guestsim.simulator.validate import validate

P = "cloudbaseinit.plugins."
CREATE = f"{P}windows.createuser.CreateUserPlugin"
PASSWORD = f"{P}common.setuserpassword.SetUserPasswordPlugin"
HOSTNAME = f"{P}common.sethostname.SetHostNamePlugin"


def conf(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "cloudbase-init.conf"
    path.write_text("\n".join(["[DEFAULT]", "username=Admin", *lines]) + "\n")
    return path


def findings(path: Path) -> list[str]:
    return [str(finding) for finding in validate(path)]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["verbose=true", "colour=blue"], ":4: warning: unknown option [DEFAULT] colour"),
        (
            [f"plugins={CREATE},{P}common.nosuch.ThingPlugin"],
            f":3: error: plugin {P}common.nosuch.ThingPlugin is not a cloudbase-init plugin",
        ),
        (
            [f"plugins={P}common.sethostname.NoSuchPlugin"],
            ":3: error: plugin cloudbaseinit.plugins.common.sethostname.NoSuchPlugin has no "
            "such class (the agent would abort)",
        ),
        (
            [f"plugins={P}windows.sethostname.SetHostNamePlugin"],
            f":3: warning: deprecated plugin path {P}windows.sethostname.SetHostNamePlugin; "
            f"use {HOSTNAME}",
        ),
        (
            ["config_drive_raw_hhd=false"],
            ":3: warning: [DEFAULT] config_drive_raw_hhd is deprecated, use [config_drive] raw_hdd",
        ),
        (["allow_reboot=sometimes"], ":3: error: [DEFAULT] allow_reboot: 'sometimes' is not a"),
        (["retry_count=five"], ":3: error: [DEFAULT] retry_count: 'five' is not"),
        (
            [f"plugins={HOSTNAME},", f" {CREATE},", f" {HOSTNAME}"],
            ":3: warning: plugin SetHostNamePlugin is listed twice (entries 1 and 3)",
        ),
        (
            [f"plugins={PASSWORD},{CREATE}"],
            ":3: error: SetUserPasswordPlugin is listed before CreateUserPlugin",
        ),
        (
            ["metadata_services=cloudbaseinit.metadata.services.nosuch.Service"],
            ":3: error: metadata service cloudbaseinit.metadata.services.nosuch.Service does not "
            "exist",
        ),
    ],
    ids=[
        "unknown-option",
        "unknown-plugin-module",
        "missing-plugin-class",
        "deprecated-plugin-path",
        "deprecated-option",
        "wrong-bool",
        "wrong-int",
        "listed-twice",
        "impossible-order",
        "unknown-service",
    ],
)
def test_each_conf_mistake_is_named_with_file_and_line(
    tmp_path: Path, lines: list[str], expected: str
) -> None:
    path = conf(tmp_path, *lines)
    found = findings(path)
    assert any(line.startswith(str(path)) and expected in line for line in found), found


def test_a_clean_conf_has_no_findings(tmp_path: Path) -> None:
    assert findings(conf(tmp_path, f"plugins={CREATE},{PASSWORD},{HOSTNAME}")) == []


def test_the_stock_conf_only_has_its_deprecated_config_drive_options() -> None:
    found = findings(bundled("fixtures") / "confs" / "stock-cloudbase-init.conf")
    assert len(found) == 3 and all("deprecated" in line for line in found)


def test_exit_status_follows_the_worst_finding(tmp_path: Path) -> None:
    runner = CliRunner()
    clean = conf(tmp_path, f"plugins={CREATE}")
    assert runner.invoke(cli, ["validate", str(clean)]).exit_code == 0
    warned = tmp_path / "w.conf"
    warned.write_text("[DEFAULT]\ncolour=blue\n")
    # Warnings are printed but only fail with --strict.
    result = runner.invoke(cli, ["validate", str(warned)])
    assert result.exit_code == 0
    assert "w.conf:2: warning: unknown option [DEFAULT] colour" in result.output
    assert runner.invoke(cli, ["validate", "--strict", str(warned)]).exit_code == 1
    broken = tmp_path / "b.conf"
    broken.write_text("[DEFAULT]\nallow_reboot=perhaps\n")
    result = runner.invoke(cli, ["validate", str(broken), str(warned)])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == "2 file(s) checked: 1 error(s), 1 warning(s)"
    assert runner.invoke(cli, ["validate", "--strict", str(broken)]).exit_code == 2


def test_the_stock_installer_conf_passes_the_gate() -> None:
    stock = bundled("fixtures") / "confs" / "stock-cloudbase-init.conf"
    result = CliRunner().invoke(cli, ["validate", str(stock)])
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "1 file(s) checked: 0 error(s), 3 warning(s)"


def test_a_trailing_comma_in_a_list_validates_clean(tmp_path: Path) -> None:
    path = conf(tmp_path, f"plugins={CREATE},", f"  {PASSWORD},", "groups=Administrators,")
    assert findings(path) == []
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0


def test_a_reference_to_no_option_is_an_error_with_file_and_line(tmp_path: Path) -> None:
    path = conf(tmp_path, "local_scripts_path=$install_dir/LocalScripts")
    assert findings(path) == [
        f"{path}:3: error: [DEFAULT] local_scripts_path: $install_dir cannot be resolved: "
        "no option install_dir in [DEFAULT]"
    ]


def scenario_with_conf(tmp_path: Path, conf_text: str, options: str = "{}") -> Path:
    (tmp_path / "my.conf").write_text(conf_text)
    path = tmp_path / "s.yaml"
    path.write_text(
        "description: x\n"
        f"agent: {{conf: my.conf, options: {options}}}\n"
        "expect: {boots: 1, computer_name: a}\n"
    )
    return path


def test_a_scenario_is_validated_with_the_conf_it_names(tmp_path: Path) -> None:
    path = scenario_with_conf(tmp_path, "[DEFAULT]\nconfig_drive_cdrom=false\ncolour=blue\n")
    conf_file = tmp_path / "my.conf"
    assert findings(path) == [
        f"{conf_file}:2: warning: [DEFAULT] config_drive_cdrom is deprecated, use "
        "[config_drive] cdrom",
        f"{conf_file}:3: warning: unknown option [DEFAULT] colour (ignored)",
    ]
    # Named again directly: reported once.
    result = CliRunner().invoke(cli, ["validate", str(path), str(conf_file)])
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "2 file(s) checked: 0 error(s), 2 warning(s)"


def test_a_scenarios_broken_conf_is_named_by_its_own_file_and_line(tmp_path: Path) -> None:
    path = scenario_with_conf(tmp_path, "[DEFAULT]\nusername=x\nallow_reboot=perhaps\n")
    assert findings(path) == [
        f"{tmp_path / 'my.conf'}:3: error: [DEFAULT] allow_reboot: 'perhaps' is not a boolean"
    ]
    assert CliRunner().invoke(cli, ["validate", str(path)]).exit_code == 2


def test_a_scenarios_inline_options_are_checked_like_a_conf(tmp_path: Path) -> None:
    path = scenario_with_conf(
        tmp_path,
        "[DEFAULT]\nusername=x\n",
        options=f"{{DEFAULT: {{colour: blue, plugins: [{P}common.nosuch.ThingPlugin]}}}}",
    )
    assert findings(path) == [
        f"{path}: warning: agent.options: unknown option [DEFAULT] colour (ignored)",
        f"{path}: error: agent.options: plugin {P}common.nosuch.ThingPlugin is not a "
        "cloudbase-init plugin (the agent skips it)",
    ]


def test_scenario_files_are_validated_too(tmp_path: Path) -> None:
    broken = tmp_path / "s.yaml"
    broken.write_text(
        "description: x\nagent: {options: {}}\nexpect: {boots: 0, computer_name: a}\n"
    )
    (finding,) = findings(broken)
    assert finding.startswith(f"{broken}: error: expect.boots:")
    assert findings(bundled("scenarios") / "failures" / "plugin-raises.yaml") == []


def test_list_shows_every_bundled_scenario_with_its_description() -> None:
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    count = len(list(bundled("scenarios").rglob("*.yaml")))
    assert lines[-1] == f"{count} scenarios"
    assert lines[0].split() == ["scenario", "cloud", "plugins", "boots", "description"]
    row = next(line for line in lines if line.startswith("reboots/hostname-reboot-disallowed"))
    assert "openstack" in row and "SetHostName" in row and "allow_reboot = false" in row
