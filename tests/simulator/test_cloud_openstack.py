"""The simulated Nova metadata API's listings: its root and ``/openstack``."""

from __future__ import annotations

from guestsim.simulator.clouds.base import SimRequest
from guestsim.simulator.clouds.openstack import (
    EC2_VERSIONS,
    VERSIONS,
    OpenStackCloud,
    OpenStackModel,
)
from tests.builders import meta_data


def get(path: str) -> tuple[int, list[str]]:
    app = OpenStackCloud(OpenStackModel(meta_data=meta_data()))
    response = app.handle(SimRequest("GET", f"http://169.254.169.254{path}", path, {}))
    return response.status, response.body.decode().splitlines()


def test_the_root_lists_the_ec2_api_versions_then_latest() -> None:
    # What cloudbase-init's route check GETs: Nova answers with 200.
    status, lines = get("/")
    assert status == 200
    assert lines == [*EC2_VERSIONS, "latest"]
    assert lines[0] == "1.0" and "2009-04-04" in lines


def test_openstack_lists_its_own_versions_then_latest() -> None:
    status, lines = get("/openstack")
    assert status == 200
    assert lines == [*VERSIONS, "latest"]
    assert "2013-04-04" in lines and "1.0" not in lines


def test_the_root_takes_only_get() -> None:
    app = OpenStackCloud(OpenStackModel(meta_data=meta_data()))
    response = app.handle(SimRequest("POST", "http://169.254.169.254/", "/", {}, b"x"))
    assert response.status == 405
