"""Config-drive images: independent tools must read what guestsim.simulator.media builds.

isoinfo (genisoimage), bsdtar (libarchive-tools), 7z (p7zip-full), mtools, fsck.vfat
(dosfstools) and partx (util-linux) read the images; when one is missing its tests skip,
naming the Debian package. Every image is written under pytest's tmp_path.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import Mapping
from pathlib import Path

import pycdlib
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from pycdlib.pycdlibexception import PyCdlibInvalidInput

from guestsim.simulator import media
from guestsim.simulator.cli import cli, main
from guestsim.simulator.media import iso as iso_module
from guestsim.simulator.media.common import MediaError, parse_tree

REPO = Path(__file__).resolve().parents[2]
SECTOR = 512
MIB = 1024 * 1024

META_DATA = {
    "uuid": "83679162-1378-4288-a2d4-70e13ec132aa",
    "hostname": "win-config-drive",
    "name": "win-config-drive",
    "availability_zone": "nova",
    "launch_index": 0,
    "public_keys": {"mykey": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC guestsim@example"},
    "keys": [{"name": "mykey", "type": "ssh", "data": "ssh-rsa AAAAB3Nza guestsim@example"}],
    "meta": {"admin_username": "Admin"},
}
USER_DATA = b"#ps1_sysnative\nWrite-Host 'hello from the config drive'\n" * 20
NETWORK_DATA = {
    "links": [{"id": "tap0", "type": "phy", "ethernet_mac_address": "fa:16:3e:00:00:01"}],
    "networks": [{"id": "n0", "link": "tap0", "type": "ipv4_dhcp"}],
    "services": [],
}
TREE = media.openstack_layout(
    META_DATA, USER_DATA, NETWORK_DATA, content={"0000": b"auto lo\niface lo inet loopback\n"}
)

TOOLS = {
    "isoinfo": "genisoimage",
    "bsdtar": "libarchive-tools",
    "7z": "p7zip-full",
    "mdir": "mtools",
    "mlabel": "mtools",
    "mcopy": "mtools",
    "fsck.vfat": "dosfstools",
    "partx": "util-linux",
}
# The independent image checkers: the only programs these tests start besides this Python.
pytestmark = pytest.mark.host_tools(*TOOLS)


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        pytest.skip(f"{name} is not installed (Debian package {TOOLS[name]})")
    return found


def run(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "LC_ALL": "C"}
    return subprocess.run([str(a) for a in args], capture_output=True, env=env, check=False)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def all_paths(tree: Mapping[str, bytes]) -> set[str]:
    """Files and the directories they imply."""
    paths = set(tree)
    for path in tree:
        parts = path.split("/")
        paths.update("/".join(parts[:end]) for end in range(1, len(parts)))
    return paths


def extracted(folder: Path) -> dict[str, bytes]:
    return media.tree_from_directory(folder)


def partition_of(disk: bytes) -> bytes:
    """The one partition's bytes, found through the GPT entry or the MBR entry."""
    if disk[SECTOR : SECTOR + 8] == b"EFI PART":
        first, last = struct.unpack_from("<QQ", disk, 2 * SECTOR + 32)
        return disk[first * SECTOR : (last + 1) * SECTOR]
    start, count = struct.unpack_from("<II", disk, 0x1BE + 8)
    return disk[start * SECTOR : (start + count) * SECTOR]


# --- ISO9660 ------------------------------------------------------------------------------------


def test_isoinfo_reports_the_label_joliet_and_rock_ridge(tmp_path: Path) -> None:
    image = write(tmp_path, "config-2.iso", media.build_iso(TREE, "config-2"))
    report = run(tool("isoinfo"), "-d", "-i", image).stdout.decode()
    assert "Volume id: config-2\n" in report
    assert "Joliet with UCS level 3 found" in report
    assert "Rock Ridge signatures version 1 found" in report
    joliet = run(tool("isoinfo"), "-d", "-J", "-i", image).stdout.decode()
    assert "Volume id: config-2\n" in joliet


