"""``cloudbaseinit.utils.windows.storage.factory``: the storage manager, over the fake Windows.

Upstream picks the Windows Storage Management API (WMI) on Nano Server and the Virtual Disk
Service everywhere else; the fake Windows answers ``extend_volumes``, ``get_san_policy`` and
``set_san_policy`` the way the manager of its own installation does, so both managers here
hand those calls on. What differs between them and is decided before Windows is asked (WSM
refusing any SAN policy but OnlineAll) is done here, as upstream's manager does it.

The fake writes the storage manager's log lines (which volume is extended, by how much) to
guestsim's agent's storage logger; while an upstream manager calls it they are written under
the logger of the upstream module that writes them on a real guest instead.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from guestsim.simulator.errors import NotModelled
from guestsim.simulator.upstream import guest
from guestsim.simulator.windows.osutils.volumes import STORAGE_LOG

_STORAGE_PACKAGE = "cloudbaseinit.utils.windows.storage"

# Numbered as upstream's storage ``base`` module numbers them (which its SAN policy plugin
# maps the configuration to); repeated so a stand-in never holds a session's module.
SAN_POLICY_ONLINE = 1


class _AsUpstreamLogger(logging.Handler):
    """Hands each record to an upstream logger, named as the upstream module that logs it."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.NOTSET)
        self.target = logging.getLogger(name)

    def emit(self, record: logging.LogRecord) -> None:
        record.name = self.target.name
        if self.target.isEnabledFor(record.levelno):
            self.target.handle(record)


@contextmanager
def _logging_as(name: str) -> Iterator[None]:
    """The fake storage manager's log lines written as upstream module ``name`` writes them."""
    handler = _AsUpstreamLogger(name)
    propagate = STORAGE_LOG.propagate
    STORAGE_LOG.addHandler(handler)
    STORAGE_LOG.propagate = False
    try:
        yield
    finally:
        STORAGE_LOG.propagate = propagate
        STORAGE_LOG.removeHandler(handler)


class _StorageManager:
    """Upstream's storage manager interface (its ``BaseStorageManager``) on the fake Windows."""

    # The upstream module whose logger the manager's lines are written to.
    module = ""

    def extend_volumes(self, volume_indexes: list[int] | None = None) -> None:
        """Grow the chosen volumes (None or empty: all of them) into the free space after
        them; upstream's numbering of ``volume_indexes`` is the manager's own."""
        with _logging_as(f"{_STORAGE_PACKAGE}.{self.module}"):
            guest.current().osutils.extend_volumes(volume_indexes)

    def get_san_policy(self) -> int:
        """The SAN policy for newly found disks, numbered as upstream's ``SAN_POLICY_*``."""
        return int(guest.current().osutils.get_san_policy())

    def set_san_policy(self, san_policy: int) -> None:
        guest.current().osutils.set_san_policy(san_policy)


class VDSStorageManager(_StorageManager):
    """The Virtual Disk Service's manager (every installation but Nano Server)."""

    module = "vds_storage_manager"


class WSMStorageManager(_StorageManager):
    """The Windows Storage Management API's manager (Nano Server, which has no VDS)."""

    module = "wsm_storage_manager"

    def set_san_policy(self, san_policy: int) -> None:
        # Upstream's WSM manager only knows how to bring disks online, and says so before
        # it reaches Windows.
        if san_policy != SAN_POLICY_ONLINE:
            exception = importlib.import_module("cloudbaseinit.exception")
            raise exception.CloudbaseInitException("Only SAN_POLICY_ONLINE is currently supported")
        super().set_san_policy(san_policy)


def get_storage_manager() -> _StorageManager:
    """The storage manager of this installation: WSM on Nano Server, VDS otherwise."""
    if guest.current().osutils.is_nano_server():
        return WSMStorageManager()
    return VDSStorageManager()


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotModelled(f"upstream agent uses storage_factory.{name}")
