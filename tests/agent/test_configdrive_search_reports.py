"""What the config-drive search reports: every step's trace event, log line and error text.

The trace's ``config_drive_search`` events and the agent's log lines are how a user learns
why a drive was or was not used, so they are pinned whole: the label searched for, the
(type, location) pair, the result, and for a rejected candidate its device and the typed
error naming the device and the problem. The tool-path rules (``bsdtar_path``,
``mtools_path``), the raw-disk size threshold, the upstream size quirk of raw ISOs, the
exact-case label rule of raw FAT disks and the name of the temporary copy are pinned here
as well.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from guestsim.agent.config import config_from_options
from guestsim.agent.configdrive import errors
from guestsim.agent.configdrive.finder import (
    MAX_ISO_COPY_BYTES,
    ConfigDriveFinder,
    make_temp_folder,
    random_name,
)
from guestsim.agent.configdrive.partitions import read_partitions
from guestsim.agent.plugins.base import AgentContext
from guestsim.simulator import media
from guestsim.simulator.machine import Machine, RunResult
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.state import AGENT_BIN_DIR, WindowsState
from guestsim.simulator.windows.storage import PartitionSpec, attach_cdrom, attach_disk
from tests.agent.test_configdrive_readers import fat_find, fat_get, fat_layout, fat_set
from tests.agent.test_configdrive_search import (
    BAD_ID,
    CONFIG_DRIVE,
    GOOD_ID,
    Attach,
    instance_id,
    layout,
)
from tests.builders import standalone_osutils

NOCLOUD = "cloudbaseinit.metadata.services.nocloudservice.NoCloudConfigDriveService"
DISK1 = "\\\\.\\PHYSICALDRIVE1"
DISK2 = "\\\\.\\PHYSICALDRIVE2"
META = "openstack\\latest\\meta_data.json"
MIB = 1024 * 1024
FINDER = "agent.configdrive.finder"


def run(
    attach: Attach,
    options: dict[str, object] | None = None,
    groups: dict[str, dict[str, object]] | None = None,
    service: str = CONFIG_DRIVE,
    seed: int = 0,
) -> RunResult:
    state = default_windows_state()
    attach(state)
    conf = config_from_options(
        {
            "DEFAULT": {
                "metadata_services": [service],
                "plugins": ["cloudbaseinit.plugins.common.sethostname.SetHostNamePlugin"],
                "allow_reboot": False,
                "bsdtar_path": f"{AGENT_BIN_DIR}\\bsdtar.exe",
                "mtools_path": AGENT_BIN_DIR,
                **(options or {}),
            },
            **(groups or {}),
        },
        "test",
    )
    return Machine(conf, state=state, seed=seed).run()


def events(result: RunResult) -> list[dict[str, Any]]:
    return [event.fields for event in result.trace.of_kind("config_drive_search")]


def step(
    kind: str, where: str, result: str, label: str = "config-2", **fields: str
) -> dict[str, Any]:
    return {"label": label, "type": kind, "location": where, "result": result, **fields}


def finder_log(result: RunResult) -> list[str]:
    return [line for line in result.log if f" {FINDER}: " in line]


def iso(files: dict[str, bytes], label: str = "config-2") -> bytes:
    return media.build_iso(files, label)


def without_meta_data() -> dict[str, bytes]:
    files = layout(BAD_ID)
    del files["openstack/latest/meta_data.json"]
    return files


NOT_AN_OBJECT = layout(BAD_ID, **{"openstack/latest/meta_data.json": b"[1, 2]"})
ISO_ONLY = {"config_drive": {"types": ["iso"], "vfat": False}}
VFAT_ONLY = {"config_drive": {"types": ["vfat"], "raw_hdd": False, "cdrom": False}}


# --- the events of a search -------------------------------------------------------------------


def test_a_search_that_finds_nothing_reports_every_pair_as_not_found() -> None:
    result = run(lambda state: None)
    assert events(result) == [
        step("iso", "cdrom", "not_found"),
        step("iso", "hdd", "not_found"),
        step("iso", "partition", "not_found"),
        step("vfat", "hdd", "not_found"),
        step("vfat", "partition", "not_found"),
    ]
    # (vfat, cdrom) is a pair of the search that upstream has no probe for.
    assert finder_log(result) == [
        f"boot 1 DEBUG {FINDER}: Config drive type vfat is not searched at cdrom"
    ]
    assert result.trace.of_kind("metadata_service")[-1].get("name") is None


def test_the_search_stops_at_the_first_pair_that_finds_a_drive() -> None:
    result = run(lambda state: attach_disk(state, iso(layout(GOOD_ID))))
    assert events(result) == [step("iso", "cdrom", "not_found"), step("iso", "hdd", "found")]
    assert finder_log(result) == []
    assert instance_id(result) == GOOD_ID


def test_a_drive_without_the_metadata_file_is_reported_with_its_device_then_skipped() -> None:
    def attach(state: WindowsState) -> None:
        attach_disk(state, iso(without_meta_data()))
        attach_disk(state, iso(layout(GOOD_ID)))

    result = run(attach)
    error = f"{DISK1}: no {META} on the drive"
    assert events(result) == [
        step("iso", "cdrom", "not_found"),
        step("iso", "hdd", "error", device=DISK1, error=f"InvalidMetadata: {error}"),
        step("iso", "hdd", "found"),
    ]
    assert finder_log(result) == [
        f"boot 1 WARNING {FINDER}: Config drive candidate {DISK1} is unusable: {error}"
    ]
    assert instance_id(result) == GOOD_ID


def test_metadata_that_is_not_an_object_is_reported_with_the_file_and_the_problem() -> None:
    def attach(state: WindowsState) -> None:
        attach_disk(state, iso(NOT_AN_OBJECT))
        attach_disk(state, iso(layout(GOOD_ID)))

    result = run(attach)
    error = f"{DISK1}: {META}: not a JSON object"
    assert step("iso", "hdd", "error", device=DISK1, error=f"InvalidMetadata: {error}") in (
        events(result)
    )
    assert instance_id(result) == GOOD_ID


def test_a_cdrom_with_another_label_is_not_used_even_with_the_metadata_on_it() -> None:
    result = run(lambda state: attach_cdrom(state, iso(layout(GOOD_ID), "seed")), groups=ISO_ONLY)
    assert events(result) == [
        step("iso", "cdrom", "not_found"),
        step("iso", "hdd", "not_found"),
        step("iso", "partition", "not_found"),
    ]
    assert result.trace.of_kind("metadata_service")[-1].get("name") is None


# --- mounted volumes --------------------------------------------------------------------------


def test_a_fat_partition_with_bad_metadata_is_reported_by_its_volume_path() -> None:
    fs = media.build_vfat(NOT_AN_OBJECT, "CONFIG-2")

    def attach(state: WindowsState) -> None:
        attach_disk(state, media.build_disk(fs, "mbr"), [PartitionSpec(MIB, len(fs))])

    result = run(attach)
    volume = result.state.volumes[-1].path
    assert volume.startswith("\\\\?\\Volume{")
    error = f"InvalidMetadata: {volume}: {META}: not a JSON object"
    assert events(result)[-2:] == [
        step("vfat", "partition", "error", device=volume, error=error),
        step("vfat", "partition", "not_found"),
    ]


# --- raw disks: ISO ---------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "examined"), [(0x8082, False), (0x8083, True)])
def test_only_disks_larger_than_0x8082_bytes_are_examined_for_an_iso(
    size: int, examined: bool
) -> None:
    image = bytearray(size)
    image[0x8001:0x8006] = b"CD001"
    result = run(lambda state: attach_disk(state, bytes(image)), groups=ISO_ONLY)
    hdd = [event for event in events(result) if event["location"] == "hdd"]
    rejected = [event.get("device") for event in hdd if event["result"] == "error"]
    assert rejected == ([DISK1] if examined else [])
    assert hdd[-1] == step("iso", "hdd", "not_found")


def test_a_raw_iso_of_65536_blocks_or_more_is_cut_to_the_low_half_of_its_size() -> None:
    # Upstream copies LE16(0x8050) x LE16(0x8080) bytes before extracting: only the low
    # 16 bits of the block count, so a 65 555-block volume is copied as 19 blocks.
    image = bytearray(iso(layout(GOOD_ID)))
    blocks = 65536 + 19
    image[0x8050:0x8058] = blocks.to_bytes(4, "little") + blocks.to_bytes(4, "big")
    result = run(
        lambda state: attach_disk(state, bytes(image), size=blocks * 2048), groups=ISO_ONLY
    )
    error = f"{DISK1}: the volume spans {blocks * 2048} bytes but the device is shorter"
    assert events(result)[1:3] == [
        step("iso", "hdd", "error", device=DISK1, error=f"TruncatedMedia: {error}"),
        step("iso", "hdd", "not_found"),
    ]
    assert instance_id(result) is None


def test_an_iso_in_a_partition_is_reported_by_disk_and_partition_number() -> None:
    def attach(state: WindowsState) -> None:
        attach_disk(state, media.build_disk(iso(without_meta_data()), "gpt"))
        attach_disk(state, media.build_disk(iso(layout(GOOD_ID)), "gpt"))

    result = run(attach)
    error = f"InvalidMetadata: {DISK1} partition 1: no {META} on the drive"
    assert events(result) == [
        step("iso", "cdrom", "not_found"),
        step("iso", "hdd", "not_found"),
        step("iso", "partition", "error", device=DISK1, error=error),
        step("iso", "partition", "found"),
    ]
    assert instance_id(result) == GOOD_ID


def test_a_partition_running_past_the_end_of_its_disk_is_reported() -> None:
    disk = bytearray(media.build_disk(iso(layout(BAD_ID)), "mbr"))
    sectors = len(disk) // 512  # the partition starts at 1 MiB, so this is too long
    disk[446 + 12 : 446 + 16] = sectors.to_bytes(4, "little")
    result = run(lambda state: attach_disk(state, bytes(disk)), groups=ISO_ONLY)
    problem = (
        f"MBR partition 1 ({sectors * 512} bytes at {MIB}) ends past the {len(disk)}-byte disk"
    )
    assert events(result)[2:4] == [
        step("iso", "partition", "error", device=DISK1, error=f"CorruptMedia: {DISK1}: {problem}"),
        step("iso", "partition", "not_found"),
    ]


# --- raw disks: FAT ---------------------------------------------------------------------------


def relabelled(image: bytes, label: bytes) -> bytes:
    """A FAT image with its label (boot sector and root entry) rewritten as stored bytes."""
    return image.replace(b"CONFIG-2   ", label.ljust(11))


@pytest.mark.parametrize(
    ("label", "found"), [(b"CONFIG-2", True), (b"config-2", True), (b"Config-2", False)]
)
def test_a_raw_fat_disk_needs_its_label_in_upper_or_lower_case(label: bytes, found: bool) -> None:
    image = relabelled(media.build_vfat(layout(GOOD_ID), "CONFIG-2"), label)
    result = run(lambda state: attach_disk(state, image), groups=VFAT_ONLY)
    assert step("vfat", "hdd", "found" if found else "not_found") in events(result)
    assert instance_id(result) == (GOOD_ID if found else None)


def test_a_raw_fat_disk_without_the_metadata_file_is_reported_with_its_device() -> None:
    result = run(
        lambda state: attach_disk(state, media.build_vfat(without_meta_data())), groups=VFAT_ONLY
    )
    error = f"InvalidMetadata: {DISK1}: no {META} on the drive"
    assert events(result) == [
        step("vfat", "hdd", "error", device=DISK1, error=error),
        step("vfat", "hdd", "not_found"),
        step("vfat", "partition", "not_found"),
    ]


def test_a_corrupt_raw_fat_disk_is_reported_with_its_device() -> None:
    small = {META.replace("\\", "/"): b'{"uuid": "x"}', "openstack/latest/user_data": b"x" * 5000}
    image = bytearray(media.build_vfat(small, "CONFIG-2"))
    geometry = fat_layout(image)
    entry = fat_find(image, "openstack/latest/user_data")
    fat_set(image, geometry, fat_get(image, geometry, entry.cluster), entry.cluster)
    result = run(lambda state: attach_disk(state, bytes(image)), groups=VFAT_ONLY)
    (error,) = [event for event in events(result) if event["result"] == "error"]
    assert error["device"] == DISK1
    assert error["error"].startswith(f"CorruptMedia: {DISK1}: ")


# --- where the extraction tools must be -----------------------------------------------------


def tool_errors(result: RunResult) -> list[dict[str, Any]]:
    return [event for event in events(result) if event["result"] == "error"]


@pytest.mark.parametrize(
    ("mtools_path", "missing"),
    [
        ("C:\\Windows", "C:\\Windows\\mlabel.exe"),
        ("C:\\Tools\\", "C:\\Tools\\mlabel.exe"),
        ("mtools", "C:\\Windows\\system32\\mtools\\mlabel.exe"),
    ],
    ids=["folder-without-mlabel", "trailing-backslash", "relative"],
)
def test_the_raw_fat_search_needs_mlabel_in_the_mtools_folder(
    mtools_path: str, missing: str
) -> None:
    image = media.build_vfat(layout(GOOD_ID), "CONFIG-2")
    result = run(
        lambda state: attach_disk(state, image), {"mtools_path": mtools_path}, groups=VFAT_ONLY
    )
    problem = f"{missing} does not exist (option mtools_path)"
    # The whole (vfat, hdd) search fails before any disk is read: no device in the event.
    assert tool_errors(result) == [step("vfat", "hdd", "error", error=f"MediaError: {problem}")]
    assert finder_log(result) == [
        f"boot 1 DEBUG {FINDER}: Config drive type vfat is not searched at cdrom",
        f"boot 1 WARNING {FINDER}: Config drive search vfat/hdd failed: {problem}",
    ]


def test_an_unset_mtools_path_fails_the_raw_fat_search() -> None:
    image = media.build_vfat(layout(GOOD_ID), "CONFIG-2")
    result = run(lambda state: attach_disk(state, image), {"mtools_path": None}, groups=VFAT_ONLY)
    assert tool_errors(result) == [
        step("vfat", "hdd", "error", error="MediaError: mtools_path is not set")
    ]


def test_an_mtools_path_with_a_trailing_backslash_finds_the_tools() -> None:
    image = media.build_vfat(layout(GOOD_ID), "CONFIG-2")
    result = run(
        lambda state: attach_disk(state, image),
        {"mtools_path": f"{AGENT_BIN_DIR}\\"},
        groups=VFAT_ONLY,
    )
    assert step("vfat", "hdd", "found") in events(result)


@pytest.mark.parametrize(
    ("bsdtar_path", "checked"),
    [
        ("bsdtar.exe", "C:\\Windows\\system32\\bsdtar.exe"),
        ("x", "C:\\Windows\\system32\\x"),
        ("E:", "E:"),
        ("E:\\bin\\bsdtar.exe", "E:\\bin\\bsdtar.exe"),
    ],
    ids=["relative", "one-character", "drive-only", "absolute"],
)
def test_a_relative_bsdtar_path_is_resolved_in_the_service_working_folder(
    bsdtar_path: str, checked: str
) -> None:
    result = run(
        lambda state: attach_disk(state, iso(layout(GOOD_ID))),
        {"bsdtar_path": bsdtar_path},
        groups=ISO_ONLY,
    )
    problem = f"{checked} does not exist (option bsdtar_path)"
    assert tool_errors(result) == [
        step("iso", "hdd", "error", device=DISK1, error=f"MediaError: {problem}")
    ]


def test_a_bsdtar_path_on_a_network_share_is_not_modelled() -> None:
    # The simulated Windows has no network shares: asking whether a tool exists on one is a
    # gap of the simulation, not a missing tool.
    result = run(
        lambda state: attach_disk(state, iso(layout(GOOD_ID))),
        {"bsdtar_path": "\\\\fileserver\\tools\\bsdtar.exe"},
        groups=ISO_ONLY,
    )
    (boot,) = result.boots
    assert boot.outcome == "not_modelled"
    assert "a UNC path (network share)" in str(boot.error)
    assert "fileserver" in str(boot.error)


def test_a_relative_bsdtar_path_finds_the_tool_in_system32() -> None:
    def attach(state: WindowsState) -> None:
        state.files.write("C:\\Windows\\System32\\bsdtar.exe", b"MZ")
        attach_disk(state, iso(layout(GOOD_ID)))

    result = run(attach, {"bsdtar_path": "bsdtar.exe"}, groups=ISO_ONLY)
    assert step("iso", "hdd", "found") in events(result)


# --- NoCloud: another label, a configurable metadata file ------------------------------------


def copied(result: RunResult) -> list[str]:
    """The files written into the drive's temporary copy, relative to its folder (the raw
    image's own copy, a file directly in the temporary folder, left out)."""
    paths = [
        str(event.get("path")).removeprefix("C:\\Windows\\Temp\\")
        for event in result.trace.of_kind("os")
        if event.get("call") == "write_file"
    ]
    return [path.split("\\", 1)[1] for path in paths if not path.startswith("C:") and "\\" in path]


