"""Cloud-config user data on a fake Windows: each handler's effect, the result code, failures.

Every test calls :func:`process_cloud_config` with a real YAML document on a standalone
fake Windows and asserts the machine state (files, zone, accounts, groups, scripts run),
the trace, the returned code (1003 when any handler asked for a reboot, else 0) and the
log lines upstream writes for the failure paths.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
import yaml

from guestsim.agent.config import config_from_options
from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.plugins.base import AgentContext
from guestsim.agent.userdata.cloudconfig import (
    CLOUD_CONFIG_REBOOT,
    HANDLERS,
    ordered_keys,
    process_cloud_config,
)
from guestsim.agent.userdata.cloudconfig.writefiles import DEFAULT_PERMISSIONS, convert_permissions
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.osutils import FakeOSUtils
from guestsim.simulator.windows.scripts import ScriptDeclaration, ScriptRunSpec
from guestsim.simulator.windows.state import MACHINE_SID, WindowsState
from tests.builders import INSTANCE_ID, openstack_machine, standalone_osutils

ORIGINAL_NAME = "WIN-GUESTSIM01"
PUBLIC_KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 alice@laptop"


class Guest:
    """A standalone fake Windows with an agent context to run cloud-config on."""

    def __init__(
        self, options: Mapping[str, Any] | None = None, state: WindowsState | None = None
    ) -> None:
        self.osutils: FakeOSUtils = standalone_osutils([], state or default_windows_state())
        conf = config_from_options({"DEFAULT": dict(options or {})}, "test")
        self.context = AgentContext(conf, self.osutils)
        self.service = MetadataService(self.context)

    @property
    def state(self) -> WindowsState:
        return self.osutils.state

    def run(self, document: str | bytes) -> int:
        data = document.encode() if isinstance(document, str) else document
        return process_cloud_config(self.context, self.service, data)

    def os_calls(self, *calls: str) -> list[str]:
        return [
            str(e.get("call"))
            for e in self.osutils.trace.of_kind("os")
            if not calls or e.get("call") in calls
        ]

    def declare(self, name: str, marker: str, *exit_codes: int, error: str | None = None) -> None:
        runs = tuple(ScriptRunSpec(exit_code=code) for code in exit_codes)
        if error is not None:
            runs = (ScriptRunSpec(error=error),)
        self.state.scripts.declarations.append(ScriptDeclaration(name, marker=marker, runs=runs))


def cloud_config(body: Mapping[str, Any] | Sequence[Any]) -> str:
    return "#cloud-config\n" + yaml.safe_dump(body, sort_keys=False)


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


@pytest.fixture(autouse=True)
def _debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


# --- loading the document ---------------------------------------------------------------------


def test_a_value_yaml_rejects_is_logged_and_nothing_runs(caplog: pytest.LogCaptureFixture) -> None:
    guest = Guest()
    # An impossible date is a ValueError inside the YAML loader.
    rc = guest.run("#cloud-config\nset_timezone: Europe/Paris\nx: 2021-02-30\n")
    assert rc == 0
    assert messages(caplog, logging.ERROR) == [
        "Could not process part type <class 'bytes'>: 'Invalid yaml stream provided.'"
    ]
    assert guest.state.timezone.zone_id == "UTC"


@pytest.mark.parametrize("document", ["#cloud-config\n", "#cloud-config\n{}\n", "---\n", "0\n"])
def test_an_empty_document_is_logged_and_nothing_runs(
    document: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert Guest().run(document) == 0
    assert messages(caplog, logging.ERROR) == [
        "Could not process part type <class 'bytes'>: 'Empty yaml stream provided.'"
    ]


def test_a_yaml_syntax_error_raises() -> None:
    with pytest.raises(yaml.YAMLError):
        Guest().run("#cloud-config\nwrite_files: [\n")


def test_undecodable_bytes_raise() -> None:
    with pytest.raises(yaml.YAMLError):
        Guest().run(b"#cloud-config\nhostname: \xff\xfe\n")


@pytest.mark.parametrize(
    "document",
    ["#cloud-config\n- runcmd\n- write_files\n", "#cloud-config\njust text\n", "1: one\n"],
    ids=["list", "scalar", "non-string-key"],
)
def test_a_document_that_is_not_a_mapping_of_names_raises(document: str) -> None:
    guest = Guest()
    with pytest.raises(TypeError):
        guest.run(document)
    assert guest.os_calls() == []


def test_python_object_tags_are_refused() -> None:
    # Deviation: upstream's full loader would build the object; guestsim never does.
    with pytest.raises(yaml.YAMLError):
        Guest().run("#cloud-config\nx: !!python/object/apply:os.getcwd []\n")


# --- order, filter and result ----------------------------------------------------------------


def test_keys_run_in_the_built_in_order_whatever_the_document_order() -> None:
    guest = Guest()
    document = cloud_config(
        {
            "users": [{"name": "alice", "no_create_home": True}],
            "groups": ["devs"],
            "ntp": {"servers": ["ntp.example.org"]},
            "set_hostname": "web-01",
            "timezone": "Europe/Paris",
            "write_files": [{"path": "C:\\a.txt", "content": "a"}],
        }
    )
    assert guest.run(document) == CLOUD_CONFIG_REBOOT
    assert guest.os_calls(
        "write_file",
        "set_timezone",
        "set_host_name",
        "set_ntp_client_config",
        "create_group",
        "create_user",
    ) == [
        "write_file",
        "set_timezone",
        "set_host_name",
        "set_ntp_client_config",
        "create_group",
        "create_user",
    ]


def test_the_built_in_order() -> None:
    assert list(HANDLERS) == [
        "write_files",
        "set_timezone",
        "timezone",
        "set_hostname",
        "hostname",
        "ntp",
        "groups",
        "users",
        "runcmd",
    ]


def test_unknown_keys_come_last_in_document_order() -> None:
    content = {"zeta": 1, "runcmd": [], "alpha": 2, "write_files": []}
    assert [k for k, _ in ordered_keys(content, [])] == ["write_files", "runcmd", "zeta", "alpha"]
    assert [k for k, _ in ordered_keys(content, ["runcmd", "zeta"])] == [
        "runcmd",
        "zeta",
        "alpha",
        "write_files",
    ]


def test_an_unknown_key_is_an_error_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guest = Guest()
    rc = guest.run(cloud_config({"packages": ["git"], "timezone": "Asia/Tokyo"}))
    assert rc == 0
    assert guest.state.timezone.zone_id == "Tokyo Standard Time"
    assert messages(caplog, logging.ERROR) == ["Plugin 'packages' is currently not supported"]


def test_cloud_config_plugins_filters_and_orders_the_keys(caplog: pytest.LogCaptureFixture) -> None:
    guest = Guest({"cloud_config_plugins": ["groups", "write_files", "packages"]})
    document = cloud_config(
        {
            "write_files": [{"path": "C:\\a.txt", "content": "a"}],
            "timezone": "Asia/Tokyo",
            "groups": ["devs"],
            "packages": ["git"],
        }
    )
    assert guest.run(document) == 0
    assert guest.os_calls("write_file", "create_group", "set_timezone") == [
        "create_group",
        "write_file",
    ]
    assert guest.state.timezone.zone_id == "UTC"
    assert "Plugin 'timezone' is disabled" in messages(caplog, logging.INFO)
    # Listed but unknown: not disabled, so reported as unsupported.
    assert messages(caplog, logging.ERROR) == ["Plugin 'packages' is currently not supported"]


def test_a_failing_handler_is_logged_and_the_next_key_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guest = Guest()
    rc = guest.run(cloud_config({"set_timezone": "Mars/Olympus", "groups": ["devs"]}))
    assert rc == 0
    assert guest.state.find_group("devs") is not None
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == "Processing plugin set_timezone failed"
    assert record.exc_info is not None


def test_the_reboot_waits_for_every_key_and_becomes_1003() -> None:
    guest = Guest()
    rc = guest.run(cloud_config({"hostname": "web-02", "groups": ["devs"]}))
    assert rc == CLOUD_CONFIG_REBOOT == 1003
    assert guest.state.pending_computer_name == "web-02"
    assert guest.state.find_group("devs") is not None


def test_no_reboot_request_is_0() -> None:
    guest = Guest()
    assert guest.run(cloud_config({"timezone": "Europe/London", "groups": ["devs"]})) == 0


# --- write_files ------------------------------------------------------------------------------

PAYLOAD = b"line one\r\nline two\x00\xff\n"


@pytest.mark.parametrize(
    ("encoding", "content"),
    [
        (None, "plain text \u20ac\n"),
        ("b64", base64.b64encode(PAYLOAD).decode()),
        ("base64", base64.b64encode(PAYLOAD).decode()),
        ("gz+base64", base64.b64encode(gzip.compress(PAYLOAD, mtime=0)).decode()),
        ("gzip+base64", base64.b64encode(gzip.compress(PAYLOAD, mtime=0)).decode()),
        ("gz+b64", base64.b64encode(gzip.compress(PAYLOAD, mtime=0)).decode()),
        (" GZIP+B64 ", base64.b64encode(gzip.compress(PAYLOAD, mtime=0)).decode()),
        ("gz", gzip.compress(PAYLOAD, mtime=0)),
        ("gzip", gzip.compress(PAYLOAD, mtime=0)),
    ],
)
def test_write_files_decodes_every_encoding(encoding: str | None, content: str | bytes) -> None:
    guest = Guest()
    item: dict[str, Any] = {"path": "C:\\data\\out.bin", "content": content}
    if encoding is not None:
        item["encoding"] = encoding
    assert guest.run(cloud_config({"write_files": [item]})) == 0
    expected = content.encode() if encoding is None and isinstance(content, str) else PAYLOAD
    assert guest.osutils.read_file("C:\\data\\out.bin") == expected


def test_write_files_creates_missing_parent_folders() -> None:
    guest = Guest()
    guest.run(cloud_config({"write_files": [{"path": "C:\\a\\b\\c\\f.txt", "content": "x"}]}))
    assert guest.os_calls("make_dirs", "write_file") == ["make_dirs", "write_file"]
    assert guest.osutils.read_file("C:\\a\\b\\c\\f.txt") == b"x"


def test_a_single_mapping_is_one_file() -> None:
    guest = Guest()
    guest.run(cloud_config({"write_files": {"path": "C:\\one.txt", "content": "1"}}))
    assert guest.osutils.read_file("C:\\one.txt") == b"1"


@pytest.mark.parametrize(
    ("path", "written"),
    [
        ("notes.txt", "C:\\Windows\\system32\\notes.txt"),
        ("/etc/motd", "C:\\etc\\motd"),
        ("C:/ProgramData/app/conf.ini", "C:\\ProgramData\\app\\conf.ini"),
        ("C:\\x\\..\\y.txt", "C:\\y.txt"),
    ],
)
def test_paths_are_made_absolute_from_the_service_working_folder(path: str, written: str) -> None:
    guest = Guest()
    guest.run(cloud_config({"write_files": [{"path": path, "content": "z"}]}))
    assert guest.osutils.read_file(written) == b"z"


def test_append_adds_to_the_file_and_the_default_overwrites() -> None:
    state = default_windows_state()
    state.files.write("C:\\log.txt", b"old\n")
    state.files.write("C:\\conf.txt", b"old\n")
    guest = Guest(state=state)
    files = [
        {"path": "C:\\log.txt", "content": "new\n", "append": True},
        {"path": "C:\\conf.txt", "content": "new\n"},
    ]
    guest.run(cloud_config({"write_files": files}))
    assert guest.osutils.read_file("C:\\log.txt") == b"old\nnew\n"
    assert guest.osutils.read_file("C:\\conf.txt") == b"new\n"


def test_an_unknown_encoding_writes_the_text_as_is(caplog: pytest.LogCaptureFixture) -> None:
    guest = Guest()
    item = {"path": "C:\\f.txt", "content": "aGVsbG8=", "encoding": "base32"}
    guest.run(cloud_config({"write_files": [item]}))
    assert guest.osutils.read_file("C:\\f.txt") == b"aGVsbG8="
    assert "Unknown encoding, assuming plain text." in messages(caplog, logging.WARNING)


def test_a_step_that_fails_is_logged_and_its_input_kept(caplog: pytest.LogCaptureFixture) -> None:
    guest = Guest()
    files = [
        {"path": "C:\\bad64.txt", "content": "abc", "encoding": "b64"},
        {"path": "C:\\badgz.txt", "content": "not gzip", "encoding": "gzip"},
        # base64 is fine but the result is not gzip: the base64-decoded bytes are written.
        {
            "path": "C:\\half.txt",
            "content": base64.b64encode(b"plain").decode(),
            "encoding": "gz+b64",
        },
    ]
    assert guest.run(cloud_config({"write_files": files})) == 0
    assert guest.osutils.read_file("C:\\bad64.txt") == b"abc"
    assert guest.osutils.read_file("C:\\badgz.txt") == b"not gzip"
    assert guest.osutils.read_file("C:\\half.txt") == b"plain"
    errors = messages(caplog, logging.ERROR)
    assert errors.count("Fail to decode base64 content.") == 1
    assert errors.count("Fail to decompress gzip content.") == 2


def test_an_item_without_path_or_content_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    guest = Guest()
    files = [
        {"content": "no path"},
        {"path": "C:\\nocontent.txt"},
        {"path": "C:\\ok.txt", "content": "ok"},
    ]
    guest.run(cloud_config({"write_files": files}))
    assert not guest.osutils.path_exists("C:\\nocontent.txt")
    assert guest.osutils.read_file("C:\\ok.txt") == b"ok"
    assert len([m for m in messages(caplog, logging.WARNING) if "Missing required keys" in m]) == 2


def test_a_parent_that_cannot_be_created_skips_the_item(caplog: pytest.LogCaptureFixture) -> None:
    state = default_windows_state()
    state.files.write("C:\\blocker", b"a file where a folder should be")
    guest = Guest(state=state)
    files = [
        {"path": "C:\\blocker\\sub\\f.txt", "content": "never"},
        {"path": "C:\\after.txt", "content": "written"},
    ]
    assert guest.run(cloud_config({"write_files": files})) == 0
    assert guest.osutils.read_file("C:\\after.txt") == b"written"
    assert any("Fail to create the directory" in m for m in messages(caplog, logging.ERROR))


def test_content_that_is_not_text_fails_the_handler(caplog: pytest.LogCaptureFixture) -> None:
    guest = Guest()
    files = [{"path": "C:\\n.txt", "content": 42}, {"path": "C:\\later.txt", "content": "x"}]
    assert guest.run(cloud_config({"write_files": files})) == 0
    assert not guest.osutils.path_exists("C:\\later.txt")
    assert messages(caplog, logging.ERROR) == ["Processing plugin write_files failed"]


def test_binary_yaml_content_is_written_as_is() -> None:
    guest = Guest()
    guest.run("#cloud-config\nwrite_files:\n- path: C:\\b.bin\n  content: !!binary AAEC/w==\n")
    assert guest.osutils.read_file("C:\\b.bin") == b"\x00\x01\x02\xff"


@pytest.mark.parametrize(
    ("permissions", "mode"),
    [
        (0o600, 0o600),
        (420, 0o644),
        (292.7, 292),
        ("0644", 0o644),
        ("0o466", 0o466),
        ("755", 0o755),
    ],
)
def test_permissions_are_numbers_or_octal_strings(permissions: Any, mode: int) -> None:
    assert convert_permissions(permissions) == mode


@pytest.mark.parametrize("permissions", [None, "rw-r--r--", "0x1ff", "9", [1]])
def test_invalid_permissions_fall_back_to_0644(
    permissions: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert convert_permissions(permissions) == DEFAULT_PERMISSIONS == 0o644
    assert any("assuming 0o644" in m for m in messages(caplog, logging.WARNING))


def test_owner_is_ignored_and_the_file_written() -> None:
    guest = Guest()
    item = {"path": "C:\\o.txt", "content": "o", "owner": "root:root", "permissions": "0444"}
    assert guest.run(cloud_config({"write_files": [item]})) == 0
    assert guest.osutils.read_file("C:\\o.txt") == b"o"


# --- set_timezone / timezone ------------------------------------------------------------------


@pytest.mark.parametrize("key", ["set_timezone", "timezone"])
def test_timezone_sets_the_windows_zone(key: str) -> None:
    guest = Guest()
    assert guest.run(cloud_config({key: "America/New_York"})) == 0
    assert guest.state.timezone.zone_id == "Eastern Standard Time"


def test_both_timezone_keys_run_set_timezone_first() -> None:
    guest = Guest()
    guest.run(cloud_config({"timezone": "Asia/Tokyo", "set_timezone": "Europe/Paris"}))
    assert guest.state.timezone.zone_id == "Tokyo Standard Time"
    assert [e.get("timezone") for e in guest.osutils.trace.of_kind("os")] == [
        "Europe/Paris",
        "Asia/Tokyo",
    ]


def test_an_unknown_zone_fails_the_handler(caplog: pytest.LogCaptureFixture) -> None:
    guest = Guest()
    assert guest.run(cloud_config({"timezone": "Middle/Earth"})) == 0
    assert guest.state.timezone.zone_id == "UTC"
    assert messages(caplog, logging.ERROR) == ["Processing plugin timezone failed"]


# --- set_hostname / hostname ------------------------------------------------------------------


@pytest.mark.parametrize("key", ["set_hostname", "hostname"])
def test_a_long_name_is_cut_to_15_and_asks_for_a_reboot(key: str) -> None:
    guest = Guest()
    assert guest.run(cloud_config({key: "averyveryverylongname.example.org"})) == 1003
    assert guest.state.pending_computer_name == "averyveryverylo"
    assert guest.state.computer_name == ORIGINAL_NAME


def test_without_netbios_compatibility_the_name_is_kept_whole() -> None:
    guest = Guest({"netbios_host_name_compatibility": False})
    assert guest.run(cloud_config({"hostname": "averyveryverylongname"})) == 1003
    assert guest.state.pending_computer_name == "averyveryverylongname"


def test_a_trailing_hyphen_becomes_a_zero() -> None:
    guest = Guest()
    guest.run(cloud_config({"hostname": "node-7-"}))
    assert guest.state.pending_computer_name == "node-70"


def test_the_current_name_asks_for_nothing() -> None:
    guest = Guest()
    assert guest.run(cloud_config({"hostname": ORIGINAL_NAME.lower() + ".lan"})) == 0
    assert guest.os_calls("set_host_name") == []


# --- ntp --------------------------------------------------------------------------------------


def test_ntp_servers_then_pools_become_the_peers() -> None:
    guest = Guest()
    document = cloud_config({"ntp": {"pools": ["pool.ntp.org"], "servers": ["10.0.0.5", "ntp1"]}})
    assert guest.run(document) == 0
    assert guest.state.ntp_peers == ["10.0.0.5", "ntp1", "pool.ntp.org"]


@pytest.mark.parametrize(
    "ntp",
    [{"enabled": False, "servers": ["10.0.0.5"]}, {"servers": [], "pools": []}, {"enabled": True}],
)
def test_ntp_disabled_or_without_servers_changes_nothing(ntp: dict[str, Any]) -> None:
    guest = Guest()
    assert guest.run(cloud_config({"ntp": ntp})) == 0
    assert guest.state.ntp_peers is None


# --- groups -----------------------------------------------------------------------------------


def test_groups_are_created_with_their_members() -> None:
    state = default_windows_state()
    guest = Guest(state=state)
    guest.osutils.create_user("bob", "Passw0rd!")
    guest.run(cloud_config({"groups": ["devs", {"ops": ["bob", "Administrator"]}]}))
    devs, ops = state.find_group("devs"), state.find_group("ops")
    assert devs is not None and ops is not None
    assert devs.members == []
    assert ops.members == ["bob", "Administrator"]
    assert devs.sid.startswith(MACHINE_SID) and ops.sid.startswith(MACHINE_SID)
    user_sids = {u.sid for u in state.users}
    assert devs.sid not in user_sids and ops.sid not in user_sids and devs.sid != ops.sid


def test_an_existing_group_is_kept_and_gets_its_members(caplog: pytest.LogCaptureFixture) -> None:
    guest = Guest()
    guest.osutils.create_user("bob", "Passw0rd!")
    guest.run(cloud_config({"groups": [{"Remote Desktop Users": ["bob"]}]}))
    group = guest.state.find_group("Remote Desktop Users")
    assert group is not None and group.members == ["bob"]
    assert "Group 'Remote Desktop Users' already exists" in messages(caplog, logging.WARNING)
    assert guest.os_calls("create_group") == []


def test_a_mapping_of_groups_only_creates_the_names() -> None:
    guest = Guest()
    guest.osutils.create_user("bob", "Passw0rd!")
    guest.run(cloud_config({"groups": {"devs": ["bob"], "ops": ["bob"]}}))
    for name in ("devs", "ops"):
        group = guest.state.find_group(name)
        assert group is not None and group.members == []


def test_an_empty_group_name_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    guest = Guest()
    assert guest.run(cloud_config({"groups": ["", {"": ["x"]}, "devs"]})) == 0
    assert guest.state.find_group("devs") is not None
    assert guest.os_calls("create_group") == ["create_group"]
    assert len([m for m in messages(caplog, logging.WARNING) if "empty" in m]) == 2


def test_an_os_error_aborts_the_remaining_groups(caplog: pytest.LogCaptureFixture) -> None:
    guest = Guest()
    rc = guest.run(cloud_config({"groups": ["first", {"second": ["nosuchuser"]}, "third"]}))
    assert rc == 0
    assert guest.state.find_group("first") is not None
    assert guest.state.find_group("second") is not None  # created before the member failed
    assert guest.state.find_group("third") is None
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == "Processing plugin groups failed"
    assert record.exc_info is not None
    assert "Group 'second' could not be configured" in str(record.exc_info[1])


def test_a_group_named_like_a_user_cannot_be_created(caplog: pytest.LogCaptureFixture) -> None:
    guest = Guest()
    guest.run(cloud_config({"groups": ["Administrator", "after"]}))
    assert guest.state.find_group("Administrator") is None
    assert guest.state.find_group("after") is None
    assert messages(caplog, logging.ERROR) == ["Processing plugin groups failed"]


@pytest.mark.parametrize("bad", [42, ["a", "b"]])
def test_an_entry_of_another_type_aborts_the_remaining_groups(bad: Any) -> None:
    guest = Guest()
    guest.run(cloud_config({"groups": ["before", bad, "after"]}))
    assert guest.state.find_group("before") is not None
    assert guest.state.find_group("after") is None


# --- users ------------------------------------------------------------------------------------


def test_a_user_with_everything() -> None:
    guest = Guest()
    user_entry = {
        "name": "alice",
        "passwd": "S3cret-Passw0rd",
        "gecos": "Alice Liddell",
        "expiredate": "2031-05-17",
        "groups": "Administrators, Remote Desktop Users",
        "primary_group": "Users",
        "ssh_authorized_keys": [PUBLIC_KEY, "ssh-ed25519 AAAAC3Nza second"],
    }
    assert guest.run(cloud_config({"users": [user_entry]})) == 0
    alice = guest.state.find_user("alice")
    assert alice is not None
    assert alice.password == "S3cret-Passw0rd"
    assert alice.password_never_expires
    assert alice.full_name == "Alice Liddell"
    assert alice.disabled is False
    expected = int(dt.datetime(2031, 5, 17, tzinfo=dt.UTC).timestamp())
    assert alice.expires == expected == 1936742400
    for group in ("Administrators", "Remote Desktop Users", "Users"):
        found = guest.state.find_group(group)
        assert found is not None and "alice" in found.members
    home = guest.osutils.get_user_home("alice")
    assert home == "C:\\Users\\alice"
    assert guest.osutils.read_file(f"{home}\\.ssh\\authorized_keys") == (
        f"{PUBLIC_KEY}\r\nssh-ed25519 AAAAC3Nza second\r\n".encode()
    )
    assert guest.os_calls("create_user", "set_user_info", "logon", "create_profile") == [
        "create_user",
        "set_user_info",
        "logon",
        "create_profile",
    ]


def test_without_passwd_a_random_password_of_the_configured_length() -> None:
    guest = Guest({"user_password_length": 14})
    guest.run(cloud_config({"users": [{"name": "bob"}]}))
    bob = guest.state.find_user("bob")
    assert bob is not None and bob.password is not None and len(bob.password) == 14
    assert guest.osutils.get_user_home("bob") == "C:\\Users\\bob"


def test_a_passwd_longer_than_20_fails_that_user_only(caplog: pytest.LogCaptureFixture) -> None:
    guest = Guest()
    users = [{"name": "carol", "passwd": "x" * 21}, {"name": "dave", "passwd": "y" * 20}]
    assert guest.run(cloud_config({"users": users})) == 0
    assert guest.state.find_user("carol") is None
    dave = guest.state.find_user("dave")
    assert dave is not None and dave.password == "y" * 20
    [warning] = [m for m in messages(caplog, logging.WARNING) if "carol" in m]
    assert warning.startswith("An error occurred during user 'carol' creation: ")


def test_inactive_with_a_home_fails_the_user(caplog: pytest.LogCaptureFixture) -> None:
    guest = Guest()
    users = [
        {"name": "erin", "inactive": True},
        {
            "name": "frank",
            "inactive": True,
            "no_create_home": True,
            "ssh_authorized_keys": [PUBLIC_KEY],
        },
        {"name": "grace", "inactive": True, "no_create_home": True},
    ]
    guest.run(cloud_config({"users": users}))
    assert guest.state.find_user("erin") is None
    assert guest.state.find_user("frank") is None  # keys always want a home
    grace = guest.state.find_user("grace")
    assert grace is not None and grace.disabled is True
    assert guest.osutils.get_user_home("grace") is None
    failed = [m for m in messages(caplog, logging.WARNING) if m.startswith("An error occurred")]
    assert [m.split("'")[1] for m in failed] == ["erin", "frank"]


def test_no_create_home_skips_the_logon() -> None:
    guest = Guest()
    guest.run(cloud_config({"users": [{"name": "henry", "no_create_home": True}]}))
    assert guest.state.find_user("henry") is not None
    assert guest.osutils.get_user_home("henry") is None
    assert guest.os_calls("logon") == []


def test_an_unquoted_expiredate_is_ignored() -> None:
    # Quirk 10.11: YAML makes an unquoted date a date object, which is not a string.
    guest = Guest()
    guest.run("#cloud-config\nusers:\n- name: ivy\n  expiredate: 2031-05-17\n")
    ivy = guest.state.find_user("ivy")
    assert ivy is not None and ivy.expires is None


def test_a_malformed_expiredate_fails_the_user(caplog: pytest.LogCaptureFixture) -> None:
    guest = Guest()
    guest.run(cloud_config({"users": [{"name": "jack", "expiredate": "17/05/2031"}]}))
    assert guest.state.find_user("jack") is None
    assert any(
        m.startswith("An error occurred during user 'jack'")
        for m in messages(caplog, logging.WARNING)
    )


def test_groups_are_split_on_comma_space_exactly(caplog: pytest.LogCaptureFixture) -> None:
    # Quirk 10.11: "Administrators,Users" is one (missing) group name.
    guest = Guest()
    guest.run(cloud_config({"users": [{"name": "kim", "groups": "Administrators,Users"}]}))
    kim = guest.state.find_user("kim")
    assert kim is not None
    admins = guest.state.find_group("Administrators")
    assert admins is not None and "kim" not in admins.members
    [record] = [r for r in caplog.records if "to group" in r.getMessage()]
    assert "'Administrators,Users'" in record.getMessage()
    # The failure is only logged: the profile is still created.
    assert guest.osutils.get_user_home("kim") == "C:\\Users\\kim"


def test_groups_as_a_list() -> None:
    guest = Guest()
    guest.run(
        cloud_config(
            {"users": [{"name": "lee", "groups": ["Administrators", "Remote Desktop Users"]}]}
        )
    )
    for name in ("Administrators", "Remote Desktop Users"):
        group = guest.state.find_group(name)
        assert group is not None and "lee" in group.members


def test_an_existing_user_gets_a_new_password_and_info(caplog: pytest.LogCaptureFixture) -> None:
    guest = Guest()
    guest.osutils.create_user("mia", "Old-Passw0rd")
    guest.run(cloud_config({"users": [{"name": "MIA", "passwd": "New-Passw0rd", "gecos": "Mia"}]}))
    mia = guest.state.find_user("mia")
    assert mia is not None
    assert mia.password == "New-Passw0rd" and mia.full_name == "Mia"
    assert guest.os_calls("create_user", "set_user_password") == [
        "create_user",
        "set_user_password",
    ]
    assert any("already exists" in m for m in messages(caplog, logging.WARNING))


def test_entries_that_are_not_users_are_ignored_or_warned(caplog: pytest.LogCaptureFixture) -> None:
    guest = Guest()
    users = [
        "default",
        7,
        {"gecos": "no name"},
        {"name": ""},
        {"name": "nina", "no_create_home": True},
    ]
    assert guest.run(cloud_config({"users": users})) == 0
    assert [u.name for u in guest.state.users][-1] == "nina"
    assert guest.os_calls("create_user") == ["create_user"]
    assert len(messages(caplog, logging.WARNING)) == 2


def test_a_mapping_of_users_does_nothing() -> None:
    guest = Guest()
    assert guest.run(cloud_config({"users": {"name": "olga"}})) == 0
    assert guest.state.find_user("olga") is None
    assert guest.os_calls() == []


def test_users_are_created_after_groups() -> None:
    guest = Guest()
    document = cloud_config({"users": [{"name": "pat", "groups": "devs"}], "groups": ["devs"]})
    guest.run(document)
    devs = guest.state.find_group("devs")
    assert devs is not None and devs.members == ["pat"]


# --- runcmd -----------------------------------------------------------------------------------


def test_runcmd_runs_one_cmd_script_with_every_entry(caplog: pytest.LogCaptureFixture) -> None:
    guest = Guest()
    document = (
        "#cloud-config\n"
        "runcmd:\n"
        "- echo hello > C:\\hello.txt\n"
        "- [net, user, bob, 1, true]\n"
        "- !!python/tuple [ipconfig, /all]\n"
    )
    assert guest.run(document) == 0
    [run] = guest.state.scripts.runs
    assert run.interpreter == "cmd"
    assert run.path.lower().endswith(".cmd")
    assert run.content == (
        b"rem cmd\r\necho hello > C:\\hello.txt\r\nnet user bob 1 True\r\nipconfig /all\r\n"
    )
    assert "Found 3 cloud-config runcmd entries." in messages(caplog, logging.INFO)


def test_an_empty_runcmd_runs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    guest = Guest()
    assert guest.run(cloud_config({"runcmd": []})) == 0
    assert guest.state.scripts.runs == []
    assert "No cloud-config runcmd entries found." in messages(caplog, logging.INFO)


@pytest.mark.parametrize("entry", [42, {"cmd": "x"}, None])
def test_an_entry_of_another_type_fails_runcmd(
    entry: Any, caplog: pytest.LogCaptureFixture
) -> None:
    guest = Guest()
    assert guest.run(cloud_config({"runcmd": ["echo ok", entry]})) == 0
    assert guest.state.scripts.runs == []
    assert messages(caplog, logging.ERROR) == ["Processing plugin runcmd failed"]


@pytest.mark.parametrize(
    ("exit_code", "rc"), [(0, 0), (1, 0), (1001, 1003), (1002, 0), (1003, 1003), (1004, 0)]
)
def test_the_script_exit_code_maps_to_the_reboot_flag(exit_code: int, rc: int) -> None:
    guest = Guest()
    guest.declare("runcmd", "echo reboot-me", exit_code)
    assert guest.run(cloud_config({"runcmd": ["echo reboot-me"]})) == rc
    [run] = guest.state.scripts.runs
    assert run.declaration == "runcmd" and run.exit_code == exit_code


def test_a_script_that_cannot_run_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    guest = Guest()
    guest.declare("broken", "echo broken", error="Access is denied")
    assert guest.run(cloud_config({"runcmd": ["echo broken"], "timezone": "Asia/Tokyo"})) == 0
    # Running user data logs the failure and counts it as exit code 0.
    assert "An error occurred during user_data execution: 'Access is denied'" in messages(
        caplog, logging.WARNING
    )
    assert messages(caplog, logging.ERROR) == []
    assert guest.state.timezone.zone_id == "Tokyo Standard Time"


def test_runcmd_runs_after_everything_else() -> None:
    guest = Guest()
    guest.declare("after-users", "whoami", 0)
    guest.run(
        cloud_config({"runcmd": ["whoami"], "users": [{"name": "quinn", "no_create_home": True}]})
    )
    kinds = [
        e.kind if e.kind == "script" else str(e.get("call"))
        for e in guest.osutils.trace.events
        if e.kind == "script" or e.get("call") == "create_user"
    ]
    assert kinds == ["create_user", "script"]


def test_runcmd_1001_and_a_host_name_still_give_1003() -> None:
    guest = Guest()
    guest.declare("reboot", "shutdown-later", 1001)
    document = cloud_config({"runcmd": ["shutdown-later"], "hostname": "web-09"})
    assert guest.run(document) == 1003
    assert guest.state.pending_computer_name == "web-09"


# --- the whole boot flow ------------------------------------------------------------------------

USER_DATA_PLUGIN = "cloudbaseinit.plugins.common.userdata.UserDataPlugin"


def user_data_ends(result: Any) -> list[tuple[Any, Any]]:
    return [
        (e.get("status"), e.get("reboot"))
        for e in result.trace.of_kind("plugin_end")
        if e.get("plugin") == "UserDataPlugin"
    ]


def test_a_jinja_cloud_config_renders_instance_data_before_running() -> None:
    user_data = (
        b"## template: jinja\n"
        b"#cloud-config\n"
        b"write_files:\n"
        b"- path: C:\\identity.txt\n"
        b"  content: '{{ v1.instance_id }} {{ v1.local_hostname }} {{ region }}'\n"
    )
    machine, _ = openstack_machine(plugins=(USER_DATA_PLUGIN,), user_data=user_data)
    result = machine.run()
    assert result.state.files.read("C:\\identity.txt") == (
        f"{INSTANCE_ID} web-01.novalocal CI_MISSING_JINJA_VAR/region".encode()
    )
    assert user_data_ends(result) == [(1, False)]


def test_a_reboot_request_reruns_every_key_on_the_next_boot() -> None:
    user_data = (
        b"#cloud-config\n"
        b"hostname: cloud-host-0042\n"
        b"write_files:\n"
        b"- {path: 'C:\\boot.log', content: \"boot\\n\", append: true}\n"
    )
    machine, _ = openstack_machine(
        plugins=(USER_DATA_PLUGIN,), options={"allow_reboot": True}, user_data=user_data
    )
    result = machine.run()
    assert result.boot_count == 2
    assert result.state.computer_name == "cloud-host-0042"
    # 1003 = NEXT_BOOT + reboot; on the second boot the name is in place: DONE.
    assert user_data_ends(result) == [(2, True), (1, False)]
    assert result.state.files.read("C:\\boot.log") == b"boot\nboot\n"


def test_runcmd_exiting_1001_reboots_forever() -> None:
    state = default_windows_state()
    state.scripts.declarations.append(
        ScriptDeclaration("reboot", marker="reboot-now", runs=(ScriptRunSpec(exit_code=1001),))
    )
    machine, _ = openstack_machine(
        plugins=(USER_DATA_PLUGIN,),
        options={"allow_reboot": True},
        user_data=b"#cloud-config\nruncmd: [reboot-now]\n",
        state=state,
        max_boots=3,
    )
    result = machine.run()
    assert result.reboot_loop
    assert "UserDataPlugin" in result.findings[0]
    assert user_data_ends(result) == [(2, True)] * 3
    assert [run.run for run in result.state.scripts.runs] == [1, 2, 3]
