"""Conf-file values the way oslo.config reads them: list trailing commas, ``$`` references.

Each behaviour is pinned by an example here and, where the published agent's config library
(oslo.config, the ``[upstream]`` extra) is installed, checked against it on the same file:
guestsim's option table registered in a real ``ConfigOpts``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guestsim.agent.config import (
    OPTIONS,
    ConfigReferenceError,
    ConfigValueError,
    Option,
    load_config,
)

OSLO_MISSING = importlib.util.find_spec("oslo_config") is None
needs_oslo = pytest.mark.skipif(OSLO_MISSING, reason="oslo.config is not installed ([upstream])")

P = "cloudbaseinit.plugins."
HOSTNAME = f"{P}common.sethostname.SetHostNamePlugin"
TRIM = f"{P}common.trim.TrimConfigPlugin"


def write_conf(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cloudbase-init.conf"
    path.write_text(text, encoding="utf-8")
    return path


# --- oslo.config as the oracle -----------------------------------------------------------


def _oslo_conf(path: Path) -> Any:
    """A real oslo.config object with guestsim's option table, reading ``path``."""
    from oslo_config import cfg, types

    conf = cfg.ConfigOpts()
    # Options registered under their own name that are also an old spelling of another
    # (oslo.log's logfile, logdir, log_config) are left out, as oslo.log has them.
    aliases = {alias for opt in OPTIONS for alias in opt.deprecated}
    for opt in OPTIONS:
        if (opt.group, opt.name) in aliases:
            continue
        conf.register_opt(_oslo_opt(cfg, types, opt), group=_group(opt.group))
    conf([], default_config_files=[str(path)], default_config_dirs=[], use_env=False)
    return conf


def _group(group: str) -> str | None:
    return None if group == "DEFAULT" else group


def _oslo_opt(cfg: Any, types: Any, opt: Option) -> Any:
    deprecated = [cfg.DeprecatedOpt(name, group=group) for group, name in opt.deprecated]
    default = list(opt.default) if isinstance(opt.default, tuple) else opt.default
    kinds = {
        "bool": cfg.BoolOpt,
        "int": cfg.IntOpt,
        "float": cfg.FloatOpt,
        "str": cfg.StrOpt,
        "list": cfg.ListOpt,
    }
    if opt.type == "intlist":
        return cfg.ListOpt(
            opt.name, default=default, item_type=types.Integer(), deprecated_opts=deprecated
        )
    return kinds[opt.type](opt.name, default=default, deprecated_opts=deprecated)


def _oslo_value(conf: Any, group: str, name: str) -> Any:
    scope = conf if group == "DEFAULT" else getattr(conf, group)
    return getattr(scope, name)


def assert_same_as_oslo(path: Path, keys: list[tuple[str, str]]) -> None:
    if OSLO_MISSING:
        return
    ours = load_config(path)
    theirs = _oslo_conf(path)
    for group, name in keys:
        assert ours.get(name, group) == _oslo_value(theirs, group, name), (group, name)


def assert_oslo_refuses(path: Path, group: str, name: str) -> None:
    if OSLO_MISSING:
        return
    with pytest.raises(Exception):  # noqa: B017 - oslo raises several unrelated types
        _oslo_value(_oslo_conf(path), group, name)


# --- list values ---------------------------------------------------------------------------


def test_a_trailing_comma_ends_a_list_without_an_empty_item(tmp_path: Path) -> None:
    text = (
        "[DEFAULT]\n"
        f"plugins = {HOSTNAME},\n"
        f"    {TRIM},\n"
        "groups = Administrators,Users,,\n"
        "volumes_to_extend = 1,2,\n"
        "page_file_volume_labels = ,\n"
        "[config_drive]\n"
        "types = iso, \n"
    )
    path = write_conf(tmp_path, text)
    conf = load_config(path)
    assert conf.get("plugins") == [HOSTNAME, TRIM]
    # All trailing commas go, as oslo.config strips them; an empty item inside stays.
    assert conf.get("groups") == ["Administrators", "Users"]
    assert conf.get("volumes_to_extend") == [1, 2]
    assert conf.get("page_file_volume_labels") == []
    assert conf.get("types", "config_drive") == ["iso"]
    assert_same_as_oslo(
        path,
        [
            ("DEFAULT", "plugins"),
            ("DEFAULT", "groups"),
            ("DEFAULT", "volumes_to_extend"),
            ("DEFAULT", "page_file_volume_labels"),
            ("config_drive", "types"),
        ],
    )


def test_the_agent_logs_no_error_for_a_trailing_comma(tmp_path: Path) -> None:
    from guestsim.simulator.machine import Machine

    text = (
        "[DEFAULT]\n"
        "metadata_services = cloudbaseinit.metadata.services.base.EmptyMetadataService,\n"
        f"plugins = {HOSTNAME},\n"
        f"    {TRIM},\n"
    )
    result = Machine(load_config(write_conf(tmp_path, text))).run()
    assert [line for line in result.log if " ERROR " in line] == []
    assert [e.get("plugin") for e in result.trace.of_kind("plugin_start")] == [
        "SetHostNamePlugin",
        "TrimConfigPlugin",
    ]


