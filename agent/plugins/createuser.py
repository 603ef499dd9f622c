"""CreateUserPlugin (Windows): the admin account exists, has a password, is in its groups."""

from __future__ import annotations

import logging

from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.plugins.base import PLUGIN_EXECUTION_DONE, Plugin, PluginResult, SharedData

LOG = logging.getLogger(__name__)


class CreateUserPlugin(Plugin):
    def _builtin_admin(self) -> str:
        for user in self.osutils.enum_users():
            if self.osutils.is_builtin_admin(user):
                return user
        # Upstream fails the plugin here too (it indexes an empty list).
        raise LookupError("No built-in administrator account (RID 500) to rename")

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        assert service is not None
        user: str = service.get_admin_username() or self.conf.get("username")
        shared_data["admin_user"] = user
        password = self.osutils.generate_random_password(self.conf.get("user_password_length"))

        if self.conf.get("rename_admin_user"):
            admin = self._builtin_admin()
            if admin.lower() != user.lower():
                LOG.info('Renaming builtin admin user "%s" to "%s"', admin, user)
                self.osutils.rename_user(admin, user)
                self.osutils.set_user_password(user, password)
            else:
                LOG.info('"%s" is already the name of the builtin admin user', user)
        elif self.osutils.user_exists(user):
            LOG.info('Setting password for existing user "%s"', user)
            self.osutils.set_user_password(user, password)
        else:
            LOG.info('Creating user "%s" and setting password', user)
            self.osutils.create_user(user, password)
            shared_data["admin_password"] = password

        try:
            # Upstream passes True as the third positional argument, which is the logon
            # domain, not load_profile. Reproduced; the profile is still loaded.
            token = self.osutils.create_user_logon_session(user, password, True)
            self.osutils.close_user_logon_session(token)
        except Exception:
            LOG.exception('Cannot create a user logon session for user: "%s"', user)

        for group in self.conf.get("groups"):
            try:
                self.osutils.add_user_to_local_group(user, group)
            except Exception:
                LOG.exception('Cannot add user to group "%s"', group)
        return PLUGIN_EXECUTION_DONE, False
