"""ConfigWinRMCertificateAuthPlugin: client certificates from the metadata mapped to the admin."""

from __future__ import annotations

import logging

from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.plugins.base import PLUGIN_EXECUTION_DONE, Plugin, PluginResult, SharedData
from guestsim.agent.plugins.winrmlistener import uac_remote_restrictions_lifted
from guestsim.agent.windows.x509 import STORE_LOCATION_LOCAL_MACHINE, STORE_NAME_ROOT, UPN_OID

LOG = logging.getLogger(__name__)


class MissingCredentials(Exception):
    """No user name or no password to map client certificates to."""


class ConfigWinRMCertificateAuthPlugin(Plugin):
    def _credentials(self, service: MetadataService, shared_data: SharedData) -> tuple[str, str]:
        # shared_data only lives for one stage run: after a reboot in the middle of MAIN
        # the option's user name and the metadata password are used instead, whatever
        # CreateUserPlugin / SetUserPasswordPlugin did before the reboot (upstream quirk).
        user: str | None = shared_data.get("admin_user") or self.conf.get("username")
        password: str | None = shared_data.get("admin_password") or service.get_admin_password()
        if not user or not password:
            raise MissingCredentials(
                "Cannot configure WinRM certificate authentication: "
                "the user name or the password is missing"
            )
        return user, password

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        assert service is not None
        user, password = self._credentials(service, shared_data)
        # The password is not left for later plugins of this stage.
        shared_data["admin_password"] = None

        certs = service.get_client_auth_certs()
        if not certs:
            LOG.info(
                "WinRM certificate authentication cannot be configured: the metadata has "
                "no client certificate"
            )
            return PLUGIN_EXECUTION_DONE, False

        osutils = self.osutils
        with uac_remote_restrictions_lifted(osutils):
            LOG.info("Enabling WinRM certificate authentication")
            osutils.set_winrm_auth_config(certificate=True)
            for cert in certs:
                thumbprint, upn = osutils.import_cert(
                    cert, STORE_LOCATION_LOCAL_MACHINE, STORE_NAME_ROOT
                )
                if not upn:
                    LOG.error(
                        "WinRM certificate authentication cannot be configured: the "
                        "certificate %s has no subject alternative name with a UPN (OID %s)",
                        thumbprint,
                        UPN_OID,
                    )
                    continue
                if osutils.get_winrm_cert_mapping(thumbprint, upn) is not None:
                    LOG.info("Removing the existing WinRM certificate mapping for UPN %s", upn)
                    osutils.delete_winrm_cert_mapping(thumbprint, upn)
                LOG.info("Creating the WinRM certificate mapping of UPN %s to user %s", upn, user)
                osutils.create_winrm_cert_mapping(thumbprint, upn, user, password)
        return PLUGIN_EXECUTION_DONE, False
