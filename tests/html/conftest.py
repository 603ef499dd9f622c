"""Headless Chromium for the HTML report's tests: the ``chromium`` fixture.

A test that uses it is given the ``host_tools`` marker of the programs the browser needs
(:data:`tests.html.chromium.HOST_TOOLS`) at collection: the host guard (tests/conftest.py)
lets it start chromedriver and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.html.chromium import HOST_TOOLS, Browser, chromium_missing, launch


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.host_tools(*HOST_TOOLS))


@pytest.fixture
def chromium() -> Iterator[Browser]:
    """A headless Chromium of the test's own (skipped, saying why, where Debian's chromium,
    chromium-driver or selenium is missing); ``chromium.open(path)`` returns a Page.

    Its folder (profile, HOME, TMPDIR) is a temporary folder right in the system's: the
    guard lets the test write there, and its path stays short enough for Chromium's
    socket (pytest's tmp_path, deeper, may not be)."""
    reason = chromium_missing()
    if reason is not None:
        pytest.skip(f"chromium missing: {reason}")
    with launch() as browser:
        yield browser
