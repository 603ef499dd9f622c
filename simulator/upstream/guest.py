"""The host modules the published agent reaches for, answered by the guest it runs on.

Upstream code calls ``os.makedirs``, ``open``, ``tempfile.gettempdir``, ``time.sleep``,
``socket.socket``, ``urllib.request.urlopen``, ``platform.node`` and reads
``sys.platform`` directly. Each ``cloudbaseinit`` module is given these objects instead of
the host's (:func:`bind_module`, called by the import hook), and they act on the fake Windows
of the agent process currently running (:func:`running`): files on the guest drive, sleeps in
virtual time, DHCP on the simulated network, HTTP through the simulated clouds. Whatever is
not listed here stops the run as ``not_modelled`` rather than reaching the host.
"""

from __future__ import annotations

import builtins
import datetime as dt
import email.message
import gzip
import http.client
import importlib
import importlib.metadata
import io
import ntpath
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableSet, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import jinja2
import jinja2.sandbox
import requests
import yaml

from guestsim.agent.plugins.azureguestagent import member_target
from guestsim.agent.resources import ResourceLimits, check_expanded_size, read_bounded
from guestsim.agent.userdata.sandbox import BoundedSandbox
from guestsim.simulator.errors import NotModelled


class DhcpLink(Protocol):
    """What the guest's network offers a raw socket: DHCP exchanges on the simulated LAN."""

    def source_address(self, server: str | None) -> str: ...

    def exchange(self, server: str | None, request: bytes, timeout: float) -> bytes | None: ...


@dataclass
class GuestProcess:
    """The agent process the shims act for: its OS, its network, its command line."""

    osutils: Any  # the fake Windows (FakeOSUtils) the adapter wraps
    dhcp: DhcpLink | None
    argv: Sequence[str]
    # The machine's trace events (agent_start, plugin events ...) and the agent's version.
    events: Callable[..., None] = lambda kind, **fields: None
    version: str = ""
    rng: random.Random = field(default_factory=lambda: random.Random(0))


_process: GuestProcess | None = None


@contextmanager
def running(process: GuestProcess) -> Iterator[None]:
    """Point every shim at ``process`` for the length of one agent process (nested for a
    respawn, restored when the child ends)."""
    global _process
    outer, _process = _process, process
    try:
        yield
    finally:
        _process = outer


def current() -> GuestProcess:
    if _process is None:
        raise NotModelled("upstream agent code ran outside an agent process")
    return _process


def _not_modelled(what: str) -> NotModelled:
    return NotModelled(f"upstream agent uses {what}")


class _Shim(types.ModuleType):
    """A module-like object: its own names, then a short list passed through from the real
    module (pure functions and constants), and ``not_modelled`` for everything else."""

    passthrough: tuple[str, ...] = ()
    real: types.ModuleType

    def __init__(self, name: str) -> None:
        super().__init__(name)

    def __getattr__(self, name: str) -> Any:
        if name in self.passthrough or name.startswith("__"):
            return getattr(self.real, name)
        raise _not_modelled(f"{self.__name__}.{name}")


# --- files --------------------------------------------------------------------------------


class _GuestPath(_Shim):
    real = ntpath
    passthrough = (
        "basename",
        "commonprefix",
        "dirname",
        "isabs",
        "join",
        "normcase",
        "normpath",
        "sep",
        "split",
        "splitdrive",
        "splitext",
    )

    def exists(self, path: str) -> bool:
        return bool(current().osutils.path_exists(os.fspath(path)))

    def isdir(self, path: str) -> bool:
        return bool(current().osutils.is_dir(os.fspath(path)))

    def isfile(self, path: str) -> bool:
        return self.exists(path) and not self.isdir(path)

    def getsize(self, path: str) -> int:
        return len(current().osutils.read_file(os.fspath(path)))

    def abspath(self, path: str) -> str:
        path = os.fspath(path)
        if ntpath.isabs(path):
            return ntpath.normpath(path)
        return ntpath.normpath(ntpath.join(_guest_os.getcwd(), path))

    def expandvars(self, path: str) -> str:
        return str(current().osutils.expand_environment_variables(os.fspath(path)))


