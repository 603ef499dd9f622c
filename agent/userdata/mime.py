"""MIME multipart user data: every part, depth first, through its content type's handler."""

from __future__ import annotations

import email
import logging
from email.message import Message
from typing import TYPE_CHECKING, Any

from guestsim.agent.plugins.base import PLUGIN_EXECUTION_DONE, AgentContext, PluginResult
from guestsim.agent.userdata.exitcodes import get_plugin_return_value
from guestsim.agent.userdata.handlers import (
    PART_HANDLER_TYPE,
    PartHandler,
    PartHandlerPlugin,
    UserDataHandler,
    load_user_data_plugins,
)

if TYPE_CHECKING:
    from guestsim.agent.metadata.base import MetadataService

LOG = logging.getLogger(__name__)

BEGIN_EVENT = "__begin__"
END_EVENT = "__end__"


class MultipartProcessor:
    """One walk over a multipart document, with the part handlers it registers."""

    def __init__(self, plugins: dict[str, UserDataHandler]) -> None:
        self.plugins = plugins
        self.user_handlers: dict[str, PartHandler] = {}

    def _add_part_handlers(self, handlers: dict[str, PartHandler]) -> None:
        for content_type, handler in handlers.items():
            if content_type in self.plugins:
                LOG.info(
                    "Not adding part handler for content type %s: a user data plugin "
                    "already handles it",
                    content_type,
                )
                continue
            LOG.info("Adding part handler for content type: %s", content_type)
            self.user_handlers[content_type] = handler
            handler(None, BEGIN_EVENT, None, None)

    def _process_part(self, part: Message) -> Any:
        content_type = part.get_content_type()
        handler = self.user_handlers.get(content_type)
        if handler is not None:
            # What a part handler returns is not the part's exit code.
            payload = part.get_payload(decode=True)
            handler(
                None,
                content_type,
                part.get_filename(),
                payload if isinstance(payload, bytes) else None,
            )
            return None
        plugin = self.plugins.get(content_type)
        if plugin is None:
            LOG.info("Userdata plugin not found for content type: %s", content_type)
            return None
        if content_type == PART_HANDLER_TYPE and isinstance(plugin, PartHandlerPlugin):
            self._add_part_handlers(plugin.process(part))
            return None
        return plugin.process(part)

    def _distinct_handlers(self) -> list[PartHandler]:
        # Upstream ends each distinct handler via a set, in hash order; guestsim keeps the
        # order of registration so that traces never depend on object addresses.
        distinct: list[PartHandler] = []
        for handler in self.user_handlers.values():
            if handler not in distinct:
                distinct.append(handler)
        return distinct

    def run(self, data: bytes) -> PluginResult:
        message = email.message_from_bytes(data)
        result: PluginResult = (PLUGIN_EXECUTION_DONE, False)
        for part in message.walk():
            try:
                exit_code = self._process_part(part)
            except Exception:
                # A failing part counts as exit code 0; the walk goes on.
                LOG.exception("Could not process the %s part", part.get_content_type())
                exit_code = 0
            # Quirk (upstream): the result is the last processed part's, not an aggregate.
            result = get_plugin_return_value(exit_code)
            if result[1]:
                # Quirk (upstream): the parts after one asking for a reboot are not run.
                break
        if not result[1]:
            # Outside the per-part error handling: a failing __end__ fails the plugin.
            for handler in self._distinct_handlers():
                handler(None, END_EVENT, None, None)
        return result


def process_multipart(context: AgentContext, service: MetadataService, data: bytes) -> PluginResult:
    """``(status, reboot)`` of a MIME multipart user data document."""
    return MultipartProcessor(load_user_data_plugins(context, service)).run(data)
