"""AzureService against the simulated WireServer and provisioning drive, field by field.

Most tests call the service directly: a :class:`FakeOSUtils` over a default Windows state
with the provisioning drive attached, a simulated DHCP network, and the WireServer served
in-process. Whole-machine tests check what a user of the guest would see (account,
password, health reports, virtual time spent looking for the WireServer).
"""

from __future__ import annotations

import gzip
import ipaddress
import random
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from guestsim.agent.config import config_from_options
from guestsim.agent.metadata import factory
from guestsim.agent.metadata.azure import (
    DEFAULT_KMS_HOST,
    AzureMetadataError,
    AzureService,
    DhcpUnavailable,
    parse_xml,
)
from guestsim.agent.metadata.base import NotExistingMetadataException
from guestsim.agent.plugins.base import AgentContext
from guestsim.simulator.clouds import azure
from guestsim.simulator.clouds.base import SimRequest, SimResponse
from guestsim.simulator.clouds.documents import DocumentSource
from guestsim.simulator.dhcp import DhcpServer, SimulatedDhcpNetwork
from guestsim.simulator.faults import Fault, FaultPlan
from guestsim.simulator.machine import Machine, RunResult
from guestsim.simulator.trace import Trace
from guestsim.simulator.transport import Gateway, InProcessTransport
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.disks import Drive
from guestsim.simulator.windows.osutils import FakeOSUtils, MachineHooks
from guestsim.simulator.windows.state import AGENT_KEY, WindowsState

SERVICE_PATH = "cloudbaseinit.metadata.services.azureservice.AzureService"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "clouds" / "azure"
WIRESERVER = "168.63.129.16"
GUEST_ADDRESS = "10.0.0.15"  # the default state's only adapter
TAG = "E6DA6616-8EC4-48E0-BE93-58CE6ACE3CFB.tag"
INSTANCE_ID = azure.DEFAULT_ROLE_INSTANCE_ID
PFX_THUMBPRINT = "A150E824439961862A4277D45178C466D5C99C3A"
PLUGINS = {
    "hostname": "cloudbaseinit.plugins.common.sethostname.SetHostNamePlugin",
    "createuser": "cloudbaseinit.plugins.windows.createuser.CreateUserPlugin",
    "password": "cloudbaseinit.plugins.common.setuserpassword.SetUserPasswordPlugin",
}


def wireserver_option(address: str = WIRESERVER) -> dict[int, bytes]:
    return {245: ipaddress.IPv4Address(address).packed}


DEFAULT_DHCP = (DhcpServer("10.0.0.1", wireserver_option()),)


def ovf_env(
    config_set: str | None = None,
    platform: str | None = "",
    *,
    section: str = "wa:ProvisioningSection",
    platform_section: str = "wa:PlatformSettingsSection",
    root: str = "Environment",
    namespaces: str = 'xmlns:wa="http://schemas.microsoft.com/windowsazure"',
) -> str:
    """An ``ovf-env.xml``; ``config_set``/``platform`` are the inner elements' XML."""
    if config_set is None:
        config_set = (
            "<ComputerName>az-test-01</ComputerName>"
            "<AdminUsername>tester</AdminUsername>"
            "<AdminPassword>Test-Passw0rd!</AdminPassword>"
        )
    platform_xml = (
        ""
        if platform is None
        else (
            f"<{platform_section}><wa:Version>1.0</wa:Version>"
            f'<PlatformSettings xmlns="http://schemas.microsoft.com/windowsazure">{platform}'
            f"</PlatformSettings></{platform_section}>"
        )
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<{root} xmlns="http://schemas.dmtf.org/ovf/environment/1" {namespaces}>'
        f"<{section}><wa:Version>1.0</wa:Version>"
        '<WindowsProvisioningConfigurationSet xmlns="http://schemas.microsoft.com/windowsazure">'
        "<ConfigurationSetType>WindowsProvisioningConfiguration</ConfigurationSetType>"
        f"{config_set}</WindowsProvisioningConfigurationSet></{section}>"
        f"{platform_xml}</{root}>"
    )


