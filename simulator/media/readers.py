"""Which of the agent's metadata services would read a drive image, and why not.

``guestsim configdrive build`` warns from this. The rules are the agent's (and the published
cloudbase-init 1.1.9's) with their default options; the tests check each against runs of
both agents:

* ``ConfigDriveService`` (``openstack/latest/meta_data.json``, a JSON object) and
  ``NoCloudConfigDriveService`` (``meta-data``, a JSON or YAML mapping; ``[nocloud]
  metadata_file``) share the config-drive search: a CD-ROM or a mounted volume (a FAT
  partition) must carry the label ``config-2`` / ``cidata`` in any case; a raw FAT disk
  exactly ``CONFIG-2``/``config-2`` (``CIDATA``/``cidata``), read with mtools
  (``mtools_path``); an ISO image on a raw disk or in a partition is read whatever its
  label, with bsdtar (``bsdtar_path``).
* ``OvfService`` reads ``ovf-env.xml`` from any drive with a letter labelled ``OVF ENV``
  in any case (``[ovf] drive_label``, ``[ovf] config_file_name``).
* ``OpenNebulaService`` reads ``context.sh`` from any CD-ROM, whatever its label.
* ``AzureService`` reads ``ovf-env.xml`` from the drive with a letter that holds its tag
  file, whatever its label.

Windows gives a drive letter to an ISO image in a CD-ROM drive and to a FAT partition of
a disk (when the scenario names the letter); a raw image on a disk, FAT or ISO, and an
ISO partition get none.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import yaml

CONFIG_DRIVE_LABEL = "config-2"
CONFIG_DRIVE_FILE = "openstack/latest/meta_data.json"
NOCLOUD_LABEL = "cidata"
NOCLOUD_FILE = "meta-data"
OVF_LABEL = "OVF ENV"
OVF_FILE = "ovf-env.xml"
OPENNEBULA_FILE = "context.sh"
AZURE_TAG_FILE = "E6DA6616-8EC4-48E0-BE93-58CE6ACE3CFB.tag"

# Where an image of each kind is read: an ISO in a CD-ROM drive (or from a raw disk), a
# FAT image from a raw disk, a disk image's partition as a volume (FAT: mounted, with a
# letter when the scenario gives one; ISO: raw bytes only).
CDROM = "cdrom"
RAW_FAT = "raw-fat"
FAT_PARTITION = "fat-partition"
ISO_PARTITION = "iso-partition"
SHOWN = {
    CDROM: "a CD-ROM",
    RAW_FAT: "a raw FAT disk",
    FAT_PARTITION: "a FAT partition",
    ISO_PARTITION: "an ISO partition",
}


@dataclass(frozen=True)
class Verdict:
    """One service's view of an image whose documents it reads: whether it reads the
    image where such an image usually goes (:func:`place`), and if not, why."""

    service: str
    reads: bool
    why_not: str | None = None


def place(fmt: str, filesystem: str = "vfat") -> str:
    """Where an image of this format is usually read."""
    if fmt == "iso":
        return CDROM
    if fmt == "vfat":
        return RAW_FAT
    return FAT_PARTITION if filesystem == "vfat" else ISO_PARTITION


def _json_object(data: bytes) -> str | None:
    try:
        document = json.loads(data)
    except ValueError as ex:
        return f"not JSON ({ex})"
    return None if isinstance(document, dict) else "not a JSON object"


def _json_or_yaml_mapping(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
        try:
            document = json.loads(text)
        except ValueError:
            document = yaml.safe_load(text)
    except (UnicodeDecodeError, yaml.YAMLError) as ex:
        return f"does not parse ({ex})"
    return None if isinstance(document, dict) else "not a mapping"


def _config_drive_search(
    service: str,
    wanted: str,
    file: str,
    check: Callable[[bytes], str | None],
    tree: Mapping[str, bytes],
    where: str,
    label: str,
) -> Verdict:
    problem = check(tree[file])
    if problem is not None:
        return Verdict(service, False, f"{service} skips it: {file} is {problem}")
    if where == ISO_PARTITION:
        return Verdict(service, True)  # extracted whatever its label
    if where == RAW_FAT:
        if label in (wanted.upper(), wanted.lower()):
            return Verdict(service, True)
        return Verdict(
            service,
            False,
            f"{service} takes a raw FAT disk labelled '{wanted.upper()}' or "
            f"'{wanted.lower()}', and this one is labelled '{label}'",
        )
    if label.lower() == wanted.lower():
        return Verdict(service, True)
    kind = "a CD-ROM" if where == CDROM else "a FAT volume"
    also = " (an ISO on a raw disk is read whatever its label)" if where == CDROM else ""
    return Verdict(
        service,
        False,
        f"{service} takes {kind} labelled '{wanted}' (any case), and this one is labelled "
        f"'{label}'{also}",
    )


def _without_letter(service: str, file: str, where: str) -> str | None:
    """Why a service that reads drives by letter cannot see the image; None if it can."""
    if where in (CDROM, FAT_PARTITION):
        return None
    return (
        f"{service} reads {file} from a drive with a letter, and Windows gives "
        f"{SHOWN[where]} none: build an ISO (for a CD-ROM) or a disk with --filesystem vfat"
    )


def verdicts(
    tree: Mapping[str, bytes], fmt: str, label: str, filesystem: str = "vfat"
) -> list[Verdict]:
    """What each service whose documents are in ``tree`` makes of the image, with its
    default options."""
    where = place(fmt, filesystem)
    found: list[Verdict] = []
    if CONFIG_DRIVE_FILE in tree:
        found.append(
            _config_drive_search(
                "ConfigDriveService",
                CONFIG_DRIVE_LABEL,
                CONFIG_DRIVE_FILE,
                _json_object,
                tree,
                where,
                label,
            )
        )
    if NOCLOUD_FILE in tree:
        found.append(
            _config_drive_search(
                "NoCloudConfigDriveService",
                NOCLOUD_LABEL,
                NOCLOUD_FILE,
                _json_or_yaml_mapping,
                tree,
                where,
                label,
            )
        )
    if AZURE_TAG_FILE in tree:
        # Azure's provisioning drive: its ovf-env.xml is Azure's, not an OVF environment.
        problem = _without_letter("AzureService", AZURE_TAG_FILE, where)
        if problem is None and OVF_FILE not in tree:
            problem = f"AzureService finds the drive by {AZURE_TAG_FILE} but needs {OVF_FILE}"
        found.append(Verdict("AzureService", problem is None, problem))
    elif OVF_FILE in tree:
        problem = _without_letter("OvfService", OVF_FILE, where)
        if problem is None and label.lower() != OVF_LABEL.lower():
            problem = (
                f"OvfService reads {OVF_FILE} from the drive labelled '{OVF_LABEL}' (any case; "
                f"[ovf] drive_label), and this one is labelled '{label}': build with --label "
                f"'{OVF_LABEL}', or set [ovf] drive_label = {label} in the agent's conf"
            )
        found.append(Verdict("OvfService", problem is None, problem))
    if OPENNEBULA_FILE in tree:
        problem = None
        if where != CDROM:
            problem = (
                f"OpenNebulaService reads {OPENNEBULA_FILE} from CD-ROMs only: build an ISO "
                f"(--format iso)"
            )
        found.append(Verdict("OpenNebulaService", problem is None, problem))
    return found


def drive_warnings(
    tree: Mapping[str, bytes], fmt: str, label: str, filesystem: str = "vfat"
) -> list[str]:
    """What ``configdrive build`` warns about: each service whose documents are there but
    that will not read the image, then, when none will, that the agent will not use it.
    Nothing when a service reads it."""
    found = verdicts(tree, fmt, label, filesystem)
    if any(v.reads for v in found):
        return []
    if not found:
        return [
            "none of the files the agent's drive services look for is there "
            f"({CONFIG_DRIVE_FILE}, {NOCLOUD_FILE}, {OVF_FILE}, {OPENNEBULA_FILE} or "
            f"{AZURE_TAG_FILE}); the agent will not use this drive"
        ]
    lines = [v.why_not for v in found if v.why_not is not None]
    shown = SHOWN[place(fmt, filesystem)]
    lines.append(f"with its default options the agent will not use this image as {shown}")
    return lines
