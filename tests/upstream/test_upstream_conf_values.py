"""A real conf's values reach the published agent exactly as guestsim's reader resolved them.

guestsim reads the conf file (trailing commas, ``$`` references and escapes, as oslo.config
does) and hands the values to upstream's oslo.config object as overrides, which oslo.config
substitutes again: they must come out unchanged.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guestsim.simulator.scenario import load_scenario, run_scenario
from guestsim.simulator.upstream import UpstreamAgent
from tests.upstream.conftest import needs_upstream

pytestmark = needs_upstream

P = "cloudbaseinit.plugins."

CONF = f"""\
[DEFAULT]
kms_host = ops
username = ${{kms_host}}\\$admin
groups = Administrators,
metadata_services = cloudbaseinit.metadata.services.httpservice.HttpService,
plugins = {P}windows.createuser.CreateUserPlugin,
    {P}common.setuserpassword.SetUserPasswordPlugin,
"""

SCENARIO = """\
description: a real conf with trailing commas and $ references
cloud:
  type: openstack
  meta_data: {uuid: 0b7a5d5e-2f6b-4d4b-9a57-2d3c9c6e1a01, hostname: web}
agent:
  conf: cloudbase-init.conf
expect:
  boots: 1
  metadata_service: HttpService
  users:
    ops$admin: {exists: true, groups: [Administrators], has_password: true}
"""


@pytest.mark.parametrize("program", ["guestsim", "upstream"])
def test_both_agents_read_trailing_commas_and_references_alike(
    tmp_path: Path, program: str
) -> None:
    (tmp_path / "cloudbase-init.conf").write_text(CONF, encoding="utf-8")
    (tmp_path / "scenario.yaml").write_text(SCENARIO, encoding="utf-8")
    scenario = load_scenario(tmp_path / "scenario.yaml")
    assert scenario.conf.get("username") == "ops$admin"

    outcome = run_scenario(scenario, agent=UpstreamAgent() if program == "upstream" else None)

    assert outcome.failures == []
    errors = [line for line in outcome.result.log if " ERROR " in line]
    assert errors == []


_TEXT = st.lists(st.sampled_from(["a", "$", "\\", "{", "}", "kms_host", "$$", "\\$"])).map("".join)


@settings(max_examples=300, deadline=None)
@given(_TEXT, st.lists(_TEXT, max_size=3))
def test_an_override_comes_out_of_oslo_config_as_it_went_in(text: str, items: list[str]) -> None:
    from oslo_config import cfg

    from guestsim.simulator.upstream.agent import _oslo_value

    conf = cfg.ConfigOpts()
    conf.register_opts([cfg.StrOpt("kms_host"), cfg.ListOpt("groups")])
    conf([], default_config_files=[], default_config_dirs=[], use_env=False)
    conf.set_override("kms_host", _oslo_value(text))
    conf.set_override("groups", _oslo_value(items))
    assert conf.kms_host == text
    assert conf.groups == items