class RecordingWireServer(azure.AzureWireServer):
    """The simulated WireServer, also keeping every request's headers for the tests."""

    def __init__(self, model: azure.AzureModel, base_url: str = azure.DEFAULT_BASE_URL) -> None:
        super().__init__(model, base_url)
        self.seen: list[SimRequest] = []

    def handle(self, request: SimRequest) -> SimResponse:
        self.seen.append(request)
        return super().handle(request)


class SilentFirst:
    """A DHCP network on which the first ``silent`` requests get no answer."""

    def __init__(self, network: SimulatedDhcpNetwork, silent: int) -> None:
        self.network = network
        self.silent = silent

    def source_address(self, server: str | None) -> str:
        return self.network.source_address(server)

    def exchange(self, server: str | None, request: bytes, timeout: float) -> bytes | None:
        reply = self.network.exchange(server, request, timeout)
        if self.silent > 0:
            self.silent -= 1
            return None
        return reply


@dataclass
class Guest:
    service: AzureService
    cloud: RecordingWireServer
    state: WindowsState
    trace: Trace
    network: SimulatedDhcpNetwork
    sleeps: list[float] = field(default_factory=list)

    @property
    def model(self) -> azure.AzureModel:
        return self.cloud.model

    def paths(self, method: str | None = None) -> list[str]:
        return [r.path for r in self.cloud.requests if method in (None, r.method)]


@contextmanager
def azure_guest(
    spec: Mapping[str, Any] | None = None,
    *,
    dhcp_servers: Sequence[DhcpServer] = DEFAULT_DHCP,
    options: Mapping[str, Any] | None = None,
    faults: Sequence[Fault] = (),
    silent_dhcp: int = 0,
    state: WindowsState | None = None,
) -> Iterator[Guest]:
    """A guest with the scenario-style ``spec`` (the ``cloud:`` mapping) attached."""
    source = DocumentSource("azure", {"type": "azure", **(spec or {})})
    model = azure.build_model(source)
    cloud = RecordingWireServer(model, source.setting("base_url", azure.DEFAULT_BASE_URL))
    state = default_windows_state() if state is None else state
    azure.attach(state, source)
    trace = Trace()
    sleeps: list[float] = []
    hooks = MachineHooks(
        sleep=sleeps.append,
        reboot=lambda: None,
        service_stopped=lambda name: None,
        run_as_user=lambda args, user: 0,
    )
    osutils = FakeOSUtils(state, trace, random.Random(0), hooks)
    network = SimulatedDhcpNetwork(dhcp_servers, {"broadcast": GUEST_ADDRESS})
    conf = config_from_options({"DEFAULT": dict(options or {})}, "test")
    transport = SilentFirst(network, silent_dhcp) if silent_dhcp else network
    context = AgentContext(conf=conf, osutils=osutils, dhcp=transport)
    gateway = Gateway([cloud], trace, FaultPlan(faults))
    with InProcessTransport(gateway).serving():
        yield Guest(AzureService(context), cloud, state, trace, network, sleeps)


@contextmanager
def loaded(spec: Mapping[str, Any] | None = None, **kwargs: Any) -> Iterator[Guest]:
    with azure_guest(spec, **kwargs) as guest:
        assert guest.service.load() is True
        yield guest


def drive_spec(**drive: Any) -> dict[str, Any]:
    return {"provisioning_drive": drive}


# --- identity ----------------------------------------------------------------------------------


def test_the_upstream_class_path_resolves_to_azure_service_named_as_upstream() -> None:
    assert factory.service_class(SERVICE_PATH) is AzureService
    with azure_guest() as guest:
        assert guest.service.get_name() == "AzureService"


# --- finding the WireServer --------------------------------------------------------------------


def test_load_broadcasts_for_option_245_and_talks_to_the_address_it_names() -> None:
    servers = [DhcpServer("10.0.0.1", wireserver_option("10.20.30.40"))]
    spec = {"base_url": "http://10.20.30.40/"}
    with azure_guest(spec, dhcp_servers=servers) as guest:
        assert guest.service.load() is True
        (exchange,) = guest.network.exchanges
        assert exchange.server is None  # broadcast
        assert exchange.requested == (245,)
        assert exchange.answered == (245,)
        assert guest.service.base_url == "http://10.20.30.40"
        assert guest.trace.of_kind("http")[0].get("url") == "http://10.20.30.40/?comp=Versions"
        assert guest.sleeps == []


