"""``winreg``: Python's Windows registry module, over the fake Windows' registry.

Upstream opens keys and reads or writes values with it directly (the Azure guest agent's
registry values; the RDP stand-in writes its policy through it too). Handles here name a
key of the running process's fake registry: reads look at the registry as it is, value
writes go through the fake's ``set_registry_value`` (traced, a point a power cut can fall
on), and deleting a key or a value is traced the same way; a key ``CreateKey`` makes is
there at once, as the fake makes one for its first value.

Only ``HKEY_LOCAL_MACHINE`` and ``HKEY_USERS`` exist, as in the fake registry. What
Windows would refuse is refused the way Python's module reports it: a missing key or value
is ``FileNotFoundError`` (``winerror`` 2), a write through a read-only handle is
``PermissionError`` (``winerror`` 5), and enumeration past the end is ``OSError``
(``winerror`` 259). Names are winreg's own (``OpenKey``, ``HKEYType.Close`` ...).
"""

from __future__ import annotations

import ntpath
import zlib
from types import TracebackType
from typing import Any

from guestsim.simulator.errors import NotModelled
from guestsim.simulator.upstream import guest
from guestsim.simulator.windows.registry import (
    KeyNotFound,
    RegistryError,
    RegType,
    RegValue,
    ValueNotFound,
)

# Predefined keys (the Win32 HKEY values).
HKEY_CLASSES_ROOT = 0x80000000
HKEY_CURRENT_USER = 0x80000001
HKEY_LOCAL_MACHINE = 0x80000002
HKEY_USERS = 0x80000003
HKEY_PERFORMANCE_DATA = 0x80000004
HKEY_CURRENT_CONFIG = 0x80000005
HKEY_DYN_DATA = 0x80000006

# Access rights.
KEY_QUERY_VALUE = 0x0001
KEY_SET_VALUE = 0x0002
KEY_CREATE_SUB_KEY = 0x0004
KEY_ENUMERATE_SUB_KEYS = 0x0008
KEY_NOTIFY = 0x0010
KEY_CREATE_LINK = 0x0020
KEY_WOW64_64KEY = 0x0100
KEY_WOW64_32KEY = 0x0200
KEY_READ = 0x20019
KEY_WRITE = 0x20006
KEY_EXECUTE = KEY_READ
KEY_ALL_ACCESS = 0xF003F

# Value types.
REG_NONE = 0
REG_SZ = 1
REG_EXPAND_SZ = 2
REG_BINARY = 3
REG_DWORD = 4
REG_DWORD_LITTLE_ENDIAN = 4
REG_DWORD_BIG_ENDIAN = 5
REG_LINK = 6
REG_MULTI_SZ = 7
REG_RESOURCE_LIST = 8
REG_FULL_RESOURCE_DESCRIPTOR = 9
REG_RESOURCE_REQUIREMENTS_LIST = 10
REG_QWORD = 11
REG_QWORD_LITTLE_ENDIAN = 11

# Key options (accepted, without effect on the fake).
REG_OPTION_RESERVED = 0
REG_OPTION_NON_VOLATILE = 0
REG_OPTION_VOLATILE = 1
REG_OPTION_CREATE_LINK = 2
REG_OPTION_BACKUP_RESTORE = 4
REG_OPTION_OPEN_LINK = 8

# winreg's own name for the errors it raises.
error = OSError

# The hives the fake registry has, by predefined key.
_HIVES = {HKEY_LOCAL_MACHINE: "HKLM", HKEY_USERS: "HKU"}
_HIVE_NAMES = {
    HKEY_CLASSES_ROOT: "HKEY_CLASSES_ROOT",
    HKEY_CURRENT_USER: "HKEY_CURRENT_USER",
    HKEY_PERFORMANCE_DATA: "HKEY_PERFORMANCE_DATA",
    HKEY_CURRENT_CONFIG: "HKEY_CURRENT_CONFIG",
    HKEY_DYN_DATA: "HKEY_DYN_DATA",
}

