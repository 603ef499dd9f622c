"""The simulated clouds, one module each: a model plus its routes (moto style).

``CLOUD_TYPES``, ``build_clouds``, ``attach_to_machine`` and ``cloud_schema`` come from
:mod:`.catalog` (see there for the contract of a cloud module); ``CloudApp`` from
:mod:`.base`, ``DocumentSource`` from :mod:`.documents`. Names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guestsim.simulator.clouds.catalog import (
    CLOUD_TYPES,
    attach_to_machine,
    build_clouds,
    cloud_schema,
)
from guestsim.simulator.lazy import lazy_attributes

if TYPE_CHECKING:
    from guestsim.simulator.clouds.base import CloudApp
    from guestsim.simulator.clouds.documents import DocumentSource

__getattr__ = lazy_attributes(__name__, {"CloudApp": ".base", "DocumentSource": ".documents"})


__all__ = [
    "CLOUD_TYPES",
    "CloudApp",
    "DocumentSource",
    "attach_to_machine",
    "build_clouds",
    "cloud_schema",
]
