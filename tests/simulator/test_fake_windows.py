"""FakeOSUtils over the default Windows state: the OS contracts the agent relies on.

The machine side (sleep, reboot, service-stopped, run-as-user) is a set of callbacks that
record what they were asked; the tests assert the resulting state, registry and trace.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guestsim.agent.osutils import InvalidState, ItemNotFound, OSUtilsError
from guestsim.simulator.errors import NotModelled
from guestsim.simulator.trace import Event, Trace
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.osutils import FakeOSUtils, MachineHooks
from guestsim.simulator.windows.registry import RegType
from guestsim.simulator.windows.state import (
    AGENT_KEY,
    BUILTIN_ADMIN_RID,
    PROFILE_LIST_KEY,
    SYSPREP_KEY,
    TIME_ZONE_KEY,
    WindowsState,
)


@dataclass
class Recorder:
    """The machine's side of the hooks: it only remembers what the fake Windows asked."""

    sleeps: list[float] = field(default_factory=list)
    reboots: list[None] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    runs: list[tuple[list[str], str]] = field(default_factory=list)

    def run_as_user(self, args: Sequence[str], username: str) -> int:
        self.runs.append((list(args), username))
        return 7

    def hooks(self) -> MachineHooks:
        return MachineHooks(
            sleep=self.sleeps.append,
            reboot=lambda: self.reboots.append(None),
            service_stopped=self.stopped.append,
            run_as_user=self.run_as_user,
        )


@dataclass
class Guest:
    state: WindowsState
    trace: Trace
    machine: Recorder
    os: FakeOSUtils

    def os_events(self) -> list[Event]:
        return self.trace.of_kind("os")


def make_guest(seed: int = 0, state: WindowsState | None = None) -> Guest:
    state = default_windows_state() if state is None else state
    trace = Trace()
    recorder = Recorder()
    osutils = FakeOSUtils(state, trace, random.Random(seed), recorder.hooks())
    return Guest(state, trace, recorder, osutils)


@pytest.fixture
def guest() -> Guest:
    return make_guest()


# --- users and groups ----------------------------------------------------------------------


def test_user_lookups_are_case_insensitive(guest: Guest) -> None:
    osu = guest.os
    osu.create_user("Alice", "Passw0rd!")

    assert osu.user_exists("alice")
    assert osu.user_exists("ALICE")
    assert not osu.user_exists("bob")
    assert osu.get_user_sid("aLiCe") == guest.os.get_user_sid("Alice")
    assert osu.is_builtin_admin("ADMINISTRATOR")
    assert not osu.is_builtin_admin("alice")
    assert osu.group_exists("administrators")
    assert not osu.group_exists("nosuchgroup")
    assert osu.enum_users() == ["Administrator", "Guest", "Alice"]


def test_create_user_sets_password_and_default_group(guest: Guest) -> None:
    guest.os.create_user("Alice", "Passw0rd!")

    user = guest.state.find_user("alice")
    assert user is not None
    assert user.name == "Alice"
    assert user.password == "Passw0rd!"
    assert user.password_never_expires is True
    assert user.rid == 1000
    users = guest.state.find_group("Users")
    assert users is not None
    assert users.members == ["Alice"]
    with pytest.raises(OSUtilsError):
        guest.os.create_user("ALICE", "other")


def test_add_user_to_local_group_is_idempotent(guest: Guest) -> None:
    osu = guest.os
    osu.create_user("Alice", "Passw0rd!")
    osu.add_user_to_local_group("Alice", "Administrators")
    osu.add_user_to_local_group("alice", "ADMINISTRATORS")

    group = guest.state.find_group("Administrators")
    assert group is not None
    assert group.members == ["Administrator", "Alice"]
    adds = [e for e in guest.os_events() if e.get("call") == "add_user_to_local_group"]
    assert [(e.get("username"), e.get("group")) for e in adds] == [
        ("Alice", "Users"),
        ("Alice", "Administrators"),
    ]