# The value types the fake registry stores, both ways.
_TYPES = {
    REG_SZ: RegType.REG_SZ,
    REG_EXPAND_SZ: RegType.REG_EXPAND_SZ,
    REG_BINARY: RegType.REG_BINARY,
    REG_DWORD: RegType.REG_DWORD,
    REG_MULTI_SZ: RegType.REG_MULTI_SZ,
    REG_QWORD: RegType.REG_QWORD,
}
_TYPE_NUMBERS = {regtype: number for number, regtype in _TYPES.items()}

# Win32 error codes and the errno Python pairs each with.
_ERROR_FILE_NOT_FOUND = (2, 2, "The system cannot find the file specified")
_ERROR_ACCESS_DENIED = (13, 5, "Access is denied")
_ERROR_INVALID_HANDLE = (9, 6, "The handle is invalid")
_ERROR_NO_MORE_ITEMS = (22, 259, "No more data is available")
_ERROR_INVALID_PARAMETER = (22, 87, "The parameter is incorrect")


def _win_error(code: tuple[int, int, str]) -> OSError:
    """The ``OSError`` subclass Python raises for a Win32 error, with its ``winerror``."""
    errno, winerror, message = code
    failure = OSError(errno, message)
    failure.winerror = winerror  # type: ignore[attr-defined]
    return failure


def _osutils() -> Any:
    return guest.current().osutils


def _os_change(call: str, **fields: Any) -> None:
    """Announce a registry change the fake has no call for (deleting a key or a value)
    through its own mutation hook: a power cut can fall right before it, and the trace
    shows it as it shows the fake's own changes."""
    _osutils()._mutation(call, **fields)


class HKEYType:
    """A handle to an open key (``PyHKEY``): usable as a context manager, closed once."""

    def __init__(self, path: str, access: int) -> None:
        self.path = path
        self.access = access
        self._open = True

    @property
    def handle(self) -> int:
        # Not a real handle value: a number derived from the key while open (the same on
        # every run), 0 once closed, as Python's.
        return (zlib.crc32(self.path.lower().encode()) & 0x7FFFFFF) | 4 if self._open else 0

    def Close(self) -> None:
        self._open = False

    def Detach(self) -> int:
        handle = self.handle
        self._open = False
        return handle

    def __int__(self) -> int:
        return self.handle

    def __bool__(self) -> bool:
        return self._open

    def __enter__(self) -> HKEYType:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.Close()

    def __repr__(self) -> str:
        return f"<PyHKEY:{self.path}>" if self._open else "<PyHKEY:closed>"


PyHKEY = HKEYType


def _base_path(key: HKEYType | int) -> tuple[str, int]:
    """The registry path and access rights behind a handle or a predefined key."""
    if isinstance(key, HKEYType):
        if not key:
            raise _win_error(_ERROR_INVALID_HANDLE)
        return key.path, key.access
    if isinstance(key, int) and key in _HIVES:
        return _HIVES[key], KEY_ALL_ACCESS
    if isinstance(key, int) and key in _HIVE_NAMES:
        raise NotModelled(f"the {_HIVE_NAMES[key]} registry hive")
    raise TypeError(f"The object is not a PyHKEY object (got {type(key).__name__})")


def _sub_path(key: HKEYType | int, sub_key: str | None) -> str:
    path, _ = _base_path(key)
    if not sub_key:
        return path
    if sub_key.startswith("\\"):
        # RegOpenKeyEx refuses an absolute sub key.
        raise _win_error(_ERROR_FILE_NOT_FOUND)
    return ntpath.join(path, sub_key.rstrip("\\"))


def _require(key: HKEYType | int, right: int) -> str:
    path, access = _base_path(key)
    if access & right != right:
        raise _win_error(_ERROR_ACCESS_DENIED)
    return path


def _key_exists(path: str) -> bool:
    try:
        return bool(_osutils().state.registry.key_exists(path))
    except RegistryError:
        return False


# --- keys ---------------------------------------------------------------------------------


