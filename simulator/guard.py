"""The host guard: a run (or a test) may not touch the host beyond what it owns.

guestsim runs guest-controlled input inside the host's Python process, and nothing it
simulates needs the host: guest files live in the fake Windows, guest scripts are
interpreted, clouds answer on 127.0.0.1. The guard holds the process to that with a
Python audit hook (:func:`sys.addaudithook`): while a :class:`Policy` is active, these
effects are refused —

* a **write** outside the policy's folders and files and ``os.devnull`` (``open`` for
  writing, ``os.remove``, ``os.rename``, ``os.mkdir``, ``shutil.rmtree``, ...). Folders and
  files that ``tempfile`` creates inside the system temporary folder while the policy is
  active become writable; the temporary folder itself does not. Bytecode caches
  (``__pycache__/*.pyc`` and the ``__pycache__`` folder, Python's own) are always allowed;
* a **process** (``subprocess.Popen``, ``os.exec*``, ``os.posix_spawn``, ``os.system``,
  ``os.fork``, ...) other than the programs the policy names;
* a **connection** (``socket.connect``, ``sendto``, ``bind``) or name lookup for any
  address that is not loopback (``127.0.0.0/8``, ``::1``, ``localhost``).

A refused effect raises :class:`GuardViolation` where it happens (an exception raised
in an audit hook propagates to the caller) and is also recorded, so that code which
swallows the exception is still caught: :meth:`HostGuard.take` returns the record.

An audit hook cannot be removed, so :func:`install` adds one hook per process, once; its
behaviour follows the active policy (none: everything is allowed).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import sys
import sysconfig
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from guestsim.simulator.errors import GuestsimError

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_O_TMPFILE = getattr(os, "O_TMPFILE", 0)

# Events whose arguments name paths the call writes (by position).
_WRITES: dict[str, tuple[int, ...]] = {
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.mkdir": (0,),
    "os.rename": (0, 1),
    "os.link": (1,),
    "os.symlink": (1,),
    "os.truncate": (0,),
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.chflags": (0,),
    "os.lchflags": (0,),
    "os.lchmod": (0,),
    "os.utime": (0,),
    "os.setxattr": (0,),
    "os.removexattr": (0,),
    "shutil.rmtree": (0,),
    "shutil.copyfile": (1,),
    "shutil.copymode": (1,),
    "shutil.copystat": (1,),
    "shutil.copytree": (1,),
    "shutil.move": (0, 1),
    "shutil.make_archive": (0,),
    "shutil.unpack_archive": (1,),
}
# The dir_fd argument that a path argument of those events is relative to, where one is.
_DIR_FD: dict[tuple[str, int], int] = {
    ("os.remove", 0): 1,
    ("os.rmdir", 0): 1,
    ("os.mkdir", 0): 2,
    ("os.rename", 0): 2,
    ("os.rename", 1): 3,
    ("os.link", 1): 3,
    ("os.symlink", 1): 2,
    ("os.chmod", 0): 2,
    ("os.chown", 0): 3,
    ("os.utime", 0): 3,
    ("shutil.rmtree", 0): 1,
}
_PROCESSES = {
    "subprocess.Popen",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.system",
    "os.fork",
    "os.forkpty",
    "os.startfile",
    "pty.spawn",
}
_SOCKETS = {"socket.connect", "socket.sendto", "socket.sendmsg", "socket.bind"}
_LOOKUPS = {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex"}


class GuardViolation(GuestsimError):
    """A guarded run or test tried a host effect its policy forbids."""


@dataclass(frozen=True)
class Violation:
    """One refused effect: what was tried, and the code that tried it."""

    effect: str
    where: str

    def __str__(self) -> str:
        return f"{self.effect} at {self.where}"


@dataclass
class Policy:
    """What a guarded scope may do: write under ``writable`` (folders or files), start the
    ``programs`` (names, matched against the executable's file name, or absolute paths)."""

    label: str
    writable: Iterable[str | os.PathLike[str]] = ()
    programs: Iterable[str] = ()
    temp_root: str = field(default_factory=tempfile.gettempdir)

    def __post_init__(self) -> None:
        self.roots = [_real(p) for p in self.writable]
        self.temp = _real(self.temp_root)
        self.names = {p for p in self.programs if not os.path.isabs(p)}
        self.paths = {_real(p) for p in self.programs if os.path.isabs(p)}


def _real(path: str | bytes | os.PathLike[Any]) -> str:
    return os.path.realpath(os.fsdecode(path))


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


_STDLIB = tuple(_real(sysconfig.get_paths()[key]) + os.sep for key in ("stdlib", "platstdlib"))
_SITE = tuple(_real(sysconfig.get_paths()[key]) + os.sep for key in ("purelib", "platlib"))
_HERE = _real(__file__)


def _stdlib(path: str) -> bool:
    return path.startswith(_STDLIB) and not path.startswith(_SITE)


def _frame(frame: FrameType | None) -> str:
    """The innermost frame of the code that asked for the effect: not the guard, not
    the standard library (``open`` inside ``pathlib``) and not a frozen module."""
    first = None
    while frame is not None:
        name = frame.f_code.co_filename
        if not name.startswith("<frozen") and _real(name) != _HERE:
            here = f"{name}:{frame.f_lineno} in {frame.f_code.co_name}"
            first = first or here
            if not _stdlib(_real(name)):
                return here if here == first else f"{here} (via {first})"
        frame = frame.f_back
    return first or "<unknown>"


@dataclass
class _Scope:
    policy: Policy
    created: list[str] = field(default_factory=list)
    recorded: list[Violation] = field(default_factory=list)


class HostGuard:
    """The process's one audit hook and the policies it applies. Scopes nest (a test
    running pytest in-process guards its inner tests with their own policies): the
    innermost active policy applies."""

    def __init__(self) -> None:
        self._scopes: list[_Scope] = []
        self._permits = 0
        self._busy = threading.local()
        self._lock = threading.Lock()

    @property
    def policy(self) -> Policy | None:
        return self._scopes[-1].policy if self._scopes else None

    # --- scope ------------------------------------------------------------------------------

    def activate(self, policy: Policy) -> None:
        """Apply ``policy`` from now on, until :meth:`deactivate`."""
        with self._lock:
            self._scopes.append(_Scope(policy))

    def deactivate(self) -> list[Violation]:
        """End the innermost policy (the one before applies again); the violations recorded
        under it and not yet taken."""
        with self._lock:
            scope = self._scopes.pop() if self._scopes else None
        return scope.recorded if scope is not None else []

    @contextlib.contextmanager
    def guarding(self, policy: Policy) -> Iterator[list[Violation]]:
        """``policy`` inside the block; the list fills with what was refused in it."""
        found: list[Violation] = []
        self.activate(policy)
        try:
            yield found
        finally:
            found.extend(self.deactivate())

    def take(self) -> list[Violation]:
        """The violations recorded under the innermost policy since the last call (also
        those an exception handler swallowed)."""
        with self._lock:
            if not self._scopes:
                return []
            scope = self._scopes[-1]
            taken, scope.recorded = scope.recorded, []
        return taken

    def raise_recorded(self) -> None:
        """Raise one :class:`GuardViolation` naming every violation recorded so far."""
        taken = self.take()
        if taken:
            raise GuardViolation(describe(taken, self.policy.label if self.policy else "run"))

    @contextlib.contextmanager
    def permit_workers(self) -> Iterator[None]:
        """guestsim's own worker processes (``--jobs``) may start inside this block; the
        workers themselves (forked) stay guarded by the same policy."""
        self._permits += 1
        try:
            yield
        finally:
            self._permits -= 1

    def _after_fork_in_child(self) -> None:
        self._permits = 0
        self._lock = threading.Lock()
        for scope in self._scopes:
            scope.recorded = []

    # --- the hook ---------------------------------------------------------------------------

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        scopes = self._scopes
        if not scopes or getattr(self._busy, "on", False):
            return
        scope = scopes[-1]
        policy = scope.policy
        if not (
            event == "open"
            or event in _WRITES
            or event in _PROCESSES
            or event in _SOCKETS
            or event in _LOOKUPS
            or event.startswith("tempfile.")
        ):
            return
        self._busy.on = True
        try:
            effect = self._refused(scope, event, args)
            if effect is None:
                return
            violation = Violation(effect, _frame(sys._getframe(1)))
            with self._lock:
                scope.recorded.append(violation)
        finally:
            self._busy.on = False
        raise GuardViolation(f"guard ({policy.label}): {violation}")

    def _refused(self, scope: _Scope, event: str, args: tuple[Any, ...]) -> str | None:
        policy = scope.policy
        if event in ("tempfile.mkdtemp", "tempfile.mkstemp"):
            path = _real(args[0])
            # Made right in the temporary folder (where tempfile puts what it makes unless
            # told otherwise) or in a place already writable: not anywhere below the temp
            # folder, which may hold a checkout (a CI clone under /tmp).
            parent = os.path.dirname(path)
            if parent == policy.temp or self._writable(scope, parent, folder=True):
                scope.created.append(path)
                return None
            return f"{event}({os.fsdecode(args[0])!r}) outside {policy.temp}"
        if event == "open":
            path, mode, flags = args
            if isinstance(path, int) or path is None:
                return None
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if not writing:
                return None
            target = _real(path)
            if os.path.isdir(target) and self._writable(scope, target, folder=True):
                return None  # O_TMPFILE: an anonymous file, gone when closed
            if self._writable(scope, target):
                return None
            return f"a write outside {self._owned(policy)}: open({os.fsdecode(path)!r}, {mode!r})"
        if event in _WRITES:
            for index in _WRITES[event]:
                raw = args[index]
                if isinstance(raw, int) or raw is None:
                    continue
                at = _DIR_FD.get((event, index))
                target = _resolve(raw, args[at] if at is not None and at < len(args) else None)
                if event == "os.mkdir" and os.path.basename(target) == "__pycache__":
                    continue  # the folder of Python's own bytecode cache (first import)
                if not self._writable(scope, target):
                    shown = ", ".join(repr(a) for a in args if isinstance(a, str | bytes))
                    return f"a write outside {self._owned(policy)}: {event}({shown})"
            return None
        if event in _PROCESSES:
            program = _program(event, args)
            if self._permits and event == "os.fork":
                return None
            if program is not None and self._allowed_program(policy, program):
                return None
            shown = _command(event, args)
            return f"a process not declared for this {_scope(policy)}: {event}({shown})"
        if event in _SOCKETS:
            address = args[1]
            if isinstance(address, str | bytes):  # AF_UNIX: local; binding one makes a file
                named = address[:1] not in ("", b"", "\0", b"\0")
                if event == "socket.bind" and named and not self._writable(scope, _real(address)):
                    return f"a write outside {self._owned(policy)}: {event}({address!r})"
                return None
            if (
                isinstance(address, tuple)
                and address
                and isinstance(address[0], str)
                and _loopback(address[0])
            ):
                return None
            return f"a connection to a non-loopback address: {event}({address!r})"
        if event in _LOOKUPS:
            host = args[0]
            if host is None or _loopback(os.fsdecode(host)) or _literal(os.fsdecode(host)):
                return None  # an address, not a name: nothing is asked of the network
            return f"a name lookup of a non-loopback host: {event}({host!r})"
        return None

    def _writable(self, scope: _Scope, target: str, folder: bool = False) -> bool:
        policy = scope.policy
        if os.path.basename(os.path.dirname(target)) == "__pycache__" and ".pyc" in target:
            return True  # Python's own bytecode cache
        if target == os.devnull:
            return True
        if folder and target == policy.temp:
            return True
        return any(_under(target, root) for root in (*policy.roots, *scope.created))

    def _owned(self, policy: Policy) -> str:
        return f"the {_scope(policy)}'s temporary folders"

    def _allowed_program(self, policy: Policy, program: str) -> bool:
        if os.sep in program and _real(program) in policy.paths:
            return True
        return os.path.basename(program) in policy.names


def _scope(policy: Policy) -> str:
    return "test" if policy.label.startswith("test ") else "run"


def _resolve(raw: str | bytes | os.PathLike[Any], dir_fd: Any) -> str:
    path = os.fsdecode(raw)
    if isinstance(dir_fd, int) and dir_fd >= 0 and not os.path.isabs(path):
        with contextlib.suppress(OSError):
            path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)
    return _real(path)


