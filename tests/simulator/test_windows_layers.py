"""The fake Windows stays layered: each module imports only from its own layer or below.

``simulator/windows/ruff.toml`` bans the OS boundary (``osutils/``) from the layers under
it; this checks the order of the rest, which one folder-wide lint rule cannot tell apart,
and that no module reaches another through an import inside a function, where a cycle
would hide.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import guestsim.simulator.windows

PACKAGE = "guestsim.simulator.windows"
ROOT = Path(guestsim.simulator.windows.__file__).parent
LEAVES = {"registry", "filesystem"}
WHOLE_MACHINE = {"storage", "defaults", "processes"}
MODULES = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts) for path in ROOT.rglob("*.py")
)


def layer(module: str) -> int:
    """1 leaves, 2 feature state, 3 WindowsState, 4 whole machine, 5 the OS boundary."""
    if module in ("", "__init__"):
        return 6  # the package facade re-exports every layer
    if module.split(".")[0] == "osutils":
        return 5
    if module in LEAVES:
        return 1
    if module == "state":
        return 3
    if module in WHOLE_MACHINE:
        return 4
    return 2


def imported(tree: ast.Module) -> list[tuple[str, int, bool]]:
    """(module under the package, line, at module level) for each of its imports.

    Imports under a module-level ``if TYPE_CHECKING:`` count as module level: they load
    nothing, and one reaching up a layer is still reported as such.
    """
    top: list[ast.stmt] = list(tree.body)
    for statement in tree.body:
        if isinstance(statement, ast.If) and ast.unparse(statement.test) == "TYPE_CHECKING":
            top += statement.body
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        names = [alias.name for alias in node.names]
        if isinstance(node, ast.ImportFrom):
            names = [f"{node.module}.{name}" for name in names] + [str(node.module)]
        for name in names:
            if not name.startswith(PACKAGE + "."):
                continue
            # The longest prefix that is a module: "storage" for "from
            # guestsim.simulator.windows import storage", "state" for "...state.WindowsState".
            inner = name.removeprefix(PACKAGE + ".")
            while inner and inner not in MODULES and f"{inner}.__init__" not in MODULES:
                inner = inner.rpartition(".")[0]
            if inner:
                found.append((inner, node.lineno, node in top))
    return found


@pytest.mark.parametrize("module", MODULES)
def test_a_module_imports_only_from_its_layer_or_below(module: str) -> None:
    path = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = layer(module.removesuffix(".__init__"))
    upward = sorted({other for other, _, _ in imported(tree) if layer(other) > own})
    assert upward == [], f"{module} (layer {own}) imports from a layer above it"


@pytest.mark.parametrize("module", MODULES)
def test_a_module_imports_the_fake_windows_at_the_top(module: str) -> None:
    path = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nested = sorted({f"{other} (line {line})" for other, line, top in imported(tree) if not top})
    assert nested == [], f"{module} imports the fake Windows inside a function; import at the top"


def test_every_layer_is_there() -> None:
    # The layer table names modules; renaming one must not silently move it to layer 2.
    assert {layer(m) for m in MODULES} == {1, 2, 3, 4, 5, 6}
    assert LEAVES | WHOLE_MACHINE | {"state"} <= set(MODULES)
