"""Cloud-config user data: a YAML mapping whose keys name handlers, run in a fixed order.

``process_cloud_config`` is what the user-data plugin calls for ``#cloud-config`` data and
for ``text/cloud-config`` MIME parts. It returns the user-data exit code: 1003 when any
handler asked for a reboot (so the whole cloud-config runs again after it), else 0.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import yaml

from guestsim.agent.resources import check_expanded_size
from guestsim.agent.userdata.cloudconfig import (
    groups,
    hostname,
    ntp,
    runcmd,
    timezone,
    users,
    writefiles,
)
from guestsim.agent.userdata.cloudconfig.common import Handler

if TYPE_CHECKING:
    from guestsim.agent.metadata.base import MetadataService
    from guestsim.agent.plugins.base import AgentContext

LOG = logging.getLogger(__name__)

# Upstream's built-in order; also the set of supported keys.
HANDLERS: dict[str, Handler] = {
    "write_files": writefiles.write_files,
    "set_timezone": timezone.set_timezone,
    "timezone": timezone.set_timezone,
    "set_hostname": hostname.set_hostname,
    "hostname": hostname.set_hostname,
    "ntp": ntp.configure_ntp,
    "groups": groups.create_groups,
    "users": users.create_users,
    "runcmd": runcmd.run_commands,
}
UNKNOWN_KEY_PRIORITY = 999
# Any reboot request becomes "reboot and run the user data again" (status 2 + reboot).
CLOUD_CONFIG_REBOOT = 1003
CLOUD_CONFIG_DONE = 0


class CloudConfigError(Exception):
    """The document is not something cloud-config can process (logged, not raised)."""


class _CloudConfigLoader(yaml.SafeLoader):
    """YAML as upstream's full loader reads plain data, plus ``!!python/tuple``.

    Deviation: upstream uses PyYAML's full loader, which can build arbitrary Python
    objects. guestsim parses guest user data in the host process, so only data types are
    built; any other ``!!python/...`` tag is a YAML error (which raises, as YAML syntax
    errors do upstream). Tuples are kept because runcmd treats them like lists.
    """


def _construct_tuple(loader: yaml.SafeLoader, node: yaml.Node) -> tuple[Any, ...]:
    assert isinstance(node, yaml.SequenceNode)
    return tuple(loader.construct_sequence(node))


_CloudConfigLoader.add_constructor("tag:yaml.org,2002:python/tuple", _construct_tuple)


def load_cloud_config(data: bytes) -> dict[str, Any]:
    """The document's top-level mapping.

    Raises CloudConfigError for the cases upstream logs (a value PyYAML rejects with
    TypeError/ValueError/AttributeError, an empty document); any other YAML error and a
    document that is not a mapping with string keys raise as they are.
    """
    try:
        content = yaml.load(data, Loader=_CloudConfigLoader)
    except (TypeError, ValueError, AttributeError) as ex:
        raise CloudConfigError("Invalid yaml stream provided.") from ex
    if not content:
        raise CloudConfigError("Empty yaml stream provided.")
    # Upstream passes the document as keyword arguments: anything but a mapping with
    # string keys is a TypeError out of the plugin.
    if not isinstance(content, dict):
        raise TypeError(f"cloud-config must be a mapping, not {type(content).__name__}")
    for key in content:
        if not isinstance(key, str):
            raise TypeError(f"cloud-config keys must be strings, got {key!r}")
    return content


def ordered_keys(content: dict[str, Any], enabled: list[str]) -> list[tuple[str, Any]]:
    """Items in execution order: the ``cloud_config_plugins`` order if set, else built-in.

    The sort is stable, so keys of equal priority (all unknown ones) keep document order.
    """
    order = enabled or list(HANDLERS)

    def priority(item: tuple[str, Any]) -> int:
        key = item[0]
        return order.index(key) if key in order else UNKNOWN_KEY_PRIORITY

    return sorted(content.items(), key=priority)


def process_cloud_config(context: AgentContext, service: MetadataService, data: bytes) -> int:
    """Run every handler of a cloud-config document; 1003 if one asked for a reboot, else 0."""
    try:
        content = load_cloud_config(data)
    except CloudConfigError as ex:
        # Upstream logs the Python type of the part it was given and the message's repr.
        LOG.error("Could not process part type %r: %r", type(data), str(ex))
        return CLOUD_CONFIG_DONE
    # YAML aliases can repeat one part of a small document billions of times (each
    # handler writes them out): the guest's limit on expanded input bounds it.
    check_expanded_size(
        content, context.osutils.get_resource_limits().decompressed_bytes, "the cloud-config"
    )
    enabled: list[str] = list(context.conf.get("cloud_config_plugins"))
    reboot = False
    for key, value in ordered_keys(content, enabled):
        if enabled and key not in enabled:
            LOG.info("Plugin %r is disabled", key)
            continue
        handler = HANDLERS.get(key)
        if handler is None:
            LOG.error("Plugin %r is currently not supported", key)
            continue
        try:
            if handler(context, value):
                reboot = True
        except Exception:
            LOG.exception("Processing plugin %s failed", key)
    # Quirk (reference 10.5): whatever reboot a handler asked for (a host name change,
    # runcmd exiting 1001 or 1003), cloud-config answers 1003: reboot *and* run the whole
    # user data again next boot, so a runcmd that always exits 1001 reboots forever.
    return CLOUD_CONFIG_REBOOT if reboot else CLOUD_CONFIG_DONE
