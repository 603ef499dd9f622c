"""MTUPlugin: MTUs from DHCP option 26 applied to the adapters that use DHCP."""

from __future__ import annotations

import logging
from typing import ClassVar

from guestsim.agent import dhcp
from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.plugins.base import (
    PLUGIN_EXECUTE_ON_NEXT_BOOT,
    Plugin,
    PluginResult,
    SharedData,
    Stage,
)
from guestsim.agent.plugins.ntpclient import dhcp_transport

LOG = logging.getLogger(__name__)


class MTUPlugin(Plugin):
    execution_stage: ClassVar[Stage] = Stage.PRE_METADATA_DISCOVERY

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        if self.conf.get("mtu_use_dhcp_config"):
            transport = dhcp_transport(self)
            for adapter_name, mac, server in self.osutils.get_dhcp_hosts_in_use():
                options = dhcp.get_dhcp_options(transport, self.osutils, server, [dhcp.OPTION_MTU])
                value = (options or {}).get(dhcp.OPTION_MTU)
                if value:
                    self.osutils.set_network_adapter_mtu(adapter_name, dhcp.decode_mtu(value))
                else:
                    LOG.debug(
                        'Could not obtain the MTU configuration via DHCP for interface "%s"', mac
                    )
        # Always re-run: DHCP answers may change between boots.
        return PLUGIN_EXECUTE_ON_NEXT_BOOT, False