class _GuestOs(_Shim):
    real = os
    passthrough = ("fspath", "strerror", "SEEK_SET", "SEEK_CUR", "SEEK_END")
    name = "nt"
    sep = "\\"
    altsep = "/"
    linesep = "\r\n"
    pathsep = ";"
    curdir = "."
    pardir = ".."
    extsep = "."
    devnull = "nul"
    path = _GuestPath("os.path")
    error = OSError

    @property
    def environ(self) -> Mapping[str, str]:
        return _GuestEnviron()

    def getenv(self, name: str, default: str | None = None) -> str | None:
        value = current().osutils.get_environment_variable(name)
        return default if value is None else value

    def getcwd(self) -> str:
        # A service's working folder is System32.
        return str(current().osutils.get_system32_dir())

    def listdir(self, path: str = ".") -> list[str]:
        return list(current().osutils.list_dir(os.fspath(path)))

    def makedirs(self, path: str, mode: int = 0o777, exist_ok: bool = False) -> None:
        path = os.fspath(path)
        osutils = current().osutils
        if osutils.path_exists(path):
            if exist_ok and osutils.is_dir(path):
                return
            raise FileExistsError(17, "Cannot create a file when that file already exists", path)
        osutils.make_dirs(path)

    def mkdir(self, path: str, mode: int = 0o777) -> None:
        path = os.fspath(path)
        osutils = current().osutils
        if osutils.path_exists(path):
            raise FileExistsError(17, "Cannot create a file when that file already exists", path)
        if not osutils.is_dir(ntpath.dirname(path)):
            raise FileNotFoundError(3, "The system cannot find the path specified", path)
        osutils.make_dirs(path)

    def remove(self, path: str) -> None:
        path = os.fspath(path)
        osutils = current().osutils
        if osutils.is_dir(path):
            raise PermissionError(5, "Access is denied", path)
        if not osutils.path_exists(path):
            raise FileNotFoundError(2, "The system cannot find the file specified", path)
        osutils.remove_path(path)

    unlink = remove

    def rmdir(self, path: str) -> None:
        path = os.fspath(path)
        osutils = current().osutils
        if not osutils.is_dir(path):
            raise NotADirectoryError(267, "The directory name is invalid", path)
        if osutils.list_dir(path):
            raise OSError(145, "The directory is not empty", path)
        osutils.remove_path(path)

    def chmod(self, path: str, mode: int) -> None:
        # Windows keeps only the read-only bit; the guest drive does not model attributes.
        if not current().osutils.path_exists(os.fspath(path)):
            raise FileNotFoundError(2, "The system cannot find the file specified", path)

    def urandom(self, count: int) -> bytes:
        return bytes(current().osutils.random_bytes(count))

    def walk(self, top: str) -> Iterator[tuple[str, list[str], list[str]]]:
        osutils = current().osutils
        names = sorted(osutils.list_dir(top), key=str.lower)
        folders = [n for n in names if osutils.is_dir(ntpath.join(top, n))]
        files = [n for n in names if n not in folders]
        yield top, folders, files
        for folder in folders:
            yield from self.walk(ntpath.join(top, folder))


class _GuestEnviron(Mapping[str, str]):
    def __getitem__(self, name: str) -> str:
        value = current().osutils.get_environment_variable(name)
        if value is None:
            raise KeyError(name)
        return str(value)

    def __iter__(self) -> Iterator[str]:
        raise _not_modelled("os.environ listing")

    def __len__(self) -> int:
        raise _not_modelled("os.environ listing")


