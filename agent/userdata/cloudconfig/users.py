"""cloud-config ``users``: local accounts, their groups, profiles and SSH keys."""

from __future__ import annotations

import datetime as dt
import logging
import ntpath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guestsim.agent.osutils import OSUtils
    from guestsim.agent.plugins.base import AgentContext

LOG = logging.getLogger(__name__)

EXPIRE_DATE_FORMAT = "%Y-%m-%d"
GROUPS_SEPARATOR = ", "
AUTHORIZED_KEYS = ".ssh\\authorized_keys"
TEXT_MODE_NEWLINE = "\r\n"
TEXT_MODE_ENCODING = "cp1252"


class UserConfigurationError(Exception):
    """One user's entry cannot be applied; logged, and the next user is processed."""


def expire_interval(value: Any) -> int | None:
    """Seconds since the epoch at UTC midnight of a ``YYYY-MM-DD`` string, else None.

    Quirk (reference 10.11): only strings count. An unquoted YAML date is loaded as a
    date object and silently ignored, so the account never expires.
    """
    if not isinstance(value, str):
        return None
    day = dt.datetime.strptime(value, EXPIRE_DATE_FORMAT).replace(tzinfo=dt.UTC)
    return int(day.timestamp())


def group_names(value: Any) -> list[str]:
    """A list as is; a string split on ``", "`` exactly (quirk 10.11: ``"a,b"`` is one name)."""
    if not value:
        return []
    if isinstance(value, str):
        return value.split(GROUPS_SEPARATOR)
    return list(value)


def _password(osutils: OSUtils, item: dict[str, Any], length: int) -> str:
    password = item.get("passwd")
    if not password:
        return osutils.generate_random_password(length)
    maximum = osutils.get_maximum_password_length()
    if len(password) > maximum:
        raise UserConfigurationError(
            f"Password has more than {maximum} characters, the maximum length allowed"
        )
    return str(password)


def _write_authorized_keys(osutils: OSUtils, name: str, keys: list[Any]) -> None:
    home = osutils.get_user_home(name)
    if not home:
        raise UserConfigurationError(f"User profile not found for user '{name}'")
    ssh_dir = ntpath.join(home, ".ssh")
    if not osutils.path_exists(ssh_dir):
        osutils.make_dirs(ssh_dir)
    # Written in Python text mode on Windows: each key's "\n" reaches the disk as "\r\n"
    # and the text is encoded with the ANSI code page (cp1252 on the modelled images).
    text = "".join(f"{key}{TEXT_MODE_NEWLINE}" for key in keys)
    osutils.write_file(ntpath.join(home, AUTHORIZED_KEYS), text.encode(TEXT_MODE_ENCODING))


def create_user(context: AgentContext, item: dict[str, Any], name: str) -> None:
    osutils = context.osutils
    password = _password(osutils, item, context.conf.get("user_password_length"))
    full_name = item.get("gecos")
    expires = expire_interval(item.get("expiredate"))
    disabled = bool(item.get("inactive", False))
    keys = list(item.get("ssh_authorized_keys") or [])
    create_home = not item.get("no_create_home", False) or bool(keys)
    if disabled and create_home:
        raise UserConfigurationError(
            "The user is required to be enabled if public_keys or create_home are set"
        )
    groups = group_names(item.get("groups")) + group_names(item.get("primary_group"))

    if osutils.user_exists(name):
        LOG.warning("User '%s' already exists, updating its password", name)
        osutils.set_user_password(name, password)
    else:
        LOG.info("Creating user '%s'", name)
        osutils.create_user(name, password)
    osutils.set_user_info(name, full_name=full_name, disabled=disabled, expire_interval=expires)

    for group in groups:
        try:
            osutils.add_user_to_local_group(name, group)
        except Exception:
            LOG.exception("Cannot add user '%s' to group '%s'", name, group)

    if not disabled and create_home:
        try:
            token = osutils.create_user_logon_session(name, password)
            osutils.close_user_logon_session(token)
        except Exception:
            LOG.exception("Cannot create a user logon session for user '%s'", name)

    if keys:
        _write_authorized_keys(osutils, name, keys)


def create_users(context: AgentContext, value: Any) -> bool:
    """Create or update each user; a failing user is logged and the next one processed.

    A mapping as the whole value iterates its keys, which are not mappings: nothing is
    done for them, as upstream.
    """
    for item in value:
        if not isinstance(item, dict):
            continue
        if "name" not in item:
            LOG.warning("Missing required 'name' key from user information %s", item)
            continue
        name = item["name"]
        if not name:
            LOG.warning("The user name cannot be empty")
            continue
        try:
            create_user(context, item, name)
        except Exception as ex:
            LOG.warning("An error occurred during user '%s' creation: %s", name, ex)
    return False
