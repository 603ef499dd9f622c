"""What every part of the fake Windows shares: state, trace, clock hooks, guest files.

``FakeOSUtils`` is assembled from one mixin per feature (network, volumes, scripts ...),
each in ``osutils/<feature>.py`` over that feature's state in ``windows/<feature>.py``;
they all build on this base.
"""

from __future__ import annotations

import datetime as dt
import errno
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from guestsim.agent.osutils import OSUtilsError
from guestsim.agent.resources import ResourceLimits
from guestsim.simulator.clock import DEFAULT_EPOCH
from guestsim.simulator.errors import NotModelled
from guestsim.simulator.trace import Trace
from guestsim.simulator.windows.processes import SystemCommands
from guestsim.simulator.windows.registry import RegistryError, RegType
from guestsim.simulator.windows.state import WindowsState


@dataclass
class MachineHooks:
    """What the fake Windows needs from the machine driving it."""

    sleep: Callable[[float], None]
    reboot: Callable[[], None]
    service_stopped: Callable[[str], None]
    run_as_user: Callable[[Sequence[str], str], int]
    # The guest's clock; a fake Windows no machine drives stays at the default epoch.
    now: Callable[[], dt.datetime] = field(default=lambda: DEFAULT_EPOCH)
    # Told of every OS mutation before it takes effect (the power can fail there).
    side_effect: Callable[[str, str], None] = field(default=lambda kind, call: None)


def redact(secret: str | None) -> str | None:
    # Seeded passwords are deterministic, but a trace is something users paste into bug
    # reports; keep secrets out of it and keep their length, which tests care about.
    return None if secret is None else f"<redacted:{len(secret)}>"


class FakeOSBase:
    def __init__(
        self,
        state: WindowsState,
        trace: Trace,
        rng: random.Random,
        hooks: MachineHooks,
        process_user: tuple[str, str] = ("NT AUTHORITY", "SYSTEM"),
    ) -> None:
        self.state = state
        self.trace = trace
        self.rng = rng
        self.hooks = hooks
        self.process_user = process_user
        self.commands = SystemCommands(state)

    def _mutation(self, call: str, **arguments: Any) -> None:
        self.hooks.side_effect("os", call)
        self.trace.emit("os", call=call, **arguments)

    def _part_of_the_call(self, within: str, call: str, **arguments: Any) -> None:
        """Trace a change Windows makes inside the call ``within`` (``NetUserAdd`` joining
        the new user to Users, a first logon creating the profile): one side effect with
        that call, so the power cannot fail between them."""
        self.trace.emit("os", call=call, part_of=within, **arguments)

    @staticmethod
    def _not_modelled(method: str) -> NoReturn:
        raise NotModelled(f"OSUtils.{method}")

    def _guest_path(self, path: str) -> str:
        # A volume with a drive letter is one file system reachable by two names.
        lowered = path.lower()
        for volume in self.state.volumes:
            if volume.letter and lowered.startswith(volume.path.lower()):
                return volume.root + path[len(volume.path) :]
        return path

    def path_exists(self, path: str) -> bool:
        return self.state.files.exists(self._guest_path(path))

    def is_dir(self, path: str) -> bool:
        return self.state.files.is_dir(self._guest_path(path))

    def list_dir(self, path: str) -> list[str]:
        return self.state.files.list_dir(self._guest_path(path))

    def make_dirs(self, path: str) -> None:
        if not self.state.files.is_dir(path):
            self._mutation("make_dirs", path=path)
        self.state.files.make_dirs(path)

    def read_file(self, path: str) -> bytes:
        return self.state.files.read(self._guest_path(path))

    def write_file(self, path: str, data: bytes, append: bool = False) -> None:
        self.state.files.check_modelled(path)  # a device or share stops before any trace
        self._mutation("write_file", path=path, size=len(data), append=append)
        files = self.state.files
        growth = len(data) if append else len(data) - files.size_of(path)
        if files.used_bytes + growth > self.state.resource_limits.guest_file_bytes:
            # ERROR_DISK_FULL, as Python on Windows reports it; nothing is written.
            raise OSError(errno.ENOSPC, "There is not enough space on the disk", path)
        files.write(path, data, append)

    def remove_path(self, path: str) -> None:
        self.state.files.check_modelled(path)
        self._mutation("remove_path", path=path)
        self.state.files.remove(path)

    def sleep(self, seconds: float) -> None:
        self.hooks.sleep(seconds)

    def utc_now(self) -> dt.datetime:
        return self.hooks.now()

    def guest_now(self) -> dt.datetime:
        """Guest time to the second, as Windows stamps certificates."""
        return self.hooks.now().replace(microsecond=0)

    def random_bytes(self, count: int) -> bytes:
        return self.rng.randbytes(count)

    def get_resource_limits(self) -> ResourceLimits:
        return self.state.resource_limits

    def check_os_version(self, major: int, minor: int, build: int = 0) -> bool:
        return self.state.version.tuple >= (major, minor, build)

    def get_registry_value(self, key_path: str, value_name: str) -> Any:
        try:
            return self.state.registry.get_value(key_path, value_name).data
        except RegistryError:
            return None

    def set_registry_value(
        self, key_path: str, value_name: str, value: Any, value_type: str, create: bool = False
    ) -> None:
        registry = self.state.registry
        if create:
            registry.create_key(key_path)
        self._mutation(
            "set_registry_value", key=key_path, name=value_name, type=value_type, data=value
        )
        try:
            registry.set_value(key_path, value_name, value, RegType(value_type))
        except RegistryError as ex:
            raise OSUtilsError(str(ex)) from ex
