"""cloud-config ``groups``: local groups and their members."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guestsim.agent.plugins.base import AgentContext

LOG = logging.getLogger(__name__)


class GroupConfigurationError(Exception):
    """A group could not be created or given its members; the remaining groups are skipped."""


def parse_group(item: Any) -> tuple[str, Any]:
    """``(name, members)`` of one entry: a name, or a one-key mapping ``name: [members]``."""
    if isinstance(item, str):
        return item, []
    if isinstance(item, dict):
        # Only the first key counts; its value is the member list.
        name = next(iter(item), "")
        return name, item.get(name, [])
    raise TypeError(f"Unrecognized type '{type(item).__name__}' in groups config")


def create_groups(context: AgentContext, value: Any) -> bool:
    """Create each group (existing ones are kept) and add its members; never reboots.

    A mapping as the whole value yields its keys only, so members given that way are
    ignored. The first failure aborts the groups after it.
    """
    osutils = context.osutils
    for item in value:
        name, members = parse_group(item)
        if not name:
            LOG.warning("Group name cannot be empty")
            continue
        try:
            if osutils.group_exists(name):
                LOG.warning("Group '%s' already exists", name)
            else:
                osutils.create_group(name)
            for member in members:
                osutils.add_user_to_local_group(member, name)
        except Exception as ex:
            raise GroupConfigurationError(
                f"Group '{name}' could not be configured. Exception code: {ex}"
            ) from ex
    return False
