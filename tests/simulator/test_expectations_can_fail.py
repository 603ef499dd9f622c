"""Every expectation the library uses can fail: perturbed on a real run, it fails on that key.

Each bundled scenario runs once; hypothesis then draws, per expectation key, a scenario that
declares the key and a contradicting value for it, and the checker must report a failure
naming that key (and only that key) — so no expectation of the library can pass whatever
the agent did.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guestsim.simulator.expectations import check_expectations
from guestsim.simulator.machine import RunResult
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import discover, load_scenario, run_scenario

LIBRARY = discover([bundled("scenarios")])

# What a failure about each key starts with.
PREFIXES = {
    "outcome": "outcome:",
    "boots": "boots:",
    "findings": "findings:",
    "computer_name": "computer_name:",
    "pending_computer_name": "pending_computer_name:",
    "metadata_service": "metadata_service:",
    "instance_id": "plugins.",  # the instance id only says where plugin statuses are read
    "plugins": "plugins.",
    "plugin_runs": "plugin_runs.",
    "failed_plugins": "failed_plugins:",
    "provisioning": "provisioning:",
    "users": "users.",
    "adapters": "adapters.",
    "services": "services.",
    "ntp_peers": "ntp_peers:",
    "registry": "registry ",
    "state": "state.",
    "requests": "requests[",
    "script_runs": "script_runs[",
    "files": "files.",
    "config_drive_found": "config_drive_found:",
    "config_drive_errors": "config_drive_errors:",
    "faults_injected": "faults_injected:",
    "virtual_seconds_at_least": "virtual time:",
}
OUTCOMES = ["stopped", "crashed", "reboot_loop", "hung"]
STATUSES = ["done", "next_boot", "absent"]
SUFFIX = st.text(alphabet="xyz-", min_size=1, max_size=4)


@cache
def declared(path: Path) -> dict[str, Any]:
    expect: dict[str, Any] = load_scenario(path).data["expect"]
    return expect


@cache
def run(path: Path) -> RunResult:
    outcome = run_scenario(load_scenario(path))
    assert outcome.passed, outcome.failures
    return outcome.result


def library_keys() -> list[str]:
    return sorted({key for path in LIBRARY for key in declared(path)})


def schema_keys() -> set[str]:
    text = resources.files("guestsim.simulator").joinpath("schemas/scenario.schema.json")
    schema = json.loads(text.read_text())
    return set(schema["$defs"]["expect"]["properties"])


def contradict(value: Any, data: st.DataObject) -> Any:
    """A different value of the same shape."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + data.draw(st.integers(1, 3))
    if isinstance(value, str):
        return value + data.draw(SUFFIX)
    if value is None:
        return data.draw(SUFFIX)
    if isinstance(value, list):
        if value and data.draw(st.booleans()):
            return value[:-1]
        return [*value, contradict(value[-1] if value else None, data)]
    if isinstance(value, dict):
        key = data.draw(st.sampled_from(sorted(value)))
        return {**value, key: contradict(value[key], data)}
    raise AssertionError(f"no contradiction for {value!r}")


def _pick(data: st.DataObject, mapping: dict[str, Any]) -> str:
    return data.draw(st.sampled_from(sorted(mapping)))


def _entries(value: list[dict[str, Any]], data: st.DataObject, keep: Any) -> int:
    indexes = [i for i, entry in enumerate(value) if keep(entry)]
    return data.draw(st.sampled_from(indexes))


def _replaced(value: list[Any], index: int, entry: Any) -> list[Any]:
    return [*value[:index], entry, *value[index + 1 :]]


# Each way an expectation can be written: (key, facet) -> does this declaration have it.
FACETS: dict[tuple[str, str], Any] = {
    ("users", "exists"): lambda v: bool(v),
    ("users", "groups"): lambda v: any(u.get("exists", True) for u in v.values()),
    ("users", "password_expired"): lambda v: any("password_expired" in u for u in v.values()),
    ("users", "has_password"): lambda v: any("has_password" in u for u in v.values()),
    ("files", "exists"): lambda v: bool(v),
    ("files", "content"): lambda v: any("content" in f for f in v.values()),
    ("registry", "data"): lambda v: any(not e.get("absent") for e in v),
    ("registry", "absent"): lambda v: any(e.get("absent") for e in v),
    ("requests", "count"): lambda v: any("count" in e for e in v),
    ("requests", "any"): lambda v: any("count" not in e for e in v),
    ("script_runs", "count"): lambda v: any("count" in e for e in v),
    ("script_runs", "any"): lambda v: any("count" not in e for e in v),
    ("adapters", "field"): lambda v: any(v.values()),
    ("adapters", "missing"): lambda v: True,
    ("services", "field"): lambda v: any(v.values()),
    ("services", "missing"): lambda v: True,
    ("failed_plugins", "added"): lambda v: True,
    ("failed_plugins", "dropped"): lambda v: bool(v),
    ("provisioning", "added"): lambda v: True,
    ("provisioning", "dropped"): lambda v: bool(v),
    ("ntp_peers", "added"): lambda v: True,
    ("ntp_peers", "dropped"): lambda v: bool(v),
}