class GuestFile(io.BytesIO):
    """A file opened on the guest drive: written back as one write when it is closed."""

    def __init__(self, path: str, mode: str) -> None:
        osutils = current().osutils
        if not ntpath.isabs(path):
            # Relative to the process's working folder on the guest, never the host's.
            path = _guest_os.path.abspath(path)
        self.path, self.open_mode = path, mode
        self._osutils = osutils
        self._writing = any(flag in mode for flag in "wax+")
        if "r" in mode:
            if osutils.is_dir(path):
                raise PermissionError(13, "Permission denied", path)
            if not osutils.path_exists(path):
                raise FileNotFoundError(2, "No such file or directory", path)
            initial = bytes(osutils.read_file(path))
        else:
            if not osutils.is_dir(ntpath.dirname(path) or "."):
                raise FileNotFoundError(2, "No such file or directory", path)
            if "x" in mode and osutils.path_exists(path):
                raise FileExistsError(17, "File exists", path)
            # "a+" reads what the file holds; "w" and "x" start empty, "a" only appends.
            readable = "a" in mode and "+" in mode and osutils.path_exists(path)
            initial = bytes(osutils.read_file(path)) if readable else b""
        # In append mode only what this handle adds after the file's content is written.
        self._appended_from = len(initial)
        super().__init__(initial)
        if "a" in mode:
            self.seek(0, io.SEEK_END)

    def close(self) -> None:
        if not self.closed and self._writing:
            data = self.getvalue()
            if "a" in self.open_mode:
                data = data[self._appended_from :]
            self._osutils.write_file(self.path, data, append="a" in self.open_mode)
        super().close()


def guest_open(
    file: str,
    mode: str = "r",
    buffering: int = -1,
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
) -> Any:
    """``open`` on the guest drive (text modes through a ``TextIOWrapper``)."""
    if not isinstance(file, (str, os.PathLike)):
        raise _not_modelled(f"open() of a file descriptor ({file!r})")
    raw = GuestFile(os.fspath(file), mode.replace("b", "").replace("t", "") or "r")
    if "b" in mode:
        return raw
    # Python on Windows reads and writes text in the ANSI code page; the agent's own
    # files are ASCII, and UTF-8 keeps anything else readable. Written text gets Windows
    # line ends, as a text-mode file on Windows does.
    if newline is None and raw._writing:
        newline = "\r\n"
    return io.TextIOWrapper(raw, encoding=encoding or "utf-8", errors=errors, newline=newline)


_TEMP_NAME_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789_"


class _GuestTempfile(_Shim):
    real = tempfile

    def gettempdir(self) -> str:
        return str(current().osutils.get_temp_dir())

    def mkdtemp(self, suffix: str = "", prefix: str = "tmp", dir: str | None = None) -> str:
        osutils = current().osutils
        parent = dir or self.gettempdir()
        rng = current().rng
        while True:
            # Eight characters from the alphabet Python's tempfile draws its names from.
            name = prefix + "".join(rng.choice(_TEMP_NAME_CHARACTERS) for _ in range(8)) + suffix
            path = ntpath.join(parent, name)
            if not osutils.path_exists(path):
                osutils.make_dirs(path)
                return path


class _GuestShutil(_Shim):
    real = shutil

    def rmtree(self, path: str, ignore_errors: bool = False, onerror: Any = None) -> None:
        osutils = current().osutils
        if not osutils.is_dir(path):
            if ignore_errors:
                return
            raise FileNotFoundError(3, "The system cannot find the path specified", path)
        osutils.remove_path(path)

    def copytree(self, src: str, dst: str) -> str:
        osutils = current().osutils
        if osutils.path_exists(dst):
            raise FileExistsError(183, "Cannot create a file when that file already exists", dst)
        osutils.make_dirs(dst)
        for name in sorted(osutils.list_dir(src), key=str.lower):
            source, target = ntpath.join(src, name), ntpath.join(dst, name)
            if osutils.is_dir(source):
                self.copytree(source, target)
            else:
                osutils.write_file(target, osutils.read_file(source))
        return dst


# --- time, randomness, the process ----------------------------------------------------------


class _GuestTime(_Shim):
    real = time
    passthrough = ("gmtime", "localtime", "mktime", "strftime", "strptime", "struct_time")

    def sleep(self, seconds: float) -> None:
        current().osutils.sleep(seconds)

    def time(self) -> float:
        return float(current().osutils.utc_now().timestamp())

    def monotonic(self) -> float:
        return self.time()


class _GuestUuid(_Shim):
    real = uuid
    passthrough = ("UUID", "NAMESPACE_DNS", "NAMESPACE_URL", "uuid3", "uuid5")

    def uuid4(self) -> uuid.UUID:
        return uuid.UUID(bytes=bytes(current().osutils.random_bytes(16)), version=4)


