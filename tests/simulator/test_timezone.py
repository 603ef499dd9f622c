"""The fake Windows's time zone: IANA names mapped with tzlocal's table, traced, kept."""

from __future__ import annotations

import pytest

from guestsim.agent.osutils import OSUtilsError
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.timezone import DEFAULT_WINDOWS_ZONE
from tests.builders import standalone_osutils


def test_a_fresh_machine_is_in_utc() -> None:
    state = default_windows_state()
    assert state.timezone.zone_id == DEFAULT_WINDOWS_ZONE == "UTC"
    assert state.timezone.requested_name is None


@pytest.mark.parametrize(
    ("iana", "windows"),
    [
        ("Europe/Bucharest", "GTB Standard Time"),
        ("America/New_York", "Eastern Standard Time"),
        ("Asia/Tokyo", "Tokyo Standard Time"),
        ("Etc/UTC", "UTC"),
        ("UTC", "UTC"),
        ("Australia/Sydney", "AUS Eastern Standard Time"),
    ],
)
def test_an_iana_name_sets_its_windows_zone(iana: str, windows: str) -> None:
    osutils = standalone_osutils([])
    osutils.set_timezone(iana)
    assert osutils.state.timezone.zone_id == windows
    assert osutils.state.timezone.requested_name == iana
    [event] = osutils.trace.of_kind("os")
    assert event.get("call") == "set_timezone"
    assert event.get("timezone") == iana
    assert event.get("zone_id") == windows


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "GTB Standard Time", "europe/bucharest"])
def test_an_unknown_name_raises_and_changes_nothing(name: str) -> None:
    osutils = standalone_osutils([])
    with pytest.raises(OSUtilsError, match="unrecognised"):
        osutils.set_timezone(name)
    assert osutils.state.timezone.zone_id == "UTC"
    assert osutils.state.timezone.requested_name is None
    assert osutils.trace.of_kind("os") == []


def test_an_empty_name_is_whatever_the_table_says() -> None:
    # tzlocal's table maps "" (a CLDR artefact); the real agent looks names up in the
    # same table, so an empty cloud-config timezone lands there too.
    osutils = standalone_osutils([])
    osutils.set_timezone("")
    assert osutils.state.timezone.zone_id == "Central Standard Time (Mexico)"


def test_a_value_that_is_not_a_name_raises() -> None:
    osutils = standalone_osutils([])
    with pytest.raises(OSUtilsError):
        osutils.set_timezone(3)  # type: ignore[arg-type]
    assert osutils.state.timezone.zone_id == "UTC"


def test_the_zone_survives_a_reboot() -> None:
    osutils = standalone_osutils([])
    osutils.set_timezone("Europe/Berlin")
    osutils.state.power_on()
    assert osutils.state.timezone.zone_id == "W. Europe Standard Time"
