"""Mutation testing of the modules that carry guestsim's meaning (``nox -s mutate``).

For each core module, mutmut (a maintained mutation tester) changes the code one small
mutation at a time and runs the tests that exercise the mutated function; a mutant that no
test notices "survived". The score of a module is killed / (mutants - reviewed equivalent
mutants). Reviewed equivalents live in ``equivalent/<module>.toml`` beside this file (e.g.
``equivalent/agent.init.toml``), each with its reason and the digest of the mutant's diff,
so that a changed function asks for a new review.

mutmut has no statement-deletion operator, so for the scenario checker this driver also
deletes each failure-recording statement (``failures.append(...)``, ``failures += ...``)
one at a time and runs the checker's tests: every deletion must be caught.

mutmut names mutants by the file's path, so the code must sit at the path it is imported
from (``guestsim/agent/init.py``). The checkout links guestsim/agent to agent/, so each
module runs in a staged copy of the tree with the wheel's layout, in a temporary folder.

    python tests/mutation/mutate.py                      # every core module
    python tests/mutation/mutate.py agent/init.py        # one module
    python tests/mutation/mutate.py agent/plugins/mtu.py # one module of a folder entry
    python tests/mutation/mutate.py --survivors agent/init.py   # and show what survived
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PYTEST_ARGS = [
    *("-p", "no:randomly", "-p", "no:cacheprovider", "-p", "no:benchmark"),
    *("-m", "not subprocess"),
]
STAGE: Path | None = None  # --stage


@dataclass
class Score:
    module: str
    statuses: dict[str, str] = field(default_factory=dict)
    equivalent: set[str] = field(default_factory=set)
    stale: list[str] = field(default_factory=list)
    survivor_diffs: dict[str, str] = field(default_factory=dict)
    deletions: tuple[int, list[int]] | None = None  # (statements, lines that survived)

    @property
    def counted(self) -> dict[str, str]:
        return {n: s for n, s in self.statuses.items() if n not in self.equivalent}

    @property
    def killed(self) -> int:
        return sum(
            s in ("killed", "timeout", "caught by type check") for s in self.counted.values()
        )

    @property
    def total(self) -> int:
        return sum(s != "skipped" for s in self.counted.values())

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / self.total if self.total else 100.0

    def survivors(self) -> list[str]:
        return sorted(n for n, s in self.counted.items() if s in ("survived", "no tests"))


def load_table() -> tuple[dict[str, dict[str, object]], dict[str, dict[str, str]]]:
    modules: dict[str, dict[str, object]] = tomllib.loads((HERE / "modules.toml").read_text())[
        "module"
    ]
    equivalents: dict[str, dict[str, str]] = {}
    for reviewed in sorted((HERE / "equivalent").glob("*.toml")):
        equivalents.update(tomllib.loads(reviewed.read_text()).get("mutant", {}))
    return modules, equivalents


def table_entry(table: dict[str, dict[str, object]], module: str) -> dict[str, object]:
    """A module's entry, or that of the folder entry holding it."""
    if module in table:
        return table[module]
    for entry, spec in table.items():
        if entry.endswith("/") and module.startswith(entry) and module.endswith(".py"):
            return spec
    raise SystemExit(f"not a core module: {module} (tests/mutation/modules.toml)")


