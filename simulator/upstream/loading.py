"""Importing the published agent for one run, with the guest standing in for the host.

The published agent is ordinary Python written for a Windows host: its leaf modules call
Win32 through ``ctypes``/pywin32/WMI, and the rest reach the machine through ``os``,
``open``, ``time``, ``socket``, ``urllib`` and ``sys.platform``. For the length of a
session an import hook

* serves each Windows leaf module (``cloudbaseinit.utils.windows.*`` and the two other
  Windows-only modules) from :mod:`guestsim.simulator.upstream.standins`, backed by the
  fake Windows of the agent process that is running;
* gives every other ``cloudbaseinit`` module guest-backed ``os``, ``open``, ``sys``,
  ``time``... in its globals (:mod:`guestsim.simulator.upstream.guest`), so a file the
  agent writes lands on the guest drive and a sleep passes virtual time;
* answers any Windows-only library (``winreg``, ``wmi``, ``win32com``...) that something
  still imports with a module whose every use stops the run as ``not_modelled``.

Leaving the session takes all of it out of ``sys.modules`` again: the next session (perhaps
of another source tree) imports afresh, and nothing outside a run sees any of it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import sys
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from guestsim.simulator.errors import GuestsimError, NotModelled

PACKAGE = "cloudbaseinit"
PINNED_VERSION = "1.1.9"

# Upstream module -> guestsim stand-in (a module under guestsim.simulator.upstream.standins).
STANDINS: dict[str, str] = {
    "cloudbaseinit.osutils.windows": "osutils_windows",
    "cloudbaseinit.metadata.services.osconfigdrive.windows": "configdrive_windows",
    "cloudbaseinit.utils.windows.bootconfig": "bootconfig",
    "cloudbaseinit.utils.windows.disk": "disk",
    "cloudbaseinit.utils.windows.licensing": "licensing",
    "cloudbaseinit.utils.windows.powercfg": "powercfg",
    "cloudbaseinit.utils.windows.rdp": "rdp",
    "cloudbaseinit.utils.windows.security": "security",
    "cloudbaseinit.utils.windows.storage.factory": "storage_factory",
    "cloudbaseinit.utils.windows.updates": "updates",
    "cloudbaseinit.utils.windows.winrmconfig": "winrmconfig",
    "cloudbaseinit.utils.windows.x509": "x509",
    "winreg": "winreg",
}

# Host libraries only a Windows host has. Imported by a module without a stand-in, each
# answers every use with not_modelled, naming what was used.
WINDOWS_ONLY = (
    "comtypes",
    "mi",
    "pythoncom",
    "pywintypes",
    "win32api",
    "win32com",
    "win32con",
    "win32net",
    "win32netcon",
    "win32process",
    "win32security",
    "win32service",
    "winerror",
    "winioctlcon",
    "wmi",
)

_STANDIN_PACKAGE = "guestsim.simulator.upstream.standins"


class UpstreamUnavailable(GuestsimError):
    """The published agent is not installed (or not in the given source folder)."""


class _WindowsOnlyModule(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise NotModelled(f"upstream agent uses {self.__name__}.{name}")


class _StandInLoader(importlib.abc.Loader):
    def __init__(self, standin: str | None) -> None:
        self.standin = standin

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        if self.standin is None:
            return _WindowsOnlyModule(spec.name)
        return types.ModuleType(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        if self.standin is None:
            return
        source = importlib.import_module(f"{_STANDIN_PACKAGE}.{self.standin}")
        for name, value in vars(source).items():
            if not name.startswith("__") or name == "__getattr__":
                setattr(module, name, value)
        module.__doc__ = source.__doc__


class _GuestBoundLoader(importlib.abc.Loader):
    """Runs the real module, then points its host-facing globals at the guest."""

    def __init__(self, real: importlib.abc.Loader) -> None:
        self.real = real

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.real.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self.real.exec_module(module)
        from guestsim.simulator.upstream import guest

        guest.bind_module(module)


class _UpstreamFinder(importlib.abc.MetaPathFinder):
    def __init__(self, search_path: Sequence[str]) -> None:
        self.search_path = list(search_path)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        top = fullname.partition(".")[0]
        if fullname in STANDINS:
            return importlib.util.spec_from_loader(fullname, _StandInLoader(STANDINS[fullname]))
        if top in WINDOWS_ONLY:
            return importlib.util.spec_from_loader(fullname, _StandInLoader(None), is_package=True)
        if top != PACKAGE:
            return None
        where = self.search_path if fullname == PACKAGE else path
        spec = importlib.machinery.PathFinder.find_spec(fullname, where)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _GuestBoundLoader(spec.loader)
        return spec


def _ours(name: str) -> bool:
    top = name.partition(".")[0]
    return top == PACKAGE or top in WINDOWS_ONLY or name in STANDINS


def locate(source: str | Path | None = None) -> Path:
    """The folder holding the ``cloudbaseinit`` package to run: ``source`` (a checkout or a
    fork; either the package folder's parent or the package folder itself) or the installed
    distribution."""
    if source is not None:
        root = Path(source)
        if root.name == PACKAGE and (root / "__init__.py").is_file():
            return root.parent
        if (root / PACKAGE / "__init__.py").is_file():
            return root
        raise UpstreamUnavailable(
            f"--agent-source {source}: no {PACKAGE} package there (expected "
            f"{root / PACKAGE / '__init__.py'})"
        )
    spec = importlib.machinery.PathFinder.find_spec(PACKAGE, sys.path)
    if spec is None or not spec.submodule_search_locations:
        raise UpstreamUnavailable(
            "the published cloudbase-init is not installed: "
            f'pip install "guestsim[upstream]" (cloudbase-init=={PINNED_VERSION})'
        )
    return Path(next(iter(spec.submodule_search_locations))).parent


@contextmanager
def upstream_modules(source: str | Path | None = None) -> Iterator[types.ModuleType]:
    """The upstream package imported through the guest-backed hook; everything it brought
    in is taken out of ``sys.modules`` again on the way out."""
    root = locate(source)
    if any(_ours(name) for name in sys.modules):
        raise GuestsimError("an upstream agent session is already open in this process")
    from oslo_config import cfg

    finder = _UpstreamFinder([str(root)])
    # Upstream registers its options on oslo.config's global object at import; each
    # session gets a fresh one, so a fork's different defaults never collide with ours.
    global_conf = cfg.CONF
    # oslo.log's option registration hangs a stderr handler on the root logger; upstream's
    # records go to the machine's log only, and the host's logging is left as it was.
    root_logger = logging.getLogger()
    root_handlers = list(root_logger.handlers)
    upstream_logger = logging.getLogger(PACKAGE)
    propagate = upstream_logger.propagate
    try:
        sys.meta_path.insert(0, finder)
        cfg.CONF = cfg.ConfigOpts()
        upstream_logger.propagate = False
        yield importlib.import_module(PACKAGE)
    finally:
        upstream_logger.propagate = propagate
        root_logger.handlers[:] = root_handlers
        cfg.CONF = global_conf
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)
        for name in [name for name in sys.modules if _ours(name)]:
            del sys.modules[name]
        importlib.invalidate_caches()
