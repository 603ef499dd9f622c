"""System programs the fake Windows knows how to run (``sc.exe`` ...), by their effect.

Guest programs never run on the host. Each known program is a function over the state;
anything else is reported as not modelled, never silently "succeeds".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from agent.osutils import ProcessResult
from simulator.errors import NotModelled

if TYPE_CHECKING:
    from simulator.windows.state import WindowsState

SUCCESS: ProcessResult = (b"", b"", 0)


class SystemCommands:
    def __init__(self, state: WindowsState) -> None:
        self.state = state
        self._programs: dict[str, Callable[[list[str]], ProcessResult]] = {
            "sc.exe": self._sc,
            "rpctool.exe": self._rpctool,
        }

    def run(self, args: list[str]) -> ProcessResult:
        program = args[0].rsplit("\\", 1)[-1].lower() if args else ""
        handler = self._programs.get(program)
        if handler is None:
            raise NotModelled(f"running {program or '<nothing>'!r}")
        return handler(args[1:])

    def _sc(self, args: list[str]) -> ProcessResult:
        if len(args) >= 2 and args[0].lower() == "triggerinfo":
            service = self.state.find_service(args[1])
            if service is None:
                # sc.exe's own answer for an unknown service: error 1060.
                message = b"[SC] OpenService FAILED 1060:\r\n\r\n"
                return message, b"", 1060
            triggers = args[2:]
            service.triggers = [] if triggers == ["delete"] else list(triggers)
            return b"[SC] ChangeServiceConfig2 SUCCESS\r\n", b"", 0
        raise NotModelled(f"sc.exe {' '.join(args[:1])}")

    def _rpctool(self, args: list[str]) -> ProcessResult:
        # VMware Tools' rpctool takes the whole RPC as one argument: "info-get <name>".
        if len(args) != 1:
            raise NotModelled(f"rpctool.exe with {len(args)} arguments")
        verb, _, name = args[0].partition(" ")
        if verb != "info-get":
            raise NotModelled(f"rpctool.exe {verb!r}")
        guestinfo = self.state.guestinfo
        if guestinfo is None:
            # Off VMware the backdoor channel does not answer.
            return b"", b"Failed sending message to VMware.\r\n", 1
        wanted = name.strip().lower()
        # Variable names are case-insensitive, as in a VM's configuration file.
        for key, value in guestinfo.items():
            if key.lower() == wanted:
                return value, b"", 0
        return b"", b"No value found\r\n", 1


VMWARE_RPCTOOL = "C:\\Program Files\\VMware\\VMware Tools\\rpctool.exe"


def install_vmware_tools(state: WindowsState, guestinfo: dict[str, bytes]) -> None:
    """VMware Tools on the guest: ``rpctool.exe`` exists and answers from ``guestinfo``."""
    state.guestinfo = dict(guestinfo)
    state.files.make_dirs(VMWARE_RPCTOOL.rsplit("\\", 1)[0])
    state.files.write(VMWARE_RPCTOOL, b"MZ")
