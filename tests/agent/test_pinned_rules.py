"""Rules a mutation-testing pass found unguarded; each test fails when its rule is broken.

Every test runs the real agent on a simulated machine (or a scenario file) and checks what
a user can see: the final machine state, the trace, the requests the simulated clouds
recorded, plugin statuses and the run's outcome. No mocks.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from guestsim.agent.config import config_from_options
from guestsim.agent.metadata.openstack import PASSWORD_API_VERSION
from guestsim.agent.version import AGENT_VERSION
from guestsim.simulator import media
from guestsim.simulator.clouds.base import CloudApp, SimRequest, SimResponse, text
from guestsim.simulator.clouds.openstack import OpenStackCloud, OpenStackModel
from guestsim.simulator.expectations import outcome_of
from guestsim.simulator.faults import Fault
from guestsim.simulator.machine import DEFAULT_MAX_BOOTS, Machine, RunResult
from guestsim.simulator.scenario import ScenarioOutcome, load_scenario, run_scenario
from guestsim.simulator.trace import Event
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.scripts import ScriptDeclaration, ScriptRunSpec
from guestsim.simulator.windows.state import AGENT_BIN_DIR, SYSPREP_KEY, UserAccount, WindowsState
from guestsim.simulator.windows.storage import attach_cdrom, attach_disk
from tests.builders import FIXTURES, HTTP_SERVICE, PLUGIN, meta_data, openstack_machine, public_key

CONFIG_DRIVE = "cloudbaseinit.metadata.services.configdrive.ConfigDriveService"
USER_DATA = "cloudbaseinit.plugins.common.userdata.UserDataPlugin"
CERT_AUTH = "cloudbaseinit.plugins.windows.winrmcertificateauth.ConfigWinRMCertificateAuthPlugin"
CLIENT_PEM = (FIXTURES / "certs" / "winrm-client-admin.pem").read_text()
CLIENT_THUMBPRINT = "ACA6A0D5D9B75B0C1C69BA1433FA890E41B04F9D"
CLIENT_UPN = "Admin@localhost"
DRIVE_ID = "4c3b2a19-0f8e-4d7c-a6b5-948372615a0b"
PASSWORD_PATH = f"/openstack/{PASSWORD_API_VERSION}/password"


# --- helpers -----------------------------------------------------------------------------------


def run_scenario_text(tmp_path: Path, body: str) -> ScenarioOutcome:
    path = tmp_path / "pinned.yaml"
    path.write_text(body, encoding="utf-8")
    return run_scenario(load_scenario(path))


def plugin_ends(result: RunResult, plugin: str) -> list[Event]:
    return [e for e in result.trace.of_kind("plugin_end") if e.get("plugin") == plugin]


def searches(result: RunResult) -> list[tuple[Any, Any, Any]]:
    return [
        (e.get("type"), e.get("location"), e.get("result"))
        for e in result.trace.of_kind("config_drive_search")
    ]


def loaded_instance_id(result: RunResult) -> Any:
    return result.trace.of_kind("metadata_service")[-1].get("instance_id")


def sleeps_during(result: RunResult, plugin: str) -> list[float]:
    """The guest sleeps (seconds) between the plugin's start and its end."""
    start = next(e for e in result.trace.of_kind("plugin_start") if e.get("plugin") == plugin)
    end = plugin_ends(result, plugin)[0]
    return [
        float(e.get("seconds"))
        for e in result.trace.of_kind("sleep")
        if start.seq < e.seq < end.seq
    ]


