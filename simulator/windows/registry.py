"""An in-memory Windows registry: keys, typed values and Windows' case-insensitive naming.

Only the two hives a guest agent touches exist: ``HKLM`` and ``HKU``. Paths are backslash
separated with the hive first (``HKLM\\SOFTWARE\\Foo``); key and value names compare
case-insensitively and keep the spelling of their first creation, as on Windows.

Everything the registry reports (``subkeys``, ``values``, ``snapshot``) is sorted, so the
same contents always look the same whatever order they were written in.
"""

from __future__ import annotations

import copy
import enum
from dataclasses import dataclass, field
from typing import assert_never


class RegType(enum.StrEnum):
    """Value types, spelled as Windows (and the agent's ``value_type`` strings) spell them."""

    REG_SZ = "REG_SZ"
    REG_EXPAND_SZ = "REG_EXPAND_SZ"
    REG_MULTI_SZ = "REG_MULTI_SZ"
    REG_DWORD = "REG_DWORD"
    REG_QWORD = "REG_QWORD"
    REG_BINARY = "REG_BINARY"


RegData = str | list[str] | int | bytes


@dataclass(frozen=True)
class RegValue:
    data: RegData
    type: RegType


class RegistryError(Exception):
    """A registry operation failed; the message is one line naming the key path."""


class KeyNotFound(RegistryError):
    """The key (or one of its parents) does not exist."""


class ValueNotFound(RegistryError):
    """The key exists but has no value of that name."""


class RegistryTypeError(RegistryError):
    """The value type is unknown, or the data does not fit it."""


_HIVES = {
    "HKLM": "HKLM",
    "HKEY_LOCAL_MACHINE": "HKLM",
    "HKU": "HKU",
    "HKEY_USERS": "HKU",
}

_EXPECTED_DATA = {
    RegType.REG_SZ: "a str",
    RegType.REG_EXPAND_SZ: "a str",
    RegType.REG_MULTI_SZ: "a list of str",
    RegType.REG_DWORD: f"an int in 0..{2**32 - 1}",
    RegType.REG_QWORD: f"an int in 0..{2**64 - 1}",
    RegType.REG_BINARY: "bytes",
}


def _fold(name: str) -> str:
    # Windows compares names through a one-to-one upcase table, so "ß" and "SS" stay distinct
    # where str.upper()/casefold() would merge them. Upper- rather than lower-casing also gives
    # Windows' enumeration order for characters between "Z" and "a" such as "_".
    if name.isascii():
        return name.upper()
    return "".join(ch.upper() if len(ch.upper()) == 1 else ch for ch in name)


def _describe_value(name: str) -> str:
    return "(default)" if name == "" else repr(name)


def _value_not_found(key_path: str, name: str) -> str:
    return f"registry value {_describe_value(name)} not found under {key_path}"


def _type_name(data: object) -> str:
    return type(data).__name__


def _split(path: str) -> tuple[str, list[str]]:
    """The canonical hive and the key names below it."""
    # One trailing backslash is accepted because the upstream agent builds paths ending in "\".
    hive, *names = path.removesuffix("\\").split("\\")
    canonical_hive = _HIVES.get(hive.upper())
    if canonical_hive is None:
        raise RegistryError(f"unknown registry hive {hive!r} in path {path!r}")
    if "" in names:
        raise RegistryError(f"empty key name in registry path {path!r}")
    return canonical_hive, names


def _checked(data: object, regtype: RegType) -> RegData | None:
    """``data`` as the registry stores it for ``regtype``, or None when it does not fit."""
    match regtype:
        case RegType.REG_SZ | RegType.REG_EXPAND_SZ:
            return data if isinstance(data, str) else None
        case RegType.REG_MULTI_SZ:
            if isinstance(data, list) and all(isinstance(item, str) for item in data):
                return list(data)  # the caller keeps its list; the registry must not share it
            return None
        case RegType.REG_DWORD | RegType.REG_QWORD:
            bits = 32 if regtype is RegType.REG_DWORD else 64
            # bool is an int subclass, but a flag stored as a DWORD must come back (and
            # snapshot) as a number, so it is refused rather than kept as True/False.
            if isinstance(data, int) and not isinstance(data, bool) and 0 <= data < 2**bits:
                return data
            return None
        case RegType.REG_BINARY:
            return data if isinstance(data, bytes) else None
        case _:
            assert_never(regtype)


def _detached(value: RegValue) -> RegValue:
    # RegValue is frozen but a MULTI_SZ list inside it is not: hand out copies so that callers
    # cannot change the registry behind its back.
    if isinstance(value.data, list):
        return RegValue(list(value.data), value.type)
    return value


