"""The machine every scenario starts from: a freshly sysprepped Windows Server 2019."""

from __future__ import annotations

from guestsim.agent.osutils import SERVICE_START_MODE_AUTOMATIC, SERVICE_START_MODE_MANUAL
from guestsim.simulator.windows.registry import RegType
from guestsim.simulator.windows.state import (
    AGENT_BIN_DIR,
    AGENT_KEY,
    BUILTIN_ADMIN_RID,
    PROFILE_LIST_KEY,
    SYSPREP_KEY,
    TIME_ZONE_KEY,
    LocalGroup,
    NetworkAdapter,
    Service,
    UserAccount,
    WindowsState,
)
from guestsim.simulator.windows.storage import add_system_disk


def default_windows_state() -> WindowsState:
    """A freshly sysprepped Windows Server 2019 with the agent installed as a service."""
    state = WindowsState()
    add_system_disk(state)
    state.users = [
        UserAccount("Administrator", BUILTIN_ADMIN_RID, password=None, disabled=True),
        UserAccount("Guest", 501, disabled=True),
    ]
    state.groups = [
        LocalGroup("Administrators", "S-1-5-32-544", ["Administrator"]),
        LocalGroup("Users", "S-1-5-32-545"),
        LocalGroup("Remote Desktop Users", "S-1-5-32-555"),
    ]
    state.adapters = [
        NetworkAdapter("Ethernet", "52:54:00:12:34:56", "10.0.0.15", dhcp_server="10.0.0.1")
    ]
    state.services = [
        Service(
            "cloudbase-init",
            "Cloudbase-Init",
            SERVICE_START_MODE_AUTOMATIC,
            binary_path=(
                "C:\\Program Files\\Cloudbase Solutions\\Cloudbase-Init\\Python\\Scripts\\"
                "cloudbase-init.exe"
            ),
        ),
        Service("w32time", "Windows Time", SERVICE_START_MODE_MANUAL, account="LocalService"),
        Service("WinRM", "Windows Remote Management", SERVICE_START_MODE_AUTOMATIC),
    ]
    registry = state.registry
    registry.create_key(AGENT_KEY)
    registry.create_key(SYSPREP_KEY)
    registry.set_value(SYSPREP_KEY, "GeneralizationState", 7, RegType.REG_DWORD)
    registry.create_key(TIME_ZONE_KEY)
    registry.set_value(TIME_ZONE_KEY, "RealTimeIsUniversal", 0, RegType.REG_DWORD)
    registry.create_key(PROFILE_LIST_KEY)
    # Windows Server 2019 ships .NET Framework 4.7.2 and the Terminal Services policy key.
    dotnet = "HKLM\\SOFTWARE\\Microsoft\\NET Framework Setup\\NDP\\v4\\Full"
    registry.create_key(dotnet)
    registry.set_value(dotnet, "Install", 1, RegType.REG_DWORD)
    registry.set_value(dotnet, "Release", 461814, RegType.REG_DWORD)
    registry.create_key("HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows NT\\Terminal Services")
    # The installer ships these next to the agent; the stock conf points bsdtar_path and
    # mtools_path at them.
    for tool in ("bsdtar.exe", "mcopy.exe", "mlabel.exe"):
        state.files.write(f"{AGENT_BIN_DIR}\\{tool}", b"MZ")
    return state
