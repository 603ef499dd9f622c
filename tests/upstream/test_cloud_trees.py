"""The published agent against clouds served from wire-layout folders (``cloud.tree``) and a
config drive built from a folder: the same stories pass, and the same way as guestsim's."""

from __future__ import annotations

from pathlib import Path

import pytest

from guestsim.simulator.clouds import CLOUD_TYPES
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import load_scenario, run_scenario
from tests.upstream.conftest import needs_upstream

pytestmark = needs_upstream

TREE_SCENARIOS = Path(__file__).resolve().parents[1] / "simulator" / "cloud-trees"
LIBRARY_STORIES = [
    bundled("scenarios") / "clouds" / "ec2-metadata-folder.yaml",
    bundled("scenarios") / "config-drives" / "configdrive-from-folder.yaml",
]


@pytest.mark.parametrize("cloud", CLOUD_TYPES)
def test_the_published_agent_passes_every_tree_cloud_story(cloud: str) -> None:
    outcome = run_scenario(load_scenario(TREE_SCENARIOS / f"{cloud}.yaml").with_agent("upstream"))
    assert outcome.failures == []
    assert any("cloudbaseinit.init" in line for line in outcome.result.log)


@pytest.mark.parametrize("path", LIBRARY_STORIES, ids=[p.stem for p in LIBRARY_STORIES])
def test_the_published_agent_passes_the_folder_stories_of_the_library(path: Path) -> None:
    upstream = run_scenario(load_scenario(path).with_agent("upstream"))
    assert upstream.failures == []
    ours = run_scenario(load_scenario(path))
    assert ours.result.state.computer_name == upstream.result.state.computer_name
