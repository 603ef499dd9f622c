"""``cloud.tree`` / ``serve --tree``: a cloud's documents from a folder laid out as the wire
paths, and config drives built from a folder at run time (``image.folder``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from guestsim.simulator.cli import cli
from guestsim.simulator.clouds import CLOUD_TYPES, DocumentSource, build_clouds
from guestsim.simulator.clouds.azure import AzureWireServer
from guestsim.simulator.clouds.base import CloudApp, SimRequest, SimResponse
from guestsim.simulator.clouds.openstack import OpenStackCloud
from guestsim.simulator.clouds.packet import PacketMetadataCloud
from guestsim.simulator.errors import ScenarioError
from guestsim.simulator.explain import explain
from guestsim.simulator.folders import FolderError, read_folder
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import load_scenario, run_scenario

REPO = Path(__file__).resolve().parents[2]
TREES = bundled("fixtures") / "trees"
TREE_SCENARIOS = Path(__file__).with_name("cloud-trees")
LIBRARY = bundled("scenarios")
EC2_FOLDER_STORY = LIBRARY / "clouds" / "ec2-metadata-folder.yaml"
DRIVE_FOLDER_STORY = LIBRARY / "config-drives" / "configdrive-from-folder.yaml"
MIB = 1024 * 1024


def tree_cloud(cloud: str, tree: Path, **settings: Any) -> list[CloudApp]:
    return build_clouds(DocumentSource(cloud, {"type": cloud, "tree": str(tree), **settings}))


def get(app: CloudApp, path: str, **headers: str) -> SimResponse:
    return app.handle(SimRequest("GET", app.base_url.rstrip("/") + path, path, headers))


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def scenario_file(folder: Path, cloud: dict[str, Any], name: str = "story.yaml") -> Path:
    """A one-boot scenario on ``cloud`` (the documents don't matter: only building it)."""
    path = folder / name
    text = json.dumps(
        {
            "description": "tree",
            "cloud": cloud,
            "agent": {"options": {"DEFAULT": {"plugins": []}}},
            "expect": {"boots": 1, "failed_plugins": []},
        }
    )
    path.write_text(text)
    return path


# --- every HTTP cloud, as a scenario ---------------------------------------------------------


def test_there_is_a_tree_story_and_a_tree_for_every_cloud() -> None:
    assert sorted(p.stem for p in TREE_SCENARIOS.glob("*.yaml")) == sorted(CLOUD_TYPES)
    assert sorted(p.name for p in TREES.iterdir() if p.is_dir()) == sorted(CLOUD_TYPES)


@pytest.mark.parametrize("cloud", CLOUD_TYPES)
def test_a_cloud_served_from_a_wire_layout_folder_passes_its_story(cloud: str) -> None:
    outcome = run_scenario(load_scenario(TREE_SCENARIOS / f"{cloud}.yaml"))
    assert outcome.failures == []
    (app, *_) = outcome.result.clouds
    assert app.tree is not None
    # Every document came from the folder: nothing was missing.
    assert [r.path for r in app.requests if r.status == 404 and r.method == "GET"] in (
        [],
        ["/openstack/latest/meta_data.json"] * 2,  # HttpService's probe on EC2
        ["/"] * 6,  # Oracle's route check: OCI answers its root 404
    )


@pytest.mark.parametrize("transport", ["loopback"])
def test_a_tree_cloud_gives_the_same_trace_on_loopback(transport: str) -> None:
    scenario = load_scenario(EC2_FOLDER_STORY)
    in_process = run_scenario(scenario)
    over_sockets = run_scenario(scenario, transport=transport)
    assert in_process.passed and over_sockets.passed
    assert over_sockets.result.trace.to_jsonl() == in_process.result.trace.to_jsonl()


def test_the_tree_replaces_the_documents_no_bundled_default_fills_in(tmp_path: Path) -> None:
    write(tmp_path, {"openstack/latest/meta_data.json": '{"uuid": "u-1", "hostname": "h"}'})
    (app,) = tree_cloud("openstack", tmp_path)
    assert json.loads(get(app, "/openstack/latest/meta_data.json").body)["uuid"] == "u-1"
    # Neither user data nor vendor data exist in the folder, so neither is served.
    assert get(app, "/openstack/latest/user_data").status == 404
    assert get(app, "/openstack/latest/vendor_data.json").status == 404
    assert isinstance(app, OpenStackCloud)
    assert app.model.meta_data is None  # the model holds only the dynamic state


def test_a_document_key_next_to_a_tree_is_refused_naming_the_key(tmp_path: Path) -> None:
    story = scenario_file(
        tmp_path, {"type": "ec2", "tree": "t", "meta_data": {"instance-id": "i-1"}}
    )
    with pytest.raises(ScenarioError) as refused:
        run_scenario(load_scenario(story))
    assert refused.value.field == "cloud.meta_data"
    assert "cloud.tree replaces the cloud's documents" in refused.value.message


def test_settings_stay_with_a_tree(tmp_path: Path) -> None:
    write(tmp_path, {"latest/meta-data/instance-id": "i-1"})
    (app,) = tree_cloud("ec2", tmp_path, imdsv2="required", base_url="http://10.9.9.9/")
    assert app.base_url == "http://10.9.9.9/"
    assert get(app, "/latest/meta-data/instance-id").status == 401


# --- listings, versions and protocols -----------------------------------------------------------


def test_ec2_lists_folders_and_public_keys_as_ec2_does() -> None:
    (app,) = tree_cloud("ec2", TREES / "ec2")
    root = get(app, "/").body.decode().splitlines()
    assert root[0] == "1.0" and "2009-04-04" in root and root[-1] == "latest"
    assert get(app, "/latest/").body.decode().splitlines() == ["meta-data", "user-data"]
    listing = get(app, "/latest/meta-data/").body.decode().splitlines()
    assert {"instance-id", "placement/", "public-keys/", "iam/"} <= set(listing)
    assert get(app, "/latest/meta-data/public-keys").body == b"0=guestsim-test-key"
    assert get(app, "/latest/meta-data/public-keys/0").body == b"openssh-key"
    key = get(app, "/2009-04-04/meta-data/public-keys/0/openssh-key")
    assert key.status == 200 and key.body.startswith(b"ssh-rsa ")
    # An IAM document is a file in the folder: served as it is.
    info = json.loads(get(app, "/latest/meta-data/iam/info").body)
    assert info["Code"] == "Success"
    assert get(app, "/latest/meta-data/nothing-here").status == 404


def test_a_version_folder_present_is_served_as_it_is(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "openstack/latest/meta_data.json": '{"uuid": "latest"}',
            "openstack/2013-04-04/meta_data.json": '{"uuid": "dated"}',
        },
    )
    (app,) = tree_cloud("openstack", tmp_path)
    assert json.loads(get(app, "/openstack/2013-04-04/meta_data.json").body)["uuid"] == "dated"
    assert json.loads(get(app, "/openstack/2012-08-10/meta_data.json").body)["uuid"] == "latest"
    listing = get(app, "/openstack/").body.decode().splitlines()
    assert listing[0] == "2012-08-10" and listing[-1] == "latest"
    assert get(app, "/openstack/latest").body.decode().splitlines() == ["meta_data.json"]
    # A version Nova never had is not invented.
    assert get(app, "/openstack/1999-01-01/meta_data.json").status == 404


