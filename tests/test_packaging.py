"""What installing guestsim puts in a user's environment, and what starting it costs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Libraries the simulated world needs but a start-up, a listing or a validation must not load.
HEAVY = (
    "cryptography",
    "freezegun",
    "jinja2",
    "pycdlib",
    "pyfakefs",
    "pyfatfs",
    "requests",
    "responses",
    "guestsim.simulator.windows",
    "guestsim.simulator.machine",
    "guestsim.simulator.media.image",
)


# Children of this Python: pip building and installing the wheel (hatchling), pytest, and
# fresh interpreters that list what an import loads. No other program starts.
pytestmark = pytest.mark.host_tools(sys.executable)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("guestsim-*.whl")
    return built


def test_the_wheel_installs_one_top_level_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/", 1)[0] for name in names} == {
        "guestsim",
        f"{wheel.name.split('-py3')[0]}.dist-info",
    }
    assert "guestsim/py.typed" in names
    assert "guestsim/agent/init.py" in names and "guestsim/simulator/cli.py" in names
    assert "guestsim/simulator/bundled/scenarios/clouds/openstack-happy-path.yaml" in names
    assert "guestsim/simulator/bundled/fixtures/confs/stock-cloudbase-init.conf" in names
    # The HTML report's page inlines these: package data, read with importlib.resources.
    assert "guestsim/simulator/html/assets/report.js" in names
    assert "guestsim/simulator/html/assets/report.css" in names


def test_the_entry_points_name_the_namespaced_modules(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    (entry_points,) = [n for n in archive.namelist() if n.endswith("entry_points.txt")]
    text = archive.read(entry_points).decode()
    assert "guestsim = guestsim.simulator.cli:main" in text
    assert "guestsim = guestsim.simulator.pytest_plugin" in text


def test_a_project_with_its_own_agent_package_still_runs_its_tests(
    pytester: pytest.Pytester,
) -> None:
    pytester.mkpydir("agent").joinpath("__init__.py").write_text("NAME = 'the project'\n")
    pytester.makepyfile(
        test_project=textwrap.dedent(
            """
            import agent

            def test_its_own_agent():
                assert agent.NAME == "the project"

            def test_and_guestsim_fixtures_alongside(guest_machine, metadata_cloud):
                metadata_cloud.model.meta_data["hostname"] = "mine"
                guest_machine.use_plugins("SetHostNamePlugin").configure(allow_reboot=True)
                assert guest_machine.run().boot_count == 2
                assert guest_machine.state.computer_name == "mine"
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


@pytest.mark.subprocess
@pytest.mark.host_tools("guestsim")  # the console script of the wheel it installs
def test_the_installed_wheel_traces_and_explains_a_library_scenario_by_its_listed_name(
    wheel: Path, tmp_path: Path
) -> None:
    """`guestsim trace clouds/openstack-happy-path` (the name `guestsim list` prints) from
    an installation of the wheel, in a folder that has no scenarios: the bundled library
    inside the installed package is searched, not the checkout's."""
    target, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    install = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
    subprocess.run([*install, "--target", str(target), str(wheel)], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    env["PYTHONPATH"] = str(target)  # before the checkout's editable install on sys.path

    def guestsim(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(target / "bin" / "guestsim"), *args],
            capture_output=True,
            text=True,
            cwd=elsewhere,
            env=env,
        )

    probe = "from guestsim.simulator.paths import bundled; print(bundled('scenarios'))"
    library = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=elsewhere, env=env
    ).stdout.strip()
    assert Path(library).is_relative_to(target), library

    traced = guestsim("trace", "clouds/openstack-happy-path")
    assert traced.returncode == 0, traced.stderr
    assert traced.stdout.splitlines()[-1] == "PASS  clouds/openstack-happy-path  (2 boots)"
    explained = guestsim("explain", "clouds/openstack-happy-path")
    assert explained.returncode == 0, explained.stderr
    assert explained.stdout.startswith("clouds/openstack-happy-path: ")
    misspelt = guestsim("trace", "clouds/openstak-happy-path")
    assert misspelt.returncode == 2
    assert "did you mean clouds/openstack-happy-path" in misspelt.stderr


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, cwd=REPO
    ).stdout
    modules: list[str] = json.loads(out.splitlines()[-1])
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


def test_loading_the_pytest_plugin_imports_nothing_heavy() -> None:
    assert _loaded_after("import guestsim, guestsim.simulator.pytest_plugin") == []


def test_help_list_and_validate_import_only_what_they_use() -> None:
    run = (
        "from guestsim.simulator.cli import cli\n"
        "import contextlib, io\n"
        "for args in {!r}:\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        try: cli.main(args, standalone_mode=False)\n"
        "        except SystemExit: pass\n"
    )
    library = str(REPO / "scenarios")
    conf = str(REPO / "fixtures/confs/stock-cloudbase-init.conf")
    story = str(REPO / "scenarios/clouds/openstack-happy-path.yaml")
    assert _loaded_after(run.format([["--help"]])) == []
    # Loading a scenario checks its guest paths with the guest drive's path rules: that
    # module (standard library only) and the lazy package above it, nothing else of Windows.
    path_rules = {"guestsim.simulator.windows", "guestsim.simulator.windows.filesystem"}
    assert set(_loaded_after(run.format([["list", library]]))) <= path_rules
    # The conf's service paths are checked against the agent's service table, which sits
    # beside the services' base class (and so requests); nothing of the world is loaded.
    validated = _loaded_after(run.format([["validate", conf, story]]))
    assert [m for m in validated if m.split(".")[0] != "requests" and m not in path_rules] == []


def test_the_facade_exports_load_on_first_use() -> None:
    assert _loaded_after("import guestsim") == []
    code = "import guestsim\nassert guestsim.load_scenario.__module__.endswith('.scenario')"
    assert "guestsim.simulator.machine" not in _loaded_after(code)


def test_the_guest_clock_does_not_reach_pytests_durations(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_guest=textwrap.dedent(
            """
            def test_boots(guest_machine):
                guest_machine.use_plugins("SetHostNamePlugin").run()
            """
        )
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--durations=0", "--durations-min=0", "-vv"
    )
    result.assert_outcomes(passed=1)
    durations = [
        float(line.split("s", 1)[0])
        for line in result.stdout.lines
        if line.split("s", 1)[0].replace(".", "", 1).isdigit() and "test_boots" in line
    ]
    assert durations and max(durations) < 60
