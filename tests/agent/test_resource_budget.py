"""The guest resource budget (issue 15): decompression, templates and guest files are
bounded by the scenario's machine, and exceeding a bound is a typed error, never a host
OOM or a wall-clock hang."""

from __future__ import annotations

import base64
import errno
import gzip
import io
import tracemalloc
import zipfile
from pathlib import Path

import jinja2
import pytest
from jinja2.sandbox import SandboxedEnvironment

from guestsim.agent.metadata.vmware import decode_guestinfo
from guestsim.agent.plugins.azureguestagent import extract_zip
from guestsim.agent.resources import (
    CorruptCompressedData,
    DecompressionLimitExceeded,
    ResourceLimitExceeded,
    ResourceLimits,
    TemplateLimitExceeded,
    bounded_gunzip,
)
from guestsim.agent.userdata.cloudconfig.writefiles import decode_content
from guestsim.agent.userdata.sandbox import BoundedSandbox
from guestsim.simulator.errors import ScenarioError
from guestsim.simulator.scenario import load_scenario, run_scenario
from guestsim.simulator.windows.state import WindowsState
from tests import budget_cases
from tests.builders import standalone_osutils

# --- the reproducers, end to end, in a fresh process ------------------------------------------


@pytest.mark.subprocess
@pytest.mark.parametrize("case", budget_cases.CASES)
def test_a_resource_case_ends_fast_small_and_typed(case: str, tmp_path: Path) -> None:
    measured = budget_cases.run_measured(budget_cases.write_case(case, "guestsim", tmp_path))

    assert measured["failures"] == []
    expected = budget_cases.expected_error(case)
    assert any(line.startswith(expected) for line in measured["errors"]), measured
    assert measured["seconds"] < budget_cases.MAX_SECONDS, measured
    assert measured["peak_mib"] < budget_cases.MAX_PEAK_MIB, measured


# --- decompression --------------------------------------------------------------------------


def test_bounded_gunzip_expands_within_the_limit_and_refuses_beyond_it() -> None:
    data = gzip.compress(b"x" * 1000)

    assert bounded_gunzip(data, 1000, "user data") == b"x" * 1000
    with pytest.raises(DecompressionLimitExceeded, match=r"user data .* limit of 999 bytes"):
        bounded_gunzip(data, 999, "user data")


def test_bounded_gunzip_types_the_errors_of_damaged_data() -> None:
    data = gzip.compress(b"x" * 1000)

    with pytest.raises(CorruptCompressedData, match="user data is not valid gzip data"):
        bounded_gunzip(b"\x1f\x8bnot gzip", 100, "user data")
    with pytest.raises(CorruptCompressedData) as truncated:
        bounded_gunzip(data[:-5], 10_000, "user data")
    assert isinstance(truncated.value.__cause__, EOFError)
    # Several members read as one, as gzip.decompress reads them.
    assert bounded_gunzip(data + data, 2000, "user data") == b"x" * 2000


def test_a_decompression_limit_is_a_memory_error_as_a_starved_guest_sees_it() -> None:
    assert issubclass(DecompressionLimitExceeded, ResourceLimitExceeded)
    assert issubclass(ResourceLimitExceeded, MemoryError)


def test_guestinfo_and_write_files_gzip_are_bounded() -> None:
    encoded = base64.b64encode(gzip.compress(bytes(5000)))
    assert decode_guestinfo(encoded, "gzip+base64", 5000) == bytes(5000)
    with pytest.raises(DecompressionLimitExceeded):
        decode_guestinfo(encoded, "gzip+base64", 4999)
    with pytest.raises(DecompressionLimitExceeded):
        decode_content(encoded, "gz+b64", 100)


# --- templates ------------------------------------------------------------------------------