def stage(folder: Path) -> None:
    """The tree as the wheel lays it out, plus the tests and the data they read."""
    package = folder / "guestsim"
    package.mkdir(parents=True)
    for name in ("__init__.py", "py.typed"):
        shutil.copy(REPO / "guestsim" / name, package / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for wing in ("agent", "simulator"):
        shutil.copytree(REPO / wing, package / wing, ignore=ignore)
    for data in ("scenarios", "fixtures"):
        shutil.copytree(REPO / data, package / "simulator" / "bundled" / data, ignore=ignore)
        shutil.copytree(REPO / data, folder / data, ignore=ignore)
    shutil.copytree(REPO / "tests", folder / "tests", ignore=ignore)
    shutil.copy(REPO / "README.md", folder / "README.md")
    shutil.copy(REPO / "pyproject.toml", folder / "pyproject.toml")


def mutmut_config(module: str, tests: list[str]) -> str:
    def toml_list(items: list[str]) -> str:
        return "[" + ", ".join(f'"{item}"' for item in items) + "]"

    return (
        "\n[tool.mutmut]\n"
        'source_paths = ["guestsim"]\n'
        f'only_mutate = ["guestsim/{module}{"*" if module.endswith("/") else ""}"]\n'
        f"pytest_add_cli_args_test_selection = {toml_list(tests)}\n"
        f"pytest_add_cli_args = {toml_list(PYTEST_ARGS)}\n"
        'also_copy = ["fixtures", "scenarios", "README.md"]\n'
    )


def run_mutmut(folder: Path, module: str, tests: list[str]) -> dict[str, str]:
    with (folder / "pyproject.toml").open("a") as pyproject:
        pyproject.write(mutmut_config(module, tests))
    mutmut = [sys.executable, "-m", "mutmut"]
    subprocess.run([*mutmut, "run"], cwd=folder, check=False, stdout=subprocess.DEVNULL)
    listing = subprocess.run(
        [*mutmut, "results", "--all", "true"], cwd=folder, capture_output=True, text=True
    ).stdout
    statuses = {}
    for line in listing.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if "__mutmut_" in name:
            statuses[name] = status
    if not statuses:
        raise SystemExit(f"{module}: mutmut produced no mutants (see `mutmut run` in {folder})")
    if all(status == "not checked" for status in statuses.values()):
        # mutmut stops before mutating when the unmutated tests fail.
        raise SystemExit(
            f"{module}: mutmut checked no mutant; do its tests pass unmutated? "
            f"python -m pytest {' '.join(tests)}"
        )
    return statuses


def mutant_diff(folder: Path, name: str) -> str:
    shown = subprocess.run(
        [sys.executable, "-m", "mutmut", "show", name], cwd=folder, capture_output=True, text=True
    ).stdout
    return "\n".join(line for line in shown.splitlines() if line.startswith(("+", "-")))


def diff_digest(diff: str) -> str:
    return hashlib.sha256(diff.encode()).hexdigest()[:16]


def failure_statements(source: str) -> list[ast.stmt]:
    """Every statement that records a failure: ``failures.append(...)``, ``failures += ...``."""
    found: list[ast.stmt] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "append"
                and isinstance(func.value, ast.Name)
                and func.value.id == "failures"
            ):
                found.append(node)
        elif isinstance(node, ast.AugAssign) and getattr(node.target, "id", "") == "failures":
            found.append(node)
    return sorted(found, key=lambda node: node.lineno)


def delete_each_statement(folder: Path, module: str, tests: list[str]) -> tuple[int, list[int]]:
    target = folder / "guestsim" / module
    original = target.read_text()
    lines = original.splitlines(keepends=True)
    statements = failure_statements(original)
    survived = []
    try:
        for node in statements:
            mutated = list(lines)
            first = lines[node.lineno - 1]
            mutated[node.lineno - 1] = first[: len(first) - len(first.lstrip())] + "pass\n"
            for index in range(node.lineno, node.end_lineno or node.lineno):
                mutated[index] = "\n"
            target.write_text("".join(mutated))
            caught = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-x", *PYTEST_ARGS, *tests],
                cwd=folder,
                capture_output=True,
            )
            if caught.returncode == 0:
                survived.append(node.lineno)
    finally:
        target.write_text(original)
    return len(statements), survived


def module_of(mutant: str) -> str:
    """``guestsim.agent.init.x_run__mutmut_3`` -> ``agent/init.py``."""
    dotted = mutant.split(".x_", 1)[0].split(".x\u01c1", 1)[0]
    return dotted.removeprefix("guestsim.").replace(".", "/") + ".py"


