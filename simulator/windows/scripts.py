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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LOG = logging.getLogger(__name__)

CMD = "cmd"
POWERSHELL = "powershell"
POWERSHELL_X86 = "powershell_x86"
BASH = "bash"
PYTHON = "python"
EXE = "exe"
PART_HANDLER = "part_handler"
INTERPRETERS = (CMD, POWERSHELL, POWERSHELL_X86, BASH, PYTHON, EXE, PART_HANDLER)


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


__all__ = [
    "INTERPRETERS",
    "AddUser",
    "CreateFile",
    "Effect",
    "ScriptDeclaration",
    "ScriptRun",
    "ScriptRunSpec",
    "ScriptsState",
    "SetHostName",
    "SetRegistryValue",
    "declaration_from_spec",
]