def test_without_any_dhcp_answer_the_agent_polls_75_times_then_uses_the_default_address() -> None:
    with azure_guest(dhcp_servers=()) as guest:
        assert guest.service.load() is True
        assert len(guest.network.exchanges) == 75
        assert all(e.answered is None for e in guest.network.exchanges)
        assert guest.sleeps == [2] * 75
        assert guest.service.base_url == f"http://{WIRESERVER}"
        assert guest.paths()[0] == "/?comp=Versions"


def test_a_dhcp_answer_without_option_245_is_polled_again_like_no_answer() -> None:
    servers = [DhcpServer("10.0.0.1", {26: (1500).to_bytes(2, "big")})]
    with azure_guest(dhcp_servers=servers) as guest:
        assert guest.service.load() is True
        assert [e.answered for e in guest.network.exchanges] == [()] * 75
        assert guest.sleeps == [2] * 75


def test_option_245_arriving_on_the_third_request_ends_the_polling() -> None:
    with azure_guest(silent_dhcp=2) as guest:
        assert guest.service.load() is True
        assert len(guest.network.exchanges) == 3
        assert guest.sleeps == [2, 2]


def test_a_malformed_option_245_fails_discovery() -> None:
    servers = [DhcpServer("10.0.0.1", {245: b"\xa8\x3f\x81"})]
    with azure_guest(dhcp_servers=servers) as guest, pytest.raises(ValueError):
        guest.service.load()


def test_without_a_dhcp_transport_loading_fails_with_a_named_error() -> None:
    with azure_guest() as guest:
        guest.service.context.dhcp = None
        with pytest.raises(DhcpUnavailable):
            guest.service.load()


def test_finding_the_wireserver_on_a_silent_network_costs_525_virtual_seconds() -> None:
    conf = config_from_options(
        {"DEFAULT": {"metadata_services": [SERVICE_PATH], "plugins": [PLUGINS["hostname"]]}},
        "test",
    )
    source = DocumentSource("azure", {"type": "azure"})
    state = default_windows_state()
    state.computer_name = "az-sim-01"
    azure.attach(state, source)
    result = Machine(conf, state=state, clouds=azure.build(source)).run()
    assert result.boots[-1].outcome == "stopped"
    sleeps = [e.get("seconds") for e in result.trace.of_kind("sleep")]
    assert sleeps[:75] == [2] * 75
    first_http = result.trace.of_kind("http")[0]
    # 75 unanswered DHCP requests (5 s each) and 75 sleeps of 2 s before the first request.
    assert first_http.t_ms == 75 * (5 + 2) * 1000
    assert first_http.get("url") == "http://168.63.129.16/?comp=Versions"


# --- version check and headers -----------------------------------------------------------------


def test_the_version_check_goes_first_and_later_requests_carry_the_version_header() -> None:
    with loaded() as guest:
        guest.service.get_instance_id()
        versions, goal_state = guest.cloud.seen
        assert versions.path == "/?comp=Versions"
        assert versions.header("x-ms-guest-agent-name") == "cloudbase-init"
        assert versions.header("x-ms-version") is None
        assert goal_state.path == "/machine?comp=goalstate"
        assert goal_state.header("x-ms-guest-agent-name") == "cloudbase-init"
        assert goal_state.header("x-ms-version") == "2015-04-05"
        assert goal_state.method == "GET"


@pytest.mark.parametrize(
    ("versions", "loads"),
    [
        (["2015-04-05", "2012-11-30"], True),
        (["2012-11-30", "2015-04-05", "2011-12-31"], True),
        # Quirk: one listed version is never accepted, even the right one.
        (["2015-04-05"], False),
        (["2012-11-30", "2012-09-15"], False),
        ([], False),
    ],
)
def test_the_wireserver_must_list_2015_04_05_among_at_least_two_versions(
    versions: list[str], loads: bool
) -> None:
    with azure_guest({"versions": versions}) as guest:
        assert guest.service.load() is loads
        # The answer is not retried: it arrived, it just is not acceptable.
        assert guest.paths().count("/?comp=Versions") == 1


