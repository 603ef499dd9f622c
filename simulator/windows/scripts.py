"""The fake Windows: running guest programs and scripts, and path ACLs.

Guest scripts never run on the host. What a script does is declared by the scenario
(:class:`ScriptDeclaration`): it is matched by the path it runs from (a glob), by the
SHA-256 of its content, or by a marker text the content contains; its runs are a
sequence (the n-th execution uses the n-th entry, the last entry repeats), each with an
exit code, output and effects on the machine. The effects go through the fake's own
methods, so they are traced like any other change. A script nobody declared exits 0
with no output and no effect.

Every execution is a ``script`` trace event and an entry of ``ScriptsState.runs``.

Interpreters: ``cmd`` (a ``.cmd``/``.bat`` file run through the shell), ``powershell``
(the 64-bit PowerShell from system32/sysnative), ``powershell_x86`` (the 32-bit one from
syswow64), ``bash``, ``python``, ``exe`` (a program file of the user's), and
``part_handler`` (a user-data part handler's ``handle_part``, which upstream calls in
its own process). The simulated guest has PowerShell, ``python`` and ``bash`` on its
path.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from guestsim.agent.osutils import OSUtilsError, ProcessResult
from guestsim.simulator.errors import NotModelled
from guestsim.simulator.windows.fakebase import FakeOSBase

if TYPE_CHECKING:
    from guestsim.agent.osutils import OSUtils

LOG = logging.getLogger(__name__)

CMD = "cmd"
POWERSHELL = "powershell"
POWERSHELL_X86 = "powershell_x86"
BASH = "bash"
PYTHON = "python"
EXE = "exe"
PART_HANDLER = "part_handler"
INTERPRETERS = (CMD, POWERSHELL, POWERSHELL_X86, BASH, PYTHON, EXE, PART_HANDLER)

POWERSHELL_RELATIVE = "WindowsPowerShell\\v1.0\\powershell.exe"
POWERSHELL_OPTIONS = ("-ExecutionPolicy", "RemoteSigned", "-NonInteractive", "-File")
# SIDs icacls grants full control to: LocalSystem and the local Administrators group.
ADMIN_ACL_SIDS = ("S-1-5-18", "S-1-5-32-544")


# --- what a scenario declares ------------------------------------------------------------


@dataclass(frozen=True)
class CreateFile:
    """The script writes a file (parent folders are created)."""

    path: str
    content: bytes


@dataclass(frozen=True)
class SetRegistryValue:
    """The script writes a registry value (the key is created)."""

    key: str
    name: str
    value_type: str
    data: Any


@dataclass(frozen=True)
class AddUser:
    """The script creates a local user, optionally adding it to groups."""

    name: str
    password: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class SetHostName:
    """The script renames the computer (effective after the next reboot, as on Windows)."""

    name: str


Effect = CreateFile | SetRegistryValue | AddUser | SetHostName


@dataclass(frozen=True)
class ScriptRunSpec:
    """One execution of a declared script: what it prints, returns and changes.

    ``error`` makes the execution itself fail (the process cannot be started, or a part
    handler raises) with that message; there is then no exit code and no effect.
    """

    exit_code: int = 0
    stdout: bytes = b""
    stderr: bytes = b""
    effects: tuple[Effect, ...] = ()
    error: str | None = None


DEFAULT_RUN = ScriptRunSpec()


@dataclass(frozen=True)
class ScriptDeclaration:
    """A script the scenario knows; every given matcher must match (at least one is)."""

    name: str
    path: str | None = None
    sha256: str | None = None
    marker: str | None = None
    runs: tuple[ScriptRunSpec, ...] = ()
    # For a Python part handler: what its list_types() returns. None: the module defines
    # neither list_types nor handle_part.
    part_handler_types: tuple[str, ...] | None = None

    def matches(self, path: str, content: bytes) -> bool:
        if self.path is not None and not fnmatch.fnmatchcase(path.lower(), self.path.lower()):
            return False
        if self.sha256 is not None and hashlib.sha256(content).hexdigest() != self.sha256.lower():
            return False
        return self.marker is None or self.marker.encode("utf-8") in content

    def run_spec(self, number: int) -> ScriptRunSpec:
        if not self.runs:
            return DEFAULT_RUN
        return self.runs[min(number, len(self.runs)) - 1]


@dataclass(frozen=True)
class ScriptRun:
    """One entry of the run log."""

    interpreter: str
    path: str
    args: tuple[str, ...]
    content: bytes
    declaration: str | None
    run: int
    exit_code: int | None
    error: str | None = None
    part_event: str | None = None

    def matches(self, pattern: str) -> bool:
        """A path glob, a declaration name or a marker contained in the script."""
        return (
            fnmatch.fnmatchcase(self.path.lower(), pattern.lower())
            or self.declaration == pattern
            or pattern.encode("utf-8") in self.content
        )


@dataclass
class ScriptsState:
    """Declared script behaviours, the log of every script run, and path ACLs/owners.

    All of it persists across reboots (run numbers keep counting after a restart).
    """

    declarations: list[ScriptDeclaration] = field(default_factory=list)
    runs: list[ScriptRun] = field(default_factory=list)
    run_counts: dict[str, int] = field(default_factory=dict)
    # Lower-cased path -> SIDs with full control after ``set_path_admin_acls``.
    path_acls: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Lower-cased path -> account that took ownership.
    path_owners: dict[str, str] = field(default_factory=dict)

    def declaration_for(self, path: str, content: bytes) -> ScriptDeclaration | None:
        return next((d for d in self.declarations if d.matches(path, content)), None)

    def runs_matching(self, pattern: str, interpreter: str | None = None) -> list[ScriptRun]:
        return [
            run
            for run in self.runs
            if run.matches(pattern) and (interpreter is None or run.interpreter == interpreter)
        ]


def _effect_from_spec(spec: Mapping[str, Any]) -> Effect:
    (kind, value), *rest = spec.items()
    if rest:
        raise ValueError(f"an effect has exactly one kind, got {sorted(spec)}")
    if kind == "create_file":
        return CreateFile(value["path"], str(value.get("content", "")).encode("utf-8"))
    if kind == "registry":
        return SetRegistryValue(
            value["key"], value["name"], value.get("type", "REG_SZ"), value.get("data")
        )
    if kind == "add_user":
        return AddUser(value["name"], value["password"], tuple(value.get("groups", ())))
    if kind == "set_host_name":
        return SetHostName(str(value))
    raise ValueError(f"unknown script effect {kind!r}")


def declaration_from_spec(spec: Mapping[str, Any], index: int) -> ScriptDeclaration:
    """A declaration from a scenario's ``scripts`` entry (already schema-checked)."""
    runs = tuple(
        ScriptRunSpec(
            exit_code=run.get("exit_code", 0),
            stdout=str(run.get("stdout", "")).encode("utf-8"),
            stderr=str(run.get("stderr", "")).encode("utf-8"),
            effects=tuple(_effect_from_spec(effect) for effect in run.get("effects", ())),
            error=run.get("error"),
        )
        for run in spec.get("runs", ())
    )
    types_ = spec.get("part_handler_types")
    return ScriptDeclaration(
        name=spec.get("name", f"scripts[{index}]"),
        path=spec.get("path"),
        sha256=spec.get("sha256"),
        marker=spec.get("marker"),
        runs=runs,
        part_handler_types=None if types_ is None else tuple(types_),
    )


# --- the fake's side ----------------------------------------------------------------------


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
            result = self.commands.run(args)
        except NotModelled as ex:
            raise NotModelled(f"execute_process: {ex.what}") from None
        self._mutation("execute_process", args=args)
        return result

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
        if self.commands.knows(name):
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


__all__ = [
    "INTERPRETERS",
    "AddUser",
    "CreateFile",
    "Effect",
    "ScriptDeclaration",
    "ScriptRun",
    "ScriptRunSpec",
    "ScriptsOS",
    "ScriptsState",
    "SetHostName",
    "SetRegistryValue",
    "declaration_from_spec",
]
