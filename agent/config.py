"""The agent's configuration: upstream's ``cloudbase-init.conf`` options, types and defaults.

A configuration is read from a real INI file (:func:`load_config`), from inline values such
as a YAML scenario's (:func:`config_from_options`), or is all defaults
(:func:`default_config`). Values are parsed the way oslo.config parses them, so a file that
works with the real agent means the same thing here: list values lose their trailing
commas, and a file's values have their ``$name``/``${name}``/``${group.name}`` references
to other options replaced (``$$`` and ``\\$`` stand for a ``$``). Inline values are taken
literally. Problems the real agent would ignore (unknown options or sections, deprecated
spellings) become :class:`ConfigWarning` entries; values the real agent would reject raise
:class:`ConfigValueError` (:class:`ConfigReferenceError` for a reference that resolves to
no option).
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_GROUP = "DEFAULT"

OptionType = str  # "bool" | "int" | "float" | "str" | "list" | "intlist"
_TYPES = ("bool", "int", "float", "str", "list", "intlist")


@dataclass(frozen=True)
class Option:
    """One configuration option.

    ``deprecated`` lists ``(group, name)`` spellings that still set this option. List
    defaults are tuples so that options stay hashable and immutable; ``AgentConfig.get``
    hands out fresh lists.
    """

    name: str
    type: OptionType
    default: Any
    group: str = DEFAULT_GROUP
    choices: tuple[str, ...] | None = None
    deprecated: tuple[tuple[str, str], ...] = ()


class ConfigError(Exception):
    """Base of all configuration errors; ``str()`` is a single line."""


class ConfigFileError(ConfigError):
    """The file cannot be read or is not INI text."""

    def __init__(self, file: str, reason: str, line: int | None = None) -> None:
        self.file = file
        self.line = line
        self.reason = reason
        super().__init__(f"{_where(file, line)}: {reason}")


class ConfigValueError(ConfigError):
    """A value cannot be converted to its option's type, or is not one of its choices."""

    def __init__(
        self,
        *,
        option: str,
        group: str,
        file: str,
        line: int | None,
        value: Any,
        expected: str,
    ) -> None:
        self.option = option
        self.group = group
        self.file = file
        self.line = line
        self.value = value
        self.expected = expected
        super().__init__(f"{_where(file, line)}: [{group}] {option}: {self.detail}")

    @property
    def detail(self) -> str:
        """What is wrong with the value, without the file, line and option."""
        return f"{self.value!r} is not {self.expected}"


class ConfigReferenceError(ConfigValueError):
    """A ``$name`` reference in a value names no option, or leads back to itself."""

    def __init__(
        self,
        *,
        option: str,
        group: str,
        file: str,
        line: int | None,
        value: Any,
        reference: str,
        reason: str,
    ) -> None:
        self.reference = reference
        self.reason = reason
        super().__init__(
            option=option,
            group=group,
            file=file,
            line=line,
            value=value,
            expected="a value whose references resolve",
        )

    @property
    def detail(self) -> str:
        return f"{self.reference} cannot be resolved: {self.reason}"


@dataclass(frozen=True)
class ConfigWarning:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{_where(self.file, self.line)}: {self.message}"


def _where(file: str, line: int | None) -> str:
    return file if line is None else f"{file}:{line}"


# --------------------------------------------------------------------------------------
# Option tables
# --------------------------------------------------------------------------------------

_SERVICES = "cloudbaseinit.metadata.services."
_PLUGINS = "cloudbaseinit.plugins."
_UD_PLUGINS = "cloudbaseinit.plugins.common.userdataplugins."

DEFAULT_METADATA_SERVICES: tuple[str, ...] = (
    f"{_SERVICES}httpservice.HttpService",
    f"{_SERVICES}configdrive.ConfigDriveService",
    f"{_SERVICES}ec2service.EC2Service",
    f"{_SERVICES}maasservice.MaaSHttpService",
    f"{_SERVICES}cloudstack.CloudStack",
    f"{_SERVICES}opennebulaservice.OpenNebulaService",
)

