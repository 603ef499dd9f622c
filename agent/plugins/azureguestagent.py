"""AzureGuestAgentPlugin: install the Azure VM agent from the package Azure provides."""

from __future__ import annotations

import io
import logging
import ntpath
import zipfile
from typing import Any, ClassVar

from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.osutils import SERVICE_START_MODE_AUTOMATIC, SERVICE_START_MODE_MANUAL, OSUtils
from guestsim.agent.plugins.base import (
    PLUGIN_EXECUTION_DONE,
    OSRequirements,
    Plugin,
    PluginResult,
    SharedData,
)
from guestsim.agent.resources import read_bounded

LOG = logging.getLogger(__name__)

SERVICE_NAME_RDAGENT = "RdAgent"
SERVICE_NAME_WAGUESTAGENT = "WindowsAzureGuestAgent"
SERVICE_NAME_WA_TELEMETRY = "WindowsAzureTelemetryService"
AGENT_SERVICES = (SERVICE_NAME_RDAGENT, SERVICE_NAME_WAGUESTAGENT, SERVICE_NAME_WA_TELEMETRY)

AZURE_DIRS = ("%SystemDrive%\\WindowsAzure", "%SystemDrive%\\Packages")
PACKAGES_DIR = "%SystemDrive%\\WindowsAzure\\Packages"
# Where Azure puts the agent package, on one of the logical drives.
GUEST_AGENT_SOURCE = "$$\\OEM\\GuestAgent"
NANO_PACKAGE = "%SystemDrive%\\Windows\\NanoGuestAgent\\VmAgent_Nano.zip"
NANO_TARGET = "%SystemDrive%\\WindowsAzure\\Packages\\GuestAgent"
NANO_LOGS = "%SystemDrive%\\WindowsAzure\\Logs"

# logman's "Data Collector Set is not running" and "... was not found" are fine here.
LOGMAN_NOT_RUNNING = 0x80300104
LOGMAN_NOT_FOUND = 0x80300002
LOGMAN_ACCEPTED = (0, LOGMAN_NOT_RUNNING, LOGMAN_NOT_FOUND)

AZURE_KEY = "HKLM\\SOFTWARE\\Microsoft\\Windows Azure"
GUEST_AGENT_KEY = "HKLM\\SOFTWARE\\Microsoft\\GuestAgent"
PROVISIONED_AT_FORMAT = "%m/%d/%Y %I:%M:%S %p"

# What Windows does not allow in a file name; zip members get "_" instead.
_ILLEGAL_NAME_CHARS = str.maketrans(dict.fromkeys(':<>|"?*', "_"))


class AzureGuestAgentError(Exception):
    """The agent package is missing or cannot be installed."""


def member_target(target_dir: str, member_name: str) -> str | None:
    """Where a zip member lands under ``target_dir``, never outside it; None: nowhere.

    As Python's ``ZipFile.extractall`` on Windows: the drive and every empty, ``.`` and
    ``..`` part are dropped, characters Windows forbids become ``_`` and trailing dots go,
    so no member name can climb out of the target folder (no "zip slip").
    """
    path = ntpath.splitdrive(member_name.replace("/", "\\"))[1]
    parts = []
    for part in path.split("\\"):
        if part in ("", ".", ".."):
            continue
        cleaned = part.translate(_ILLEGAL_NAME_CHARS).rstrip(".")
        if cleaned:
            parts.append(cleaned)
    return ntpath.join(target_dir, *parts) if parts else None


def extract_zip(osutils: OSUtils, zip_path: str, target_dir: str) -> None:
    """Unzip a guest file into a guest folder, through the OS boundary; a member may
    expand to the guest's ``decompressed_bytes`` (more: DecompressionLimitExceeded)."""
    limit = osutils.get_resource_limits().decompressed_bytes
    with zipfile.ZipFile(io.BytesIO(osutils.read_file(zip_path))) as archive:
        for member in archive.infolist():
            target = member_target(target_dir, member.filename)
            if target is None:
                continue
            if member.is_dir():
                osutils.make_dirs(target)
                continue
            osutils.make_dirs(ntpath.dirname(target))
            with archive.open(member) as stream:
                data = read_bounded(stream, limit, f"{member.filename} in {zip_path}")
            osutils.write_file(target, data)


