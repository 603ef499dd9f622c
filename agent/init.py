"""The boot flow: three plugin stages, per-instance plugin status, the reboot decision."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import requests

from guestsim.agent.metadata.base import MetadataNotFoundException, MetadataService
from guestsim.agent.metadata.factory import get_metadata_service
from guestsim.agent.osutils import LOGON32_LOGON_BATCH
from guestsim.agent.plugins.base import (
    PLUGIN_EXECUTION_DONE,
    AgentContext,
    Plugin,
    SharedData,
    Stage,
)
from guestsim.agent.plugins.registry import (
    PluginImportError,
    canonical_path,
    load_plugin_class,
)
from guestsim.agent.version import AGENT_VERSION

LOG = logging.getLogger(__name__)

NO_RESET_FLAG = "--noreset_service_password"
DEFAULT_ARGV: tuple[str, ...] = ("cloudbase-init",)

VERSION_CHECK_URL = "https://www.cloudbase.it/checkupdates.php"

StageResult = tuple[bool, bool | None]


def plugin_status_section(instance_id: str | None) -> str:
    # Upstream tests truthiness here but ``is not None`` when deciding to persist, so an
    # empty id keeps state under the bare "Plugins" key.
    return f"{instance_id}/Plugins" if instance_id else "Plugins"


class InitManager:
    """Runs one start of the agent service, as ``cloudbase-init.exe`` does on a guest."""

    def __init__(self, context: AgentContext, argv: Sequence[str] = DEFAULT_ARGV) -> None:
        self.context = context
        self.conf = context.conf
        self.osutils = context.osutils
        self.events = context.events
        self.argv = list(argv)

    @property
    def allow_reboot(self) -> bool:
        value: bool = self.conf.get("allow_reboot")
        return value

    # --- plugin status -----------------------------------------------------------------

    def _get_plugin_status(self, instance_id: str, name: str) -> object:
        return self.osutils.get_config_value(name, plugin_status_section(instance_id))

    def _set_plugin_status(self, instance_id: str, name: str, status: int) -> None:
        self.osutils.set_config_value(name, status, plugin_status_section(instance_id))

    # --- plugins -------------------------------------------------------------------------

    def _load_plugins(self, stage: Stage) -> list[Plugin]:
        plugins: list[Plugin] = []
        for configured in self.conf.get("plugins"):
            resolved = canonical_path(configured)
            if resolved.legacy_alias_of is not None:
                LOG.warning(
                    "Old plugin module %r was found. The new name is %r. "
                    "The old name will not be supported starting with the next release.",
                    resolved.legacy_alias_of,
                    resolved.path,
                )
            try:
                cls = load_plugin_class(resolved.path)
            except PluginImportError:
                LOG.error("Could not import plugin module %r", resolved.path)
                self.events("plugin_unavailable", stage=stage, path=configured, reason="import")
                continue
            if cls.execution_stage == stage:
                plugins.append(cls(self.context))
        return plugins

    def _check_os_requirements(self, plugin: Plugin) -> str | None:
        """Why the plugin cannot run on this OS, or None when it can."""
        platform, min_version = plugin.get_os_requirements()
        if platform and platform != self.osutils.get_platform():
            LOG.debug("Skipping plugin: '%s'. Platform not supported", plugin.get_name())
            return "platform"
        if min_version and not self.osutils.check_os_version(*min_version):
            LOG.debug("Skipping plugin: '%s'. OS version not supported", plugin.get_name())
            return "os_version"
        return None

    def _exec_plugin(
        self,
        plugin: Plugin,
        stage: Stage,
        service: MetadataService | None,
        instance_id: str | None,
        shared_data: SharedData,
    ) -> StageResult:
        name = plugin.get_name()
        status = None
        if instance_id is not None:
            status = self._get_plugin_status(instance_id, name)
        if status == PLUGIN_EXECUTION_DONE:
            LOG.debug("Plugin '%s' execution already done, skipping", name)
            self.events("plugin_skipped", stage=stage, plugin=name, reason="done")
            return True, None
        LOG.info("Executing plugin '%s'", name)
        self.events("plugin_start", stage=stage, plugin=name)
        try:
            new_status, reboot = plugin.execute(service, shared_data)
        except Exception as ex:
            LOG.error("plugin '%s' failed with error '%s'", name, ex)
            LOG.error("Plugin failure", exc_info=True)
            self.events(
                "plugin_end",
                stage=stage,
                plugin=name,
                success=False,
                status=None,
                reboot=None,
                error=f"{type(ex).__name__}: {ex}",
            )
            return False, None
        if instance_id is not None:
            self._set_plugin_status(instance_id, name, new_status)
        self.events(
            "plugin_end",
            stage=stage,
            plugin=name,
            success=True,
            status=new_status,
            reboot=bool(reboot),
        )
        return True, reboot

    def _handle_plugins_stage(
        self, stage: Stage, service: MetadataService | None, instance_id: str | None
    ) -> StageResult:
        shared_data: SharedData = {}
        LOG.info("Executing plugins for stage %r:", str(stage))
        self.events("stage_start", stage=stage)
        stage_success = True
        reboot_required: bool | None = False
        for plugin in self._load_plugins(stage):
            reason = self._check_os_requirements(plugin)
            if reason is not None:
                self.events("plugin_skipped", stage=stage, plugin=plugin.get_name(), reason=reason)
                continue
            success, reboot_required = self._exec_plugin(
                plugin, stage, service, instance_id, shared_data
            )
            if not success:
                stage_success = False
            if reboot_required and self.allow_reboot:
                break
        self.events("stage_end", stage=stage, success=stage_success, reboot=bool(reboot_required))
        return stage_success, reboot_required

    # --- service account -----------------------------------------------------------------

    def _reset_service_password_and_respawn(self) -> None:
        credentials = self.osutils.reset_service_password()
        if not credentials:
            return
        domain, user, password = credentials
        _, current_user = self.osutils.get_current_user()
        if current_user.lower() != user.lower():
            LOG.debug("The agent does not run as %s; no respawn needed", user)
            return
        args = [*self.argv, NO_RESET_FLAG]
        if args[0].endswith(".py"):
            args.insert(0, self.osutils.get_python_executable())
        LOG.info("Respawning current process with updated credentials.")
        self.events("respawn", user=f"{domain}\\{user}")
        token = self.osutils.create_user_logon_session(
            user, password, domain, logon_type=LOGON32_LOGON_BATCH
        )
        exit_code = self.osutils.execute_process_as_user(token, args)
        LOG.info("Process execution ended with exit code: %s", exit_code)
        raise SystemExit(exit_code)

    def _check_latest_version(self) -> None:
        # Upstream asks from a daemon thread; we ask inline so that the request's place in
        # a trace never depends on thread scheduling. Its answer is only ever logged.
        try:
            response = requests.get(
                VERSION_CHECK_URL,
                params={"p": "Cloudbase-Init", "v": AGENT_VERSION},
                headers={"User-Agent": "Cloudbase-Init"},
            )
            response.raise_for_status()
            new_version = response.json().get("new_version")
            if new_version:
                LOG.info("Found new version of cloudbase-init %s", new_version)
        except Exception as ex:
            LOG.debug("Failed checking for new versions: %s", ex)

    # --- the run -------------------------------------------------------------------------

    def _report(self, state: str, service: MetadataService, guarded: bool) -> None:
        LOG.info("Reporting provisioning %s", state)
        self.events("provisioning_report", state=state)
        action = {
            "started": service.provisioning_started,
            "completed": service.provisioning_completed,
            "failed": service.provisioning_failed,
        }[state]
        if not guarded:
            action()
            return
        try:
            action()
        except Exception as ex:
            LOG.error("Reporting provisioning %s failed: %s", state, ex)

    def configure_host(self) -> None:
        if self.conf.get("reset_service_password") and self.osutils.get_platform() == "win32":
            self._reset_service_password_and_respawn()

        LOG.info("Cloudbase-Init version: %s", AGENT_VERSION)
        self.events("agent_start", version=AGENT_VERSION)
        self.osutils.wait_for_boot_completion()

        success, reboot = self._handle_plugins_stage(Stage.PRE_NETWORKING, None, None)

        if self.conf.get("check_latest_version"):
            self._check_latest_version()

        if not (reboot and self.allow_reboot):
            success, reboot = self._handle_plugins_stage(Stage.PRE_METADATA_DISCOVERY, None, None)

        service: MetadataService | None = None
        if not (reboot and self.allow_reboot):
            try:
                service = get_metadata_service(self.context)
            except MetadataNotFoundException:
                LOG.error("No metadata service found")
                self.events("metadata_service", name=None, instance_id=None)

        report_completed: bool = self.conf.get("metadata_report_provisioning_completed")
        if service is not None:
            LOG.info("Metadata service loaded: '%s'", service.get_name())
            if self.conf.get("metadata_report_provisioning_started"):
                # Unguarded, as upstream: a failure here aborts the run before MAIN.
                self._report("started", service, guarded=False)
            instance_id = service.get_instance_id()
            LOG.debug("Instance id: %s", instance_id)
            self.events("metadata_service", name=service.get_name(), instance_id=instance_id)
            try:
                success, reboot = self._handle_plugins_stage(Stage.MAIN, service, instance_id)
            finally:
                service.cleanup()
            if report_completed and not success:
                self._report("failed", service, guarded=True)

        if reboot and self.allow_reboot:
            LOG.info("Rebooting")
            self.events("reboot_requested")
            try:
                self.osutils.reboot()
            except Exception as ex:
                LOG.error("reboot failed with error '%s'", ex)
            return

        LOG.info("Plugins execution done")
        self.events("agent_done", success=success)
        if service is not None and report_completed and success:
            self._report("completed", service, guarded=True)
        if self.conf.get("stop_service_on_exit"):
            LOG.info("Stopping Cloudbase-Init service")
            self.osutils.terminate()
