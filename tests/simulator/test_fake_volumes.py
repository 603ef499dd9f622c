"""The fake Windows' volumes: mount points, page files, TRIM, SAN policy and extending volumes.

Each test calls the OS boundary directly on a default Windows Server 2019 state (plus the
disks it attaches) and asserts the registry, the disks and volumes, the trace and the log
lines the storage manager writes.
"""

from __future__ import annotations

import logging

import pytest

import guestsim.simulator.media as media
from guestsim.agent.osutils import ItemNotFound, OSUtilsError
from guestsim.agent.windows.storage import (
    SAN_POLICY_OFFLINE,
    SAN_POLICY_OFFLINE_SHARED,
    SAN_POLICY_ONLINE,
)
from guestsim.simulator.errors import NotModelled
from guestsim.simulator.trace import Event
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.disks import Drive, Volume
from guestsim.simulator.windows.osutils import FakeOSUtils
from guestsim.simulator.windows.registry import RegType
from guestsim.simulator.windows.state import WindowsState
from guestsim.simulator.windows.storage import (
    GIB,
    MIB,
    SECTOR,
    SYSTEM_DISK_SIZE,
    SYSTEM_PARTITION_SIZE,
    PartitionSpec,
    attach_cdrom,
    attach_disk,
    attach_ntfs_disk,
    free_space_after,
    harddisk_volume_number,
    mount_volume,
    partition_number,
    usable_end,
    vds_volume_name,
)
from guestsim.simulator.windows.volumes import (
    DISABLE_DELETE_NOTIFICATION,
    FILE_SYSTEM_KEY,
    MEMORY_MANAGEMENT_KEY,
    PAGING_FILES,
    PARTMGR_PARAMETERS_KEY,
    SAN_POLICY,
    page_file_entry,
)
from tests.builders import standalone_osutils

C_END = SYSTEM_DISK_SIZE - MIB  # C: after extending: from 1 MiB to the end of disk 0
STORAGE_LOGGER = "guestsim.agent.windows.storage"


def guest(state: WindowsState | None = None) -> FakeOSUtils:
    return standalone_osutils([], state)


def registry_value(state: WindowsState, key: str, name: str) -> object:
    return state.registry.get_value(key, name).data


def os_events(osu: FakeOSUtils, call: str) -> list[Event]:
    return [e for e in osu.trace.of_kind("os") if e.get("call") == call]


def volume_by_letter(state: WindowsState, letter: str) -> Volume:
    return next(v for v in state.volumes if v.letter == letter)


def mbr_sectors(state: WindowsState, disk: int, slot: int = 0) -> int:
    entry = 446 + 16 * slot
    return int.from_bytes(state.disks[disk].read(entry + 12, 4), "little")


def fat_disk(state: WindowsState, size: int, table: str = "gpt") -> int:
    fs_image = media.build_image({"readme.txt": b"data"}, "vfat", "DATA")
    image = media.build_disk(fs_image, table)
    return attach_disk(state, image, [PartitionSpec(MIB, len(fs_image))], ["F"], size=size)


# --- a fresh installation ---------------------------------------------------------------------


def test_a_fresh_installation_has_a_system_managed_page_file_trim_on_and_no_san_policy() -> None:
    state = default_windows_state()
    assert registry_value(state, MEMORY_MANAGEMENT_KEY, PAGING_FILES) == ["?:\\pagefile.sys"]
    assert state.registry.get_value(MEMORY_MANAGEMENT_KEY, PAGING_FILES).type is (
        RegType.REG_MULTI_SZ
    )
    assert registry_value(state, FILE_SYSTEM_KEY, DISABLE_DELETE_NOTIFICATION) == 0
    assert state.registry.key_exists(PARTMGR_PARAMETERS_KEY)
    assert state.registry.values(PARTMGR_PARAMETERS_KEY) == []


def test_the_system_disk_has_unallocated_space_after_c() -> None:
    state = default_windows_state()
    c = volume_by_letter(state, "C")
    assert (c.disk, c.offset, c.size) == (0, MIB, SYSTEM_PARTITION_SIZE)
    assert state.disks[0].size == SYSTEM_DISK_SIZE
    assert mbr_sectors(state, 0) == SYSTEM_PARTITION_SIZE // SECTOR
    assert free_space_after(state, c) == SYSTEM_DISK_SIZE - MIB - SYSTEM_PARTITION_SIZE


# --- page files -------------------------------------------------------------------------------


def test_the_system_managed_page_file_reads_as_sizes_zero() -> None:
    assert guest().get_page_files() == [("?:\\pagefile.sys", 0, 0)]


