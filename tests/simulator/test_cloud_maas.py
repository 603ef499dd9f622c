"""The simulated MAAS metadata API's own contract: routes, formats, and OAuth refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
from oauthlib import oauth1

from guestsim.agent.metadata.maas import oauth_plaintext_header
from guestsim.simulator.clouds import DocumentSource, build_clouds, cloud_schema
from guestsim.simulator.clouds.base import SimRequest, SimResponse
from guestsim.simulator.clouds.maas import (
    DEFAULT_BASE_URL,
    MaasCloud,
    MaasCredentials,
    MaasModel,
    build,
    parse_oauth_header,
)
from guestsim.simulator.errors import ScenarioError
from tests.builders import FIXTURES, public_key

CREDENTIALS = MaasCredentials("consumer", "token", "token-secret")
P = "/MAAS/metadata"
CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def model(**overrides: Any) -> MaasModel:
    fields: dict[str, Any] = {
        "credentials": CREDENTIALS,
        "instance_id": "abc123",
        "local_hostname": "node-1.maas",
        "public_keys": [public_key(), "ssh-ed25519 AAAAC3Nz second"],
        "x509": CERT,
        "user_data": b"\x00binary user data\xff",
    }
    fields.update(overrides)
    return MaasModel(**fields)


def signed(
    consumer_key: str = "consumer",
    token_key: str = "token",
    token_secret: str = "token-secret",
    consumer_secret: str = "",
) -> dict[str, str]:
    header = oauth_plaintext_header(
        f"http://10.20.0.2:5240{P}/",
        consumer_key,
        consumer_secret,
        token_key,
        token_secret,
        "98765",
        "1767225600",
    )
    return {"Authorization": header}


def get(
    cloud: MaasCloud, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> SimResponse:
    url = f"http://10.20.0.2:5240{path}"
    headers = signed() if headers is None else headers
    return cloud.handle(SimRequest(method, url, path, headers))


# --- routes --------------------------------------------------------------------------------


def test_the_version_index_is_anonymous() -> None:
    response = get(MaasCloud(model()), f"{P}/", headers={})
    assert (response.status, response.body) == (200, b"2012-03-01\nlatest")


@pytest.mark.parametrize("version", ["2012-03-01", "latest"])
def test_version_and_meta_data_indexes(version: str) -> None:
    cloud = MaasCloud(model())
    assert get(cloud, f"{P}/{version}/").body == b"meta-data\nuser-data"
    index = get(cloud, f"{P}/{version}/meta-data/")
    assert index.status == 200
    assert index.body == b"instance-id\nlocal-hostname\npublic-keys\nx509"


@pytest.mark.parametrize(
    ("item", "body"),
    [
        ("instance-id", b"abc123"),
        ("local-hostname", b"node-1.maas"),
        ("public-keys", f"{public_key()}\nssh-ed25519 AAAAC3Nz second".encode()),
        ("x509", CERT.encode()),
    ],
)
def test_meta_data_items_are_text(item: str, body: bytes) -> None:
    response = get(MaasCloud(model()), f"{P}/2012-03-01/meta-data/{item}")
    assert (response.status, response.body) == (200, body)
    assert response.headers["Content-Type"] == "text/plain"


def test_user_data_is_served_byte_for_byte() -> None:
    response = get(MaasCloud(model()), f"{P}/2012-03-01/user-data")
    assert (response.status, response.body) == (200, b"\x00binary user data\xff")


def test_absent_user_data_and_x509_answer_404_and_leave_the_indexes() -> None:
    cloud = MaasCloud(model(user_data=None, x509=None))
    assert get(cloud, f"{P}/2012-03-01/user-data").status == 404
    assert get(cloud, f"{P}/2012-03-01/meta-data/x509").status == 404
    assert get(cloud, f"{P}/2012-03-01/").body == b"meta-data"
    assert b"x509" not in get(cloud, f"{P}/2012-03-01/meta-data/").body


def test_unknown_items_versions_and_methods() -> None:
    cloud = MaasCloud(model())
    assert get(cloud, f"{P}/2012-03-01/meta-data/vendor-secrets").status == 404
    assert get(cloud, f"{P}/2009-04-04/meta-data/").status == 404
    assert get(cloud, "/openstack/latest/meta_data.json").status == 404
    assert get(cloud, f"{P}/2012-03-01/user-data", method="POST").status == 405


def test_empty_public_keys_is_an_empty_200() -> None:
    response = get(MaasCloud(model(public_keys=[])), f"{P}/2012-03-01/meta-data/public-keys")
    assert (response.status, response.body) == (200, b"")


def test_every_request_is_logged_with_its_status() -> None:
    cloud = MaasCloud(model())
    get(cloud, f"{P}/2012-03-01/meta-data/instance-id")
    get(cloud, f"{P}/2012-03-01/meta-data/instance-id", headers={})
    assert [(r.method, r.path, r.status) for r in cloud.requests] == [
        ("GET", f"{P}/2012-03-01/meta-data/instance-id", 200),
        ("GET", f"{P}/2012-03-01/meta-data/instance-id", 401),
    ]
    assert len(cloud.authorizations) == 1
    assert cloud.authorizations[0]["oauth_nonce"] == "98765"


def test_the_mount_point_follows_the_base_url() -> None:
    cloud = MaasCloud(model(), "http://maas.example:5240/MAAS/metadata.v2/")
    assert get(cloud, "/MAAS/metadata.v2/2012-03-01/meta-data/instance-id").body == b"abc123"
    # The dot in the mount point is literal, not a regex wildcard.
    assert get(cloud, "/MAAS/metadataXv2/2012-03-01/meta-data/instance-id").status == 404


# --- OAuth refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        signed(token_secret="wrong"),
        signed(consumer_secret="not-empty"),
        signed(consumer_key="other"),
        signed(token_key="other"),
        {"Authorization": 'OAuth oauth_consumer_key="consumer", oauth_token="token"'},
        {"Authorization": signed()["Authorization"].replace("PLAINTEXT", "HMAC-SHA1")},
        {"Authorization": signed()["Authorization"].replace('oauth_nonce="98765", ', "")},
        {"Authorization": "OAuth garbage"},
    ],
    ids=[
        "unsigned",
        "basic-auth",
        "wrong-token-secret",
        "wrong-consumer-secret",
        "unknown-consumer",
        "unknown-token",
        "no-signature",
        "hmac-method",
        "no-nonce",
        "unparsable",
    ],
)
def test_anything_but_a_valid_signature_is_refused_with_401(headers: dict[str, str]) -> None:
    cloud = MaasCloud(model())
    for path in (f"{P}/2012-03-01/", f"{P}/2012-03-01/meta-data/", f"{P}/latest/user-data"):
        response = get(cloud, path, headers=headers)
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("OAuth")
        assert response.body.startswith(b"Authorization Error")
    assert cloud.authorizations == []


def test_refusal_applies_even_to_items_that_do_not_exist() -> None:
    cloud = MaasCloud(model(user_data=None))
    assert get(cloud, f"{P}/2012-03-01/user-data", headers={}).status == 401


def test_header_parameters_are_accepted_in_any_order_and_spacing() -> None:
    header = (
        'OAuth oauth_signature="%26token-secret",oauth_token="token",  '
        'oauth_consumer_key="consumer", realm="", oauth_signature_method="PLAINTEXT", '
        'oauth_timestamp="1", oauth_nonce="n", oauth_version="1.0"'
    )
    response = get(MaasCloud(model()), f"{P}/2012-03-01/meta-data/", {"Authorization": header})
    assert response.status == 200


def test_a_consumer_secret_and_reserved_characters_are_checked_after_encoding() -> None:
    credentials = MaasCredentials("ck", "tk", "a&b c", consumer_secret="s/é")
    cloud = MaasCloud(model(credentials=credentials))
    good = signed("ck", "tk", "a&b c", "s/é")
    assert get(cloud, f"{P}/2012-03-01/meta-data/", good).status == 200
    # Unencoded secrets (a naive signer) are not the PLAINTEXT signature.
    naive = {
        "Authorization": good["Authorization"].replace(
            'oauth_signature="s%252F%25C3%25A9%26a%2526b%2520c"', 'oauth_signature="s/é&a&b c"'
        )
    }
    assert naive != good
    assert get(cloud, f"{P}/2012-03-01/meta-data/", naive).status == 401


def test_parse_oauth_header() -> None:
    assert parse_oauth_header(None) is None
    assert parse_oauth_header("Bearer x") is None
    assert parse_oauth_header('OAuth realm=""') == {"realm": ""}
    assert parse_oauth_header('oauth oauth_a="%26", oauth_b="x%20y"') == {
        "oauth_a": "&",
        "oauth_b": "x y",
    }
    assert parse_oauth_header("OAuth garbage") is None
    # Only the oauth_* values are percent-decoded, as oauthlib collects them.
    assert parse_oauth_header('OAuth realm="a%20b", oauth_x="a%20b"') == {
        "realm": "a%20b",
        "oauth_x": "a b",
    }


def oauthlib_header(token_key: str | None, token_secret: str = "token-secret") -> dict[str, str]:
    client = oauth1.Client(
        "consumer",
        resource_owner_key=token_key,
        resource_owner_secret=token_secret,
        signature_method=oauth1.SIGNATURE_PLAINTEXT,
        nonce="1",
        timestamp="1767225600",
    )
    return {"Authorization": client.sign(f"http://10.20.0.2:5240{P}/")[1]["Authorization"]}


def test_a_request_signed_by_oauthlib_is_accepted() -> None:
    assert get(MaasCloud(model()), f"{P}/2012-03-01/", oauthlib_header("token")).status == 200
    wrong = oauthlib_header("token", token_secret="nope")
    assert get(MaasCloud(model()), f"{P}/2012-03-01/", wrong).status == 401


def test_a_node_without_a_token_key_takes_requests_without_oauth_token() -> None:
    cloud = MaasCloud(model(credentials=MaasCredentials("consumer", "", "token-secret")))
    headers = oauthlib_header("")
    assert "oauth_token" not in headers["Authorization"]
    assert get(cloud, f"{P}/2012-03-01/meta-data/instance-id", headers).body == b"abc123"
    # An empty oauth_token, as guestsim's agent sent before it signed with oauthlib, is
    # the same empty token.
    assert get(cloud, f"{P}/2012-03-01/", signed(token_key="")).status == 200
    assert get(cloud, f"{P}/2012-03-01/", signed(token_key="token")).status == 401
    assert len(cloud.authorizations) == 2


def test_a_node_with_a_token_key_refuses_requests_without_oauth_token() -> None:
    response = get(MaasCloud(model()), f"{P}/2012-03-01/", oauthlib_header(None))
    assert response.status == 401
    assert response.body == b"Authorization Error: missing OAuth parameters: oauth_token"


def test_only_oauth_version_1_0_is_accepted() -> None:
    header = signed()["Authorization"].replace('oauth_version="1.0"', 'oauth_version="2.0"')
    response = get(MaasCloud(model()), f"{P}/2012-03-01/", {"Authorization": header})
    assert response.status == 401
    no_version = signed()["Authorization"].replace('oauth_version="1.0", ', "")
    assert get(MaasCloud(model()), f"{P}/2012-03-01/", {"Authorization": no_version}).status == 200


# --- build, fixtures, schema ------------------------------------------------------------------


def test_build_serves_the_bundled_fixtures_out_of_the_box() -> None:
    (cloud,) = build_clouds(DocumentSource("maas", {}))
    assert isinstance(cloud, MaasCloud)
    assert cloud.base_url == DEFAULT_BASE_URL == "http://10.20.0.2:5240/MAAS/metadata/"
    fixture = FIXTURES / "clouds" / "maas"
    assert cloud.model.instance_id == "x7kq3m"
    assert cloud.model.public_keys == [public_key()]
    assert cloud.model.x509 == (fixture / "x509.pem").read_text()
    assert cloud.model.user_data == (fixture / "user-data").read_bytes()
    assert cloud.model.credentials.consumer_secret == ""
    response = get(
        cloud,
        f"{P}/2012-03-01/meta-data/local-hostname",
        signed(
            cloud.model.credentials.consumer_key,
            cloud.model.credentials.token_key,
            cloud.model.credentials.token_secret,
        ),
    )
    assert response.body == b"win-maas-01.maas"


def test_build_takes_inline_documents_and_settings(tmp_path: Path) -> None:
    (tmp_path / "certs.pem").write_text(CERT)
    spec = {
        "type": "maas",
        "base_url": "http://192.0.2.5:5240/MAAS/metadata/",
        "meta_data": {"instance-id": "n1", "local-hostname": "h.maas", "public-keys": "k1\nk2"},
        "credentials": {"consumer_key": "c", "token_key": "t", "token_secret": "s"},
        "x509_file": "certs.pem",
        "user_data": None,
    }
    (cloud,) = build(DocumentSource("maas", spec, tmp_path / "scenario.yaml"))
    assert isinstance(cloud, MaasCloud)
    assert cloud.base_url == "http://192.0.2.5:5240/MAAS/metadata/"
    assert cloud.model == MaasModel(
        MaasCredentials("c", "t", "s"), "n1", "h.maas", ["k1", "k2"], CERT, None
    )


def test_build_reports_an_unreadable_document_file(tmp_path: Path) -> None:
    spec = {"type": "maas", "x509_file": "missing.pem"}
    with pytest.raises(ScenarioError, match=r"missing\.pem"):
        build(DocumentSource("maas", spec, tmp_path / "scenario.yaml"))


def test_schema_accepts_the_documented_keys_and_rejects_others() -> None:
    validator = jsonschema.Draft202012Validator(cloud_schema("maas"))
    good = {
        "type": "maas",
        "base_url": "http://10.20.0.2:5240/MAAS/metadata/",
        "meta_data": {"instance-id": "a", "local-hostname": "b", "public-keys": ["k"]},
        "credentials": {"consumer_key": "c", "token_key": "t", "token_secret": "s"},
        "x509": None,
        "user_data": "#ps1\n",
    }
    assert list(validator.iter_errors(good)) == []
    for bad in (
        {**good, "password": "x"},
        {**good, "base_url": "http://10.20.0.2:5240/MAAS/metadata"},
        {**good, "user_data_file": "u"},
        {**good, "credentials": {"consumer_key": "c"}},
        {**good, "meta_data": {"hostname": "x"}},
        {**good, "type": "gce"},
    ):
        assert list(validator.iter_errors(bad)), bad
