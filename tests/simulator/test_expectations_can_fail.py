"""Every expectation the library uses can fail, naming the key, what was expected and what
the run gave.

Each bundled scenario runs once. Hypothesis then draws, for each key and each way the library
writes it (a *form*: a user's ``exists`` or its ``groups``, a request with or without a
``count`` ...), a scenario declaring it and a contradicting value. The checker must report
exactly the failures that contradiction implies: the key, the expected value and the value
the run produced (which is the originally declared one, since the scenario passes). So no
expectation of the library passes whatever the agent did, and none reports the wrong thing.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guestsim.simulator.expectations import check_expectations, log_matches
from guestsim.simulator.machine import RunResult
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import discover, load_scenario
from tests.builders import library_outcome

LIBRARY = discover([bundled("scenarios")])
OUTCOMES = ["stopped", "crashed", "reboot_loop", "hung"]
STATUSES = ["done", "next_boot", "absent"]
SUFFIX = st.text(alphabet="xyz-", min_size=1, max_size=4)


@dataclass(frozen=True)
class Failure:
    """One failure the checker must report: the whole line, or its start when the rest
    quotes what the run produced beyond the expectation (other findings, other runs)."""

    text: str
    whole: bool = True

    def matches(self, line: str) -> bool:
        return line == self.text if self.whole else line.startswith(self.text)


def mismatch(field: str, expected: Any, got: Any) -> Failure:
    return Failure(f"{field}: expected {expected!r}, got {got!r}")


@cache
def declared(path: Path) -> dict[str, Any]:
    expect: dict[str, Any] = load_scenario(path).data["expect"]
    return expect


def run(path: Path) -> RunResult:
    return library_outcome(path).result


def library_keys() -> list[str]:
    return sorted({key for path in LIBRARY for key in declared(path)} - {"power_loss"})


def schema_keys() -> set[str]:
    text = resources.files("guestsim.simulator").joinpath("schemas/scenario.schema.json")
    keys = set(json.loads(text.read_text())["$defs"]["expect_fields"]["properties"])
    # Judged by the power-loss explorer over many runs, not by one run's checker: its
    # tests are tests/simulator/test_explore.py.
    return keys - {"power_loss"}


def changed(value: Any, data: st.DataObject) -> Any:
    """A different value of the same type."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + data.draw(st.integers(1, 3))
    if isinstance(value, str):
        return value + data.draw(SUFFIX)
    if value is None:
        return data.draw(SUFFIX)
    if isinstance(value, list):
        return [*value, data.draw(SUFFIX)]
    if isinstance(value, dict):
        return {**value, "no-such-key": data.draw(SUFFIX)}
    raise AssertionError(f"no other value for {value!r}")


def pick(data: st.DataObject, choices: list[Any]) -> Any:
    return data.draw(st.sampled_from(sorted(choices)))


def _request_label(index: int, want: dict[str, Any]) -> str:
    label = f"requests[{index}] {want.get('method', 'ANY')} {want['path']}"
    return label + (f" with {want['headers']}" if want.get("headers") else "")


def _script_label(index: int, want: dict[str, Any]) -> str:
    label = f"script_runs[{index}] {want['match']!r}"
    return label + (f" ({want['interpreter']})" if want.get("interpreter") else "")


Perturbation = tuple[Any, list[Failure]]


def scalar(key: str) -> Callable[[Any, RunResult, st.DataObject], Perturbation]:
    def perturb(value: Any, result: RunResult, data: st.DataObject) -> Perturbation:
        new = changed(value, data)
        return new, [mismatch(key, new, value)]

    return perturb


def outcome(value: Any, result: RunResult, data: st.DataObject) -> Perturbation:
    new = pick(data, [o for o in OUTCOMES if o != value])
    detail = "; ".join(result.findings)
    return new, [Failure(mismatch("outcome", new, value).text + (f" ({detail})" if detail else ""))]


def fragments(key: str, what: str) -> Callable[[Any, RunResult, st.DataObject], Perturbation]:
    def perturb(value: Any, result: RunResult, data: st.DataObject) -> Perturbation:
        fragment = "no-such-" + data.draw(SUFFIX)
        return [*value, fragment], [Failure(f"{key}: no {what} mentions {fragment!r}", False)]

    return perturb


def plugins(value: Any, result: RunResult, data: st.DataObject) -> Perturbation:
    plugin = pick(data, list(value))
    new = pick(data, [s for s in STATUSES if s != value[plugin]])
    return {**value, plugin: new}, [mismatch(f"plugins.{plugin}", new, value[plugin])]