@pytest.mark.parametrize("option", ["-J", "-R"])
def test_isoinfo_lists_the_same_names_in_joliet_and_rock_ridge(tmp_path: Path, option: str) -> None:
    image = write(tmp_path, "config-2.iso", media.build_iso(TREE))
    listed = run(tool("isoinfo"), option, "-f", "-i", image).stdout.decode().split()
    assert {name.lstrip("/") for name in listed} == all_paths(TREE)


def test_the_iso9660_tree_uses_d_characters_only(tmp_path: Path) -> None:
    image = write(tmp_path, "config-2.iso", media.build_iso(TREE))
    listed = run(tool("isoinfo"), "-f", "-i", image).stdout.decode().split()
    assert len(listed) == len(all_paths(TREE))
    assert "/OPENSTACK/LATEST/META_DATA.JSON;1" in listed
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./;")
    assert all(set(name) <= allowed for name in listed)


def test_bsdtar_lists_and_extracts_exact_bytes(tmp_path: Path) -> None:
    image = write(tmp_path, "config-2.iso", media.build_iso(TREE))
    listed = run(tool("bsdtar"), "-tf", image).stdout.decode().split()
    assert {name.rstrip("/") for name in listed} - {"."} == all_paths(TREE)
    for path, data in TREE.items():
        assert run(tool("bsdtar"), "-xOf", image, path).stdout == data, path
    target = tmp_path / "out"
    target.mkdir()
    # What the agent's upstream does with a raw ISO: bsdtar -xf <iso> -C <target>.
    assert run(tool("bsdtar"), "-xf", image, "-C", target).returncode == 0
    assert extracted(target) == TREE


def test_7z_lists_and_extracts_exact_bytes(tmp_path: Path) -> None:
    image = write(tmp_path, "config-2.iso", media.build_iso(TREE))
    listing = run(tool("7z"), "l", "-slt", image).stdout.decode().splitlines()
    paths = {line[len("Path = ") :] for line in listing if line.startswith("Path = ")}
    assert paths - {str(image)} == all_paths(TREE)
    data = run(tool("7z"), "e", "-so", image, "openstack/latest/user_data").stdout
    assert data == USER_DATA


def test_primary_and_joliet_descriptors_hold_the_label_size_and_fixed_dates() -> None:
    image = media.build_iso(TREE, "config-2")
    pvd, svd = image[0x8000:0x8800], image[0x8800:0x9000]
    assert pvd[:7] == b"\x01CD001\x01"
    assert pvd[40:72] == b"config-2".ljust(32)
    blocks, block_size = struct.unpack_from("<I", pvd, 80)[0], struct.unpack_from("<H", pvd, 128)[0]
    assert (block_size, blocks * block_size) == (2048, len(image))
    assert pvd[813:830] == b"2000010100000000\x00"  # creation date: the fixed epoch, UTC
    assert svd[:7] == b"\x02CD001\x01"
    assert svd[88:91] == b"%/E"
    assert svd[40:72] == "config-2".ljust(16).encode("utf-16-be")
    assert len(image) < 128 * MIB


def test_clashing_mangled_names_stay_distinct() -> None:
    tree = {"a-b": b"1", "a_b": b"2", "A.B.C": b"3", "a_b.c": b"4", "d": b"5", "e/d": b"6"}
    image = media.build_iso(tree)
    names = iso_module.iso9660_names(parse_tree(tree))
    assert len(set(names.values())) == len(names) == len(tree) + 1  # the files and e/
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(image))
    for path, data in tree.items():
        for key, where in (
            ("joliet_path", "/" + path),
            ("iso_path", names[tuple(path.split("/"))]),
        ):
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, **{key: where})
            assert out.getvalue() == data
    iso.close()


@pytest.mark.parametrize("label", ["", "x" * 17, "bad/label", " lead", "naïve"])
def test_bad_iso_labels_are_refused(label: str) -> None:
    with pytest.raises(MediaError, match="ISO label"):
        media.build_iso({}, label)


def test_too_deep_or_too_large_isos_are_refused() -> None:
    with pytest.raises(MediaError, match="nested directories"):
        media.build_iso({"/".join("abcdefgh") + "/f": b""})
    with pytest.raises(MediaError, match="128 MiB"):
        media.build_iso({"big": bytes(128 * MIB)})