def test_the_openstack_password_stays_the_clouds(tmp_path: Path) -> None:
    write(tmp_path, {"openstack/latest/meta_data.json": "{}", "openstack/latest/password": "x"})
    (app,) = tree_cloud("openstack", tmp_path, password="")
    post = SimRequest("POST", "", "/openstack/2013-04-04/password", {}, b"secret")
    assert app.handle(post).status == 200
    assert get(app, "/openstack/latest/password").body == b"secret"
    assert app.handle(post).status == 409


def test_ec2_tokens_stay_the_clouds() -> None:
    (app,) = tree_cloud("ec2", TREES / "ec2", imdsv2="required")
    assert get(app, "/latest/meta-data/instance-id").status == 401
    put = SimRequest("PUT", "", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    token = app.handle(put).body.decode()
    reply = get(app, "/latest/meta-data/instance-id", **{"X-aws-ec2-metadata-token": token})
    assert (reply.status, reply.body) == (200, b"i-07e1ee7ree0000001")
    stale = get(app, "/latest/meta-data/instance-id", **{"X-aws-ec2-metadata-token": "x"})
    assert stale.status == 401
    # Not EC2's: a plain 404 whatever the token situation, as without a tree.
    assert get(app, "/openstack/latest/meta_data.json").status == 404


def test_gce_checks_the_flavor_redirects_folders_and_answers_recursive_json() -> None:
    (app,) = tree_cloud("gce", TREES / "gce")
    google = {"Metadata-Flavor": "Google"}
    assert get(app, "/computeMetadata/v1/instance/name").status == 403
    name = get(app, "/computeMetadata/v1/instance/name", **google)
    assert (name.status, name.body) == (200, b"tree-gce-01")
    assert name.headers["Metadata-Flavor"] == "Google"
    folder = get(app, "/computeMetadata/v1/instance", **google)
    assert (folder.status, folder.headers["Location"]) == (301, "/computeMetadata/v1/instance/")
    listing = get(app, "/computeMetadata/v1/instance/", **google).body.decode()
    assert "attributes/\n" in listing and "name\n" in listing
    for value in ("true", "True"):
        reply = get(app, f"/computeMetadata/v1/instance/attributes/?recursive={value}", **google)
        assert reply.headers["Content-Type"] == "application/json"
        assert json.loads(reply.body)["user-data-encoding"] == "base64"
    alt = get(app, "/computeMetadata/v1/instance/id?alt=json", **google)
    assert json.loads(alt.body) == "4520031799277581759"
    assert get(app, "/computeMetadata/v1/instance/id/", **google).status == 404


def test_maas_signatures_stay_required() -> None:
    (app,) = tree_cloud("maas", TREES / "maas")
    assert get(app, "/MAAS/metadata/").status == 200  # the version index is anonymous
    refused = get(app, "/MAAS/metadata/2012-03-01/meta-data/instance-id")
    assert refused.status == 401 and b"Authorization" in refused.body


def test_oracle_answers_folders_as_json_and_keeps_the_bearer_check() -> None:
    (app,) = tree_cloud("oracle", TREES / "oracle")
    bearer = {"Authorization": "Bearer Oracle"}
    assert get(app, "/opc/v2/instance/hostname").status == 401
    assert get(app, "/opc/v2/instance/hostname", **bearer).body == b"tree-oci-01"
    document = get(app, "/opc/v2/instance/", **bearer)
    assert document.headers["Content-Type"] == "application/json"
    assert json.loads(document.body)["regionInfo"]["realmKey"] == "oc1"
    # v1 (legacy, no header) is served from the folder's v2; OCI lists nothing above.
    assert get(app, "/opc/v1/instance/id").body.startswith(b"ocid1.instance.")
    assert get(app, "/").status == 404
    assert get(app, "/opc/v2/", **bearer).status == 404
    (legacy_off,) = tree_cloud("oracle", TREES / "oracle", legacy_v1=False)
    assert get(legacy_off, "/opc/v1/instance/id").status == 404


def test_oracle_folder_of_indices_is_a_json_array(tmp_path: Path) -> None:
    write(tmp_path, {"opc/v2/vnics/0/vnicId": "a", "opc/v2/vnics/1/vnicId": "b"})
    (app,) = tree_cloud("oracle", tmp_path)
    reply = get(app, "/opc/v2/vnics/", Authorization="Bearer Oracle")
    assert json.loads(reply.body) == [{"vnicId": "a"}, {"vnicId": "b"}]


def test_azure_documents_are_named_by_path_and_query() -> None:
    (app,) = tree_cloud("azure", TREES / "azure")
    versions = get(app, "/?comp=Versions")
    assert versions.status == 200 and b"<Versions>" in versions.body
    assert get(app, "/machine?comp=goalstate").status == 400  # no x-ms-version
    goal_state = get(app, "/machine?comp=goalstate", **{"x-ms-version": "2015-04-05"})
    assert b"0c7e5a3f-7b1d-4e22-9a61-tree00000001" in goal_state.body
    assert goal_state.headers["Content-Type"].startswith("text/xml")
    # The WireServer lists nothing; its model takes the folder's container for the posts.
    assert get(app, "/machine/", **{"x-ms-version": "2015-04-05"}).status == 404
    assert isinstance(app, AzureWireServer)
    assert app.model.container_id == "0c7e5a3f-7b1d-4e22-9a61-tree00000001"


def test_azure_accepts_wget_unix_naming(tmp_path: Path) -> None:
    write(tmp_path, {"?comp=Versions": "<Versions/>", "machine?comp=goalstate": "<GoalState/>"})
    (app,) = tree_cloud("azure", tmp_path)
    assert get(app, "/?comp=versions").body == b"<Versions/>"  # the query in any case
    assert get(app, "/machine?comp=goalstate", **{"x-ms-version": "2015-04-05"}).status == 200


def test_cloudstack_lists_plainly_and_keeps_its_password_server() -> None:
    metadata, password = tree_cloud("cloudstack", TREES / "cloudstack")
    listing = get(metadata, "/latest/meta-data/").body.decode().splitlines()
    assert listing == sorted(listing) and "local-hostname" in listing
    assert metadata.tree is not None and password.tree is None
    reply = password.handle(SimRequest("GET", "", "/", {"DomU_Request": "send_my_password"}))
    assert reply.body  # the bundled pending password, as without a tree


def test_packet_phone_home_on_the_metadata_host_stays_the_clouds(tmp_path: Path) -> None:
    document = {"id": "p-1", "hostname": "h", "phone_home_url": "https://metadata.packet.net/ph"}
    write(tmp_path, {"metadata": json.dumps(document), "ph/key": "from-the-folder"})
    (app,) = tree_cloud("packet", tmp_path)
    assert json.loads(get(app, "/metadata").body)["id"] == "p-1"
    assert get(app, "/ph/key").body.startswith(b"ssh-rsa ")  # the model's key, not the file
    assert app.handle(SimRequest("POST", "", "/ph", {}, b"")).status == 200
    assert isinstance(app, PacketMetadataCloud)
    assert app.model.provisioning_completed


def test_explain_shows_the_folder_and_its_files() -> None:
    shown = explain(load_scenario(EC2_FOLDER_STORY))
    assert "tree " in shown and "latest/meta-data/public-keys/0=ops-key/openssh-key" in shown


def test_the_pytest_fixture_can_serve_a_tree(guest_machine: Any, metadata_cloud: Any) -> None:
    metadata_cloud.use("ec2", tree=str(TREES / "ec2"))
    guest_machine.configure(
        metadata_services=["cloudbaseinit.metadata.services.ec2service.EC2Service"]
    )
    guest_machine.use_plugins("SetHostNamePlugin").configure(allow_reboot=True)
    guest_machine.run()
    assert guest_machine.state.computer_name == "ip-10-0-7-21"


# --- hostile folders -------------------------------------------------------------------------


def test_dot_dot_in_a_request_never_leaves_the_folder(tmp_path: Path) -> None:
    write(tmp_path, {"secret": "outside", "tree/latest/meta-data/instance-id": "i-1"})
    (app,) = tree_cloud("ec2", tmp_path / "tree")
    for path in ("/latest/../../secret", "/latest/%2e%2e/%2e%2e/secret", "/..%2f..%2fsecret"):
        reply = get(app, path)
        assert reply.status == 404 and b"outside" not in reply.body


def test_hidden_files_are_left_out(tmp_path: Path) -> None:
    write(tmp_path, {"latest/meta-data/instance-id": "i-1", "latest/meta-data/.gitkeep": ""})
    (app,) = tree_cloud("ec2", tmp_path)
    assert get(app, "/latest/meta-data/").body == b"instance-id"
    assert get(app, "/latest/meta-data/.gitkeep").status == 404


def _tree_error(tmp_path: Path, tree: str = "tree") -> ScenarioError:
    story = scenario_file(tmp_path, {"type": "openstack", "tree": tree})
    with pytest.raises(ScenarioError) as refused:
        run_scenario(load_scenario(story))
    assert refused.value.path == str(story) and refused.value.field == "cloud.tree"
    return refused.value


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
def test_a_symbolic_link_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"secret": "outside", "tree/openstack/latest/meta_data.json": "{}"})
    (tmp_path / "tree" / "openstack" / "latest" / "user_data").symlink_to(tmp_path / "secret")
    error = _tree_error(tmp_path)
    assert "user_data: symbolic link points outside" in error.message


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
def test_links_inside_the_folder_are_followed_and_loops_refused(tmp_path: Path) -> None:
    write(tmp_path, {"tree/openstack/latest/meta_data.json": '{"uuid": "u"}'})
    (tmp_path / "tree" / "openstack" / "2013-04-04").symlink_to("latest")
    (app,) = tree_cloud("openstack", tmp_path / "tree")
    assert get(app, "/openstack/2013-04-04/meta_data.json").body == b'{"uuid": "u"}'
    (tmp_path / "tree" / "openstack" / "latest" / "loop").symlink_to("..")
    assert "symbolic link loop" in _tree_error(tmp_path).message


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    write(tmp_path, {"tree/openstack/latest/meta_data.json": "{}"})
    with (tmp_path / "tree" / "openstack" / "latest" / "user_data").open("wb") as sparse:
        sparse.truncate(17 * MIB)  # sparse: costs no disk, and must never be read
    error = _tree_error(tmp_path)
    assert "user_data: 17825792 bytes, more than the 16 MiB a file may have" in error.message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_a_fifo_is_refused_not_opened(tmp_path: Path) -> None:
    write(tmp_path, {"tree/openstack/latest/meta_data.json": "{}"})
    os.mkfifo(tmp_path / "tree" / "openstack" / "latest" / "user_data")
    assert "user_data: not a regular file or folder" in _tree_error(tmp_path).message


