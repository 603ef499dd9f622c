"""Upstream plugin class paths, and the classes of ours that implement them.

Users' ``cloudbase-init.conf`` files name plugins by upstream dotted path; this table is
what makes those files work unchanged.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass

from guestsim.agent.plugins.base import Plugin

LOG = logging.getLogger(__name__)

_UPSTREAM = "cloudbaseinit.plugins."

# Paths that older configs use; upstream rewrites them with a warning.
LEGACY_ALIASES: dict[str, str] = {
    f"{_UPSTREAM}windows.{module}.{cls}": f"{_UPSTREAM}common.{module}.{cls}"
    for module, cls in (
        ("mtu", "MTUPlugin"),
        ("sethostname", "SetHostNamePlugin"),
        ("networkconfig", "NetworkConfigPlugin"),
        ("sshpublickeys", "SetUserSSHPublicKeysPlugin"),
        ("userdata", "UserDataPlugin"),
        ("setuserpassword", "SetUserPasswordPlugin"),
        ("localscripts", "LocalScriptsPlugin"),
    )
}

# Every plugin class upstream ships, mapped to ".our_module:OurClass" (in this package).
UPSTREAM_PLUGINS: dict[str, str] = {
    f"{_UPSTREAM}common.mtu.MTUPlugin": ".mtu:MTUPlugin",
    f"{_UPSTREAM}common.ntpclient.NTPClientPlugin": ".ntpclient:NTPClientPlugin",
    f"{_UPSTREAM}windows.ntpclient.NTPClientPlugin": (".ntpclient:WindowsNTPClientPlugin"),
    f"{_UPSTREAM}common.sethostname.SetHostNamePlugin": (".sethostname:SetHostNamePlugin"),
    f"{_UPSTREAM}windows.createuser.CreateUserPlugin": ".createuser:CreateUserPlugin",
    f"{_UPSTREAM}common.setuserpassword.SetUserPasswordPlugin": (
        ".setuserpassword:SetUserPasswordPlugin"
    ),
    f"{_UPSTREAM}common.networkconfig.NetworkConfigPlugin": (".networkconfig:NetworkConfigPlugin"),
    f"{_UPSTREAM}common.sshpublickeys.SetUserSSHPublicKeysPlugin": (
        ".sshpublickeys:SetUserSSHPublicKeysPlugin"
    ),
    f"{_UPSTREAM}common.userdata.UserDataPlugin": ".userdata:UserDataPlugin",
    f"{_UPSTREAM}common.localscripts.LocalScriptsPlugin": (".localscripts:LocalScriptsPlugin"),
    f"{_UPSTREAM}common.ephemeraldisk.EphemeralDiskPlugin": (".ephemeraldisk:EphemeralDiskPlugin"),
    f"{_UPSTREAM}common.trim.TrimConfigPlugin": ".trim:TrimConfigPlugin",
    f"{_UPSTREAM}windows.extendvolumes.ExtendVolumesPlugin": (".extendvolumes:ExtendVolumesPlugin"),
    f"{_UPSTREAM}windows.licensing.WindowsLicensingPlugin": (".licensing:WindowsLicensingPlugin"),
    f"{_UPSTREAM}windows.pagefiles.PageFilesPlugin": ".pagefiles:PageFilesPlugin",
    f"{_UPSTREAM}windows.rdp.RDPSettingsPlugin": ".rdp:RDPSettingsPlugin",
    f"{_UPSTREAM}windows.rdp.RDPPostCertificateThumbprintPlugin": (
        ".rdp:RDPPostCertificateThumbprintPlugin"
    ),
    f"{_UPSTREAM}windows.sanpolicy.SANPolicyPlugin": ".sanpolicy:SANPolicyPlugin",
    f"{_UPSTREAM}windows.updates.WindowsAutoUpdatesPlugin": (".updates:WindowsAutoUpdatesPlugin"),
    f"{_UPSTREAM}windows.winrmlistener.ConfigWinRMListenerPlugin": (
        ".winrmlistener:ConfigWinRMListenerPlugin"
    ),
    f"{_UPSTREAM}windows.winrmcertificateauth.ConfigWinRMCertificateAuthPlugin": (
        ".winrmcertificateauth:ConfigWinRMCertificateAuthPlugin"
    ),
    f"{_UPSTREAM}windows.bootconfig.BootStatusPolicyPlugin": (".bootconfig:BootStatusPolicyPlugin"),
    f"{_UPSTREAM}windows.bootconfig.BCDConfigPlugin": ".bootconfig:BCDConfigPlugin",
    f"{_UPSTREAM}windows.certificates.ServerCertificatesPlugin": (
        ".certificates:ServerCertificatesPlugin"
    ),
    f"{_UPSTREAM}windows.displayidletimeout.DisplayIdleTimeoutConfigPlugin": (
        ".displayidletimeout:DisplayIdleTimeoutConfigPlugin"
    ),
    f"{_UPSTREAM}windows.azureguestagent.AzureGuestAgentPlugin": (
        ".azureguestagent:AzureGuestAgentPlugin"
    ),
}

# Modules that exist upstream without being plugins (abstract bases, helpers). Naming a
# class in them that does not exist is an attribute error, not an import error.
_UPSTREAM_HELPER_MODULES = (
    f"{_UPSTREAM}common.createuser",
    f"{_UPSTREAM}common.execcmd",
    f"{_UPSTREAM}common.fileexecutils",
    f"{_UPSTREAM}common.userdatautils",
    f"{_UPSTREAM}common.base",
)
UPSTREAM_MODULES: frozenset[str] = frozenset(
    [path.rpartition(".")[0] for path in UPSTREAM_PLUGINS] + list(_UPSTREAM_HELPER_MODULES)
)


class PluginImportError(Exception):
    """The module of a configured plugin path does not exist (upstream: ImportError)."""


class PluginClassMissing(Exception):
    """The module exists but has no such class; upstream aborts the whole run on this."""


@dataclass(frozen=True)
class ResolvedPath:
    path: str
    legacy_alias_of: str | None = None


def canonical_path(path: str) -> ResolvedPath:
    if path in LEGACY_ALIASES:
        return ResolvedPath(LEGACY_ALIASES[path], legacy_alias_of=path)
    return ResolvedPath(path)


def load_plugin_class(path: str) -> type[Plugin]:
    """The class for a canonical (non-legacy) upstream path, or one of the errors above."""
    if path in UPSTREAM_PLUGINS:
        target = UPSTREAM_PLUGINS[path]
        module_name, _, class_name = target.partition(":")
        cls: type[Plugin] = getattr(importlib.import_module(module_name, __package__), class_name)
        return cls
    module, _, name = path.rpartition(".")
    if module in UPSTREAM_MODULES:
        raise PluginClassMissing(f"module {module!r} has no attribute {name!r}")
    raise PluginImportError(path)