HOSTILE_TEMPLATES = [
    "{{ 'a' * 4000000000 }}",
    "{{ [0] * 4000000000 }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% for c in 'x' * 1000000 %}{% for d in 'y' * 1000000 %}{% endfor %}{% endfor %}",
    "{% set ns = namespace(s='a') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}",
    "{% set ns = namespace(s='a') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}"
    "{% endfor %}",
    "{% set l = [1] %}{% for i in range(40) %}{{ l.extend(l) }}{% endfor %}",
    "{{ 'a'|center(4000000000) }}",
    "{{ 'a'|indent(4000000000) }}",
    "{{ 'a'.ljust(4000000000) }}",
    "{{ 'a\tb'.expandtabs(4000000000) }}",
    "{{ ('a' * 1000000).replace('', 'bbbbbbbbbb') }}",
    "{{ '%4000000000d' % 1 }}",
    "{{ '%*d' % (4000000000, 1) }}",
    "{{ '%4000000000s'|format('a') }}",
    "{{ '{:>4000000000}'.format(1) }}",
    "{{ '{:>{w}}'.format(1, w=4000000000) }}",
    "{{ 10 ** 100000000 }}",
    "{% set ns = namespace(n=3) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}{% endfor %}",
    "{{ lipsum(4000000) }}",
    "{{ ('a' * 4000000)|wordwrap(1) }}",
    "{{ ('ab' * 2000000)|replace('a', 'ccc') }}",
    "{% for i in range(1000000) %}{{ 'x' * 100 }}{% endfor %}",
    "{{ range(100000)|map('center', 4000000)|join }}",
    "{{ range(100000)|map('center', 4000000)|list|length }}",
    "{{ ''.join(range(100000)|map('center', 4000000)) }}",
    "{% set s = 'a' * 4000000 %}{{ ([s] * 100000)|join }}",
    "{% set s = 'a' * 4000000 %}{% for i in range(1000) %}{% set t = s ~ 'b' %}{% endfor %}",
    "{% macro m(n) %}{% for i in range(100000) %}{% endfor %}{% endmacro %}"
    "{% for i in range(100) %}{{ m(i) }}{% endfor %}",
]


# A format's widths, however they are given, and the text of its fields count together,
# and before the string is built.
BUILT_BY_A_FORMAT = [
    "{{ '{:{w}}'.format(1, w='40000000') }}",
    "{{ '{:{}}'.format(1, 40000000.0) }}",
    "{{ '{0:{1[0]}}'.format(1, ['40000000']) }}",
    "{{ ('{0:4000000}' * 10).format(1) }}",
    "{% set s = 'a' * 4000000 %}{{ ('{0}' * 10).format(s) }}",
    "{{ ('%4000000s' * 10) % (('a',) * 10) }}",
    "{{ ('%*s' * 10) % ((4000000, 'a') * 10) }}",
    "{{ ('%(a)4000000s' * 10)|format(a=1) }}",
    "{% set s = 'a' * 4000000 %}{{ ('%s' * 10) % ((s,) * 10) }}",
    "{% set s = 'a' * 4000000 %}{{ ('%(s)s' * 10) % {'s': s} }}",
]


# Lists and mappings of large shared strings are small until written out as text: by
# ``{{ }}``, ``~`` or a filter that makes text of them.
WRITTEN_OUT_AS_TEXT = [
    "{% set x = 'a' * 4000000 %}{{ [x] * 1000 }}",
    "{% set x = 'a' * 3000000 %}{{ [x, x, x] }}",
    "{% set x = 'a' * 3000000 %}{{ 'y' ~ [x, x, x] }}",
    "{% set x = 'a' * 3000000 %}{% set l = [x, x, x] %}{{ l|tojson }}",
    "{% set x = 'a' * 3000000 %}{% set l = [x, x, x] %}{{ l|string }}",
    "{% set x = 'a' * 3000000 %}{% set l = [[x], [x], [x]] %}{{ l|join(',') }}",
    "{% set x = 'a' * 3000000 %}{{ {'a': x, 'b': x} }}",
]


@pytest.mark.parametrize("source", [*BUILT_BY_A_FORMAT, *WRITTEN_OUT_AS_TEXT])
def test_a_format_is_refused_before_it_builds_its_string(source: str) -> None:
    environment = BoundedSandbox(trim_blocks=True)
    template = environment.from_string(source)

    tracemalloc.start()
    try:
        with pytest.raises(TemplateLimitExceeded, match="the guest's limit of"):
            environment.render_bounded(template, {})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The 4 MB value a case may build first, never the 40 MB the format would.
    assert peak < 20 * 1024 * 1024


@pytest.mark.parametrize("source", HOSTILE_TEMPLATES)
def test_a_hostile_template_ends_in_a_template_limit(source: str) -> None:
    environment = BoundedSandbox(trim_blocks=True)

    with pytest.raises(TemplateLimitExceeded, match="the guest's limit of"):
        environment.render_bounded(environment.from_string(source), {})