def test_the_clock_is_restored_and_every_pycdlib_clock_reader_is_covered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    media.build_iso(TREE)
    for module in iso_module._CLOCK_USERS:
        assert module.__dict__["time"] is time

    def broken(*args: object, **kwargs: object) -> None:
        assert iso_module._CLOCK_USERS[0].__dict__["time"] is not time
        raise PyCdlibInvalidInput("disk on fire")

    monkeypatch.setattr(pycdlib.PyCdlib, "add_fp", broken)
    with pytest.raises(MediaError, match="cannot build the ISO: disk on fire"):
        media.build_iso({"a": b""})
    for module in iso_module._CLOCK_USERS:
        assert module.__dict__["time"] is time
    # Modules that read the clock while an image is built (udf and the in-place editor
    # are features never used here).
    readers = {
        name
        for name, module in sys.modules.items()
        if name.startswith("pycdlib.")
        and module is not None
        and any(call in inspect.getsource(module) for call in ("time.time(", "time.localtime("))
    }
    assert readers - {"pycdlib.udf", "pycdlib.inplaceeditor"} == {
        module.__name__ for module in iso_module._CLOCK_USERS
    }


# --- FAT -------------------------------------------------------------------------------------


def test_fsck_vfat_accepts_small_and_nova_sized_file_systems(tmp_path: Path) -> None:
    for size in (None, 128 * 1024, 64 * MIB):
        image = write(tmp_path, f"vfat-{size}.img", media.build_vfat(TREE, size=size))
        checked = run(tool("fsck.vfat"), "-n", image)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_mlabel_prints_the_upper_case_label_exactly(tmp_path: Path) -> None:
    image = write(tmp_path, "vfat.img", media.build_vfat(TREE, "config-2"))
    shown = run(tool("mlabel"), "-i", image, "-s").stdout.decode()
    assert shown.strip() == "Volume label is CONFIG-2"  # mtools pads the 11 bytes


def test_mtools_list_and_copy_out_exact_bytes(tmp_path: Path) -> None:
    image = write(tmp_path, "vfat.img", media.build_vfat(TREE))
    listed = run(tool("mdir"), "-i", image, "-/", "-b", "::/").stdout.decode().split()
    assert {name.removeprefix("::/").rstrip("/") for name in listed} == all_paths(TREE)
    listing = run(tool("mdir"), "-i", image, "::/openstack/latest").stdout.decode()
    assert "2000-01-01" in listing  # the fixed timestamp
    target = tmp_path / "out"
    target.mkdir()
    # What the agent's upstream does with a raw FAT disk: mcopy -s -n -i <disk> ::/ .
    copied = run(tool("mcopy"), "-s", "-n", "-i", image, "::/", f"{target}/")
    assert copied.returncode == 0, copied.stderr
    assert extracted(target) == TREE


def test_7z_reads_the_fat_label_and_files(tmp_path: Path) -> None:
    image = write(tmp_path, "vfat.img", media.build_vfat(TREE))
    listing = run(tool("7z"), "l", "-slt", image).stdout.decode()
    assert "Label = CONFIG-2" in listing
    assert "File System = FAT12" in listing
    data = run(tool("7z"), "e", "-so", image, "openstack/latest/network_data.json").stdout
    assert json.loads(data) == NETWORK_DATA


def test_boot_sector_and_root_label_entry() -> None:
    image = media.build_vfat(TREE, "cidata")
    assert image[510:512] == b"\x55\xaa"
    assert image[0x2B:0x36] == b"CIDATA     "
    assert image[0x36:0x3E] == b"FAT12   "
    assert image[0x26] == 0x29
    reserved, fats, fat_size = image[14], image[16], struct.unpack_from("<H", image, 22)[0]
    root = (reserved + fats * fat_size) * SECTOR
    assert image[root : root + 11] == b"CIDATA     "
    assert image[root + 11] == 0x08
    assert len(image) == MIB  # the default: the smallest of 1, 2, 4... MiB that fits


def test_fat16_above_16_mib_and_serials_follow_the_content() -> None:
    big = media.build_vfat(TREE, size=17 * MIB)
    assert big[0x36:0x3E] == b"FAT16   "
    assert len(big) == 17 * MIB
    other = media.build_vfat({**TREE, "extra": b"x"}, size=17 * MIB)
    assert big[0x27:0x2B] != other[0x27:0x2B]
    assert media.build_vfat(TREE, size=17 * MIB) == big