DEFAULT_PLUGINS: tuple[str, ...] = (
    f"{_PLUGINS}common.mtu.MTUPlugin",
    f"{_PLUGINS}windows.ntpclient.NTPClientPlugin",
    f"{_PLUGINS}common.sethostname.SetHostNamePlugin",
    f"{_PLUGINS}windows.createuser.CreateUserPlugin",
    f"{_PLUGINS}common.networkconfig.NetworkConfigPlugin",
    f"{_PLUGINS}windows.licensing.WindowsLicensingPlugin",
    f"{_PLUGINS}common.sshpublickeys.SetUserSSHPublicKeysPlugin",
    f"{_PLUGINS}windows.extendvolumes.ExtendVolumesPlugin",
    f"{_PLUGINS}common.userdata.UserDataPlugin",
    f"{_PLUGINS}common.setuserpassword.SetUserPasswordPlugin",
    f"{_PLUGINS}windows.winrmlistener.ConfigWinRMListenerPlugin",
    f"{_PLUGINS}windows.winrmcertificateauth.ConfigWinRMCertificateAuthPlugin",
    f"{_PLUGINS}common.localscripts.LocalScriptsPlugin",
)

DEFAULT_USER_DATA_PLUGINS: tuple[str, ...] = (
    f"{_UD_PLUGINS}parthandler.PartHandlerPlugin",
    f"{_UD_PLUGINS}cloudconfig.CloudConfigPlugin",
    f"{_UD_PLUGINS}cloudboothook.CloudBootHookPlugin",
    f"{_UD_PLUGINS}shellscript.ShellScriptPlugin",
    f"{_UD_PLUGINS}multipartmixed.MultipartMixedPlugin",
    f"{_UD_PLUGINS}heat.HeatPlugin",
)

# oslo.log's own default for default_log_levels (the agent does not override it).
_OSLO_LOG_LEVELS: tuple[str, ...] = (
    "amqp=WARN",
    "amqplib=WARN",
    "boto=WARN",
    "qpid=WARN",
    "sqlalchemy=WARN",
    "suds=INFO",
    "oslo.messaging=INFO",
    "oslo_messaging=INFO",
    "iso8601=WARN",
    "requests.packages.urllib3.connectionpool=WARN",
    "urllib3.connectionpool=WARN",
    "websocket=WARN",
    "requests.packages.urllib3.util.retry=WARN",
    "urllib3.util.retry=WARN",
    "keystonemiddleware=WARN",
    "routes.middleware=WARN",
    "stevedore=WARN",
    "taskflow=WARN",
    "keystoneauth=WARN",
    "oslo.cache=INFO",
    "oslo_policy=INFO",
    "dogpile.core.dogpile=INFO",
)

_D = DEFAULT_GROUP

_DEFAULT_OPTIONS: tuple[Option, ...] = (
    Option("allow_reboot", "bool", True),
    Option("stop_service_on_exit", "bool", True),
    Option("check_latest_version", "bool", False),
    Option("retry_count", "int", 5),
    Option("retry_count_interval", "float", 4.0),
    Option("mtools_path", "str", None),
    Option("bsdtar_path", "str", "bsdtar.exe"),
    Option("netbios_host_name_compatibility", "bool", True),
    Option("logging_serial_port_settings", "str", None),
    Option("activate_windows", "bool", False),
    Option("set_kms_product_key", "bool", False),
    Option("set_avma_product_key", "bool", False),
    Option("kms_host", "str", None),
    Option("log_licensing_info", "bool", True),
    Option("winrm_enable_basic_auth", "bool", True),
    Option("winrm_configure_http_listener", "bool", False),
    Option("winrm_configure_https_listener", "bool", True),
    Option("volumes_to_extend", "intlist", None),
    Option("san_policy", "str", None, choices=("OnlineAll", "OfflineAll", "OfflineShared")),
    Option("local_scripts_path", "str", None),
    Option("mtu_use_dhcp_config", "bool", True),
    Option("username", "str", "Admin"),
    Option("groups", "list", ("Administrators",)),
    Option("rename_admin_user", "bool", False),
    Option("heat_config_dir", "str", "C:\\cfn"),
    Option("ntp_enable_service", "bool", True),
    Option("ntp_use_dhcp_config", "bool", False),
    Option("real_time_clock_utc", "bool", False),
    Option("inject_user_password", "bool", True),
    Option(
        "first_logon_behaviour",
        "str",
        "clear_text_injected_only",
        choices=("clear_text_injected_only", "no", "always"),
    ),
    Option("metadata_services", "list", DEFAULT_METADATA_SERVICES),
    Option("plugins", "list", DEFAULT_PLUGINS),
    Option("user_data_plugins", "list", DEFAULT_USER_DATA_PLUGINS),
    Option("cloud_config_plugins", "list", ()),
    Option("rdp_set_keepalive", "bool", True),
    Option("bcd_boot_status_policy", "str", None, choices=("ignoreallfailures",)),
    Option("bcd_enable_auto_recovery", "bool", False),
    Option("set_unique_boot_disk_id", "bool", True),
    Option("display_idle_timeout", "int", 0),
    Option("page_file_volume_labels", "list", ()),
    Option("page_file_volume_mount_points", "list", ()),
    Option("trim_enabled", "bool", False),
    Option("process_userdata", "bool", True),
    Option("userdata_save_path", "str", None),
    Option("enable_automatic_updates", "bool", None),
    Option("metadata_report_provisioning_started", "bool", False),
    Option("metadata_report_provisioning_completed", "bool", False),
    Option("ephemeral_disk_volume_label", "str", None),
    Option("ephemeral_disk_volume_mount_point", "str", None),
    Option("ephemeral_disk_data_loss_warning_path", "str", None),
    Option("user_password_length", "int", 20),
    Option("reset_service_password", "bool", True),
)

