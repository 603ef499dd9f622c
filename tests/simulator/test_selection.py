"""Selecting scenarios with -k and --shard."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from guestsim.simulator.cli import cli
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import discover
from guestsim.simulator.selection import SelectionError, matches_keywords, parse_shard, shard


@pytest.mark.parametrize(
    ("expression", "words", "expected"),
    [
        ("cloudstack", "clouds/cloudstack-happy-path", True),
        ("CloudStack", "clouds/cloudstack-happy-path", True),
        ("ec2", "clouds/cloudstack-happy-path", False),
        ("clouds and not azure", "clouds/azure-happy-path", False),
        ("clouds and not azure", "clouds/ec2-happy-path", True),
        ("drives and (vfat or nocloud)", "drives/nocloud-cidata-iso", True),
        ("not not boot", "boot/plugin-raises", True),
        ("a or b and c", "x/a", True),
    ],
)
def test_keyword_expressions(expression: str, words: str, expected: bool) -> None:
    assert matches_keywords(expression, words) is expected


@pytest.mark.parametrize("expression", ["", "a and", "(a", "a )", "and a", "a b"])
def test_broken_keyword_expressions_are_usage_errors(expression: str) -> None:
    with pytest.raises(SelectionError):
        matches_keywords(expression, "x")


@given(count=st.integers(min_value=1, max_value=9))
def test_shards_cover_every_scenario_exactly_once(count: int) -> None:
    paths = discover([bundled("scenarios")])
    slices = [shard(paths, index, count) for index in range(1, count + 1)]
    flat = [path for piece in slices for path in piece]
    assert sorted(flat) == sorted(paths)
    assert len(flat) == len(set(flat))
    assert max(map(len, slices)) - min(map(len, slices)) <= 1


def test_shards_do_not_depend_on_the_order_given() -> None:
    paths = [Path(f"s/{name}.yaml") for name in "edcba"]
    assert shard(paths, 1, 2) == shard(list(reversed(paths)), 1, 2)


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "x", "1-2"])
def test_bad_shards(text: str) -> None:
    with pytest.raises(SelectionError):
        parse_shard(text)


def test_run_selects_with_k_and_shard() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["run", "-k", "boot and hostname"])
    assert result.exit_code == 0
    assert [line.split()[1] for line in result.output.splitlines()[:-1]] == [
        "reboots/hostname-reboot-allowed",
        "reboots/hostname-reboot-disallowed",
    ]
    # Selecting nothing is not bad input (an over-sharded CI matrix): it says so, exit 0.
    assert runner.invoke(cli, ["run", "-k", "nothing-matches-this"]).exit_code == 0
    assert runner.invoke(cli, ["run", "--shard", "9/3"]).exit_code == 2
