"""User-data parsers: MIME multipart, headers, cloud-config YAML, Jinja templates."""

from __future__ import annotations

import email

import jinja2
import pytest
import yaml
from hypothesis import strategies as st

from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.userdata import cloudconfig, dispatch, mime, scripts, templating
from tests.fuzz.harness import (
    FUZZ_EXAMPLES,
    Target,
    agent_context,
    blob,
    budget_errors,
    encoded,
    module_errors,
    mutated_document,
    run_target,
)

MULTIPART = (
    b'Content-Type: multipart/mixed; boundary="==B=="\nMIME-Version: 1.0\n\n'
    b'--==B==\nContent-Type: text/x-shellscript; charset="us-ascii"\n'
    b"Content-Transfer-Encoding: base64\n"
    b'Content-Disposition: attachment; filename="a.ps1"\n\nI3BzMQplY2hvIGhp\n'
    b"--==B==\nContent-Type: text/cloud-config\nContent-Transfer-Encoding: quoted-printable\n\n"
    b"#cloud-config\nhostname: =C3=A9x\n"
    b"--==B==\nContent-Type: message/rfc822\n\nContent-Type: text/plain\n\nnested\n"
    b"--==B==--\n"
)
CLOUD_CONFIG = {
    "hostname": "win",
    "write_files": [{"path": "C:\\a.txt", "content": "x", "encoding": "b64"}],
    "runcmd": ["echo hi", ["cmd", "/c", "dir"]],
    "users": [{"name": "u", "groups": "Administrators", "ssh_authorized_keys": ["k"]}],
    "ntp": {"enabled": True, "servers": ["a"]},
}
JINJA_PIECES = [
    "{{ v1.instance_id }}",
    "{{ ds.meta_data.hostname }}",
    "{{ missing.attribute }}",
    "{{ v1 | tojson }}",
    "{% for i in range(3) %}{{ i }}{% endfor %}",
    "{% if v1.local_hostname %}y{% else %}n{% endif %}",
    "{{ ''.__class__.__mro__ }}",
    "{{ 'ab' * 3 }}",
    "{{ 1 + 'a' }}",
    "{{ 1 / 0 }}",
    "{% set x = [1, 2] %}{{ x[5] }}",
    "{{ {}.items() | list }}",
    "{%",
    "{{ }}",
    "{% endfor %}",
    "\n",
    "text",
]


def _mime(data: bytes) -> None:
    mime.MultipartProcessor({}).run(data)
    for part in email.message_from_bytes(data).walk():
        part.get_content_type()
        part.get_filename()
        part.get_payload(decode=True)


def _headers(data: bytes) -> None:
    dispatch.header_block(data)
    templating.template_type(data)
    scripts.executor_for_data(data)


def _jinja(data: bytes) -> None:
    templating.render_template(data, MetadataService(agent_context()))


def targets() -> list[Target]:
    jinja_documents = st.lists(st.sampled_from(JINJA_PIECES), max_size=6).map(
        lambda pieces: ("## template: jinja\n" + "".join(pieces)).encode("utf-8")
    )
    jinja_seed = b"## template: jinja\n#ps1\necho {{ v1.instance_id }}\n"
    return [
        Target("mime", _mime, module_errors(mime), blob([MULTIPART])),
        Target(
            "userdata-headers", _headers, module_errors(dispatch), blob([MULTIPART, jinja_seed])
        ),
        Target(
            "cloud-config",
            cloudconfig.load_cloud_config,
            module_errors(cloudconfig, yaml.YAMLError, TypeError),
            st.one_of(
                encoded(mutated_document([CLOUD_CONFIG]), "yaml").map(
                    lambda text: b"#cloud-config\n" + text
                ),
                blob([b"#cloud-config\n" + yaml.safe_dump(CLOUD_CONFIG).encode()]),
            ),
        ),
        Target(
            "jinja",
            _jinja,
            module_errors(templating, *budget_errors(), jinja2.TemplateError, UnicodeDecodeError),
            st.one_of(jinja_documents, blob([jinja_seed])),
        ),
    ]


NAMES = ["mime", "userdata-headers", "cloud-config", "jinja"]


@pytest.mark.parametrize("name", NAMES)
def test_user_data_parser_fails_only_with_documented_errors(name: str) -> None:
    target = next(target for target in targets() if target.name == name)
    run_target(target, FUZZ_EXAMPLES)
