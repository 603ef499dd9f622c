"""The pytest plugin, used from the outside the way another project would use it."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

# pytester's in-process runs restore sys.modules afterwards; the plugin imports the
# simulator lazily, so load it here, once, or each inner run would import requests anew.
import guestsim.simulator.testing  # noqa: F401
from guestsim.simulator.paths import bundled

PLUGINS_AND_CLOUD = """
def test_hostname_from_an_edited_document(guest_machine, metadata_cloud):
    metadata_cloud.model.meta_data["hostname"] = "edited-name.example"
    guest_machine.use_plugins("SetHostNamePlugin")
    guest_machine.configure(metadata_services=[
        "cloudbaseinit.metadata.services.httpservice.HttpService"])
    result = guest_machine.run()
    assert result.boot_count == 2
    assert guest_machine.state.computer_name == "edited-name"
    assert ("GET", "/openstack/latest/meta_data.json") in [
        (r.method, r.path) for r in metadata_cloud.requests]


def test_faults_and_the_registry(guest_machine, metadata_cloud, guest_registry):
    metadata_cloud.fault("/openstack/*", status=503, first=2)
    guest_machine.use_plugins("CreateUserPlugin").configure(allow_reboot=False)
    result = guest_machine.run()
    assert len(result.trace.of_kind("fault")) == 2
    instance = metadata_cloud.model.meta_data["uuid"]
    key = "HKLM\\\\SOFTWARE\\\\Cloudbase Solutions\\\\Cloudbase-Init\\\\" + instance + "\\\\Plugins"
    assert guest_registry.get_value(key, "CreateUserPlugin").data == 1


def test_another_cloud(guest_machine, metadata_cloud):
    metadata_cloud.use("ec2")
    guest_machine.use_plugins("SetHostNamePlugin").configure(metadata_services=[
        "cloudbaseinit.metadata.services.httpservice.HttpService",
        "cloudbaseinit.metadata.services.ec2service.EC2Service"])
    result = guest_machine.run()
    assert result.trace.of_kind("metadata_service")[-1].get("name") == "EC2Service"


def test_config_drive_without_any_cloud(guest_machine, config_drive):
    config_drive({"uuid": "drive-instance", "hostname": "from-drive"})
    guest_machine.use_plugins("SetHostNamePlugin").configure(
        allow_reboot=False,
        metadata_services=["cloudbaseinit.metadata.services.configdrive.ConfigDriveService"])
    guest_machine.run()
    assert guest_machine.state.pending_computer_name == "from-drive"
"""


def test_fixtures_work_in_another_project(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_guest=PLUGINS_AND_CLOUD)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_the_scenario_marker_runs_a_file_next_to_the_test(pytester: pytest.Pytester) -> None:
    source = bundled("scenarios") / "reboots" / "hostname-reboot-disallowed.yaml"
    pytester.path.joinpath("story.yaml").write_text(source.read_text())
    broken = source.read_text().replace("boots: 1", "boots: 5")
    pytester.path.joinpath("wrong.yaml").write_text(broken)
    pytester.makepyfile(
        test_stories=textwrap.dedent(
            """
            import pytest

            @pytest.mark.scenario("story.yaml")
            def test_story(scenario):
                assert scenario.passed, scenario.failures
                assert scenario.result.state.pending_computer_name == "app-server-02"

            @pytest.mark.scenario("wrong.yaml")
            def test_wrong(scenario):
                assert scenario.passed, scenario.failures

            def test_loader(guestsim_scenario):
                assert guestsim_scenario("story.yaml").result.boot_count == 1
            """
        )
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*boots: expected 5, got 1*"])


def test_the_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.scenario(path):*"])


CHECKOUT = Path(__file__).resolve().parents[2]
README_PYTHON = re.findall(
    r"^```python\n(.*?)^```", (CHECKOUT / "README.md").read_text(), re.M | re.S
)
README_TESTS = [code for code in README_PYTHON if re.search(r"^def test_", code, re.M)]


def test_the_readme_has_python_examples_of_both_kinds() -> None:
    assert README_TESTS and len(README_TESTS) < len(README_PYTHON)


@pytest.mark.parametrize(
    "code", README_TESTS, ids=lambda code: re.findall(r"def (test_\w+)", code)[0]
)
def test_the_readme_test_files_run_as_written(pytester: pytest.Pytester, code: str) -> None:
    # Only the files a block names are provided; the code itself is run verbatim.
    stories = pytester.path / "stories"
    stories.mkdir()
    source = bundled("scenarios") / "reboots" / "hostname-reboot-allowed.yaml"
    (stories / "my-image.yaml").write_text(source.read_text())
    image = pytester.path / "image"
    image.mkdir()
    (image / "cloudbase-init.conf").write_bytes(
        (CHECKOUT / "fixtures" / "confs" / "stock-cloudbase-init.conf").read_bytes()
    )
    pytester.makepyfile(test_readme=code)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(re.findall(r"^def test_", code, re.M)))


@pytest.mark.parametrize(
    "code",
    [code for code in README_PYTHON if code not in README_TESTS],
    ids=lambda code: code.split("\n", 1)[0],
)
def test_the_readme_python_examples_run_as_written(
    code: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(CHECKOUT)  # the paths they name are the checkout's
    exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})