def score_entry(
    entry: str, spec: dict[str, object], equivalents: dict[str, dict[str, str]]
) -> list[Score]:
    """One score per module of a table entry (a module, or a folder of modules)."""
    whole = score_module(entry, spec, equivalents)
    if not entry.endswith("/"):
        return [whole]
    scores: dict[str, Score] = {}
    for name, status in whole.statuses.items():
        part = scores.setdefault(module_of(name), Score(module_of(name)))
        part.statuses[name] = status
        if name in whole.equivalent:
            part.equivalent.add(name)
        if name in whole.survivor_diffs:
            part.survivor_diffs[name] = whole.survivor_diffs[name]
        if name in whole.stale:
            part.stale.append(name)
    return [scores[module] for module in sorted(scores)]


def score_module(
    module: str, spec: dict[str, object], equivalents: dict[str, dict[str, str]]
) -> Score:
    tests = [str(test) for test in spec["tests"]]  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory(prefix="guestsim-mutate-") as tmp:
        folder = Path(tmp) if STAGE is None else STAGE
        if STAGE is not None:
            shutil.rmtree(folder, ignore_errors=True)
        stage(folder)
        score = Score(module)
        if spec.get("delete_failure_statements"):
            score.deletions = delete_each_statement(folder, module, tests)
        score.statuses = run_mutmut(folder, module, tests)
        for name, review in equivalents.items():
            if name not in score.statuses:
                continue
            if diff_digest(mutant_diff(folder, name)) == review["diff"]:
                score.equivalent.add(name)
            else:
                score.stale.append(name)
        score.survivor_diffs = {n: mutant_diff(folder, n) for n in score.survivors()}
    return score


def report(score: Score, goal: float | None, survivors: bool) -> bool:
    """One row; ``goal`` None for a module that is judged within its folder's total."""
    deletions_ok = not (score.deletions and score.deletions[1])
    ok = goal is None or (score.percent >= goal and deletions_ok)
    verdict = "" if goal is None else f"goal {goal:.0f} %  {'ok' if ok else 'BELOW GOAL'}"
    print(
        f"{score.module:<36} {score.killed:>5}/{score.total:<5} {score.percent:6.1f} %  "
        f"equivalent {len(score.equivalent):<3} {verdict}",
        flush=True,
    )
    if score.deletions is not None:
        count, survived = score.deletions
        lines = f", survived at lines {survived}" if survived else ""
        caught = count - len(survived)
        print(f"  failure statements deleted one at a time: {caught}/{count} caught{lines}")
    for name in score.stale:
        print(f"  equivalent.toml: {name} changed since it was reviewed; review it again")
    if survivors:
        for name, diff in score.survivor_diffs.items():
            print(f"  survived {name}  (diff {diff_digest(diff)})")
            print("    " + diff.replace("\n", "\n    "))
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("modules", nargs="*", help="table entries to mutate, e.g. agent/init.py")
    parser.add_argument("--survivors", action="store_true", help="print each survivor's diff")
    parser.add_argument(
        "--stage",
        type=Path,
        help="stage the tree in this folder and keep it (to run `mutmut show NAME` there); "
        "default: a temporary folder",
    )
    args = parser.parse_args()
    global STAGE
    STAGE = args.stage
    table, equivalents = load_table()
    print(f"{'module':<36} {'killed/mutants':>11}  score")
    results = []
    for entry in args.modules or list(table):
        spec = table_entry(table, entry)
        goal = float(spec.get("goal", 90))  # type: ignore[arg-type]
        scores = score_entry(entry, spec, equivalents)
        if not entry.endswith("/"):
            results += [report(score, goal, args.survivors) for score in scores]
            continue
        # A folder entry is judged as a whole; its modules are listed for review.
        total = Score(entry)
        for score in scores:
            report(score, None, args.survivors)
            total.statuses.update(score.statuses)
            total.equivalent |= score.equivalent
        results.append(report(total, goal, survivors=False))
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
