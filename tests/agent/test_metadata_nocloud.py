"""NoCloudConfigDriveService against real cidata images on the fake Windows."""

from __future__ import annotations

from typing import Any

import pytest

from guestsim.agent.config import config_from_options
from guestsim.agent.metadata.base import NotExistingMetadataException
from guestsim.agent.metadata.nocloud import NoCloudConfigDriveService
from guestsim.agent.plugins.base import AgentContext
from guestsim.simulator import media
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.storage import attach_cdrom
from tests.builders import standalone_osutils

NETWORK_V2 = {
    "version": 2,
    "ethernets": {
        "lan0": {
            "match": {"macaddress": "52:54:00:00:40:01"},
            "set-name": "lan0",
            "addresses": ["192.0.2.40/24"],
            "gateway4": "192.0.2.1",
            "nameservers": {"addresses": ["192.0.2.53"], "search": ["sim.test"]},
        }
    },
}


def service(
    meta_data: Any, user_data: bytes | None = None, network_config: Any = None, **nocloud: str
) -> NoCloudConfigDriveService:
    state = default_windows_state()
    files = media.nocloud_layout(meta_data, user_data, network_config)
    attach_cdrom(state, media.build_iso(files, "cidata"))
    conf = config_from_options({"nocloud": nocloud}, "test")
    svc = NoCloudConfigDriveService(AgentContext(conf=conf, osutils=standalone_osutils([], state)))
    assert svc.load() is True
    return svc


def test_getters_read_meta_data_user_data_and_keys() -> None:
    svc = service(
        {
            "instance-id": "iid-nc-01",
            "local-hostname": "nc-01",
            "hostname": "not-read",
            "public-keys": ["ssh-rsa AAAA one ", "ssh-rsa BBBB two"],
        },
        b"#ps1\nWrite-Host hi\n",
    )
    assert svc.get_name() == "NoCloudConfigDriveService"
    assert svc.get_instance_id() == "iid-nc-01"
    assert svc.get_host_name() == "nc-01"
    # Upstream returns the list as is: not stripped.
    assert svc.get_public_keys() == ["ssh-rsa AAAA one ", "ssh-rsa BBBB two"]
    assert svc.get_user_data() == b"#ps1\nWrite-Host hi\n"
    assert svc.get_admin_password() is None


def test_public_keys_as_a_mapping_use_each_openssh_key() -> None:
    svc = service({"instance-id": "i", "public-keys": {"0": {"openssh-key": "ssh-rsa K"}}})
    assert svc.get_public_keys() == ["ssh-rsa K"]


def test_a_plain_string_of_keys_fails_as_upstream_does() -> None:
    svc = service({"instance-id": "i", "public-keys": "ssh-rsa K"})
    with pytest.raises(TypeError):
        svc.get_public_keys()


def test_network_config_v2_is_parsed() -> None:
    svc = service({"instance-id": "i"}, network_config=NETWORK_V2)
    details = svc.get_network_details_v2()
    assert details is not None
    assert [link.name for link in details.links] == ["lan0"]
    assert [network.address_cidr for network in details.networks] == ["192.0.2.40/24"]


def test_no_network_config_and_no_user_data() -> None:
    svc = service({"instance-id": "i"})
    assert svc.get_network_details_v2() is None
    with pytest.raises(NotExistingMetadataException):
        svc.get_user_data()


def test_file_names_come_from_the_options() -> None:
    state = default_windows_state()
    attach_cdrom(state, media.build_iso({"md": b"instance-id: custom\n", "ud": b"x"}, "CIDATA"))
    conf = config_from_options({"nocloud": {"metadata_file": "md", "userdata_file": "ud"}}, "t")
    svc = NoCloudConfigDriveService(AgentContext(conf=conf, osutils=standalone_osutils([], state)))
    assert svc.load() is True
    assert svc.get_instance_id() == "custom"
    assert svc.get_user_data() == b"x"


def test_cleanup_removes_the_copy() -> None:
    svc = service({"instance-id": "i"})
    folder = svc._folder
    assert folder is not None and svc.osutils.path_exists(folder)
    svc.cleanup()
    assert not svc.osutils.path_exists(folder)