def plugin_runs(value: Any, result: RunResult, data: st.DataObject) -> Perturbation:
    plugin = pick(data, list(value))
    new = value[plugin] + data.draw(st.integers(1, 3))
    return {**value, plugin: new}, [mismatch(f"plugin_runs.{plugin}", new, value[plugin])]


def listed(key: str, drop: bool) -> Callable[[Any, RunResult, st.DataObject], Perturbation]:
    def perturb(value: Any, result: RunResult, data: st.DataObject) -> Perturbation:
        new = value[:-1] if drop else [*value, "no-such-" + data.draw(SUFFIX)]
        if key == "failed_plugins":
            return new, [mismatch(key, sorted(new), sorted(value))]
        return new, [mismatch(key, new, value)]

    return perturb


def users(form: str) -> Callable[[Any, RunResult, st.DataObject], Perturbation]:
    def perturb(value: Any, result: RunResult, data: st.DataObject) -> Perturbation:
        if form == "every exists":  # every user contradicted: each one is reported
            new = {n: {"exists": not w.get("exists", True)} for n, w in value.items()}
            return new, [
                mismatch(f"users.{n}.exists", new[n]["exists"], w.get("exists", True))
                for n, w in sorted(value.items())
            ]
        present = [n for n, w in value.items() if w.get("exists", True)]
        candidates = {
            "exists": list(value),
            "groups": present,
            "password_expired": [n for n in present if "password_expired" in value[n]],
            "has_password": [n for n in present if "has_password" in value[n]],
        }[form]
        name = pick(data, candidates)
        want = dict(value[name])
        if form == "exists":
            want = {"exists": not want.get("exists", True)}
            failure = mismatch(f"users.{name}.exists", want["exists"], not want["exists"])
        elif form == "groups":
            want["groups"] = [*want.get("groups", []), "NoSuchGroup"]
            member_of = sorted(
                g.name
                for g in result.state.groups
                if any(m.lower() == name.lower() for m in g.members)
            )
            failure = Failure(
                f"users.{name}.groups: not a member of ['NoSuchGroup']; member of {member_of}"
            )
        else:
            want[form] = not want[form]
            failure = mismatch(f"users.{name}.{form}", want[form], value[name][form])
        return {**value, name: want}, [failure]

    return perturb


def objects(section: str, form: str) -> Callable[[Any, RunResult, st.DataObject], Perturbation]:
    def perturb(value: Any, result: RunResult, data: st.DataObject) -> Perturbation:
        if form == "missing":
            name = "no-such-" + data.draw(SUFFIX)
            return {**value, name: {}}, [Failure(f"{section}.{name}: does not exist")]
        name = pick(data, [n for n in value if value[n]])
        field = pick(data, list(value[name]))
        new = changed(value[name][field], data)
        failure = mismatch(f"{section}.{name}.{field}", new, value[name][field])
        return {**value, name: {**value[name], field: new}}, [failure]

    return perturb


def registry(form: str) -> Callable[[Any, RunResult, st.DataObject], Perturbation]:
    def perturb(value: Any, result: RunResult, data: st.DataObject) -> Perturbation:
        indexes = [i for i, e in enumerate(value) if bool(e.get("absent")) == (form == "absent")]
        index = data.draw(st.sampled_from(indexes))
        old = value[index]
        label = f"registry {old['key']}\\{old['name']}"
        entry = {"key": old["key"], "name": old["name"]}
        if form == "absent":
            entry["data"] = data.draw(SUFFIX)
            failure = mismatch(label, entry["data"], None)
        elif data.draw(st.booleans()):
            entry["absent"] = True
            failure = Failure(f"{label}: expected absent, got {old.get('data')!r}")
        else:
            entry["data"] = changed(old.get("data"), data)
            failure = mismatch(label, entry["data"], old.get("data"))
        return [*value[:index], entry, *value[index + 1 :]], [failure]

    return perturb


def counted(key: str, form: str) -> Callable[[Any, RunResult, st.DataObject], Perturbation]:
    """requests / script_runs: a wrong count, or an entry nothing matches."""

    def perturb(value: Any, result: RunResult, data: st.DataObject) -> Perturbation:
        indexes = [i for i, e in enumerate(value) if ("count" in e) == (form == "count")]
        index = data.draw(st.sampled_from(indexes))
        entry = dict(value[index])
        label = _request_label if key == "requests" else _script_label
        noun = "request" if key == "requests" else "run"
        if form == "count":
            entry["count"] = value[index]["count"] + data.draw(st.integers(1, 3))
            text = f"{label(index, entry)}: expected {entry['count']} {noun}(s), got "
            text += str(value[index]["count"])
        else:
            field = "path" if key == "requests" else "match"
            entry[field] = entry[field] + "/no-such-" + data.draw(SUFFIX)
            text = f"{label(index, entry)}: expected at least one {noun}, got none"
        # script_runs add the runs they saw, which only the run knows
        failure = Failure(text, whole=key == "requests")
        return [*value[:index], entry, *value[index + 1 :]], [failure]

    return perturb