def test_the_default_size_grows_with_the_files() -> None:
    image = media.build_vfat({"big.bin": bytes(3 * MIB)})
    assert len(image) == 4 * MIB


@pytest.mark.parametrize(
    ("files", "label", "size", "message"),
    [
        ({}, "CONFIG.2", None, "FAT label"),
        ({}, "TWELVE CHARS", None, "FAT label"),
        ({}, "CONFIG-2", 1000, "multiple of 512"),
        ({}, "CONFIG-2", 64 * 1024, "at least"),
        ({"big": bytes(200 * 1024)}, "CONFIG-2", 128 * 1024, "do not fit"),
        ({}, "CONFIG-2", 4 * 1024 * MIB, "holds at most"),
        ({f"long-file-name-{i}": b"" for i in range(200)}, "CONFIG-2", None, "top folder"),
    ],
)
def test_bad_fat_requests_are_refused(
    files: dict[str, bytes], label: str, size: int | None, message: str
) -> None:
    with pytest.raises(MediaError, match=message):
        media.build_vfat(files, label, size)


# --- partition tables ---------------------------------------------------------------------


def test_mbr_disk_structure() -> None:
    fs = media.build_vfat(TREE)
    disk = media.build_disk(fs, "mbr")
    assert disk[510:512] == b"\x55\xaa"
    status, kind, start, count = (
        disk[0x1BE],
        disk[0x1BE + 4],
        *struct.unpack_from("<II", disk, 0x1C6),
    )
    assert (status, kind, start, count) == (0x00, 0x01, 2048, len(fs) // SECTOR)
    assert disk[0x1CE:0x1FE] == bytes(48)  # the other three entries are empty
    assert struct.unpack_from("<I", disk, 0x1B8)[0] != 0  # a disk signature, for Windows
    assert len(disk) % MIB == 0
    part = partition_of(disk)
    assert struct.unpack_from("<I", part, 0x1C)[0] == 2048  # BPB hidden sectors
    assert part[:0x1C] + part[0x20:] == fs[:0x1C] + fs[0x20:]
    assert media.build_disk(fs, "mbr", mbr_type=0x0B)[0x1BE + 4] == 0x0B
    iso_disk = media.build_disk(media.build_iso(TREE), "mbr")
    assert iso_disk[0x1BE + 4] == 0x07
    assert partition_of(iso_disk)[: len(media.build_iso(TREE))] == media.build_iso(TREE)


def _gpt_header(disk: bytes, lba: int) -> tuple[int, ...]:
    sector = disk[lba * SECTOR : (lba + 1) * SECTOR]
    fields = struct.unpack_from("<8sIIIIQQQQ16sQIII", sector)
    zeroed = sector[:16] + bytes(4) + sector[20:92]
    assert fields[0] == b"EFI PART"
    assert fields[3] == zlib.crc32(zeroed), "header CRC32"
    assert sector[92:] == bytes(SECTOR - 92)
    return fields[5:9] + fields[10:]


def test_gpt_disk_structure() -> None:
    fs = media.build_vfat(TREE)
    disk = media.build_disk(fs, "gpt")
    total = len(disk) // SECTOR
    last = total - 1
    # Protective MBR: one 0xEE entry over the whole disk.
    assert disk[510:512] == b"\x55\xaa"
    assert disk[0x1BE + 4] == 0xEE
    assert struct.unpack_from("<II", disk, 0x1C6) == (1, total - 1)
    assert disk[0x1BF:0x1C2] == b"\x00\x02\x00"
    primary = _gpt_header(disk, 1)
    backup = _gpt_header(disk, last)
    assert primary == (1, last, 34, last - 33, 2, 128, 128, primary[-1])
    assert backup == (last, 1, 34, last - 33, last - 32, 128, 128, primary[-1])
    entries = disk[2 * SECTOR : 34 * SECTOR]
    assert disk[(last - 32) * SECTOR : last * SECTOR] == entries
    assert zlib.crc32(entries) == primary[-1], "entries CRC32"
    kind, unique, first, end, attributes, name = struct.unpack_from("<16s16sQQQ72s", entries)
    assert uuid.UUID(bytes_le=kind) == media.MICROSOFT_BASIC_DATA
    assert (first, end, attributes) == (2048, 2048 + len(fs) // SECTOR - 1, 0)
    assert name.decode("utf-16-le").rstrip("\0") == "CONFIG-2"
    assert entries[128:] == bytes(127 * 128)
    assert partition_of(disk)[0x20:] == fs[0x20:]
    # Same file system, same GUIDs; another one, other GUIDs.
    assert media.build_disk(fs, "gpt") == disk
    other = media.build_disk(media.build_vfat({**TREE, "x": b""}), "gpt")
    assert other[SECTOR + 56 : SECTOR + 72] != disk[SECTOR + 56 : SECTOR + 72]
    assert uuid.UUID(bytes_le=unique).version == 5


def test_7z_lists_the_partitions(tmp_path: Path) -> None:
    fs = media.build_vfat(TREE)
    for table, kind in (("mbr", "MBR"), ("gpt", "GPT")):
        image = write(tmp_path, f"{table}.img", media.build_disk(fs, table))
        listing = run(tool("7z"), "l", "-slt", image).stdout.decode()
        assert f"Type = {kind}" in listing  # 7z falls back to MBR if a GPT CRC is wrong
        assert "File System = FAT12" in listing
        assert f"Offset = {MIB}" in listing
        assert "Label = CONFIG-2" in listing  # 7z descends into the FAT partition


def test_partx_reads_both_tables_and_the_gpt_backup(tmp_path: Path) -> None:
    fs = media.build_iso(TREE)
    sectors = len(fs) // SECTOR
    for table in ("mbr", "gpt"):
        disk = media.build_disk(fs, table)
        image = write(tmp_path, f"{table}.img", disk)
        shown = run(tool("partx"), "--show", "-g", "-o", "NR,START,SECTORS", image)
        assert shown.stdout.decode().split() == ["1", "2048", str(sectors)], shown.stderr
    # Break the primary GPT header: libblkid must find the backup at the last LBA.
    broken = bytearray(disk)
    broken[SECTOR : SECTOR + 8] = b"BROKEN!!"
    image = write(tmp_path, "backup-only.img", bytes(broken))
    shown = run(tool("partx"), "--show", "-g", "-o", "NR,START,SECTORS,NAME", image)
    assert shown.stdout.decode().split() == ["1", "2048", str(sectors), "config-2"]


def test_the_partition_holds_a_readable_file_system(tmp_path: Path) -> None:
    vfat_part = write(tmp_path, "vfat-part.img", partition_of(media.build_image(TREE, "disk-gpt")))
    checked = run(tool("fsck.vfat"), "-n", vfat_part)
    assert checked.returncode == 0, checked.stdout
    iso_disk = media.build_image(TREE, "disk-mbr", filesystem="iso")
    iso_part = write(tmp_path, "iso-part.img", partition_of(iso_disk))
    assert "Volume id: config-2" in run(tool("isoinfo"), "-d", "-i", iso_part).stdout.decode()


def test_bad_disk_requests_are_refused() -> None:
    with pytest.raises(MediaError, match="partition table"):
        media.build_disk(b"x" * SECTOR, "apm")
    with pytest.raises(MediaError, match="empty"):
        media.build_disk(b"", "gpt")
    with pytest.raises(MediaError, match="36"):
        media.build_disk(b"x" * SECTOR, "gpt", name="n" * 37)
    with pytest.raises(MediaError, match="image format"):
        media.build_image(TREE, "qcow2")


# --- layouts ----------------------------------------------------------------------------------


def test_openstack_layout_follows_nova() -> None:
    tree = media.openstack_layout(
        META_DATA, USER_DATA, NETWORK_DATA, {"vendor": 1}, {"0000": b"iface"}
    )
    for version in (*media.OPENSTACK_VERSIONS, "latest"):
        assert json.loads(tree[f"openstack/{version}/meta_data.json"]) == META_DATA
        assert tree[f"openstack/{version}/user_data"] == USER_DATA
        assert (f"openstack/{version}/network_data.json" in tree) == (version >= "2015-10-15")
        assert (f"openstack/{version}/vendor_data.json" in tree) == (version >= "2013-10-17")
    assert json.loads(tree["openstack/latest/network_data.json"]) == NETWORK_DATA
    assert tree["openstack/content/0000"] == b"iface"
    ec2 = json.loads(tree["ec2/latest/meta-data.json"])
    assert ec2["instance-id"] == META_DATA["uuid"]
    assert ec2["public-keys"]["0"]["openssh-key"].startswith("ssh-rsa")
    assert tree["ec2/2009-04-04/user-data"] == USER_DATA
    assert list(tree) == sorted(tree)


def test_openstack_layout_minimal_and_raw_documents() -> None:
    tree = media.openstack_layout("{not json", versions=(), ec2=False)
    assert tree == {"openstack/latest/meta_data.json": b"{not json"}
    with pytest.raises(MediaError):
        media.openstack_layout({}, versions=("../x",))


def test_nocloud_layout_writes_yaml_or_text_as_given() -> None:
    tree = media.nocloud_layout(
        {"instance-id": "iid-1", "local-hostname": "seed"},
        b"#cloud-config\n",
        {"version": 2, "ethernets": {"eth0": {"dhcp4": True}}},
    )
    assert set(tree) == {"meta-data", "user-data", "network-config"}
    assert yaml.safe_load(tree["meta-data"]) == {"instance-id": "iid-1", "local-hostname": "seed"}
    assert yaml.safe_load(tree["network-config"])["ethernets"]["eth0"]["dhcp4"] is True
    assert media.nocloud_layout("instance-id: x\n") == {"meta-data": b"instance-id: x\n"}


def test_tree_from_directory_follows_links_inside_only(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "openstack" / "latest").mkdir(parents=True)
    (src / "openstack" / "latest" / "meta_data.json").write_bytes(b"{}")
    (src / "empty").mkdir()
    (src / "alias").symlink_to("openstack/latest/meta_data.json")
    (src / "dir-alias").symlink_to("openstack")
    assert media.tree_from_directory(src) == {
        "alias": b"{}",
        "dir-alias/latest/meta_data.json": b"{}",
        "openstack/latest/meta_data.json": b"{}",
    }
    (tmp_path / "secret").write_bytes(b"no")
    cases = [
        ("escape", tmp_path / "secret", "outside"),
        ("dangling", src / "missing", "dangling"),
        ("loop", src, "loop"),
    ]
    for name, target, message in cases:
        link = src / "openstack" / name
        link.symlink_to(target)
        with pytest.raises(MediaError, match=message):
            media.tree_from_directory(src)
        link.unlink()
    with pytest.raises(MediaError, match="no such folder"):
        media.tree_from_directory(tmp_path / "nope")
    with pytest.raises(MediaError, match="not a folder"):
        media.tree_from_directory(tmp_path / "secret")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"/abs": b""}, "relative"),
        ({"a//b": b""}, "empty"),
        ({"a/../b": b""}, r"'\.\.'"),
        ({"a:b": b""}, "not allowed"),
        ({"tab\there": b""}, "not allowed"),
        ({"dot.": b""}, "ends with"),
        ({" lead": b""}, "starts or ends"),
        ({"x" * 65: b""}, "longer than 64"),
        ({"a": b"", "a/b": b""}, "both a file and a directory"),
        ({"Meta": b"", "meta": b""}, "differ only in case"),
        ({"Dir/a": b"", "dir/b": b""}, "differ only in case"),
        ({"text": "not bytes"}, "must be bytes"),
    ],
)
def test_bad_trees_are_refused(files: dict[str, bytes], message: str) -> None:
    for build in (media.build_iso, media.build_vfat):
        with pytest.raises(MediaError, match=message):
            build(files)