@pytest.mark.parametrize(
    ("entry", "parsed"),
    [
        ("C:\\pagefile.sys 0 0", ("C:\\pagefile.sys", 0, 0)),
        ("D:\\pagefile.sys 1024 4096", ("D:\\pagefile.sys", 1024, 4096)),
        ("?:\\pagefile.sys", ("?:\\pagefile.sys", 0, 0)),
        ("E:\\pagefile.sys 512", ("E:\\pagefile.sys", 512, 0)),
    ],
)
def test_page_file_entries_are_path_min_and_max(entry: str, parsed: tuple[str, int, int]) -> None:
    assert page_file_entry(entry) == parsed


def test_set_page_files_writes_the_registry_multi_sz_and_is_traced() -> None:
    osu = guest()
    osu.set_page_files([("C:\\pagefile.sys", 0, 0), ("D:\\pagefile.sys", 1024, 2048)])

    value = osu.state.registry.get_value(MEMORY_MANAGEMENT_KEY, PAGING_FILES)
    assert value.type is RegType.REG_MULTI_SZ
    assert value.data == ["C:\\pagefile.sys 0 0", "D:\\pagefile.sys 1024 2048"]
    assert osu.get_page_files() == [("C:\\pagefile.sys", 0, 0), ("D:\\pagefile.sys", 1024, 2048)]
    (event,) = os_events(osu, "set_page_files")
    assert event.get("page_files") == ["C:\\pagefile.sys 0 0", "D:\\pagefile.sys 1024 2048"]


def test_the_registry_is_the_page_file_configuration() -> None:
    state = default_windows_state()
    state.registry.set_value(
        MEMORY_MANAGEMENT_KEY, PAGING_FILES, ["E:\\pagefile.sys 16 32"], RegType.REG_MULTI_SZ
    )
    assert guest(state).get_page_files() == [("E:\\pagefile.sys", 16, 32)]


def test_a_missing_paging_files_value_is_an_os_error() -> None:
    state = default_windows_state()
    state.registry.delete_value(MEMORY_MANAGEMENT_KEY, PAGING_FILES)
    with pytest.raises(OSUtilsError):
        guest(state).get_page_files()


def test_set_page_files_without_the_memory_management_key_is_an_os_error() -> None:
    state = default_windows_state()
    state.registry.delete_key(MEMORY_MANAGEMENT_KEY)
    osu = guest(state)
    with pytest.raises(OSUtilsError):
        osu.set_page_files([("C:\\pagefile.sys", 0, 0)])
    assert os_events(osu, "set_page_files") == []


# --- TRIM -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("enable", "stored"), [(True, 0), (False, 1)])
def test_enable_trim_sets_disable_delete_notification(enable: bool, stored: int) -> None:
    osu = guest()
    osu.enable_trim(enable)
    value = osu.state.registry.get_value(FILE_SYSTEM_KEY, DISABLE_DELETE_NOTIFICATION)
    assert (value.data, value.type) == (stored, RegType.REG_DWORD)
    (event,) = os_events(osu, "enable_trim")
    assert (event.get("enable"), event.get("disabledeletenotify")) == (enable, stored)


def test_enable_trim_creates_the_file_system_key_if_needed() -> None:
    state = default_windows_state()
    state.registry.delete_key(FILE_SYSTEM_KEY)
    guest(state).enable_trim(True)
    assert registry_value(state, FILE_SYSTEM_KEY, DISABLE_DELETE_NOTIFICATION) == 0


# --- SAN policy -------------------------------------------------------------------------------


@pytest.mark.parametrize("nano", [False, True], ids=["vds", "wsm"])
def test_an_absent_san_policy_reads_as_offline_shared(nano: bool) -> None:
    state = default_windows_state()
    state.version.nano_server = nano
    assert guest(state).get_san_policy() == SAN_POLICY_OFFLINE_SHARED


@pytest.mark.parametrize(
    "policy", [SAN_POLICY_ONLINE, SAN_POLICY_OFFLINE_SHARED, SAN_POLICY_OFFLINE]
)
def test_vds_sets_any_san_policy_in_the_registry(policy: int) -> None:
    osu = guest()
    osu.set_san_policy(policy)
    value = osu.state.registry.get_value(PARTMGR_PARAMETERS_KEY, SAN_POLICY)
    assert (value.data, value.type) == (policy, RegType.REG_DWORD)
    assert osu.get_san_policy() == policy
    (event,) = os_events(osu, "set_san_policy")
    assert (event.get("manager"), event.get("policy")) == ("VDS", policy)


