"""Hostile guest input and host settings reach nothing on the host through the published agent.

Upstream trusts what it reads: cloud-config with PyYAML's full loader, Jinja templates
unsandboxed, class paths from options imported as given, oslo.config's environment
variables. In guestsim each of these stays inside the guest or stops as not_modelled.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from guestsim.simulator.machine import RunResult
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import Scenario, load_scenario, run_scenario
from tests.upstream.conftest import needs_upstream

pytestmark = needs_upstream

LIBRARY = bundled("scenarios")
USERDATA_ONLY = {
    "metadata_services": ["cloudbaseinit.metadata.services.httpservice.HttpService"],
    "plugins": ["cloudbaseinit.plugins.common.userdata.UserDataPlugin"],
}


def _scenario(tmp_path: Path, user_data: str, options: dict[str, Any] | None = None) -> Scenario:
    import yaml

    path = tmp_path / "story.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "description": "hostile user data",
                "cloud": {"type": "openstack", "user_data": user_data},
                "agent": {"options": {"DEFAULT": options or USERDATA_ONLY}},
                "expect": {"boots": 1, "computer_name": "WIN-GUESTSIM01"},
            }
        )
    )
    return load_scenario(path).with_agent("upstream")


def _not_modelled(result: RunResult) -> str:
    (boot,) = result.boots
    assert boot.outcome == "not_modelled", boot
    return str(boot.error)


def test_a_python_tag_in_cloud_config_does_not_run_on_the_host(tmp_path: Path) -> None:
    target = tmp_path / "created-by-yaml"
    scenario = _scenario(
        tmp_path, f'#cloud-config\nset_hostname: !!python/object/apply:os.mkdir ["{target}"]\n'
    )

    result = run_scenario(scenario).result

    assert not target.exists()
    assert "python/object" in _not_modelled(result)


def test_a_jinja_template_cannot_reach_python_globals(tmp_path: Path) -> None:
    target = tmp_path / "created-by-jinja"
    scenario = _scenario(
        tmp_path,
        "## template: jinja\n#ps1_sysnative\n"
        f"# {{{{ cycler.__init__.__globals__.os.mkdir('{target}') }}}}\nWrite-Host done\n",
    )

    result = run_scenario(scenario).result

    assert not target.exists()
    _not_modelled(result)


def test_a_class_path_outside_the_agent_is_not_imported_and_called(tmp_path: Path) -> None:
    host_temp = Path(tempfile.gettempdir())
    before = set(host_temp.iterdir())
    scenario = _scenario(tmp_path, "", {**USERDATA_ONLY, "metadata_services": ["tempfile.mkdtemp"]})

    result = run_scenario(scenario).result

    assert "tempfile" in _not_modelled(result)
    assert set(host_temp.iterdir()) == before


def test_oslo_environment_variables_of_the_host_do_not_configure_the_agent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OS_DEFAULT__USERNAME", "FromHostEnv")
    scenario = load_scenario(LIBRARY / "clouds" / "openstack-happy-path.yaml").with_agent(
        "upstream"
    )

    outcome = run_scenario(scenario)

    assert outcome.passed, outcome.failures
    assert "FromHostEnv" not in [user.name for user in outcome.result.state.users]


def test_a_respawned_agents_options_do_not_outlive_it(tmp_path: Path) -> None:
    # The respawned child runs with reset_service_password off; after the reboot the
    # host name asks for, the agent runs with the story's own options again: it resets
    # the password and respawns once more.
    import yaml

    story = yaml.safe_load((LIBRARY / "reboots" / "service-password-respawn.yaml").read_text())
    options = story["agent"]["options"]["DEFAULT"]
    options["allow_reboot"] = True
    options["plugins"].insert(0, "cloudbaseinit.plugins.common.sethostname.SetHostNamePlugin")
    story["expect"] = {"boots": 2, "outcome": "stopped"}
    path = tmp_path / "respawn-reboot.yaml"
    path.write_text(yaml.safe_dump(story))

    outcome = run_scenario(load_scenario(path).with_agent("upstream"))

    assert outcome.passed, outcome.failures
    processes = [event.boot for event in outcome.result.trace.of_kind("agent_process")]
    assert processes == [1, 1, 2, 2]
    # The child's log reaches the machine's log too.
    assert any(
        line.startswith("boot 2 ") and "cloudbaseinit" in line for line in outcome.result.log
    )