class AzureGuestAgentPlugin(Plugin):
    os_requirements: ClassVar[OSRequirements] = ("win32", (6, 1))

    def _expand(self, path: str) -> str:
        return self.osutils.expand_environment_variables(path)

    def _remove_agent_services(self) -> None:
        osutils = self.osutils
        for name in AGENT_SERVICES:
            if osutils.check_service_exists(name):
                LOG.info("Stopping and removing any existing service: %s", name)
                osutils.stop_service(name, wait=True)
                osutils.delete_service(name)

    def _remove_azure_dirs(self) -> None:
        for folder in AZURE_DIRS:
            path = self._expand(folder)
            if not self.osutils.path_exists(path):
                continue
            LOG.info("Removing folder: %s", path)
            try:
                self.osutils.remove_path(path)
            except Exception:
                # Logged only: the provisioning carries on.
                LOG.exception("Failed to remove folder: %s", path)

    def _run_logman(self, args: list[str]) -> None:
        out, err, exit_code = self.osutils.execute_system32_process(["logman.exe", *args])
        if exit_code not in LOGMAN_ACCEPTED:
            LOG.error(
                "logman.exe %s failed with exit code %s.\nOutput: %s\nError: %s",
                " ".join(args),
                exit_code,
                out.decode(errors="replace"),
                err.decode(errors="replace"),
            )

    def _stop_event_traces(self) -> None:
        LOG.info("Stopping the Azure guest agent event traces")
        for args in (
            ["stop", "GAEvents"],
            ["stop", "RTEvents"],
            ["-ets", "stop", "WindowsAzure-GuestAgent-Metrics"],
            ["-ets", "stop", "WindowsAzure-GuestAgent-Diagnostic"],
        ):
            self._run_logman(args)

    def _delete_event_traces(self) -> None:
        LOG.info("Deleting the Azure guest agent event traces")
        for name in ("GAEvents", "RTEvents"):
            self._run_logman(["delete", name])

    def _find_package_folder(self) -> str:
        for drive in self.osutils.get_logical_drives():
            folder = ntpath.join(drive, GUEST_AGENT_SOURCE)
            if self.osutils.path_exists(folder):
                return folder
        raise AzureGuestAgentError(
            f"Azure guest agent source folder not found: no drive holds {GUEST_AGENT_SOURCE}"
        )

    def _set_registry_values(self, agent_version: str) -> None:
        # Upstream creates both keys; neither exists before the agent is installed. The
        # ``create`` flag is the fake Windows' (see the report: the OSUtils Protocol's
        # set_registry_value does not have it yet).
        set_value = self.osutils.set_registry_value
        set_value(AZURE_KEY, "VMType", "IAAS", "REG_SZ", create=True)
        set_value(GUEST_AGENT_KEY, "Incarnation", agent_version, "REG_SZ", create=True)
        # The guest clock runs in UTC in the simulation; upstream writes local time.
        provisioned_at = self.osutils.utc_now().strftime(PROVISIONED_AT_FORMAT)
        set_value(GUEST_AGENT_KEY, "VmProvisionedAt", provisioned_at, "REG_SZ", create=True)

    def _provision_guest_agent(self, package_name: str) -> None:
        osutils = self.osutils
        package = ntpath.join(self._find_package_folder(), package_name)
        if not osutils.path_exists(package):
            raise AzureGuestAgentError(f"Azure guest agent package not found: {package}")

        self._stop_event_traces()
        self._delete_event_traces()

        target = self._expand(PACKAGES_DIR)
        if osutils.path_exists(target):
            osutils.remove_path(target)
        osutils.make_dirs(target)
        LOG.info("Extracting %s to %s", package, target)
        extract_zip(osutils, package, target)

        agent_path = ntpath.join(target, "WaAppAgent.exe")
        LOG.debug("Creating service %s: %s", SERVICE_NAME_RDAGENT, agent_path)
        osutils.create_service(
            SERVICE_NAME_RDAGENT, SERVICE_NAME_RDAGENT, agent_path, SERVICE_START_MODE_MANUAL
        )

        version = osutils.get_file_version(ntpath.join(target, "TransparentInstaller.dll"))
        agent_version = ".".join(str(part) for part in version)
        LOG.info("Azure guest agent version: %s", agent_version)
        self._set_registry_values(agent_version)

        if osutils.check_dotnet_is_installed("4"):
            osutils.set_service_start_mode(SERVICE_NAME_RDAGENT, SERVICE_START_MODE_AUTOMATIC)
            osutils.start_service(SERVICE_NAME_RDAGENT)
        else:
            LOG.warning(
                ".NET Framework 4 is not installed: the %s service is left stopped",
                SERVICE_NAME_RDAGENT,
            )

    def _provision_nano_guest_agent(self) -> None:
        osutils = self.osutils
        package = self._expand(NANO_PACKAGE)
        target = self._expand(NANO_TARGET)
        osutils.make_dirs(target)
        LOG.info("Extracting %s to %s", package, target)
        extract_zip(osutils, package, target)

        wasvc = ntpath.join(target, "WaSvc.exe")
        agent = ntpath.join(target, "WindowsAzureGuestAgent.exe")
        logs = self._expand(NANO_LOGS)
        # WaSvc hosts the agent: which executable, where it logs, its event source.
        command = (
            f'"{wasvc}" -name {SERVICE_NAME_WAGUESTAGENT} -ownHost '
            f'-agentPath "{agent}" -logPath "{logs}" -eventSource {SERVICE_NAME_WAGUESTAGENT}'
        )
        LOG.debug("Creating service %s: %s", SERVICE_NAME_WAGUESTAGENT, command)
        osutils.create_service(
            SERVICE_NAME_WAGUESTAGENT,
            SERVICE_NAME_WAGUESTAGENT,
            command,
            SERVICE_START_MODE_MANUAL,
        )
        osutils.set_service_start_mode(SERVICE_NAME_WAGUESTAGENT, SERVICE_START_MODE_AUTOMATIC)
        osutils.start_service(SERVICE_NAME_WAGUESTAGENT)

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        assert service is not None
        data: dict[str, Any] | None = service.get_vm_agent_package_provisioning_data()
        if not data:
            LOG.info("Azure guest agent provisioning data not present")
        elif not data.get("provision"):
            LOG.info("Skipping Azure guest agent provisioning as by metadata request")
        else:
            self._remove_agent_services()
            self._remove_azure_dirs()
            if not self.osutils.is_nano_server():
                package_name = data.get("package_name")
                if not package_name:
                    raise AzureGuestAgentError(
                        "Azure guest agent package_name not found in metadata"
                    )
                self._provision_guest_agent(package_name)
            else:
                self._provision_nano_guest_agent()
        return PLUGIN_EXECUTION_DONE, False
