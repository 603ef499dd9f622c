"""Log levels that follow upstream's for the same event.

Each message below was once logged at another level than the published cloudbase-init
1.1.9 logs the same event (found by running the library with both agents and comparing
their log lines, then reading upstream's log calls for the paths the library does not
reach). A CI that greps a guest's log for WARNING or ERROR must see the same lines with
either agent. Wording stays guestsim's own; only the level is upstream's.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from guestsim.simulator.paths import bundled
from guestsim.simulator.windows.defaults import default_windows_state
from tests.agent import test_metadata_cloudstack as cs
from tests.agent import test_metadata_gce as gce
from tests.agent.test_metadata_nocloud import service as nocloud_service
from tests.agent.test_metadata_opennebula import service_for as opennebula_for
from tests.agent.test_metadata_ovf import service_for as ovf_for
from tests.builders import library_outcome

LIBRARY = bundled("scenarios")


def levels(caplog: pytest.LogCaptureFixture, fragment: str) -> list[str]:
    """The levels of the captured records whose message contains ``fragment``."""
    return [r.levelname for r in caplog.records if fragment in r.getMessage()]


def machine_levels(scenario: str, logger: str, fragment: str) -> list[str]:
    """The levels of a library scenario's machine log lines of ``logger`` that contain
    ``fragment`` (lines read ``boot N LEVEL logger: message``)."""
    result = library_outcome(Path(LIBRARY, scenario)).result
    found = []
    for line in result.log:
        _boot, _n, level, name, message = line.split(" ", 4)
        if name == f"{logger}:" and fragment in message:
            found.append(level)
    return found


# --- CloudStack's password server (upstream: cloudstack._get_password/_delete_password) ----


def test_cloudstack_no_password_pending_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    g = cs.guest()
    _, apps = cs.router(password=None)
    service = cs.loaded(g, apps)
    with cs.serving(g, apps), caplog.at_level(logging.DEBUG):
        assert service.is_password_changed() is False
    assert levels(caplog, "has no password") == ["WARNING"] * 5


@pytest.mark.parametrize(
    ("answer", "fragment", "level"),
    [
        ("bad_request", "did not understand the password request", "ERROR"),
        ("saved_password", "already fetched and acknowledged", "WARNING"),
    ],
)
def test_cloudstack_refusals_of_the_password_request(
    caplog: pytest.LogCaptureFixture, answer: str, fragment: str, level: str
) -> None:
    g = cs.guest()
    apps, _ = cs.with_scripted([(200, answer)])
    service = cs.loaded(g, apps)
    with cs.serving(g, apps), caplog.at_level(logging.DEBUG):
        assert service.is_password_changed() is False
    assert levels(caplog, fragment) == [level]


def test_cloudstack_password_fetched_and_removed_are_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    g = cs.guest()
    _, apps = cs.router()
    service = cs.loaded(g, apps)
    with cs.serving(g, apps), caplog.at_level(logging.DEBUG):
        assert service.get_admin_password() == cs.PASSWORD
    assert levels(caplog, "Got the instance password") == ["INFO"]
    assert levels(caplog, "removed the instance password") == ["INFO"]


def test_cloudstack_password_never_acknowledged_is_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    g = cs.guest()
    apps, _ = cs.with_scripted([(200, cs.PASSWORD)] + [(200, "bad_request")] * 5)
    service = cs.loaded(g, apps)
    with cs.serving(g, apps), caplog.at_level(logging.DEBUG):
        assert service.get_admin_password() == cs.PASSWORD
    assert levels(caplog, "did not acknowledge") == ["ERROR"]


def test_cloudstack_password_lines_in_the_machine_log() -> None:
    scenario = "clouds/cloudstack-password-once.yaml"
    logger = "agent.metadata.cloudstack"
    assert machine_levels(scenario, logger, "Got the instance password") == ["INFO", "INFO"]
    assert machine_levels(scenario, logger, "already fetched") == ["WARNING"]


# --- GCE (upstream: gceservice) -----------------------------------------------------------


def test_gce_expired_key_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    line = f"Admin:{gce.KEY_TYPE} {gce.KEY_BODY} {gce.google_ssh('Admin', gce.PAST)}"
    with caplog.at_level(logging.DEBUG):
        assert gce.keys(gce.cloud(attributes={"ssh-keys": line})) == []
    assert levels(caplog, "expired SSH key") == ["WARNING"]


def test_gce_key_of_another_user_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    line = gce.key_line("bob", "bob")
    with caplog.at_level(logging.DEBUG):
        assert gce.keys(gce.cloud(attributes={"ssh-keys": line})) == []
    assert levels(caplog, "Skipping an SSH key of user bob") == ["WARNING"]


def test_gce_user_data_without_an_encoding_is_info(caplog: pytest.LogCaptureFixture) -> None:
    subject = gce.agent()
    with gce.serving(gce.cloud(attributes={"user-data": "x"})), caplog.at_level(logging.DEBUG):
        assert subject.service.get_user_data() == b"x"
    assert levels(caplog, "No user-data-encoding attribute") == ["INFO"]


def test_gce_missing_block_project_keys_is_debug_and_missing_keys_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        assert gce.keys(gce.cloud()) == []
    assert levels(caplog, "block-project-ssh-keys") == ["DEBUG"]
    assert levels(caplog, "instance/attributes/ssh-keys") == ["WARNING"]
    assert levels(caplog, "project/attributes/ssh-keys") == ["WARNING"]


# --- Azure, discovery, OVF, OpenNebula, NoCloud ---------------------------------------------


def test_azure_default_wireserver_address_is_debug() -> None:
    assert machine_levels(
        "clouds/azure-wireserver-fallback.yaml",
        "agent.metadata.azure",
        "using the default WireServer address",
    ) == ["DEBUG"]


def test_azure_load_failure_is_an_error() -> None:
    assert machine_levels(
        "clouds/azure-single-version.yaml", "agent.metadata.azure", "Azure metadata not found"
    ) == ["ERROR"]


def test_a_raising_load_reports_its_exception_as_an_error() -> None:
    found = machine_levels(
        "config-drives/vmware-unknown-encoding.yaml", "agent.metadata.factory", "Load failure"
    )
    assert found == ["ERROR"] * 2  # one per boot


def test_ovf_without_an_environment_is_an_error(caplog: pytest.LogCaptureFixture) -> None:
    service, _ = ovf_for(default_windows_state())
    with caplog.at_level(logging.DEBUG):
        assert service.load() is False
    assert levels(caplog, "No usable OVF environment") == ["ERROR"]


def test_opennebula_without_a_context_is_an_error(caplog: pytest.LogCaptureFixture) -> None:
    service, _ = opennebula_for(default_windows_state())
    with caplog.at_level(logging.DEBUG):
        assert service.load() is False
    assert levels(caplog, "No CD-ROM holds context.sh") == ["ERROR"]


def test_opennebula_context_found_is_info() -> None:
    found = machine_levels(
        "config-drives/opennebula-happy-path.yaml",
        "agent.metadata.opennebula",
        "Reading OpenNebula context from",
    )
    assert found == ["INFO"] * 2  # one per boot


def test_nocloud_unparsable_network_config_is_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    svc = nocloud_service({"instance-id": "iid-1"}, network_config="version: [1\n")
    with caplog.at_level(logging.DEBUG):
        assert svc.get_network_details_v2() is None
    assert levels(caplog, "network-config on the NoCloud drive does not parse") == ["ERROR"]