def test_a_wireserver_that_does_not_answer_is_retried_then_not_loaded() -> None:
    fault = Fault(path="/", status=503)
    with azure_guest(faults=[fault]) as guest:
        assert guest.service.load() is False
        assert [e.get("status") for e in guest.trace.of_kind("http")] == [503] * 6
        assert guest.sleeps == [4.0] * 5


# --- the goal state ----------------------------------------------------------------------------


def test_the_instance_id_is_the_role_instance_of_the_goal_state() -> None:
    with loaded({"role_instance_ids": ["deploy-7.web_IN_0"]}) as guest:
        assert guest.service.get_instance_id() == "deploy-7.web_IN_0"


def test_the_goal_state_is_fetched_once_per_run_and_reused() -> None:
    with loaded() as guest:
        guest.service.get_instance_id()
        guest.service.provisioning_started()
        guest.service.get_instance_id()
        guest.service.provisioning_completed()
        assert guest.paths("GET").count("/machine?comp=goalstate") == 1


def test_a_goal_state_not_expecting_started_is_an_error() -> None:
    with (
        loaded({"expected_state": "Stopped"}) as guest,
        pytest.raises(AzureMetadataError, match="Stopped"),
    ):
        guest.service.get_instance_id()


@pytest.mark.parametrize("roles", [["role_IN_0", "role_IN_1"], []])
def test_the_goal_state_must_hold_exactly_one_role_instance(roles: list[str]) -> None:
    with (
        loaded({"role_instance_ids": roles}) as guest,
        pytest.raises(AzureMetadataError, match="RoleInstance"),
    ):
        guest.service.get_instance_id()


def test_a_404_from_the_wireserver_is_retried_unlike_other_clouds() -> None:
    fault = Fault(path="/machine", method="GET", status=404, first=2)
    with loaded(faults=[fault]) as guest:
        assert guest.service.get_instance_id() == INSTANCE_ID
        statuses = [e.get("status") for e in guest.trace.of_kind("http")]
        assert statuses == [200, 404, 404, 200]
        assert guest.sleeps == [4.0, 4.0]


def test_a_404_that_persists_fails_after_the_configured_retries() -> None:
    fault = Fault(path="/machine", method="GET", status=404)
    with loaded(faults=[fault], options={"retry_count": 2, "retry_count_interval": 1}) as guest:
        with pytest.raises(requests.HTTPError, match="404"):
            guest.service.get_instance_id()
        assert guest.sleeps == [1.0, 1.0]


# --- the provisioning drive --------------------------------------------------------------------


def test_the_provisioning_data_comes_from_the_tagged_drive() -> None:
    with loaded() as guest:
        assert guest.service.get_host_name() == "az-sim-01"
        assert guest.service.get_admin_username() == "simadmin"
        assert guest.service.get_admin_password() == "Sim-Passw0rd!2026"
        assert guest.service.get_user_data() == (FIXTURES / "CustomData.bin").read_bytes()


def test_the_last_tagged_drive_wins() -> None:
    state = default_windows_state()
    state.attach_drive(
        Drive("F", None, "cdrom"),
        {TAG: b"", "ovf-env.xml": ovf_env("<ComputerName>from-f</ComputerName>").encode()},
    )
    with loaded(drive_spec(letter="E"), state=state) as guest:
        assert guest.service.get_host_name() == "from-f"


def test_an_untagged_drive_is_ignored() -> None:
    with azure_guest(drive_spec(tag=False)) as guest:
        assert guest.service.load() is False


def test_without_a_provisioning_drive_the_service_does_not_load() -> None:
    with azure_guest({"provisioning_drive": None}) as guest:
        assert guest.service.load() is False
        # The WireServer was found and asked first.
        assert guest.paths() == ["/?comp=Versions"]


