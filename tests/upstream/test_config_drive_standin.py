"""The published agent's config-drive search on the fake Windows, through the stand-ins.

Upstream's ``WindowsConfigDriveManager`` and ``disk`` module are replaced by guestsim's
stand-ins: each story attaches CD-ROMs and disks, runs the published agent and looks at
what a user would see (which drive was used, the host name it set, the log, what is left
on the guest drive) and at what must never happen (a file written on the host).
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from guestsim.simulator.machine import RunResult
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import ScenarioOutcome, load_scenario, run_scenario
from guestsim.simulator.upstream import UpstreamAgent
from guestsim.simulator.windows.bootconfig import disk_signature

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("cloudbaseinit") is None,
    reason="the published cloudbase-init is not installed (pip install -e '.[upstream]')",
)

LIBRARY = bundled("scenarios")
CONFIG_DRIVES = LIBRARY / "config-drives"
GUEST_TEMP = "C:\\Windows\\Temp"
OPENSTACK_HOST_NAME = "win-web-01"
# The stories whose metadata service is one of upstream's config-drive services.
CONFIG_DRIVE_STORIES = sorted(
    [
        *CONFIG_DRIVES.glob("configdrive-*.yaml"),
        CONFIG_DRIVES / "no-config-drive.yaml",
        CONFIG_DRIVES / "nocloud-cidata-iso.yaml",
    ]
)


def _run(path: Path) -> ScenarioOutcome:
    return run_scenario(load_scenario(path), agent=UpstreamAgent())


def _variant(
    tmp_path: Path,
    name: str,
    media: list[dict[str, Any]] | None = None,
    options: dict[str, Any] | None = None,
) -> RunResult:
    """A config-drive story with other media or agent options (a None value removes the
    option), run with the published agent."""
    data = yaml.safe_load((CONFIG_DRIVES / f"{name}.yaml").read_text())
    if media is not None:
        data.setdefault("machine", {})["media"] = media
    defaults = data["agent"]["options"]["DEFAULT"]
    for key, value in (options or {}).items():
        if value is None:
            defaults.pop(key, None)
        else:
            defaults[key] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_scenario(path).build_machine(agent=UpstreamAgent()).run()


def _searches(result: RunResult) -> list[dict[str, Any]]:
    return [dict(event.fields) for event in result.trace.of_kind("config_drive_search")]


def _log(result: RunResult, fragment: str) -> list[str]:
    return [line for line in result.log if fragment in line]


def _guest_calls(result: RunResult, call: str) -> list[str]:
    return [
        str(event.fields.get("path"))
        for event in result.trace.of_kind("os")
        if event.fields.get("call") == call
    ]


@pytest.mark.parametrize("path", CONFIG_DRIVE_STORIES, ids=lambda path: path.stem)
def test_every_config_drive_story_of_the_library_passes_with_the_published_agent(
    path: Path,
) -> None:
    outcome = _run(path)

    assert outcome.failures == []


def test_the_drive_is_unpacked_on_the_guest_and_nothing_is_written_on_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A path meant for the guest but written by the host would land in the working folder
    # (a relative "C:\\Windows\\Temp\\..." name on POSIX) or in the host's temp folder.
    working = tmp_path / "cwd"
    working.mkdir()
    monkeypatch.chdir(working)
    host_temp = Path(tempfile.gettempdir())
    host_temp_before = set(host_temp.iterdir())

    outcome = _run(CONFIG_DRIVES / "configdrive-truncated-iso-on-disk.yaml")

    assert outcome.failures == []
    assert list(working.iterdir()) == []
    assert set(host_temp.iterdir()) - host_temp_before == set()
    result = outcome.result
    # The raw image is copied to the guest's temp folder, unpacked there, and both the copy
    # and the unpacked folder are gone once the agent is done.
    copies = [path for path in _guest_calls(result, "write_file") if path.endswith(".iso")]
    assert copies and all(path.startswith(GUEST_TEMP + "\\") for path in copies)
    assert set(copies) <= set(_guest_calls(result, "remove_path"))
    unpacked = [
        path
        for path in _guest_calls(result, "write_file")
        if path.endswith("openstack\\latest\\meta_data.json")
    ]
    assert unpacked and all(path.startswith(GUEST_TEMP + "\\tmp") for path in unpacked)
    assert result.state.files.list_dir(GUEST_TEMP) == []


def test_a_damaged_image_is_reported_and_the_next_disk_is_used() -> None:
    result = _run(CONFIG_DRIVES / "configdrive-truncated-iso-on-disk.yaml").result

    warnings = _log(result, "WARNING cloudbaseinit.metadata.services.osconfigdrive.windows")
    assert warnings
    assert all("ISO extraction failed on <Disk: \\\\.\\PHYSICALDRIVE1>" in w for w in warnings)
    first_boot = [event for event in _searches(result) if event["location"] == "hdd"][:2]
    assert [event["result"] for event in first_boot] == ["error", "found"]
    assert first_boot[0]["device"] == "\\\\.\\PHYSICALDRIVE1"
    assert "TruncatedMedia" in first_boot[0]["error"]
    assert result.state.computer_name == OPENSTACK_HOST_NAME


def test_a_raw_iso_on_a_disk_is_used_whatever_its_label(tmp_path: Path) -> None:
    # Upstream checks no label on raw disks: the first ISO image that unpacks wins.
    media = [{"disk": {"image": {"format": "iso", "layout": "openstack", "label": "DATA"}}}]

    result = _variant(tmp_path, "configdrive-iso-raw-disk", media=media)

    found = [event for event in _searches(result) if event["result"] == "found"]
    assert {(event["type"], event["location"]) for event in found} == {("iso", "hdd")}
    assert result.state.computer_name == OPENSTACK_HOST_NAME


def test_a_cdrom_needs_the_label_and_the_metadata_file(tmp_path: Path) -> None:
    # The drive's label is compared in lower case (CONFIG-2 matches), then the file is needed.
    media: list[dict[str, Any]] = [
        {"cdrom": {"image": {"format": "iso", "layout": "openstack", "label": "DATA"}}},
        {
            "cdrom": {
                "image": {
                    "format": "iso",
                    "layout": "files",
                    "label": "CONFIG-2",
                    "documents": {"readme.txt": "no metadata here"},
                }
            }
        },
    ]

    result = _variant(tmp_path, "configdrive-iso-cdrom", media=media)

    assert [event["result"] for event in _searches(result)][:1] == ["not_found"]
    assert _log(result, "Found mismatching label 'DATA'")
    assert _log(result, "openstack\\latest\\meta_data.json not found")
    assert not any(event["result"] == "found" for event in _searches(result))
    assert len(result.boots) == 1
    assert result.state.computer_name != OPENSTACK_HOST_NAME


def test_a_disk_without_a_partition_table_ends_the_partition_search(tmp_path: Path) -> None:
    # Windows reports a blank disk's layout as RAW, which upstream refuses with an error
    # for the whole pair: the ISO partition on the next disk is never looked at.
    media: list[dict[str, Any]] = [
        {"disk": {"size_mb": 1}},
        {"disk": {"image": {"format": "disk-mbr", "filesystem": "iso", "layout": "openstack"}}},
    ]

    result = _variant(tmp_path, "configdrive-iso-partition", media=media)

    partition_search = [event for event in _searches(result) if event["location"] == "partition"]
    assert partition_search[0]["type"] == "iso"
    assert partition_search[0]["result"] == "error"
    assert "Invalid partition style 2" in partition_search[0]["error"]
    assert not any(event["result"] == "found" for event in _searches(result))
    assert len(result.boots) == 1


def test_raw_images_need_the_extraction_programs_configured(tmp_path: Path) -> None:
    media = [
        {"disk": {"image": {"format": "iso", "layout": "openstack"}}},
        {"disk": {"image": {"format": "vfat", "layout": "openstack"}}},
    ]
    options = {"bsdtar_path": "C:\\nowhere\\bsdtar.exe", "mtools_path": None}

    result = _variant(tmp_path, "configdrive-iso-raw-disk", media=media, options=options)

    errors = [str(event.get("error")) for event in _searches(result)]
    assert any('Bsdtar path "C:\\nowhere\\bsdtar.exe" does not exist.' in e for e in errors)
    assert any('"mtools_path" needs to be provided' in e for e in errors)
    assert not any(event["result"] == "found" for event in _searches(result))
    # The raw image copied out for bsdtar is removed again; the manager's empty target
    # folder stays (upstream cleans it up only for a service that loaded).
    left = result.state.files.list_dir(GUEST_TEMP)
    assert [name for name in left if name.endswith(".iso")] == []
    assert len(left) == 1 and left[0].startswith("tmp")
    assert result.state.files.list_dir(f"{GUEST_TEMP}\\{left[0]}") == []


def test_the_boot_disk_gets_a_new_signature_through_the_disk_stand_in() -> None:
    outcome = run_scenario(
        load_scenario(LIBRARY / "plugins" / "bcd-config.yaml"), agent=UpstreamAgent()
    )

    assert outcome.failures == []
    changed = [
        event.fields
        for event in outcome.result.trace.of_kind("os")
        if event.fields.get("call") == "set_disk_unique_id"
    ]
    assert [fields["disk"] for fields in changed] == ["\\\\.\\PHYSICALDRIVE0"]
    assert disk_signature(outcome.result.state.disks[0]) == changed[0]["unique_id"]
