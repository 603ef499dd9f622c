"""WindowsAutoUpdatesPlugin: what it asks Windows Update for, by Windows version, and the
random install hour it draws on the versions that have one.

Upstream sets NotificationLevel 4 (scheduled installation) or 1 (disabled) and saves; below
Windows 8 / Server 2012 (6.2) it also draws an install hour from 1 to 5, every hour equally
likely. The hour comes from the seeded guest randomness, so it is reproducible per seed.
"""

from __future__ import annotations

from guestsim.agent.plugins.updates import random_install_hour
from guestsim.simulator.machine import RunResult
from guestsim.simulator.windows.defaults import default_windows_state
from tests.agent.test_platform_plugins import UPDATES, done, run, windows
from tests.builders import standalone_osutils


def updates_calls(result: RunResult) -> list[dict[str, object]]:
    return [
        dict(e.fields)
        for e in result.trace.of_kind("os")
        if e.get("call") in ("set_automatic_updates_setting", "save_automatic_updates_settings")
    ]


def test_windows_8_and_later_get_no_install_hour() -> None:
    result = run(UPDATES, {"enable_automatic_updates": True}, state=windows("6.2.9200"))

    done(result, UPDATES)
    assert updates_calls(result) == [
        {"call": "set_automatic_updates_setting", "name": "NotificationLevel", "value": 4},
        {"call": "save_automatic_updates_settings", "settings": {"NotificationLevel": 4}},
    ]


def test_disabling_sets_notification_level_1_by_its_exact_name_and_saves() -> None:
    result = run(UPDATES, {"enable_automatic_updates": False}, state=windows("6.1.7601"))

    done(result, UPDATES)
    assert updates_calls(result) == [
        {"call": "set_automatic_updates_setting", "name": "NotificationLevel", "value": 1},
        {"call": "save_automatic_updates_settings", "settings": {"NotificationLevel": 1}},
    ]


STATE = default_windows_state()  # only the randomness is used


def expected_hour(seed: int) -> int:
    """The first seeded byte below 255 (255 would favour hour 1), mod 5, plus 1."""
    draws = standalone_osutils([], STATE, seed)
    while True:
        byte = draws.random_bytes(1)[0]
        if byte < 255:
            return 1 + byte % 5


def test_install_hour_is_uniform_over_1_to_5_and_reproducible_per_seed() -> None:
    seeds = range(1500)
    hours = [random_install_hour(standalone_osutils([], STATE, seed)) for seed in seeds]

    assert hours == [expected_hour(seed) for seed in seeds]
    assert sorted(set(hours)) == [1, 2, 3, 4, 5]
    # Each hour comes up about a fifth of the time.
    assert all(abs(hours.count(hour) - 300) < 60 for hour in range(1, 6))