def test_a_tagged_drive_without_ovf_env_does_not_load() -> None:
    with azure_guest(drive_spec(ovf_env=None)) as guest:
        assert guest.service.load() is False


def test_an_unparseable_ovf_env_does_not_load() -> None:
    with azure_guest(drive_spec(ovf_env="<Environment><unclosed></Environment>")) as guest:
        assert guest.service.load() is False


@pytest.mark.parametrize(
    ("kwargs", "loads"),
    [
        # Quirk: names are matched literally, prefix included.
        ({"root": "oe:Environment", "namespaces": 'xmlns:oe="o" xmlns:wa="w"'}, False),
        ({"section": "az:ProvisioningSection", "namespaces": 'xmlns:az="w" xmlns:wa="w"'}, True),
        # The namespace URI bound to "wa" does not matter, only the literal prefix.
        ({"namespaces": 'xmlns:wa="urn:anything"'}, True),
    ],
)
def test_ovf_env_element_names_are_matched_with_their_literal_prefix(
    kwargs: dict[str, str], loads: bool
) -> None:
    with azure_guest(drive_spec(ovf_env=ovf_env(**kwargs))) as guest:
        assert guest.service.load() is loads
        if loads and kwargs.get("section"):
            with pytest.raises(AzureMetadataError, match="wa:ProvisioningSection"):
                guest.service.get_host_name()
        elif loads:
            assert guest.service.get_host_name() == "az-test-01"


def test_inner_elements_with_a_prefix_are_not_found() -> None:
    document = ovf_env(
        "<wa:ComputerName>prefixed</wa:ComputerName><AdminUsername>u</AdminUsername>"
    )
    with loaded(drive_spec(ovf_env=document)) as guest:
        with pytest.raises(AzureMetadataError, match="ComputerName"):
            guest.service.get_host_name()
        assert guest.service.get_admin_username() == "u"


@pytest.mark.parametrize("getter", ["get_host_name", "get_admin_username", "get_admin_password"])
def test_name_user_and_password_are_required(getter: str) -> None:
    with loaded(drive_spec(ovf_env=ovf_env(""))) as guest, pytest.raises(AzureMetadataError):
        getattr(guest.service, getter)()


@pytest.mark.parametrize(
    ("element", "expected"),
    [
        ("<EnableAutomaticUpdates>true</EnableAutomaticUpdates>", True),
        ("<EnableAutomaticUpdates>TRUE</EnableAutomaticUpdates>", True),
        ("<EnableAutomaticUpdates>false</EnableAutomaticUpdates>", False),
        ("<EnableAutomaticUpdates>yes</EnableAutomaticUpdates>", False),
        # Absent means "disable updates", not "leave them alone".
        ("", False),
    ],
)
def test_automatic_updates(element: str, expected: bool) -> None:
    with loaded(drive_spec(ovf_env=ovf_env(element))) as guest:
        assert guest.service.get_enable_automatic_updates() is expected


def test_winrm_listeners_with_and_without_a_certificate_thumbprint() -> None:
    with loaded() as guest:
        assert guest.service.get_winrm_listeners_configuration() == [
            {"protocol": "Http"},
            {"protocol": "Https", "certificate_thumbprint": PFX_THUMBPRINT},
        ]


def test_a_single_winrm_listener() -> None:
    element = (
        "<WinRM><Listeners><Listener><Protocol>Https</Protocol></Listener></Listeners></WinRM>"
    )
    with loaded(drive_spec(ovf_env=ovf_env(element))) as guest:
        assert guest.service.get_winrm_listeners_configuration() == [{"protocol": "Https"}]


def test_no_winrm_section_means_no_listeners_rather_than_the_configured_ones() -> None:
    with loaded(drive_spec(ovf_env=ovf_env(""))) as guest:
        assert guest.service.get_winrm_listeners_configuration() == []


def test_platform_settings() -> None:
    with loaded() as guest:
        assert guest.service.get_kms_host() == "kms.sim.test"
        assert guest.service.get_use_avma_licensing() is False
        assert guest.service.get_vm_agent_package_provisioning_data() == {
            "provision": False,
            "package_name": "VmAgent_Sim_2.7.41491.1102.zip",
        }


