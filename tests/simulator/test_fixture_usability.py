"""What a pytest user of the fixtures meets (issue 14): conf files, misspelt plugin names,
hints on failure, requests a fault answered, the documented event API."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

# pytester's in-process runs restore sys.modules afterwards; load the simulator once here.
import guestsim.simulator.testing  # noqa: F401
from guestsim.agent.config import ConfigError, ConfigFileError, ConfigValueError
from guestsim.simulator.errors import GuestsimError
from guestsim.simulator.paths import bundled
from guestsim.simulator.testing import GuestMachine, MetadataCloud

META = "/openstack/latest/meta_data.json"


# --- a conf file ------------------------------------------------------------------------


def test_load_conf_reads_a_real_conf_file_and_configure_goes_on_top(tmp_path: Path) -> None:
    conf = tmp_path / "cloudbase-init.conf"
    conf.write_text(
        "[DEFAULT]\n"
        "allow_reboot = false\n"
        "plugins = cloudbaseinit.plugins.common.sethostname.SetHostNamePlugin\n"
        "metadata_services = cloudbaseinit.metadata.services.httpservice.HttpService\n"
    )
    machine = GuestMachine()
    cloud = MetadataCloud(machine)
    cloud.model.meta_data["hostname"] = "from-conf.example"
    assert machine.load_conf(conf) is machine
    assert machine.conf.source == str(conf)
    result = machine.run()
    assert result.boot_count == 1 and machine.state.pending_computer_name == "from-conf"
    # Options given by configure() win over the file's, whatever the order of the calls.
    machine2 = GuestMachine().configure(allow_reboot=True).load_conf(conf)
    MetadataCloud(machine2).model.meta_data["hostname"] = "from-conf.example"
    assert machine2.run().boot_count == 2
    assert machine2.state.computer_name == "from-conf"


def test_load_conf_errors_are_typed_and_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.conf"
    with pytest.raises(ConfigFileError) as error:
        GuestMachine().load_conf(missing)
    assert error.value.file == str(missing) and str(missing) in str(error.value)
    bad = tmp_path / "bad.conf"
    bad.write_text("[DEFAULT]\nallow_reboot = perhaps\n")
    with pytest.raises(ConfigValueError) as value_error:
        GuestMachine().load_conf(bad)
    assert str(value_error.value).startswith(f"{bad}:2: [DEFAULT] allow_reboot")
    assert isinstance(value_error.value, ConfigError)


# --- plugin names -----------------------------------------------------------------------


def test_a_misspelt_plugin_name_gets_a_did_you_mean() -> None:
    from guestsim.simulator.testing import UnknownPlugin

    with pytest.raises(UnknownPlugin) as error:
        GuestMachine().use_plugins("SetHostnamePlugin")
    assert str(error.value) == (
        "no cloudbase-init plugin class named 'SetHostnamePlugin'; "
        "did you mean 'SetHostNamePlugin'?"
    )
    assert isinstance(error.value, GuestsimError) and isinstance(error.value, ValueError)
    with pytest.raises(UnknownPlugin, match="did you mean 'CreateUserPlugin'"):
        GuestMachine().use_plugins("createuser")
    with pytest.raises(UnknownPlugin, match=r"named 'Frobnicate'$"):
        GuestMachine().use_plugins("Frobnicate")
    # A misspelt upstream path too; the right ones, and the user's own modules, pass.
    with pytest.raises(UnknownPlugin) as path_error:
        GuestMachine().use_plugins("cloudbaseinit.plugins.common.createuser.CreateUserPlugin")
    assert str(path_error.value) == (
        "no cloudbase-init plugin at "
        "'cloudbaseinit.plugins.common.createuser.CreateUserPlugin'; CreateUserPlugin is "
        "'cloudbaseinit.plugins.windows.createuser.CreateUserPlugin'"
    )
    with pytest.raises(UnknownPlugin, match="did you mean 'MTUPlugin'"):
        GuestMachine().use_plugins("cloudbaseinit.plugins.common.mtu.MtuPlugin")
    machine = GuestMachine().use_plugins(
        "cloudbaseinit.plugins.windows.mtu.MTUPlugin", "mycompany.plugins.Inventory"
    )
    assert machine.options["DEFAULT"]["plugins"] == [
        "cloudbaseinit.plugins.windows.mtu.MTUPlugin",
        "mycompany.plugins.Inventory",
    ]


# --- hints ------------------------------------------------------------------------------


def _pending_name_machine(allow_reboot: bool) -> GuestMachine:
    machine = GuestMachine()
    MetadataCloud(machine).model.meta_data["hostname"] = "web-07.example"
    machine.use_plugins("SetHostNamePlugin").configure(allow_reboot=allow_reboot)
    return machine


def test_a_host_name_pending_a_forbidden_reboot_is_a_hint() -> None:
    result = _pending_name_machine(allow_reboot=False).run()
    assert result.hints == [
        "the computer name 'web-07' waits for a reboot that did not happen: "
        "SetHostNamePlugin asked for one at boot 1, but the configuration has "
        "allow_reboot = false"
    ]
    assert "hints:\n  - the computer name 'web-07' waits" in result.explain()
    assert _pending_name_machine(allow_reboot=True).run().hints == []


def test_hints_name_failed_plugins_and_a_missing_metadata_service() -> None:
    machine = GuestMachine()
    MetadataCloud(machine).fault("/*", error="refused")
    machine.use_plugins("CreateUserPlugin")
    result = machine.run()
    hints = result.hints
    assert hints[0].startswith("no metadata service answered: tried HttpService (")
    assert any(hint.startswith("requests answered by faults: ") for hint in hints)


def test_a_failing_test_shows_the_hints_in_its_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_hint=textwrap.dedent(
            """
            def test_host_name(guest_machine, metadata_cloud):
                metadata_cloud.model.meta_data["hostname"] = "web-07.example"
                guest_machine.use_plugins("SetHostNamePlugin").configure(allow_reboot=False)
                guest_machine.run()
                assert guest_machine.state.computer_name == "web-07"
            """
        )
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*- guestsim hints -*", "*the computer name 'web-07' waits for a reboot*"]
    )


# --- requests a fault answered ---------------------------------------------------------


def test_requests_answered_by_a_fault_are_in_metadata_cloud_requests() -> None:
    machine = GuestMachine()
    cloud = MetadataCloud(machine)
    cloud.fault("/openstack/*", status=503, first=2)
    machine.use_plugins("SetHostNamePlugin").configure(allow_reboot=False)
    machine.run()
    seen = [(r.path, r.status, r.fault, r.faulted) for r in cloud.requests]
    assert seen[:4] == [
        ("/", 200, None, False),
        (META, 503, 0, True),
        (META, 503, 0, True),
        (META, 200, None, False),
    ]
    # What the cloud app itself received, and so the scenario `requests` expectation, is as
    # before: the faulted requests never reached it.
    assert [(r.path, r.status) for r in cloud.app.requests][:2] == [("/", 200), (META, 200)]


def test_refused_requests_are_recorded_without_a_status() -> None:
    machine = GuestMachine()
    cloud = MetadataCloud(machine)
    cloud.fault(META, error="refused", first=1)
    machine.use_plugins("SetHostNamePlugin").configure(allow_reboot=False)
    machine.run()
    faulted = [r for r in cloud.requests if r.faulted]
    assert [(r.method, r.path, r.status, r.error) for r in faulted] == [
        ("GET", META, None, "refused")
    ]


# --- the event API is documented --------------------------------------------------------


def test_the_guest_machine_fixture_documents_the_event_api(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--fixtures", "-v", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        ["guest_machine*", "*trace.of_kind(*kinds)*", "*t_ms*", "*plugin_end*"]
    )


def test_every_event_kind_of_the_library_is_documented() -> None:
    from guestsim.simulator import pytest_plugin

    documented = set(re.findall(r"``([a-z_]+)``", pytest_plugin.guest_machine.__doc__ or ""))
    traces = Path(__file__).resolve().parents[1] / "scenarios" / "traces"
    kinds = {
        json.loads(line)["kind"]
        for trace in traces.rglob("*.jsonl")
        for line in trace.read_text().splitlines()
    }
    assert kinds - documented == set()


def test_a_failing_scenario_item_lists_the_hints(pytester: pytest.Pytester) -> None:
    source = bundled("scenarios") / "reboots" / "hostname-reboot-disallowed.yaml"
    text = source.read_text().replace(
        "computer_name: WIN-OLDNAME\n  pending", "computer_name: app-server-02\n  pending"
    )
    pytester.path.joinpath("story.yaml").write_text(text)
    result = pytester.runpytest("-p", "no:cacheprovider", "--guestsim", "story.yaml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*computer_name: expected 'app-server-02', got 'WIN-OLDNAME'*",
            "hints:",
            "  - the computer name 'app-server-02' waits for a reboot that did not happen: *",
        ]
    )


def test_both_transports_record_the_same_exchanges() -> None:
    from guestsim.simulator.scenario import load_scenario

    scenario = load_scenario(bundled("scenarios") / "failures/openstack-5xx-then-recovers.yaml")
    seen = []
    for transport in ("inprocess", "loopback"):
        result = scenario.build_machine(transport=transport).run()
        seen.append(
            [(r.method, r.path, r.status, r.fault) for c in result.clouds for r in c.exchanges]
        )
    assert seen[0] == seen[1]
    assert [fault for *_, fault in seen[0]].count(0) == 3
