"""The base metadata service: upstream's default for every getter (metadata-sources §1.6).

A service only overrides what its cloud provides; every other question a plugin asks gets
the base answer, and plugins decide on it ("None => skip", "False => do not post" ...).
These tests ask a service that overrides nothing but its data source.
"""

from __future__ import annotations

import gzip
import logging
from typing import Any

import pytest

from guestsim.agent.config import config_from_options
from guestsim.agent.metadata.base import MetadataService, NotExistingMetadataException
from guestsim.agent.plugins.base import AgentContext
from tests.builders import standalone_osutils


class BareService(MetadataService):
    """Overrides nothing a plugin asks for; its data is whatever ``documents`` holds."""

    def __init__(self, context: AgentContext, documents: dict[str, Any]) -> None:
        super().__init__(context)
        self.documents = documents
        self.reads: list[str] = []

    def _get_data(self, path: str) -> bytes:
        self.reads.append(path)
        if path not in self.documents:
            raise NotExistingMetadataException(path)
        value: bytes = self.documents[path]
        return value


class KeyedService(BareService):
    def __init__(self, context: AgentContext, keys: list[str] | None) -> None:
        super().__init__(context, {})
        self.keys = keys

    def get_public_keys(self) -> list[str] | None:
        return self.keys


class UserDataService(BareService):
    def __init__(self, context: AgentContext, user_data: bytes | None) -> None:
        super().__init__(context, {})
        self.user_data = user_data

    def get_user_data(self) -> bytes | None:
        return self.user_data


def context() -> AgentContext:
    return AgentContext(conf=config_from_options({}, "test"), osutils=standalone_osutils([]))


def bare(documents: dict[str, Any] | None = None) -> BareService:
    return BareService(context(), documents or {})


@pytest.mark.parametrize(
    "getter",
    [
        "get_instance_id",
        "get_host_name",
        "get_public_keys",
        "get_user_pwd_encryption_key",
        "get_admin_username",
        "get_admin_password",
        "get_user_data",
        "get_decoded_user_data",
        "get_client_auth_certs",
        "get_kms_host",
        "get_network_details",
        "get_network_details_v2",
        "get_server_certs",
        "get_winrm_listeners_configuration",
        "get_vm_agent_package_provisioning_data",
        "get_use_avma_licensing",
        "get_enable_automatic_updates",
    ],
)
def test_an_optional_getter_answers_none_by_default(getter: str) -> None:
    assert getattr(bare(), getter)() is None


def test_content_is_none_by_default() -> None:
    assert bare().get_content("0000") is None


def test_the_ephemeral_disk_warning_is_missing_by_default() -> None:
    with pytest.raises(
        NotExistingMetadataException, match=r"^no ephemeral disk data loss warning$"
    ):
        bare().get_ephemeral_disk_data_loss_warning()


def test_the_password_and_provisioning_capabilities_are_off_by_default() -> None:
    service = bare()
    assert service.can_post_password is False
    assert service.is_password_set is False
    assert service.post_password(b"c2VjcmV0") is False
    assert service.can_update_password is False
    assert service.is_password_changed() is False
    assert service.can_post_rdp_cert_thumbprint is False
    # The hooks are no-ops: they neither fail nor read any data.
    service.post_rdp_cert_thumbprint("AB12")
    service.provisioning_started()
    service.provisioning_completed()
    service.provisioning_failed()
    service.cleanup()
    assert service.reads == []


def test_the_name_is_the_class_name_and_a_bare_load_finds_nothing() -> None:
    service = bare()
    assert service.get_name() == "BareService"
    assert not service.load()


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["ssh-rsa AAA first", "ssh-rsa BBB second"], "ssh-rsa AAA first"),
        (["ssh-rsa AAA only"], "ssh-rsa AAA only"),
        ([], None),
        (None, None),
    ],
)
def test_the_password_encryption_key_is_the_first_public_key(
    keys: list[str] | None, expected: str | None
) -> None:
    assert KeyedService(context(), keys).get_user_pwd_encryption_key() == expected


@pytest.mark.parametrize(
    ("user_data", "decoded"),
    [
        (gzip.compress(b"#ps1\r\nhostname"), b"#ps1\r\nhostname"),
        # Gunzipped once only: a doubly compressed payload stays compressed once.
        (gzip.compress(gzip.compress(b"x")), gzip.compress(b"x")),
        (b"\x1f#ps1", b"\x1f#ps1"),
        (b"\x8b\x1f", b"\x8b\x1f"),
        (b"#ps1\r\nhostname", b"#ps1\r\nhostname"),
        (b"", b""),
        (None, None),
    ],
    ids=["gzip", "gzip-twice", "half-magic", "reversed-magic", "plain", "empty", "none"],
)
def test_decoded_user_data_is_gunzipped_once_when_it_starts_with_the_gzip_magic(
    user_data: bytes | None, decoded: bytes | None
) -> None:
    assert UserDataService(context(), user_data).get_decoded_user_data() == decoded


def test_instance_data_repeats_the_identity_for_templates() -> None:
    class Identified(KeyedService):
        def get_instance_id(self) -> str | None:
            return "i-123"

        def get_host_name(self) -> str | None:
            return "web-01"

    data = Identified(context(), ["ssh-rsa AAA k"]).get_instance_data()
    identity = {
        "instance-id": "i-123",
        "instance_id": "i-123",
        "local-hostname": "web-01",
        "local_hostname": "web-01",
    }
    v1 = {**identity, "public_ssh_keys": ["ssh-rsa AAA k"]}
    assert data == {
        "v1": v1,
        "ds": {
            "_doc": (
                "EXPERIMENTAL: what is under the 'ds' key is the data source's own "
                "metadata; its layout may change between releases."
            ),
            "meta_data": {**identity, "hostname": "web-01"},
        },
        **v1,
    }


# --- reading through the cache -----------------------------------------------------------------


def test_a_read_is_cached_per_path_and_decoding() -> None:
    service = bare({"doc": b"text"})
    assert service._get_cache_data("doc") == b"text"
    assert service._get_cache_data("doc") == b"text"
    assert service._get_cache_data("doc", decode=True) == "text"
    assert service._get_cache_data("doc", decode=True) == "text"
    assert service.reads == ["doc", "doc"]


def test_text_from_a_source_passes_decoding_unchanged() -> None:
    assert bare({"doc": "already text"})._get_cache_data("doc", decode=True) == "already text"


@pytest.mark.parametrize(
    ("value", "problem"), [(42, "is not text"), (b"\xff", "is not UTF-8 text")]
)
def test_data_that_does_not_decode_reads_as_none_with_an_error_logged(
    value: Any, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "guestsim.agent.metadata.base")
    assert bare({"doc": value})._get_cache_data("doc", decode=True) is None
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", f"Metadata at 'doc' {problem}")
    ]


def test_a_service_without_retries_fails_on_the_first_error() -> None:
    class Flaky(BareService):
        def _get_data(self, path: str) -> bytes:
            self.reads.append(path)
            raise ConnectionError("down")

    sleeps: list[float] = []
    conf = config_from_options({"DEFAULT": {"retry_count": 3}}, "test")
    service = Flaky(AgentContext(conf=conf, osutils=standalone_osutils(sleeps)), {})
    with pytest.raises(ConnectionError, match="down"):
        service._get_cache_data("doc")
    assert service.reads == ["doc"]
    assert sleeps == []
