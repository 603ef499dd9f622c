"""Windows features beyond the core OS utilities, one Protocol per feature.

Upstream reaches these through separate helpers (storage manager, licensing, WinRM
configuration, certificate store, BCD, automatic updates, RDP, power settings). Here they
are parts of the one OS boundary: :class:`guestsim.agent.osutils.OSUtils` inherits every Protocol
below, so the agent still asks a single object for everything.
"""