# oslo.log registers these in [DEFAULT]; the agent only needs them accepted (stock installer
# confs set several). ``logfile``/``logdir``/``log_config`` are oslo.log's old spellings:
# they are registered here under their own names *and* feed the current names, and because
# they are registered they are accepted without a deprecation warning.
_OSLO_LOG_OPTIONS: tuple[Option, ...] = (
    Option("debug", "bool", False),
    # Dropped by current oslo.log but still written by the Windows installer.
    Option("verbose", "bool", True),
    Option("log_config_append", "str", None, deprecated=((_D, "log_config"),)),
    Option("log_config", "str", None),
    Option("log_date_format", "str", "%Y-%m-%d %H:%M:%S"),
    Option("log_file", "str", None, deprecated=((_D, "logfile"),)),
    Option("logfile", "str", None),
    Option("log_dir", "str", None, deprecated=((_D, "logdir"),)),
    Option("logdir", "str", None),
    Option("watch_log_file", "bool", False),
    Option("use_syslog", "bool", False),
    Option("use_journal", "bool", False),
    Option("syslog_log_facility", "str", "LOG_USER"),
    Option("use_json", "bool", False),
    Option("use_stderr", "bool", False),
    Option("use_eventlog", "bool", False),
    Option("log_color", "bool", False),
    Option("log_rotate_interval", "int", 1),
    Option("log_rotate_interval_type", "str", "days"),
    Option("max_logfile_count", "int", 30),
    Option("max_logfile_size_mb", "int", 200),
    Option("log_rotation_type", "str", "none"),
    Option(
        "logging_context_format_string",
        "str",
        "%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s "
        "[%(global_request_id)s %(request_id)s %(user_identity)s] %(instance)s%(message)s",
    ),
    Option(
        "logging_default_format_string",
        "str",
        "%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [-] %(instance)s%(message)s",
    ),
    Option("logging_debug_format_suffix", "str", "%(funcName)s %(pathname)s:%(lineno)d"),
    Option(
        "logging_exception_prefix",
        "str",
        "%(asctime)s.%(msecs)03d %(process)d ERROR %(name)s %(instance)s",
    ),
    Option(
        "logging_user_identity_format",
        "str",
        "%(user)s %(project)s %(domain)s %(system_scope)s %(user_domain)s %(project_domain)s",
    ),
    Option("default_log_levels", "list", _OSLO_LOG_LEVELS),
    Option("publish_errors", "bool", False),
    Option("instance_format", "str", "[instance: %(uuid)s] "),
    Option("instance_uuid_format", "str", "[instance: %(uuid)s] "),
    Option("rate_limit_interval", "int", 0),
    Option("rate_limit_burst", "int", 0),
    Option("rate_limit_except_level", "str", "CRITICAL"),
    Option("fatal_deprecations", "bool", False),
)


def _https_options(group: str) -> tuple[Option, ...]:
    return (
        Option("https_allow_insecure", "bool", False, group),
        Option("https_ca_bundle", "str", None, group),
    )


