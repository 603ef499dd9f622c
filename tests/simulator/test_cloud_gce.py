"""The simulated GCE metadata server's own contract: the tree, formats, and 403 refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from guestsim.simulator.clouds import DocumentSource, build_clouds, cloud_schema
from guestsim.simulator.clouds.base import SimRequest, SimResponse
from guestsim.simulator.clouds.gce import DEFAULT_BASE_URL, GceCloud, GceModel, build
from tests.builders import FIXTURES

V = "/computeMetadata/v1"
GOOGLE = {"Metadata-Flavor": "Google"}
TREE: dict[str, Any] = {
    "instance": {
        "id": 4520031799277581759,
        "name": "win-gce-01",
        "preemptible": False,
        "tags": ["rdp", "winrm"],
        "attributes": {"ssh-keys": "Admin:ssh-rsa AAAA Admin", "empty": ""},
        "gone": None,
    },
    "project": {"project-id": "guestsim-demo", "attributes": {}},
}


def cloud(tree: dict[str, Any] | None = None) -> GceCloud:
    return GceCloud(GceModel(json.loads(json.dumps(TREE if tree is None else tree))))


def get(
    gce: GceCloud, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> SimResponse:
    headers = GOOGLE if headers is None else headers
    return gce.handle(SimRequest(method, f"http://metadata.google.internal{path}", path, headers))


# --- the tree ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("instance/name", b"win-gce-01"),
        ("instance/id", b"4520031799277581759"),
        ("instance/preemptible", b"false"),
        ("instance/tags", b'["rdp", "winrm"]'),
        ("instance/attributes/ssh-keys", b"Admin:ssh-rsa AAAA Admin"),
        ("instance/attributes/empty", b""),
        ("project/project-id", b"guestsim-demo"),
    ],
)
def test_values_are_served_as_text_with_the_flavor_response_header(path: str, body: bytes) -> None:
    response = get(cloud(), f"{V}/{path}")
    assert (response.status, response.body) == (200, body)
    assert response.headers["Metadata-Flavor"] == "Google"
    assert response.headers["Content-Type"] == "application/text"


def test_folders_with_a_trailing_slash_list_their_entries() -> None:
    gce = cloud()
    assert get(gce, f"{V}/").body == b"instance/\nproject/\n"
    assert get(gce, f"{V}/instance/").body == (b"id\nname\npreemptible\ntags\nattributes/\ngone\n")
    assert get(gce, f"{V}/project/attributes/").body == b""


def test_a_folder_without_its_slash_redirects_like_gce() -> None:
    response = get(cloud(), f"{V}/instance/attributes")
    assert response.status == 301
    assert response.headers["Location"] == f"{V}/instance/attributes/"


def test_recursive_and_json_forms() -> None:
    gce = cloud()
    recursive = get(gce, f"{V}/instance/attributes/?recursive=true")
    assert recursive.headers["Content-Type"] == "application/json"
    assert json.loads(recursive.body) == TREE["instance"]["attributes"]
    assert json.loads(get(gce, f"{V}/instance/name?alt=json").body) == "win-gce-01"
    assert json.loads(get(gce, f"{V}/project/?alt=json").body) == ["project-id", "attributes/"]
    assert get(gce, f"{V}/instance/name?alt=text").body == b"win-gce-01"


@pytest.mark.parametrize(
    "path",
    [
        "instance/attributes/user-data",
        "instance/gone",
        "instance/name/",
        "instance/name/more",
        "project/attributes/ssh-keys",
        "oslogin/users",
    ],
)
def test_absent_paths_answer_404(path: str) -> None:
    response = get(cloud(), f"{V}/{path}")
    assert response.status == 404
    assert response.headers["Metadata-Flavor"] == "Google"


def test_only_get_is_served() -> None:
    assert get(cloud(), f"{V}/instance/name", method="POST").status == 405


def test_outside_the_mount_point_nothing_is_served() -> None:
    assert get(cloud(), "/computeMetadata/instance/name").status == 404
    assert get(cloud(), "/computeMetadata/v1beta1/instance/name").status == 404


def test_the_mount_point_follows_the_base_url() -> None:
    gce = GceCloud(GceModel(TREE), "http://169.254.169.254/computeMetadata/v1/")
    assert get(gce, f"{V}/instance/name").body == b"win-gce-01"


def test_the_model_is_live_so_a_test_can_change_metadata_between_reads() -> None:
    gce = cloud()
    gce.model.metadata["instance"]["attributes"]["user-data"] = "late"
    assert get(gce, f"{V}/instance/attributes/user-data").body == b"late"


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Metadata-Flavor": "google"}, {"Metadata-Flavor": "Google "}, {"X-Google": "1"}],
    ids=["missing", "lowercase-value", "trailing-space", "other-header"],
)
def test_without_the_exact_flavor_header_gce_answers_403(headers: dict[str, str]) -> None:
    gce = cloud()
    for path in ("instance/name", "instance/", "no/such/path"):
        response = get(gce, f"{V}/{path}", headers=headers)
        assert response.status == 403
        assert b"Missing Metadata-Flavor:Google header" in response.body
    assert {r.status for r in gce.requests} == {403}


def test_the_header_name_is_case_insensitive() -> None:
    assert get(cloud(), f"{V}/instance/name", {"metadata-flavor": "Google"}).status == 200


def test_a_forwarded_request_is_refused_even_with_the_flavor_header() -> None:
    response = get(cloud(), f"{V}/instance/name", {**GOOGLE, "X-Forwarded-For": "10.0.0.5"})
    assert response.status == 403


def test_requests_are_logged_with_their_status() -> None:
    gce = cloud()
    get(gce, f"{V}/instance/name")
    get(gce, f"{V}/instance/name", headers={})
    get(gce, f"{V}/instance/nope")
    assert [(r.path, r.status) for r in gce.requests] == [
        (f"{V}/instance/name", 200),
        (f"{V}/instance/name", 403),
        (f"{V}/instance/nope", 404),
    ]


# --- build, fixtures, schema ------------------------------------------------------------------


def test_build_serves_the_bundled_fixture_out_of_the_box() -> None:
    (gce,) = build_clouds(DocumentSource("gce", {}))
    assert isinstance(gce, GceCloud)
    assert gce.base_url == DEFAULT_BASE_URL == "http://metadata.google.internal/computeMetadata/v1/"
    fixture = json.loads((FIXTURES / "clouds" / "gce" / "metadata.json").read_text())
    assert gce.model.metadata == fixture
    assert get(gce, f"{V}/instance/name").body == b"win-gce-01"
    assert get(gce, f"{V}/instance/attributes/user-data-encoding").body == b"base64"
    keys = get(gce, f"{V}/instance/attributes/ssh-keys").body.decode().splitlines()
    assert [line.split(":", 1)[0] for line in keys] == ["Admin", "operator"]


def test_build_takes_an_inline_tree_a_file_and_a_base_url(tmp_path: Path) -> None:
    spec: dict[str, Any] = {
        "type": "gce",
        "base_url": "http://10.1.2.3/computeMetadata/v1/",
        "metadata": {"instance": {"name": "inline"}},
    }
    (gce,) = build(DocumentSource("gce", spec))
    assert isinstance(gce, GceCloud)
    assert gce.base_url == "http://10.1.2.3/computeMetadata/v1/"
    assert get(gce, f"{V}/instance/name").body == b"inline"
    (tmp_path / "tree.json").write_text(json.dumps({"instance": {"name": "from-file"}}))
    (from_file,) = build(DocumentSource("gce", {"metadata_file": "tree.json"}, tmp_path / "s.yaml"))
    assert isinstance(from_file, GceCloud)
    assert get(from_file, f"{V}/instance/name").body == b"from-file"


def test_schema_accepts_the_documented_keys_and_rejects_others() -> None:
    validator = jsonschema.Draft202012Validator(cloud_schema("gce"))
    good = {
        "type": "gce",
        "base_url": DEFAULT_BASE_URL,
        "metadata": {
            "instance": {"id": 1, "name": "n", "attributes": {"ssh-keys": "a", "flag": True}},
            "project": {"attributes": {}},
        },
    }
    assert list(validator.iter_errors(good)) == []
    for bad in (
        {**good, "instance": {}},
        {**good, "metadata": {"instance": {}, "oslogin": {}}},
        {**good, "metadata_file": "m.json"},
        {**good, "base_url": "http://metadata.google.internal/computeMetadata/v1"},
        {**good, "metadata": {"instance": "not a folder"}},
    ):
        assert list(validator.iter_errors(bad)), bad
