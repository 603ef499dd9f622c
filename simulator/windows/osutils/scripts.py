"""ScriptsOS: running guest programs and scripts as the scenario declares them, path ACLs.

What a script does is declared in :mod:`guestsim.simulator.windows.scripts`; this is the
OS boundary that runs them by those declarations.
"""

from __future__ import annotations

import hashlib
import ntpath
import types
from collections.abc import Sequence
from typing import Any, cast

from guestsim.agent.osutils import OSUtils, OSUtilsError, ProcessResult
from guestsim.simulator.errors import NotModelled
from guestsim.simulator.windows.osutils.base import FakeOSBase
from guestsim.simulator.windows.scripts import (
    BASH,
    CMD,
    DEFAULT_RUN,
    EXE,
    PART_HANDLER,
    POWERSHELL,
    POWERSHELL_X86,
    PYTHON,
    AddUser,
    CreateFile,
    Effect,
    ScriptRun,
    SetRegistryValue,
)

POWERSHELL_RELATIVE = "WindowsPowerShell\\v1.0\\powershell.exe"
POWERSHELL_OPTIONS = ("-ExecutionPolicy", "RemoteSigned", "-NonInteractive", "-File")
# SIDs icacls grants full control to: LocalSystem and the local Administrators group.
ADMIN_ACL_SIDS = ("S-1-5-18", "S-1-5-32-544")


def _file_name(path: str) -> str:
    return path.rsplit("\\", 1)[-1].lower()


class _PartHandlerModule(types.ModuleType):
    """A part handler "imported" into the agent: its calls are simulated executions."""

    def __init__(self, owner: ScriptsOS, path: str, content: bytes, types_: Sequence[str]):
        super().__init__(_file_name(path).rsplit(".", 1)[0])
        self._owner = owner
        self._path = path
        self._content = content
        self._types = list(types_)

    def list_types(self) -> list[str]:
        return list(self._types)

    def handle_part(
        self, data: object, ctype: str, filename: str | None, payload: bytes | None
    ) -> None:
        # Upstream ignores what handle_part returns; the exit code is only recorded.
        self._owner._run_script(
            PART_HANDLER,
            self._path,
            (self._path, ctype, filename or ""),
            content=self._content,
            part_event=ctype,
        )