def _program(event: str, args: tuple[Any, ...]) -> str | None:
    """The executable an event starts (None: a fork, or a shell command)."""
    if event == "subprocess.Popen":
        executable, argv = args[0], args[1]
        if executable is not None:
            return os.fsdecode(executable)
        if isinstance(argv, str | bytes | os.PathLike):
            return os.fsdecode(argv)
        first = next(iter(argv), None) if argv is not None else None
        return os.fsdecode(first) if first is not None else None
    if event in ("os.exec", "os.posix_spawn"):
        return os.fsdecode(args[0])
    if event == "os.spawn":
        return os.fsdecode(args[1])
    return None


def _command(event: str, args: tuple[Any, ...]) -> str:
    if event == "subprocess.Popen":
        argv = args[1]
        if isinstance(argv, str | bytes):
            return repr(os.fsdecode(argv))
        return repr([os.fsdecode(a) for a in argv]) if argv is not None else repr(args[0])
    if event in ("os.exec", "os.posix_spawn"):
        return repr([os.fsdecode(a) for a in args[1]])
    if event == "os.system":
        return repr(os.fsdecode(args[0]))
    return ""


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def describe(violations: list[Violation], label: str) -> str:
    """One message for the violations of ``label`` (a test id, or "guestsim run")."""
    lines = [f"guard ({label}): {len(violations)} forbidden host effect(s):"]
    lines += [f"  {violation}" for violation in violations]
    return "\n".join(lines)


_GUARD: HostGuard | None = None


def install() -> HostGuard:
    """The process's guard, its audit hook added on the first call (hooks are permanent)."""
    global _GUARD
    if _GUARD is None:
        tempfile.gettempdir()  # its first call probes the folder with a write of its own
        _GUARD = HostGuard()
        sys.addaudithook(_GUARD.hook)
        os.register_at_fork(after_in_child=_GUARD._after_fork_in_child)
    return _GUARD


def active() -> HostGuard | None:
    """The guard when a policy is active in this process, else None."""
    return _GUARD if _GUARD is not None and _GUARD.policy is not None else None
