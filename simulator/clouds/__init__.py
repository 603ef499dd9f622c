"""The simulated clouds, one module each: a model plus its routes (moto style).

Each module ``simulator.clouds.<type>`` provides ``build(source) -> list[CloudApp]`` and
ships a JSON Schema for its scenario keys in ``simulator/schemas/clouds/<type>.json``. A
cloud that also hands the guest something other than HTTP (Azure's provisioning drive)
provides ``attach(state, source)``, called on the machine before its first boot.
"""

from __future__ import annotations

import importlib
import json
from importlib import resources
from typing import Any

from simulator.clouds.base import CloudApp
from simulator.clouds.documents import DocumentSource
from simulator.windows.state import WindowsState

CLOUD_TYPES = ("openstack", "ec2", "cloudstack", "maas", "gce", "azure", "packet", "oracle")


def build_clouds(source: DocumentSource) -> list[CloudApp]:
    if source.cloud_type not in CLOUD_TYPES:
        raise ValueError(f"unknown cloud {source.cloud_type!r}; one of {', '.join(CLOUD_TYPES)}")
    module = importlib.import_module(f"simulator.clouds.{source.cloud_type}")
    apps: list[CloudApp] = module.build(source)
    return apps


def attach_to_machine(state: WindowsState, source: DocumentSource) -> None:
    module = importlib.import_module(f"simulator.clouds.{source.cloud_type}")
    attach = getattr(module, "attach", None)
    if attach is not None:
        attach(state, source)


def cloud_schema(cloud_type: str) -> dict[str, Any]:
    text = resources.files("simulator").joinpath(f"schemas/clouds/{cloud_type}.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


__all__ = [
    "CLOUD_TYPES",
    "CloudApp",
    "DocumentSource",
    "attach_to_machine",
    "build_clouds",
    "cloud_schema",
]
