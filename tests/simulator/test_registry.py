"""Behaviour of the in-memory registry, plus a model-based check under random operations."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError, dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from guestsim.simulator.windows.registry import (
    KeyNotFound,
    Registry,
    RegistryError,
    RegistryTypeError,
    RegType,
    RegValue,
    ValueNotFound,
)

RUN = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run"


@pytest.fixture
def registry() -> Registry:
    return Registry()


def message(exc_info: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(exc_info.value)
    assert "\n" not in text
    return text


# --- paths and hives ------------------------------------------------------------------------


def test_new_registry_has_only_empty_hives(registry: Registry) -> None:
    assert registry.snapshot() == {"HKLM": {}, "HKU": {}}
    assert registry.key_exists("HKLM")
    assert registry.key_exists("HKU")
    assert registry.subkeys("HKLM") == []


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("HKLM", "HKLM"),
        ("hklm", "HKLM"),
        ("HKEY_LOCAL_MACHINE", "HKLM"),
        ("hkey_Local_Machine", "HKLM"),
        ("HKU", "HKU"),
        ("Hku", "HKU"),
        ("HKEY_USERS", "HKU"),
        ("hkey_users", "HKU"),
    ],
)
def test_hive_aliases_name_the_same_hive(registry: Registry, alias: str, canonical: str) -> None:
    registry.create_key(f"{alias}\\Software")
    assert registry.key_exists(f"{canonical}\\Software")
    assert f"{canonical}\\Software" in registry.snapshot()


def test_unknown_hive_is_named(registry: Registry) -> None:
    with pytest.raises(RegistryError) as exc_info:
        registry.create_key("HKCU\\Software")
    assert "'HKCU'" in message(exc_info)
    assert not isinstance(exc_info.value, KeyNotFound)


@pytest.mark.parametrize("path", ["", "\\", "\\HKLM\\Software", "HKLM\\\\Software", "HKLM\\a\\\\"])
def test_empty_path_components_are_rejected(registry: Registry, path: str) -> None:
    with pytest.raises(RegistryError):
        registry.create_key(path)
    assert registry.snapshot() == {"HKLM": {}, "HKU": {}}


def test_a_trailing_backslash_is_tolerated(registry: Registry) -> None:
    registry.create_key("HKLM\\Software\\Cloudbase Solutions\\")
    assert registry.key_exists("HKLM\\Software\\Cloudbase Solutions")
    assert registry.key_exists("HKLM\\Software\\Cloudbase Solutions\\")
    assert registry.key_exists("HKLM\\")
    registry.set_value("HKLM\\Software\\", "x", 1, RegType.REG_DWORD)
    assert registry.get_value("HKLM\\Software", "x") == RegValue(1, RegType.REG_DWORD)


def test_forward_slash_is_part_of_a_key_name(registry: Registry) -> None:
    registry.create_key("HKLM\\a/b")
    assert registry.subkeys("HKLM") == ["a/b"]


# --- keys -----------------------------------------------------------------------------------


def test_create_key_creates_intermediate_keys_and_is_idempotent(registry: Registry) -> None:
    registry.create_key(RUN)
    registry.create_key(RUN)
    assert registry.key_exists("HKLM\\SOFTWARE\\Microsoft\\Windows")
    assert registry.subkeys("HKLM\\SOFTWARE\\Microsoft\\Windows") == ["CurrentVersion"]
    assert registry.subkeys(RUN) == []


def test_key_names_are_case_insensitive_and_keep_first_spelling(registry: Registry) -> None:
    registry.create_key("HKLM\\Software\\Cloudbase")
    registry.create_key("hkey_local_machine\\SOFTWARE\\CLOUDBASE\\Plugins")
    assert registry.key_exists("hklm\\software\\cloudbase\\plugins")
    assert registry.subkeys("HKLM") == ["Software"]
    assert registry.subkeys("HKLM\\SOFTWARE") == ["Cloudbase"]
    assert list(registry.snapshot()) == [
        "HKLM",
        "HKLM\\Software",
        "HKLM\\Software\\Cloudbase",
        "HKLM\\Software\\Cloudbase\\Plugins",
        "HKU",
    ]


def test_subkeys_are_sorted_case_insensitively(registry: Registry) -> None:
    for name in ["cherry", "Banana", "apple", "Date"]:
        registry.create_key(f"HKU\\S-1-5-18\\{name}")
    assert registry.subkeys("HKU\\S-1-5-18") == ["apple", "Banana", "cherry", "Date"]


def test_names_differing_only_beyond_simple_case_are_distinct(registry: Registry) -> None:
    # Windows' one-to-one upcase table does not equate "ß" with "SS".
    registry.create_key("HKLM\\Straße")
    registry.create_key("HKLM\\STRASSE")
    assert registry.subkeys("HKLM") == ["STRASSE", "Straße"]


def test_key_not_found_names_the_path(registry: Registry) -> None:
    with pytest.raises(KeyNotFound) as exc_info:
        registry.get_value("HKLM\\SOFTWARE\\Foo", "x")
    assert message(exc_info) == "registry key not found: HKLM\\SOFTWARE\\Foo"


def test_key_not_found_spells_the_existing_part_canonically(registry: Registry) -> None:
    registry.create_key("HKLM\\Software")
    with pytest.raises(KeyNotFound) as exc_info:
        registry.subkeys("hkey_local_machine\\SOFTWARE\\Foo\\Bar")
    assert message(exc_info) == "registry key not found: HKLM\\Software\\Foo\\Bar"


@pytest.mark.parametrize("operation", ["subkeys", "values", "set", "get", "delete_value"])
def test_operations_on_a_missing_key_raise_key_not_found(
    registry: Registry, operation: str
) -> None:
    path = "HKU\\missing"
    with pytest.raises(KeyNotFound, match="missing"):
        if operation == "subkeys":
            registry.subkeys(path)
        elif operation == "values":
            registry.values(path)
        elif operation == "set":
            registry.set_value(path, "x", "y", RegType.REG_SZ)
        elif operation == "get":
            registry.get_value(path, "x")
        else:
            registry.delete_value(path, "x")
    assert not registry.key_exists(path)


# --- deleting keys --------------------------------------------------------------------------


def test_delete_key_removes_a_leaf_with_its_values(registry: Registry) -> None:
    registry.create_key("HKLM\\a\\b")
    registry.set_value("HKLM\\a\\b", "v", "data", RegType.REG_SZ)
    registry.delete_key("hklm\\A\\B")
    assert not registry.key_exists("HKLM\\a\\b")
    assert registry.key_exists("HKLM\\a")


def test_non_recursive_delete_refuses_a_key_with_subkeys(registry: Registry) -> None:
    registry.create_key("HKLM\\a\\b")
    with pytest.raises(RegistryError) as exc_info:
        registry.delete_key("hklm\\A")
    assert type(exc_info.value) is RegistryError
    assert "HKLM\\a" in message(exc_info)
    assert registry.key_exists("HKLM\\a\\b")


def test_recursive_delete_removes_the_subtree(registry: Registry) -> None:
    registry.create_key("HKLM\\a\\b\\c")
    registry.create_key("HKLM\\a2")
    registry.set_value("HKLM\\a\\b\\c", "v", 1, RegType.REG_DWORD)
    registry.delete_key("HKLM\\a", recursive=True)
    assert registry.snapshot() == {"HKLM": {}, "HKLM\\a2": {}, "HKU": {}}


@pytest.mark.parametrize("path", ["HKLM", "HKEY_USERS\\", "hku"])
@pytest.mark.parametrize("recursive", [False, True])
def test_hive_roots_cannot_be_deleted(registry: Registry, path: str, recursive: bool) -> None:
    registry.create_key("HKLM\\a")
    with pytest.raises(RegistryError, match="hive"):
        registry.delete_key(path, recursive=recursive)
    assert registry.key_exists("HKLM\\a")


def test_deleting_a_missing_key_raises_key_not_found(registry: Registry) -> None:
    registry.create_key("HKLM\\Software")
    with pytest.raises(KeyNotFound) as exc_info:
        registry.delete_key("HKLM\\software\\Gone")
    assert message(exc_info) == "registry key not found: HKLM\\Software\\Gone"
    with pytest.raises(KeyNotFound):
        registry.delete_key("HKLM\\Nowhere\\Gone", recursive=True)


def test_a_recreated_key_takes_its_new_spelling(registry: Registry) -> None:
    registry.create_key("HKLM\\Old")
    registry.delete_key("HKLM\\old")
    registry.create_key("HKLM\\OLD")
    assert registry.subkeys("HKLM") == ["OLD"]


# --- values ---------------------------------------------------------------------------------


def test_value_names_are_case_insensitive_and_keep_first_spelling(registry: Registry) -> None:
    registry.create_key("HKLM\\k")
    registry.set_value("HKLM\\k", "LogFile", "a.log", RegType.REG_SZ)
    registry.set_value("HKLM\\K", "LOGFILE", 3, RegType.REG_DWORD)
    assert registry.get_value("hklm\\k", "logfile") == RegValue(3, RegType.REG_DWORD)
    assert registry.values("HKLM\\k") == [("LogFile", RegValue(3, RegType.REG_DWORD))]


def test_the_default_value_has_the_empty_name(registry: Registry) -> None:
    registry.create_key("HKLM\\k")
    registry.set_value("HKLM\\k", "", "default", RegType.REG_SZ)
    assert registry.get_value("HKLM\\k", "") == RegValue("default", RegType.REG_SZ)
    with pytest.raises(ValueNotFound, match=r"\(default\)"):
        registry.get_value("HKU", "")


def test_values_are_sorted_case_insensitively(registry: Registry) -> None:
    registry.create_key("HKLM\\k")
    for name in ["b", "C", "a", ""]:
        registry.set_value("HKLM\\k", name, name, RegType.REG_SZ)
    assert [name for name, _ in registry.values("HKLM\\k")] == ["", "a", "b", "C"]


def test_value_not_found_names_key_and_value(registry: Registry) -> None:
    registry.create_key("HKLM\\Software\\Cloudbase")
    with pytest.raises(ValueNotFound) as exc_info:
        registry.get_value("hklm\\software\\cloudbase", "Missing")
    text = message(exc_info)
    assert "HKLM\\Software\\Cloudbase" in text
    assert "'Missing'" in text


def test_delete_value(registry: Registry) -> None:
    registry.create_key("HKLM\\k")
    registry.set_value("HKLM\\k", "Name", "x", RegType.REG_SZ)
    registry.delete_value("HKLM\\k", "NAME")
    assert registry.values("HKLM\\k") == []
    with pytest.raises(ValueNotFound, match="'NAME'"):
        registry.delete_value("HKLM\\k", "NAME")
    with pytest.raises(ValueNotFound):
        registry.get_value("HKLM\\k", "Name")


def test_a_recreated_value_takes_its_new_spelling(registry: Registry) -> None:
    registry.create_key("HKLM\\k")
    registry.set_value("HKLM\\k", "name", "x", RegType.REG_SZ)
    registry.delete_value("HKLM\\k", "name")
    registry.set_value("HKLM\\k", "NAME", "y", RegType.REG_SZ)
    assert [name for name, _ in registry.values("HKLM\\k")] == ["NAME"]


# --- value types ----------------------------------------------------------------------------


def test_reg_type_values_equal_their_names() -> None:
    for regtype in RegType:
        assert regtype.value == regtype.name
        assert regtype == regtype.name
    assert [t.name for t in RegType] == [
        "REG_SZ",
        "REG_EXPAND_SZ",
        "REG_MULTI_SZ",
        "REG_DWORD",
        "REG_QWORD",
        "REG_BINARY",
    ]


VALID_DATA = [
    (RegType.REG_SZ, ""),
    (RegType.REG_SZ, "text"),
    (RegType.REG_EXPAND_SZ, "%SystemRoot%\\System32"),
    (RegType.REG_MULTI_SZ, []),
    (RegType.REG_MULTI_SZ, ["a", "b"]),
    (RegType.REG_DWORD, 0),
    (RegType.REG_DWORD, 2**32 - 1),
    (RegType.REG_QWORD, 0),
    (RegType.REG_QWORD, 2**64 - 1),
    (RegType.REG_BINARY, b""),
    (RegType.REG_BINARY, b"\x00\xff"),
]


@pytest.mark.parametrize(("regtype", "data"), VALID_DATA)
def test_data_that_fits_its_type_is_stored(
    registry: Registry, regtype: RegType, data: object
) -> None:
    registry.create_key("HKLM\\k")
    registry.set_value("HKLM\\k", "v", data, regtype)
    stored = registry.get_value("HKLM\\k", "v")
    assert stored == RegValue(data, regtype)  # type: ignore[arg-type]
    assert type(stored.data) is type(data)


INVALID_DATA = [
    (RegType.REG_SZ, 1),
    (RegType.REG_SZ, b"bytes"),
    (RegType.REG_SZ, None),
    (RegType.REG_EXPAND_SZ, ["a"]),
    (RegType.REG_MULTI_SZ, "a"),
    (RegType.REG_MULTI_SZ, ("a", "b")),
    (RegType.REG_MULTI_SZ, ["a", 1]),
    (RegType.REG_DWORD, -1),
    (RegType.REG_DWORD, 2**32),
    (RegType.REG_DWORD, "1"),
    (RegType.REG_DWORD, 1.0),
    (RegType.REG_DWORD, True),
    (RegType.REG_QWORD, -1),
    (RegType.REG_QWORD, 2**64),
    (RegType.REG_QWORD, False),
    (RegType.REG_BINARY, "00ff"),
    (RegType.REG_BINARY, bytearray(b"\x00")),
    (RegType.REG_BINARY, [0, 255]),
]


@pytest.mark.parametrize(("regtype", "data"), INVALID_DATA)
def test_data_that_does_not_fit_its_type_is_refused(
    registry: Registry, regtype: RegType, data: object
) -> None:
    registry.create_key("HKLM\\Software\\k")
    registry.set_value("HKLM\\Software\\k", "v", "before", RegType.REG_SZ)
    with pytest.raises(RegistryTypeError) as exc_info:
        registry.set_value("hklm\\software\\K", "V", data, regtype)
    text = message(exc_info)
    assert "HKLM\\Software\\k" in text
    assert "'V'" in text
    assert str(regtype) in text
    assert registry.get_value("HKLM\\Software\\k", "v") == RegValue("before", RegType.REG_SZ)


def test_type_given_as_its_name_is_accepted(registry: Registry) -> None:
    registry.create_key("HKLM\\k")
    registry.set_value("HKLM\\k", "v", 5, "REG_DWORD")  # type: ignore[arg-type]
    assert registry.get_value("HKLM\\k", "v").type is RegType.REG_DWORD


def test_unknown_type_is_refused(registry: Registry) -> None:
    registry.create_key("HKLM\\k")
    with pytest.raises(RegistryTypeError, match="REG_NONE"):
        registry.set_value("HKLM\\k", "v", 5, "REG_NONE")  # type: ignore[arg-type]


def test_reg_value_is_frozen() -> None:
    value = RegValue("x", RegType.REG_SZ)
    with pytest.raises(FrozenInstanceError):
        value.data = "y"  # type: ignore[misc]


def test_multi_sz_lists_are_not_shared(registry: Registry) -> None:
    registry.create_key("HKLM\\k")
    given = ["a"]
    registry.set_value("HKLM\\k", "v", given, RegType.REG_MULTI_SZ)
    given.append("from caller")
    got = registry.get_value("HKLM\\k", "v").data
    assert isinstance(got, list)
    got.append("from reader")
    listed = registry.values("HKLM\\k")[0][1].data
    assert isinstance(listed, list)
    listed.append("from lister")
    snapshot_data = registry.snapshot()["HKLM\\k"]["v"]["data"]
    assert isinstance(snapshot_data, list)
    snapshot_data.append("from snapshot")
    assert registry.get_value("HKLM\\k", "v") == RegValue(["a"], RegType.REG_MULTI_SZ)


# --- snapshot and copy ----------------------------------------------------------------------


def fill(registry: Registry, reverse: bool = False) -> None:
    keys = [
        "HKU\\S-1-5-18\\Environment",
        "HKLM\\SOFTWARE\\b",
        "HKLM\\SOFTWARE\\A\\Deep",
        "HKLM\\SOFTWARE_",
    ]
    values: list[tuple[str, str, object, RegType]] = [
        ("HKLM\\SOFTWARE\\b", "Zeta", 7, RegType.REG_DWORD),
        ("HKLM\\SOFTWARE\\b", "alpha", b"\x01\xab", RegType.REG_BINARY),
        ("HKLM\\SOFTWARE\\b", "", ["x", "y"], RegType.REG_MULTI_SZ),
        ("HKU\\S-1-5-18\\Environment", "Path", "%P%", RegType.REG_EXPAND_SZ),
        ("HKLM\\SOFTWARE\\A", "Big", 2**63, RegType.REG_QWORD),
    ]
    if reverse:
        keys.reverse()
        values.reverse()
    for path in keys:
        registry.create_key(path)
    for path, name, data, regtype in values:
        registry.set_value(path, name, data, regtype)


def test_snapshot_is_json_with_canonical_sorted_keys(registry: Registry) -> None:
    fill(registry)
    snapshot = registry.snapshot()
    assert snapshot == {
        "HKLM": {},
        "HKLM\\SOFTWARE": {},
        "HKLM\\SOFTWARE\\A": {"Big": {"type": "REG_QWORD", "data": 2**63}},
        "HKLM\\SOFTWARE\\A\\Deep": {},
        "HKLM\\SOFTWARE\\b": {
            "": {"type": "REG_MULTI_SZ", "data": ["x", "y"]},
            "alpha": {"type": "REG_BINARY", "data": "01ab"},
            "Zeta": {"type": "REG_DWORD", "data": 7},
        },
        "HKLM\\SOFTWARE_": {},
        "HKU": {},
        "HKU\\S-1-5-18": {},
        "HKU\\S-1-5-18\\Environment": {"Path": {"type": "REG_EXPAND_SZ", "data": "%P%"}},
    }
    # Key order: depth-first, siblings case-insensitively; dict equality above ignores order.
    assert list(snapshot) == [
        "HKLM",
        "HKLM\\SOFTWARE",
        "HKLM\\SOFTWARE\\A",
        "HKLM\\SOFTWARE\\A\\Deep",
        "HKLM\\SOFTWARE\\b",
        "HKLM\\SOFTWARE_",
        "HKU",
        "HKU\\S-1-5-18",
        "HKU\\S-1-5-18\\Environment",
    ]
    assert list(snapshot["HKLM\\SOFTWARE\\b"]) == ["", "alpha", "Zeta"]
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert all(type(entry["type"]) is str for key in snapshot.values() for entry in key.values())


def test_snapshot_does_not_depend_on_write_order() -> None:
    first, second = Registry(), Registry()
    fill(first)
    fill(second, reverse=True)
    assert json.dumps(first.snapshot()) == json.dumps(second.snapshot())


def test_copy_is_deep_and_independent(registry: Registry) -> None:
    fill(registry)
    before = registry.snapshot()
    clone = registry.copy()
    assert clone.snapshot() == before

    clone.set_value("HKLM\\SOFTWARE\\b", "Zeta", 8, RegType.REG_DWORD)
    clone.delete_key("HKLM\\SOFTWARE\\A", recursive=True)
    clone.create_key("HKU\\new")
    assert registry.snapshot() == before

    registry.delete_value("HKLM\\SOFTWARE\\b", "alpha")
    assert clone.get_value("HKLM\\SOFTWARE\\b", "alpha").data == b"\x01\xab"
    assert not registry.key_exists("HKU\\new")


def test_every_error_is_a_registry_error() -> None:
    for error in (KeyNotFound, ValueNotFound, RegistryTypeError):
        assert issubclass(error, RegistryError)
    assert issubclass(RegistryError, Exception)


# --- model-based check ----------------------------------------------------------------------

ModelPath = tuple[str, ...]  # hive then key names, all lower-cased
MODEL_HIVES = {"hklm": "hklm", "hkey_local_machine": "hklm", "hku": "hku", "hkey_users": "hku"}


@dataclass
class ModelKey:
    name: str
    values: dict[str, tuple[str, RegValue]] = field(default_factory=dict)  # lower name -> entry


def random_case(word: str) -> st.SearchStrategy[str]:
    flips = st.lists(st.booleans(), min_size=len(word), max_size=len(word))
    return flips.map(
        lambda upper: "".join(
            c.upper() if u else c.lower() for c, u in zip(word, upper, strict=True)
        )
    )


hive_names = st.sampled_from(sorted(MODEL_HIVES)).flatmap(random_case)
key_names = st.sampled_from(["run", "Setup", "x"]).flatmap(random_case)
value_names = st.sampled_from(["", "name", "Other"]).flatmap(random_case)
key_paths = st.builds(
    lambda hive, names, trailing: "\\".join([hive, *names]) + ("\\" if trailing else ""),
    hive_names,
    st.lists(key_names, max_size=3),
    st.booleans(),
)
reg_values = st.one_of(
    st.builds(RegValue, st.text(max_size=3), st.just(RegType.REG_SZ)),
    st.builds(RegValue, st.text(max_size=3), st.just(RegType.REG_EXPAND_SZ)),
    st.builds(RegValue, st.lists(st.text(max_size=2), max_size=2), st.just(RegType.REG_MULTI_SZ)),
    st.builds(RegValue, st.integers(0, 2**32 - 1), st.just(RegType.REG_DWORD)),
    st.builds(RegValue, st.integers(0, 2**64 - 1), st.just(RegType.REG_QWORD)),
    st.builds(RegValue, st.binary(max_size=3), st.just(RegType.REG_BINARY)),
)


def parse(path: str) -> tuple[ModelPath, list[str]]:
    """The model's key for ``path`` and the key names as spelled in it."""
    hive, *names = path.removesuffix("\\").split("\\")
    return (MODEL_HIVES[hive.lower()], *(name.lower() for name in names)), names


class RegistryAgainstModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.registry = Registry()
        self.keys: dict[ModelPath, ModelKey] = {
            ("hklm",): ModelKey("HKLM"),
            ("hku",): ModelKey("HKU"),
        }

    def children(self, parent: ModelPath) -> list[ModelPath]:
        return sorted(p for p in self.keys if len(p) == len(parent) + 1 and p[:-1] == parent)

    def spelled(self, path: ModelPath) -> str:
        return "\\".join(self.keys[path[:depth]].name for depth in range(1, len(path) + 1))

    @rule(path=key_paths)
    def create_key(self, path: str) -> None:
        self.registry.create_key(path)
        model_path, names = parse(path)
        for depth, name in enumerate(names, start=2):
            self.keys.setdefault(model_path[:depth], ModelKey(name))

    @rule(path=key_paths, name=value_names, value=reg_values)
    def set_value(self, path: str, name: str, value: RegValue) -> None:
        key = self.keys.get(parse(path)[0])
        if key is None:
            with pytest.raises(KeyNotFound):
                self.registry.set_value(path, name, value.data, value.type)
            return
        self.registry.set_value(path, name, value.data, value.type)
        spelling = key.values.get(name.lower(), (name, value))[0]
        key.values[name.lower()] = (spelling, value)

    @rule(path=key_paths, name=value_names)
    def delete_value(self, path: str, name: str) -> None:
        key = self.keys.get(parse(path)[0])
        if key is None:
            with pytest.raises(KeyNotFound):
                self.registry.delete_value(path, name)
        elif name.lower() not in key.values:
            with pytest.raises(ValueNotFound):
                self.registry.delete_value(path, name)
        else:
            self.registry.delete_value(path, name)
            del key.values[name.lower()]

    @rule(path=key_paths, recursive=st.booleans())
    def delete_key(self, path: str, recursive: bool) -> None:
        model_path = parse(path)[0]
        if len(model_path) == 1 or (self.children(model_path) and not recursive):
            with pytest.raises(RegistryError) as exc_info:
                self.registry.delete_key(path, recursive=recursive)
            assert type(exc_info.value) is RegistryError
        elif model_path not in self.keys:
            with pytest.raises(KeyNotFound):
                self.registry.delete_key(path, recursive=recursive)
        else:
            self.registry.delete_key(path, recursive=recursive)
            for doomed in [p for p in self.keys if p[: len(model_path)] == model_path]:
                del self.keys[doomed]

    @rule(path=key_paths, name=value_names)
    def lookup(self, path: str, name: str) -> None:
        key = self.keys.get(parse(path)[0])
        assert self.registry.key_exists(path) == (key is not None)
        if key is None:
            with pytest.raises(KeyNotFound):
                self.registry.get_value(path, name)
        elif name.lower() not in key.values:
            with pytest.raises(ValueNotFound):
                self.registry.get_value(path, name)
        else:
            assert self.registry.get_value(path, name) == key.values[name.lower()][1]

    @invariant()
    def every_key_agrees(self) -> None:
        for path, key in self.keys.items():
            spelled = self.spelled(path)
            assert self.registry.key_exists(spelled.lower())
            assert self.registry.subkeys(spelled) == [
                self.keys[child].name for child in self.children(path)
            ]
            assert self.registry.values(spelled) == [key.values[n] for n in sorted(key.values)]

    @invariant()
    def snapshot_agrees(self) -> None:
        snapshot = self.registry.snapshot()
        assert list(snapshot) == [self.spelled(path) for path in sorted(self.keys)]
        for path in self.keys:
            entries = snapshot[self.spelled(path)]
            assert [(n, e["type"]) for n, e in entries.items()] == [
                (name, str(value.type)) for name, value in self.registry.values(self.spelled(path))
            ]
        json.dumps(snapshot)


TestRegistryAgainstModel = RegistryAgainstModel.TestCase
TestRegistryAgainstModel.settings = settings(
    max_examples=60, stateful_step_count=25, database=None, deadline=None
)