def test_add_user_to_missing_group_or_missing_user_raises(guest: Guest) -> None:
    guest.os.create_user("Alice", "Passw0rd!")

    with pytest.raises(OSUtilsError, match="NoSuchGroup") as missing_group:
        guest.os.add_user_to_local_group("Alice", "NoSuchGroup")
    with pytest.raises(ItemNotFound, match="Nobody") as missing_user:
        guest.os.add_user_to_local_group("Nobody", "Administrators")
    assert str(missing_group.value) != str(missing_user.value)
    administrators = guest.state.find_group("Administrators")
    assert administrators is not None
    assert administrators.members == ["Administrator"]


def test_rename_user_keeps_sid_and_group_membership(guest: Guest) -> None:
    osu = guest.os
    sid = osu.get_user_sid("Administrator")
    osu.rename_user("administrator", "CloudAdmin")

    assert not osu.user_exists("Administrator")
    assert osu.get_user_sid("cloudadmin") == sid
    assert sid is not None
    assert sid.endswith(f"-{BUILTIN_ADMIN_RID}")
    assert osu.is_builtin_admin("CloudAdmin")
    administrators = guest.state.find_group("Administrators")
    assert administrators is not None
    assert administrators.members == ["CloudAdmin"]
    with pytest.raises(ItemNotFound):
        osu.rename_user("Administrator", "Other")


def test_change_password_next_logon_and_set_password_flags(guest: Guest) -> None:
    osu = guest.os
    osu.create_user("Alice", "Passw0rd!")
    osu.change_password_next_logon("Alice")
    user = guest.state.find_user("Alice")
    assert user is not None
    assert (user.password_expired, user.password_never_expires) == (True, False)

    osu.set_user_password("alice", "N3w-password")
    assert (user.password, user.password_expired, user.password_never_expires) == (
        "N3w-password",
        False,
        True,
    )
    osu.set_user_password("alice", "N3w-password", password_expires=True)
    assert user.password_never_expires is False


def test_logon_creates_the_profile_and_get_user_home_finds_it(guest: Guest) -> None:
    osu = guest.os
    osu.create_user("Alice", "Passw0rd!")
    assert osu.get_user_home("Alice") is None
    assert osu.get_user_home("Nobody") is None

    with pytest.raises(OSUtilsError):
        osu.create_user_logon_session("Alice", "wrong")
    token = osu.create_user_logon_session("Alice", "Passw0rd!")
    osu.close_user_logon_session(token)

    assert osu.get_user_home("ALICE") == "C:\\Users\\Alice"
    assert guest.state.files.is_dir("C:\\Users\\Alice")
    sid = osu.get_user_sid("Alice")
    value = guest.state.registry.get_value(f"{PROFILE_LIST_KEY}\\{sid}", "ProfileImagePath")
    assert value.data == "C:\\Users\\Alice"


# --- passwords -----------------------------------------------------------------------------


def _complex(password: str) -> bool:
    return (
        any(c.islower() for c in password)
        and any(c.isupper() for c in password)
        and any(c.isdigit() for c in password)
    )


def test_generate_random_password_length_and_complexity(guest: Guest) -> None:
    password = guest.os.generate_random_password(20)

    assert len(password) == 20
    assert _complex(password)
    assert "/" not in password
    assert "+" not in password
    assert guest.os.get_maximum_password_length() == 20


@pytest.mark.parametrize("length", [-1, 0, 1, 2])
def test_generate_random_password_shorter_than_3_raises(guest: Guest, length: int) -> None:
    with pytest.raises(OSUtilsError):
        guest.os.generate_random_password(length)


def test_generate_random_password_is_reproducible_from_the_seed() -> None:
    first = [make_guest(seed=42).os.generate_random_password(20) for _ in range(2)]
    other_seed = make_guest(seed=43).os.generate_random_password(20)

    assert first[0] == first[1]
    assert other_seed != first[0]
    # Successive calls on one machine differ.
    osu = make_guest(seed=42).os
    assert osu.generate_random_password(20) != osu.generate_random_password(20)


@given(length=st.integers(min_value=3, max_value=64), seed=st.integers(0, 2**32))
def test_generate_random_password_property(length: int, seed: int) -> None:
    password = make_guest(seed=seed).os.generate_random_password(length)

    assert len(password) == length
    assert _complex(password)
    assert password.isalnum()


# --- configuration values ------------------------------------------------------------------


