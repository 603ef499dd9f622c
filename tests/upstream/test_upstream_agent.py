"""The published agent in guestsim's world: isolation, determinism, its own code running."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from guestsim.simulator.cli import cli
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import load_scenario, run_scenario
from guestsim.simulator.upstream import UpstreamAgent, locate
from tests.upstream.conftest import needs_upstream

pytestmark = needs_upstream

LIBRARY = bundled("scenarios")
OPENSTACK = LIBRARY / "clouds" / "openstack-happy-path.yaml"


def _upstream_run(path: Path, source: Path | None = None, seed: int | None = None):
    return run_scenario(load_scenario(path), seed, agent=UpstreamAgent(source))


def test_the_published_agent_boots_the_openstack_story_to_its_end() -> None:
    outcome = _upstream_run(OPENSTACK)

    assert outcome.failures == []
    assert [boot.outcome for boot in outcome.result.boots] == ["reboot", "stopped"]
    assert outcome.result.state.computer_name == "win-web-01"
    # Its own log, not guestsim's agent's.
    assert any(
        "cloudbaseinit.init: Cloudbase-Init version: 1.1.9" in line for line in outcome.result.log
    )
    assert not any(line.split(" ", 3)[3].startswith("agent.") for line in outcome.result.log)


def _agent_like_temp_entries() -> set[str]:
    """What the agent would leave in the host's temp folder if its tempfile, uuid or open
    reached the host: tempfile's ``tmp...`` folders and uuid-named scripts or images (other
    tests running beside this one under xdist make other names there)."""
    uuid_like = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    return {
        entry.name
        for entry in Path(tempfile.gettempdir()).iterdir()
        if re.fullmatch(r"tmp[a-z0-9_]{8}", entry.name) or uuid_like.match(entry.name)
    }


def test_nothing_of_the_published_agent_is_left_in_the_process_afterwards() -> None:
    before_modules = set(sys.modules)
    root_handlers = list(logging.getLogger().handlers)
    temp_before = _agent_like_temp_entries()

    _upstream_run(OPENSTACK)

    left = {name for name in set(sys.modules) - before_modules if name.startswith("cloudbaseinit")}
    stand_ins = {
        name for name in ("winreg", "wmi", "win32com", "pywintypes") if name in sys.modules
    }
    assert left == set()
    assert stand_ins == set()
    assert logging.getLogger().handlers == root_handlers
    assert _agent_like_temp_entries() - temp_before == set()


def test_the_same_scenario_and_seed_give_the_same_trace_twice() -> None:
    first = _upstream_run(OPENSTACK, seed=3).result
    second = _upstream_run(OPENSTACK, seed=3).result

    assert first.trace.to_jsonl() == second.trace.to_jsonl()
    assert first.log == second.log


@pytest.mark.subprocess
def test_the_trace_does_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    traces = []
    for hash_seed in ("1", "4242"):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "guestsim.simulator.cli",
                "trace",
                str(OPENSTACK),
                "--agent",
                "upstream",
                "--format",
                "jsonl",
                "--log",
            ],
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            cwd=tmp_path,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        traces.append(done.stdout)
    assert traces[0] == traces[1]


@pytest.fixture
def forked_agent(tmp_path: Path) -> Path:
    """A copy of the installed package: a fork an image builder might ship."""
    shutil.copytree(
        locate() / "cloudbaseinit",
        tmp_path / "cloudbaseinit",
        ignore=shutil.ignore_patterns("tests", "__pycache__"),
    )
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path} no longer has {old!r}"
    path.write_text(text.replace(old, new, 1))


def test_agent_source_runs_the_fork_not_the_installed_package(forked_agent: Path) -> None:
    # The fork creates its user under another default name.
    _edit(
        forked_agent / "cloudbaseinit" / "conf" / "default.py",
        "default='Admin'",
        "default='Operator'",
    )

    fork = _upstream_run(OPENSTACK, source=forked_agent)
    installed = _upstream_run(OPENSTACK)

    assert "Operator" in [user.name for user in fork.result.state.users]
    assert "Admin" in [user.name for user in installed.result.state.users]


def test_a_call_the_adapter_does_not_model_stops_the_run_naming_it(forked_agent: Path) -> None:
    _edit(
        forked_agent / "cloudbaseinit" / "plugins" / "common" / "sethostname.py",
        "osutils = osutils_factory.get_os_utils()",
        "osutils = osutils_factory.get_os_utils()\n        osutils.get_network_printers()",
    )

    result = _upstream_run(OPENSTACK, source=forked_agent).result

    assert [boot.outcome for boot in result.boots] == ["not_modelled"]
    assert "osutils.get_network_printers" in result.boots[0].error


def test_the_cli_runs_the_library_story_with_the_published_agent() -> None:
    done = CliRunner().invoke(cli, ["run", str(OPENSTACK), "--agent", "upstream"])

    assert done.exit_code == 0, done.output
    assert "PASS  clouds/openstack-happy-path" in done.output


def test_agent_source_without_a_package_is_refused_clearly(tmp_path: Path) -> None:
    done = CliRunner().invoke(
        cli, ["run", str(OPENSTACK), "--agent", "upstream", "--agent-source", str(tmp_path)]
    )

    assert done.exit_code != 0
    assert f"--agent-source {tmp_path}: no cloudbaseinit package there" in str(
        done.exception or done.output
    )


def test_the_pytest_fixtures_boot_the_published_agent_when_asked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_host_name(guest_machine, metadata_cloud):
            guest_machine.use_plugins("SetHostNamePlugin")
            metadata_cloud.model.meta_data["hostname"] = "from-upstream"
            result = guest_machine.run()
            assert result.state.computer_name == "from-upstream"
            assert any(line.split(" ", 3)[3].startswith("cloudbaseinit.") for line in result.log)
        """
    )

    outcome = pytester.runpytest_inprocess("--guestsim-agent", "upstream", "-p", "no:benchmark")

    outcome.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    "name", ["clouds/cloudstack-happy-path.yaml", "clouds/azure-happy-path.yaml"]
)
def test_over_loopback_sockets_the_published_agent_leaves_the_same_trace(name: str) -> None:
    # CloudStack's password server is spoken to with http.client, Azure's DHCP over UDP.
    scenario = load_scenario(LIBRARY / name).with_agent("upstream")

    in_process = run_scenario(scenario)
    over_sockets = run_scenario(scenario, transport="loopback")

    assert over_sockets.passed, over_sockets.failures
    assert over_sockets.result.trace.to_jsonl() == in_process.result.trace.to_jsonl()


_LIBRARY_DIGEST = """
import hashlib, sys
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import discover, load_scenario, run_scenario
for path in discover([bundled("scenarios")]):
    outcome = run_scenario(load_scenario(path).with_agent("upstream"))
    text = outcome.result.trace.to_jsonl() + "\\n".join(outcome.result.log)
    print(path.name, hashlib.sha256(text.encode()).hexdigest())
"""


@pytest.mark.subprocess
def test_every_library_trace_of_the_published_agent_is_the_same_for_any_hash_seed(
    tmp_path: Path,
) -> None:
    digests = []
    for hash_seed in ("0", "977"):
        done = subprocess.run(
            [sys.executable, "-c", _LIBRARY_DIGEST],
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            cwd=tmp_path,
            check=False,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        digests.append(done.stdout.splitlines())
    assert len(digests[0]) == len(list(LIBRARY.rglob("*.yaml")))
    assert digests[0] == digests[1]