def test_platform_settings_set_otherwise() -> None:
    platform = (
        "<ProvisionGuestAgent>True</ProvisionGuestAgent>"
        "<GuestAgentPackageName>agent.zip</GuestAgentPackageName><UseAVMA>true</UseAVMA>"
    )
    with loaded(drive_spec(ovf_env=ovf_env(platform=platform))) as guest:
        assert guest.service.get_use_avma_licensing() is True
        assert guest.service.get_vm_agent_package_provisioning_data() == {
            "provision": True,
            "package_name": "agent.zip",
        }
        assert guest.service.get_kms_host() == DEFAULT_KMS_HOST


@pytest.mark.parametrize("platform", [None, ""])
def test_platform_settings_defaults(platform: str | None) -> None:
    with loaded(drive_spec(ovf_env=ovf_env(platform=platform))) as guest:
        assert guest.service.get_kms_host() == "kms.core.windows.net"
        assert guest.service.get_use_avma_licensing() is False
        assert guest.service.get_vm_agent_package_provisioning_data() == {
            "provision": False,
            "package_name": None,
        }


def test_what_azure_does_not_provide() -> None:
    with loaded() as guest:
        # Documented upstream, never implemented: no keys (so no password posting either).
        assert guest.service.get_public_keys() is None
        assert guest.service.can_post_password is False
        assert guest.service.can_update_password is False


# --- custom data -------------------------------------------------------------------------------


def test_custom_data_is_returned_raw_and_never_gunzipped(tmp_path: Path) -> None:
    packed = gzip.compress(b"#ps1\nWrite-Host hi\n", mtime=0)
    (tmp_path / "custom.bin").write_bytes(packed)
    with loaded(drive_spec(custom_data_file=str(tmp_path / "custom.bin"))) as guest:
        assert guest.service.get_user_data() == packed
        assert guest.service.get_decoded_user_data() == packed


def test_custom_data_announced_in_ovf_env_but_missing_is_an_error() -> None:
    with (
        loaded(drive_spec(custom_data=None)) as guest,
        pytest.raises(AzureMetadataError, match="CustomData"),
    ):
        guest.service.get_user_data()


def test_no_custom_data_at_all_is_not_existing() -> None:
    with loaded(drive_spec(custom_data=None, ovf_env=ovf_env())) as guest:
        with pytest.raises(NotExistingMetadataException):
            guest.service.get_user_data()
        with pytest.raises(NotExistingMetadataException):
            guest.service.get_decoded_user_data()


def test_the_data_loss_warning_is_read_from_the_oem_folder_of_the_drive() -> None:
    with loaded() as guest:
        warning = guest.service.get_ephemeral_disk_data_loss_warning()
        assert warning == (FIXTURES / "DATALOSS_WARNING_README.txt").read_bytes()


def test_a_missing_data_loss_warning_is_an_error() -> None:
    with loaded(drive_spec(data_loss_warning=None)) as guest, pytest.raises(FileNotFoundError):
        guest.service.get_ephemeral_disk_data_loss_warning()


# --- health reports and role properties --------------------------------------------------------


def _posted(guest: Guest, path: str) -> list[SimRequest]:
    return [r for r in guest.cloud.seen if r.method == "POST" and r.path == path]


def test_provisioning_reports_are_health_posts() -> None:
    with loaded() as guest:
        guest.service.provisioning_started()
        guest.service.provisioning_failed()
        guest.service.provisioning_completed()
        assert guest.model.health_reports == [
            azure.HealthReport(
                "1",
                azure.DEFAULT_CONTAINER_ID,
                INSTANCE_ID,
                "NotReady",
                "Provisioning",
                "Cloudbase-Init is preparing your computer for first use",
            ),
            azure.HealthReport(
                "1",
                azure.DEFAULT_CONTAINER_ID,
                INSTANCE_ID,
                "NotReady",
                "ProvisioningFailed",
                "Provisioning failed",
            ),
            azure.HealthReport("1", azure.DEFAULT_CONTAINER_ID, INSTANCE_ID, "Ready"),
        ]


