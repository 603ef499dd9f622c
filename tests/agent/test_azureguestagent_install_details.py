"""AzureGuestAgentPlugin: the details of an install a user checks on the guest — the log lines,
the services' names and command lines, the registry value names as Azure's tools read
them, how the package's folders are unpacked, and a folder Windows refuses to delete.

The machines are those of ``test_platform_plugins.py``: an older agent installed and the
new package on a CD-ROM, the provisioning data handed by a stub metadata service.
"""

from __future__ import annotations

from typing import Any

import pytest

from guestsim.agent.osutils import OSUtilsError
from guestsim.agent.plugins.azureguestagent import member_target
from guestsim.simulator.machine import RunResult
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.osutils import FakeOSUtils
from guestsim.simulator.windows.software import version_resource
from guestsim.simulator.windows.state import WindowsState
from tests.agent.test_platform_plugins import (
    AGENT_VERSION,
    AZURE_AGENT,
    PACKAGE_NAME,
    PACKAGES,
    PROVISION,
    ServiceSaying,
    agent_zip,
    azure_guest,
    done,
    failed,
    run_agent,
)
from tests.builders import register_metadata_service

PREFIX = "boot 1 {level} agent.plugins.azureguestagent: "
PACKAGE = f"D:\\$$\\OEM\\GuestAgent\\{PACKAGE_NAME}"
NANO_TARGET = f"{PACKAGES}\\GuestAgent"
NANO_COMMAND = (
    f'"{NANO_TARGET}\\WaSvc.exe" -name WindowsAzureGuestAgent -ownHost '
    f'-agentPath "{NANO_TARGET}\\WindowsAzureGuestAgent.exe" -logPath "C:\\WindowsAzure\\Logs" '
    "-eventSource WindowsAzureGuestAgent"
)