@pytest.mark.parametrize("policy", [0, 4])
def test_vds_refuses_an_unknown_san_policy(policy: int) -> None:
    osu = guest()
    with pytest.raises(OSUtilsError):
        osu.set_san_policy(policy)
    assert osu.state.registry.values(PARTMGR_PARAMETERS_KEY) == []


@pytest.mark.parametrize("policy", [SAN_POLICY_OFFLINE_SHARED, SAN_POLICY_OFFLINE])
def test_wsm_only_accepts_the_online_san_policy(policy: int) -> None:
    state = default_windows_state()
    state.version.nano_server = True
    osu = guest(state)
    with pytest.raises(OSUtilsError, match="OnlineAll"):
        osu.set_san_policy(policy)
    assert state.registry.values(PARTMGR_PARAMETERS_KEY) == []
    assert os_events(osu, "set_san_policy") == []


def test_wsm_sets_the_online_san_policy() -> None:
    state = default_windows_state()
    state.version.nano_server = True
    osu = guest(state)
    osu.set_san_policy(SAN_POLICY_ONLINE)
    assert registry_value(state, PARTMGR_PARAMETERS_KEY, SAN_POLICY) == SAN_POLICY_ONLINE
    assert [e.get("manager") for e in os_events(osu, "set_san_policy")] == ["WSM"]


def test_wsm_reads_the_san_policy_key_which_must_exist_vds_does_not() -> None:
    state = default_windows_state()
    state.registry.delete_key(PARTMGR_PARAMETERS_KEY)
    assert guest(state).get_san_policy() == SAN_POLICY_OFFLINE_SHARED
    state.version.nano_server = True
    with pytest.raises(OSUtilsError):
        guest(state).get_san_policy()


# --- mount points -----------------------------------------------------------------------------


@pytest.mark.parametrize("mount_point", ["C:\\", "C:", "c:\\"])
def test_a_drive_root_is_the_mount_point_of_its_volume(mount_point: str) -> None:
    assert guest().get_volume_path_names_by_mount_point(mount_point) == ["C:\\"]


def test_a_volume_guid_path_names_its_volume() -> None:
    state = default_windows_state()
    c = volume_by_letter(state, "C")
    assert guest(state).get_volume_path_names_by_mount_point(c.path) == ["C:\\"]
    assert guest(state).get_volume_path_names_by_mount_point(c.path.rstrip("\\")) == ["C:\\"]


def test_a_folder_mount_point_lists_the_letter_first_then_the_folders() -> None:
    state = default_windows_state()
    attach_ntfs_disk(state, 8 * GIB, "Data", letter="E")
    data = volume_by_letter(state, "E")
    mount_volume(state, data, "C:\\mnt\\zeta")
    mount_volume(state, data, "C:\\mnt\\Alpha\\")
    osu = guest(state)

    expected = ["E:\\", "C:\\mnt\\Alpha\\", "C:\\mnt\\zeta\\"]
    assert osu.get_volume_path_names_by_mount_point("C:\\mnt\\zeta") == expected
    assert osu.get_volume_path_names_by_mount_point("c:\\MNT\\alpha\\") == expected
    assert osu.get_volume_path_names_by_mount_point("E:\\") == expected
    assert state.files.is_dir("C:\\mnt\\zeta")


def test_a_volume_without_a_letter_is_named_by_its_folders_only() -> None:
    state = default_windows_state()
    attach_ntfs_disk(state, 8 * GIB, "Temporary Storage")
    volume = state.volumes[-1]
    mount_volume(state, volume, "C:\\ephemeral")
    assert guest(state).get_volume_path_names_by_mount_point(volume.path) == ["C:\\ephemeral\\"]


def test_a_lettered_drive_without_a_volume_record_is_its_own_root() -> None:
    state = default_windows_state()
    state.attach_drive(Drive("E", "provisioning", "cdrom"), {"a.txt": b"x"})
    assert guest(state).get_volume_path_names_by_mount_point("E:") == ["E:\\"]


@pytest.mark.parametrize("mount_point", ["Q:\\", "C:\\no\\such\\folder", "nonsense", ""])
def test_a_missing_mount_point_is_item_not_found(mount_point: str) -> None:
    with pytest.raises(ItemNotFound):
        guest().get_volume_path_names_by_mount_point(mount_point)


def test_an_ordinary_folder_is_not_a_mount_point_and_not_item_not_found() -> None:
    with pytest.raises(OSUtilsError) as raised:
        guest().get_volume_path_names_by_mount_point("C:\\Windows")
    assert not isinstance(raised.value, ItemNotFound)


def test_a_folder_cannot_hold_two_mounts() -> None:
    state = default_windows_state()
    c = volume_by_letter(state, "C")
    mount_volume(state, c, "C:\\m")
    with pytest.raises(ValueError):
        mount_volume(state, c, "c:\\M\\")