_GROUP_OPTIONS: tuple[Option, ...] = (
    Option("raw_hdd", "bool", True, "config_drive", deprecated=((_D, "config_drive_raw_hhd"),)),
    Option("cdrom", "bool", True, "config_drive", deprecated=((_D, "config_drive_cdrom"),)),
    Option("vfat", "bool", True, "config_drive", deprecated=((_D, "config_drive_vfat"),)),
    # Upstream builds these two defaults from sets, so their order is unspecified there. The
    # published 1.1.9 package sorts types and locations before probing, so we use that
    # (alphabetical) order to keep the default deterministic and equal to what is probed.
    Option(
        "types", "list", ("iso", "vfat"), "config_drive", deprecated=((_D, "config_drive_types"),)
    ),
    Option(
        "locations",
        "list",
        ("cdrom", "hdd", "partition"),
        "config_drive",
        deprecated=((_D, "config_drive_locations"),),
    ),
    Option(
        "metadata_base_url",
        "str",
        "http://169.254.169.254/",
        "openstack",
        deprecated=((_D, "metadata_base_url"),),
    ),
    Option(
        "add_metadata_private_ip_route",
        "bool",
        True,
        "openstack",
        deprecated=((_D, "add_metadata_private_ip_route"),),
    ),
    *_https_options("openstack"),
    Option(
        "metadata_base_url",
        "str",
        "http://169.254.169.254/",
        "ec2",
        deprecated=((_D, "ec2_metadata_base_url"),),
    ),
    Option(
        "add_metadata_private_ip_route",
        "bool",
        True,
        "ec2",
        deprecated=((_D, "ec2_add_metadata_private_ip_route"),),
    ),
    *_https_options("ec2"),
    Option(
        "metadata_base_url",
        "str",
        "http://10.1.1.1/",
        "cloudstack",
        deprecated=((_D, "cloudstack_metadata_ip"),),
    ),
    Option("password_server_port", "int", 8080, "cloudstack"),
    *_https_options("cloudstack"),
    Option("add_metadata_private_ip_route", "bool", False, "cloudstack"),
    Option("metadata_base_url", "str", None, "maas", deprecated=((_D, "maas_metadata_url"),)),
    *(
        Option(name, "str", "", "maas", deprecated=((_D, f"maas_{name}"),))
        for name in (
            "oauth_consumer_key",
            "oauth_consumer_secret",
            "oauth_token_key",
            "oauth_token_secret",
        )
    ),
    *_https_options("maas"),
    Option("transport_cert_store_name", "str", "Windows Azure Environment", "azure"),
    Option("config_file_name", "str", "ovf-env.xml", "ovf"),
    Option("drive_label", "str", "OVF ENV", "ovf"),
    Option("ns", "str", "oe", "ovf"),
    Option("metadata_base_url", "str", "https://metadata.packet.net/", "packet"),
    *_https_options("packet"),
    Option(
        "vmware_rpctool_path",
        "str",
        "%ProgramFiles%/VMware/VMware Tools/rpctool.exe",
        "vmwareguestinfo",
    ),
    Option(
        "metadata_base_url", "str", "http://metadata.google.internal/computeMetadata/v1/", "gce"
    ),
    *_https_options("gce"),
    Option("metadata_file", "str", "meta-data", "nocloud"),
    Option("userdata_file", "str", "user-data", "nocloud"),
    # Not in the studied commit but in the published 1.1.9 package (metadata-sources §7).
    Option("metadata_base_url", "str", "http://169.254.169.254/", "oraclecloud"),
    Option("add_metadata_private_ip_route", "bool", True, "oraclecloud"),
    *_https_options("oraclecloud"),
)

OPTIONS: tuple[Option, ...] = _DEFAULT_OPTIONS + _OSLO_LOG_OPTIONS + _GROUP_OPTIONS

_Key = tuple[str, str]  # (group, name)


def _index_options() -> tuple[dict[_Key, Option], dict[_Key, Option]]:
    by_key: dict[_Key, Option] = {}
    aliases: dict[_Key, Option] = {}
    for opt in OPTIONS:
        if opt.type not in _TYPES or (opt.group, opt.name) in by_key:
            raise AssertionError(f"bad option table entry: {opt}")
        by_key[opt.group, opt.name] = opt
        for alias in opt.deprecated:
            # One option per old spelling, so "the alias" of a key is well defined.
            if alias in aliases:
                raise AssertionError(f"deprecated name used twice: {alias}")
            aliases[alias] = opt
    return by_key, aliases


_BY_KEY, _ALIASES = _index_options()
_GROUPS: dict[str, None] = dict.fromkeys(opt.group for opt in OPTIONS)


def _lookup(name: str, group: str) -> Option:
    try:
        return _BY_KEY[group, name]
    except KeyError:
        raise KeyError(f"unknown option [{group}] {name}") from None


# --------------------------------------------------------------------------------------
# Value conversion (oslo.config semantics)
# --------------------------------------------------------------------------------------

