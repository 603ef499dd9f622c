"""Every bundled scenario can fail; that each one passes is shown by pytest collecting the
library itself (``guestsim_scenarios`` in pyproject.toml: one item per scenario)."""

from __future__ import annotations

from pathlib import Path

import pytest

from guestsim.simulator.expectations import check_expectations
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import discover, load_scenario, run_scenario
from tests.builders import library_outcome

LIBRARY = discover([bundled("scenarios")])


def test_the_library_has_the_stories_of_the_foundation() -> None:
    names = {path.stem for path in LIBRARY}
    assert {
        "openstack-happy-path",
        "hostname-reboot-allowed",
        "hostname-reboot-disallowed",
        "plugin-raises",
        "no-metadata-service",
    } <= names


@pytest.mark.parametrize("path", LIBRARY, ids=[p.stem for p in LIBRARY])
def test_bundled_scenario_fails_when_its_boot_count_is_wrong(path: Path) -> None:
    scenario = load_scenario(path)
    result = library_outcome(path).result
    wrong = dict(scenario.data["expect"], boots=result.boot_count + 1)
    assert f"boots: expected {result.boot_count + 1}, got {result.boot_count}" in (
        check_expectations(wrong, result)
    )


def test_happy_path_posts_the_admin_password_encrypted_for_the_instance_key(
    fixtures_dir: Path,
) -> None:
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    outcome = run_scenario(load_scenario(bundled("scenarios") / "clouds/openstack-happy-path.yaml"))
    (cloud,) = outcome.result.clouds
    key = serialization.load_pem_private_key(
        (fixtures_dir / "keys/test-rsa-2048.pem").read_bytes(), password=None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    posted = cloud.model.password  # type: ignore[attr-defined]
    plain = key.decrypt(base64.b64decode(posted), padding.PKCS1v15()).decode()
    admin = outcome.result.state.find_user("Admin")
    assert admin is not None and admin.password == plain


def test_plugin_raises_reports_provisioning_failed_before_the_reboot() -> None:
    outcome = run_scenario(load_scenario(bundled("scenarios") / "failures/plugin-raises.yaml"))
    kinds = [
        e.kind
        for e in outcome.result.trace
        if e.boot == 1 and e.kind in ("provisioning_report", "reboot")
    ]
    assert kinds == ["provisioning_report", "reboot"]


def test_no_metadata_service_waits_in_virtual_time_only() -> None:
    outcome = run_scenario(
        load_scenario(bundled("scenarios") / "failures/no-metadata-service.yaml")
    )
    sleeps = outcome.result.trace.of_kind("sleep")
    http = outcome.result.trace.of_kind("http")
    assert [e.get("seconds") for e in sleeps] == [4.0] * 5 + [3]
    # Three route-check GETs of the root at once, then six tries of the document.
    assert len(http) == 9 and all(e.get("error") == "refused" for e in http)
    assert [e.get("url") for e in http[:3]] == ["http://169.254.169.254/"] * 3
    assert http[-1].t_ms == 20_000
