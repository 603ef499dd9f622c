"""The host-name rules shared by SetHostNamePlugin and cloud-config ``set_hostname``."""

from __future__ import annotations

import logging

from guestsim.agent.config import AgentConfig
from guestsim.agent.osutils import OSUtils

LOG = logging.getLogger(__name__)

NETBIOS_HOST_NAME_MAX_LEN = 15


def normalise_host_name(name: str, netbios_compatible: bool) -> str:
    short = name.split(".", 1)[0]
    if netbios_compatible and len(short) > NETBIOS_HOST_NAME_MAX_LEN:
        LOG.warning(
            "Truncating host name for Netbios compatibility. Old name: %s, new name: %s",
            short,
            short[:NETBIOS_HOST_NAME_MAX_LEN],
        )
        short = short[:NETBIOS_HOST_NAME_MAX_LEN]
    # A NetBIOS name may not end with a hyphen; upstream turns exactly one into a zero.
    if short.endswith("-"):
        short = short[:-1] + "0"
    return short


def set_host_name(osutils: OSUtils, conf: AgentConfig, name: str) -> tuple[str, bool]:
    """Apply ``name``; returns the name used and whether a reboot is needed."""
    new_name = normalise_host_name(name, conf.get("netbios_host_name_compatibility"))
    if new_name.lower() == osutils.get_node_name().lower():
        LOG.debug("Hostname already set to: %s", new_name)
        return new_name, False
    LOG.info("Setting hostname: %s", new_name)
    return new_name, bool(osutils.set_host_name(new_name))
