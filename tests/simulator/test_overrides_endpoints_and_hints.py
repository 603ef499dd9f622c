"""A user's conf on the library: endpoints stay the scenario's, failures say what in the conf
explains them."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from guestsim.simulator.cli import cli
from guestsim.simulator.overrides import load_overrides
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import ENDPOINT_OPTIONS, load_scenario, run_scenario

LIBRARY = bundled("scenarios")
STOCK = bundled("fixtures") / "confs" / "stock-cloudbase-init.conf"
GCE = LIBRARY / "clouds" / "gce-happy-path.yaml"
OPENSTACK = LIBRARY / "clouds" / "openstack-happy-path.yaml"
ISO_CDROM = LIBRARY / "config-drives" / "configdrive-iso-cdrom.yaml"
S = "cloudbaseinit.metadata.services."
P = "cloudbaseinit.plugins."


def conf_variant(tmp_path: Path, *lines: str, name: str = "cloudbase-init.conf") -> Path:
    path = tmp_path / name
    path.write_text(STOCK.read_text() + "\n".join(lines) + "\n")
    return path


def failures_with(scenario: Path, conf: Path) -> list[str]:
    return run_scenario(load_scenario(scenario), overrides=load_overrides(conf=conf)).failures


# --- endpoints -----------------------------------------------------------------------------


def test_a_users_cloud_address_does_not_take_the_scenario_off_its_cloud(tmp_path: Path) -> None:
    conf = conf_variant(
        tmp_path,
        "[gce]",
        "metadata_base_url = http://localhost:8000/",
        "[vmwareguestinfo]",
        "vmware_rpctool_path = C:\\tools\\mock-rpctool.exe",
    )
    assert failures_with(GCE, conf) == []

    scenario = load_scenario(GCE)
    overrides = load_overrides(conf=conf, unattend_conf=conf)
    effective = scenario.effective_conf(overrides)
    assert effective.get("metadata_base_url", "gce") == scenario.conf.get(
        "metadata_base_url", "gce"
    )
    unattend = scenario.effective_unattend_conf(overrides)
    assert unattend is not None
    assert unattend.get("metadata_base_url", "gce") == scenario.conf.get("metadata_base_url", "gce")
    # Everything else is the user's.
    assert effective.get("username") == "Admin" and effective.get("check_latest_version")
    assert scenario.replaced_endpoints(overrides) == [
        "[gce] metadata_base_url",
        "[vmwareguestinfo] vmware_rpctool_path",
    ]


def test_run_says_which_endpoints_each_scenario_keeps(tmp_path: Path) -> None:
    conf = conf_variant(tmp_path, "[gce]", "metadata_base_url = http://localhost:8000/")
    result = CliRunner().invoke(cli, ["run", "--conf", str(conf), str(GCE)])
    assert result.exit_code == 0, result.output
    assert (
        "note: each scenario runs with its own [gce] metadata_base_url instead of your "
        "configuration's" in result.stderr
    )
    quiet = CliRunner().invoke(cli, ["run", "--conf", str(STOCK), str(GCE)])
    assert quiet.exit_code == 0 and "note:" not in quiet.stderr


def test_endpoint_options_are_real_options() -> None:
    from guestsim.agent.config import default_config

    for group, name in ENDPOINT_OPTIONS:
        default_config().get(name, group)


def test_a_scenarios_own_conf_pointing_elsewhere_is_explained(tmp_path: Path) -> None:
    scenario = tmp_path / "gce-elsewhere.yaml"
    scenario.write_text(
        GCE.read_text().replace(
            "  options:\n    DEFAULT:\n",
            "  options:\n    gce: {metadata_base_url: 'http://localhost:8000/'}\n    DEFAULT:\n",
        )
    )
    failures = run_scenario(load_scenario(scenario)).failures
    assert (
        "metadata_service: expected 'GCEService', got None (the configuration's [gce] "
        "metadata_base_url is http://localhost:8000/, but the scenario's cloud answers at "
        "http://metadata.google.internal/computeMetadata/v1/)"
    ) in failures


# --- what the conf explains ------------------------------------------------------------------


def test_a_host_name_waiting_for_a_forbidden_reboot_is_explained(tmp_path: Path) -> None:
    failures = failures_with(OPENSTACK, conf_variant(tmp_path, "allow_reboot=false"))
    why = (
        "(the name 'win-web-01' waits for a reboot, but the configuration has allow_reboot = false)"
    )
    assert f"computer_name: expected 'win-web-01', got 'WIN-7Q2L0K1ABCD' {why}" in failures
    assert f"pending_computer_name: expected None, got 'win-web-01' {why}" in failures
    ec2 = failures_with(
        LIBRARY / "clouds" / "ec2-happy-path.yaml", conf_variant(tmp_path, "allow_reboot=false")
    )
    requests = [f for f in ec2 if f.startswith("requests[")]
    assert requests and all(
        f.endswith("(fewer boots than the story needs: the configuration has allow_reboot = false)")
        for f in requests
    )


def test_a_config_drive_the_conf_does_not_search_is_explained(tmp_path: Path) -> None:
    conf = conf_variant(
        tmp_path,
        "config_drive_raw_hhd=false",
        "config_drive_cdrom=false",
        "[config_drive]",
        "types = vfat,",
    )
    failures = failures_with(ISO_CDROM, conf)
    assert failures == [
        "config_drive_found: expected 'iso/cdrom', got 'vfat/partition' (the configuration "
        "searches vfat drives in cdrom, hdd, partition, not iso/cdrom: see [config_drive] "
        "types, locations, raw_hdd, cdrom, vfat)"
    ]


def test_a_metadata_service_the_conf_does_not_list_is_explained(tmp_path: Path) -> None:
    scenario = tmp_path / "gce-no-keep.yaml"
    scenario.write_text(GCE.read_text().replace("  keep: [metadata_services]\n", ""))
    conf = conf_variant(tmp_path, f"metadata_services={S}httpservice.HttpService,")
    failures = failures_with(scenario, conf)
    assert (
        "metadata_service: expected 'GCEService', got None (the configuration's "
        "metadata_services does not list GCEService)"
    ) in failures


def test_a_change_whose_plugin_the_conf_lacks_is_explained(tmp_path: Path) -> None:
    plugins = f"plugins={P}common.sethostname.SetHostNamePlugin,"
    failures = failures_with(OPENSTACK, conf_variant(tmp_path, plugins))
    assert (
        "adapters.Ethernet.mtu: expected 1450, got 1500 (the configuration does not list MTUPlugin)"
        in failures
    )
    assert any(
        f.startswith("ntp_peers:")
        and f.endswith("(the configuration does not list NTPClientPlugin)")
        for f in failures
    )


def test_a_change_an_option_of_the_conf_switches_off_is_explained(tmp_path: Path) -> None:
    conf = conf_variant(
        tmp_path, "username = Bob", "mtu_use_dhcp_config = false", "ntp_use_dhcp_config = false"
    )
    failures = failures_with(LIBRARY / "clouds" / "stock-conf-openstack.yaml", conf)
    assert (
        "adapters.Ethernet.mtu: expected 1400, got 1500 (the configuration has "
        "mtu_use_dhcp_config = false)"
    ) in failures
    assert (
        "ntp_peers: expected ['10.0.0.123'], got None (the configuration has "
        "ntp_use_dhcp_config = false)"
    ) in failures
    assert (
        "users.Admin.exists: expected True, got False (the configuration's username is 'Bob')"
    ) in failures


def test_the_note_names_only_endpoints_the_users_conf_sets(tmp_path: Path) -> None:
    # The MAAS scenario has its own [maas] metadata_base_url; a conf that leaves it at its
    # default has nothing there the scenario replaces.
    maas = LIBRARY / "clouds" / "maas-happy-path.yaml"
    overrides = load_overrides(conf=conf_variant(tmp_path))
    assert load_scenario(maas).replaced_endpoints(overrides) == []
    result = CliRunner().invoke(cli, ["run", "--conf", str(conf_variant(tmp_path)), str(maas)])
    assert result.exit_code == 0, result.output
    assert "note:" not in result.stderr
