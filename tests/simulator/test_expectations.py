"""The generic ``expect.state`` check: paths into the final machine state."""

from __future__ import annotations

from guestsim.simulator.expectations import check_expectations
from tests.builders import openstack_machine


def run_with(state: dict[str, object]) -> list[str]:
    machine, _ = openstack_machine(("hostname",))
    result = machine.run()
    return check_expectations({"boots": 2, "state": state}, result)


def test_paths_reach_attributes_keys_and_indexes() -> None:
    assert (
        run_with(
            {
                "computer_name": "web-01",
                "users.0.name": "Administrator",
                "services.0": {
                    "name": "cloudbase-init",
                    "display_name": "Cloudbase-Init",
                    "start_mode": "Automatic",
                    "account": "LocalSystem",
                    "binary_path": (
                        "C:\\Program Files\\Cloudbase Solutions\\Cloudbase-Init\\Python\\Scripts\\"
                        "cloudbase-init.exe"
                    ),
                    "triggers": [],
                    "status": "Stopped",
                    "boot_status": None,
                },
                "timezone.zone_id": "UTC",
            }
        )
        == []
    )


def test_a_wrong_value_and_a_missing_path_are_reported() -> None:
    assert run_with({"computer_name": "other", "no.such.field": 1}) == [
        "state.computer_name: expected 'other', got 'web-01'",
        "state.no.such.field: no such field in the final machine state",
    ]
