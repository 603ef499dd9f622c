"""SetUserPasswordPlugin: set the admin password and hand it, encrypted, to the cloud."""

from __future__ import annotations

import base64
import logging

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.plugins.base import (
    PLUGIN_EXECUTE_ON_NEXT_BOOT,
    PLUGIN_EXECUTION_DONE,
    Plugin,
    PluginResult,
    SharedData,
)

LOG = logging.getLogger(__name__)


class PasswordEncryptionError(Exception):
    """The public key offered for password encryption is not an OpenSSH RSA key."""


def encrypt_password(ssh_public_key: str, password: str) -> bytes:
    """Base64 of the UTF-8 password RSA-encrypted (PKCS#1 v1.5) with an ``ssh-rsa`` key."""
    if not ssh_public_key.startswith("ssh-rsa "):
        raise PasswordEncryptionError(
            "Only ssh-rsa public keys can encrypt the password; got "
            f"{ssh_public_key.split(' ', 1)[0]!r}"
        )
    key = serialization.load_ssh_public_key(ssh_public_key.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise PasswordEncryptionError("The ssh-rsa public key is not an RSA key")
    return base64.b64encode(key.encrypt(password.encode("utf-8"), padding.PKCS1v15()))


class SetUserPasswordPlugin(Plugin):
    def _choose_password(
        self, service: MetadataService, shared_data: SharedData
    ) -> tuple[str, bool]:
        """The password to set and whether it was injected from metadata."""
        if self.conf.get("inject_user_password"):
            injected = service.get_admin_password()
            if injected:
                LOG.warning(
                    "Using admin_pass metadata user password. "
                    "Consider changing it as soon as possible"
                )
                return injected, True
        created: str | None = shared_data.get("admin_password")
        if created:
            return created, False
        LOG.debug("Generating a random user password")
        return self.osutils.generate_random_password(self.conf.get("user_password_length")), False

    def _set_password(
        self, service: MetadataService, user: str, shared_data: SharedData
    ) -> str | None:
        if service.can_update_password and not service.is_password_changed():
            LOG.info("Updating password is not required.")
            return None
        password, injected = self._choose_password(service, shared_data)
        self.osutils.set_user_password(user, password)
        behaviour = self.conf.get("first_logon_behaviour")
        if behaviour == "always" or (behaviour == "clear_text_injected_only" and injected):
            self.osutils.change_password_next_logon(user)
        return password

    def _post_password(self, service: MetadataService, password: str) -> None:
        if not service.can_post_password:
            LOG.info("Posting the password is not supported by the metadata service")
            return
        if service.is_password_set:
            LOG.debug("User's password already set in the instance metadata")
            return
        key = service.get_user_pwd_encryption_key()
        if not key:
            LOG.info("No SSH public key available for password encryption")
            return
        LOG.info("Posting the encrypted password to the metadata service")
        service.post_password(encrypt_password(key, password))

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        assert service is not None
        # Only CreateUser's choice counts; after a reboot mid-stage it is gone and the
        # configured name is used, as upstream does.
        user: str = shared_data.get("admin_user") or self.conf.get("username")
        if self.osutils.user_exists(user):
            password = self._set_password(service, user, shared_data)
            if password:
                LOG.info("Password succesfully updated for user %s", user)
                shared_data["admin_password"] = password
                self._post_password(service, password)
        if service.can_update_password:
            return PLUGIN_EXECUTE_ON_NEXT_BOOT, False
        return PLUGIN_EXECUTION_DONE, False