def test_a_missing_folder_is_a_scenario_error(tmp_path: Path) -> None:
    assert "no such folder" in _tree_error(tmp_path, "nowhere").message


def test_the_folder_limits_on_count_and_total_size(tmp_path: Path) -> None:
    write(tmp_path, {f"f{index}": "x" * 10 for index in range(5)})
    assert len(read_folder(tmp_path)) == 5
    with pytest.raises(FolderError, match="more than 4 files and folders"):
        read_folder(tmp_path, max_entries=4)
    (tmp_path / "d1" / "d2").mkdir(parents=True)  # empty folders count too
    with pytest.raises(FolderError, match="more than 6 files and folders"):
        read_folder(tmp_path, max_entries=6)
    with pytest.raises(FolderError, match="more than 40 bytes in all"):
        read_folder(tmp_path, max_total_bytes=40)


# --- guestsim serve --tree -------------------------------------------------------------------


@pytest.mark.host_tools(sys.executable)  # a `guestsim` (or pytest) child of this Python
def test_guestsim_serve_tree_answers_from_the_folder_over_loopback(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    command = "from guestsim.simulator.cli import main; main()"
    process = subprocess.Popen(
        [sys.executable, "-c", command, "serve", "ec2", "--tree", str(TREES / "ec2")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        match = re.search(r"serving on (http://127\.0\.0\.1:\d+/)", banner)
        assert match, banner + (process.stderr.read() if process.stderr else "")
        url = match.group(1)
        with urllib.request.urlopen(f"{url}latest/meta-data/instance-id") as reply:
            assert reply.read() == b"i-07e1ee7ree0000001"
        with urllib.request.urlopen(f"{url}2009-04-04/meta-data/public-keys/") as reply:
            assert reply.read() == b"0=guestsim-test-key"
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{url}latest/meta-data/no-such-thing")
        assert missing.value.code == 404
        assert process.stdout.readline().strip() == "GET /latest/meta-data/instance-id -> 200"
    finally:
        process.terminate()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


def test_serve_says_which_folder_format_each_option_takes() -> None:
    runner = CliRunner()
    wrong_data = runner.invoke(cli, ["serve", "openstack", "--data", str(TREES / "openstack")])
    assert wrong_data.exit_code == 2
    assert "fixture format" in wrong_data.output and "--tree" in wrong_data.output
    fixtures = bundled("fixtures") / "clouds" / "openstack"
    wrong_tree = runner.invoke(cli, ["serve", "openstack", "--tree", str(fixtures)])
    assert wrong_tree.exit_code == 2
    assert "wire path" in wrong_tree.output and "--data" in wrong_tree.output
    both = runner.invoke(cli, ["serve", "ec2", "--data", str(fixtures), "--tree", str(fixtures)])
    assert both.exit_code == 2 and "give one" in both.output
    helped = runner.invoke(cli, ["serve", "--help"])
    assert "fixture format" in helped.output and "wire paths" in helped.output


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
def test_serve_refuses_a_hostile_tree_in_one_line(tmp_path: Path) -> None:
    write(tmp_path, {"secret": "outside", "tree/latest/meta-data/instance-id": "i-1"})
    (tmp_path / "tree" / "latest" / "user-data").symlink_to(tmp_path / "secret")
    result = CliRunner().invoke(cli, ["serve", "ec2", "--tree", str(tmp_path / "tree")])
    assert result.exit_code == 2
    assert "symbolic link points outside" in result.output


# --- config drives from a folder -------------------------------------------------------------


def test_a_config_drive_is_built_from_a_folder_at_run_time() -> None:
    outcome = run_scenario(load_scenario(DRIVE_FOLDER_STORY))
    assert outcome.failures == []
    assert outcome.result.state.computer_name == "drive-folder-01"


def test_the_folder_drive_is_the_image_configdrive_build_makes(tmp_path: Path) -> None:
    folder = DRIVE_FOLDER_STORY.with_suffix("")
    image = tmp_path / "disk.img"
    built = CliRunner().invoke(
        cli,
        ["configdrive", "build", str(folder), "-o", str(image), "--format", "disk-gpt"],
    )
    assert built.exit_code == 0, built.output
    attached = load_scenario(DRIVE_FOLDER_STORY).build_machine().state.disks[-1]
    assert attached.data == image.read_bytes()


def _drive_story(tmp_path: Path, image: dict[str, Any]) -> Path:
    path = tmp_path / "drive.yaml"
    path.write_text(
        json.dumps(
            {
                "description": "drive",
                "cloud": None,
                "machine": {"media": [{"cdrom": {"image": image}}]},
                "agent": {"options": {"DEFAULT": {"plugins": []}}},
                "expect": {"boots": 1, "failed_plugins": []},
            }
        )
    )
    return path


def test_a_folder_drive_with_a_nocloud_layout_gets_the_cidata_label(tmp_path: Path) -> None:
    write(tmp_path, {"seed/meta-data": "instance-id: i-1\n"})
    story = _drive_story(tmp_path, {"folder": "seed", "layout": "nocloud"})
    state = load_scenario(story).build_machine().state
    assert [drive.label for drive in state.drives if drive.kind == "cdrom"] == ["cidata"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
def test_a_hostile_drive_folder_is_a_scenario_error_naming_the_field(tmp_path: Path) -> None:
    write(tmp_path, {"secret": "outside", "drive/openstack/latest/meta_data.json": "{}"})
    (tmp_path / "drive" / "openstack" / "latest" / "user_data").symlink_to(tmp_path / "secret")
    story = _drive_story(tmp_path, {"folder": "drive"})
    with pytest.raises(ScenarioError) as refused:
        load_scenario(story).build_machine()
    assert refused.value.field == "machine.media[0].cdrom.image.folder"
    assert "symbolic link points outside" in refused.value.message


def test_a_drive_folder_and_documents_together_are_refused(tmp_path: Path) -> None:
    write(tmp_path, {"drive/openstack/latest/meta_data.json": "{}"})
    story = _drive_story(tmp_path, {"folder": "drive", "documents": {"meta_data": {}}})
    with pytest.raises(ScenarioError, match="give one of folder and documents"):
        load_scenario(story).build_machine()
