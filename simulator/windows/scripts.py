"""The fake Windows: running guest programs and scripts, and path ACLs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from agent.osutils import ProcessResult
from simulator.errors import NotModelled
from simulator.windows.fakebase import FakeOSBase

LOG = logging.getLogger(__name__)


@dataclass
class ScriptsState:
    """What this domain keeps on the machine (persists across reboots)."""


class ScriptsOS(FakeOSBase):
    def execute_process(
        self, args: Sequence[str], shell: bool = True, decode_output: bool = False
    ) -> ProcessResult:
        program = args[0] if args else ""
        if ("\\" in program or "/" in program) and not self.path_exists(program):
            # A program named by its path must be there; CreateProcess fails otherwise.
            raise FileNotFoundError(2, "The system cannot find the file specified", program)
        # Programs SystemCommands does not know raise NotModelled before anything is
        # recorded; a known one is recorded once it has run.
        try:
            result = self.commands.run(list(args))
        except NotModelled as ex:
            raise NotModelled(f"execute_process: {ex.what}") from None
        self._mutation("execute_process", args=list(args))
        return result

    def execute_powershell_script(self, script_path: str, sysnative: bool = True) -> ProcessResult:
        self._not_modelled("execute_powershell_script")

    def set_path_admin_acls(self, path: str) -> None:
        self._not_modelled("set_path_admin_acls")

    def take_path_ownership(self, path: str, username: str | None = None) -> None:
        self._not_modelled("take_path_ownership")