def files(form: str) -> Callable[[Any, RunResult, st.DataObject], Perturbation]:
    def perturb(value: Any, result: RunResult, data: st.DataObject) -> Perturbation:
        paths = [p for p in value if form == "exists" or "content" in value[p]]
        path = pick(data, paths)
        if form == "content":
            new = changed(value[path]["content"], data)
            failure = mismatch(f"files.{path}.content", new, value[path]["content"])
            return {**value, path: {**value[path], "content": new}}, [failure]
        exists = value[path].get("exists", True)
        return {**value, path: {"exists": not exists}}, [
            mismatch(f"files.{path}.exists", not exists, exists)
        ]

    return perturb


def folders(value: Any, result: RunResult, data: st.DataObject) -> Perturbation:
    path = pick(data, list(value))
    exists = value[path].get("exists", True)
    return {**value, path: {"exists": not exists}}, [
        mismatch(f"folders.{path}.exists", not exists, exists)
    ]


def groups(form: str) -> Callable[[Any, RunResult, st.DataObject], Perturbation]:
    def perturb(value: Any, result: RunResult, data: st.DataObject) -> Perturbation:
        if form == "exists":
            name = pick(data, list(value))
            exists = value[name].get("exists", True)
            failure = mismatch(f"groups.{name}.exists", not exists, exists)
            return {**value, name: {"exists": not exists}}, [failure]
        name = pick(data, [n for n, w in value.items() if "members" in w])
        members = sorted(value[name]["members"], key=str.lower)
        if len(members) > 0 and data.draw(st.booleans()):
            new = members[1:]  # a member dropped
        else:
            new = sorted([*members, "NoSuch" + data.draw(SUFFIX)], key=str.lower)
        failure = mismatch(f"groups.{name}.members", new, members)
        return {**value, name: {**value[name], "members": new}}, [failure]

    return perturb


def log(form: str) -> Callable[[Any, RunResult, st.DataObject], Perturbation]:
    def perturb(value: Any, result: RunResult, data: st.DataObject) -> Perturbation:
        if form == "present":
            pattern = "no such line " + data.draw(SUFFIX)
            failure = Failure(f"log.present: no log line matches {pattern!r}")
        else:
            # A line the run logged, as a pattern (glob characters escaped): it matches.
            line = pick(data, result.log)
            pattern = "".join(f"[{c}]" if c in "*?[" else c for c in line)
            matching = [other for other in result.log if log_matches(pattern, other)]
            failure = Failure(
                f"log.absent: {len(matching)} log line(s) match {pattern!r}, "
                f"the first: {matching[0]!r}"
            )
        new = {**value, form: [*value.get(form, []), pattern]}
        return new, [failure]

    return perturb


def state(value: Any, result: RunResult, data: st.DataObject) -> Perturbation:
    path = pick(data, list(value))
    new = changed(value[path], data)
    return {**value, path: new}, [mismatch(f"state.{path}", new, value[path])]


def virtual_seconds(value: Any, result: RunResult, data: st.DataObject) -> Perturbation:
    last = result.trace.events[-1].t_ms / 1000
    new = last + data.draw(st.integers(1, 100))
    return new, [Failure(f"virtual time: expected at least {new} s, got {last} s")]


