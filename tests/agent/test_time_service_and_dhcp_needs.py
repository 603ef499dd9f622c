"""NTPClientPlugin's time service triggers by Windows version, and the DHCP plugins' need
for a DHCP transport.

The network start/stop triggers of ``w32time`` exist from Windows 7 / Server 2008 R2
(6.1) on; the first version that has them must get them. An agent started without a way
to talk DHCP cannot run the DHCP-driven plugins and says which plugin needed it.
"""

from __future__ import annotations

import pytest

from guestsim.agent.config import config_from_options
from guestsim.agent.plugins.base import PLUGIN_EXECUTION_DONE, AgentContext
from guestsim.agent.plugins.mtu import MTUPlugin
from guestsim.agent.plugins.ntpclient import DhcpUnavailable, WindowsNTPClientPlugin
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.version import WindowsVersion
from tests.builders import openstack_machine, standalone_osutils


def test_ntp_on_windows_2008_r2_sets_the_network_triggers_of_w32time() -> None:
    state = default_windows_state()
    state.version = WindowsVersion(6, 1, 7601)
    machine, _ = openstack_machine(("ntp",), {"allow_reboot": False}, state=state)
    result = machine.run()

    (end,) = result.trace.of_kind("plugin_end")
    assert (end.get("success"), end.get("status")) == (True, PLUGIN_EXECUTION_DONE)
    w32time = result.state.find_service("w32time")
    assert w32time is not None
    assert w32time.triggers == ["start/networkon", "stop/networkoff"]
    assert [
        e.get("args")
        for e in result.trace.of_kind("os")
        if e.get("call") == "execute_system32_process"
    ] == [
        ["sc.exe", "triggerinfo", "w32time", "delete"],
        ["sc.exe", "triggerinfo", "w32time", "start/networkon", "stop/networkoff"],
    ]


def context_without_dhcp(**options: object) -> AgentContext:
    conf = config_from_options({"DEFAULT": dict(options)}, "test")
    return AgentContext(conf, standalone_osutils([]))


def test_ntp_from_dhcp_without_a_dhcp_transport_names_the_plugin() -> None:
    plugin = WindowsNTPClientPlugin(context_without_dhcp(ntp_use_dhcp_config=True))

    with pytest.raises(DhcpUnavailable) as raised:
        plugin.execute(None, {})

    assert str(raised.value) == "NTPClientPlugin needs DHCP but no DHCP transport is set"


def test_mtu_without_a_dhcp_transport_names_the_plugin() -> None:
    plugin = MTUPlugin(context_without_dhcp())

    with pytest.raises(DhcpUnavailable) as raised:
        plugin.execute(None, {})

    assert str(raised.value) == "MTUPlugin needs DHCP but no DHCP transport is set"