def perturb(key: str, facet: str, value: Any, result: RunResult, data: st.DataObject) -> Any:
    """A contradicting value for expectation ``key`` (declared as ``value``), by ``facet``."""
    if key == "outcome":
        return data.draw(st.sampled_from([o for o in OUTCOMES if o != value]))
    if key in ("findings", "config_drive_errors"):
        return [*value, "no-such-" + data.draw(SUFFIX)]
    if key == "plugins":
        plugin = _pick(data, value)
        others = [s for s in STATUSES if s != value[plugin]]
        return {**value, plugin: data.draw(st.sampled_from(others))}
    if key in ("failed_plugins", "provisioning", "ntp_peers"):
        if facet == "dropped":
            return value[:-1]
        return [*value, "no-such-" + data.draw(SUFFIX)]
    if key == "users":
        names = [n for n in sorted(value) if facet == "exists" or facet in value[n]]
        if facet == "groups":
            names = [n for n in sorted(value) if value[n].get("exists", True)]
        name = data.draw(st.sampled_from(names))
        want = dict(value[name])
        if facet == "exists":
            want["exists"] = not want.get("exists", True)
        elif facet == "groups":
            want["groups"] = [*want.get("groups", []), "NoSuchGroup"]
        else:
            want[facet] = not want[facet]
        return {**value, name: want}
    if key in ("adapters", "services"):
        if facet == "missing":
            return {**value, "no-such-" + data.draw(SUFFIX): {}}
        name = data.draw(st.sampled_from([n for n in sorted(value) if value[n]]))
        return {**value, name: contradict(value[name], data)}
    if key == "registry":
        index = _entries(value, data, lambda e: bool(e.get("absent")) == (facet == "absent"))
        entry = dict(value[index])
        if entry.pop("absent", False):
            entry["data"] = data.draw(SUFFIX)
        elif data.draw(st.booleans()):
            entry["absent"] = True
        else:
            entry["data"] = contradict(entry.get("data"), data)
        return _replaced(value, index, entry)
    if key in ("requests", "script_runs"):
        index = _entries(value, data, lambda e: ("count" in e) == (facet == "count"))
        entry = dict(value[index])
        field = "path" if key == "requests" else "match"
        if facet == "count":
            entry["count"] = contradict(entry["count"], data)
        else:
            entry[field] = entry[field] + "/no-such-" + data.draw(SUFFIX)
        return _replaced(value, index, entry)
    if key == "files":
        path = data.draw(
            st.sampled_from([p for p in sorted(value) if facet in value[p] or facet == "exists"])
        )
        want = dict(value[path])
        if facet == "content":
            want["content"] = contradict(want["content"], data)
        else:
            want = {"exists": not want.get("exists", True)}
        return {**value, path: want}
    if key == "virtual_seconds_at_least":
        last = result.trace.events[-1].t_ms / 1000
        return last + data.draw(st.integers(1, 100))
    return contradict(value, data)


def _declaring(key: str, facet: str) -> list[Path]:
    paths = [p for p in LIBRARY if key in declared(p)]
    if key == "instance_id":  # meaningful only beside plugin statuses
        paths = [p for p in paths if declared(p).get("plugins")]
    has = FACETS.get((key, facet))
    return [p for p in paths if has is None or has(declared(p)[key])]


def library_facets() -> list[tuple[str, str]]:
    facets = []
    for key in library_keys():
        forms = [facet for (k, facet) in FACETS if k == key] or ["value"]
        facets += [(key, facet) for facet in forms if _declaring(key, facet)]
    return facets


@pytest.mark.parametrize(("key", "facet"), library_facets())
@settings(max_examples=6)
@given(data=st.data())
def test_a_contradicted_expectation_fails_on_that_key_alone(
    key: str, facet: str, data: st.DataObject
) -> None:
    path = data.draw(st.sampled_from(_declaring(key, facet)), label="scenario")
    expect, result = declared(path), run(path)
    wrong = copy.deepcopy(expect)
    wrong[key] = perturb(key, facet, expect[key], result, data)
    data.draw(st.just(wrong[key]), label=f"expect.{key}")
    failures = check_expectations(wrong, result)
    assert failures, f"expect.{key}: {wrong[key]!r} passed on {path.name}"
    assert all(f.startswith(PREFIXES[key]) for f in failures), failures


def test_every_expectation_key_of_the_library_is_perturbed() -> None:
    assert set(library_keys()) <= set(PREFIXES)
    assert set(PREFIXES) <= schema_keys()