def nocloud_seed(meta_data: bytes | None) -> dict[str, bytes]:
    files = {"user-data": b"#ps1\r\nhi", "scripts/setup.ps1": b"Write-Host hi"}
    if meta_data is not None:
        files["seed/meta-data"] = meta_data
    return files


@pytest.mark.parametrize("written", ["seed/meta-data", "seed\\meta-data"])
def test_a_nocloud_metadata_file_in_a_folder_is_found_with_either_separator(written: str) -> None:
    seed = nocloud_seed(b"instance-id: i-nocloud-1\nlocal-hostname: seeded\n")
    result = run(
        lambda state: attach_disk(state, iso(seed, "cidata")),
        groups={**ISO_ONLY, "nocloud": {"metadata_file": written}},
        service=NOCLOUD,
    )
    assert events(result) == [
        step("iso", "cdrom", "not_found", label="cidata"),
        step("iso", "hdd", "found", label="cidata"),
    ]
    assert instance_id(result) == "i-nocloud-1"
    # Every file was copied, those in folders included.
    assert copied(result) == ["scripts\\setup.ps1", "seed\\meta-data", "user-data"]


def test_a_nocloud_drive_without_its_metadata_file_names_the_file_in_windows_form() -> None:
    result = run(
        lambda state: attach_disk(state, iso(nocloud_seed(None), "cidata")),
        groups={**ISO_ONLY, "nocloud": {"metadata_file": "seed/meta-data"}},
        service=NOCLOUD,
    )
    error = f"InvalidMetadata: {DISK1}: no seed\\meta-data on the drive"
    assert step("iso", "hdd", "error", label="cidata", device=DISK1, error=error) in events(result)