def test_set_config_value_picks_registry_type_by_exact_python_type(guest: Guest) -> None:
    osu = guest.os
    osu.set_config_value("count", 2)
    osu.set_config_value("flag", True)
    osu.set_config_value("text", "hello")

    registry = guest.state.registry
    assert registry.get_value(AGENT_KEY, "count") == registry.get_value(AGENT_KEY, "COUNT")
    assert registry.get_value(AGENT_KEY, "count").type is RegType.REG_DWORD
    assert registry.get_value(AGENT_KEY, "flag").type is RegType.REG_SZ
    assert registry.get_value(AGENT_KEY, "text").type is RegType.REG_SZ
    assert osu.get_config_value("count") == 2
    assert osu.get_config_value("flag") == "True"
    assert osu.get_config_value("text") == "hello"


def test_config_section_with_slashes_creates_nested_keys(guest: Guest) -> None:
    guest.os.set_config_value("SetHostNamePlugin", 1, "inst/ance/Plugins")

    registry = guest.state.registry
    assert registry.key_exists(f"{AGENT_KEY}\\inst")
    assert registry.key_exists(f"{AGENT_KEY}\\inst\\ance")
    value = registry.get_value(f"{AGENT_KEY}\\inst\\ance\\Plugins", "SetHostNamePlugin")
    assert (value.data, value.type) == (1, RegType.REG_DWORD)
    assert guest.os.get_config_value("sethostnameplugin", "inst/ance/plugins") == 1


def test_missing_config_value_or_section_is_none(guest: Guest) -> None:
    guest.os.set_config_value("present", 1, "Plugins")

    assert guest.os.get_config_value("absent") is None
    assert guest.os.get_config_value("absent", "Plugins") is None
    assert guest.os.get_config_value("present", "NoSuchSection/Plugins") is None


def test_real_time_clock_utc_round_trip(guest: Guest) -> None:
    assert guest.os.is_real_time_clock_utc() is False
    guest.os.set_real_time_clock_utc(True)

    assert guest.os.is_real_time_clock_utc() is True
    value = guest.state.registry.get_value(TIME_ZONE_KEY, "RealTimeIsUniversal")
    assert (value.data, value.type) == (1, RegType.REG_DWORD)


# --- hostname and boot ---------------------------------------------------------------------


def test_hostname_stays_pending_until_power_on(guest: Guest) -> None:
    assert guest.os.set_host_name("web-01") is True

    assert guest.os.get_node_name() == "WIN-GUESTSIM01"
    assert guest.state.pending_computer_name == "web-01"
    guest.state.power_on()
    assert guest.os.get_node_name() == "web-01"
    assert guest.state.pending_computer_name is None
    assert guest.os.get_environment_variable("computername") == "WEB-01"


def test_wait_for_boot_completion_sleeps_until_sysprep_is_done(guest: Guest) -> None:
    guest.state.sysprep_remaining_s = 3
    guest.state.registry.set_value(SYSPREP_KEY, "GeneralizationState", 3, RegType.REG_DWORD)

    guest.os.wait_for_boot_completion()

    assert guest.machine.sleeps == [1, 1, 1]
    assert guest.state.registry.get_value(SYSPREP_KEY, "GeneralizationState").data == 7


def test_wait_for_boot_completion_returns_at_once_when_done_or_key_absent(guest: Guest) -> None:
    guest.os.wait_for_boot_completion()
    guest.state.registry.delete_key(SYSPREP_KEY)
    guest.os.wait_for_boot_completion()

    assert guest.machine.sleeps == []


def test_expand_environment_variables(guest: Guest) -> None:
    osu = guest.os
    assert osu.expand_environment_variables("%SystemRoot%\\x") == "C:\\Windows\\x"
    assert osu.expand_environment_variables("%systemdrive%\\y") == "C:\\y"
    assert osu.expand_environment_variables("%NoSuchVar%\\z") == "%NoSuchVar%\\z"
    assert osu.get_temp_dir() == "C:\\Windows\\Temp"


# --- services ------------------------------------------------------------------------------