# How each form of each key is contradicted, and which declarations have that form.
Form = tuple[Callable[[Any, RunResult, st.DataObject], Perturbation], Callable[[Any], bool]]
ANY: Callable[[Any], bool] = lambda value: True  # noqa: E731
FORMS: dict[tuple[str, str], Form] = {
    ("outcome", "value"): (outcome, ANY),
    ("boots", "value"): (scalar("boots"), ANY),
    ("computer_name", "value"): (scalar("computer_name"), ANY),
    ("pending_computer_name", "value"): (scalar("pending_computer_name"), ANY),
    ("metadata_service", "value"): (scalar("metadata_service"), ANY),
    ("config_drive_found", "value"): (scalar("config_drive_found"), ANY),
    ("faults_injected", "value"): (scalar("faults_injected"), ANY),
    ("findings", "value"): (fragments("findings", "finding"), ANY),
    ("config_drive_errors", "value"): (fragments("config_drive_errors", "search error"), ANY),
    ("instance_id", "value"): (scalar("instance_id"), ANY),  # judged in the test: see there
    ("plugins", "value"): (plugins, ANY),
    ("plugin_runs", "value"): (plugin_runs, bool),
    ("virtual_seconds_at_least", "value"): (virtual_seconds, ANY),
    ("state", "value"): (state, bool),
    **{
        (key, form): (listed(key, form == "dropped"), bool if form == "dropped" else ANY)
        for key in ("failed_plugins", "provisioning", "ntp_peers")
        for form in ("added", "dropped")
    },
    ("users", "exists"): (users("exists"), bool),
    ("users", "every exists"): (users("every exists"), lambda v: len(v) > 1),
    ("users", "groups"): (
        users("groups"),
        lambda v: any(u.get("exists", True) for u in v.values()),
    ),
    ("users", "password_expired"): (
        users("password_expired"),
        lambda v: any("password_expired" in u and u.get("exists", True) for u in v.values()),
    ),
    ("users", "has_password"): (
        users("has_password"),
        lambda v: any("has_password" in u and u.get("exists", True) for u in v.values()),
    ),
    **{
        (section, form): (
            objects(section, form),
            ANY if form == "missing" else lambda v: any(v.values()),
        )
        for section in ("adapters", "services")
        for form in ("field", "missing")
    },
    ("registry", "data"): (registry("data"), lambda v: any(not e.get("absent") for e in v)),
    ("registry", "absent"): (registry("absent"), lambda v: any(e.get("absent") for e in v)),
    **{
        (key, form): (
            counted(key, form),
            (lambda v: any("count" in e for e in v))
            if form == "count"
            else (lambda v: any("count" not in e for e in v)),
        )
        for key in ("requests", "script_runs")
        for form in ("count", "any")
    },
    ("files", "exists"): (files("exists"), bool),
    ("files", "content"): (files("content"), lambda v: any("content" in f for f in v.values())),
    ("folders", "exists"): (folders, bool),
    ("groups", "exists"): (groups("exists"), bool),
    ("groups", "members"): (groups("members"), lambda v: any("members" in g for g in v.values())),
    # A pattern is added either way, so any declaration of `log` can be contradicted.
    ("log", "present"): (log("present"), ANY),
    ("log", "absent"): (log("absent"), ANY),
}


def declaring(key: str, form: str) -> list[Path]:
    has = FORMS[(key, form)][1]
    paths = [p for p in LIBRARY if key in declared(p) and has(declared(p)[key])]
    if key == "instance_id":  # only says where the declared plugin statuses are read
        paths = [
            p for p in paths if any(s != "absent" for s in declared(p).get("plugins", {}).values())
        ]
    return paths


def library_forms() -> list[tuple[str, str]]:
    return [(key, form) for (key, form) in FORMS if key in library_keys() and declaring(key, form)]


@pytest.mark.parametrize(("key", "form"), library_forms())
@settings(max_examples=6)
@given(data=st.data())
def test_a_contradicted_expectation_fails_naming_key_expected_and_got(
    key: str, form: str, data: st.DataObject
) -> None:
    path = data.draw(st.sampled_from(declaring(key, form)), label="scenario")
    expect, result = declared(path), run(path)
    assert check_expectations(expect, result) == []  # the scenario as written passes
    wrong = copy.deepcopy(expect)
    if key == "instance_id":
        # The id only says where plugin statuses are read: under another one there are none.
        wrong[key] = expect[key] + data.draw(SUFFIX)
        expected = [
            mismatch(f"plugins.{plugin}", status, "absent")
            for plugin, status in sorted(expect["plugins"].items())
            if status != "absent"
        ]
    else:
        wrong[key], expected = FORMS[(key, form)][0](expect[key], result, data)
    data.draw(st.just(wrong[key]), label=f"expect.{key}")
    failures = check_expectations(wrong, result)
    assert len(failures) == len(expected), failures
    for line, failure in zip(failures, expected, strict=True):
        assert failure.matches(line), (line, failure.text)


def test_every_key_of_the_schema_is_used_by_the_library_and_contradicted() -> None:
    assert set(library_keys()) == schema_keys()
    assert {key for key, _ in library_forms()} == schema_keys()


def test_every_form_a_contradiction_knows_is_written_somewhere_in_the_library() -> None:
    unused = sorted(form for form in FORMS if form not in library_forms())
    # A form no scenario writes yet is proven by the checker's own tests instead.
    assert unused == [("script_runs", "any")]
