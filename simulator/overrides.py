"""Running the scenario library with a user's own image configuration.

Image builders bring their ``cloudbase-init.conf`` (and maybe the unattend one), their
local scripts and their user data; every scenario that declares the part ``overridable``
runs with them instead of its own, keeping its cloud, faults and machine, and keeping
the few options its story is about (``agent.keep``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from guestsim.agent.config import AgentConfig, ConfigError, load_config
from guestsim.simulator.errors import GuestsimError

OVERRIDABLE_PARTS = ("conf", "user_data", "local_scripts")


class OverrideError(GuestsimError):
    """A file given on the command line to replace part of the scenarios cannot be used."""


@dataclass(frozen=True)
class Overrides:
    conf: AgentConfig | None = None
    unattend_conf: AgentConfig | None = None
    user_data: bytes | None = None
    local_scripts: dict[str, bytes] = field(default_factory=dict)

    @property
    def parts(self) -> tuple[str, ...]:
        """The overridable parts these overrides replace."""
        wanted = {
            "conf": self.conf is not None or self.unattend_conf is not None,
            "user_data": self.user_data is not None,
            "local_scripts": bool(self.local_scripts),
        }
        return tuple(part for part in OVERRIDABLE_PARTS if wanted[part])

    def __bool__(self) -> bool:
        return bool(self.parts)


def load_overrides(
    conf: Path | None = None,
    unattend_conf: Path | None = None,
    user_data: Path | None = None,
    local_scripts: Path | None = None,
) -> Overrides:
    try:
        loaded_conf = load_config(conf) if conf else None
        loaded_unattend = load_config(unattend_conf) if unattend_conf else None
    except ConfigError as ex:
        raise OverrideError(str(ex)) from ex
    data = None
    if user_data is not None:
        try:
            data = user_data.read_bytes()
        except OSError as ex:
            raise OverrideError(f"{user_data}: cannot read: {ex.strerror or ex}") from ex
    scripts: dict[str, bytes] = {}
    if local_scripts is not None:
        if not local_scripts.is_dir():
            raise OverrideError(f"{local_scripts}: not a folder")
        # The agent lists regular files only, without recursing; so do we.
        for path in sorted(local_scripts.iterdir()):
            if path.is_file():
                scripts[path.name] = path.read_bytes()
    return Overrides(loaded_conf, loaded_unattend, data, scripts)