_TRUE = frozenset({"true", "1", "on", "yes"})
_FALSE = frozenset({"false", "0", "off", "no"})

_EXPECTED = {
    "bool": "a boolean",
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "list": "a list",
    "intlist": "a list of integers",
}


class _BadValue(Exception):
    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


def _is_number(value: Any) -> bool:
    # bool is an int subclass; a YAML true must not pass as 1.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _to_int(value: Any, expected: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _BadValue(expected)


def _split_list(text: str) -> list[str]:
    # Trailing commas end the list without adding empty items (``a,b,``, common in real
    # confs); an empty item between two commas stays, as in oslo.config.
    stripped = text.strip().rstrip(",")
    if not stripped:
        return []
    return [item.strip() for item in stripped.split(",")]


def _convert(opt: Option, value: Any) -> Any:
    """``value`` as ``opt``'s type; strings are read as a conf file's text would be."""
    expected = _EXPECTED[opt.type]
    if value is None:
        # Only meaningful for options whose natural "unset" state is None.
        if opt.default is None:
            return None
        raise _BadValue(expected)
    result: Any
    if opt.type == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
        raise _BadValue(expected)
    if opt.type == "int":
        # oslo.config reads a blank integer as "no value".
        if isinstance(value, str) and not value.strip():
            return None
        return _to_int(value, expected)
    if opt.type == "float":
        if _is_number(value):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise _BadValue(expected)
    if opt.type == "str":
        if isinstance(value, str):
            result = value
        elif _is_number(value):
            # A YAML scalar like 8080 would have been plain text in a conf file.
            result = str(value)
        else:
            raise _BadValue(expected)
        if opt.choices is not None and result not in opt.choices:
            raise _BadValue("one of " + ", ".join(repr(c) for c in opt.choices))
        return result
    if opt.type == "list":
        if isinstance(value, str):
            return _split_list(value)
        if isinstance(value, list | tuple) and all(
            isinstance(item, str) or _is_number(item) for item in value
        ):
            return [item if isinstance(item, str) else str(item) for item in value]
        raise _BadValue(expected)
    # intlist
    if isinstance(value, str):
        items: list[Any] = _split_list(value)
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise _BadValue(expected)
    return [_to_int(item, expected) for item in items]


# --------------------------------------------------------------------------------------
# Applying assignments
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Assignment:
    group: str
    name: str
    value: Any
    line: int | None


def _value_error(
    item: _Assignment, file: str, expected: str, value: Any = None
) -> ConfigValueError:
    return ConfigValueError(
        option=item.name,
        group=item.group,
        file=file,
        line=item.line,
        value=item.value if value is None else value,
        expected=expected,
    )


def _convert_item(opt: Option, item: _Assignment, file: str) -> Any:
    try:
        return _convert(opt, item.value)
    except _BadValue as bad:
        raise _value_error(item, file, bad.expected) from None


# --------------------------------------------------------------------------------------
# $ references (oslo.config's substitution in a conf file's values)
# --------------------------------------------------------------------------------------

# "$$" (a dollar), "$name" or "${name}"; a name may go on with dots ("$group.option") and,
# as in oslo.config's template, its letters match in either case. Any other "$" is text.
_REFERENCE = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<named>[_a-z][._a-z0-9]*)|\{(?P<braced>[_a-z][._a-z0-9]*)\})",
    re.IGNORECASE,
)
# Groups a "${group.option}" reference can name: [DEFAULT] is not one of them.
_NAMED_GROUPS = frozenset(_GROUPS) - {DEFAULT_GROUP}