# --- numbering and layout ---------------------------------------------------------------------


def test_vds_numbers_disk_backed_volumes_in_attach_order_skipping_cdroms() -> None:
    state = default_windows_state()
    attach_cdrom(state, media.build_image({"a.txt": b"a"}, "iso", "MEDIA"), "D")
    attach_ntfs_disk(state, 8 * GIB, "Data", letter="E")
    c, cd, data = state.volumes
    assert cd.disk is None
    assert vds_volume_name(state, c) == "\\\\?\\GLOBALROOT\\Device\\HarddiskVolume1"
    assert vds_volume_name(state, data) == "\\\\?\\GLOBALROOT\\Device\\HarddiskVolume2"
    assert [harddisk_volume_number(state, v) for v in (c, data)] == [1, 2]
    assert partition_number(state, c) == partition_number(state, data) == 1


def test_free_space_ends_at_the_next_partition() -> None:
    state = default_windows_state()
    c = volume_by_letter(state, "C")
    state.volumes.append(Volume("second", None, disk=0, offset=50 * GIB, size=4 * GIB))
    assert free_space_after(state, c) == 50 * GIB - (MIB + SYSTEM_PARTITION_SIZE)
    assert partition_number(state, state.volumes[-1]) == 2


def test_free_space_on_a_gpt_disk_ends_at_its_last_usable_lba() -> None:
    state = default_windows_state()
    # A 2 MiB GPT image on a 64 MiB disk: the table still says the disk ends at 2 MiB.
    number = fat_disk(state, 64 * MIB)
    disk = state.disks[number]
    assert usable_end(disk) == len(disk.data) - 33 * SECTOR < disk.size
    volume = state.volumes[-1]
    assert free_space_after(state, volume) == usable_end(disk) - (volume.offset + volume.size)


def test_attach_ntfs_disk_shows_its_files_and_label() -> None:
    state = default_windows_state()
    number = attach_ntfs_disk(
        state, 4 * GIB, "Temporary Storage", "D", 2 * GIB, {"dir/readme.txt": b"hi"}
    )
    assert number == 1
    assert state.files.read("D:\\dir\\readme.txt") == b"hi"
    osu = guest(state)
    assert osu.get_volume_label("D:\\") == "Temporary Storage"
    assert "D:\\" in osu.get_logical_drives()
    assert mbr_sectors(state, 1) == 2 * GIB // SECTOR
    with pytest.raises(ValueError):
        attach_ntfs_disk(state, GIB, None, partition_size=2 * GIB)


# --- extending volumes: VDS -------------------------------------------------------------------


def test_vds_extends_c_to_the_end_of_its_disk(caplog: pytest.LogCaptureFixture) -> None:
    osu = guest()
    c_path = volume_by_letter(osu.state, "C").path
    free = C_END - SYSTEM_PARTITION_SIZE

    with caplog.at_level(logging.DEBUG, STORAGE_LOGGER):
        osu.extend_volumes(None)

    c = volume_by_letter(osu.state, "C")
    assert c.size == C_END
    assert osu.get_device_size(c_path) == C_END
    assert mbr_sectors(osu.state, 0) == C_END // SECTOR
    assert int.from_bytes(osu.read_device("\\\\.\\PHYSICALDRIVE0", 446 + 12, 4), "little") == (
        C_END // SECTOR
    )
    assert free_space_after(osu.state, c) == 0
    (event,) = os_events(osu, "extend_volume")
    assert event.get("manager") == "VDS"
    assert event.get("volume") == "\\\\?\\GLOBALROOT\\Device\\HarddiskVolume1"
    assert (event.get("by_bytes"), event.get("size")) == (free, C_END)
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            STORAGE_LOGGER,
            "INFO",
            f'Extending volume "\\\\?\\GLOBALROOT\\Device\\HarddiskVolume1" with {free} bytes',
        )
    ]


def test_extending_twice_finds_nothing_the_second_time() -> None:
    osu = guest()
    osu.extend_volumes()
    osu.extend_volumes()
    assert len(os_events(osu, "extend_volume")) == 1
    assert volume_by_letter(osu.state, "C").size == C_END