def test_media_errors_are_one_line_guestsim_and_value_errors() -> None:
    with pytest.raises(ValueError, match="differ only in case") as raised:
        media.build_image({"A": b"", "a": b""}, "vfat")
    assert "\n" not in str(raised.value)


# --- determinism ------------------------------------------------------------------------------


def _digests() -> dict[str, str]:
    return {fmt: hashlib.sha256(media.build_image(TREE, fmt)).hexdigest() for fmt in media.FORMATS}


def test_the_same_input_gives_the_same_bytes() -> None:
    assert _digests() == _digests()
    assert media.build_iso(TREE) != media.build_iso({**TREE, "openstack/latest/x": b""})


@pytest.mark.host_tools(sys.executable)  # a `guestsim` (or pytest) child of this Python
def test_the_same_bytes_under_another_hash_seed_and_time_zone() -> None:
    code = (
        "import hashlib, json\n"
        "from simulator import media\n"
        "from tests.simulator.test_media import TREE\n"
        "print(json.dumps({f: hashlib.sha256(media.build_image(TREE, f)).hexdigest()"
        " for f in media.FORMATS}))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4242", "TZ": "Asia/Kolkata", "PYTHONPATH": str(REPO)}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == _digests()


# --- round trips --------------------------------------------------------------------------------


