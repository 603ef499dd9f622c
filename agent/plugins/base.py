"""What every plugin is: a stage, optional OS requirements and ``execute``."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from guestsim.agent.events import EventSink, discard_events

if TYPE_CHECKING:
    from guestsim.agent.config import AgentConfig
    from guestsim.agent.dhcp import DhcpTransport
    from guestsim.agent.metadata.base import MetadataService
    from guestsim.agent.osutils import OSUtils

# Values stored in the registry per plugin; upstream's numbers, because users' images
# and tools read them.
PLUGIN_EXECUTION_DONE = 1
PLUGIN_EXECUTE_ON_NEXT_BOOT = 2

PluginResult = tuple[int, bool]
SharedData = dict[str, Any]


class Stage(enum.StrEnum):
    PRE_NETWORKING = "PRE_NETWORKING"
    PRE_METADATA_DISCOVERY = "PRE_METADATA_DISCOVERY"
    MAIN = "MAIN"


@dataclass
class AgentContext:
    """What the agent gives every plugin and metadata service: config and OS access."""

    conf: AgentConfig
    osutils: OSUtils
    dhcp: DhcpTransport | None = None
    events: EventSink = field(default=discard_events)


OSRequirements = tuple[str | None, tuple[int, int] | None]


class Plugin:
    execution_stage: ClassVar[Stage] = Stage.MAIN
    os_requirements: ClassVar[OSRequirements] = (None, None)

    def __init__(self, context: AgentContext) -> None:
        self.context = context
        self.conf = context.conf
        self.osutils = context.osutils

    def get_name(self) -> str:
        # Upstream stores statuses under the bare class name; so do we, so a registry
        # written by either agent is read correctly by the other.
        return type(self).__name__

    def get_os_requirements(self) -> OSRequirements:
        return self.os_requirements

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        raise NotImplementedError
