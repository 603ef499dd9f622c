"""Jinja user-data templates: the header rule, rendering against instance data, undefined names."""

from __future__ import annotations

import logging

import jinja2
import pytest

from guestsim.agent.config import default_config
from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.metadata.openstack import OpenStackHttpService
from guestsim.agent.plugins.base import AgentContext
from guestsim.agent.userdata.templating import render_template, template_type
from guestsim.simulator.clouds.openstack import OpenStackCloud, OpenStackModel
from tests.builders import INSTANCE_ID, meta_data, public_key, serving, standalone_osutils

KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 user@host"


class FixedService(MetadataService):
    """A service answering fixed identity values."""

    def __init__(
        self,
        instance_id: str | None = "i-42",
        host_name: str | None = "web-01.example.org",
        keys: list[str] | None = None,
    ) -> None:
        super().__init__(AgentContext(default_config(), standalone_osutils([])))
        self._id = instance_id
        self._host = host_name
        self._keys = keys

    def get_instance_id(self) -> str | None:
        return self._id

    def get_host_name(self) -> str | None:
        return self._host

    def get_public_keys(self) -> list[str] | None:
        return self._keys


# --- instance data ------------------------------------------------------------------------


def test_instance_data_has_cloud_init_layout() -> None:
    data = FixedService(keys=[KEY]).get_instance_data()
    identity = {
        "instance-id": "i-42",
        "instance_id": "i-42",
        "local-hostname": "web-01.example.org",
        "local_hostname": "web-01.example.org",
    }
    assert data["v1"] == {**identity, "public_ssh_keys": [KEY]}
    assert data["ds"]["meta_data"] == {**identity, "hostname": "web-01.example.org"}
    assert data["ds"]["_doc"].startswith("EXPERIMENTAL")
    for key, value in data["v1"].items():
        assert data[key] == value
    assert sorted(data) == sorted(["v1", "ds", *data["v1"]])


def test_instance_data_of_the_base_service_is_all_none() -> None:
    service = MetadataService(AgentContext(default_config(), standalone_osutils([])))
    data = service.get_instance_data()
    assert data["v1"] == dict.fromkeys(
        ["instance-id", "instance_id", "local-hostname", "local_hostname", "public_ssh_keys"]
    )


def test_instance_data_from_the_simulated_openstack() -> None:
    context = AgentContext(default_config(), standalone_osutils([]))
    cloud = OpenStackCloud(OpenStackModel(meta_data=meta_data()))
    with serving([cloud]):
        service = OpenStackHttpService(context)
        assert service.load()
        data = service.get_instance_data()
        rendered = render_template(
            b"## template: jinja\n{{ v1.instance_id }} {{ ds.meta_data.hostname }}\n", service
        )
    assert data["instance_id"] == INSTANCE_ID
    assert data["local_hostname"] == "web-01.novalocal"
    assert data["public_ssh_keys"] == [public_key()]
    assert rendered == f"{INSTANCE_ID} web-01.novalocal".encode()


# --- the header rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first_line", "kind"),
    [
        (b"## template: jinja", "jinja"),
        (b"##template:jinja", "jinja"),
        (b"## TEMPLATE: Jinja  ", "jinja"),
        (b"##\ttemplate: jinja\r", "jinja"),
        (b"## template: mako", "mako"),
        (b" ## template: jinja", None),  # must start at offset 0
        (b"# template: jinja", None),
        (b"#cloud-config", None),
        (b"## templates: jinja", None),
        (b"\xff\xfe## template: jinja", None),
    ],
)
def test_the_header_is_matched_at_the_very_start(first_line: bytes, kind: str | None) -> None:
    assert template_type(first_line + b"\nbody\n") == kind


def test_data_without_the_header_is_not_a_template() -> None:
    assert (
        render_template(b"#cloud-config\nhostname: {{ v1.local_hostname }}\n", FixedService())
        is None
    )


def test_another_template_type_is_not_rendered() -> None:
    assert render_template(b"## template: mako\n${x}\n", FixedService()) is None


def test_the_header_is_only_looked_for_on_the_first_line() -> None:
    assert (
        render_template(b"rem cmd\n## template: jinja\n{{ v1.instance_id }}\n", FixedService())
        is None
    )


# --- rendering ---------------------------------------------------------------------------------


def test_the_first_line_is_dropped_and_the_rest_rendered(caplog: pytest.LogCaptureFixture) -> None:
    data = b"## template: jinja\n#cloud-config\nset_hostname: {{ v1['local-hostname'] }}\n"
    with caplog.at_level(logging.INFO, logger="guestsim.agent.userdata.templating"):
        rendered = render_template(data, FixedService())
    # Jinja's default drops the single trailing newline; upstream keeps that default.
    assert rendered == b"#cloud-config\nset_hostname: web-01.example.org"
    assert "Using template engine: jinja" in caplog.messages


def test_undefined_variables_render_as_missing_markers() -> None:
    data = b"## template: jinja\nrem cmd\necho {{ nothere }} {{ v1.nokey }} {{ v1.instance_id }}\n"
    rendered = render_template(data, FixedService())
    assert rendered == b"rem cmd\necho CI_MISSING_JINJA_VAR/nothere CI_MISSING_JINJA_VAR/nokey i-42"


def test_an_attribute_of_an_undefined_variable_fails() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render_template(b"## template: jinja\n{{ nothere.below }}\n", FixedService())


def test_blocks_are_trimmed() -> None:
    data = (
        b"## template: jinja\n"
        b"{% for key in v1.public_ssh_keys %}\n"
        b"key={{ key }}\n"
        b"{% endfor %}\n"
        b"end\n"
    )
    rendered = render_template(data, FixedService(keys=["a", "b"]))
    assert rendered == b"key=a\nkey=b\nend"


def test_a_header_alone_renders_to_nothing() -> None:
    assert render_template(b"## template: jinja", FixedService()) == b""


def test_the_sandbox_refuses_python_internals() -> None:
    # guestsim renders inside the host process; upstream's plain environment would not
    # refuse this, a documented deviation.
    data = b"## template: jinja\n{{ ''.__class__.__mro__[1].__subclasses__() }}\n"
    with pytest.raises(jinja2.exceptions.SecurityError):
        render_template(data, FixedService())


def test_a_template_syntax_error_raises() -> None:
    with pytest.raises(jinja2.TemplateSyntaxError):
        render_template(b"## template: jinja\n{% if %}\n", FixedService())