def test_services_start_stop_and_start_mode(guest: Guest) -> None:
    osu = guest.os
    assert osu.check_service_exists("W32Time")
    assert not osu.check_service_exists("nosuchservice")
    assert osu.get_service_status("w32time") == "Stopped"
    assert osu.get_service_start_mode("w32time") == "Manual"

    osu.start_service("W32TIME")
    assert osu.get_service_status("w32time") == "Running"
    osu.stop_service("w32time", wait=True)
    assert osu.get_service_status("w32time") == "Stopped"
    assert guest.machine.stopped == ["w32time"]

    osu.set_service_start_mode("w32time", "Automatic")
    with pytest.raises(InvalidState):
        osu.set_service_start_mode("w32time", "Sometimes")
    with pytest.raises(ItemNotFound):
        osu.start_service("nosuchservice")
    guest.state.power_on()
    # Windows starts automatic services at boot.
    assert osu.get_service_status("w32time") == "Running"


def test_terminate_sleeps_then_stops_the_agent_service(guest: Guest) -> None:
    guest.state.power_on()
    guest.os.terminate()

    assert guest.machine.sleeps == [3]
    assert guest.machine.stopped == ["cloudbase-init"]
    assert guest.os.get_service_status("cloudbase-init") == "Stopped"


def test_reboot_is_handed_to_the_machine(guest: Guest) -> None:
    guest.os.reboot()

    assert guest.machine.reboots == [None]


# --- what is not modelled ------------------------------------------------------------------


def test_not_modelled_is_not_an_exception() -> None:
    assert issubclass(NotModelled, BaseException)
    assert not issubclass(NotModelled, Exception)


@pytest.mark.parametrize(
    ("call", "method"),
    [
        (lambda osu: osu.firewall_remove_rule("never opened", 1234, "TCP"), "firewall_remove_rule"),
        (lambda osu: osu.execute_process(["cmd.exe", "/c", "dir"]), "execute_process"),
    ],
)
def test_unmodelled_method_raises_not_modelled_naming_it(
    guest: Guest, call: Callable[[FakeOSUtils], object], method: str
) -> None:
    with pytest.raises(NotModelled) as raised:
        try:
            call(guest.os)
        except Exception:  # what a plugin's error handling would do
            pytest.fail("NotModelled was caught as an ordinary Exception")
    assert method in raised.value.what
    assert method in str(raised.value)


def test_unknown_system32_program_is_not_modelled(guest: Guest) -> None:
    with pytest.raises(NotModelled, match=re.escape("w32tm.exe")):
        guest.os.execute_system32_process(["w32tm.exe", "/resync"])


def test_sc_triggerinfo_sets_and_deletes_service_triggers(guest: Guest) -> None:
    osu = guest.os
    out = osu.execute_system32_process(["sc.exe", "triggerinfo", "w32time", "start/networkon"])
    assert out[2] == 0
    service = guest.state.find_service("w32time")
    assert service is not None
    assert service.triggers == ["start/networkon"]
    assert osu.execute_system32_process(["sc.exe", "triggerinfo", "w32time", "delete"])[2] == 0
    assert service.triggers == []
    assert osu.execute_system32_process(["sc.exe", "triggerinfo", "nosuch", "delete"])[2] == 1060


# --- the guest filesystem ------------------------------------------------------------------


def test_files_use_windows_paths_case_insensitively(guest: Guest) -> None:
    osu = guest.os
    osu.make_dirs("C:\\Users\\Public\\Docs")
    osu.write_file("C:\\Users\\Public\\Docs\\Notes.txt", b"hello")
    osu.write_file("c:\\users\\public\\docs\\notes.TXT", b" world", append=True)

    assert osu.read_file("C:\\USERS\\PUBLIC\\DOCS\\NOTES.TXT") == b"hello world"
    assert osu.path_exists("c:\\users\\public\\docs\\notes.txt")
    assert osu.is_dir("c:\\USERS\\public")
    assert osu.list_dir("C:\\Users\\Public\\Docs") == ["Notes.txt"]
    osu.remove_path("C:\\Users\\Public\\Docs")
    assert not osu.path_exists("C:\\Users\\Public\\Docs\\Notes.txt")


def test_power_on_clears_temp_but_keeps_other_files(guest: Guest) -> None:
    osu = guest.os
    osu.make_dirs("C:\\Windows\\Temp\\sub")
    osu.write_file("C:\\Windows\\Temp\\a.tmp", b"1")
    osu.write_file("C:\\Windows\\Temp\\sub\\b.tmp", b"2")
    osu.write_file("C:\\Users\\kept.txt", b"3")

    guest.state.power_on()

    assert osu.is_dir("C:\\Windows\\Temp")
    assert osu.list_dir("C:\\Windows\\Temp") == []
    assert osu.read_file("C:\\Users\\kept.txt") == b"3"


