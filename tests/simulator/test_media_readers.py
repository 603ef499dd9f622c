"""Which of the agent's services read a drive image: the rules, `configdrive build`'s
warnings, and both agents agreeing with the rules.

Each rule case is also run as a scenario with guestsim's agent and with the published
cloudbase-init: the image is attached where such an image goes (an ISO in a CD-ROM drive,
a FAT image as a raw disk, a disk image with its FAT partition at F:), the service under
test is the only one listed, and the installer's bsdtar and mtools paths are set.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from guestsim.agent.config import config_from_options
from guestsim.agent.metadata import azure as agent_azure
from guestsim.agent.metadata import configdrive as agent_configdrive
from guestsim.agent.metadata import nocloud as agent_nocloud
from guestsim.agent.metadata import opennebula as agent_opennebula
from guestsim.simulator import media
from guestsim.simulator.cli import main
from guestsim.simulator.media import readers
from guestsim.simulator.scenario import load_scenario, run_scenario

UPSTREAM_MISSING = importlib.util.find_spec("cloudbaseinit") is None
TOOLS = "C:\\Program Files\\Cloudbase Solutions\\Cloudbase-Init\\bin"
SERVICES = {
    "ConfigDriveService": "cloudbaseinit.metadata.services.configdrive.ConfigDriveService",
    "NoCloudConfigDriveService": (
        "cloudbaseinit.metadata.services.nocloudservice.NoCloudConfigDriveService"
    ),
    "OvfService": "cloudbaseinit.metadata.services.ovfservice.OvfService",
    "OpenNebulaService": "cloudbaseinit.metadata.services.opennebulaservice.OpenNebulaService",
}
OVF_ENV = b"""<?xml version="1.0" encoding="UTF-8"?>
<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1"
             xmlns:oe="http://schemas.dmtf.org/ovf/environment/1" oe:id="">
  <PropertySection>
    <Property oe:key="instance-id" oe:value="iid-ovf-readers"/>
  </PropertySection>