ORDINARY_TEMPLATES = [
    "{{ v1.local_hostname }} {{ missing }}",
    "{% for key in v1.public_ssh_keys %}{{ loop.index }}:{{ key }}\n{% endfor %}",
    "{% for i in range(3) if i %}{{ i }}{% else %}none{% endfor %}",
    "{{ [1, 2, 3]|join(',') }} {{ 'ab' ~ 'c' }} {{ '%5s'|format('a') }} {{ '%03d' % 7 }}",
    "{{ '{:>4}'.format(1) }} {{ 'x'.ljust(3) }}| {{ 'a b'|replace(' ', '_') }} {{ 2 ** 10 }}",
    "{{ 'text'|center(10) }}|{{ 'a\nb'|indent(2) }}|{{ 'word ' * 3 }}|{{ [1] + [2] }}",
    "{% set ns = namespace(total=0) %}{% for i in range(10) %}{% set ns.total = ns.total + i %}"
    "{% endfor %}{{ ns.total }} {{ lipsum(1, False, 3, 5)|wordcount }}",
    "{% macro greet(name) %}hi {{ name }}{% endmacro %}{{ greet('x') }}{{ range(5)|list }}",
    # Digits in a format's literal text, and numbers it formats, are not widths.
    "{{ 'backup-20261202-%s' % 'x' }} {{ 'id-20261202-{}'.format('x') }}"
    " {{ '{} bytes'.format(10737418240) }} {{ '%*d|%d%%' % (3, 10737418240, 5) }}",
    "{{ '%(a)s-%(b)05d'|format(a='x', b=3) }} {{ '%s-%.2f'|format('a', 1.5) }}"
    " {{ '{a:>{w}}'.format_map({'a': 1, 'w': 3}) }} {{ ('<b>{}</b>'|safe).format('<i>') }}",
]


@pytest.mark.parametrize("source", ORDINARY_TEMPLATES)
def test_an_ordinary_template_renders_as_the_plain_sandbox_renders_it(source: str) -> None:
    context = {"v1": {"local_hostname": "web-01", "public_ssh_keys": ["k1", "k2"]}}
    plain = SandboxedEnvironment(trim_blocks=True)
    bounded = BoundedSandbox(trim_blocks=True)

    expected = plain.from_string(source).render(context)
    if "lipsum" in source:  # random words: compare the shape
        expected = expected.rsplit(" ", 1)[0]
        assert bounded.render_bounded(bounded.from_string(source), context).startswith(expected)
    else:
        assert bounded.render_bounded(bounded.from_string(source), context) == expected


def test_the_work_and_output_limits_are_the_given_ones() -> None:
    small = BoundedSandbox(limits=ResourceLimits(template_work=50, template_output_bytes=20))

    assert small.render_bounded(small.from_string("{{ 'a' * 20 }}"), {}) == "a" * 20
    with pytest.raises(TemplateLimitExceeded, match="limit of 20 characters"):
        small.render_bounded(small.from_string("{{ 'a' * 21 }}"), {})
    with pytest.raises(TemplateLimitExceeded, match="rendered output"):
        small.render_bounded(
            small.from_string("{% for i in range(3) %}{{ 'a' * 9 }}{% endfor %}"), {}
        )
    with pytest.raises(TemplateLimitExceeded, match="limit of 50 steps"):
        small.render_bounded(small.from_string("{% for i in range(30) %}{% endfor %}"), {})
    # The count starts again with each render.
    template = small.from_string("{% for i in range(20) %}{% endfor %}")
    assert small.render_bounded(template, {}) == small.render_bounded(template, {}) == ""


def test_the_sandbox_still_refuses_python_internals() -> None:
    environment = BoundedSandbox()

    with pytest.raises(jinja2.exceptions.SecurityError):
        environment.render_bounded(
            environment.from_string("{{ ''.__class__.__mro__[1].__subclasses__() }}"), {}
        )


# --- guest files ----------------------------------------------------------------------------


