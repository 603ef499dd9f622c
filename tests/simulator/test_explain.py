"""``guestsim explain`` shows what the agent will see, without running anything."""

from __future__ import annotations

from click.testing import CliRunner

from guestsim.simulator.cli import cli
from guestsim.simulator.paths import bundled

SCENARIOS = bundled("scenarios")


def explain(path: str) -> str:
    result = CliRunner().invoke(cli, ["explain", str(SCENARIOS / path)])
    assert result.exit_code == 0, result.output
    return result.output


def test_cloud_documents_options_and_dhcp_are_shown() -> None:
    out = explain("clouds/openstack-happy-path.yaml")
    assert "  [DEFAULT] ntp_use_dhcp_config = True" in out
    assert "  openstack at http://169.254.169.254/" in out
    assert '"hostname": "win-web-01.novalocal"' in out
    assert "  10.0.0.1 options [26, 42]" in out
    assert "computer name WIN-7Q2L0K1ABCD" in out


def test_drives_and_their_files_are_shown() -> None:
    out = explain("config-drives/configdrive-behind-decoys.yaml")
    assert "  CD-ROM D:\\ label=None (empty)" in out
    assert "  CD-ROM E:\\ label='DATA' (media)" in out
    assert "      F:\\openstack\\latest\\meta_data.json" in out
    assert "(none: every metadata request is refused)" in out


def test_faults_are_shown_and_nothing_runs() -> None:
    out = explain("failures/openstack-5xx-then-recovers.yaml")
    assert "Faults:" in out and "status=503" in out and "first=3" in out
    assert "boot" not in out.lower().split("faults:")[1]


def test_an_adapter_gateway_is_shown() -> None:
    out = explain("failures/metadata-route-added.yaml")
    assert (
        "  adapter Ethernet 52:54:00:12:34:56 10.0.0.15, DHCP from 10.0.0.1, gateway 10.0.0.1"
        in out
    )
    assert "gateway" not in explain("clouds/openstack-happy-path.yaml")