def test_empty_items_before_the_end_are_kept_as_oslo_keeps_them(tmp_path: Path) -> None:
    path = write_conf(tmp_path, "[DEFAULT]\ngroups = a,,b, ,\n")
    assert load_config(path).get("groups") == ["a", "", "b", ""]
    assert_same_as_oslo(path, [("DEFAULT", "groups")])


# --- $ references ---------------------------------------------------------------------------


def test_references_resolve_in_the_same_group_then_default(tmp_path: Path) -> None:
    text = (
        "[DEFAULT]\n"
        "username = cloudadmin\n"
        "heat_config_dir = C:\\Users/$username\\cfn\n"
        "local_scripts_path = ${heat_config_dir}/scripts\n"
        "kms_host = $metadata_base_url\n"
        "[openstack]\n"
        "metadata_base_url = http://10.0.0.1/\n"
        "https_ca_bundle = C:/certs/${username}.pem\n"
        "[ec2]\n"
        "https_ca_bundle = $metadata_base_url|$https_allow_insecure|"
        "${openstack.metadata_base_url}\n"
    )
    path = write_conf(tmp_path, text)
    conf = load_config(path)
    assert conf.get("heat_config_dir") == "C:\\Users/cloudadmin\\cfn"
    assert conf.get("local_scripts_path") == "C:\\Users/cloudadmin\\cfn/scripts"
    # [DEFAULT] metadata_base_url is the old spelling of [openstack]'s: a reference to it
    # reads that option as written in [DEFAULT] (here: not at all, so its default).
    assert conf.get("kms_host") == "http://169.254.169.254/"
    # [openstack] has no username: the [DEFAULT] one.
    assert conf.get("https_ca_bundle", "openstack") == "C:/certs/cloudadmin.pem"
    # The same group's option first ([ec2]'s default URL, not [DEFAULT]'s old spelling of
    # [openstack]'s), printed as Python prints the value.
    assert conf.get("https_ca_bundle", "ec2") == ("http://169.254.169.254/|False|http://10.0.0.1/")
    assert_same_as_oslo(
        path,
        [
            ("DEFAULT", "heat_config_dir"),
            ("DEFAULT", "local_scripts_path"),
            ("DEFAULT", "kms_host"),
            ("openstack", "https_ca_bundle"),
            ("ec2", "https_ca_bundle"),
        ],
    )


def test_a_reference_reads_the_typed_value_and_lists_split_after_it(tmp_path: Path) -> None:
    text = (
        "[DEFAULT]\n"
        f"plugins = $kms_host,{TRIM},\n"
        f"kms_host = {HOSTNAME}\n"
        "userdata_save_path = $retry_count/$allow_reboot/$groups/$mtools_path\n"
    )
    path = write_conf(tmp_path, text)
    conf = load_config(path)
    assert conf.get("plugins") == [HOSTNAME, TRIM]
    # Defaults when unset; None reads as nothing.
    assert conf.get("userdata_save_path") == "5/True/['Administrators']/"
    assert_same_as_oslo(path, [("DEFAULT", "plugins"), ("DEFAULT", "userdata_save_path")])


def test_dollar_escapes(tmp_path: Path) -> None:
    text = (
        "[DEFAULT]\n"
        "username = Admin\n"
        "kms_host = $$username \\$username \\$$username $1 $ ${ ${username\n"
        "heat_config_dir = C:\\$Recycle.Bin\n"
        "local_scripts_path = C:\\\\$Recycle.Bin\n"
    )
    path = write_conf(tmp_path, text)
    conf = load_config(path)
    # $$ and \$ both stand for a $; a $ not followed by a name stays as it is.
    assert conf.get("kms_host") == "$username $username $Admin $1 $ ${ ${username"
    # \$ eats its backslash, which can surprise in a Windows path.
    assert conf.get("heat_config_dir") == "C:$Recycle.Bin"
    assert conf.get("local_scripts_path") == "C:\\$Recycle.Bin"
    assert_same_as_oslo(
        path,
        [
            ("DEFAULT", "kms_host"),
            ("DEFAULT", "heat_config_dir"),
            ("DEFAULT", "local_scripts_path"),
        ],
    )


def test_percent_signs_are_left_alone(tmp_path: Path) -> None:
    text = "[DEFAULT]\nlog_date_format = %Y-%m-%d %(bogus)s\nbsdtar_path = %ProgramFiles%\\x\n"
    path = write_conf(tmp_path, text)
    conf = load_config(path)
    assert conf.get("log_date_format") == "%Y-%m-%d %(bogus)s"
    assert conf.get("bsdtar_path") == "%ProgramFiles%\\x"
    assert_same_as_oslo(path, [("DEFAULT", "log_date_format"), ("DEFAULT", "bsdtar_path")])