class _GuestRandom(_Shim):
    real = random

    def __getattr__(self, name: str) -> Any:
        if name in ("randint", "choice", "random", "randrange", "shuffle", "sample", "getrandbits"):
            return getattr(current().rng, name)
        return super().__getattr__(name)

    def SystemRandom(self) -> random.Random:
        return current().rng


class _GuestSys(_Shim):
    real = sys
    passthrough = (
        "exc_info",
        "exit",
        "getdefaultencoding",
        "getfilesystemencoding",
        "maxsize",
        "modules",
        "stderr",
        "version",
        "version_info",
    )
    platform = "win32"

    @property
    def executable(self) -> str:
        return str(current().osutils.get_python_executable())

    @property
    def argv(self) -> list[str]:
        return list(current().argv)

    @property
    def stdout(self) -> Any:
        # A service has no console; upstream only asks it for an encoding.
        return types.SimpleNamespace(encoding="cp437", write=lambda text: len(text))


class _GuestPlatform(_Shim):
    real = platform

    def node(self) -> str:
        return str(current().osutils.get_node_name())

    def system(self) -> str:
        return "Windows"


class _GuestThreading(_Shim):
    real = threading
    passthrough = ("Lock", "RLock", "Event", "local", "current_thread")

    class Thread:
        """Runs its target when started, to the end: the agent's only thread is its update
        check, and a run must not depend on a thread's timing."""

        def __init__(
            self,
            target: Callable[..., Any] | None = None,
            args: Sequence[Any] = (),
            kwargs: Mapping[str, Any] | None = None,
            daemon: bool | None = None,
            name: str | None = None,
        ) -> None:
            self.target, self.args, self.kwargs = target, tuple(args), dict(kwargs or {})
            self.daemon = daemon

        def start(self) -> None:
            if self.target is not None:
                self.target(*self.args, **self.kwargs)

        def join(self, timeout: float | None = None) -> None:
            return None

        def is_alive(self) -> bool:
            return False


class _GuestSubprocess(_Shim):
    real = subprocess
    passthrough = ("PIPE", "STDOUT", "DEVNULL", "CalledProcessError")


# --- the network ------------------------------------------------------------------------------


def _dhcp() -> DhcpLink:
    link = current().dhcp
    if link is None:
        raise _not_modelled("a UDP socket on a machine without a simulated network")
    return link


class _GuestUdpSocket:
    """A UDP socket of the guest: DHCP broadcasts on the simulated network, and the
    connect-then-getsockname trick that asks which local address routes somewhere."""

    def __init__(self) -> None:
        self.timeout: float | None = None
        self.peer: tuple[str, int] | None = None
        self.reply: bytes | None = None

    def setsockopt(self, *args: Any) -> None:
        return None

    def bind(self, address: tuple[str, int]) -> None:
        return None

    def settimeout(self, timeout: float | None) -> None:
        self.timeout = timeout

    def connect(self, address: tuple[str, int]) -> None:
        self.peer = (address[0], int(address[1]))

    def getsockname(self) -> tuple[str, int]:
        if self.peer is None:
            raise _not_modelled("socket.getsockname() before connect()")
        host = self.peer[0]
        server = None if host in ("<broadcast>", "255.255.255.255") else host
        return _dhcp().source_address(server), 68

    def sendto(self, data: bytes, address: tuple[str, int]) -> int:
        server = None if address[0] in ("<broadcast>", "255.255.255.255") else address[0]
        self.reply = _dhcp().exchange(server, bytes(data), self.timeout or 0.0)
        return len(data)

    def recv(self, size: int) -> bytes:
        reply, self.reply = self.reply, None
        if reply is None:
            raise TimeoutError("timed out")
        return reply[:size]

    def recvfrom(self, size: int) -> tuple[bytes, tuple[str, int]]:
        return self.recv(size), ("0.0.0.0", 67)

    def close(self) -> None:
        return None


