"""What can go wrong on the wire, and when: faults declared by a scenario.

A fault matches requests by path glob (and optionally host and method). It can answer
with a status instead of the cloud, mangle the cloud's body, delay the answer (in
virtual time), refuse or reset the connection, or never answer at all. ``first: N``
limits it to the first N matching requests, after which the cloud recovers.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from guestsim.simulator.clouds.base import SimResponse

# Upstream sets no HTTP timeout; an answer later than this (virtual) budget is reported
# as a hang instead of being waited for.
DEFAULT_HANG_BUDGET_S = 600.0


class AgentHung(BaseException):
    """The agent waits for an answer that never comes; the machine reports a finding.

    A ``BaseException`` so that no ``except Exception`` in the agent swallows it.
    """

    def __init__(self, method: str, url: str) -> None:
        self.method = method
        self.url = url
        super().__init__(f"agent hung on {method} {url}")


@dataclass(frozen=True)
class Fault:
    path: str
    host: str | None = None
    method: str | None = None
    status: int | None = None
    delay: float = 0.0
    error: str | None = None  # "refused", "reset" or "hang"
    body: str | None = None  # "truncated", "malformed" or "empty"
    first: int | None = None

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Fault:
        return cls(**dict(spec))

    def matches(self, method: str, host: str, path: str) -> bool:
        return (
            fnmatch.fnmatchcase(path, self.path)
            and (self.host is None or fnmatch.fnmatchcase(host, self.host))
            and (self.method is None or self.method == method)
        )

    def describe(self) -> dict[str, Any]:
        return {
            name: value
            for name, value in (
                ("status", self.status),
                ("delay", self.delay or None),
                ("error", self.error),
                ("body", self.body),
            )
            if value is not None
        }


class FaultPlan:
    """The scenario's faults and how many requests each has already hit."""

    def __init__(self, faults: Sequence[Fault] = ()) -> None:
        self.faults = list(faults)
        self._hits = [0] * len(self.faults)

    def match(self, method: str, host: str, path: str) -> tuple[int, Fault] | None:
        """The first fault still active for this request, counting the hit."""
        for index, fault in enumerate(self.faults):
            if not fault.matches(method, host, path):
                continue
            if fault.first is not None and self._hits[index] >= fault.first:
                continue
            self._hits[index] += 1
            return index, fault
        return None


def mangle(response: SimResponse, how: str) -> SimResponse:
    if how == "truncated":
        body = response.body[: len(response.body) // 2]
    elif how == "malformed":
        body = b"\x00<<not what this endpoint serves>>\xff"
    else:
        body = b""
    return SimResponse(response.status, body, response.headers)


_FAULT_FIELDS: dict[str, type] = {
    "host": str,
    "method": str,
    "status": int,
    "delay": float,
    "error": str,
    "body": str,
    "first": int,
}
_CHOICES = {"error": ("refused", "reset", "hang"), "body": ("truncated", "malformed", "empty")}


def parse_fault(text: str) -> Fault:
    """``PATH_GLOB[:name=value,...]``, e.g. ``/openstack/*:status=503,first=2``."""
    path, _, options = text.partition(":")
    if not path.startswith("/") and not path.startswith("*"):
        raise ValueError(f"fault {text!r}: the path glob must start with '/' or '*'")
    fields: dict[str, Any] = {"path": path}
    for item in filter(None, options.split(",")):
        name, sep, value = item.partition("=")
        if not sep or name not in _FAULT_FIELDS:
            known = ", ".join(_FAULT_FIELDS)
            raise ValueError(f"fault {text!r}: {item!r} is not name=value with a name in {known}")
        try:
            fields[name] = _FAULT_FIELDS[name](value)
        except ValueError:
            raise ValueError(
                f"fault {text!r}: {name} must be {_FAULT_FIELDS[name].__name__}"
            ) from None
        if name in _CHOICES and value not in _CHOICES[name]:
            raise ValueError(f"fault {text!r}: {name} must be one of {', '.join(_CHOICES[name])}")
    return Fault(**fields)
