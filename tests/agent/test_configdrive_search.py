"""Finding config drives on a simulated Windows: order, formats, and damaged media.

Images are built with guestsim's own builders (``guestsim.simulator.media``) and attached to the
fake Windows; hostile variants are crafted from them with the helpers of the readers'
tests. Every damaged candidate must show up in the trace as a typed error, after which
the agent goes on to the next candidate.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guestsim.agent.config import config_from_options
from guestsim.agent.configdrive import errors
from guestsim.agent.configdrive.fat import read_fat_tree
from guestsim.agent.configdrive.finder import ConfigDriveSearchError, search_order
from guestsim.agent.configdrive.iso9660 import read_iso_tree
from guestsim.agent.configdrive.partitions import read_partitions
from guestsim.agent.plugins.base import AgentContext
from guestsim.simulator import media
from guestsim.simulator.machine import Machine, RunResult
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.state import AGENT_BIN_DIR, WindowsState
from guestsim.simulator.windows.storage import PartitionSpec, attach_cdrom, attach_disk
from tests.agent.test_configdrive_readers import (
    fat_find,
    fat_get,
    fat_layout,
    fat_set,
    iso_find,
    iso_root,
    set_extent,
)
from tests.builders import standalone_osutils

CONFIG_DRIVE = "cloudbaseinit.metadata.services.configdrive.ConfigDriveService"
GOOD_ID = "9a8b7c6d-good-drive"
BAD_ID = "0f0f0f0f-bad-drive"


def layout(instance_id: str, **overrides: bytes) -> dict[str, bytes]:
    files = media.openstack_layout(
        meta_data={"uuid": instance_id, "hostname": f"host-{instance_id[:4]}"},
        user_data=b"#ps1\r\n" + b"x" * 5000,
    )
    files.update(overrides)
    return files


Attach = Callable[[WindowsState], object]


def run(attach: Attach, options: dict[str, object] | None = None) -> RunResult:
    state = default_windows_state()
    attach(state)
    conf = config_from_options(
        {
            "DEFAULT": {
                "metadata_services": [CONFIG_DRIVE],
                "plugins": ["cloudbaseinit.plugins.common.sethostname.SetHostNamePlugin"],
                "allow_reboot": False,
                "bsdtar_path": f"{AGENT_BIN_DIR}\\bsdtar.exe",
                "mtools_path": AGENT_BIN_DIR,
                **(options or {}),
            }
        },
        "test",
    )
    return Machine(conf, state=state).run()


def searches(result: RunResult) -> list[tuple[str, str, str, str | None]]:
    return [
        (str(e.get("type")), str(e.get("location")), str(e.get("result")), e.get("error"))
        for e in result.trace.of_kind("config_drive_search")
    ]


def instance_id(result: RunResult) -> object:
    return result.trace.of_kind("metadata_service")[-1].get("instance_id")


# --- search order --------------------------------------------------------------------------


def order(**config_drive: object) -> list[tuple[str, str]]:
    conf = config_from_options({"config_drive": config_drive}, "test")
    return search_order(AgentContext(conf=conf, osutils=standalone_osutils([])))


def test_default_order_is_the_published_packages() -> None:
    assert order() == [
        ("iso", "cdrom"),
        ("iso", "hdd"),
        ("iso", "partition"),
        ("vfat", "cdrom"),
        ("vfat", "hdd"),
        ("vfat", "partition"),
    ]


def test_order_ignores_how_the_user_wrote_the_lists() -> None:
    written = order(types=["vfat", "iso"], locations=["partition", "hdd", "cdrom"])
    assert written == order(types=["iso", "vfat"], locations=["cdrom", "hdd", "partition"])


def test_restricting_the_search_needs_the_deprecated_switches_off_too() -> None:
    # raw_hdd, cdrom and vfat default to True and add (iso, hdd), (iso, cdrom), (vfat, hdd).
    assert order(types=["iso"], locations=["cdrom"]) == [
        ("iso", "cdrom"),
        ("iso", "hdd"),
        ("vfat", "cdrom"),
        ("vfat", "hdd"),
    ]
    assert order(types=["iso"], locations=["cdrom"], raw_hdd=False, vfat=False) == [
        ("iso", "cdrom")
    ]


def test_an_unknown_location_is_an_error() -> None:
    with pytest.raises(ConfigDriveSearchError, match="floppy"):
        order(locations=["floppy"])


# --- every format, built by guestsim, read by the agent -----------------------------------

# Windows device names (nul, con, com1 ...) are refused by the builders, rightly; not here.
NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12).filter(
    lambda name: not re.fullmatch(r"(con|prn|aux|nul|com\d|lpt\d)", name)
)
TREES = st.dictionaries(
    st.lists(NAMES, min_size=1, max_size=3).map(lambda parts: "/".join(parts)),
    st.binary(max_size=3000),
    min_size=1,
    max_size=6,
).filter(
    # A path cannot be both a file and a folder; names must differ beyond case.
    lambda tree: (
        not any(
            str(PurePosixPath(a)).lower().startswith(str(PurePosixPath(b)).lower() + "/")
            or (a != b and a.lower() == b.lower())
            for a in tree
            for b in tree
        )
    )
)


def reader(data: bytes, base: int = 0) -> Callable[[int, int], bytes]:
    return lambda offset, length: data[base + offset : base + offset + length]


@pytest.mark.parametrize("fmt", ["iso", "vfat", "disk-mbr", "disk-gpt"])
@given(tree=TREES)
def test_round_trip_every_format(fmt: str, tree: dict[str, bytes]) -> None:
    filesystem = "vfat" if fmt.startswith("disk-") else fmt
    image = media.build_image(tree, filesystem, "config-2" if filesystem == "iso" else "CONFIG-2")
    if fmt.startswith("disk-"):
        image = media.build_disk(image, fmt.removeprefix("disk-"))
        (partition,) = read_partitions(reader(image), "disk", len(image))
        read = reader(image, partition.offset)
    else:
        read = reader(image)
    if filesystem == "iso":
        assert read_iso_tree(read, "image") == tree
    else:
        assert read_fat_tree(read, "image") == tree


@pytest.mark.parametrize(
    ("attach", "found"),
    [
        (lambda s: attach_cdrom(s, media.build_iso(layout(GOOD_ID), "config-2")), "iso/cdrom"),
        (lambda s: attach_disk(s, media.build_iso(layout(GOOD_ID), "config-2")), "iso/hdd"),
        (
            lambda s: attach_disk(
                s, media.build_disk(media.build_iso(layout(GOOD_ID), "config-2"), "gpt")
            ),
            "iso/partition",
        ),
        (lambda s: attach_disk(s, media.build_vfat(layout(GOOD_ID), "CONFIG-2")), "vfat/hdd"),
        (
            lambda s: attach_disk(
                s,
                media.build_disk(fs := media.build_vfat(layout(GOOD_ID), "CONFIG-2"), "mbr"),
                [PartitionSpec(1024 * 1024, len(fs))],
            ),
            "vfat/partition",
        ),
    ],
    ids=["iso-cdrom", "iso-hdd", "iso-partition", "vfat-hdd", "vfat-partition"],
)
def test_each_type_and_location_is_found_and_cleaned_up(attach: Attach, found: str) -> None:
    result = run(attach)
    assert instance_id(result) == GOOD_ID
    kind, where = found.split("/")
    assert (kind, where, "found", None) in searches(result)
    # cleanup() removed the copy from the guest's temp folder.
    assert result.state.files.list_dir("C:\\Windows\\Temp") == []


# --- damaged media: a typed error, then the next candidate --------------------------------


def good_iso_disk(state: WindowsState) -> None:
    attach_disk(state, media.build_iso(layout(GOOD_ID), "config-2"))


def bad_iso(mutate: Callable[[bytearray], None], files: dict[str, bytes] | None = None) -> bytes:
    image = bytearray(media.build_iso(files or layout(BAD_ID), "config-2"))
    mutate(image)
    return bytes(image)


def _loop(image: bytearray) -> None:
    set_extent(image, iso_find(image, "openstack/latest"), block=iso_root(image).block)


def _absurd_extent(image: bytearray) -> None:
    set_extent(image, iso_find(image, "openstack/latest/user_data"), size=0xFFFFFFF0)


def _escape(image: bytearray) -> None:
    name = "qq".encode("utf-16-be")
    image[:] = image.replace(name, "..".encode("utf-16-be"))


ISO_CASES: list[tuple[str, bytes, type[errors.MediaError]]] = [
    ("truncated", media.build_iso(layout(BAD_ID), "config-2")[:50_000], errors.TruncatedMedia),
    ("directory-loop", bad_iso(_loop), errors.CorruptMedia),
    ("absurd-extent", bad_iso(_absurd_extent), errors.CorruptMedia),
    ("path-escape", bad_iso(_escape, {**layout(BAD_ID), "openstack/qq": b"x"}), errors.UnsafePath),
    (
        "no-meta-data",
        media.build_iso({"openstack/latest/user_data": b"hi"}, "config-2"),
        errors.InvalidMetadata,
    ),
    (
        "invalid-json",
        media.build_iso(
            layout(BAD_ID, **{"openstack/latest/meta_data.json": b"{not json"}), "config-2"
        ),
        errors.InvalidMetadata,
    ),
]


@pytest.mark.parametrize(
    ("image", "error"), [case[1:] for case in ISO_CASES], ids=[case[0] for case in ISO_CASES]
)
def test_a_damaged_iso_disk_is_reported_and_the_next_disk_is_used(
    image: bytes, error: type[errors.MediaError]
) -> None:
    def attach(state: WindowsState) -> None:
        attach_disk(state, image)
        good_iso_disk(state)

    result = run(attach)
    steps = searches(result)
    failed = [step for step in steps if step[2] == "error"]
    assert len(failed) == 1
    assert failed[0][:2] == ("iso", "hdd")
    assert str(failed[0][3]).startswith(f"{error.__name__}: \\\\.\\PHYSICALDRIVE1")
    assert ("iso", "hdd", "found", None) in steps
    assert instance_id(result) == GOOD_ID
    assert result.boots[-1].outcome == "stopped"


def _fat_loop(image: bytearray) -> None:
    layout_ = fat_layout(image)
    entry = fat_find(image, "openstack/latest/user_data")
    fat_set(image, layout_, fat_get(image, layout_, entry.cluster), entry.cluster)


def test_a_looping_fat_chain_is_reported_and_the_next_disk_is_used() -> None:
    small = {
        "openstack/latest/meta_data.json": b'{"uuid": "%s"}' % BAD_ID.encode(),
        "openstack/latest/user_data": b"x" * 5000,
    }
    bad = bytearray(media.build_vfat(small, "CONFIG-2"))
    _fat_loop(bad)

    def attach(state: WindowsState) -> None:
        attach_disk(state, bytes(bad))
        attach_disk(state, media.build_vfat(layout(GOOD_ID), "CONFIG-2"))

    result = run(attach)
    failed = [step for step in searches(result) if step[2] == "error"]
    assert [(step[0], step[1]) for step in failed] == [("vfat", "hdd")]
    assert str(failed[0][3]).startswith("CorruptMedia")
    assert instance_id(result) == GOOD_ID


def test_a_wrong_label_is_not_a_candidate() -> None:
    def attach(state: WindowsState) -> None:
        attach_disk(state, media.build_vfat(layout(BAD_ID), "CONFIG-3"))
        attach_disk(state, media.build_vfat(layout(GOOD_ID), "config-2"))

    result = run(attach)
    assert instance_id(result) == GOOD_ID
    assert not [step for step in searches(result) if step[2] == "error"]


def test_a_cdrom_with_invalid_json_is_skipped_for_the_next_cdrom() -> None:
    broken = layout(BAD_ID, **{"openstack/latest/meta_data.json": b"[1, 2"})

    def attach(state: WindowsState) -> None:
        attach_cdrom(state, media.build_iso(broken, "config-2"))
        attach_cdrom(state, media.build_iso(layout(GOOD_ID), "config-2"))

    result = run(attach)
    failed = [step for step in searches(result) if step[2] == "error"]
    assert [(s[0], s[1]) for s in failed] == [("iso", "cdrom")]
    assert str(failed[0][3]).startswith("InvalidMetadata: D:\\")
    assert instance_id(result) == GOOD_ID


def test_without_the_tools_the_raw_searches_fail_as_upstreams_do() -> None:
    def attach(state: WindowsState) -> None:
        good_iso_disk(state)

    result = run(attach, {"bsdtar_path": "bsdtar.exe", "mtools_path": None})
    failed = [step for step in searches(result) if step[2] == "error"]
    assert ("vfat", "hdd") in [(s[0], s[1]) for s in failed]
    assert any("bsdtar.exe does not exist" in str(s[3]) for s in failed)
    assert result.trace.of_kind("metadata_service")[-1].get("name") is None


def test_damage_never_reaches_the_trace_as_a_host_detail() -> None:
    image = ISO_CASES[0][1]

    def attach(state: WindowsState) -> None:
        attach_disk(state, image)

    trace = run(attach).trace.to_jsonl()
    assert "Traceback" not in trace and "/tmp" not in trace
