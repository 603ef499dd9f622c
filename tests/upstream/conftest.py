"""Upstream-mode tests: the published cloudbase-init run in the simulated world.

They need the optional extra (``pip install -e ".[upstream]"``); without it each module
skips, saying so.
"""

from __future__ import annotations

import importlib.util

import pytest

UPSTREAM_MISSING = importlib.util.find_spec("cloudbaseinit") is None
needs_upstream = pytest.mark.skipif(
    UPSTREAM_MISSING,
    reason="the published cloudbase-init is not installed (pip install -e '.[upstream]')",
)
