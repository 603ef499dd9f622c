"""User-data plugins: one handler per MIME content type of a multipart part.

The ``user_data_plugins`` option names them by upstream class path
(``cloudbaseinit.plugins.common.userdataplugins.<module>.<Class>``); the table below maps
those paths to the classes here, and ``load_user_data_plugins`` indexes them by type.
"""

from __future__ import annotations

import logging
import ntpath
from collections.abc import Callable
from email.message import Message
from typing import TYPE_CHECKING, Any, ClassVar

from guestsim.agent.plugins.base import AgentContext
from guestsim.agent.userdata.scripts import execute_script_file, execute_user_data_script

if TYPE_CHECKING:
    from guestsim.agent.metadata.base import MetadataService

LOG = logging.getLogger(__name__)

PartHandler = Callable[[Any, str, str | None, bytes | None], Any]

PART_HANDLER_TYPE = "text/part-handler"
CLOUD_CONFIG_TYPE = "text/cloud-config"
CLOUD_BOOTHOOK_TYPE = "text/cloud-boothook"
SHELL_SCRIPT_TYPE = "text/x-shellscript"
MULTIPART_MIXED_TYPE = "multipart/mixed"
HEAT_TYPE = "text/x-cfninitdata"
HEAT_USER_DATA_FILE = "cfn-userdata"


class UserDataPluginLoadError(Exception):
    """A path in ``user_data_plugins`` names no user-data plugin."""


def _payload(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


class UserDataHandler:
    """One content type's handler; ``process`` returns the part's exit code (or None)."""

    mime_type: ClassVar[str]

    def __init__(self, context: AgentContext, service: MetadataService) -> None:
        self.context = context
        self.conf = context.conf
        self.osutils = context.osutils
        self.service = service

    def get_mime_type(self) -> str:
        return self.mime_type

    def process(self, part: Message) -> Any:
        raise NotImplementedError


class PartHandlerPlugin(UserDataHandler):
    """A Python module whose ``handle_part`` takes over the types ``list_types`` names."""

    mime_type = PART_HANDLER_TYPE

    def process(self, part: Message) -> dict[str, PartHandler]:
        # The file is written to %TEMP% under the part's own name and left there. A part
        # without a file name fails here (upstream joins the path with None).
        path = ntpath.join(self.osutils.get_temp_dir(), part.get_filename())  # type: ignore[arg-type]
        self.osutils.write_file(path, _payload(part))
        module = self.osutils.load_python_module(path)
        list_types = getattr(module, "list_types", None)
        handle_part = getattr(module, "handle_part", None)
        if not (callable(list_types) and callable(handle_part)):
            return {}
        return {str(content_type): handle_part for content_type in list_types()}


class CloudConfigPlugin(UserDataHandler):
    """``#cloud-config`` YAML; the result is 1003 when a module asked for a reboot, else 0."""

    mime_type = CLOUD_CONFIG_TYPE

    def process_data(self, data: bytes) -> Any:
        from guestsim.agent.userdata.cloudconfig import process_cloud_config

        return process_cloud_config(self.context, self.service, data)

    def process(self, part: Message) -> Any:
        return self.process_data(_payload(part))


class CloudBootHookPlugin(UserDataHandler):
    mime_type = CLOUD_BOOTHOOK_TYPE

    def process(self, part: Message) -> None:
        LOG.info("%s content is currently not supported", CLOUD_BOOTHOOK_TYPE)


class ShellScriptPlugin(UserDataHandler):
    """The part is saved to %TEMP% under its file name, run as a script file, deleted."""

    mime_type = SHELL_SCRIPT_TYPE

    def process(self, part: Message) -> Any:
        # As upstream, the path is built outside the error handling: a part without a
        # file name is a part error, not a warning.
        path = ntpath.join(self.osutils.get_temp_dir(), part.get_filename())  # type: ignore[arg-type]
        try:
            self.osutils.write_file(path, _payload(part))
            return execute_script_file(self.context, path)
        except Exception as ex:
            LOG.warning("An error occurred during user_data execution: '%s'", ex)
            return None
        finally:
            if self.osutils.path_exists(path):
                self.osutils.remove_path(path)


class MultipartMixedPlugin(UserDataHandler):
    """The container part itself: nothing to do (its children are walked separately)."""

    mime_type = MULTIPART_MIXED_TYPE

    def process(self, part: Message) -> None:
        return None


class HeatPlugin(UserDataHandler):
    """Heat's files go to ``heat_config_dir``; ``cfn-userdata`` also runs as user data."""

    mime_type = HEAT_TYPE

    def process(self, part: Message) -> Any:
        folder: str = self.conf.get("heat_config_dir")
        self.osutils.make_dirs(folder)
        filename = part.get_filename()
        payload = _payload(part)
        self.osutils.write_file(ntpath.join(folder, filename), payload)  # type: ignore[arg-type]
        if filename == HEAT_USER_DATA_FILE:
            return execute_user_data_script(self.context, payload)
        return None


_UPSTREAM = "cloudbaseinit.plugins.common.userdataplugins."
USER_DATA_PLUGINS: dict[str, type[UserDataHandler]] = {
    f"{_UPSTREAM}parthandler.PartHandlerPlugin": PartHandlerPlugin,
    f"{_UPSTREAM}cloudconfig.CloudConfigPlugin": CloudConfigPlugin,
    f"{_UPSTREAM}cloudboothook.CloudBootHookPlugin": CloudBootHookPlugin,
    f"{_UPSTREAM}shellscript.ShellScriptPlugin": ShellScriptPlugin,
    f"{_UPSTREAM}multipartmixed.MultipartMixedPlugin": MultipartMixedPlugin,
    f"{_UPSTREAM}heat.HeatPlugin": HeatPlugin,
}


def load_user_data_plugins(
    context: AgentContext, service: MetadataService
) -> dict[str, UserDataHandler]:
    """The configured user-data plugins by content type (a later one wins a shared type).

    A path that names no user-data plugin raises, failing the UserDataPlugin: upstream
    imports each class without guarding the import.
    """
    plugins: dict[str, UserDataHandler] = {}
    for path in context.conf.get("user_data_plugins"):
        cls = USER_DATA_PLUGINS.get(path)
        if cls is None:
            raise UserDataPluginLoadError(f"Could not import user data plugin {path!r}")
        plugin = cls(context, service)
        plugins[plugin.get_mime_type()] = plugin
    return plugins
