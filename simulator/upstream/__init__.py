"""Running the published cloudbase-init in the simulated world (``--agent upstream``)."""

from guestsim.simulator.upstream.agent import UpstreamAgent
from guestsim.simulator.upstream.loading import PINNED_VERSION, UpstreamUnavailable, locate

__all__ = ["PINNED_VERSION", "UpstreamAgent", "UpstreamUnavailable", "locate"]