@pytest.mark.parametrize(
    ("indexes", "extended"),
    [
        (None, ["C", "E"]),
        ([], ["C", "E"]),
        ([1], ["C"]),
        ([2], ["E"]),
        ([1, 2], ["C", "E"]),
        ([3], []),
    ],
)
def test_vds_extends_only_the_listed_harddisk_volume_numbers(
    indexes: list[int] | None, extended: list[str]
) -> None:
    state = default_windows_state()
    # A CD-ROM first: VDS does not count it, so the data volume is HarddiskVolume2.
    attach_cdrom(state, media.build_image({"a.txt": b"a"}, "iso", "MEDIA"), "D")
    attach_ntfs_disk(state, 8 * GIB, "Data", letter="E", partition_size=GIB)
    osu = guest(state)

    osu.extend_volumes(indexes)

    grown = sorted(
        v.letter or ""
        for v in state.volumes
        if v.disk is not None and not free_space_after(state, v)
    )
    assert grown == extended
    if "E" in extended:
        assert volume_by_letter(state, "E").size == 8 * GIB - MIB
        assert mbr_sectors(state, 1) == (8 * GIB - MIB) // SECTOR


def test_vds_swallows_extent_size_less_than_minimum(caplog: pytest.LogCaptureFixture) -> None:
    state = default_windows_state()
    attach_ntfs_disk(state, GIB, "Data", letter="E", partition_size=GIB - MIB - 64 * SECTOR)
    osu = guest(state)
    with caplog.at_level(logging.DEBUG, STORAGE_LOGGER):
        osu.extend_volumes([2])  # only the data volume, 32 KiB short of its disk's end

    assert volume_by_letter(state, "E").size == GIB - MIB - 64 * SECTOR
    assert os_events(osu, "extend_volume") == []
    messages = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == STORAGE_LOGGER]
    name = "\\\\?\\GLOBALROOT\\Device\\HarddiskVolume2"
    assert messages[0] == ("INFO", f'Extending volume "{name}" with {64 * SECTOR} bytes')
    assert messages[1][0] == "DEBUG"
    assert "extent size less than minimum" in messages[1][1]


def test_a_small_gap_after_a_raw_partition_is_swallowed_before_its_file_system_matters() -> None:
    state = default_windows_state()
    iso = media.build_image({"a.txt": b"a"}, "iso", "config-2")
    image = media.build_disk(iso, "mbr")
    attach_disk(state, image, [PartitionSpec(MIB, len(iso))], ["F"])
    volume = state.volumes[-1]
    assert volume.filesystem is None  # Windows cannot read ISO9660 in a partition: RAW
    assert 0 < free_space_after(state, volume) < MIB  # the image is rounded up to 1 MiB
    osu = guest(state)
    osu.extend_volumes([2])
    assert os_events(osu, "extend_volume") == []


def test_extending_a_fat_volume_is_not_modelled() -> None:
    state = default_windows_state()
    fat_disk(state, 64 * MIB, table="mbr")
    with pytest.raises(NotModelled, match="FAT"):
        guest(state).extend_volumes([2])


# --- extending volumes: WSM (Nano Server) -----------------------------------------------------


def test_wsm_resizes_the_partition_to_its_maximum(caplog: pytest.LogCaptureFixture) -> None:
    state = default_windows_state()
    state.version.nano_server = True
    osu = guest(state)

    with caplog.at_level(logging.INFO, STORAGE_LOGGER):
        osu.extend_volumes(None)

    assert volume_by_letter(state, "C").size == C_END
    (event,) = os_events(osu, "extend_volume")
    assert (event.get("manager"), event.get("volume_index"), event.get("partition")) == (
        "WSM",
        1,
        1,
    )
    assert [r.getMessage() for r in caplog.records if r.name == STORAGE_LOGGER] == [
        f'Extending partition "1" to {C_END} bytes'
    ]


@pytest.mark.parametrize(("indexes", "extended"), [([2], []), ([3], ["E"]), ([1], ["C"])])
def test_wsm_counts_every_volume_in_enumeration_order(
    indexes: list[int], extended: list[str]
) -> None:
    state = default_windows_state()
    state.version.nano_server = True
    attach_cdrom(state, media.build_image({"a.txt": b"a"}, "iso", "MEDIA"), "D")  # volume 2
    attach_ntfs_disk(state, 8 * GIB, "Data", letter="E", partition_size=GIB)  # volume 3
    osu = guest(state)

    osu.extend_volumes(indexes)

    grown = [e.get("volume_index") for e in os_events(osu, "extend_volume")]
    assert grown == [{"C": 1, "E": 3}[letter] for letter in extended]


def test_wsm_sees_no_larger_size_for_a_gap_below_the_minimum() -> None:
    state = default_windows_state()
    state.version.nano_server = True
    attach_ntfs_disk(state, GIB, "Data", letter="E", partition_size=GIB - MIB - 64 * SECTOR)
    osu = guest(state)
    osu.extend_volumes([2])
    assert os_events(osu, "extend_volume") == []