# --- every mutation is traced --------------------------------------------------------------


def _with_alice(guest: Guest) -> None:
    guest.os.create_user("Alice", "Passw0rd!")


MUTATIONS: list[tuple[str, Callable[[Guest], object]]] = [
    ("create_user", lambda g: g.os.create_user("Bob", "Passw0rd!")),
    ("rename_user", lambda g: g.os.rename_user("Alice", "Alicia")),
    ("set_user_info", lambda g: g.os.set_user_info("Alice", full_name="Alice A.")),
    ("set_user_password", lambda g: g.os.set_user_password("Alice", "Other-Passw0rd")),
    ("change_password_next_logon", lambda g: g.os.change_password_next_logon("Alice")),
    ("add_user_to_local_group", lambda g: g.os.add_user_to_local_group("Alice", "Administrators")),
    ("logon", lambda g: g.os.create_user_logon_session("Alice", "Passw0rd!")),
    (
        "execute_process_as_user",
        lambda g: g.os.execute_process_as_user(
            g.os.create_user_logon_session("Alice", "Passw0rd!"), ["cloudbase-init"]
        ),
    ),
    ("set_host_name", lambda g: g.os.set_host_name("web-01")),
    ("set_network_adapter_mtu", lambda g: g.os.set_network_adapter_mtu("Ethernet", 1400)),
    ("make_dirs", lambda g: g.os.make_dirs("C:\\new\\dir")),
    ("write_file", lambda g: g.os.write_file("C:\\file.txt", b"x")),
    ("remove_path", lambda g: g.os.remove_path("C:\\Windows\\Temp")),
    ("set_service_start_mode", lambda g: g.os.set_service_start_mode("w32time", "Disabled")),
    ("start_service", lambda g: g.os.start_service("w32time")),
    ("stop_service", lambda g: g.os.stop_service("WinRM")),
    (
        "set_service_credentials",
        lambda g: g.os.set_service_credentials("cloudbase-init", ".\\Alice", "Passw0rd!"),
    ),
    ("set_registry_value", lambda g: g.os.set_config_value("x", 1, "Plugins")),
    ("set_registry_value", lambda g: g.os.set_real_time_clock_utc(True)),
    ("set_ntp_client_config", lambda g: g.os.set_ntp_client_config(["10.0.0.5"])),
    (
        "execute_system32_process",
        lambda g: g.os.execute_system32_process(["sc.exe", "triggerinfo", "w32time", "delete"]),
    ),
]


@pytest.mark.parametrize(
    ("call", "mutate"), MUTATIONS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(MUTATIONS)]
)
def test_every_mutation_is_an_os_trace_event(call: str, mutate: Callable[[Guest], object]) -> None:
    guest = make_guest()
    _with_alice(guest)
    before = len(guest.trace.events)

    mutate(guest)

    new_events = guest.trace.events[before:]
    assert call in [e.get("call") for e in new_events if e.kind == "os"]


def test_mutation_events_carry_arguments_but_not_secrets(guest: Guest) -> None:
    guest.os.create_user("Alice", "Passw0rd!")
    guest.os.set_user_password("Alice", "Another-Secret1")

    events = guest.os_events()
    assert [e.get("call") for e in events] == [
        "create_user",
        "add_user_to_local_group",
        "set_user_password",
    ]
    assert events[0].get("username") == "Alice"
    assert events[2].get("password") == "<redacted:15>"
    assert "Passw0rd!" not in guest.trace.to_jsonl()
    assert "Another-Secret1" not in guest.trace.to_jsonl()


def test_queries_do_not_emit_events(guest: Guest) -> None:
    osu = guest.os
    osu.user_exists("Administrator")
    osu.enum_users()
    osu.get_config_value("x")
    osu.get_service_status("w32time")
    osu.get_node_name()
    osu.get_dhcp_hosts_in_use()
    osu.path_exists("C:\\Windows")
    osu.make_dirs("C:\\Windows")  # already there: nothing changes

    assert guest.trace.events == []
