"""User data dispatch: multipart, template, cloud-config, certificate or script."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from guestsim.agent.plugins.base import AgentContext, PluginResult
from guestsim.agent.userdata.exitcodes import get_plugin_return_value
from guestsim.agent.userdata.handlers import (
    CLOUD_CONFIG_TYPE,
    CloudConfigPlugin,
    load_user_data_plugins,
)
from guestsim.agent.userdata.mime import process_multipart
from guestsim.agent.userdata.scripts import execute_user_data_script

if TYPE_CHECKING:
    from guestsim.agent.metadata.base import MetadataService

LOG = logging.getLogger(__name__)

# Quirk (upstream): a case-sensitive substring test on the first paragraph only.
MULTIPART_MARKER = "Content-Type: multipart"
CLOUD_CONFIG_HEADER = b"#cloud-config"
CERTIFICATE_HEADER = b"-----BEGIN CERTIFICATE-----"


class UserDataHeaderError(Exception):
    """The user data's first paragraph is not UTF-8 text."""


def header_block(data: bytes) -> str:
    """The text before the first blank line (``\\n\\n``); not UTF-8 raises."""
    try:
        return data.split(b"\n\n", 1)[0].decode("utf-8")
    except UnicodeDecodeError:
        raise UserDataHeaderError("No header could be found in the user data") from None


def _cloud_config_plugin(context: AgentContext, service: MetadataService) -> CloudConfigPlugin:
    plugin = load_user_data_plugins(context, service).get(CLOUD_CONFIG_TYPE)
    if not isinstance(plugin, CloudConfigPlugin):
        raise LookupError(f"No user data plugin handles {CLOUD_CONFIG_TYPE}")
    return plugin


def process_non_multipart(context: AgentContext, service: MetadataService, data: bytes) -> Any:
    """The exit code (or None) of user data that is not multipart."""
    from guestsim.agent.userdata.templating import render_template

    rendered = render_template(data, service)
    if rendered is not None:
        data = rendered
    if data.startswith(CLOUD_CONFIG_HEADER):
        return _cloud_config_plugin(context, service).process_data(data)
    if data.strip().startswith(CERTIFICATE_HEADER):
        # Consumed by WinRM certificate authentication, not executed here.
        LOG.debug("Found X509 certificate in userdata")
        return None
    return execute_user_data_script(context, data)


def process_user_data(context: AgentContext, service: MetadataService, data: bytes) -> PluginResult:
    """``(status, reboot)`` for decoded, non-empty user data."""
    if MULTIPART_MARKER in header_block(data):
        return process_multipart(context, service, data)
    return get_plugin_return_value(process_non_multipart(context, service, data))
