"""The host's requests settings (proxies, CA bundles) never reach the agent's requests."""

from __future__ import annotations

from pathlib import Path

import pytest

from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import load_scenario, run_scenario

SCENARIO = bundled("scenarios") / "clouds" / "openstack-happy-path.yaml"


@pytest.mark.parametrize("transport", ["inprocess", "loopback"])
def test_a_host_proxy_and_ca_bundle_change_nothing(
    transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = run_scenario(load_scenario(SCENARIO), transport=transport)
    # A proxy nothing listens at: a request sent there would fail the run.
    monkeypatch.setenv("HTTP_PROXY", "http://10.255.255.1:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://10.255.255.1:3128")
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/host-bundle.pem")

    proxied = run_scenario(load_scenario(SCENARIO), transport=transport)

    assert proxied.passed, proxied.failures
    assert proxied.result.trace.to_jsonl() == clean.result.trace.to_jsonl()
    assert "host-bundle" not in proxied.result.trace.to_jsonl()


def test_the_hosts_netrc_credentials_are_not_sent_to_the_guests_clouds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 169.254.169.254 login host-user password host-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))

    outcome = run_scenario(load_scenario(SCENARIO))

    (cloud,) = outcome.result.clouds
    assert cloud.requests
    assert all("Authorization" not in request.headers for request in cloud.requests)
