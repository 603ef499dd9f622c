"""The OpenStack HTTP service (``httpservice.HttpService``) against the simulated Nova API.

Reference: metadata-sources §2.1-2.2 (paths and keys) and §3.1 (requests, password
endpoint, quirks). What is pinned: which URLs are asked, with which method and body, what
each getter derives from ``meta_data.json``, and the password GET/POST rules.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests

from guestsim.agent.metadata.base import NotExistingMetadataException
from guestsim.agent.metadata.openstack import OpenStackMetadataError
from guestsim.agent.network import NetworkDataError
from guestsim.simulator.faults import Fault
from tests.agent.test_metadata_base_requests import ROUTE_CHECK, guest, log_lines
from tests.builders import INSTANCE_ID, meta_data, public_key

META = "/openstack/latest/meta_data.json"
PASSWORD_META = "/openstack/2013-04-04/meta_data.json"
PASSWORD = "/openstack/2013-04-04/password"
OPENSTACK_LOGGER = "guestsim.agent.metadata.openstack"
NO_RETRY = {"DEFAULT": {"retry_count": 0}}


# --- loading ---------------------------------------------------------------------------------


def test_load_reads_the_latest_metadata_document_at_the_base_url() -> None:
    with guest() as g:
        assert g.service.get_name() == "HttpService"
        assert g.service.load()
        assert g.service.get_instance_id() == INSTANCE_ID
    assert g.urls() == [
        ("GET", "http://169.254.169.254/", 200),
        ("GET", "http://169.254.169.254/openstack/latest/meta_data.json", 200),
    ]


@pytest.mark.parametrize("group", ["openstack", "DEFAULT"])
def test_the_base_url_is_an_option_also_read_from_default(group: str) -> None:
    options = {group: {"metadata_base_url": "http://10.0.0.1:8775/"}}
    with guest(options) as g:
        g.service.load()
    assert g.urls()[0][1] == "http://10.0.0.1:8775/openstack/latest/meta_data.json"


def test_a_missing_metadata_document_does_not_load_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, OPENSTACK_LOGGER)
    with guest(faults=(Fault(path=META, status=404),)) as g:
        assert g.service.load() is False
    assert g.paths() == [ROUTE_CHECK, ("GET", META, 404)]
    assert log_lines(caplog, OPENSTACK_LOGGER) == [
        "DEBUG Metadata not found at URL 'http://169.254.169.254/': "
        "openstack/latest/meta_data.json: not found"
    ]


def test_an_empty_document_fails_every_getter() -> None:
    # (Whether load() accepts it is left open here: see the report on the quirk of §3.1.)
    faults = (Fault(path=META, body="empty"),)
    with (
        guest(faults=faults) as g,
        pytest.raises(ValueError, match=r"^openstack/latest/meta_data.json is empty$"),
    ):
        g.service.get_host_name()


def test_a_document_that_is_not_an_object_does_not_load() -> None:
    with guest(document=[1, 2]) as g:
        assert g.service.load() is False
        with pytest.raises(
            ValueError, match=r"^openstack/latest/meta_data.json is not a JSON object$"
        ):
            g.service.get_host_name()


# --- what the getters derive ------------------------------------------------------------------


def getters(document: dict[str, Any], user_data: bytes | None = None) -> dict[str, Any]:
    with guest(document=document, user_data=user_data) as g:
        assert g.service.load()
        return {
            "instance_id": g.service.get_instance_id(),
            "host_name": g.service.get_host_name(),
            "public_keys": g.service.get_public_keys(),
            "admin_username": g.service.get_admin_username(),
            "admin_password": g.service.get_admin_password(),
            "kms_host": g.service.get_kms_host(),
            "client_auth_certs": g.service.get_client_auth_certs(),
        }


def test_a_minimal_document_gives_only_the_identity() -> None:
    assert getters({"uuid": "i-1", "hostname": "h1"}) == {
        "instance_id": "i-1",
        "host_name": "h1",
        "public_keys": [],
        "admin_username": None,
        "admin_password": None,
        "kms_host": None,
        "client_auth_certs": [],
    }


def test_a_document_without_identity_gives_none() -> None:
    values = getters({"name": "x", "meta": "not a mapping"})
    assert values["instance_id"] is None
    assert values["host_name"] is None
    assert values["admin_username"] is None


def test_keys_come_from_public_keys_and_ssh_entries_stripped_once_each() -> None:
    key = public_key()
    document = meta_data(
        public_keys={"a": f"{key}\n", "b": "ssh-rsa BBBB second "},
        keys=[
            {"name": "a", "type": "ssh", "data": f" {key}"},
            {"name": "c", "type": "x509", "data": "not a key"},
            {"name": "d", "type": "ssh", "data": "ssh-rsa CCCC third\n"},
        ],
    )
    assert getters(document)["public_keys"] == [key, "ssh-rsa BBBB second", "ssh-rsa CCCC third"]


def test_a_keys_entry_without_a_type_fails() -> None:
    with guest(document=meta_data(keys=[{"name": "k", "data": "x"}])) as g:
        assert g.service.load()
        # Upstream fails with KeyError('type'); the plugin still fails, with the field named.
        with pytest.raises(OpenStackMetadataError, match=r"'keys\[0\]' has no 'type'"):
            g.service.get_public_keys()


def test_admin_settings_prefer_meta_and_fall_back_to_the_top_level() -> None:
    inside = getters(
        meta_data(
            admin_pass="top-pass",
            kms_host="top-kms:1688",
            admin_username="top-user",
            meta={
                "admin_username": "Administrator",
                "admin_pass": "meta-pass",
                "kms_host": "kms:1",
            },
        )
    )
    assert (inside["admin_username"], inside["admin_password"], inside["kms_host"]) == (
        "Administrator",
        "meta-pass",
        "kms:1",
    )
    top = getters(meta_data(admin_pass="top-pass", kms_host="top-kms:1688", admin_username="u"))
    # admin_username is read only inside "meta".
    assert (top["admin_username"], top["admin_password"], top["kms_host"]) == (
        None,
        "top-pass",
        "top-kms:1688",
    )


CERT = "-----BEGIN CERTIFICATE-----\nMIIBsim\n-----END CERTIFICATE-----"


def test_client_certs_join_the_admin_cert_chunks_until_the_first_gap() -> None:
    document = meta_data(
        meta={"admin_cert0": "AAA", "admin_cert1": "BBB", "admin_cert2": "", "admin_cert3": "DDD"},
        keys=[{"name": "w", "type": "x509", "data": f"{CERT}\n"}],
    )
    assert getters(document)["client_auth_certs"] == ["AAABBB", CERT]


def test_a_certificate_in_user_data_is_the_client_cert_when_the_metadata_has_none() -> None:
    assert getters(meta_data(), user_data=f"\r\n{CERT}\r\n".encode())["client_auth_certs"] == [CERT]
    assert getters(meta_data(), user_data=b"#ps1\r\nhostname")["client_auth_certs"] == []
    assert getters(meta_data(), user_data=None)["client_auth_certs"] == []


def test_user_data_is_read_raw_from_the_latest_folder() -> None:
    with guest(user_data=b"\x1f\x8b raw bytes") as g:
        assert g.service.get_user_data() == b"\x1f\x8b raw bytes"
    assert g.paths() == [("GET", "/openstack/latest/user_data", 200)]


# --- network data -------------------------------------------------------------------------------


def test_network_data_is_read_from_the_latest_folder() -> None:
    network = {
        "links": [{"id": "eth0", "type": "phy", "ethernet_mac_address": "52:54:00:12:34:56"}],
        "networks": [],
        "services": [],
    }
    with guest(network_data=network) as g:
        details = g.service.get_network_details_v2()
    assert details is not None
    assert [link.id for link in details.links] == ["eth0"]
    assert g.paths() == [("GET", "/openstack/latest/network_data.json", 200)]


def test_missing_network_data_is_none_but_a_server_error_fails() -> None:
    with guest() as g:
        assert g.service.get_network_details_v2() is None
    faults = (Fault(path="/openstack/latest/network_data.json", status=500),)
    with guest(NO_RETRY, faults) as g, pytest.raises(requests.HTTPError):
        g.service.get_network_details_v2()


def test_empty_network_data_fails_to_parse() -> None:
    # As upstream the parse fails, but with the network data error naming the document,
    # not json's JSONDecodeError (issue 15).
    faults = (Fault(path="/openstack/latest/network_data.json", body="empty"),)
    with (
        guest(faults=faults, network_data={"links": []}) as g,
        pytest.raises(NetworkDataError, match=r"^network_data.json is not a JSON document: "),
    ):
        g.service.get_network_details_v2()


# --- the password endpoint ------------------------------------------------------------------


def test_posting_is_possible_when_the_2013_04_04_version_exists() -> None:
    with guest() as g:
        assert g.service.can_post_password is True
    assert g.paths() == [("GET", PASSWORD_META, 200)]
    with guest(faults=(Fault(path=PASSWORD_META, status=404),)) as g:
        assert g.service.can_post_password is False
    with (
        guest(NO_RETRY, (Fault(path=PASSWORD_META, status=500),)) as g,
        pytest.raises(requests.HTTPError),
    ):
        _ = g.service.can_post_password


def test_is_password_set_asks_every_time_without_retrying() -> None:
    with guest(password="") as g:
        assert g.service.is_password_set is False
        g.cloud.model.password = "stored"
        assert g.service.is_password_set is True
    assert g.paths() == [("GET", PASSWORD, 200), ("GET", PASSWORD, 200)]
    with (
        guest(faults=(Fault(path=PASSWORD, status=500, first=1),)) as g,
        pytest.raises(requests.HTTPError),
    ):
        _ = g.service.is_password_set
    assert g.paths() == [("GET", PASSWORD, 500)]
    assert g.sleeps == []


def test_a_missing_password_endpoint_fails_is_password_set() -> None:
    with (
        guest(faults=(Fault(path=PASSWORD, status=404),)) as g,
        pytest.raises(NotExistingMetadataException, match="2013-04-04/password"),
    ):
        _ = g.service.is_password_set


def test_the_password_is_posted_as_the_raw_base64_body() -> None:
    with guest() as g:
        assert g.service.post_password(b"c2VjcmV0") is True
    assert [(r.method, r.path, r.body) for r in g.cloud.requests] == [
        ("POST", PASSWORD, b"c2VjcmV0")
    ]
    assert g.cloud.model.password == "c2VjcmV0"


def test_a_failed_post_is_retried() -> None:
    options = {"DEFAULT": {"retry_count": 2, "retry_count_interval": 1}}
    with guest(options, (Fault(path=PASSWORD, method="POST", status=500, first=1),)) as g:
        assert g.service.post_password(b"c2VjcmV0") is True
    assert g.paths() == [("POST", PASSWORD, 500), ("POST", PASSWORD, 200)]
    assert g.sleeps == [1]


def test_a_conflict_is_retried_then_fails_as_upstream_does(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, OPENSTACK_LOGGER)
    options = {"DEFAULT": {"retry_count": 1, "retry_count_interval": 0}}
    with guest(options, password="already") as g, pytest.raises(requests.HTTPError, match="409"):
        g.service.post_password(b"c2VjcmV0")
    assert g.paths() == [("POST", PASSWORD, 409)] * 2
    assert g.cloud.model.password == "already"
    url = "http://169.254.169.254/openstack/2013-04-04/password"
    assert log_lines(caplog, OPENSTACK_LOGGER) == [
        f"DEBUG Posting the password failed: 409 Client Error: Conflict for url: {url}"
    ]
