"""System programs the fake Windows knows how to run (``sc.exe`` ...), by their effect.

Guest programs never run on the host. Each known program is a function over the state;
anything else is reported as not modelled, never silently "succeeds".
"""

from __future__ import annotations

from collections.abc import Callable

from agent.osutils import ProcessResult
from simulator.errors import NotModelled
from simulator.windows.state import WindowsState

SUCCESS: ProcessResult = (b"", b"", 0)


class SystemCommands:
    def __init__(self, state: WindowsState) -> None:
        self.state = state
        self._programs: dict[str, Callable[[list[str]], ProcessResult]] = {
            "sc.exe": self._sc,
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
