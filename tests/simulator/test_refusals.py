"""Each simulated cloud refuses what the real one refuses, the way the reference says.

One request per cloud that the agent could get wrong (a missing header, a missing or bad
token or signature, a second password post), sent through the same transport the agent
uses, against each cloud's bundled documents.
"""

from __future__ import annotations

import pytest
import requests

from guestsim.simulator.clouds import CLOUD_TYPES, DocumentSource, build_clouds
from tests.builders import serving

# cloud -> (method, URL, headers, body, expected status, text the answer must contain)
REFUSALS: dict[str, tuple[str, str, dict[str, str], bytes | None, int, str]] = {
    "openstack": (
        "POST",
        "http://169.254.169.254/openstack/2013-04-04/password",
        {},
        b"x" * 1021,
        400,
        "",
    ),
    "ec2": ("PUT", "http://169.254.169.254/latest/api/token", {}, None, 400, ""),
    "cloudstack": ("GET", "http://10.1.1.1:8080/", {}, None, 200, "bad_request"),
    "maas": ("GET", "http://10.20.0.2:5240/MAAS/metadata/2012-03-01/meta-data/", {}, None, 401, ""),
    "gce": (
        "GET",
        "http://metadata.google.internal/computeMetadata/v1/instance/id",
        {},
        None,
        403,
        "",
    ),
    "azure": ("GET", "http://168.63.129.16/machine?comp=goalstate", {}, None, 400, ""),
    "packet": (
        "POST",
        "http://tinkerbell.sim.test/phone-home",
        {},
        b"this is not a password document",
        400,
        "",
    ),
    "oracle": ("GET", "http://169.254.169.254/opc/v2/instance/id", {}, None, 401, ""),
}


def test_every_cloud_has_a_refusal_case() -> None:
    assert sorted(REFUSALS) == sorted(CLOUD_TYPES)


@pytest.mark.parametrize("cloud", sorted(REFUSALS))
def test_cloud_refuses_a_request_it_must_refuse(cloud: str) -> None:
    method, url, headers, body, status, fragment = REFUSALS[cloud]
    apps = build_clouds(DocumentSource(cloud, {}))
    with serving(apps) as trace:
        response = requests.request(method, url, headers=headers, data=body)
    assert response.status_code == status
    assert fragment in response.text
    (event,) = trace.of_kind("http")
    assert (event.get("method"), event.get("url"), event.get("status")) == (method, url, status)


def test_ec2_with_imdsv2_required_refuses_a_tokenless_get() -> None:
    apps = build_clouds(DocumentSource("ec2", {"imdsv2": "required"}))
    with serving(apps):
        response = requests.get("http://169.254.169.254/2009-04-04/meta-data/instance-id")
    assert response.status_code == 401


def test_maas_refuses_a_wrong_signature() -> None:
    apps = build_clouds(DocumentSource("maas", {}))
    header = (
        'OAuth realm="", oauth_consumer_key="nope", oauth_token="nope", '
        'oauth_signature_method="PLAINTEXT", oauth_signature="%26wrong", '
        'oauth_nonce="1", oauth_timestamp="1", oauth_version="1.0"'
    )
    with serving(apps):
        response = requests.get(
            "http://10.20.0.2:5240/MAAS/metadata/2012-03-01/meta-data/",
            headers={"Authorization": header},
        )
    assert response.status_code == 401