class _Unresolved(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Substitution:
    """Option values of one file with their ``$`` references resolved.

    A reference reads the referred option's final value (its own references resolved, its
    type applied, printed as Python prints it; nothing for None), or its default when the
    file does not set it. ``$name`` is looked up in the referring option's group first,
    then in [DEFAULT]; ``$group.name`` in that group only. A backslash and a dollar (even
    in a Windows path) are read as ``$$`` before anything else.

    An option is read where it was found: a reference to ``[DEFAULT] config_drive_cdrom``
    (the old spelling of ``[config_drive] cdrom``) reads ``cdrom`` or ``config_drive_cdrom``
    written in [DEFAULT], not the [config_drive] value, as oslo.config does.
    """

    def __init__(self, written: Mapping[_Key, _Assignment], file: str) -> None:
        self._written = written
        self._file = file
        self._done: dict[tuple[str, Option], Any] = {}
        self._resolving: list[tuple[str, Option]] = []

    def convert(self, opt: Option, item: _Assignment, group: str | None = None) -> Any:
        """``item``'s value for ``opt`` (the option it sets), references resolved as the
        option reads them from ``group`` (default: its own)."""
        if not isinstance(item.value, str):
            return _convert_item(opt, item, self._file)
        group = group or opt.group
        self._resolving.append((group, opt))
        try:
            text = self._substitute(group, item)
        finally:
            self._resolving.pop()
        try:
            return _convert(opt, text)
        except _BadValue as bad:
            raise _value_error(item, self._file, bad.expected, text) from None

    def _substitute(self, group: str, item: _Assignment) -> str:
        def replace(match: re.Match[str]) -> str:
            if match["escaped"]:
                return "$"
            name = match["named"] or match["braced"]
            try:
                return _as_text(self._value(*self._referred(group, name)))
            except _Unresolved as ex:
                raise ConfigReferenceError(
                    option=item.name,
                    group=item.group,
                    file=self._file,
                    line=item.line,
                    value=item.value,
                    reference=match[0],
                    reason=ex.reason,
                ) from None

        return _REFERENCE.sub(replace, item.value.replace("\\$", "$$"))

    @staticmethod
    def _referred(group: str, name: str) -> tuple[str, Option]:
        """The group a reference reads from, and the option it reads."""
        if "." in name:
            section, _, option = name.partition(".")
            if section not in _NAMED_GROUPS:
                raise _Unresolved(f"no section [{section}]")
            found = _option_or_alias(section, option)
            if found is None:
                raise _Unresolved(f"no option {option} in [{section}]")
            return section, found
        for where in dict.fromkeys((group, DEFAULT_GROUP)):
            found = _option_or_alias(where, name)
            if found is not None:
                return where, found
        places = " or ".join(f"[{where}]" for where in dict.fromkeys((group, DEFAULT_GROUP)))
        raise _Unresolved(f"no option {name} in {places}")

    def _value(self, group: str, opt: Option) -> Any:
        key = (group, opt)
        if key in self._resolving:
            loop = [*self._resolving[self._resolving.index(key) :], key]
            chain = " -> ".join(f"[{where}] {option.name}" for where, option in loop)
            raise _Unresolved(f"the value refers back to itself ({chain})")
        if key not in self._done:
            names = [(group, opt.name), *opt.deprecated]
            item = next((self._written[n] for n in names if n in self._written), None)
            self._done[key] = opt.default if item is None else self.convert(opt, item, group)
        return self._done[key]


def _option_or_alias(group: str, name: str) -> Option | None:
    return _BY_KEY.get((group, name)) or _ALIASES.get((group, name))


def _as_text(value: Any) -> str:
    """A value as a reference prints it: Python's ``str``, and nothing for None."""
    if value is None:
        return ""
    if isinstance(value, tuple):
        value = list(value)
    return str(value)


def _apply(
    assignments: Iterable[_Assignment],
    file: str,
    section_lines: Mapping[str, int | None],
    substitute: bool = False,
) -> tuple[dict[_Key, Any], list[ConfigWarning]]:
    """Resolve assignments (in source order) to option values plus warnings.

    A current name always beats a deprecated spelling of the same option, whatever their
    order in the source. With ``substitute`` (a conf file's text), ``$`` references in the
    values of known options are resolved first.
    """
    warnings: list[tuple[int, int, ConfigWarning]] = []

    def warn(position: int, line: int | None, message: str) -> None:
        # Files sort by line; inline sources have no lines and keep their own order.
        warnings.append((line or 0, position, ConfigWarning(file, line, message)))

    # Sections known from the file, so that an empty unknown section is reported too.
    unknown_groups: set[str] = set()
    for group, line in section_lines.items():
        if group not in _GROUPS:
            unknown_groups.add(group)
            hint = "; [DEFAULT] is written in capitals" if group.upper() == DEFAULT_GROUP else ""
            warn(0, line, f"unknown section [{group}] (ignored){hint}")

    direct: list[tuple[Option, _Assignment]] = []
    via_alias: list[tuple[int, Option, _Assignment]] = []
    written: dict[_Key, _Assignment] = {}
    for position, item in enumerate(assignments):
        written[item.group, item.name] = item
        if item.group not in _GROUPS:
            if item.group not in unknown_groups:
                unknown_groups.add(item.group)
                warn(position, None, f"unknown section [{item.group}] (ignored)")
            continue
        key = (item.group, item.name)
        opt = _BY_KEY.get(key)
        target = _ALIASES.get(key)
        if opt is not None:
            direct.append((opt, item))
        if target is not None:
            via_alias.append((position, target, item))
        if opt is None and target is None:
            message = f"unknown option [{item.group}] {item.name} (ignored)"
            elsewhere = [g for g in _GROUPS if g != item.group and (g, item.name) in _BY_KEY]
            if (item.group, item.name.lower()) in _BY_KEY:
                message += f"; option names are case-sensitive, did you mean {item.name.lower()!r}?"
            elif elsewhere:
                message += "; it exists in " + ", ".join(f"[{g}]" for g in elsewhere)
            warn(position, item.line, message)

    directly_set = {(opt.group, opt.name) for opt, _ in direct}
    substitution = _Substitution(written, file) if substitute else None

    def convert(opt: Option, item: _Assignment) -> Any:
        if substitution is not None:
            return substitution.convert(opt, item)
        return _convert_item(opt, item, file)

    values: dict[_Key, Any] = {}
    for opt, item in direct:
        values[opt.group, opt.name] = convert(opt, item)

    for position, target, item in via_alias:
        target_key = (target.group, target.name)
        # A registered old spelling (oslo.log's logfile ...) is not a deprecation to report.
        silent = (item.group, item.name) in _BY_KEY
        if target_key in directly_set:
            if not silent:
                warn(
                    position,
                    item.line,
                    f"[{item.group}] {item.name} is deprecated, use [{target.group}] "
                    f"{target.name}; ignored because [{target.group}] {target.name} is also set",
                )
            continue
        if not silent:
            warn(
                position,
                item.line,
                f"[{item.group}] {item.name} is deprecated, use [{target.group}] {target.name}",
            )
        values[target_key] = convert(target, item)

    warnings.sort(key=lambda entry: (entry[0], entry[1]))
    return values, [entry[2] for entry in warnings]


def _inline_assignments(
    options: Mapping[str, Mapping[str, Any]], source: str
) -> Iterator[_Assignment]:
    if not isinstance(options, Mapping):
        raise ConfigError(f"{source}: options must be a mapping of group names to options")
    for group, names in options.items():
        if not isinstance(names, Mapping):
            raise ConfigError(f"{source}: [{group}] must be a mapping of option names to values")
        for name, value in names.items():
            yield _Assignment(str(group), str(name), value, None)


# --------------------------------------------------------------------------------------
# The configuration object
# --------------------------------------------------------------------------------------


class AgentConfig:
    """An immutable set of option values; anything not given explicitly reads as its default."""

    def __init__(
        self,
        source: str = "defaults",
        values: Mapping[tuple[str, str], Any] | None = None,
        warnings: Iterable[ConfigWarning] = (),
        lines: Mapping[tuple[str, str], int] | None = None,
    ) -> None:
        self.source = source
        # Where each (section, key) was written in the source file, for messages.
        self._lines = dict(lines or {})
        self._values: dict[_Key, Any] = {}
        for (group, name), value in (values or {}).items():
            _lookup(name, group)
            self._values[group, name] = value
        self.warnings: tuple[ConfigWarning, ...] = tuple(warnings)

    def get(self, name: str, group: str = DEFAULT_GROUP) -> Any:
        opt = _lookup(name, group)
        value = self._values.get((group, name), opt.default)
        # Hand out copies so a caller mutating a list cannot change the configuration.
        if isinstance(value, list | tuple):
            return list(value)
        return value

    def is_set(self, name: str, group: str = DEFAULT_GROUP) -> bool:
        _lookup(name, group)
        return (group, name) in self._values

    def line_of(self, name: str, group: str = DEFAULT_GROUP) -> int | None:
        """The line of the source file that set this option, if it came from a file."""
        return self._lines.get((group, name))

    def explicit_items(self) -> list[tuple[str, str, Any]]:
        return [(group, name, self.get(name, group)) for group, name in sorted(self._values)]

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]]) -> AgentConfig:
        """A copy with ``overrides`` (same shape and rules as inline options) applied on top."""
        values, warnings = _apply(_inline_assignments(overrides, self.source), self.source, {})
        return AgentConfig(
            self.source, {**self._values, **values}, (*self.warnings, *warnings), self._lines
        )

    def __repr__(self) -> str:
        return f"AgentConfig(source={self.source!r}, explicit={len(self._values)})"


