"""NTPClientPlugin: hardware clock mode, the time service, NTP servers from DHCP."""

from __future__ import annotations

import logging
from typing import ClassVar

from guestsim.agent import dhcp
from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.osutils import (
    SERVICE_START_MODE_AUTOMATIC,
    SERVICE_STATUS_RUNNING,
    SERVICE_STATUS_STOPPED,
)
from guestsim.agent.plugins.base import (
    PLUGIN_EXECUTE_ON_NEXT_BOOT,
    PLUGIN_EXECUTION_DONE,
    Plugin,
    PluginResult,
    SharedData,
    Stage,
)

LOG = logging.getLogger(__name__)

TIME_SERVICE = "w32time"
SERVICE_START_POLLS = 30


class DhcpUnavailable(Exception):
    """The agent was started without a way to talk DHCP."""


def dhcp_transport(plugin: Plugin) -> dhcp.DhcpTransport:
    if plugin.context.dhcp is None:
        raise DhcpUnavailable(f"{plugin.get_name()} needs DHCP but no DHCP transport is set")
    return plugin.context.dhcp


class NTPClientPlugin(Plugin):
    execution_stage: ClassVar[Stage] = Stage.PRE_NETWORKING

    def verify_time_service(self) -> None:
        """Make sure the time service will run; nothing to do off Windows."""

    def _ntp_hosts_from_dhcp(self) -> list[str] | None:
        transport = dhcp_transport(self)
        for _, _, server in self.osutils.get_dhcp_hosts_in_use():
            options = dhcp.get_dhcp_options(
                transport, self.osutils, server, [dhcp.OPTION_NTP_SERVERS]
            )
            value = (options or {}).get(dhcp.OPTION_NTP_SERVERS)
            if value:
                return dhcp.decode_ipv4_list(value)
        return None

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        reboot = False
        want_utc: bool = self.conf.get("real_time_clock_utc")
        if self.osutils.is_real_time_clock_utc() != want_utc:
            self.osutils.set_real_time_clock_utc(want_utc)
            LOG.info("RTC set to UTC: %s", want_utc)
            reboot = True

        if self.conf.get("ntp_enable_service"):
            self.verify_time_service()
            LOG.info("NTP client service enabled")

        if self.conf.get("ntp_use_dhcp_config"):
            hosts = self._ntp_hosts_from_dhcp()
            if not hosts:
                LOG.debug("Could not obtain the NTP configuration via DHCP")
                return PLUGIN_EXECUTE_ON_NEXT_BOOT, reboot
            self.osutils.set_ntp_client_config(hosts)
            LOG.info("NTP client configured. Server(s): %s", hosts)
        return PLUGIN_EXECUTION_DONE, reboot


class WindowsNTPClientPlugin(NTPClientPlugin):
    """``plugins.windows.ntpclient.NTPClientPlugin``: also looks after ``w32time``."""

    def get_name(self) -> str:
        return "NTPClientPlugin"

    def verify_time_service(self) -> None:
        osutils = self.osutils
        if osutils.get_service_start_mode(TIME_SERVICE) != SERVICE_START_MODE_AUTOMATIC:
            osutils.set_service_start_mode(TIME_SERVICE, SERVICE_START_MODE_AUTOMATIC)
        if osutils.check_os_version(6, 1):
            # Without these triggers w32time stops itself when the network is down at boot.
            osutils.execute_system32_process(["sc.exe", "triggerinfo", TIME_SERVICE, "delete"])
            osutils.execute_system32_process(
                ["sc.exe", "triggerinfo", TIME_SERVICE, "start/networkon", "stop/networkoff"]
            )
        if osutils.get_service_status(TIME_SERVICE) == SERVICE_STATUS_STOPPED:
            osutils.start_service(TIME_SERVICE)
            # As upstream, wait a second before each poll, the first one included: a
            # service that is running at once still costs one second of guest time.
            for _ in range(SERVICE_START_POLLS):
                osutils.sleep(1)
                if osutils.get_service_status(TIME_SERVICE) == SERVICE_STATUS_RUNNING:
                    return
            raise RuntimeError(f"Service {TIME_SERVICE} did not start")
