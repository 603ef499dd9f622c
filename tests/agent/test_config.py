"""The agent's configuration: upstream option names, types, defaults and file semantics."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guestsim.agent.config import (
    DEFAULT_GROUP,
    OPTIONS,
    AgentConfig,
    ConfigError,
    ConfigFileError,
    ConfigValueError,
    ConfigWarning,
    config_from_options,
    default_config,
    load_config,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "confs"
STOCK = FIXTURES / "stock-cloudbase-init.conf"
STOCK_UNATTEND = FIXTURES / "stock-cloudbase-init-unattend.conf"
INSTALL_DIR = "C:\\Program Files\\Cloudbase Solutions\\Cloudbase-Init\\"


def write_conf(tmp_path: Path, text: str, name: str = "cloudbase-init.conf") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- defaults ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "name", "expected"),
    [
        ("DEFAULT", "allow_reboot", True),
        ("DEFAULT", "check_latest_version", False),
        ("DEFAULT", "enable_automatic_updates", None),
        ("DEFAULT", "retry_count", 5),
        ("DEFAULT", "display_idle_timeout", 0),
        ("DEFAULT", "user_password_length", 20),
        ("DEFAULT", "retry_count_interval", 4.0),
        ("DEFAULT", "bsdtar_path", "bsdtar.exe"),
        ("DEFAULT", "mtools_path", None),
        ("DEFAULT", "username", "Admin"),
        ("DEFAULT", "heat_config_dir", "C:\\cfn"),
        ("DEFAULT", "first_logon_behaviour", "clear_text_injected_only"),
        ("DEFAULT", "san_policy", None),
        ("DEFAULT", "groups", ["Administrators"]),
        ("DEFAULT", "cloud_config_plugins", []),
        ("DEFAULT", "volumes_to_extend", None),
        ("DEFAULT", "reset_service_password", True),
        ("DEFAULT", "debug", False),
        ("DEFAULT", "log_file", None),
        ("config_drive", "raw_hdd", True),
        ("config_drive", "types", ["iso", "vfat"]),
        ("config_drive", "locations", ["cdrom", "hdd", "partition"]),
        ("openstack", "metadata_base_url", "http://169.254.169.254/"),
        ("openstack", "add_metadata_private_ip_route", True),
        ("ec2", "https_allow_insecure", False),
        ("cloudstack", "metadata_base_url", "http://10.1.1.1/"),
        ("cloudstack", "password_server_port", 8080),
        ("cloudstack", "add_metadata_private_ip_route", False),
        ("maas", "metadata_base_url", None),
        ("maas", "oauth_token_secret", ""),
        ("azure", "transport_cert_store_name", "Windows Azure Environment"),
        ("ovf", "drive_label", "OVF ENV"),
        ("packet", "metadata_base_url", "https://metadata.packet.net/"),
        (
            "vmwareguestinfo",
            "vmware_rpctool_path",
            "%ProgramFiles%/VMware/VMware Tools/rpctool.exe",
        ),
        ("gce", "metadata_base_url", "http://metadata.google.internal/computeMetadata/v1/"),
        ("gce", "https_ca_bundle", None),
        ("nocloud", "userdata_file", "user-data"),
    ],
)
def test_defaults(group: str, name: str, expected: Any) -> None:
    conf = default_config()
    value = conf.get(name, group)
    assert value == expected
    assert type(value) is type(expected)
    assert not conf.is_set(name, group)


def test_default_plugins_in_upstream_order() -> None:
    plugins = default_config().get("plugins")
    assert plugins == [
        "cloudbaseinit.plugins.common.mtu.MTUPlugin",
        "cloudbaseinit.plugins.windows.ntpclient.NTPClientPlugin",
        "cloudbaseinit.plugins.common.sethostname.SetHostNamePlugin",
        "cloudbaseinit.plugins.windows.createuser.CreateUserPlugin",
        "cloudbaseinit.plugins.common.networkconfig.NetworkConfigPlugin",
        "cloudbaseinit.plugins.windows.licensing.WindowsLicensingPlugin",
        "cloudbaseinit.plugins.common.sshpublickeys.SetUserSSHPublicKeysPlugin",
        "cloudbaseinit.plugins.windows.extendvolumes.ExtendVolumesPlugin",
        "cloudbaseinit.plugins.common.userdata.UserDataPlugin",
        "cloudbaseinit.plugins.common.setuserpassword.SetUserPasswordPlugin",
        "cloudbaseinit.plugins.windows.winrmlistener.ConfigWinRMListenerPlugin",
        "cloudbaseinit.plugins.windows.winrmcertificateauth.ConfigWinRMCertificateAuthPlugin",
        "cloudbaseinit.plugins.common.localscripts.LocalScriptsPlugin",
    ]


def test_default_metadata_services_in_upstream_order() -> None:
    prefix = "cloudbaseinit.metadata.services."
    assert default_config().get("metadata_services") == [
        prefix + "httpservice.HttpService",
        prefix + "configdrive.ConfigDriveService",
        prefix + "ec2service.EC2Service",
        prefix + "maasservice.MaaSHttpService",
        prefix + "cloudstack.CloudStack",
        prefix + "opennebulaservice.OpenNebulaService",
    ]


def test_default_user_data_plugins() -> None:
    prefix = "cloudbaseinit.plugins.common.userdataplugins."
    assert default_config().get("user_data_plugins") == [
        prefix + "parthandler.PartHandlerPlugin",
        prefix + "cloudconfig.CloudConfigPlugin",
        prefix + "cloudboothook.CloudBootHookPlugin",
        prefix + "shellscript.ShellScriptPlugin",
        prefix + "multipartmixed.MultipartMixedPlugin",
        prefix + "heat.HeatPlugin",
    ]


def test_option_table_is_consistent() -> None:
    keys = [(opt.group, opt.name) for opt in OPTIONS]
    assert len(keys) == len(set(keys))
    for opt in OPTIONS:
        assert opt.type in {"bool", "int", "float", "str", "list", "intlist"}
        if opt.choices is not None and opt.default is not None:
            assert opt.default in opt.choices
    conf = default_config()
    for opt in OPTIONS:
        conf.get(opt.name, opt.group)


def test_returned_lists_are_copies() -> None:
    conf = default_config()
    conf.get("plugins").clear()
    assert len(conf.get("plugins")) == 13


def test_unknown_option_lookup_is_key_error() -> None:
    conf = default_config()
    with pytest.raises(KeyError):
        conf.get("no_such_option")
    with pytest.raises(KeyError):
        conf.get("allow_reboot", "openstack")
    with pytest.raises(KeyError):
        conf.is_set("raw_hdd")


# --- the stock installer confs -------------------------------------------------------


def test_stock_conf() -> None:
    conf = load_config(STOCK)
    assert conf.source == str(STOCK)
    assert conf.get("local_scripts_path") == INSTALL_DIR + "LocalScripts\\"
    assert conf.get("bsdtar_path") == INSTALL_DIR + "bin\\bsdtar.exe"
    assert conf.get("mtools_path") == INSTALL_DIR + "bin\\"
    assert conf.get("logging_serial_port_settings") == "COM1,115200,N,8"
    assert conf.get("default_log_levels") == [
        "comtypes=INFO",
        "suds=INFO",
        "iso8601=WARN",
        "requests=WARN",
    ]
    assert conf.get("groups") == ["Administrators"]
    assert conf.get("check_latest_version") is True
    assert conf.get("ntp_use_dhcp_config") is True
    assert conf.get("debug") is True
    assert conf.get("verbose") is True
    # oslo.log's old spellings are accepted under their own name and feed the new one.
    assert conf.get("logdir") == INSTALL_DIR + "log\\"
    assert conf.get("log_dir") == INSTALL_DIR + "log\\"
    assert conf.get("log_file") == "cloudbase-init.log"
    assert conf.get("raw_hdd", "config_drive") is True
    assert conf.get("allow_reboot") is True  # not in the file: default
    assert not conf.is_set("allow_reboot")
    # The only warnings are the three deprecated config-drive spellings the installer writes.
    assert [w.message for w in conf.warnings] == [
        "[DEFAULT] config_drive_raw_hhd is deprecated, use [config_drive] raw_hdd",
        "[DEFAULT] config_drive_cdrom is deprecated, use [config_drive] cdrom",
        "[DEFAULT] config_drive_vfat is deprecated, use [config_drive] vfat",
    ]
    assert [w.line for w in conf.warnings] == [5, 6, 7]


def test_stock_unattend_conf() -> None:
    conf = load_config(STOCK_UNATTEND)
    assert conf.get("allow_reboot") is False
    assert conf.get("stop_service_on_exit") is False
    assert conf.get("check_latest_version") is False
    assert [p.rsplit(".", 1)[1] for p in conf.get("plugins")] == [
        "MTUPlugin",
        "NTPClientPlugin",
        "SetHostNamePlugin",
    ]
    assert conf.get("metadata_services")[0] == (
        "cloudbaseinit.metadata.services.configdrive.ConfigDriveService"
    )
    assert all("deprecated" in w.message for w in conf.warnings)


def test_crlf_file_keeps_trailing_backslash(tmp_path: Path) -> None:
    path = tmp_path / "crlf.conf"
    path.write_bytes(b"[DEFAULT]\r\nlocal_scripts_path=C:\\Scripts\\\r\nallow_reboot=false\r\n")
    conf = load_config(path)
    assert conf.get("local_scripts_path") == "C:\\Scripts\\"
    assert conf.get("allow_reboot") is False


# --- warnings ------------------------------------------------------------------------


def test_unknown_option_warns_with_line(tmp_path: Path) -> None:
    path = write_conf(
        tmp_path,
        "[DEFAULT]\n# a comment\nusername = Admin\n\nallow_rebot = false\nretry_count = 3\n",
    )
    conf = load_config(path)
    assert conf.warnings == (
        ConfigWarning(str(path), 5, "unknown option [DEFAULT] allow_rebot (ignored)"),
    )
    assert str(conf.warnings[0]) == f"{path}:5: unknown option [DEFAULT] allow_rebot (ignored)"
    assert conf.get("allow_reboot") is True
    assert conf.get("retry_count") == 3


def test_unknown_section_warns_once_and_option_in_wrong_group_hints(tmp_path: Path) -> None:
    path = write_conf(
        tmp_path,
        "[DEFAULT]\nraw_hdd = false\n[cloudinit]\na = 1\nb = 2\n[default]\nusername = x\n[empty]\n",
    )
    conf = load_config(path)
    assert [(w.line, w.message) for w in conf.warnings] == [
        (2, "unknown option [DEFAULT] raw_hdd (ignored); it exists in [config_drive]"),
        (3, "unknown section [cloudinit] (ignored)"),
        (6, "unknown section [default] (ignored); [DEFAULT] is written in capitals"),
        (8, "unknown section [empty] (ignored)"),
    ]
    assert conf.get("raw_hdd", "config_drive") is True
    assert conf.get("username") == "Admin"


def test_option_names_are_case_sensitive(tmp_path: Path) -> None:
    conf = load_config(write_conf(tmp_path, "[DEFAULT]\nAllow_Reboot = false\n"))
    assert conf.get("allow_reboot") is True
    assert "did you mean 'allow_reboot'" in conf.warnings[0].message


def test_warnings_are_in_file_order(tmp_path: Path) -> None:
    text = "[openstack]\nzzz = 1\n[DEFAULT]\nmetadata_base_url = http://x/\nbogus = 1\n"
    conf = load_config(write_conf(tmp_path, text))
    assert [w.line for w in conf.warnings] == [2, 4, 5]


# --- value errors --------------------------------------------------------------------


def test_bad_bool_names_option_file_and_line(tmp_path: Path) -> None:
    path = write_conf(tmp_path, "[DEFAULT]\nusername = Admin\n\nallow_reboot = maybe\n")
    with pytest.raises(ConfigValueError) as info:
        load_config(path)
    err = info.value
    assert (err.option, err.group, err.file, err.line) == ("allow_reboot", "DEFAULT", str(path), 4)
    assert err.value == "maybe"
    assert str(err) == f"{path}:4: [DEFAULT] allow_reboot: 'maybe' is not a boolean"
    assert isinstance(err, ConfigError)


def test_bad_value_in_group(tmp_path: Path) -> None:
    path = write_conf(tmp_path, "[DEFAULT]\n[cloudstack]\npassword_server_port = http\n")
    with pytest.raises(ConfigValueError, match=r":3: \[cloudstack\] password_server_port: "):
        load_config(path)


def test_bad_choice(tmp_path: Path) -> None:
    path = write_conf(tmp_path, "[DEFAULT]\nsan_policy = onlineall\n")
    with pytest.raises(ConfigValueError) as info:
        load_config(path)
    assert info.value.line == 2
    assert str(info.value).endswith(
        "[DEFAULT] san_policy: 'onlineall' is not one of 'OnlineAll', 'OfflineAll', 'OfflineShared'"
    )


def test_good_choices(tmp_path: Path) -> None:
    text = "[DEFAULT]\nsan_policy=OfflineShared\nfirst_logon_behaviour=no\n"
    text += "bcd_boot_status_policy=ignoreallfailures\n"
    conf = load_config(write_conf(tmp_path, text))
    assert conf.get("san_policy") == "OfflineShared"
    assert conf.get("first_logon_behaviour") == "no"
    assert conf.get("bcd_boot_status_policy") == "ignoreallfailures"


@pytest.mark.parametrize(
    "text",
    [
        "allow_reboot = true\n",  # no section
        "[DEFAULT]\njust some words\n",
    ],
)
def test_not_ini_is_file_error(tmp_path: Path, text: str) -> None:
    path = write_conf(tmp_path, text)
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    assert info.value.file == str(path)
    assert info.value.line == text.count("\n")
    assert str(info.value).startswith(f"{path}:{info.value.line}: ")
    assert "\n" not in str(info.value)


def test_missing_file_is_file_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="cannot read"):
        load_config(tmp_path / "absent.conf")


def test_byte_order_mark_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bom.conf"
    path.write_bytes(b"\xef\xbb\xbf[DEFAULT]\nusername=x\n")
    with pytest.raises(ConfigFileError, match="byte order mark"):
        load_config(path)


# --- types ---------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["true", "TRUE", "Yes", "on", "1"])
def test_bool_true_spellings(tmp_path: Path, word: str) -> None:
    conf = load_config(write_conf(tmp_path, f"[DEFAULT]\ntrim_enabled = {word}\n"))
    assert conf.get("trim_enabled") is True


@pytest.mark.parametrize("word", ["false", "False", "NO", "off", "0"])
def test_bool_false_spellings(tmp_path: Path, word: str) -> None:
    conf = load_config(write_conf(tmp_path, f"[DEFAULT]\nallow_reboot = {word}\n"))
    assert conf.get("allow_reboot") is False


def test_list_and_intlist(tmp_path: Path) -> None:
    text = (
        "[DEFAULT]\n"
        "groups = Administrators , Remote Desktop Users,\tUsers\n"
        "page_file_volume_labels =\n"
        "volumes_to_extend = 1, 2,3\n"
        "[config_drive]\n"
        "types = vfat\n"
        "locations = partition,cdrom\n"
    )
    conf = load_config(write_conf(tmp_path, text))
    assert conf.get("groups") == ["Administrators", "Remote Desktop Users", "Users"]
    assert conf.get("page_file_volume_labels") == []
    assert conf.is_set("page_file_volume_labels")
    assert conf.get("volumes_to_extend") == [1, 2, 3]
    assert conf.get("types", "config_drive") == ["vfat"]
    assert conf.get("locations", "config_drive") == ["partition", "cdrom"]


def test_bad_intlist_item(tmp_path: Path) -> None:
    path = write_conf(tmp_path, "[DEFAULT]\nvolumes_to_extend = 1,C\n")
    with pytest.raises(ConfigValueError, match="is not a list of integers"):
        load_config(path)


def test_scalars_strings_and_quotes(tmp_path: Path) -> None:
    text = (
        "[DEFAULT]\n"
        "retry_count_interval = 0.5\n"
        "display_idle_timeout = -1\n"
        'heat_config_dir = "D:\\heat dir"\n'
        "kms_host = kms.example.com:1688\n"
        "userdata_save_path = %TEMP%\\ud ; not a comment\n"
        "mtools_path =\n"
    )
    conf = load_config(write_conf(tmp_path, text))
    assert conf.get("retry_count_interval") == 0.5
    assert conf.get("display_idle_timeout") == -1
    assert conf.get("heat_config_dir") == "D:\\heat dir"
    assert conf.get("kms_host") == "kms.example.com:1688"
    assert conf.get("userdata_save_path") == "%TEMP%\\ud ; not a comment"
    assert conf.get("mtools_path") == ""


def test_blank_integer_reads_as_none_like_oslo(tmp_path: Path) -> None:
    conf = load_config(write_conf(tmp_path, "[DEFAULT]\nretry_count =\n"))
    assert conf.get("retry_count") is None
    assert conf.is_set("retry_count")


# --- file semantics ------------------------------------------------------------------


def test_default_section_does_not_leak_into_groups(tmp_path: Path) -> None:
    text = (
        "[DEFAULT]\nhttps_allow_insecure = true\nhttps_ca_bundle = C:\\ca.pem\n"
        "[openstack]\nhttps_ca_bundle = C:\\os.pem\n"
    )
    conf = load_config(write_conf(tmp_path, text))
    assert conf.get("https_allow_insecure", "openstack") is False
    assert conf.get("https_ca_bundle", "openstack") == "C:\\os.pem"
    assert conf.get("https_ca_bundle", "gce") is None
    assert not conf.is_set("https_allow_insecure", "ec2")
    assert [w.line for w in conf.warnings] == [2, 3]


def test_repeated_key_and_section_last_wins(tmp_path: Path) -> None:
    text = (
        "[DEFAULT]\nretry_count = 1\nretry_count = 2\n"
        "[openstack]\nhttps_allow_insecure = true\n"
        "[DEFAULT]\nretry_count = 9\nbogus = x\n"
    )
    conf = load_config(write_conf(tmp_path, text))
    assert conf.get("retry_count") == 9
    assert conf.get("https_allow_insecure", "openstack") is True
    assert [w.line for w in conf.warnings] == [8]


def test_repeated_bad_key_reports_the_effective_line(tmp_path: Path) -> None:
    path = write_conf(tmp_path, "[DEFAULT]\nretry_count = x\nretry_count = y\n")
    with pytest.raises(ConfigValueError) as info:
        load_config(path)
    assert (info.value.value, info.value.line) == ("y", 3)


def test_no_interpolation(tmp_path: Path) -> None:
    text = "[DEFAULT]\nlog_date_format = %Y-%m-%d %(bogus)s\n"
    conf = load_config(write_conf(tmp_path, text))
    assert conf.get("log_date_format") == "%Y-%m-%d %(bogus)s"


# --- deprecated aliases --------------------------------------------------------------


def test_deprecated_aliases_map_to_new_options(tmp_path: Path) -> None:
    text = (
        "[DEFAULT]\n"
        "config_drive_raw_hhd = false\n"
        "config_drive_types = vfat\n"
        "config_drive_locations = hdd\n"
        "metadata_base_url = http://10.0.0.1/\n"
        "ec2_metadata_base_url = http://10.0.0.2/\n"
        "cloudstack_metadata_ip = http://10.0.0.3/\n"
        "maas_metadata_url = http://maas:5240/MAAS/metadata/\n"
        "maas_oauth_token_key = tok\n"
    )
    path = write_conf(tmp_path, text)
    conf = load_config(path)
    assert conf.get("raw_hdd", "config_drive") is False
    assert conf.get("types", "config_drive") == ["vfat"]
    assert conf.get("locations", "config_drive") == ["hdd"]
    assert conf.get("metadata_base_url", "openstack") == "http://10.0.0.1/"
    assert conf.get("metadata_base_url", "ec2") == "http://10.0.0.2/"
    assert conf.get("metadata_base_url", "cloudstack") == "http://10.0.0.3/"
    assert conf.get("metadata_base_url", "maas") == "http://maas:5240/MAAS/metadata/"
    assert conf.get("oauth_token_key", "maas") == "tok"
    assert conf.is_set("raw_hdd", "config_drive")
    assert [w.line for w in conf.warnings] == list(range(2, 10))
    assert str(conf.warnings[0]) == (
        f"{path}:2: [DEFAULT] config_drive_raw_hhd is deprecated, use [config_drive] raw_hdd"
    )


def test_new_name_wins_over_alias_in_either_order(tmp_path: Path) -> None:
    text = (
        "[config_drive]\nraw_hdd = true\n"
        "[DEFAULT]\nconfig_drive_raw_hhd = not-a-bool\nmetadata_base_url = http://old/\n"
        "[openstack]\nmetadata_base_url = http://new/\n"
    )
    conf = load_config(write_conf(tmp_path, text))
    assert conf.get("raw_hdd", "config_drive") is True
    assert conf.get("metadata_base_url", "openstack") == "http://new/"
    assert [(w.line, "ignored because" in w.message) for w in conf.warnings] == [
        (4, True),
        (5, True),
    ]


def test_bad_alias_value_names_the_alias(tmp_path: Path) -> None:
    path = write_conf(tmp_path, "[DEFAULT]\nconfig_drive_cdrom = perhaps\n")
    with pytest.raises(ConfigValueError) as info:
        load_config(path)
    assert (info.value.option, info.value.group, info.value.line) == (
        "config_drive_cdrom",
        "DEFAULT",
        2,
    )


# --- inline options and overrides ----------------------------------------------------


def test_config_from_options_native_and_string_values() -> None:
    conf = config_from_options(
        {
            "DEFAULT": {
                "allow_reboot": False,
                "check_latest_version": "yes",
                "retry_count": 2,
                "retry_count_interval": 1,
                "display_idle_timeout": "30",
                "plugins": ["a.b.C", "d.e.F"],
                "groups": "Administrators, Users",
                "volumes_to_extend": [1, "2"],
                "username": "cloud",
                "kms_host": None,
                "local_scripts_path": "C:\\Scripts\\",
            },
            "cloudstack": {"password_server_port": "8081", "metadata_base_url": "http://x/"},
        },
        "scenario.yaml",
    )
    assert conf.source == "scenario.yaml"
    assert conf.warnings == ()
    assert conf.get("allow_reboot") is False
    assert conf.get("check_latest_version") is True
    assert conf.get("retry_count") == 2
    assert conf.get("retry_count_interval") == 1.0
    assert isinstance(conf.get("retry_count_interval"), float)
    assert conf.get("display_idle_timeout") == 30
    assert conf.get("plugins") == ["a.b.C", "d.e.F"]
    assert conf.get("groups") == ["Administrators", "Users"]
    assert conf.get("volumes_to_extend") == [1, 2]
    assert conf.get("kms_host") is None
    assert conf.is_set("kms_host")
    assert conf.get("local_scripts_path") == "C:\\Scripts\\"
    assert conf.get("password_server_port", "cloudstack") == 8081
    assert conf.explicit_items()[0] == ("DEFAULT", "allow_reboot", False)
    assert conf.explicit_items()[-1] == ("cloudstack", "password_server_port", 8081)
    assert [item[:2] for item in conf.explicit_items()] == sorted(
        item[:2] for item in conf.explicit_items()
    )


@pytest.mark.parametrize(
    ("group", "name", "value", "expected"),
    [
        ("DEFAULT", "allow_reboot", 1, "a boolean"),
        ("DEFAULT", "allow_reboot", "maybe", "a boolean"),
        ("DEFAULT", "allow_reboot", None, "a boolean"),
        ("DEFAULT", "retry_count", True, "an integer"),
        ("DEFAULT", "retry_count", 2.5, "an integer"),
        ("DEFAULT", "retry_count_interval", "soon", "a number"),
        ("DEFAULT", "username", ["a"], "a string"),
        ("DEFAULT", "username", False, "a string"),
        ("DEFAULT", "plugins", {"a": 1}, "a list"),
        ("DEFAULT", "volumes_to_extend", [1, True], "a list of integers"),
        ("DEFAULT", "first_logon_behaviour", "sometimes", "one of "),
        ("ec2", "https_allow_insecure", "insecure", "a boolean"),
    ],
)
def test_config_from_options_wrong_type(group: str, name: str, value: Any, expected: str) -> None:
    with pytest.raises(ConfigValueError) as info:
        config_from_options({group: {name: value}}, "scenario.yaml")
    err = info.value
    assert (err.option, err.group, err.file, err.line) == (name, group, "scenario.yaml", None)
    assert err.value == value
    assert str(err).startswith(f"scenario.yaml: [{group}] {name}: {value!r} is not {expected}")


def test_config_from_options_alias_and_unknowns_warn() -> None:
    conf = config_from_options(
        {"DEFAULT": {"config_drive_vfat": False, "nope": 1}, "mystery": {"x": 1}}, "s.yaml"
    )
    assert conf.get("vfat", "config_drive") is False
    assert [str(w) for w in conf.warnings] == [
        "s.yaml: [DEFAULT] config_drive_vfat is deprecated, use [config_drive] vfat",
        "s.yaml: unknown option [DEFAULT] nope (ignored)",
        "s.yaml: unknown section [mystery] (ignored)",
    ]


def test_config_from_options_rejects_non_mapping_group() -> None:
    with pytest.raises(ConfigError, match=r"s.yaml: \[DEFAULT\] must be a mapping"):
        config_from_options({"DEFAULT": ["allow_reboot"]}, "s.yaml")  # type: ignore[dict-item]


def test_with_overrides_returns_new_config(tmp_path: Path) -> None:
    path = write_conf(tmp_path, "[DEFAULT]\nallow_reboot = false\nretry_count = 3\nbogus = 1\n")
    base = load_config(path)
    changed = base.with_overrides(
        {
            "DEFAULT": {"retry_count": "7", "plugins": ["x.y.Z"]},
            "openstack": {"https_ca_bundle": "c"},
        }
    )
    assert isinstance(changed, AgentConfig)
    assert changed is not base
    assert changed.get("retry_count") == 7
    assert changed.get("allow_reboot") is False
    assert changed.get("plugins") == ["x.y.Z"]
    assert changed.get("https_ca_bundle", "openstack") == "c"
    assert changed.is_set("plugins")
    assert changed.source == base.source
    assert changed.warnings == base.warnings
    # The original is untouched.
    assert base.get("retry_count") == 3
    assert not base.is_set("plugins")
    with pytest.raises(ConfigValueError) as info:
        base.with_overrides({DEFAULT_GROUP: {"allow_reboot": "maybe"}})
    assert info.value.file == str(path)
    assert info.value.line is None


def test_with_overrides_on_defaults() -> None:
    conf = default_config().with_overrides({"config_drive": {"types": ["iso"]}})
    assert conf.get("types", "config_drive") == ["iso"]
    assert conf.explicit_items() == [("config_drive", "types", ["iso"])]
    assert default_config().explicit_items() == []


# --- property ------------------------------------------------------------------------

_TRUE_WORDS = ("true", "1", "on", "yes")
_FALSE_WORDS = ("false", "0", "off", "no")
_CASINGS: tuple[Callable[[str], str], ...] = (str.lower, str.upper, str.title)


@given(
    flag=st.booleans(),
    spelling=st.integers(min_value=0, max_value=3),
    casing=st.sampled_from(_CASINGS),
    number=st.integers(min_value=-(10**30), max_value=10**30),
    padding=st.sampled_from(["", " ", "  ", "\t"]),
)
def test_bool_and_int_round_trip(
    flag: bool, spelling: int, casing: Callable[[str], str], number: int, padding: str
) -> None:
    word = casing((_TRUE_WORDS if flag else _FALSE_WORDS)[spelling])
    text = (
        "[DEFAULT]\n"
        f"allow_reboot ={padding}{word}{padding}\n"
        f"user_password_length{padding}= {number}\n"
        "[config_drive]\n"
        f"vfat = {word}\n"
        "[cloudstack]\n"
        f"password_server_port={number}{padding}\n"
    )
    with tempfile.TemporaryDirectory() as directory:
        conf = load_config(write_conf(Path(directory), text))
    assert conf.get("allow_reboot") is flag
    assert conf.get("vfat", "config_drive") is flag
    assert conf.get("user_password_length") == number
    assert conf.get("password_server_port", "cloudstack") == number
    assert conf.warnings == ()
