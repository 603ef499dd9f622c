"""Stand-ins for the published agent's Windows-only modules, over the fake Windows.

Each module here replaces the upstream module of the same role (listed in
``guestsim.simulator.upstream.loading.STANDINS``) while an upstream session is open: the
same public names, answered by the fake Windows of the agent process that is running
(:func:`guestsim.simulator.upstream.guest.current`). Only what upstream's plugins and
services call is present; a name they reach for and this does not have stops the run as
``not_modelled``.
"""
