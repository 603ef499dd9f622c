"""Minimal reproducers of the untyped errors the fuzz targets found (issue 15).

The fixed ones assert their typed error; the ones another change owns are strict xfails
that start passing (and so fail, to be unmarked) once that change types the error.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest

from guestsim.agent.metadata import (
    base,
    cloudstack,
    ec2,
    gce,
    maas,
    nocloud,
    openstack,
    oracle,
    vmware,
)
from guestsim.agent.metadata.configdrive import ConfigDriveService
from guestsim.agent.userdata import templating
from tests.fuzz.harness import agent_context, budget_errors, module_errors


def fed(cls: type[base.MetadataService], data: bytes) -> Any:
    """A ``cls`` whose every data path answers with ``data``."""

    class Fed(cls):  # type: ignore[valid-type,misc]
        def _get_data(self, path: str) -> bytes:
            return data

    return Fed(agent_context())


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"{", r"meta_data.json is not JSON: Expecting property name"),
        (b'{"public_keys": 1.5}', r"'public_keys' must be an object, not float"),
        (b'{"keys": 18446744073709551616}', r"'keys' must be a list, not int"),
        (b'{"keys": [[]]}', r"'keys\[0\]' must be an object, not list"),
        (b'{"keys": [{"name": "k"}]}', r"'keys\[0\]' has no 'type'"),
        (b'{"keys": [{"type": "ssh"}]}', r"'keys\[0\]' has no 'data'"),
    ],
)
def test_openstack_meta_data_keys_of_the_wrong_type_are_named(
    document: bytes, message: str
) -> None:
    with pytest.raises(openstack.OpenStackMetadataError, match=message):
        fed(ConfigDriveService, document).get_public_keys()


def test_openstack_x509_keys_without_data_are_named() -> None:
    service = fed(ConfigDriveService, b'{"keys": [{"type": "x509"}]}')
    with pytest.raises(openstack.OpenStackMetadataError, match=r"'keys\[0\]' has no 'data'"):
        service.get_client_auth_certs()
    # An ssh key needs no x509 data, and the other way round.
    assert fed(ConfigDriveService, b'{"keys": [{"type": "x509"}]}').get_public_keys() == []


def test_ec2_public_keys_listing_line_without_equals_is_named() -> None:
    with pytest.raises(ec2.EC2MetadataError, match=r"line '0' is not <index>=<name>"):
        fed(ec2.EC2Service, b"0").get_public_keys()
    with pytest.raises(ec2.EC2MetadataError, match="not UTF-8"):
        fed(ec2.EC2Service, b"\xc6").get_public_keys()


def test_cloudstack_password_answer_that_is_not_utf8_is_a_password_server_error() -> None:
    answer = SimpleNamespace(status_code=200, content=b"\xff")
    service = fed(cloudstack.CloudStack, b"")
    with (
        mock.patch("requests.get", lambda *args, **kwargs: answer),
        pytest.raises(cloudstack.PasswordServerError, match="not UTF-8"),
    ):
        service.get_admin_password()


def test_oracle_user_data_that_is_not_base64_is_named() -> None:
    with pytest.raises(oracle.OracleMetadataError, match="user_data is not base64"):
        fed(oracle.OracleCloudService, b"Y").get_user_data()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"", r"meta-data must be a mapping to read 'instance-id' from, not NoneType"),
        (b"[1]", r"meta-data must be a mapping to read 'instance-id' from, not list"),
    ],
)
def test_nocloud_meta_data_that_is_not_a_mapping_is_named(document: bytes, message: str) -> None:
    with pytest.raises(nocloud.NoCloudMetadataError, match=message):
        fed(nocloud.NoCloudConfigDriveService, document).get_instance_id()


def test_nocloud_public_keys_mapping_without_openssh_key_is_named() -> None:
    service = fed(nocloud.NoCloudConfigDriveService, b"public-keys: {a: ssh-rsa K}\n")
    with pytest.raises(nocloud.NoCloudMetadataError, match=r"public-keys\['a'\] must be a mapping"):
        service.get_public_keys()


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (b"## template: jinja\n{{ 1 + 'a' }}", r"^line 1: TypeError: unsupported operand"),
        (b"## template: jinja\ntext\n{{ 1 / 0 }}", r"^line 2: ZeroDivisionError"),
    ],
)
def test_a_failing_template_expression_is_a_template_error(template: bytes, message: str) -> None:
    with pytest.raises(templating.TemplateRenderError, match=message):
        templating.render_template(template, base.MetadataService(agent_context()))


# --- typed by other changes of issue 15 (GCE, MAAS; gzip and guestinfo decoding) ----------


def test_gce_user_data_that_is_not_base64_gets_a_typed_error() -> None:
    with pytest.raises(module_errors(gce)):
        fed(gce.GCEService, b"base64").get_user_data()


def test_maas_public_keys_that_are_not_utf8_get_a_typed_error() -> None:
    with pytest.raises(module_errors(maas)):
        fed(maas.MaaSHttpService, b"\xba").get_public_keys()


def test_gzip_user_data_that_ends_early_gets_a_typed_error() -> None:
    with pytest.raises((*module_errors(base), *budget_errors())):
        fed(ConfigDriveService, b"\x1f\x8b").get_decoded_user_data()


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (b"a", "b64"),
        (b"instance-\n", "gzip+base64"),
        (b"H4sIAAAAAAAAA8fM", "gzip+base64"),
        (b"H4sIAAAAAAAAA8nN", "gzip+base64"),
    ],
)
def test_vmware_guestinfo_that_does_not_decode_gets_a_typed_error(
    data: bytes, encoding: str
) -> None:
    with pytest.raises(module_errors(vmware)):
        vmware.decode_guestinfo(data, encoding)
