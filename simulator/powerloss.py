"""Power loss at a side effect: what a cut is, and the record of a run's side effects.

A *side effect* is anything that outlives a power cut: an OS mutation the agent makes
through the fake Windows (every ``os`` trace event: registry values, users, passwords,
services, files, network settings, processes ...) or a request after which the cloud's
model differs (a posted password, a reported state, an acknowledged password, an issued
token). They are numbered 1, 2, ... in the order they happen, across boots.

The model of a cut at side effect K, and why it is fair to Windows:

* Effects 1..K-1 persist: each is one call that Windows completes (a registry value is
  written, a user created) before the next one starts, and NTFS and the registry hives
  are journalled, so a completed call survives a cut.
* Effect K does not happen: the power fails as it is about to take effect. Its other
  outcome, K fully applied, is the cut at K+1: nothing that outlives a cut happens between
  two side effects, so "K applied, then the power fails" leaves the same machine. The
  explorer therefore runs every cut point once, plus one cut after the last effect.
* A request the cloud never got is not in its request log; one it got stays there.
* Everything volatile is lost: the agent's process and memory, running services (they
  start again by their start mode), routes added without ``-p``, the temporary folder,
  DHCP leases. A pending computer name takes effect at the next power-on, as after a
  clean reboot. The cloud is not powered off: what it holds stays.
* The machine then boots again (one more boot than the scenario's own limit is allowed)
  and the agent runs on until it stops, crashes, hangs or loops.
"""

from __future__ import annotations

from dataclasses import dataclass

SIDE_EFFECT_KINDS = ("os", "cloud")


class PowerLost(BaseException):
    """The power failed at a side effect; the machine boots again.

    A ``BaseException`` so that no ``except Exception`` in the agent survives a power cut.
    """

    def __init__(self, index: int) -> None:
        super().__init__(f"power lost at side effect {index}")
        self.index = index


@dataclass(frozen=True)
class SideEffect:
    index: int  # 1-based, in the order they happened across boots
    boot: int
    kind: str  # "os" or "cloud"
    call: str  # the OS call ("set_registry_value"), or "POST /openstack/latest/password"
    seq: int  # the trace position where it happened


def parse_cut(text: str) -> int:
    """A cut point as users write it (``--power-loss-at 12``): a positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"a cut point is a side-effect number (1, 2, ...), not {text!r}") from None
    if value < 1:
        raise ValueError(f"a cut point is a side-effect number from 1 on, not {value}")
    return value