def OpenKey(
    key: HKEYType | int, sub_key: str | None, reserved: int = 0, access: int = KEY_READ
) -> HKEYType:
    """An existing key; a missing one is ``FileNotFoundError``."""
    path = _sub_path(key, sub_key)
    if not _key_exists(path):
        raise _win_error(_ERROR_FILE_NOT_FOUND)
    return HKEYType(path, access)


OpenKeyEx = OpenKey


def CreateKeyEx(
    key: HKEYType | int, sub_key: str | None, reserved: int = 0, access: int = KEY_WRITE
) -> HKEYType:
    """The key, created with any missing parents first if need be.

    The creation is not a trace event of its own: the fake creates a key as part of the
    first value written into it (``set_registry_value(create=True)``), and so the power
    can fail with the new key empty, as it can here at the ``SetValueEx`` that follows.
    """
    path = _sub_path(key, sub_key)
    if not _key_exists(path):
        _require(key, KEY_CREATE_SUB_KEY)
        try:
            _osutils().state.registry.create_key(path)
        except RegistryError as ex:
            raise _win_error(_ERROR_INVALID_PARAMETER) from ex
    return HKEYType(path, access)


def CreateKey(key: HKEYType | int, sub_key: str | None) -> HKEYType:
    """``CreateKeyEx`` with every right on the returned handle, as Python's."""
    return CreateKeyEx(key, sub_key, 0, KEY_ALL_ACCESS)


def DeleteKeyEx(
    key: HKEYType | int, sub_key: str, access: int = KEY_WOW64_64KEY, reserved: int = 0
) -> None:
    """Delete a key without subkeys; one with subkeys is refused (access denied)."""
    path = _sub_path(key, sub_key)
    registry = _osutils().state.registry
    if not sub_key or not _key_exists(path):
        raise _win_error(_ERROR_FILE_NOT_FOUND)
    if registry.subkeys(path):
        raise _win_error(_ERROR_ACCESS_DENIED)
    _os_change("delete_registry_key", key=path)
    registry.delete_key(path)


def DeleteKey(key: HKEYType | int, sub_key: str) -> None:
    DeleteKeyEx(key, sub_key)


def CloseKey(hkey: HKEYType | int) -> None:
    if isinstance(hkey, HKEYType):
        hkey.Close()


def FlushKey(key: HKEYType | int) -> None:
    """Nothing to do: every change is already part of the machine's state."""
    _base_path(key)


def ConnectRegistry(computer_name: str | None, key: int) -> HKEYType:
    """The local machine's predefined key as a handle; remote registries are not modelled."""
    if computer_name:
        raise NotModelled(f"winreg.ConnectRegistry to {computer_name}")
    path, _ = _base_path(key)
    return HKEYType(path, KEY_ALL_ACCESS)


def EnumKey(key: HKEYType | int, index: int) -> str:
    """The ``index``-th subkey's name (sorted, as the fake lists them)."""
    path = _require(key, KEY_ENUMERATE_SUB_KEYS)
    names = _osutils().state.registry.subkeys(path)
    if not 0 <= index < len(names):
        raise _win_error(_ERROR_NO_MORE_ITEMS)
    return str(names[index])


def QueryInfoKey(key: HKEYType | int) -> tuple[int, int, int]:
    """``(subkeys, values, last write time)``; the fake keeps no write times (0)."""
    path = _require(key, KEY_QUERY_VALUE)
    registry = _osutils().state.registry
    return len(registry.subkeys(path)), len(registry.values(path)), 0


# --- values -------------------------------------------------------------------------------


def _as_python(value: RegValue) -> tuple[Any, int]:
    data = value.data
    return (list(data) if isinstance(data, list) else data), _TYPE_NUMBERS[value.type]


def QueryValueEx(key: HKEYType | int, value_name: str | None) -> tuple[Any, int]:
    """``(data, type)`` of a value; a missing key or value is ``FileNotFoundError``."""
    path = _require(key, KEY_QUERY_VALUE)
    try:
        value = _osutils().state.registry.get_value(path, value_name or "")
    except (KeyNotFound, ValueNotFound):
        raise _win_error(_ERROR_FILE_NOT_FOUND) from None
    return _as_python(value)


