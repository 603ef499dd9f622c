"""Errors the simulator raises about itself, the scenario or the world it models."""

from __future__ import annotations


class GuestsimError(Exception):
    """Base of every error guestsim reports to its user as one clear line."""


class ScenarioError(GuestsimError):
    """A scenario file is unreadable or invalid; names the file and the field."""

    def __init__(self, path: str, message: str, field: str | None = None) -> None:
        self.path = path
        self.field = field
        self.message = message
        where = f"{path}: {field}" if field else path
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple[type[ScenarioError], tuple[str, str, str | None]]:
        # Rebuilt from its fields when it crosses from a worker process (guestsim run --jobs).
        return (type(self), (self.path, self.message, self.field))


class NotModelled(BaseException):
    """The agent asked the fake Windows for something guestsim does not model yet.

    Deliberately not an ``Exception``: the agent catches ``Exception`` around plugins, and
    a gap in the simulation must never pass for a plugin failure of the guest.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"not modelled by the simulated Windows: {what}")