def decrypt(ciphertext_b64: str) -> str:
    key = serialization.load_pem_private_key(
        (FIXTURES / "keys" / "test-rsa-2048.pem").read_bytes(), password=None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.decrypt(base64.b64decode(ciphertext_b64, validate=True), padding.PKCS1v15()).decode()


def drive_files(**overrides: bytes) -> dict[str, bytes]:
    files = media.openstack_layout(
        meta_data={"uuid": DRIVE_ID, "hostname": "drive-host"}, user_data=b"rem cmd\r\n"
    )
    files.update(overrides)
    return files


def drive_machine(
    state: WindowsState,
    plugins: tuple[str, ...] = (PLUGIN["hostname"],),
    config_drive: dict[str, Any] | None = None,
) -> Machine:
    conf = config_from_options(
        {
            "DEFAULT": {
                "metadata_services": [CONFIG_DRIVE],
                "plugins": list(plugins),
                "allow_reboot": False,
                "bsdtar_path": f"{AGENT_BIN_DIR}\\bsdtar.exe",
                "mtools_path": AGENT_BIN_DIR,
            },
            "config_drive": config_drive or {},
        },
        "test",
    )
    return Machine(conf, state=state)


def openstack_with_faults(
    plugins: tuple[str, ...], faults: list[Fault], document: dict[str, Any] | None = None
) -> tuple[Machine, OpenStackCloud]:
    conf = config_from_options(
        {"DEFAULT": {"metadata_services": [HTTP_SERVICE], "plugins": list(plugins)}}, "test"
    )
    cloud = OpenStackCloud(OpenStackModel(meta_data=document or meta_data()))
    return Machine(conf, clouds=[cloud], faults=faults), cloud


# --- 1: the agent waits for sysprep before any plugin runs -------------------------------------


def test_rule_sysprep_completion_is_awaited_before_any_plugin_runs(tmp_path: Path) -> None:
    outcome = run_scenario_text(
        tmp_path,
        """
description: Sysprep still needs 30 guest seconds when the agent starts.
machine:
  sysprep_seconds: 30
cloud:
  type: openstack
agent:
  options:
    DEFAULT:
      metadata_services: [cloudbaseinit.metadata.services.httpservice.HttpService]
      plugins: [cloudbaseinit.plugins.windows.createuser.CreateUserPlugin]
expect:
  boots: 1
  plugins: {CreateUserPlugin: done}
""",
    )
    result = outcome.result

    assert outcome.failures == []
    first_plugin = result.trace.of_kind("plugin_start")[0]
    assert first_plugin.t_ms >= 30_000
    waits = [e for e in result.trace.of_kind("sleep") if e.seq < first_plugin.seq]
    assert sum(float(e.get("seconds")) for e in waits) == 30
    agent_start = result.trace.of_kind("agent_start")[0]
    assert all(e.seq > agent_start.seq for e in waits)
    assert result.state.registry.get_value(SYSPREP_KEY, "GeneralizationState").data == 7


# --- 2: a failing "provisioning completed" report is logged and swallowed ----------------------


def test_rule_failing_provisioning_completed_report_does_not_crash_the_agent(
    tmp_path: Path,
) -> None:
    outcome = run_scenario_text(
        tmp_path,
        """
description: The Packet phone-home endpoint refuses the completion report.
cloud:
  type: packet
faults:
  - {path: /phone-home, method: POST, status: 500}
agent:
  options:
    DEFAULT:
      metadata_services: [cloudbaseinit.metadata.services.packet.PacketService]
      metadata_report_provisioning_completed: true
      plugins: [cloudbaseinit.plugins.windows.createuser.CreateUserPlugin]
expect:
  boots: 1
  outcome: stopped
  provisioning: [completed]
""",
    )
    result = outcome.result

    assert outcome.failures == []
    assert [(b.outcome, b.exit_code) for b in result.boots] == [("stopped", 0)]
    assert outcome_of(result) == "stopped"
    assert [e.get("state") for e in result.trace.of_kind("provisioning_report")] == ["completed"]
    # The report really failed (every attempt hit the fault) ...
    posts = [e for e in result.trace.of_kind("http") if e.get("method") == "POST"]
    assert posts and all(e.get("status") == 500 for e in posts)
    # ... and the agent still went on to stop its service and exit normally.
    assert len(result.trace.of_kind("agent_service_stopped")) == 1
    assert [e.get("exit_code") for e in result.trace.of_kind("agent_exit")] == [0]
    assert result.findings == []


# --- 3: after a failed (type, location) step the config-drive search goes on -------------------


def test_rule_config_drive_search_continues_after_a_failed_step() -> None:
    # A CD-ROM labelled config-2 whose meta_data.json is a folder: reading it fails, so the
    # whole iso/cdrom step fails. The good drive is a raw disk: the iso/hdd step.
    damaged = {
        "openstack/latest/meta_data.json/oops": b"{}",
        "openstack/latest/user_data": b"rem cmd\r\n",
    }
    state = default_windows_state()
    attach_cdrom(state, media.build_iso(damaged, "config-2"))
    attach_disk(state, media.build_iso(drive_files(), "config-2"))

    result = drive_machine(state).run()

    steps = searches(result)
    assert steps[0] == ("iso", "cdrom", "error")
    assert ("iso", "hdd", "found") in steps
    assert loaded_instance_id(result) == DRIVE_ID
    assert result.state.pending_computer_name == "drive-host"


# --- 4: password posting ------------------------------------------------------------------------


def test_rule_a_refused_password_post_fails_set_user_password() -> None:
    machine, cloud = openstack_with_faults(
        (PLUGIN["createuser"], PLUGIN["password"]),
        [Fault(path=PASSWORD_PATH, method="POST", status=409)],
    )

    result = machine.run()

    (end,) = plugin_ends(result, "SetUserPasswordPlugin")
    assert end.get("success") is False
    assert "409" in str(end.get("error"))
    assert [e.get("success") for e in plugin_ends(result, "CreateUserPlugin")] == [True]
    assert [e.get("plugin") for e in result.trace.of_kind("plugin_skipped")] == []
    assert cloud.model.password == ""
    # A plugin failure is no crash.
    assert [(b.outcome, b.exit_code) for b in result.boots] == [("stopped", 0)]


def test_rule_openstack_without_the_password_api_is_never_posted_a_password() -> None:
    # An older Nova: nothing of the 2013-04-04 API version exists.
    machine, cloud = openstack_with_faults(
        (PLUGIN["createuser"], PLUGIN["password"]),
        [Fault(path=f"/openstack/{PASSWORD_API_VERSION}/*", status=404)],
    )

    result = machine.run()

    (end,) = plugin_ends(result, "SetUserPasswordPlugin")
    assert end.get("success") is True
    assert [r for r in cloud.requests if r.method == "POST"] == []
    assert [e for e in result.trace.of_kind("http") if e.get("method") == "POST"] == []
    admin = result.state.find_user("Admin")
    assert admin is not None and admin.password


def test_rule_openstack_with_the_password_api_gets_the_password_posted() -> None:
    """The counterpart of the test above: the same run with the API posts once."""
    machine, cloud = openstack_with_faults((PLUGIN["createuser"], PLUGIN["password"]), [])

    result = machine.run()

    admin = result.state.find_user("Admin")
    assert admin is not None
    assert [r.path for r in cloud.requests if r.method == "POST"] == [PASSWORD_PATH]
    assert decrypt(cloud.model.password) == admin.password


# --- 5: the default boot limit is finite ------------------------------------------------------


def test_rule_default_max_boots_ends_an_endless_reboot_loop(tmp_path: Path) -> None:
    # Checked first: a non-integer default would make the run below never end.
    assert isinstance(DEFAULT_MAX_BOOTS, int) and not isinstance(DEFAULT_MAX_BOOTS, bool)
    assert DEFAULT_MAX_BOOTS == 10
    outcome = run_scenario_text(
        tmp_path,
        """
description: A user-data script that asks for a reboot and a rerun every time; no max_boots.
cloud:
  type: openstack
  user_data: |
    #ps1_sysnative
    # pinned-forever
    exit 1003
scripts:
  - name: forever
    marker: "# pinned-forever"
    runs: [{exit_code: 1003}]
agent:
  options:
    DEFAULT:
      metadata_services: [cloudbaseinit.metadata.services.httpservice.HttpService]
      plugins: [cloudbaseinit.plugins.common.userdata.UserDataPlugin]
expect:
  boots: 10
  outcome: reboot_loop
""",
    )
    result = outcome.result

    assert outcome.failures == []
    assert result.boot_count == DEFAULT_MAX_BOOTS
    assert outcome_of(result) == "reboot_loop"
    assert [e.get("boots") for e in result.trace.of_kind("reboot_loop")] == [DEFAULT_MAX_BOOTS]


def test_rule_a_machine_built_without_max_boots_stops_at_default_max_boots() -> None:
    assert isinstance(DEFAULT_MAX_BOOTS, int) and DEFAULT_MAX_BOOTS == 10
    conf = config_from_options(
        {"DEFAULT": {"metadata_services": [HTTP_SERVICE], "plugins": [USER_DATA]}}, "test"
    )
    state = default_windows_state()
    cloud = OpenStackCloud(
        OpenStackModel(meta_data=meta_data(), user_data=b"#ps1_sysnative\r\nexit 1003\r\n")
    )
    # Every run of an undeclared script exits 0; declare this one as 1003 forever.
    state.scripts.declarations = [
        ScriptDeclaration("forever", marker="exit 1003", runs=(ScriptRunSpec(exit_code=1003),))
    ]

    result = Machine(conf, state=state, clouds=[cloud]).run()

    assert result.boot_count == DEFAULT_MAX_BOOTS
    assert result.reboot_loop
    assert [b.outcome for b in result.boots] == ["reboot"] * DEFAULT_MAX_BOOTS


# --- 6: a PEM certificate as user data, for WinRM certificate auth ------------------------------


def test_rule_pem_user_data_is_the_winrm_client_certificate_when_metadata_has_none() -> None:
    machine, _ = openstack_machine(
        ("createuser", "password", CERT_AUTH), user_data=CLIENT_PEM.encode()
    )

    result = machine.run()

    (end,) = plugin_ends(result, "ConfigWinRMCertificateAuthPlugin")
    assert end.get("success") is True
    assert result.state.winrm.auth.certificate is True
    root = result.state.certificates.find("LocalMachine", "Root", CLIENT_THUMBPRINT)
    assert root is not None and root.upn == CLIENT_UPN
    admin = result.state.find_user("Admin")
    assert admin is not None
    assert [(m.issuer, m.subject, m.username) for m in result.state.winrm.cert_mappings] == [
        (CLIENT_THUMBPRINT, CLIENT_UPN, "Admin")
    ]


# --- 7: the deprecated [config_drive] cdrom switch adds type iso --------------------------------


def _vfat_cdrom_only_search(cdrom: bool) -> RunResult:
    state = default_windows_state()
    attach_cdrom(state, media.build_iso(drive_files(), "config-2"))
    options = {
        "types": ["vfat"],
        "locations": ["cdrom"],
        "raw_hdd": False,
        "vfat": False,
        "cdrom": cdrom,
    }
    return drive_machine(state, config_drive=options).run()


def test_rule_deprecated_cdrom_switch_adds_the_iso_type_to_the_search() -> None:
    result = _vfat_cdrom_only_search(cdrom=True)

    assert ("iso", "cdrom", "found") in searches(result)
    assert loaded_instance_id(result) == DRIVE_ID
    # Without the switch the same drive is not looked for at all.
    without = _vfat_cdrom_only_search(cdrom=False)
    assert [s for s in searches(without) if s[0] == "iso"] == []
    assert loaded_instance_id(without) is None


# --- 8: a not-modelled end is not a "stopped" run ------------------------------------------------


def test_rule_a_not_modelled_run_fails_an_expected_stopped_outcome(tmp_path: Path) -> None:
    outcome = run_scenario_text(
        tmp_path,
        """
description: Licensing of Windows Server 2008 is not modelled by the fake Windows.
machine:
  os_version: "6.0.6002"
cloud:
  type: openstack
agent:
  options:
    DEFAULT:
      metadata_services: [cloudbaseinit.metadata.services.httpservice.HttpService]
      activate_windows: true
      plugins: [cloudbaseinit.plugins.windows.licensing.WindowsLicensingPlugin]
expect:
  boots: 1
  outcome: stopped
""",
    )

    assert [b.outcome for b in outcome.result.boots] == ["not_modelled"]
    assert outcome_of(outcome.result) == "not_modelled"
    assert not outcome.passed
    assert any(failure.startswith("outcome: expected 'stopped'") for failure in outcome.failures)


# --- 9: where SetUserPasswordPlugin's password comes from ---------------------------------------


def _admin_password(state: WindowsState, *plugins: str) -> tuple[str | None, OpenStackCloud]:
    machine, cloud = openstack_machine(plugins, state=state, seed=3)
    admin = machine.run().state.find_user("Admin")
    assert admin is not None
    return admin.password, cloud


def _existing_admin() -> WindowsState:
    state = default_windows_state()
    state.users.append(UserAccount("Admin", state.next_rid(), password="Old-Passw0rd"))
    return state


def test_rule_set_user_password_generates_its_own_password_for_an_existing_user() -> None:
    # CreateUser only resets an existing user's password and shares nothing, so
    # SetUserPassword must generate a new random password, not reuse CreateUser's.
    by_create_user, _ = _admin_password(_existing_admin(), "createuser")
    final, cloud = _admin_password(_existing_admin(), "createuser", "password")

    assert by_create_user and final
    assert final != by_create_user
    assert final != "Old-Passw0rd"
    assert len(final) == 20
    assert decrypt(cloud.model.password) == final


def test_rule_set_user_password_reuses_the_password_of_a_user_create_user_created() -> None:
    # Reference 3.4: for a user it created, CreateUser shares its password and
    # SetUserPassword sets (and posts) that one.
    by_create_user, _ = _admin_password(default_windows_state(), "createuser")
    final, cloud = _admin_password(default_windows_state(), "createuser", "password")

    assert final == by_create_user
    assert decrypt(cloud.model.password) == final


# --- 10: drive-based services never retry a failed read -----------------------------------------


def test_rule_drive_based_service_never_retries_a_failed_read() -> None:
    # user_data is a folder on the drive: reading it fails (not "missing").
    files = drive_files()
    del files["openstack/latest/user_data"]
    files["openstack/latest/user_data/oops"] = b"x"
    state = default_windows_state()
    attach_cdrom(state, media.build_iso(files, "config-2"))

    result = drive_machine(state, plugins=(USER_DATA,)).run()

    assert loaded_instance_id(result) == DRIVE_ID
    (end,) = plugin_ends(result, "UserDataPlugin")
    assert end.get("success") is False
    assert sleeps_during(result, "UserDataPlugin") == []
    assert end.t_ms == 0


def test_rule_http_service_retries_a_failed_read() -> None:
    """The counterpart: the HTTP service retries a 503 on user data after a sleep."""
    machine, _ = openstack_with_faults(
        (USER_DATA,), [Fault(path="/openstack/latest/user_data", status=503, first=2)]
    )

    result = machine.run()

    user_data_gets = [
        e for e in result.trace.of_kind("http") if str(e.get("url")).endswith("/user_data")
    ]
    assert [e.get("status") for e in user_data_gets] == [503, 503, 404]
    assert sleeps_during(result, "UserDataPlugin") == [4.0, 4.0]


# --- 11: https_ca_bundle / verify --------------------------------------------------------------
# The agent's requests show the client settings they were made with in their ``http`` trace
# events (``verify``, ``timeout``) wherever those differ from requests' defaults.


def metadata_verify_flags(openstack_options: dict[str, Any]) -> list[Any]:
    conf = config_from_options(
        {
            "DEFAULT": {"metadata_services": [HTTP_SERVICE], "plugins": [PLUGIN["hostname"]]},
            "openstack": openstack_options,
        },
        "test",
    )
    cloud = OpenStackCloud(OpenStackModel(meta_data=meta_data()))
    result = Machine(conf, clouds=[cloud]).run()
    # Each boot's route check GETs the base URL first, a plain GET with requests' defaults
    # whatever the options say; the metadata requests are the others.
    http = result.trace.of_kind("http")
    checks = [e for e in http if e.get("url") == "http://169.254.169.254/"]
    assert [e.get("verify", True) for e in checks] == [True] * result.boot_count
    events = [e for e in http if e not in checks]
    assert events
    return [event.get("verify", True) for event in events]


def test_rule_metadata_requests_skip_tls_verification_by_default_as_upstream() -> None:
    # Upstream hands https_allow_insecure (default false) to requests as `verify`.
    assert set(metadata_verify_flags({})) == {False}


def test_rule_https_allow_insecure_true_is_passed_as_verify_true() -> None:
    assert set(metadata_verify_flags({"https_allow_insecure": True})) == {True}


def test_rule_https_ca_bundle_is_the_verify_argument() -> None:
    bundle = "C:\\certs\\metadata-ca.pem"
    assert set(metadata_verify_flags({"https_ca_bundle": bundle})) == {bundle}


# --- 12: the Jinja instance-data keys ---------------------------------------------------------


TEMPLATE = """## template: jinja
#cloud-config
write_files:
  - path: C:\\pinned\\instance.txt
    content: |
      id={{ v1['instance-id'] }}
      id_={{ v1.instance_id }}
      host={{ v1['local-hostname'] }}
      host_={{ v1.local_hostname }}
      top={{ local_hostname }} {{ instance_id }}
      ds={{ ds.meta_data.hostname }} {{ ds.meta_data['instance-id'] }}
      keys={{ v1.public_ssh_keys | length }} {{ public_ssh_keys[0] }}
"""


def test_rule_jinja_user_data_renders_the_instance_data_keys() -> None:
    document = meta_data(uuid="i-pinned-01", hostname="tmpl-host.example")
    machine, _ = openstack_machine(
        (USER_DATA,), document=document, user_data=TEMPLATE.encode("utf-8")
    )

    result = machine.run()

    (end,) = plugin_ends(result, "UserDataPlugin")
    assert end.get("success") is True
    content = result.state.files.read("C:\\pinned\\instance.txt").decode("utf-8")
    assert content.splitlines() == [
        "id=i-pinned-01",
        "id_=i-pinned-01",
        "host=tmpl-host.example",
        "host_=tmpl-host.example",
        "top=tmpl-host.example i-pinned-01",
        "ds=tmpl-host.example i-pinned-01",
        f"keys=1 {public_key()}",
    ]


# --- 13: the version-update check --------------------------------------------------------------


class UpdateServer(CloudApp):
    """cloudbase.it's update check, answering that a newer version exists."""

    name = "cloudbase-updates"

    def __init__(self) -> None:
        super().__init__("https://www.cloudbase.it/")
        self.route("GET", r"/checkupdates\.php(\?.*)?", self._check)

    def _check(self, request: SimRequest) -> SimResponse:
        return text(json.dumps({"new_version": "9.9.9"}), content_type="application/json")


def machine_with_update_server(updates: UpdateServer, options: dict[str, Any]) -> Machine:
    conf = config_from_options(
        {
            "DEFAULT": {
                "metadata_services": [HTTP_SERVICE],
                "plugins": [PLUGIN["createuser"]],
                **options,
            }
        },
        "test",
    )
    cloud = OpenStackCloud(OpenStackModel(meta_data=meta_data()))
    return Machine(conf, clouds=[cloud, updates])


def test_rule_version_check_asks_cloudbase_with_product_version_and_user_agent() -> None:
    updates = UpdateServer()

    result = machine_with_update_server(updates, {"check_latest_version": True}).run()

    query = urlencode({"p": "Cloudbase-Init", "v": AGENT_VERSION})
    (request,) = updates.requests
    assert (request.method, request.path, request.status) == (
        "GET",
        f"/checkupdates.php?{query}",
        200,
    )
    assert request.header("User-Agent") == "Cloudbase-Init"
    checks = [e for e in result.trace.of_kind("http") if "cloudbase.it" in str(e.get("url"))]
    assert [(e.get("method"), e.get("url")) for e in checks] == [
        ("GET", f"https://www.cloudbase.it/checkupdates.php?{query}")
    ]
    # Upstream sets no timeout on it; the wire record carries one only when one is set.
    assert ["timeout" in e.fields for e in checks] == [False]
    assert any("Found new version of cloudbase-init 9.9.9" in line for line in result.log)


def test_rule_version_check_is_off_by_default() -> None:
    updates = UpdateServer()

    machine_with_update_server(updates, {}).run()

    assert updates.requests == []