def QueryValue(key: HKEYType | int, sub_key: str | None) -> str:
    """The default (unnamed) value of a key as a string; "" when it has none."""
    with OpenKey(key, sub_key, 0, KEY_QUERY_VALUE) as opened:
        try:
            data, regtype = QueryValueEx(opened, "")
        except FileNotFoundError:
            return ""
    if regtype not in (REG_SZ, REG_EXPAND_SZ):
        raise _win_error(_ERROR_INVALID_PARAMETER)
    return str(data)


def EnumValue(key: HKEYType | int, index: int) -> tuple[str, Any, int]:
    """``(name, data, type)`` of the ``index``-th value (sorted, as the fake lists them)."""
    path = _require(key, KEY_QUERY_VALUE)
    values = _osutils().state.registry.values(path)
    if not 0 <= index < len(values):
        raise _win_error(_ERROR_NO_MORE_ITEMS)
    name, value = values[index]
    data, regtype = _as_python(value)
    return str(name), data, regtype


def _registry_data(regtype: RegType, value: Any) -> Any:
    """The value as Python's module would hand it to Windows; what it cannot convert is a
    ``ValueError`` before anything reaches the registry."""
    refused = ValueError("Could not convert the data to the specified type.")
    match regtype:
        case RegType.REG_SZ | RegType.REG_EXPAND_SZ:
            if value is None:
                return ""
            if not isinstance(value, str):
                raise refused
            return value
        case RegType.REG_MULTI_SZ:
            if value is None:
                return []
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise refused
            return list(value)
        case RegType.REG_DWORD | RegType.REG_QWORD:
            if value is None:
                return 0
            if not isinstance(value, int):
                raise refused
            bits = 32 if regtype is RegType.REG_DWORD else 64
            if not 0 <= int(value) < 2**bits:
                raise OverflowError("int too big to convert")
            return int(value)  # a bool is stored as the number it stands for
        case RegType.REG_BINARY:
            if value is None:
                return b""
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise refused
            return bytes(value)
    raise NotModelled(f"registry value type {regtype}")  # pragma: no cover


def SetValueEx(
    key: HKEYType | int, value_name: str | None, reserved: int, type: int, value: Any
) -> None:
    """Write a value through the fake's ``set_registry_value``."""
    path = _require(key, KEY_SET_VALUE)
    regtype = _TYPES.get(type)
    if regtype is None:
        raise NotModelled(f"winreg value type {type} (the fake registry has no such type)")
    data = _registry_data(regtype, value)
    if not _key_exists(path):
        # The key went away while the handle was open.
        raise _win_error(_ERROR_FILE_NOT_FOUND)
    _osutils().set_registry_value(path, value_name or "", data, regtype.value)


def SetValue(key: HKEYType | int, sub_key: str | None, type: int, value: str) -> None:
    """The default value of ``sub_key`` (created if missing) as ``REG_SZ``."""
    if type != REG_SZ:
        raise TypeError("type must be winreg.REG_SZ")
    with CreateKey(key, sub_key) as created:
        SetValueEx(created, "", 0, REG_SZ, value)


def DeleteValue(key: HKEYType | int, value: str | None) -> None:
    """Delete a value (a traced change); a missing one is ``FileNotFoundError``."""
    path = _require(key, KEY_SET_VALUE)
    registry = _osutils().state.registry
    try:
        registry.get_value(path, value or "")
    except (KeyNotFound, ValueNotFound):
        raise _win_error(_ERROR_FILE_NOT_FOUND) from None
    _os_change("delete_registry_value", key=path, name=value or "")
    registry.delete_value(path, value or "")


def ExpandEnvironmentStrings(text: str) -> str:
    return str(_osutils().expand_environment_variables(text))


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotModelled(f"upstream agent uses winreg.{name}")
