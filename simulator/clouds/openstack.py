"""OpenStack's Nova metadata API: the model (documents, password) and its routes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from guestsim.simulator.clouds import ec2
from guestsim.simulator.clouds.base import CloudApp, SimRequest, SimResponse, not_found, text
from guestsim.simulator.clouds.documents import DocumentSource

DEFAULT_BASE_URL = "http://169.254.169.254/"

# Metadata API versions Nova lists; the password API exists from 2013-04-04 on.
VERSIONS = (
    "2012-08-10",
    "2013-04-04",
    "2013-10-17",
    "2015-10-15",
    "2016-06-30",
    "2016-10-06",
    "2017-02-22",
    "2018-08-27",
    "2020-10-14",
)
# What Nova lists at its root: the EC2-compatible API versions it also serves, then
# "latest". Only the listing is modelled (cloudbase-init's route check GETs the root).
EC2_VERSIONS = ec2.VERSIONS[: ec2.VERSIONS.index("2009-04-04") + 1]
PASSWORD_SINCE = "2013-04-04"
# Dynamic vendor data (vendor_data2.json) exists from Newton's 2016-10-06 on.
VENDOR_DATA2_SINCE = "2016-10-06"
# Nova refuses longer password posts.
MAX_PASSWORD_BYTES = 1020


@dataclass
class OpenStackModel:
    meta_data: dict[str, Any]
    user_data: bytes | None = None
    network_data: dict[str, Any] | None = None
    vendor_data: dict[str, Any] = field(default_factory=dict)
    # Nova's dynamic vendor data, one entry per configured target; {} with none.
    vendor_data2: dict[str, Any] = field(default_factory=dict)
    password: str = ""


class OpenStackCloud(CloudApp):
    name = "openstack"

    def __init__(self, model: OpenStackModel, base_url: str = DEFAULT_BASE_URL) -> None:
        super().__init__(base_url)
        self.model = model
        version = "(?P<version>latest|" + "|".join(VERSIONS) + ")"
        self.route("GET", "/", self._root)
        self.route("GET", "/openstack/?", self._versions)
        self.route("GET", f"/openstack/{version}/meta_data.json", self._meta_data)
        self.route("GET", f"/openstack/{version}/user_data", self._user_data)
        self.route("GET", f"/openstack/{version}/network_data.json", self._network_data)
        self.route("GET", f"/openstack/{version}/vendor_data.json", self._vendor_data)
        self.route("GET", f"/openstack/{version}/vendor_data2.json", self._vendor_data2)
        self.route("GET POST", f"/openstack/{version}/password", self._password)

    def _root(self, request: SimRequest) -> SimResponse:
        return text("\n".join([*EC2_VERSIONS, "latest"]))

    def _versions(self, request: SimRequest) -> SimResponse:
        return text("\n".join([*VERSIONS, "latest"]))

    def _meta_data(self, request: SimRequest, version: str) -> SimResponse:
        return text(json.dumps(self.model.meta_data), content_type="application/json")

    def _user_data(self, request: SimRequest, version: str) -> SimResponse:
        if self.model.user_data is None:
            return not_found()
        return text(self.model.user_data, content_type="application/octet-stream")

    def _network_data(self, request: SimRequest, version: str) -> SimResponse:
        if self.model.network_data is None or version < "2015-10-15":
            return not_found()
        return text(json.dumps(self.model.network_data), content_type="application/json")

    def _vendor_data(self, request: SimRequest, version: str) -> SimResponse:
        return text(json.dumps(self.model.vendor_data), content_type="application/json")

    def _vendor_data2(self, request: SimRequest, version: str) -> SimResponse:
        if version != "latest" and version < VENDOR_DATA2_SINCE:
            return not_found()
        return text(json.dumps(self.model.vendor_data2), content_type="application/json")

    def _password(self, request: SimRequest, version: str) -> SimResponse:
        if version != "latest" and version < PASSWORD_SINCE:
            return not_found()
        if request.method == "GET":
            return text(self.model.password)
        if self.model.password:
            return text("Conflict", 409)
        if len(request.body) > MAX_PASSWORD_BYTES:
            return text("Bad Request", 400)
        self.model.password = request.body.decode("utf-8", "replace")
        return text("")


def build(source: DocumentSource) -> list[CloudApp]:
    model = OpenStackModel(
        meta_data=source.json("meta_data", "meta_data.json"),
        user_data=source.raw("user_data", "user_data"),
        network_data=source.json("network_data", "network_data.json"),
        vendor_data=source.json("vendor_data", "vendor_data.json") or {},
        vendor_data2=source.json("vendor_data2", "vendor_data2.json") or {},
        password=source.setting("password", ""),
    )
    return [OpenStackCloud(model, source.setting("base_url", DEFAULT_BASE_URL))]
