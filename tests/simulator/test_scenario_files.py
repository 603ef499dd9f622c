"""Broken scenario files get one clear error naming the file and the field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from guestsim.simulator.errors import ScenarioError
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import YAML_LOADER, discover, load_scenario

VALID = """
description: minimal
cloud: {type: openstack}
agent:
  options:
    DEFAULT: {plugins: [cloudbaseinit.plugins.common.sethostname.SetHostNamePlugin]}
expect: {boots: 2, computer_name: win-web-01}
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_valid_file_loads_with_its_stem_as_name(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, VALID, "my-story.yaml"))
    assert scenario.name == "my-story"
    assert scenario.conf.get("plugins") == [
        "cloudbaseinit.plugins.common.sethostname.SetHostNamePlugin"
    ]


@pytest.mark.parametrize(
    ("broken", "field", "fragment"),
    [
        (VALID.replace("boots: 2", "boots: two"), "expect.boots", "not of type 'integer'"),
        (VALID.replace("type: openstack", "type: vsphere"), "cloud.type", "is not one of"),
        (
            VALID.replace("{type: openstack}", "{type: openstack, metadata: {}}"),
            "cloud",
            "'metadata' was unexpected",
        ),
        (VALID.replace("description: minimal", ""), "(top level)", "'description'"),
        (VALID + "colour: blue\n", "(top level)", "colour"),
        (
            VALID.replace(", computer_name: win-web-01", ""),
            "expect",
            "at least one more expectation",
        ),
        (
            VALID + "dhcp: [{address: 10.0.0.999.1}]\n",
            "dhcp.0.address",
            "does not match",
        ),
        (
            VALID + "machine: {adapters: [{name: E, mac: '52:54:00:12:34:56', address: "
            "10.0.0.15, gateway: gw.example}]}\n",
            "machine.adapters.0.gateway",
            "does not match",
        ),
    ],
)
def test_schema_errors_name_the_field(
    tmp_path: Path, broken: str, field: str, fragment: str
) -> None:
    path = write(tmp_path, broken)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.field == field
    assert str(path) in str(caught.value)
    assert fragment in caught.value.message


def test_an_adapter_gateway_is_its_default_route(tmp_path: Path) -> None:
    adapters = (
        "machine:\n  adapters:\n"
        "    - {name: A, mac: '52:54:00:00:00:01', address: 10.0.0.15, gateway: 10.0.0.1}\n"
        "    - {name: B, mac: '52:54:00:00:00:02', address: 10.0.1.15}\n"
    )
    machine = load_scenario(write(tmp_path, VALID + adapters)).build_machine()
    routes = machine.state.network.routes
    assert [(r.destination, r.next_hop, r.interface, r.persistent) for r in routes] == [
        ("0.0.0.0/0", "10.0.0.1", "A", True)
    ]


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "description: x\nagent: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"line \d+: invalid YAML"):
        load_scenario(path)


def test_a_conf_with_a_wrong_type_names_option_file_and_line(tmp_path: Path) -> None:
    conf = tmp_path / "cloudbase-init.conf"
    conf.write_text("[DEFAULT]\nusername = Admin\nallow_reboot = perhaps\n")
    path = write(
        tmp_path, VALID.replace("  options:\n", "  conf: cloudbase-init.conf\n  options:\n")
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.field == "agent"
    assert "cloudbase-init.conf:3" in str(caught.value)
    assert "allow_reboot" in str(caught.value)


def test_a_missing_referenced_file_names_the_field(tmp_path: Path) -> None:
    path = write(
        tmp_path, VALID.replace("{type: openstack}", "{type: openstack, user_data_file: nope.txt}")
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path).build_machine()
    assert caught.value.field == "cloud.user_data_file"


def test_discover_walks_folders_in_a_stable_order(tmp_path: Path) -> None:
    for name in ("b/z.yaml", "a/y.yml", "a/x.yaml", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(VALID)
    assert [p.relative_to(tmp_path).as_posix() for p in discover([tmp_path])] == [
        "a/x.yaml",
        "a/y.yml",
        "b/z.yaml",
    ]


def test_discover_rejects_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such file"):
        discover([tmp_path / "missing"])


LIBRARY = discover([bundled("scenarios")])


def test_libyaml_reads_scenarios_when_pyyaml_has_it() -> None:
    assert YAML_LOADER is (yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)


@pytest.mark.parametrize("path", LIBRARY, ids=[p.stem for p in LIBRARY])
def test_both_yaml_loaders_read_each_bundled_scenario_alike(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert yaml.load(text, Loader=YAML_LOADER) == yaml.safe_load(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb: [1, 2\n",  # an unclosed flow sequence
        "a: 1\n b: 2\n",  # a bad indentation
        "a: 'open\n",  # an unclosed quote
        "a: *nothing\n",  # an unknown alias
        "a: !!python/object:os.system x\n",  # a tag the safe loaders refuse
    ],
)
def test_both_yaml_loaders_refuse_the_same_broken_files_naming_the_line(
    text: str, tmp_path: Path
) -> None:
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(text)
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=r"broken\.yaml: line \d+: invalid YAML"):
        load_scenario(path)
