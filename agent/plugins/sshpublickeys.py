"""SetUserSSHPublicKeysPlugin: the metadata's SSH public keys in the admin's authorized_keys."""

from __future__ import annotations

import logging
import ntpath

from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.plugins.base import PLUGIN_EXECUTION_DONE, Plugin, PluginResult, SharedData

LOG = logging.getLogger(__name__)

SSH_DIR = ".ssh"
AUTHORIZED_KEYS = "authorized_keys"
# Upstream writes the file in Python text mode on Windows: every "\n" it writes reaches
# the disk as "\r\n", and the text is encoded with the ANSI code page (cp1252 on the
# en-US images the simulator models). Reproduced on purpose.
TEXT_MODE_NEWLINE = "\r\n"
TEXT_MODE_ENCODING = "cp1252"


class UserProfileNotFound(Exception):
    """The user has no profile folder yet (it appears at the account's first logon)."""


class SetUserSSHPublicKeysPlugin(Plugin):
    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        assert service is not None
        keys = service.get_public_keys()
        if not keys:
            LOG.debug("Public keys not found in metadata")
            return PLUGIN_EXECUTION_DONE, False

        # The metadata's admin name wins over the option; shared_data is not consulted.
        user: str = service.get_admin_username() or self.conf.get("username")
        home = self.osutils.get_user_home(user)
        if not home:
            raise UserProfileNotFound("User profile not found!")

        ssh_dir = ntpath.join(home, SSH_DIR)
        if not self.osutils.path_exists(ssh_dir):
            self.osutils.make_dirs(ssh_dir)
        authorized_keys = ntpath.join(ssh_dir, AUTHORIZED_KEYS)
        LOG.info("Writing SSH public keys in: %s", authorized_keys)
        text = "".join(key + TEXT_MODE_NEWLINE for key in keys)
        # Overwritten, not merged: keys put there by hand since the last run are lost.
        self.osutils.write_file(authorized_keys, text.encode(TEXT_MODE_ENCODING))
        return PLUGIN_EXECUTION_DONE, False
