"""ConfigWinRMListenerPlugin: the WinRM service running, its listeners and firewall rules."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.osutils import (
    PROTOCOL_TCP,
    SERVICE_START_MODE_AUTOMATIC,
    SERVICE_START_MODE_DISABLED,
    SERVICE_START_MODE_MANUAL,
    SERVICE_STATUS_STOPPED,
    OSUtils,
)
from guestsim.agent.plugins.base import (
    PLUGIN_EXECUTE_ON_NEXT_BOOT,
    PLUGIN_EXECUTION_DONE,
    Plugin,
    PluginResult,
    SharedData,
)
from guestsim.agent.windows.winrm import WINRM_PROTOCOL_HTTP, WINRM_PROTOCOL_HTTPS
from guestsim.agent.windows.x509 import STORE_LOCATION_LOCAL_MACHINE, STORE_NAME_MY

LOG = logging.getLogger(__name__)

WINRM_SERVICE = "WinRM"
SELF_SIGNED_CERT_SUBJECT = "CN=Cloudbase-Init WinRM"


class ListenerNotCreated(Exception):
    """WinRM does not list the listener just created."""


@contextmanager
def uac_remote_restrictions_lifted(osutils: OSUtils) -> Iterator[None]:
    """Run the block with UAC remote restrictions off, on Vista / Server 2008 (R2) only.

    There (6.0 <= version < 6.2) WinRM configuration done for a local account is refused
    while the restrictions are active, so they are lifted for the block and put back
    afterwards, also when the block fails. Later versions are left alone.
    """
    restricted = osutils.get_uac_remote_restrictions()
    lift = restricted and osutils.check_os_version(6, 0) and not osutils.check_os_version(6, 2)
    try:
        if lift:
            LOG.debug("Disabling UAC remote restrictions")
            osutils.set_uac_remote_restrictions(False)
        yield
    finally:
        if lift:
            LOG.debug("Enabling UAC remote restrictions")
            osutils.set_uac_remote_restrictions(True)


class ConfigWinRMListenerPlugin(Plugin):
    def _check_winrm_service(self) -> bool:
        osutils = self.osutils
        if not osutils.check_service_exists(WINRM_SERVICE):
            LOG.warning("Cannot configure the WinRM listener as the service is not available")
            return False
        start_mode = osutils.get_service_start_mode(WINRM_SERVICE)
        if start_mode in (SERVICE_START_MODE_MANUAL, SERVICE_START_MODE_DISABLED):
            LOG.debug("Setting the WinRM service start mode to automatic")
            osutils.set_service_start_mode(WINRM_SERVICE, SERVICE_START_MODE_AUTOMATIC)
        if osutils.get_service_status(WINRM_SERVICE) == SERVICE_STATUS_STOPPED:
            LOG.debug("Starting the WinRM service")
            osutils.start_service(WINRM_SERVICE)
        return True

    def _listeners_from_options(self) -> list[dict[str, Any]]:
        listeners: list[dict[str, Any]] = []
        if self.conf.get("winrm_configure_http_listener"):
            listeners.append({"protocol": WINRM_PROTOCOL_HTTP})
        if self.conf.get("winrm_configure_https_listener"):
            listeners.append({"protocol": WINRM_PROTOCOL_HTTPS})
        return listeners

    def _configure_listener(self, listener: dict[str, Any]) -> None:
        osutils = self.osutils
        protocol = str(listener["protocol"]).upper()
        cert_thumbprint: str | None = None
        if protocol == WINRM_PROTOCOL_HTTPS:
            cert_thumbprint = listener.get("certificate_thumbprint")
            if not cert_thumbprint:
                LOG.info("Creating a self-signed certificate: %s", SELF_SIGNED_CERT_SUBJECT)
                cert_thumbprint = osutils.create_self_signed_cert(
                    SELF_SIGNED_CERT_SUBJECT, STORE_NAME_MY, STORE_LOCATION_LOCAL_MACHINE
                )

        if osutils.get_winrm_listener(protocol) is not None:
            LOG.info("Removing the existing WinRM %s listener", protocol)
            osutils.delete_winrm_listener(protocol)
        LOG.info("Creating the WinRM %s listener", protocol)
        osutils.create_winrm_listener(protocol, cert_thumbprint)

        created = osutils.get_winrm_listener(protocol)
        if created is None:
            raise ListenerNotCreated(f"The WinRM {protocol} listener was not created")
        port: int = created["Port"]
        rule_name = f"WinRM {protocol}"
        LOG.info('Opening port %s/%s in the firewall: "%s"', port, PROTOCOL_TCP, rule_name)
        osutils.firewall_create_rule(rule_name, port, PROTOCOL_TCP)

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        assert service is not None
        if not self._check_winrm_service():
            return PLUGIN_EXECUTE_ON_NEXT_BOOT, False

        listeners = service.get_winrm_listeners_configuration()
        # None (the service has no opinion) means the agent's options decide; an empty
        # list from the service (Azure without listeners) means no listener at all.
        if listeners is None:
            listeners = self._listeners_from_options()
        if not listeners:
            LOG.info("No WinRM listener configuration provided")
            return PLUGIN_EXECUTION_DONE, False

        with uac_remote_restrictions_lifted(self.osutils):
            basic: bool = self.conf.get("winrm_enable_basic_auth")
            LOG.info("Setting WinRM Basic authentication: %s", basic)
            self.osutils.set_winrm_auth_config(basic=basic)
            for listener in listeners:
                self._configure_listener(listener)
        return PLUGIN_EXECUTION_DONE, False