def _jsonable(data: RegData) -> object:
    if isinstance(data, bytes):
        return data.hex()
    if isinstance(data, list):
        return list(data)
    return data


@dataclass
class _Key:
    name: str
    # Both maps are keyed by the folded name; the spelling lives in the entry.
    subkeys: dict[str, _Key] = field(default_factory=dict)
    values: dict[str, tuple[str, RegValue]] = field(default_factory=dict)

    def sorted_subkeys(self) -> list[_Key]:
        return [self.subkeys[folded] for folded in sorted(self.subkeys)]

    def sorted_values(self) -> list[tuple[str, RegValue]]:
        return [self.values[folded] for folded in sorted(self.values)]


class Registry:
    def __init__(self) -> None:
        self._hives = {name: _Key(name) for name in sorted(set(_HIVES.values()))}

    def create_key(self, path: str) -> None:
        hive, names = _split(path)
        key = self._hives[hive]
        for name in names:
            key = key.subkeys.setdefault(_fold(name), _Key(name))

    def key_exists(self, path: str) -> bool:
        try:
            self._find(path)
        except KeyNotFound:
            return False
        return True

    def set_value(self, path: str, name: str, data: object, type: RegType) -> None:
        key, key_path = self._find(path)
        try:
            regtype = RegType(type)
        except ValueError:
            raise RegistryTypeError(
                f"unknown registry value type {type!r} for value {_describe_value(name)}"
                f" under {key_path}"
            ) from None
        checked = _checked(data, regtype)
        if checked is None:
            raise RegistryTypeError(
                f"{regtype} data for value {_describe_value(name)} under {key_path} must be"
                f" {_EXPECTED_DATA[regtype]}, got {_type_name(data)} {data!r}"
            )
        folded = _fold(name)
        spelling = key.values[folded][0] if folded in key.values else name
        key.values[folded] = (spelling, RegValue(checked, regtype))

    def get_value(self, path: str, name: str) -> RegValue:
        key, key_path = self._find(path)
        entry = key.values.get(_fold(name))
        if entry is None:
            raise ValueNotFound(_value_not_found(key_path, name))
        return _detached(entry[1])

    def delete_value(self, path: str, name: str) -> None:
        key, key_path = self._find(path)
        if key.values.pop(_fold(name), None) is None:
            raise ValueNotFound(_value_not_found(key_path, name))

    def delete_key(self, path: str, recursive: bool = False) -> None:
        hive, names = _split(path)
        if not names:
            raise RegistryError(f"cannot delete registry hive root: {hive}")
        parent, parent_path = self._walk(hive, names[:-1])
        folded = _fold(names[-1])
        key = parent.subkeys.get(folded)
        if key is None:
            raise KeyNotFound(f"registry key not found: {parent_path}\\{names[-1]}")
        if key.subkeys and not recursive:
            raise RegistryError(f"registry key has subkeys: {parent_path}\\{key.name}")
        del parent.subkeys[folded]

    def subkeys(self, path: str) -> list[str]:
        key, _ = self._find(path)
        return [child.name for child in key.sorted_subkeys()]

    def values(self, path: str) -> list[tuple[str, RegValue]]:
        key, _ = self._find(path)
        return [(name, _detached(value)) for name, value in key.sorted_values()]

    def snapshot(self) -> dict[str, dict[str, dict[str, object]]]:
        """Every key (parents before children, siblings sorted) with its values, as JSON data."""
        result: dict[str, dict[str, dict[str, object]]] = {}

        def visit(key: _Key, key_path: str) -> None:
            result[key_path] = {
                name: {"type": str(value.type), "data": _jsonable(value.data)}
                for name, value in key.sorted_values()
            }
            for child in key.sorted_subkeys():
                visit(child, f"{key_path}\\{child.name}")

        for hive in sorted(self._hives):
            visit(self._hives[hive], hive)
        return result

    def copy(self) -> Registry:
        clone = Registry()
        clone._hives = copy.deepcopy(self._hives)
        return clone

    def _find(self, path: str) -> tuple[_Key, str]:
        return self._walk(*_split(path))

    def _walk(self, hive: str, names: list[str]) -> tuple[_Key, str]:
        """The key at ``names`` below ``hive`` and its canonical path."""
        key = self._hives[hive]
        spelled = [hive]
        for depth, name in enumerate(names):
            child = key.subkeys.get(_fold(name))
            if child is None:
                # Name the missing key as the caller would find it: existing part canonical,
                # the rest as asked.
                missing = "\\".join(spelled + names[depth:])
                raise KeyNotFound(f"registry key not found: {missing}")
            key = child
            spelled.append(child.name)
        return key, "\\".join(spelled)