def test_a_health_post_is_utf8_xml_sent_as_text_xml() -> None:
    with loaded({"incarnation": 7}) as guest:
        guest.service.provisioning_completed()
        (post,) = _posted(guest, "/machine?comp=health")
        assert post.header("Content-Type") == "text/xml; charset=utf-8"
        assert post.header("x-ms-version") == "2015-04-05"
        assert post.body.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
        root = ET.fromstring(post.body)
        assert root.findtext("GoalStateIncarnation") == "7"
        role = root.find("Container/RoleInstanceList/Role")
        assert role is not None
        assert role.findtext("Health/State") == "Ready"
        # A Ready report carries no details.
        assert role.find("Health/Details") is None


def test_the_rdp_certificate_thumbprint_is_posted_as_a_role_property() -> None:
    with loaded() as guest:
        assert guest.service.can_post_rdp_cert_thumbprint is True
        guest.service.post_rdp_cert_thumbprint("0123456789ABCDEF0123456789ABCDEF01234567")
        assert guest.model.role_properties == [
            azure.RoleProperty(
                azure.DEFAULT_CONTAINER_ID,
                INSTANCE_ID,
                "CertificateThumbprint",
                "0123456789ABCDEF0123456789ABCDEF01234567",
            )
        ]
        (post,) = _posted(guest, "/machine?comp=roleProperties")
        assert post.header("Content-Type") == "text/xml; charset=utf-8"


def test_a_refused_health_post_fails_the_report_after_retries() -> None:
    fault = Fault(path="/machine", method="POST", status=500)
    with loaded(faults=[fault]) as guest:
        with pytest.raises(requests.HTTPError, match="500"):
            guest.service.provisioning_started()
        assert guest.model.health_reports == []
        assert guest.sleeps == [4.0] * 5


# --- certificates ------------------------------------------------------------------------------


def test_server_certificates_decrypt_to_the_cloud_pfx_for_each_stored_certificate() -> None:
    stored = [
        {"name": "rdp", "certificate_id": "sha1:AA", "store_name": "My"},
        {
            "name": "user",
            "certificate_id": "sha1:BB",
            "store_name": "Root",
            "configuration_level": "CurrentUser",
        },
    ]
    with loaded({"stored_certificates": stored}) as guest:
        certs = guest.service.get_server_certs()
        pfx = (FIXTURES / "certificates.pfx").read_bytes()
        assert certs == [
            {
                "store_name": "My",
                "store_location": "LocalMachine",
                "certificate_id": "sha1:AA",
                "name": "rdp",
                "pfx_data": pfx,
            },
            {
                "store_name": "Root",
                "store_location": "CurrentUser",
                "certificate_id": "sha1:BB",
                "name": "user",
                "pfx_data": pfx,
            },
        ]


def test_the_default_stored_certificate_is_the_pfx_certificate() -> None:
    with loaded() as guest:
        (cert,) = guest.service.get_server_certs()
        assert cert["certificate_id"] == f"sha1:{PFX_THUMBPRINT}"
        assert azure.pfx_thumbprint(cert["pfx_data"]) == PFX_THUMBPRINT


def test_certificates_are_fetched_with_a_fresh_transport_certificate_every_call() -> None:
    with loaded() as guest:
        guest.service.get_server_certs()
        guest.service.get_server_certs()
        fetches = [r for r in guest.cloud.seen if "comp=certificates" in r.path]
        assert len(fetches) == 2
        headers = [r.header("x-ms-guest-agent-public-x509-cert") for r in fetches]
        assert all(h and "\n" not in h and "\r" not in h for h in headers)
        assert headers[0] != headers[1]
        hosting = [r for r in guest.cloud.seen if "type=hostingEnvironmentConfig" in r.path]
        assert len(hosting) == 2
        assert guest.model.certificate_downloads == 2
        # Neither the transport certificate nor the PFX reaches the trace.
        trace = guest.trace.to_jsonl()
        assert "MII" not in trace
        assert headers[0] is not None and headers[0] not in trace