@pytest.fixture
def cloud_says(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Provisioning data from the stub service -> options that make the agent use it."""
    path = register_metadata_service(monkeypatch, ServiceSaying)

    def say(options: dict[str, Any] | None = None, **answers: Any) -> dict[str, Any]:
        for name, value in answers.items():
            monkeypatch.setattr(ServiceSaying, name, value)
        return {"metadata_services": [path], **(options or {})}

    return say


def plugin_log(result: RunResult) -> list[str]:
    return [line for line in result.log if " agent.plugins.azureguestagent: " in line]


def line(level: str, message: str) -> str:
    return PREFIX.format(level=level) + message


def install_log(removed_folders: list[str]) -> list[str]:
    return [
        line("INFO", "Stopping and removing any existing service: RdAgent"),
        line("INFO", "Stopping and removing any existing service: WindowsAzureTelemetryService"),
        *(line("INFO", f"Removing folder: {folder}") for folder in removed_folders),
        line("INFO", "Stopping the Azure guest agent event traces"),
        line("INFO", "Deleting the Azure guest agent event traces"),
        line("INFO", f"Extracting {PACKAGE} to {PACKAGES}"),
        line("DEBUG", f"Creating service RdAgent: {PACKAGES}\\WaAppAgent.exe"),
        line("INFO", "Azure guest agent version: 2.7.41491.1102"),
    ]


def test_install_steps_are_logged_as_upstream(cloud_says: Any) -> None:
    result = run_agent(cloud_says, PROVISION, azure_guest())

    done(result, AZURE_AGENT)
    assert plugin_log(result) == install_log(["C:\\WindowsAzure", "C:\\Packages"])


def test_install_without_dotnet_4_logs_a_warning_naming_the_service(cloud_says: Any) -> None:
    result = run_agent(cloud_says, PROVISION, azure_guest(dotnet=False))

    done(result, AZURE_AGENT)
    assert plugin_log(result)[-1] == line(
        "WARNING", ".NET Framework 4 is not installed: the RdAgent service is left stopped"
    )


def test_rdagent_service_and_registry_value_names_are_azures(cloud_says: Any) -> None:
    result = run_agent(cloud_says, PROVISION, azure_guest())

    done(result, AZURE_AGENT)
    rdagent = result.state.find_service("RdAgent")
    assert rdagent is not None
    assert (rdagent.name, rdagent.display_name) == ("RdAgent", "RdAgent")
    registry = result.state.registry
    azure = "HKLM\\SOFTWARE\\Microsoft\\Windows Azure"
    agent = "HKLM\\SOFTWARE\\Microsoft\\GuestAgent"
    # Value names keep their case as written; Azure's tools show them so.
    assert [(name, value.data) for name, value in registry.values(azure)] == [("VMType", "IAAS")]
    assert [name for name, _ in registry.values(agent)] == ["Incarnation", "VmProvisionedAt"]


def test_missing_first_folder_does_not_stop_the_removal_of_the_second(cloud_says: Any) -> None:
    state = azure_guest()
    state.files.remove("C:\\WindowsAzure")

    result = run_agent(cloud_says, PROVISION, state)

    done(result, AZURE_AGENT)
    assert not result.state.files.exists("C:\\Packages")
    assert plugin_log(result) == install_log(["C:\\Packages"])


def refuse_to_remove(monkeypatch: pytest.MonkeyPatch, refused: str) -> None:
    """Windows refuses to delete ``refused`` (a file in it is in use)."""
    original = FakeOSUtils.remove_path

    def remove_path(self: FakeOSUtils, path: str) -> None:
        if path.lower() == refused.lower():
            raise OSUtilsError(f"Cannot remove {path}: the file is in use")
        original(self, path)

    monkeypatch.setattr(FakeOSUtils, "remove_path", remove_path)


def test_folder_that_cannot_be_removed_is_logged_and_the_install_goes_on(
    cloud_says: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse_to_remove(monkeypatch, "C:\\Packages")

    result = run_agent(cloud_says, PROVISION, azure_guest())

    done(result, AZURE_AGENT)
    assert line(
        "ERROR",
        "Failed to remove folder: C:\\Packages "
        "(OSUtilsError: Cannot remove C:\\Packages: the file is in use)",
    ) in plugin_log(result)
    assert result.state.files.exists("C:\\Packages\\Plugins")
    assert result.state.find_service("RdAgent") is not None


def test_packages_folder_left_by_a_failed_removal_is_replaced(
    cloud_says: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse_to_remove(monkeypatch, "C:\\WindowsAzure")

    result = run_agent(cloud_says, PROVISION, azure_guest())

    done(result, AZURE_AGENT)
    files = result.state.files
    assert not files.exists(f"{PACKAGES}\\Old")
    assert files.list_dir(PACKAGES) == ["Config", "TransparentInstaller.dll", "WaAppAgent.exe"]


def nano_server() -> WindowsState:
    state = default_windows_state()
    state.version.nano_server = True
    state.files.make_dirs("C:\\Windows\\NanoGuestAgent")
    state.files.write(
        "C:\\Windows\\NanoGuestAgent\\VmAgent_Nano.zip",
        agent_zip({"WaSvc.exe": b"MZ", "WindowsAzureGuestAgent.exe": b"MZ"}),
    )
    return state


def test_nano_server_service_command_line_and_log(cloud_says: Any) -> None:
    result = run_agent(cloud_says, {"provision": True}, nano_server())

    done(result, AZURE_AGENT)
    agent = result.state.find_service("WindowsAzureGuestAgent")
    assert agent is not None
    assert (agent.display_name, agent.binary_path) == ("WindowsAzureGuestAgent", NANO_COMMAND)
    assert plugin_log(result) == [
        line(
            "INFO",
            f"Extracting C:\\Windows\\NanoGuestAgent\\VmAgent_Nano.zip to {NANO_TARGET}",
        ),
        line("DEBUG", f"Creating service WindowsAzureGuestAgent: {NANO_COMMAND}"),
    ]


def test_no_provisioning_and_declined_provisioning_are_logged(cloud_says: Any) -> None:
    missing = run_agent(cloud_says, None, azure_guest())
    declined = run_agent(cloud_says, {"provision": False}, azure_guest())

    assert plugin_log(missing) == [line("INFO", "Azure guest agent provisioning data not present")]
    assert plugin_log(declined) == [
        line("INFO", "Skipping Azure guest agent provisioning as by metadata request")
    ]


def test_missing_package_name_error(cloud_says: Any) -> None:
    result = run_agent(cloud_says, {"provision": True}, azure_guest())

    assert failed(result, AZURE_AGENT) == (
        "AzureGuestAgentError: Azure guest agent package_name not found in metadata"
    )


def test_package_directory_entries_become_folders(cloud_says: Any) -> None:
    # Zip tools store folders as members of their own; "./" names nothing.
    package = agent_zip(
        {
            "./": b"",
            "Logs/": b"",
            "Plugins/Extension/": b"",
            "WaAppAgent.exe": b"MZ",
            "TransparentInstaller.dll": version_resource("TI", AGENT_VERSION),
        }
    )

    result = run_agent(cloud_says, PROVISION, azure_guest(package))

    done(result, AZURE_AGENT)
    files = result.state.files
    assert files.list_dir(PACKAGES) == [
        "Logs",
        "Plugins",
        "TransparentInstaller.dll",
        "WaAppAgent.exe",
    ]
    assert files.is_dir(f"{PACKAGES}\\Logs")
    assert files.list_dir(f"{PACKAGES}\\Plugins") == ["Extension"]


@pytest.mark.parametrize(
    ("member", "target"),
    [
        ("XXXX/a.txt", "C:\\T\\XXXX\\a.txt"),
        ("XX.XX/a.txt", "C:\\T\\XX.XX\\a.txt"),
        ("XX..XX/a.txt", "C:\\T\\XX..XX\\a.txt"),
        ("LINUX/TAX", "C:\\T\\LINUX\\TAX"),
        ("notes.txt./", "C:\\T\\notes.txt"),
    ],
)
def test_ordinary_member_names_are_kept_as_they_are(member: str, target: str) -> None:
    assert member_target("C:\\T", member) == target


def test_logman_failure_is_logged_whole_and_the_install_goes_on(
    cloud_says: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # logman.exe answering "access denied" (an exit code the plugin does not expect), its
    # output in the console code page rather than UTF-8.
    original = FakeOSUtils.execute_system32_process

    def execute(self: FakeOSUtils, args: Any, *rest: Any, **options: Any) -> Any:
        if list(args) == ["logman.exe", "delete", "RTEvents"]:
            return b"Acc\xe8s refus\xe9.\r\n", b"\xff", 0x80070005
        return original(self, args, *rest, **options)

    monkeypatch.setattr(FakeOSUtils, "execute_system32_process", execute)

    result = run_agent(cloud_says, PROVISION, azure_guest())

    done(result, AZURE_AGENT)
    assert [x for x in plugin_log(result) if " ERROR " in x] == [
        line(
            "ERROR",
            "logman.exe delete RTEvents failed with exit code 2147942405.\n"
            "Output: Acc\ufffds refus\ufffd.\r\n\nError: \ufffd",
        )
    ]
    assert result.state.find_service("RdAgent") is not None