def _acceptable(tree: dict[str, bytes]) -> bool:
    """No path both a file and a folder, no two paths differing only in case."""
    try:
        parse_tree(tree)
    except MediaError:
        return False
    return True


_NAME = st.text("abcdefghijklmnopqrstuvwxyzABC0123456789._-+ ~", min_size=1, max_size=14).filter(
    lambda name: name not in (".", "..") and not name.endswith(".") and name == name.strip()
)
_PATH = st.lists(_NAME, min_size=1, max_size=3).map("/".join)
TREES = st.dictionaries(_PATH, st.binary(max_size=4096), max_size=8).filter(_acceptable)
AWKWARD_FAT_NAMES = {
    "AB C": b"space in an upper-case name",
    "ABC": b"a short name that must stay itself",
    "ABC+1.TXT": b"+ maps to _",
    "ABC_1.TXT": b"and clashes with this short name",
    "x" * 13: b"one full long-name slot",
    "y" * 26: b"two full slots",
    "dir.with.dots/.hidden": b"",
}


def _read_iso(image: bytes) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(Joliet tree, Rock Ridge tree) read back with pycdlib."""
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(image))
    trees: list[dict[str, bytes]] = []
    for key in ("joliet_path", "rr_path"):
        tree: dict[str, bytes] = {}
        for root, _dirs, names in iso.walk(**{key: "/"}):
            for name in names:
                path = f"{root.rstrip('/')}/{name}"
                out = io.BytesIO()
                iso.get_file_from_iso_fp(out, **{key: path})
                tree[path.lstrip("/")] = out.getvalue()
        trees.append(tree)
    iso.close()
    return trees[0], trees[1]


def _read_fat(image: bytes) -> dict[str, bytes]:
    from pyfatfs.PyFatFS import PyFatBytesIOFS

    fs = PyFatBytesIOFS(io.BytesIO(image))
    try:
        return {path.lstrip("/"): fs.readbytes(path) for path in fs.walk.files("/")}
    finally:
        fs.close()


@settings(max_examples=30)
@given(TREES)
def test_round_trip_through_the_libraries(tree: dict[str, bytes]) -> None:
    joliet, rock_ridge = _read_iso(media.build_iso(tree))
    assert joliet == tree
    assert rock_ridge == tree
    assert _read_fat(media.build_vfat(tree)) == tree


@settings(max_examples=20)
@given(tree=TREES)
def test_round_trip_through_bsdtar_mcopy_and_fsck(
    tree: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory
) -> None:
    bsdtar, mcopy, fsck = tool("bsdtar"), tool("mcopy"), tool("fsck.vfat")
    folder = tmp_path_factory.mktemp("round-trip")
    iso = write(folder, "image.iso", media.build_iso(tree))
    (folder / "iso").mkdir()
    assert run(bsdtar, "-xf", iso, "-C", folder / "iso").returncode == 0
    assert extracted(folder / "iso") == tree
    vfat = write(folder, "image.img", media.build_vfat(tree))
    assert run(fsck, "-n", vfat).returncode == 0
    (folder / "fat").mkdir()
    if tree:
        assert run(mcopy, "-s", "-n", "-i", vfat, "::/", f"{folder / 'fat'}/").returncode == 0
    assert extracted(folder / "fat") == tree


def test_awkward_fat_names_round_trip(tmp_path: Path) -> None:
    image = media.build_vfat(AWKWARD_FAT_NAMES)
    assert _read_fat(image) == AWKWARD_FAT_NAMES
    path = write(tmp_path, "awkward.img", image)
    assert run(tool("fsck.vfat"), "-n", path).returncode == 0
    (tmp_path / "out").mkdir()
    assert run(tool("mcopy"), "-s", "-n", "-i", path, "::/", f"{tmp_path / 'out'}/").returncode == 0
    assert extracted(tmp_path / "out") == AWKWARD_FAT_NAMES


# --- command line -------------------------------------------------------------------------------


@pytest.fixture
def drive_folder(tmp_path: Path) -> Path:
    src = tmp_path / "drive"
    for path, data in TREE.items():
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        (src / path).write_bytes(data)
    return src


@pytest.mark.parametrize("fmt", media.FORMATS)
def test_cli_builds_each_format(tmp_path: Path, drive_folder: Path, fmt: str) -> None:
    out = tmp_path / "images" / f"drive.{fmt}"
    out.parent.mkdir()
    result = CliRunner().invoke(
        cli, ["configdrive", "build", str(drive_folder), "-o", str(out), "--format", fmt]
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == media.build_image(TREE, fmt)
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind
    assert result.output.startswith(f"{out}: {fmt}, label ")


def test_cli_nocloud_uses_the_cidata_label_and_warns_when_no_service_reads_it(
    tmp_path: Path,
    drive_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "seed.img"
    code, _out, err = _run_main(
        monkeypatch, capsys, "configdrive", "build", str(drive_folder), "-o", str(out),
        "--nocloud", "--format", "vfat",
    )  # fmt: skip
    assert code == 0
    # An OpenStack tree under the NoCloud label: neither service takes it (see
    # test_media_readers for every rule).
    assert err.splitlines() == [
        f"warning: {drive_folder}: ConfigDriveService takes a raw FAT disk labelled "
        "'CONFIG-2' or 'config-2', and this one is labelled 'CIDATA'",
        f"warning: {drive_folder}: with its default options the agent will not use this "
        "image as a raw FAT disk",
    ]
    assert out.read_bytes()[0x2B:0x36] == b"CIDATA     "
    code, _out, err = _run_main(
        monkeypatch, capsys, "configdrive", "build", str(drive_folder), "-o", str(out),
        "--format", "disk-gpt", "--filesystem", "iso", "--label", "my-drive",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert media.filesystem_label(partition_of(out.read_bytes())) == "my-drive"


def _run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["guestsim", *args])
    code: int | str | None = 0
    try:
        main()
    except SystemExit as exited:
        code = exited.code
    out, err = capsys.readouterr()
    return (code if isinstance(code, int) else 0), out, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{tmp}/missing", "-o", "{tmp}/x.iso"], "error: {tmp}/missing: no such folder"),
        (["{src}", "-o", "{tmp}/no/such/folder.iso"], "error: {tmp}/no/such/folder.iso: cannot"),
        (["{src}", "-o", "{tmp}/x.iso", "--label", "a/b"], "error: ISO label 'a/b'"),
        (
            ["{src}", "-o", "{tmp}/x.iso", "--format", "qcow2"],
            "Error: Invalid value for '--format'",
        ),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(
    tmp_path: Path,
    drive_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    filled = [arg.format(tmp=tmp_path, src=drive_folder) for arg in args]
    code, out, err = _run_main(monkeypatch, capsys, "configdrive", "build", *filled)
    assert code == 2
    error_lines = [line for line in err.splitlines() if line.lower().startswith("error")]
    assert len(error_lines) == 1
    if message.startswith("error:"):  # guestsim's own errors: nothing but that line
        assert err.strip().splitlines() == error_lines
    assert error_lines[0].startswith(message.format(tmp=tmp_path))
    assert "Traceback" not in out + err
    assert not (tmp_path / "x.iso").exists()


def test_cli_help_shows_examples() -> None:
    result = CliRunner().invoke(cli, ["configdrive", "build", "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output
    assert "guestsim configdrive build drive/ -o config-2.iso" in result.output
    assert "build" in CliRunner().invoke(cli, ["configdrive", "--help"]).output