</Environment>
"""
OPENSTACK = {"openstack/latest/meta_data.json": json.dumps({"uuid": "iid-cd-readers"}).encode()}
NOCLOUD = {"meta-data": b"instance-id: iid-nocloud-readers\n"}
OVF = {"ovf-env.xml": OVF_ENV}
ONE = {"context.sh": b'SET_HOSTNAME="one-readers"\n'}

# (files, format, partition file system, label as given, the service, does it read it)
CASES = [
    (OVF, "iso", "vfat", "config-2", "OvfService", False),
    (OVF, "iso", "vfat", "OVF ENV", "OvfService", True),
    (OVF, "iso", "vfat", "ovf env", "OvfService", True),
    (OVF, "vfat", "vfat", "OVF ENV", "OvfService", False),
    (OVF, "disk-gpt", "vfat", "OVF ENV", "OvfService", True),
    (OVF, "disk-gpt", "iso", "OVF ENV", "OvfService", False),
    (OPENSTACK, "iso", "vfat", "config-2", "ConfigDriveService", True),
    (OPENSTACK, "iso", "vfat", "CONFIG-2", "ConfigDriveService", True),
    (OPENSTACK, "iso", "vfat", "OVF ENV", "ConfigDriveService", False),
    (OPENSTACK, "vfat", "vfat", "config-2", "ConfigDriveService", True),
    (OPENSTACK, "vfat", "vfat", "cidata", "ConfigDriveService", False),
    (OPENSTACK, "disk-mbr", "vfat", "config-2", "ConfigDriveService", True),
    (OPENSTACK, "disk-gpt", "vfat", "OVF ENV", "ConfigDriveService", False),
    (OPENSTACK, "disk-gpt", "iso", "my-drive", "ConfigDriveService", True),
    (NOCLOUD, "iso", "vfat", "cidata", "NoCloudConfigDriveService", True),
    (NOCLOUD, "iso", "vfat", "config-2", "NoCloudConfigDriveService", False),
    (NOCLOUD, "vfat", "vfat", "cidata", "NoCloudConfigDriveService", True),
    (NOCLOUD, "vfat", "vfat", "config-2", "NoCloudConfigDriveService", False),
    (ONE, "iso", "vfat", "config-2", "OpenNebulaService", True),
    (ONE, "disk-gpt", "vfat", "CONTEXT", "OpenNebulaService", False),
]
IDS = [f"{c[4]}-{c[1]}-{c[2] if c[1].startswith('disk') else ''}-{c[3]}" for c in CASES]


def shown_label(fmt: str, label: str, filesystem: str) -> str:
    return media.effective_label(fmt, label, filesystem=filesystem)


# --- the rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "fmt", "filesystem", "label", "service", "reads"), CASES, ids=IDS
)
def test_the_verdict_of_each_case(
    files: dict[str, bytes], fmt: str, filesystem: str, label: str, service: str, reads: bool
) -> None:
    shown = shown_label(fmt, label, filesystem)
    (verdict,) = readers.verdicts(files, fmt, shown, filesystem)
    assert (verdict.service, verdict.reads) == (service, reads)
    assert (verdict.why_not is None) is reads
    warnings = readers.drive_warnings(files, fmt, shown, filesystem)
    assert (warnings == []) is reads


def test_the_names_are_the_agents() -> None:
    conf = config_from_options({}, "test")
    assert readers.CONFIG_DRIVE_LABEL == agent_configdrive.CONFIG_DRIVE_LABEL
    metadata_file = agent_configdrive.OPENSTACK_METADATA_FILE
    assert metadata_file.replace("\\", "/") == readers.CONFIG_DRIVE_FILE
    assert readers.NOCLOUD_LABEL == agent_nocloud.NOCLOUD_LABEL
    defaults = {
        "nocloud metadata_file": readers.NOCLOUD_FILE,
        "ovf drive_label": readers.OVF_LABEL,
        "ovf config_file_name": readers.OVF_FILE,
    }
    for key, value in defaults.items():
        group, name = key.split()
        assert (key, conf.get(name, group)) == (key, value)
    assert readers.OVF_FILE == agent_azure.OVF_ENV_FILE
    assert readers.OPENNEBULA_FILE == agent_opennebula.CONTEXT_FILE
    assert readers.AZURE_TAG_FILE == agent_azure.PROVISIONING_TAG_FILE


def test_invalid_metadata_is_skipped_by_guestsims_agent() -> None:
    bad = {"openstack/latest/meta_data.json": b"[1, 2]"}
    (verdict,) = readers.verdicts(bad, "iso", "config-2")
    assert not verdict.reads
    assert verdict.why_not == (
        "ConfigDriveService skips it: openstack/latest/meta_data.json is not a JSON object"
    )
    (verdict,) = readers.verdicts({"meta-data": b"- a list\n"}, "iso", "cidata")
    assert verdict.why_not == "NoCloudConfigDriveService skips it: meta-data is not a mapping"


def test_an_azure_provisioning_drive_is_found_by_its_tag_whatever_its_label() -> None:
    tree = {readers.AZURE_TAG_FILE: b"", "ovf-env.xml": b"<Environment/>"}
    assert [(v.service, v.reads) for v in readers.verdicts(tree, "iso", "config-2")] == [
        ("AzureService", True)
    ]
    (untagged,) = readers.verdicts({readers.AZURE_TAG_FILE: b""}, "iso", "config-2")
    assert untagged.why_not == (
        f"AzureService finds the drive by {readers.AZURE_TAG_FILE} but needs ovf-env.xml"
    )
    (raw,) = readers.verdicts(tree, "vfat", "CONFIG-2")
    assert raw.why_not is not None and "a raw FAT disk none" in raw.why_not


def test_a_drive_read_by_one_service_gets_no_warning_for_the_others() -> None:
    tree = {**OPENSTACK, **OVF}
    assert [v.reads for v in readers.verdicts(tree, "iso", "config-2")] == [True, False]
    assert readers.drive_warnings(tree, "iso", "config-2") == []


def test_nothing_the_agent_reads() -> None:
    assert readers.drive_warnings({"readme.txt": b"hi"}, "iso", "config-2") == [
        "none of the files the agent's drive services look for is there "
        "(openstack/latest/meta_data.json, meta-data, ovf-env.xml, context.sh or "
        f"{readers.AZURE_TAG_FILE}); the agent will not use this drive"
    ]


# --- configdrive build ----------------------------------------------------------------------


def build(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    files: dict[str, bytes],
    *options: str,
) -> tuple[int, str]:
    src = tmp_path / "src"
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    monkeypatch.setattr(sys, "argv", ["guestsim", "configdrive", "build", str(src), *options])
    code: Any = 0
    try:
        main()
    except SystemExit as exited:
        code = exited.code
    return int(code or 0), capsys.readouterr().err


def test_an_ovf_drive_labelled_config_2_is_warned_about_its_label_not_openstack_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = build(tmp_path, monkeypatch, capsys, OVF, "-o", str(tmp_path / "ovf.iso"))
    src = tmp_path / "src"
    assert code == 0
    assert err.splitlines() == [
        f"warning: {src}: OvfService reads ovf-env.xml from the drive labelled 'OVF ENV' "
        "(any case; [ovf] drive_label), and this one is labelled 'config-2': build with "
        "--label 'OVF ENV', or set [ovf] drive_label = config-2 in the agent's conf",
        f"warning: {src}: with its default options the agent will not use this image as a CD-ROM",
    ]


@pytest.mark.parametrize(
    ("files", "options"),
    [
        (OVF, ["--label", "OVF ENV"]),
        (ONE, []),
        (NOCLOUD, ["--nocloud"]),
        (NOCLOUD, ["--nocloud", "--format", "vfat"]),
        (OPENSTACK, ["--format", "disk-gpt", "--filesystem", "iso", "--label", "anything"]),
    ],
    ids=["ovf-env", "opennebula", "nocloud-iso", "nocloud-vfat", "iso-partition"],
)
def test_drives_an_agent_service_reads_get_no_warning(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    files: dict[str, bytes],
    options: list[str],
) -> None:
    out = tmp_path / "drive.img"
    assert build(tmp_path, monkeypatch, capsys, files, "-o", str(out), *options) == (0, "")
    assert out.exists()


def test_a_config_drive_on_a_fat_disk_with_the_nocloud_label_names_both_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "seed.img")
    code, err = build(
        tmp_path, monkeypatch, capsys, OPENSTACK, "-o", out, "--nocloud", "--format", "vfat"
    )
    assert code == 0
    assert err.splitlines()[0].endswith(
        "ConfigDriveService takes a raw FAT disk labelled 'CONFIG-2' or 'config-2', and this "
        "one is labelled 'CIDATA'"
    )


# --- both agents agree with the rules -------------------------------------------------------


def scenario(
    tmp_path: Path, files: dict[str, bytes], fmt: str, filesystem: str, label: str, service: str
) -> Path:
    image: dict[str, Any] = {
        "format": fmt,
        "layout": "files",
        "label": label,
        "documents": {name: data.decode() for name, data in files.items()},
    }
    if fmt.startswith("disk-"):
        image["filesystem"] = filesystem
        medium: dict[str, Any] = {"disk": {"image": image, "letter": "F"}}
    elif fmt == "vfat":
        medium = {"disk": {"image": image}}
    else:
        medium = {"cdrom": {"image": image}}
    story = {
        "description": "which service reads the drive",
        "cloud": None,
        "machine": {"media": [medium]},
        "agent": {
            "options": {
                "DEFAULT": {
                    "metadata_services": [SERVICES[service]],
                    "plugins": [],
                    "bsdtar_path": f"{TOOLS}\\bsdtar.exe",
                    "mtools_path": TOOLS,
                }
            }
        },
        "expect": {"boots": 1, "outcome": "stopped"},
    }
    path = tmp_path / "drive.yaml"
    path.write_text(yaml.safe_dump(story))
    return path


@pytest.mark.parametrize("agent", ["guestsim", "upstream"])
@pytest.mark.parametrize(
    ("files", "fmt", "filesystem", "label", "service", "reads"), CASES, ids=IDS
)
def test_each_agent_reads_the_drive_as_the_rules_say(
    tmp_path: Path,
    agent: str,
    files: dict[str, bytes],
    fmt: str,
    filesystem: str,
    label: str,
    service: str,
    reads: bool,
) -> None:
    if agent == "upstream" and UPSTREAM_MISSING:
        pytest.skip("the published cloudbase-init is not installed (pip install -e '.[upstream]')")
    loaded = load_scenario(scenario(tmp_path, files, fmt, filesystem, label, service))
    outcome = run_scenario(loaded.with_agent(agent, None))
    assert outcome.failures == []
    services = [e.get("name") for e in outcome.result.trace.of_kind("metadata_service")]
    assert services == ([service] if reads else [None])