class _GuestSocket(_Shim):
    real = socket
    passthrough = (
        "AF_INET",
        "AF_INET6",
        "SOCK_DGRAM",
        "SOCK_STREAM",
        "SOL_SOCKET",
        "SO_BROADCAST",
        "SO_REUSEADDR",
        "error",
        "herror",
        "gaierror",
        "timeout",
        "inet_aton",
        "inet_ntoa",
        "inet_pton",
        "inet_ntop",
        "htons",
        "ntohs",
        "htonl",
        "ntohl",
    )

    def gethostname(self) -> str:
        return str(current().osutils.get_node_name())

    def socket(
        self, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM, *args: Any
    ) -> Any:
        if family == socket.AF_INET and kind == socket.SOCK_DGRAM:
            return _GuestUdpSocket()
        raise _not_modelled(f"socket.socket(family={family}, type={kind})")


class _UrlopenResponse(io.BytesIO):
    def __init__(self, response: requests.Response) -> None:
        super().__init__(response.content)
        self.status = self.code = response.status_code
        self.headers = response.headers
        self.url = response.url

    def getcode(self) -> int:
        return int(self.status)


class _GuestUrlRequest(_Shim):
    """``urllib.request.urlopen`` carried by ``requests``, which the simulated clouds
    answer; upstream uses it for its metadata route check."""

    real = urllib.request
    passthrough = ("Request",)

    def urlopen(self, url: Any, data: bytes | None = None, timeout: float | None = None) -> Any:
        target = url.full_url if isinstance(url, urllib.request.Request) else str(url)
        method = "POST" if data is not None else "GET"
        try:
            response = requests.request(method, target, data=data, timeout=timeout)
        except requests.RequestException as ex:
            raise urllib.error.URLError(str(ex)) from ex
        # urllib follows redirects (requests did) and raises for any other final non-2xx.
        if not 200 <= response.status_code < 300:
            headers = email.message.Message()
            for name, value in response.headers.items():
                headers[name] = value
            raise urllib.error.HTTPError(
                target, response.status_code, response.reason or "", headers, None
            )
        return _UrlopenResponse(response)


class _HttpResponse:
    def __init__(self, response: requests.Response) -> None:
        self.status = response.status_code
        self.reason = response.reason
        self._body = response.content

    def read(self) -> bytes:
        return self._body


