"""``guestsim diff`` and ``guestsim conformance`` against the published cloudbase-init."""

from __future__ import annotations

import importlib.util
import json
import shutil
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner, Result

from guestsim.simulator.cli import cli
from guestsim.simulator.conformance import FACETS, diff_scenario
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import load_scenario
from guestsim.simulator.upstream import UpstreamAgent, locate

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("cloudbaseinit") is None,
    reason="the published cloudbase-init is not installed (pip install -e '.[upstream]')",
)

LIBRARY = bundled("scenarios")
OPENSTACK = LIBRARY / "clouds" / "openstack-happy-path.yaml"
SCRIPTS = LIBRARY / "user-data" / "script-headers.yaml"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_the_openstack_story_is_identical_on_every_facet() -> None:
    result = invoke("diff", str(OPENSTACK))

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "SAME  clouds/openstack-happy-path"
    assert [line.split()[:2] for line in lines[1:7]] == [[facet, "same"] for facet in FACETS]
    assert lines[-1] == "1/1 scenarios identical on every facet (100 %)"


def _fork(tmp_path: Path) -> Path:
    """The installed package copied as a fork whose MTUPlugin reports itself done."""
    installed = locate() / "cloudbaseinit"
    shutil.copytree(
        installed,
        tmp_path / "cloudbaseinit",
        ignore=shutil.ignore_patterns("tests", "__pycache__"),
    )
    mtu = tmp_path / "cloudbaseinit" / "plugins" / "common" / "mtu.py"
    source = mtu.read_text()
    assert source.count("return base.PLUGIN_EXECUTE_ON_NEXT_BOOT, False") == 1
    mtu.write_text(
        source.replace("PLUGIN_EXECUTE_ON_NEXT_BOOT, False", "PLUGIN_EXECUTION_DONE, False")
    )
    return tmp_path


def test_a_fork_whose_plugin_returns_another_status_differs_in_plugins_only(
    tmp_path: Path,
) -> None:
    fork = _fork(tmp_path)

    result = invoke("diff", str(OPENSTACK), "--agent-source", str(fork))
    as_json = invoke("diff", str(OPENSTACK), "--agent-source", str(fork), "--json")

    assert result.exit_code == as_json.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0] == "DIFF  clouds/openstack-happy-path"
    assert [line.split()[1] for line in lines[1:7]] == [
        "DIFF" if facet == "plugins" else "same" for facet in FACETS
    ]
    [scenario] = json.loads(as_json.output)["scenarios"]
    first = scenario["facets"]["plugins"]["first_divergence"]
    assert first["guestsim"]["plugin"] == first["upstream"]["plugin"] == "MTUPlugin"
    assert (first["guestsim"]["status"], first["upstream"]["status"]) == (2, 1)
    assert "      plugins: first divergence at item {} (of 29 | 29)".format(first["index"]) in lines
    assert "            differs in: status" in lines


def test_random_temporary_names_do_not_make_a_difference() -> None:
    diff = diff_scenario(load_scenario(SCRIPTS), UpstreamAgent())

    assert diff.facets["os"].identical, diff.facets["os"].rows


def test_diff_is_deterministic() -> None:
    first = invoke("diff", str(SCRIPTS), str(OPENSTACK), "--json")
    second = invoke("diff", str(SCRIPTS), str(OPENSTACK), "--json")

    assert first.exit_code in (0, 1), first.output
    assert first.output == second.output


def test_conformance_over_a_selection_follows_its_schema(tmp_path: Path) -> None:
    schema = json.loads(
        resources.files("guestsim.simulator")
        .joinpath("schemas/conformance-report.schema.json")
        .read_text()
    )

    result = invoke("conformance", "-k", "happy-path and (openstack or cloudstack)", "--json")
    table = invoke("conformance", "-k", "happy-path and (openstack or cloudstack)")

    document = json.loads(result.output)
    jsonschema.validate(document, schema)
    names = [scenario["name"] for scenario in document["scenarios"]]
    assert names == ["clouds/cloudstack-happy-path", "clouds/openstack-happy-path"]
    assert document["scenarios"][1]["identical"] is True
    identical = document["summary"]["identical"]
    assert result.exit_code == table.exit_code == (0 if identical == len(names) else 1)
    lines = table.output.splitlines()
    assert [line.split()[0] for line in lines[1:3]] == names
    assert lines[-1].startswith(f"{identical}/2 scenarios identical on every facet (")