@pytest.mark.parametrize(
    ("line", "reference", "why"),
    [
        ("kms_host = http://$nosuch/", "$nosuch", "no option nosuch in [DEFAULT]"),
        ("kms_host = $Username", "$Username", "no option Username in [DEFAULT]"),
        ("kms_host = ${gce.nosuch}", "${gce.nosuch}", "no option nosuch in [gce]"),
        ("kms_host = ${nosuch.name}", "${nosuch.name}", "no section [nosuch]"),
        # A dot continues a name: this is option "" of a section [username].
        ("kms_host = $username.", "$username.", "no section [username]"),
        # [DEFAULT] is not a section a reference can name.
        ("kms_host = ${DEFAULT.username}", "${DEFAULT.username}", "no section [DEFAULT]"),
    ],
    ids=["unknown", "case", "unknown-in-group", "unknown-group", "trailing-dot", "default-dot"],
)
def test_an_unresolvable_reference_names_file_line_and_option(
    tmp_path: Path, line: str, reference: str, why: str
) -> None:
    path = write_conf(tmp_path, f"[DEFAULT]\nusername = Admin\n{line}\n")
    with pytest.raises(ConfigReferenceError) as info:
        load_config(path)
    error = info.value
    assert isinstance(error, ConfigValueError)
    assert (error.file, error.line, error.group, error.option) == (
        str(path),
        3,
        "DEFAULT",
        "kms_host",
    )
    assert error.reference == reference
    assert str(error) == f"{path}:3: [DEFAULT] kms_host: {reference} cannot be resolved: {why}"
    assert_oslo_refuses(path, "DEFAULT", "kms_host")


def test_a_reference_loop_is_an_error(tmp_path: Path) -> None:
    text = "[DEFAULT]\nkms_host = $username\nusername = x$kms_host\n"
    path = write_conf(tmp_path, text)
    with pytest.raises(
        ConfigReferenceError,
        match=r"refers back to itself \(\[DEFAULT\] kms_host -> \[DEFAULT\] username -> "
        r"\[DEFAULT\] kms_host\)",
    ) as info:
        load_config(path)
    assert (info.value.option, info.value.line) == ("username", 3)
    assert_oslo_refuses(path, "DEFAULT", "kms_host")


def test_unknown_options_are_not_resolved(tmp_path: Path) -> None:
    # The agent never reads them, so oslo.config never substitutes them either.
    conf = load_config(write_conf(tmp_path, "[DEFAULT]\ncolour = $nosuch\n[x]\ny = $z\n"))
    assert len(conf.warnings) == 2


def test_a_bad_type_after_substitution_names_the_option(tmp_path: Path) -> None:
    path = write_conf(tmp_path, "[DEFAULT]\nkms_host = often\nretry_count = $kms_host\n")
    with pytest.raises(ConfigValueError) as info:
        load_config(path)
    assert (info.value.option, info.value.line, info.value.value) == ("retry_count", 3, "often")


_TEXT = st.lists(
    st.sampled_from(["a", "$", "\\", "{", "}", ".", "username", "gce.metadata_base_url"]),
    max_size=8,
).map("".join)


@needs_oslo
@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_any_mix_of_dollars_braces_and_backslashes_reads_as_oslo_reads_it(value: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.conf"
        path.write_text(f"[DEFAULT]\nkms_host = x{value}\nusername = ab\n", encoding="utf-8")
        try:
            theirs = _oslo_value(_oslo_conf(path), "DEFAULT", "kms_host")
        except Exception:
            with pytest.raises(ConfigReferenceError):
                load_config(path)
            return
        assert load_config(path).get("kms_host") == theirs


# --- section names ----------------------------------------------------------------------------


def test_group_sections_match_in_any_case_but_default_only_in_capitals(tmp_path: Path) -> None:
    text = (
        "[OpenStack]\n"
        "metadata_base_url = http://10.0.0.1/\n"
        "[CONFIG_DRIVE]\n"
        "types = vfat\n"
        "[openstack]\n"
        "add_metadata_private_ip_route = false\n"
        "[default]\n"
        "username = nobody\n"
    )
    path = write_conf(tmp_path, text)
    conf = load_config(path)
    assert conf.get("metadata_base_url", "openstack") == "http://10.0.0.1/"
    assert conf.line_of("metadata_base_url", "openstack") == 2
    assert conf.get("add_metadata_private_ip_route", "openstack") is False
    assert conf.get("types", "config_drive") == ["vfat"]
    assert conf.get("username") == "Admin"
    assert [str(warning) for warning in conf.warnings] == [
        f"{path}:7: unknown section [default] (ignored); [DEFAULT] is written in capitals"
    ]
    assert_same_as_oslo(
        path,
        [
            ("openstack", "metadata_base_url"),
            ("openstack", "add_metadata_private_ip_route"),
            ("config_drive", "types"),
            ("DEFAULT", "username"),
        ],
    )


def test_the_later_line_wins_across_spellings_of_a_section(tmp_path: Path) -> None:
    text = (
        "[openstack]\nmetadata_base_url = http://first/\n"
        "[OpenStack]\nmetadata_base_url = http://second/\n"
        "[openstack]\nmetadata_base_url = http://third/\n"
    )
    path = write_conf(tmp_path, text)
    assert load_config(path).get("metadata_base_url", "openstack") == "http://third/"
    assert_same_as_oslo(path, [("openstack", "metadata_base_url")])