class _HttpConnection:
    """``http.client.HTTPConnection`` over ``requests``: CloudStack's password server is
    spoken to this way upstream."""

    def __init__(self, host: str, port: int | None = None, timeout: float | None = None) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._response: requests.Response | None = None

    def request(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        netloc = self.host if self.port in (None, 80) else f"{self.host}:{self.port}"
        try:
            self._response = requests.request(
                method,
                f"http://{netloc}{url}",
                data=body,
                headers=dict(headers or {}),
                timeout=self.timeout,
            )
        except requests.RequestException as ex:
            # As winsock reports it: upstream's CloudStack client retries on errno 10061.
            raise ConnectionRefusedError(
                10061, "No connection could be made because the target machine actively refused it"
            ) from ex

    def getresponse(self) -> _HttpResponse:
        if self._response is None:
            raise http.client.ResponseNotReady()
        return _HttpResponse(self._response)

    def close(self) -> None:
        self._response = None


class _GuestHttpClient(_Shim):
    real = http.client
    passthrough = ("HTTPException", "OK", "NOT_FOUND", "BAD_REQUEST", "responses")
    HTTPConnection = _HttpConnection


class _GuestHttp(_Shim):
    real = types.ModuleType("http")
    client = _GuestHttpClient("http.client")

    def __getattr__(self, name: str) -> Any:
        raise _not_modelled(f"http.{name}")


class OrderedSet(MutableSet[Any]):
    """``set()`` for upstream code: the same operations, iterated in first-seen order.

    Upstream deduplicates public keys, certificates and user-data handlers with
    ``list(set(...))``; a built-in set's order follows string hashes (different in every
    Python process) and, for functions, memory addresses. First-seen order is one of the
    orders a real guest can show, and the same in every run.
    """

    def __init__(self, items: Iterable[Any] = ()) -> None:
        self._items: dict[Any, None] = dict.fromkeys(items)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"{{{', '.join(map(repr, self._items))}}}" if self._items else "set()"

    def add(self, item: Any) -> None:
        self._items[item] = None

    def discard(self, item: Any) -> None:
        self._items.pop(item, None)

    def update(self, *others: Iterable[Any]) -> None:
        for other in others:
            self._items.update(dict.fromkeys(other))

    def union(self, *others: Iterable[Any]) -> OrderedSet:
        merged = OrderedSet(self)
        merged.update(*others)
        return merged

    def issubset(self, other: Iterable[Any]) -> bool:
        return all(item in set(other) for item in self._items)

    def issuperset(self, other: Iterable[Any]) -> bool:
        return all(item in self._items for item in other)

    def difference(self, other: Iterable[Any]) -> OrderedSet:
        excluded = set(other)
        return OrderedSet(item for item in self._items if item not in excluded)

    def intersection(self, other: Iterable[Any]) -> OrderedSet:
        kept = set(other)
        return OrderedSet(item for item in self._items if item in kept)


class _GuestZipFile(zipfile.ZipFile):
    """A zip archive on the guest drive; extracting writes its members to the guest drive,
    named as Python names them on Windows (no member can land outside the target)."""

    def __init__(self, file: Any, mode: str = "r") -> None:
        if mode != "r":
            raise _not_modelled(f"zipfile.ZipFile(mode={mode!r})")
        if isinstance(file, (str, os.PathLike)):
            file = GuestFile(os.fspath(file), "r")
        super().__init__(file, "r")

    def _members(self, members: Iterable[Any] | None) -> list[zipfile.ZipInfo]:
        if members is None:
            return self.infolist()
        return [m if isinstance(m, zipfile.ZipInfo) else self.getinfo(m) for m in members]

    def extract(self, member: Any, path: Any = None, pwd: bytes | None = None) -> str:
        (info,) = self._members([member])
        target = os.fspath(path) if path is not None else _guest_os.getcwd()
        destination = member_target(target, info.filename) or target
        osutils = current().osutils
        if info.is_dir():
            osutils.make_dirs(destination)
        else:
            osutils.make_dirs(ntpath.dirname(destination))
            # A member expands to the guest's decompressed_bytes at most (a zip bomb ends
            # in DecompressionLimitExceeded, as with guestsim's agent).
            limit = osutils.get_resource_limits().decompressed_bytes
            with self.open(info, pwd=pwd) as stream:
                data = read_bounded(stream, limit, f"{info.filename} in a zip archive")
            osutils.write_file(destination, data)
        return destination

    def extractall(
        self, path: Any = None, members: Iterable[Any] | None = None, pwd: bytes | None = None
    ) -> None:
        for info in self._members(members):
            self.extract(info, path, pwd)


class _GuestZipfile(_Shim):
    real = zipfile
    passthrough = ("ZipInfo", "BadZipFile", "BadZipfile", "ZIP_STORED", "ZIP_DEFLATED")
    ZipFile = _GuestZipFile


class _GuestGzipFile(gzip.GzipFile):
    """``gzip.GzipFile`` whose read of everything stops at the guest's
    ``decompressed_bytes`` (``DecompressionLimitExceeded``, a MemoryError, as with
    guestsim's agent): upstream gunzips user data, guestinfo values and write_files
    content with ``GzipFile(...).read()``, unbounded."""

    def read(self, size: int | None = -1) -> bytes:
        if size is not None and size >= 0:
            return super().read(size)
        limit = current().osutils.get_resource_limits().decompressed_bytes
        return read_bounded(self, limit, "gzip data")


class _GuestGzip(_Shim):
    real = gzip
    passthrough = ("BadGzipFile", "READ", "WRITE")
    GzipFile = _GuestGzipFile


class _GuestDatetime(_Shim):
    """``datetime`` whose ``now()`` is the guest's clock (kept in UTC in the simulation):
    upstream stamps the Azure guest agent's install time and times DHCP waits with it."""

    real = dt
    passthrough = ("date", "time", "timedelta", "timezone", "tzinfo", "MINYEAR", "MAXYEAR", "UTC")

    class datetime(dt.datetime):  # the class keeps the name the module gives it
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:  # type: ignore[override]
            now: dt.datetime = current().osutils.utc_now()
            return now.astimezone(tz) if tz is not None else now.replace(tzinfo=None)

        @classmethod
        def utcnow(cls) -> dt.datetime:  # type: ignore[override]
            return current().osutils.utc_now().replace(tzinfo=None)  # type: ignore[no-any-return]

        @classmethod
        def today(cls) -> dt.datetime:  # type: ignore[override]
            return cls.now()


class _GuestUntangle(types.ModuleType):
    """``untangle`` that reads a guest path: upstream hands it ovf-env.xml's path, which it
    would otherwise look for on the host."""

    def parse(self, source: Any, **features: Any) -> Any:
        untangle = importlib.import_module("untangle")
        osutils = current().osutils
        if isinstance(source, str) and osutils.path_exists(source) and not osutils.is_dir(source):
            source = io.BytesIO(bytes(osutils.read_file(source)))
        return untangle.parse(source, **features)

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module("untangle"), name)