def default_config() -> AgentConfig:
    return AgentConfig("defaults")


def config_from_options(options: Mapping[str, Mapping[str, Any]], source: str) -> AgentConfig:
    values, warnings = _apply(_inline_assignments(options, source), source, {})
    return AgentConfig(source, values, warnings)


# --------------------------------------------------------------------------------------
# Conf files
# --------------------------------------------------------------------------------------

# A name no real conf file uses, so that [DEFAULT] is parsed as an ordinary section and its
# values are not inherited by every other group (oslo.config does not inherit them).
_NO_DEFAULT_SECTION = "\x00guestsim-no-default-section\x00"


class _CaseSensitiveParser(configparser.ConfigParser):
    # oslo.config matches option names exactly; an "Allow_Reboot" key is not allow_reboot.
    def optionxform(self, optionstr: str) -> str:
        return optionstr


_SECTION_RE = re.compile(r"\[(?P<name>.+)\]")
_KEY_RE = re.compile(r"(?P<key>.*?)\s*[=:]")


def _line_numbers(text: str) -> dict[tuple[str, str | None], int]:
    """Line of every ``(section, key)`` (last assignment) and ``(section, None)`` (first header).

    configparser does not report positions; this mirrors its line classification closely
    enough for messages (continuation lines are skipped).
    """
    lines: dict[tuple[str, str | None], int] = {}
    section: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;" or line[0].isspace():
            continue
        header = _SECTION_RE.match(stripped)
        if header:
            section = header["name"]
            lines.setdefault((section, None), number)
        elif section is not None and (key := _KEY_RE.match(stripped)):
            lines[section, key["key"]] = number
    return lines


