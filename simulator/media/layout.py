"""What goes on a config drive: the OpenStack and NoCloud file layouts, or a folder as is.

Each function returns a tree (POSIX relative path -> bytes) for the image builders. A
document given as a mapping is serialised (JSON for OpenStack, YAML for NoCloud); given
as ``str`` or ``bytes`` it is written unchanged, which is how a scenario plants a
malformed document.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from guestsim.simulator.clouds.openstack import VERSIONS
from guestsim.simulator.media.common import MediaError, check_name

Document = Mapping[str, Any] | str | bytes

# The dated snapshots Nova writes besides ``latest`` (oldest first): those its API serves.
OPENSTACK_VERSIONS: tuple[str, ...] = VERSIONS
EC2_VERSIONS: tuple[str, ...] = ("2009-04-04", "latest")
# The first dated version that has each optional document (ISO dates compare as strings).
_VENDOR_DATA_SINCE = "2013-10-17"
_NETWORK_DATA_SINCE = "2015-10-15"


def _json(document: Document) -> bytes:
    if isinstance(document, bytes):
        return document
    if isinstance(document, str):
        return document.encode("utf-8")
    return json.dumps(document).encode("utf-8")


def _yaml(document: Document) -> bytes:
    if isinstance(document, bytes):
        return document
    if isinstance(document, str):
        return document.encode("utf-8")
    return yaml.safe_dump(dict(document), default_flow_style=False, sort_keys=False).encode()


def _has(version: str, since: str) -> bool:
    return version == "latest" or version >= since


def ec2_metadata(meta_data: Mapping[str, Any]) -> dict[str, Any]:
    """A minimal EC2-style view of OpenStack metadata (cloudbase-init never reads it)."""
    ec2: dict[str, Any] = {}
    if "uuid" in meta_data:
        ec2["instance-id"] = meta_data["uuid"]
    if "hostname" in meta_data:
        ec2["hostname"] = ec2["local-hostname"] = meta_data["hostname"]
    if "launch_index" in meta_data:
        ec2["ami-launch-index"] = meta_data["launch_index"]
    if "availability_zone" in meta_data:
        ec2["placement"] = {"availability-zone": meta_data["availability_zone"]}
    keys = meta_data.get("public_keys")
    if isinstance(keys, Mapping) and keys:
        ec2["public-keys"] = {
            str(index): {"openssh-key": key} for index, key in enumerate(keys.values())
        }
    return ec2


def openstack_layout(
    meta_data: Document,
    user_data: bytes | None = None,
    network_data: Document | None = None,
    vendor_data: Document | None = None,
    content: Mapping[str, bytes] | None = None,
    versions: Sequence[str] = OPENSTACK_VERSIONS,
    ec2: bool = True,
) -> dict[str, bytes]:
    """The tree of an OpenStack config drive, as Nova lays it out.

    ``openstack/<v>/meta_data.json`` and ``user_data`` for ``latest`` and each of
    ``versions``; ``vendor_data.json`` from 2013-10-17 and ``network_data.json`` from
    2015-10-15 on, when given. ``content`` maps names such as ``0000`` to the files of
    ``openstack/content/`` (pointing at them from ``meta_data``, e.g. ``network_config:
    {content_path: /content/0000}``, is the caller's business). With ``ec2`` also
    ``ec2/2009-04-04/`` and ``ec2/latest/`` with ``meta-data.json`` and ``user-data``.
    """
    tree: dict[str, bytes] = {}
    dated = [v for v in dict.fromkeys(versions) if v != "latest"]
    for version in [*dated, "latest"]:
        check_name(version, f"openstack version {version!r}")
        base = f"openstack/{version}/"
        tree[base + "meta_data.json"] = _json(meta_data)
        if user_data is not None:
            tree[base + "user_data"] = user_data
        if vendor_data is not None and _has(version, _VENDOR_DATA_SINCE):
            tree[base + "vendor_data.json"] = _json(vendor_data)
        if network_data is not None and _has(version, _NETWORK_DATA_SINCE):
            tree[base + "network_data.json"] = _json(network_data)
    for name, data in (content or {}).items():
        check_name(name, f"content {name!r}")
        tree[f"openstack/content/{name}"] = data
    if ec2:
        ec2_meta = ec2_metadata(meta_data) if isinstance(meta_data, Mapping) else {}
        for version in EC2_VERSIONS:
            tree[f"ec2/{version}/meta-data.json"] = _json(ec2_meta)
            if user_data is not None:
                tree[f"ec2/{version}/user-data"] = user_data
    return dict(sorted(tree.items()))


def nocloud_layout(
    meta_data: Document,
    user_data: bytes | None = None,
    network_config: Document | None = None,
) -> dict[str, bytes]:
    """The tree of a NoCloud seed: ``meta-data``, and ``user-data`` / ``network-config``
    when given. Mappings are written as YAML (JSON text, being YAML, also works)."""
    tree = {"meta-data": _yaml(meta_data)}
    if network_config is not None:
        tree["network-config"] = _yaml(network_config)
    if user_data is not None:
        tree["user-data"] = user_data
    return tree


def tree_from_directory(path: Path) -> dict[str, bytes]:
    """Every file under ``path``, keyed by its POSIX path relative to ``path``.

    Symbolic links are followed when they stay inside ``path``; a link out of it, a
    dangling link, a link loop or anything but files and directories raises
    :class:`~guestsim.simulator.media.common.MediaError`. Empty directories are left out.
    """
    try:
        root = path.resolve(strict=True)
    except OSError as ex:
        raise MediaError(f"{path}: no such folder") from ex
    if not root.is_dir():
        raise MediaError(f"{path}: not a folder")
    tree: dict[str, bytes] = {}

    def visit(folder: Path, relative: str, ancestors: frozenset[Path]) -> None:
        try:
            names = sorted(child.name for child in folder.iterdir())
        except OSError as ex:
            raise MediaError(f"{path / relative}: cannot list: {ex.strerror}") from ex
        for name in names:
            shown = f"{relative}{name}"
            entry = folder / name
            if entry.is_symlink():
                target = entry.resolve()
                if not target.is_relative_to(root):
                    raise MediaError(f"{path / shown}: symbolic link points outside {path}")
                if not target.exists():
                    raise MediaError(f"{path / shown}: dangling symbolic link")
                entry = target
            if entry.is_dir():
                if entry in ancestors:
                    raise MediaError(f"{path / shown}: symbolic link loop")
                visit(entry, f"{shown}/", ancestors | {entry})
            elif entry.is_file():
                try:
                    tree[shown] = entry.read_bytes()
                except OSError as ex:
                    raise MediaError(f"{path / shown}: cannot read: {ex.strerror}") from ex
            else:
                raise MediaError(f"{path / shown}: not a regular file or folder")

    visit(root, "", frozenset({root}))
    return tree
