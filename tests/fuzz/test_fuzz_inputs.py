"""guestsim's own inputs: scenario files (ScenarioError) and conf files (ConfigError)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import strategies as st

from guestsim.agent import config
from guestsim.simulator import errors, scenario
from tests.fuzz.harness import (
    FUZZ_EXAMPLES,
    Target,
    blob,
    encoded,
    module_errors,
    mutated_document,
    run_target,
)

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((REPO / "scenarios").rglob("*.yaml"))[::15][:8]
CONFS = sorted((REPO / "fixtures" / "confs").glob("*.conf"))


def _file_call(folder: Path, name: str, load: Any) -> Any:
    path = folder / name

    def call(data: bytes) -> None:
        path.write_bytes(data)
        load(path)

    return call


def targets(folder: Path) -> list[Target]:
    scenario_texts = [path.read_bytes() for path in SCENARIOS]
    scenario_documents = [yaml.safe_load(text) for text in scenario_texts]
    conf_texts = [path.read_bytes() for path in CONFS]
    conf_texts.append(b"[DEFAULT]\nretry_count = 3\nplugins = a,\n b,\nusername = $groups\n")
    return [
        Target(
            "scenario-file",
            _file_call(folder, "scenario.yaml", scenario.load_scenario),
            module_errors(errors),
            st.one_of(encoded(mutated_document(scenario_documents), "yaml"), blob(scenario_texts)),
        ),
        Target(
            "conf-file",
            _file_call(folder, "agent.conf", config.load_config),
            module_errors(config),
            blob(conf_texts),
        ),
    ]


NAMES = ["scenario-file", "conf-file"]


@pytest.mark.parametrize("name", NAMES)
def test_input_file_fails_only_with_documented_errors(name: str, tmp_path: Path) -> None:
    target = next(target for target in targets(tmp_path) if target.name == name)
    run_target(target, FUZZ_EXAMPLES)