def _guest_module_from_path(module_name: str, path: str) -> types.ModuleType:
    """A Python file on the guest drive imported into the agent (part handlers)."""
    return current().osutils.load_python_module(path)  # type: ignore[no-any-return]


def _guest_import(
    name: str,
    globals: Mapping[str, Any] | None = None,
    locals: Mapping[str, Any] | None = None,
    fromlist: Sequence[str] = (),
    level: int = 0,
) -> types.ModuleType:
    """``__import__`` for upstream's class loader, which instantiates whatever the options
    name (``metadata_services: [tempfile.mkdtemp]`` would call the host's function): only
    the agent's own modules are there to load."""
    if level == 0 and name.partition(".")[0] != "cloudbaseinit":
        raise _not_modelled(f"a class loaded from the module {name!r} (not the agent's own)")
    return builtins.__import__(name, globals, locals, fromlist, level)


# PyYAML's tags that import and call Python: the full loader upstream reads cloud-config
# and NoCloud documents with would build them from the host's Python.
_PYTHON_OBJECT_TAGS = ("name:", "module:", "object:", "object/new:", "object/apply:")


def _python_object_tag(loader: Any, suffix: str, node: Any) -> Any:
    raise _not_modelled(f"a YAML {node.tag} tag (it would run the host's Python)")


def _data_only(loader: Any) -> Any:
    def get_single_data(self: Any) -> Any:
        # YAML aliases can repeat one part of a small document billions of times (upstream
        # writes runcmd's lists out): bounded by the guest's limit on expanded input.
        data = loader.get_single_data(self)
        limit = current().osutils.get_resource_limits().decompressed_bytes
        check_expanded_size(data, limit, "a YAML document")
        return data

    refusing: Any = type(loader.__name__, (loader,), {"get_single_data": get_single_data})
    for kind in _PYTHON_OBJECT_TAGS:
        refusing.add_multi_constructor(f"tag:yaml.org,2002:python/{kind}", _python_object_tag)
    return refusing