def test_a_write_past_the_guest_file_budget_fails_as_a_full_disk() -> None:
    state = WindowsState()
    used = state.files.used_bytes
    state.resource_limits = ResourceLimits(guest_file_bytes=used + 100)
    osutils = standalone_osutils([], state=state)

    osutils.write_file("C:\\a.txt", b"x" * 60)
    osutils.write_file("C:\\a.txt", b"y" * 100)  # an overwrite counts its growth only
    with pytest.raises(OSError) as raised:
        osutils.write_file("C:\\b.txt", b"z")
    assert raised.value.errno == errno.ENOSPC
    assert raised.value.strerror == "There is not enough space on the disk"
    assert not osutils.path_exists("C:\\b.txt")
    osutils.remove_path("C:\\a.txt")  # space comes back
    osutils.write_file("C:\\b.txt", b"z" * 100)
    assert state.files.used_bytes == used + 100


def test_used_bytes_follow_appends_folder_removals_and_the_temp_folder() -> None:
    state = WindowsState()
    start = state.files.used_bytes
    state.files.make_dirs("C:\\data\\sub")
    state.files.write("C:\\data\\sub\\a", b"123")
    state.files.write("C:\\data\\sub\\a", b"45", append=True)
    state.files.write("C:\\Windows\\Temp\\t", b"1234")
    assert state.files.used_bytes == start + 9
    state.files.clear_temp()
    assert state.files.used_bytes == start + 5
    state.files.remove("C:\\data")
    assert state.files.used_bytes == start


# --- the scenario's budget ------------------------------------------------------------------


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "budget.yaml"
    path.write_text(text)
    return path


def test_a_scenario_budget_overrides_the_defaults(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
description: a small template budget
budget: {template_work: 50}
cloud:
  type: openstack
  user_data: |
    ## template: jinja
    #ps1_sysnative
    {% for i in range(60) %}{% endfor %}
agent:
  options:
    DEFAULT:
      metadata_services: [cloudbaseinit.metadata.services.httpservice.HttpService]
      plugins: [cloudbaseinit.plugins.common.userdata.UserDataPlugin]
expect:
  boots: 1
  failed_plugins: [UserDataPlugin]
  log: {present: ["*TemplateLimitExceeded: the template takes more than*limit of 50 steps*"]}
""",
    )
    outcome = run_scenario(load_scenario(path))

    assert outcome.passed, outcome.failures
    machine = load_scenario(path).build_machine(None, "inprocess", None, None)
    assert machine.state.resource_limits == ResourceLimits(template_work=50)


def test_write_files_past_the_guest_file_budget_fail_the_step(tmp_path: Path) -> None:
    two_mib = base64.b64encode(gzip.compress(bytes(2 * 1024 * 1024))).decode()
    path = _write(
        tmp_path,
        f"""
description: write_files on a full disk
budget: {{guest_file_bytes: 1000000}}
cloud:
  type: openstack
  user_data: |
    #cloud-config
    write_files:
      - {{path: 'C:\\small.txt', content: small}}
      - {{path: 'C:\\big.txt', encoding: gz+b64, content: {two_mib}}}
agent:
  options:
    DEFAULT:
      metadata_services: [cloudbaseinit.metadata.services.httpservice.HttpService]
      plugins: [cloudbaseinit.plugins.common.userdata.UserDataPlugin]
expect:
  boots: 1
  files: {{'C:\\small.txt': {{exists: true}}, 'C:\\big.txt': {{exists: false}}}}
  log: {{present: ["*There is not enough space on the disk*"]}}
""",
    )
    outcome = run_scenario(load_scenario(path))

    assert outcome.passed, outcome.failures


def test_an_unknown_budget_key_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "description: x\nbudget: {memory: 1}\ncloud: null\nexpect: {boots: 1, outcome: stopped}\n",
    )
    with pytest.raises(ScenarioError, match="budget"):
        load_scenario(path)


def test_a_zip_member_expands_within_the_decompression_budget_only() -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as writer:
        writer.writestr("small.txt", b"s" * 100)
        writer.writestr("big.bin", bytes(10_000))
    state = WindowsState()
    state.resource_limits = ResourceLimits(decompressed_bytes=5_000)
    osutils = standalone_osutils([], state=state)
    osutils.write_file("C:\\agent.zip", archive.getvalue())

    with pytest.raises(DecompressionLimitExceeded, match=r"big\.bin in C:"):
        extract_zip(osutils, "C:\\agent.zip", "C:\\agent")
    assert osutils.read_file("C:\\agent\\small.txt") == b"s" * 100
    assert not osutils.path_exists("C:\\agent\\big.bin")
