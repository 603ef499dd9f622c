"""The guest resource budget with the published agent (issue 15): its gzip reads and its
Jinja templates are bounded by the same limits as guestsim's agent, with the same typed
errors."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path

import pytest

from guestsim.simulator.scenario import load_scenario, run_scenario
from tests import budget_cases
from tests.upstream.conftest import UPSTREAM_MISSING

pytestmark = pytest.mark.skipif(
    UPSTREAM_MISSING,
    reason="the published cloudbase-init is not installed (pip install -e '.[upstream]')",
)


@pytest.mark.subprocess
@pytest.mark.parametrize("case", budget_cases.CASES)
def test_a_resource_case_ends_fast_small_and_typed(case: str, tmp_path: Path) -> None:
    measured = budget_cases.run_measured(budget_cases.write_case(case, "upstream", tmp_path))

    assert measured["failures"] == []
    expected = budget_cases.expected_error(case)
    # Upstream's metadata factory only logs a service that fails to load.
    assert any(expected in line for line in measured["errors"] + measured["log"]), measured
    assert measured["seconds"] < budget_cases.MAX_SECONDS, measured
    assert measured["peak_mib"] < budget_cases.MAX_PEAK_MIB, measured


def test_write_files_gzip_and_a_small_template_budget_bound_the_published_agent(
    tmp_path: Path,
) -> None:
    content = base64.b64encode(gzip.compress(bytes(5000))).decode()
    path = tmp_path / "budget.yaml"
    path.write_text(
        f"""
description: a small budget for the published agent
budget: {{decompressed_bytes: 4000, template_work: 100}}
cloud:
  type: openstack
  user_data: |
    ## template: jinja
    #cloud-config
    write_files:
      - {{path: 'C:\\\\unpacked.bin', encoding: gz+b64, content: {content}}}
    {{% for i in range(20) %}}{{% endfor %}}
agent:
  program: upstream
  options:
    DEFAULT:
      metadata_services: [cloudbaseinit.metadata.services.httpservice.HttpService]
      plugins: [cloudbaseinit.plugins.common.userdata.UserDataPlugin]
expect:
  boots: 1
  files: {{'C:\\\\unpacked.bin': {{exists: false}}}}
  log: {{present: ["*DecompressionLimitExceeded*4000 bytes*"]}}
"""
    )
    outcome = run_scenario(load_scenario(path))

    assert outcome.passed, outcome.failures