class ScriptsOS(FakeOSBase):
    @property
    def _os(self) -> OSUtils:
        # The mixin is only ever used inside FakeOSUtils, which is the whole OSUtils.
        return cast("OSUtils", self)

    # --- processes --------------------------------------------------------------------

    def execute_process(
        self, args: Sequence[str], shell: bool = True, decode_output: bool = False
    ) -> ProcessResult:
        args = list(args)
        launch = self._script_launch(args, shell)
        if launch is not None:
            interpreter, script = launch
            return self._run_script(interpreter, script, tuple(args))
        program = args[0] if args else ""
        if ("\\" in program or "/" in program) and not self.path_exists(program):
            # A program named by its path must be there; CreateProcess fails otherwise.
            raise FileNotFoundError(2, "The system cannot find the file specified", program)
        # Programs SystemCommands does not know raise NotModelled before anything is
        # recorded; a known one is recorded once it has run.
        try:
            if self._is_vmware_rpctool(program):
                result = self.commands.rpctool(args[1:])
            else:
                result = self.commands.run(args)
        except NotModelled as ex:
            raise NotModelled(f"execute_process: {ex.what}") from None
        self._mutation("execute_process", args=args)
        return result

    def _is_vmware_rpctool(self, program: str) -> bool:
        """``program`` is a file on the guest that the configuration names as VMware
        Tools' rpctool (``processes.add_vmware_rpctool``)."""
        if not program or not self.state.vmware_rpctool_paths:
            return False
        resolved = self._resolved_program(program)
        named = any(
            self._resolved_program(path) == resolved for path in self.state.vmware_rpctool_paths
        )
        return named and self.path_exists(resolved)

    def _resolved_program(self, path: str) -> str:
        """``path`` expanded, made absolute (from the system folder) and normalised."""
        expanded = self._os.expand_environment_variables(path)
        if not ntpath.isabs(expanded):
            expanded = ntpath.join(self._os.get_system32_dir(), expanded)
        return ntpath.normcase(ntpath.normpath(expanded))

    def _script_launch(self, args: list[str], shell: bool) -> tuple[str, str] | None:
        """(interpreter, script path) when ``args`` runs a script or a user's program."""
        if not args:
            return None
        program = args[0]
        name = _file_name(program)
        if name == "powershell.exe":
            folder = program.rsplit("\\", 1)[0].lower() if "\\" in program else ""
            x86 = folder.startswith(self._os.get_syswow64_dir().lower())
            if "-File" in args[:-1]:
                script = args[args.index("-File") + 1]
            elif len(args) == 2:
                script = args[1]  # Nano Server: no options before the script
            else:
                raise NotModelled(f"execute_process: powershell.exe {' '.join(args[1:2])}")
            return (POWERSHELL_X86 if x86 else POWERSHELL), script
        if name in ("python", "python.exe") and len(args) == 2:
            return PYTHON, args[1]
        if name in ("bash", "bash.exe") and len(args) == 2:
            return BASH, args[1]
        if self.commands.knows(name) or self._is_vmware_rpctool(program):
            return None
        if shell and len(args) == 1 and name.endswith((".cmd", ".bat")):
            return CMD, program
        if len(args) == 1 and name.endswith(".exe") and "\\" in program:
            return EXE, program
        return None

    def _run_script(
        self,
        interpreter: str,
        path: str,
        args: tuple[str, ...],
        content: bytes | None = None,
        part_event: str | None = None,
    ) -> ProcessResult:
        if content is None:
            if not self.path_exists(path):
                if interpreter in (CMD, EXE):
                    raise FileNotFoundError(2, "The system cannot find the file specified", path)
                raise NotModelled(f"{interpreter} running {path}, which does not exist")
            content = self.read_file(path)
        scripts = self.state.scripts
        declaration = scripts.declaration_for(path, content)
        number = 1
        spec = DEFAULT_RUN
        if declaration is not None:
            number = scripts.run_counts.get(declaration.name, 0) + 1
            scripts.run_counts[declaration.name] = number
            spec = declaration.run_spec(number)
        exit_code = None if spec.error is not None else spec.exit_code
        scripts.runs.append(
            ScriptRun(
                interpreter,
                path,
                args,
                content,
                declaration.name if declaration else None,
                number,
                exit_code,
                spec.error,
                part_event,
            )
        )
        event: dict[str, Any] = {
            "interpreter": interpreter,
            "path": path,
            "args": list(args),
            "sha256": hashlib.sha256(content).hexdigest(),
            "declaration": declaration.name if declaration else None,
            "run": number,
            "exit_code": exit_code,
        }
        if spec.error is not None:
            event["error"] = spec.error
        if part_event is not None:
            event["part_event"] = part_event
        self.trace.emit("script", **event)
        if spec.error is not None:
            if interpreter == PART_HANDLER:
                raise RuntimeError(spec.error)
            raise OSUtilsError(spec.error)
        for effect in spec.effects:
            self._apply_effect(effect)
        return spec.stdout, spec.stderr, spec.exit_code

    def _apply_effect(self, effect: Effect) -> None:
        osutils = self._os
        if isinstance(effect, CreateFile):
            parent = effect.path.rsplit("\\", 1)[0]
            if parent and parent != effect.path:
                self.make_dirs(parent)
            self.write_file(effect.path, effect.content)
        elif isinstance(effect, SetRegistryValue):
            self.set_registry_value(
                effect.key, effect.name, effect.data, effect.value_type, create=True
            )
        elif isinstance(effect, AddUser):
            osutils.create_user(effect.name, effect.password)
            for group in effect.groups:
                osutils.add_user_to_local_group(effect.name, group)
        else:
            osutils.set_host_name(effect.name)

    def execute_powershell_script(self, script_path: str, sysnative: bool = True) -> ProcessResult:
        osutils = self._os
        if sysnative:
            base = (
                osutils.get_sysnative_dir()
                if osutils.check_sysnative_dir_exists()
                else osutils.get_system32_dir()
            )
        else:
            # The simulated agent is a 64-bit process: its 32-bit PowerShell is syswow64's.
            base = osutils.get_syswow64_dir()
        args = [f"{base}\\{POWERSHELL_RELATIVE}"]
        if not osutils.is_nano_server():
            args += POWERSHELL_OPTIONS
        args.append(script_path)
        return self.execute_process(args, shell=False)

    # --- part handlers (Python modules imported by the agent) -------------------------

    def load_python_module(self, path: str) -> types.ModuleType:
        if not path.lower().endswith((".py", ".pyc")):
            raise ImportError(f"No module loader for {path!r}: not a .py or .pyc file")
        if not self.path_exists(path):
            raise FileNotFoundError(2, "No such file or directory", path)
        content = self.read_file(path)
        declaration = self.state.scripts.declaration_for(path, content)
        handler_types = None if declaration is None else declaration.part_handler_types
        self.trace.emit(
            "python_import",
            path=path,
            declaration=declaration.name if declaration else None,
            types=None if handler_types is None else list(handler_types),
        )
        if handler_types is None:
            # An undeclared module imports fine and defines nothing a handler needs.
            return types.ModuleType(_file_name(path).rsplit(".", 1)[0])
        return _PartHandlerModule(self, path, content, handler_types)

    # --- ACLs and ownership -----------------------------------------------------------

    def set_path_admin_acls(self, path: str) -> None:
        if not self.path_exists(path):
            # icacls.exe exits 2 for a missing path, and the agent raises on any rc != 0.
            raise OSUtilsError(f"icacls.exe failed for {path}: the path does not exist")
        self._mutation("set_path_admin_acls", path=path, sids=list(ADMIN_ACL_SIDS))
        self.state.scripts.path_acls[path.lower()] = ADMIN_ACL_SIDS

    def take_path_ownership(self, path: str, username: str | None = None) -> None:
        if username:
            raise NotImplementedError("take_path_ownership with a username")
        if not self.path_exists(path):
            raise OSUtilsError(f"takeown.exe failed for {path}: the path does not exist")
        # takeown.exe /F without /A: the account running the agent becomes the owner.
        owner = "\\".join(self.process_user)
        self._mutation("take_path_ownership", path=path, owner=owner)
        self.state.scripts.path_owners[path.lower()] = owner