def _line_text(text: str, number: int) -> str:
    lines = text.splitlines()
    return lines[number - 1].strip() if 0 < number <= len(lines) else ""


def _unquote(value: str) -> str:
    # oslo.config's INI reader drops one pair of matching surrounding quotes.
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def load_config(path: str | os.PathLike[str]) -> AgentConfig:
    file = os.fspath(path)
    try:
        with open(file, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError as ex:
        raise ConfigFileError(file, f"not UTF-8 text ({ex.reason} at byte {ex.start})") from None
    except OSError as ex:
        raise ConfigFileError(file, f"cannot read: {ex.strerror or ex}") from None
    if text.startswith("\ufeff"):
        # The real agent's INI reader sees the byte order mark as part of the first line
        # and refuses the file, so accepting it here would hide a boot failure.
        raise ConfigFileError(file, "starts with a UTF-8 byte order mark", line=1)

    parser = _CaseSensitiveParser(
        interpolation=None,
        default_section=_NO_DEFAULT_SECTION,
        strict=False,
        empty_lines_in_values=False,
    )
    try:
        parser.read_string(text, source=file)
    except configparser.MissingSectionHeaderError as ex:
        raise ConfigFileError(
            file, f"option outside any [section]: {_line_text(text, ex.lineno)!r}", ex.lineno
        ) from None
    except configparser.ParsingError as ex:
        number = ex.errors[0][0]
        raise ConfigFileError(
            file,
            f"not a [section], 'name = value' or comment line: {_line_text(text, number)!r}",
            number,
        ) from None
    except configparser.Error as ex:
        message = " ".join(str(ex).split())
        raise ConfigFileError(file, f"not an INI file: {message}") from None

    positions = _line_numbers(text)
    # Sections in any mix of cases ([OpenStack]) are one group for oslo.config; the later
    # line wins among their keys, so assignments go in line order.
    assignments = sorted(
        (
            _Assignment(_group_of(section), key, _unquote(value), positions.get((section, key)))
            for section in parser.sections()
            for key, value in parser.items(section, raw=True)
        ),
        key=lambda item: item.line or 0,
    )
    section_lines: dict[str, int | None] = {}
    for section in parser.sections():
        section_lines.setdefault(_group_of(section), positions.get((section, None)))
    values, warnings = _apply(assignments, file, section_lines, substitute=True)
    lines = {
        (_group_of(section), key): line
        for (section, key), line in sorted(positions.items(), key=lambda entry: entry[1])
        if key is not None
    }
    return AgentConfig(file, values, warnings, lines)


def _group_of(section: str) -> str:
    """The group a file's section sets: group names are not case-sensitive, [DEFAULT] is."""
    lowered = section.lower()
    return lowered if section != DEFAULT_GROUP and lowered in _GROUPS else section
