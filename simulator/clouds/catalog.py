"""The cloud types guestsim simulates, and finding a type's module, schema and builders.

Each module ``guestsim.simulator.clouds.<type>`` provides ``build(source) -> list[CloudApp]``
and ships a JSON Schema for its scenario keys in ``simulator/schemas/clouds/<type>.json``. A
cloud that also hands the guest something other than HTTP (Azure's provisioning drive)
provides ``attach(state, source)``, called on the machine before its first boot. A source
with ``tree`` (a folder laid out as the wire paths) is built by :mod:`.tree` around the
module's ``build``.

Deliberately light: the command line reads ``CLOUD_TYPES`` and ``LOOPBACK`` for ``--help``.
"""

from __future__ import annotations

import importlib
import json
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guestsim.simulator.clouds.base import CloudApp
    from guestsim.simulator.clouds.documents import DocumentSource
    from guestsim.simulator.windows.state import WindowsState

CLOUD_TYPES = ("openstack", "ec2", "cloudstack", "maas", "gce", "azure", "packet", "oracle")

# Where a cloud is served unless another address is asked for explicitly.
LOOPBACK = "127.0.0.1"


def build_clouds(source: DocumentSource) -> list[CloudApp]:
    if source.cloud_type not in CLOUD_TYPES:
        raise ValueError(f"unknown cloud {source.cloud_type!r}; one of {', '.join(CLOUD_TYPES)}")
    module = importlib.import_module(f"guestsim.simulator.clouds.{source.cloud_type}")
    if "tree" in source.spec:
        # The documents come from a folder laid out as the wire paths (``cloud.tree``).
        from guestsim.simulator.clouds.tree import build_from_tree

        return build_from_tree(module.build, source)
    apps: list[CloudApp] = module.build(source)
    return apps


def attach_to_machine(state: WindowsState, source: DocumentSource) -> None:
    module = importlib.import_module(f"guestsim.simulator.clouds.{source.cloud_type}")
    attach = getattr(module, "attach", None)
    if attach is not None:
        attach(state, source)


def cloud_schema(cloud_type: str) -> dict[str, Any]:
    text = (
        resources.files("guestsim.simulator")
        .joinpath(f"schemas/clouds/{cloud_type}.json")
        .read_text()
    )
    schema: dict[str, Any] = json.loads(text)
    return schema