class _GuestYaml(types.ModuleType):
    """``yaml`` whose loaders build everything PyYAML's full loader does except Python
    objects, which stop the run as not_modelled."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.Loader = _data_only(yaml.Loader)
        if hasattr(yaml, "CLoader"):
            self.CLoader = _data_only(yaml.CLoader)

    def __getattr__(self, name: str) -> Any:
        return getattr(yaml, name)


class _GuestSandbox(BoundedSandbox):
    """A user-data template may reach Python internals (``cycler.__init__.__globals__``)
    and through them the host: rendered like upstream's plain environment, except that
    such a reach stops the run as not_modelled, and that the guest's resource limits
    bound its output and work (``TemplateLimitExceeded``, as with guestsim's agent)."""

    @property
    def limits(self) -> ResourceLimits:
        # Jinja caches this environment across templates: the limits are the running
        # guest's, asked at each use.
        return current().osutils.get_resource_limits()  # type: ignore[no-any-return]

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        raise _not_modelled(
            f"a Jinja2 template reaching {type(obj).__name__}.{attribute} "
            "(it would run the host's Python)"
        )


class _GuestTemplate(jinja2.Template):
    environment_class = _GuestSandbox

    def render(self, *args: Any, **kwargs: Any) -> str:
        environment: _GuestSandbox = self.environment  # type: ignore[assignment]
        return environment.render_bounded(self, dict(*args, **kwargs))


class _GuestJinja2(types.ModuleType):
    Template = _GuestTemplate

    def __getattr__(self, name: str) -> Any:
        return getattr(jinja2, name)


def _guest_version_info(package: str) -> Any:
    """``pbr.version.VersionInfo`` that reads installed metadata only: without it pbr asks
    ``git`` in the host's working folder (a process, and the host's repository's version)."""
    try:
        importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        raise _not_modelled(
            f"pbr.version.VersionInfo({package!r}) without installed metadata (pbr would "
            "run git on the host; pip install the source tree)"
        ) from None
    pbr_version = importlib.import_module("pbr.version")
    return pbr_version.VersionInfo(package)


class _GuestPbr(types.ModuleType):
    version = types.SimpleNamespace(VersionInfo=_guest_version_info)


class _GuestOauth1(types.ModuleType):
    """oauthlib's OAuth 1 with the nonce and timestamp taken from the guest's clock and
    random stream (oauthlib draws them from the host's)."""

    def Client(self, *args: Any, **kwargs: Any) -> Any:
        process = current()
        timestamp = str(int(process.osutils.utc_now().timestamp()))
        kwargs.setdefault("timestamp", timestamp)
        kwargs.setdefault("nonce", f"{process.rng.getrandbits(64)}{timestamp}")
        return importlib.import_module("oauthlib.oauth1").Client(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module("oauthlib.oauth1"), name)


_guest_os = _GuestOs("os")

# The host module a cloudbaseinit module imported -> what it gets instead.
_SUBSTITUTES: dict[int, object] = {
    id(os): _guest_os,
    id(os.path): _guest_os.path,
    id(tempfile): _GuestTempfile("tempfile"),
    id(shutil): _GuestShutil("shutil"),
    id(time): _GuestTime("time"),
    id(uuid): _GuestUuid("uuid"),
    id(random): _GuestRandom("random"),
    id(sys): _GuestSys("sys"),
    id(platform): _GuestPlatform("platform"),
    id(socket): _GuestSocket("socket"),
    id(threading): _GuestThreading("threading"),
    id(subprocess): _GuestSubprocess("subprocess"),
    id(urllib.request): _GuestUrlRequest("urllib.request"),
    id(sys.modules["http"]): _GuestHttp("http"),
    id(dt): _GuestDatetime("datetime"),
    id(zipfile): _GuestZipfile("zipfile"),
    id(gzip): _GuestGzip("gzip"),
    id(dt.datetime): _GuestDatetime.datetime,
}


# Functions of one upstream module that reach the host's file system by another way.
_FUNCTION_SUBSTITUTES: dict[str, dict[str, object]] = {
    "cloudbaseinit.utils.classloader": {
        "load_module_from_path": _guest_module_from_path,
        "__import__": _guest_import,
    },
    "cloudbaseinit.metadata.services.azureservice": {"untangle": _GuestUntangle("untangle")},
    "cloudbaseinit.metadata.services.ovfservice": {"untangle": _GuestUntangle("untangle")},
    "cloudbaseinit.metadata.services.maasservice": {"oauth1": _GuestOauth1("oauth1")},
    "cloudbaseinit.plugins.common.userdataplugins.cloudconfig": {"yaml": _GuestYaml("yaml")},
    "cloudbaseinit.utils.serialization": {"yaml": _GuestYaml("yaml")},
    "cloudbaseinit.utils.template_engine.jinja2_template": {"jinja2": _GuestJinja2("jinja2")},
    "cloudbaseinit.version": {"pbr": _GuestPbr("pbr")},
}


def bind_module(module: types.ModuleType) -> None:
    """Give an upstream module the guest's ``os``, ``open``, ``time``... in its globals."""
    namespace = vars(module)
    namespace.update(_FUNCTION_SUBSTITUTES.get(module.__name__, {}))
    for name, value in list(namespace.items()):
        substitute = _SUBSTITUTES.get(id(value))
        # On a POSIX host os.path is posixpath, which upstream also imports by that name
        # for URL paths; only os.path means the guest's paths.
        if substitute is not None and name != "posixpath":
            namespace[name] = substitute
    namespace["open"] = guest_open
    namespace["set"] = OrderedSet