def test_a_goal_state_without_certificates_gives_an_empty_list() -> None:
    with loaded({"pfx": None}) as guest:
        assert guest.service.get_server_certs() == []
        assert not [r for r in guest.cloud.seen if "/machine/" in r.path]


def test_absolute_configuration_urls_are_used_verbatim() -> None:
    with loaded() as guest:
        guest.service.get_server_certs()
        container, role = azure.DEFAULT_CONTAINER_ID, INSTANCE_ID
        assert [e.get("url") for e in guest.trace.of_kind("http")][-2:] == [
            f"http://168.63.129.16/machine/{container}/{role}?comp=certificates&incarnation=1",
            f"http://168.63.129.16/machine/{container}/{role}"
            "?comp=config&type=hostingEnvironmentConfig&incarnation=1",
        ]


# --- XML as the agent reads it -----------------------------------------------------------------


def test_the_xml_reader_keeps_prefixes_and_ignores_namespace_bindings() -> None:
    root = parse_xml(b'<a xmlns="urn:x" xmlns:p="urn:y"><p:b>1</p:b><c/></a>')
    assert root.tag == "a"
    assert [child.tag for child in root] == ["p:b", "c"]


def test_the_xml_reader_refuses_entity_declarations() -> None:
    document = b'<!DOCTYPE a [<!ENTITY x "boom">]><a>&x;</a>'
    with pytest.raises(AzureMetadataError, match="entity"):
        parse_xml(document)


# --- a whole machine ---------------------------------------------------------------------------


def _run_machine(
    spec: Mapping[str, Any] | None = None, faults: Sequence[Fault] = (), **options: Any
) -> tuple[RunResult, Any]:
    conf = config_from_options(
        {
            "DEFAULT": {
                "metadata_services": [SERVICE_PATH],
                "plugins": [PLUGINS["hostname"], PLUGINS["createuser"], PLUGINS["password"]],
                "metadata_report_provisioning_started": True,
                "metadata_report_provisioning_completed": True,
                **options,
            }
        },
        "test",
    )
    source = DocumentSource("azure", {"type": "azure", **(spec or {})})
    state = default_windows_state()
    azure.attach(state, source)
    clouds = azure.build(source)
    machine = Machine(conf, state=state, clouds=clouds, dhcp_servers=DEFAULT_DHCP, faults=faults)
    return machine.run(), clouds[0]


def test_a_first_boot_on_azure() -> None:
    result, cloud = _run_machine()
    assert [b.outcome for b in result.boots] == ["reboot", "stopped"]
    assert result.state.computer_name == "az-sim-01"
    user = result.state.find_user("simadmin")
    assert user is not None
    assert user.password == "Sim-Passw0rd!2026"
    admins = result.state.find_group("Administrators")
    assert admins is not None and "simadmin" in admins.members
    assert cloud.model.health_states == [
        "NotReady/Provisioning",
        "NotReady/Provisioning",
        "Ready",
    ]
    plugins_key = f"{AGENT_KEY}\\{INSTANCE_ID}\\Plugins"
    assert result.state.registry.get_value(plugins_key, "CreateUserPlugin").data == 1


def test_a_failing_plugin_is_reported_as_provisioning_failed() -> None:
    result, cloud = _run_machine(
        drive_spec(ovf_env=ovf_env("<ComputerName>WIN-GUESTSIM01</ComputerName>"))
    )
    assert result.boot_count == 1
    assert cloud.model.health_states == ["NotReady/Provisioning", "NotReady/ProvisioningFailed"]


def test_a_failing_started_report_stops_the_run_before_main() -> None:
    # Upstream does not guard the "started" report: the agent exits before MAIN.
    fault = Fault(path="/machine", method="POST", status=500)
    result, cloud = _run_machine(faults=[fault])
    assert result.boots[-1].outcome == "crashed"
    assert result.trace.of_kind("plugin_start") == []
    assert cloud.model.health_reports == []


def test_the_same_seed_gives_the_same_trace_despite_the_random_transport_key() -> None:
    first, _ = _run_machine()
    second, _ = _run_machine()
    assert first.trace.to_jsonl() == second.trace.to_jsonl()