# --- the temporary copy ---------------------------------------------------------------------

TEMP = "C:\\Windows\\Temp\\"
TEMP_FOLDER = re.compile(r"tmp[a-z0-9_]{8}")


def os_calls(result: RunResult) -> list[tuple[str, str]]:
    return [
        (str(event.get("call")), str(event.get("path")))
        for event in result.trace.of_kind("os")
        if str(event.get("path", "")).startswith(TEMP)
    ]


def temp_folders(result: RunResult) -> list[str]:
    """The folders made directly in the temporary folder, in order."""
    return [
        path for call, path in os_calls(result) if call == "make_dirs" and path.count("\\") == 3
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_drive_is_copied_into_a_tmp_folder_named_as_python_names_temporary_folders(
    seed: int,
) -> None:
    result = run(lambda state: attach_disk(state, iso(layout(GOOD_ID))), seed=seed)
    (folder,) = set(temp_folders(result))
    name = folder.removeprefix(TEMP)
    # "tmp" and eight characters of tempfile's alphabet.
    assert TEMP_FOLDER.fullmatch(name), name


def test_a_raw_iso_is_copied_to_a_uuid4_named_image_which_is_removed_after_extraction() -> None:
    result = run(lambda state: attach_disk(state, iso(layout(GOOD_ID))), groups=ISO_ONLY)
    calls = os_calls(result)
    images = [path for call, path in calls if path.endswith(".iso")]
    image = images[0]
    parsed = uuid.UUID(image.removeprefix(TEMP).removesuffix(".iso"))
    assert f"{TEMP}{parsed}.iso" == image
    assert parsed.version == 4
    assert parsed.variant == uuid.RFC_4122
    (folder,) = set(temp_folders(result))
    written = [call for call in calls if call[0] == "write_file"]
    # The image is written, its files extracted into the folder, then the image removed;
    # the folder itself goes at cleanup, last.
    assert written[0] == ("write_file", image)
    assert all(path.startswith(folder + "\\") for _, path in written[1:])
    assert calls[0] == ("make_dirs", folder)
    assert calls[-2:] == [("remove_path", image), ("remove_path", folder)]
    assert images == [image, image]


def test_a_drive_on_a_cdrom_replaces_the_empty_folder_with_a_copy_of_its_tree() -> None:
    files = {
        "b/z.txt": b"z",
        "B2/y.txt": b"y",
        "a.txt": b"a",
        "openstack/latest/meta_data.json": (b'{"uuid": "%s"}' % GOOD_ID.encode()),
    }
    result = run(lambda state: attach_cdrom(state, iso(files)))
    assert instance_id(result) == GOOD_ID
    (folder,) = set(temp_folders(result))
    relative = [(call, path.removeprefix(folder)) for call, path in os_calls(result)]
    # Made empty when the service loads, removed and made again by the copy: each folder
    # before what it holds, entries in case-insensitive order; removed at cleanup.
    assert relative == [
        ("make_dirs", ""),
        ("remove_path", ""),
        ("make_dirs", ""),
        ("write_file", "\\a.txt"),
        ("make_dirs", "\\b"),
        ("write_file", "\\b\\z.txt"),
        ("make_dirs", "\\B2"),
        ("write_file", "\\B2\\y.txt"),
        ("make_dirs", "\\openstack"),
        ("make_dirs", "\\openstack\\latest"),
        ("write_file", "\\openstack\\latest\\meta_data.json"),
        ("remove_path", ""),
    ]


def test_when_no_drive_is_found_the_empty_folder_stays() -> None:
    result = run(lambda state: None)
    (folder,) = temp_folders(result)
    assert os_calls(result) == [("make_dirs", folder)]
    assert result.state.files.list_dir(TEMP.rstrip("\\")) == [folder.removeprefix(TEMP)]


def test_a_labelled_cdrom_without_the_metadata_file_is_passed_over_quietly() -> None:
    def attach(state: WindowsState) -> None:
        attach_cdrom(state, iso(without_meta_data()))
        attach_disk(state, iso(layout(GOOD_ID)))

    result = run(attach)
    assert events(result) == [step("iso", "cdrom", "not_found"), step("iso", "hdd", "found")]
    assert instance_id(result) == GOOD_ID


def declared_size(image: bytes) -> int:
    """What upstream copies of a raw ISO: LE16 blocks x LE16 block size."""
    return int.from_bytes(image[0x8050:0x8052], "little") * int.from_bytes(
        image[0x8080:0x8082], "little"
    )


def iso_writes(result: RunResult) -> list[int]:
    return [
        int(event.get("size"))
        for event in result.trace.of_kind("os")
        if event.get("call") == "write_file" and str(event.get("path")).endswith(".iso")
    ]


def test_the_raw_iso_copy_holds_the_declared_size_when_the_disk_is_longer() -> None:
    # Over a megabyte, so the copy is read in several chunks.
    image = iso(layout(GOOD_ID, **{"openstack/latest/user_data": b"#ps1\r\n" + b"y" * 1_500_000}))
    assert declared_size(image) == len(image) > 1024 * 1024
    result = run(
        lambda state: attach_disk(state, image, size=len(image) + 3 * MIB), groups=ISO_ONLY
    )
    assert iso_writes(result) == [len(image)]
    assert instance_id(result) == GOOD_ID


def test_the_raw_iso_copy_stops_where_a_truncated_disk_ends() -> None:
    image = iso(layout(BAD_ID))[:50_000]
    result = run(lambda state: attach_disk(state, image), groups=ISO_ONLY)
    assert declared_size(image) > 50_000
    assert iso_writes(result) == [50_000]
    assert [event["error"].split(":")[0] for event in events(result) if "error" in event] == [
        "TruncatedMedia"
    ]


def test_a_raw_iso_in_a_partition_is_copied_no_further_than_the_partition() -> None:
    image = bytearray(iso(layout(GOOD_ID)))
    disk = media.build_disk(bytes(image), "gpt")
    (partition,) = read_partitions(
        lambda offset, length: disk[offset : offset + length], "disk", len(disk)
    )
    # The volume claims to run past its partition and past the end of the disk.
    blocks = (len(disk) - partition.offset) // 2048 + 100
    image[0x8050:0x8058] = blocks.to_bytes(4, "little") + blocks.to_bytes(4, "big")
    disk = media.build_disk(bytes(image), "gpt")
    result = run(lambda state: attach_disk(state, disk), groups=ISO_ONLY)
    assert iso_writes(result) == [partition.size]
    error = f"{DISK1} partition 1: the volume spans {blocks * 2048} bytes but the device is shorter"
    assert step(
        "iso", "partition", "error", device=DISK1, error=f"TruncatedMedia: {error}"
    ) in events(result)
    warning = f"Config drive candidate {DISK1} partition 1 is unusable: {error}"
    assert f"boot 1 WARNING {FINDER}: {warning}" in finder_log(result)


def test_a_raw_iso_too_large_to_copy_is_refused_before_anything_is_written() -> None:
    image = bytearray(iso(layout(GOOD_ID)))
    block_size = 8192
    blocks = MAX_ISO_COPY_BYTES // block_size + 1
    image[0x8050:0x8052] = blocks.to_bytes(2, "little")
    image[0x8080:0x8082] = block_size.to_bytes(2, "little")
    result = run(
        lambda state: attach_disk(state, bytes(image), size=blocks * block_size), groups=ISO_ONLY
    )
    problem = f"the ISO image to copy is over {MAX_ISO_COPY_BYTES} bytes"
    assert step(
        "iso", "hdd", "error", device=DISK1, error=f"LimitExceeded: {DISK1}: {problem}"
    ) in events(result)
    assert iso_writes(result) == []


class Bytes:
    """A random source that hands out fixed bytes, in order."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def random_bytes(self, count: int) -> bytes:
        taken, self.data = self.data[:count], self.data[count:]
        return taken


def test_random_names_draw_each_character_uniformly_from_tempfiles_alphabet() -> None:
    # 37 characters: bytes 0..221 (six rounds of the alphabet) map to one each; 222..255
    # would favour the first 34 characters and are drawn again.
    assert random_name(Bytes(bytes([221, 222, 255, 0, 37])), 3) == "_aa"
    assert random_name(Bytes(bytes([222, 1, 249, 2])), 2) == "bc"
    assert random_name(Bytes(bytes([26, 35, 36, 25])), 4) == "09_z"


def test_a_temporary_folder_never_reuses_an_existing_name() -> None:
    (first,) = {make_temp_folder(standalone_osutils([], seed=7)) for _ in range(2)}
    osutils = standalone_osutils([], seed=7)
    osutils.make_dirs(first)
    second = make_temp_folder(osutils)
    assert second != first
    assert TEMP_FOLDER.fullmatch(second.removeprefix(TEMP))
    assert osutils.is_dir(first) and osutils.is_dir(second)


def test_a_drive_is_never_copied_over_files_already_in_the_folder() -> None:
    state = default_windows_state()
    attach_cdrom(state, iso(layout(GOOD_ID)))
    osutils = standalone_osutils([], state)
    conf = config_from_options({}, "test")
    finder = ConfigDriveFinder(AgentContext(conf=conf, osutils=osutils), "config-2", META)
    target = make_temp_folder(osutils)
    osutils.write_file(f"{target}\\left-over", b"x")
    with pytest.raises(errors.MediaError) as raised:
        finder._replace_with_copy("D:\\", target)
    assert str(raised.value) == f"{target}: the folder to copy the drive into is not empty"
    assert osutils.list_dir(target) == ["left-over"]
