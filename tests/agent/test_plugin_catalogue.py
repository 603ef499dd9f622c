"""The upstream plugin catalogue: every class path a user's ``cloudbase-init.conf`` may name
loads a plugin with upstream's class name, stage and OS requirements; legacy paths are
rewritten; paths naming helper modules or unknown modules fail as upstream's do.

The expected values are copied from the reference (agent-behaviour §3.1 and §3.3), not
from the agent's tables.
"""

from __future__ import annotations

import pytest

from guestsim.agent.config import config_from_options
from guestsim.agent.plugins.base import (
    PLUGIN_EXECUTE_ON_NEXT_BOOT,
    PLUGIN_EXECUTION_DONE,
    AgentContext,
    OSRequirements,
    Plugin,
    Stage,
)
from guestsim.agent.plugins.registry import (
    PluginClassMissing,
    PluginImportError,
    ResolvedPath,
    canonical_path,
    load_plugin_class,
)
from guestsim.simulator.machine import RunResult
from tests.builders import openstack_machine, standalone_osutils

_UP = "cloudbaseinit.plugins."
WIN_5_2: OSRequirements = ("win32", (5, 2))
WIN_6_0: OSRequirements = ("win32", (6, 0))
WIN_6_1: OSRequirements = ("win32", (6, 1))
WIN_6_2: OSRequirements = ("win32", (6, 2))
ANY_OS: OSRequirements = (None, None)

# Reference §3.3: class path, stage, OS requirements.
CATALOGUE: list[tuple[str, str, OSRequirements]] = [
    ("common.mtu.MTUPlugin", "PRE_METADATA_DISCOVERY", ANY_OS),
    ("common.ntpclient.NTPClientPlugin", "PRE_NETWORKING", ANY_OS),
    ("windows.ntpclient.NTPClientPlugin", "PRE_NETWORKING", ANY_OS),
    ("common.sethostname.SetHostNamePlugin", "MAIN", ANY_OS),
    ("windows.createuser.CreateUserPlugin", "MAIN", ANY_OS),
    ("common.setuserpassword.SetUserPasswordPlugin", "MAIN", ANY_OS),
    ("common.networkconfig.NetworkConfigPlugin", "MAIN", ANY_OS),
    ("common.sshpublickeys.SetUserSSHPublicKeysPlugin", "MAIN", ANY_OS),
    ("common.userdata.UserDataPlugin", "MAIN", ANY_OS),
    ("common.localscripts.LocalScriptsPlugin", "MAIN", ANY_OS),
    ("common.ephemeraldisk.EphemeralDiskPlugin", "MAIN", WIN_5_2),
    ("common.trim.TrimConfigPlugin", "MAIN", WIN_6_1),
    ("windows.extendvolumes.ExtendVolumesPlugin", "MAIN", WIN_5_2),
    ("windows.licensing.WindowsLicensingPlugin", "MAIN", ANY_OS),
    ("windows.pagefiles.PageFilesPlugin", "MAIN", WIN_5_2),
    ("windows.rdp.RDPSettingsPlugin", "MAIN", WIN_5_2),
    ("windows.rdp.RDPPostCertificateThumbprintPlugin", "MAIN", WIN_5_2),
    ("windows.sanpolicy.SANPolicyPlugin", "MAIN", WIN_6_1),
    ("windows.updates.WindowsAutoUpdatesPlugin", "MAIN", WIN_5_2),
    ("windows.winrmlistener.ConfigWinRMListenerPlugin", "MAIN", ANY_OS),
    ("windows.winrmcertificateauth.ConfigWinRMCertificateAuthPlugin", "MAIN", ANY_OS),
    ("windows.bootconfig.BootStatusPolicyPlugin", "MAIN", WIN_6_0),
    ("windows.bootconfig.BCDConfigPlugin", "MAIN", WIN_6_0),
    ("windows.certificates.ServerCertificatesPlugin", "MAIN", WIN_5_2),
    ("windows.displayidletimeout.DisplayIdleTimeoutConfigPlugin", "MAIN", WIN_6_2),
    ("windows.azureguestagent.AzureGuestAgentPlugin", "MAIN", WIN_6_1),
]

# Reference §3.1: the legacy module paths upstream rewrites to ``plugins.common``.
LEGACY = [
    "mtu.MTUPlugin",
    "sethostname.SetHostNamePlugin",
    "networkconfig.NetworkConfigPlugin",
    "sshpublickeys.SetUserSSHPublicKeysPlugin",
    "userdata.UserDataPlugin",
    "setuserpassword.SetUserPasswordPlugin",
    "localscripts.LocalScriptsPlugin",
]

# Upstream modules that hold no plugin of that name (helpers and abstract bases).
HELPER_MODULES = [
    "common.createuser",
    "common.execcmd",
    "common.fileexecutils",
    "common.userdatautils",
    "common.base",
]


def context() -> AgentContext:
    conf = config_from_options({"DEFAULT": {}}, "test")
    return AgentContext(conf, standalone_osutils([]))


@pytest.mark.parametrize(("path", "stage", "requirements"), CATALOGUE)
def test_every_upstream_plugin_path_loads_a_plugin_with_its_name_stage_and_os_requirements(
    path: str, stage: str, requirements: OSRequirements
) -> None:
    cls = load_plugin_class(_UP + path)
    plugin = cls(context())

    # The name is the registry value name of the plugin's status.
    assert plugin.get_name() == path.rpartition(".")[2]
    assert cls.execution_stage == Stage(stage)
    assert str(cls.execution_stage) == stage
    assert plugin.get_os_requirements() == requirements


def test_stage_names_are_upstream_names() -> None:
    assert [str(stage) for stage in Stage] == ["PRE_NETWORKING", "PRE_METADATA_DISCOVERY", "MAIN"]


def test_plugin_status_values_are_upstream_numbers() -> None:
    assert (PLUGIN_EXECUTION_DONE, PLUGIN_EXECUTE_ON_NEXT_BOOT) == (1, 2)


@pytest.mark.parametrize("module_and_class", LEGACY)
def test_legacy_windows_path_is_rewritten_to_the_common_module(module_and_class: str) -> None:
    legacy = f"{_UP}windows.{module_and_class}"

    resolved = canonical_path(legacy)

    assert resolved == ResolvedPath(f"{_UP}common.{module_and_class}", legacy_alias_of=legacy)
    assert load_plugin_class(resolved.path).__name__ == module_and_class.rpartition(".")[2]


@pytest.mark.parametrize(
    "path",
    [
        f"{_UP}common.mtu.MTUPlugin",
        f"{_UP}windows.ntpclient.NTPClientPlugin",
        f"{_UP}windows.createuser.CreateUserPlugin",
    ],
)
def test_current_paths_are_not_rewritten(path: str) -> None:
    assert canonical_path(path) == ResolvedPath(path, legacy_alias_of=None)


def test_legacy_path_runs_the_plugin_under_its_upstream_name() -> None:
    machine, _ = openstack_machine(("cloudbaseinit.plugins.windows.sethostname.SetHostNamePlugin",))

    result = machine.run()

    ends = [e.get("plugin") for e in result.trace.of_kind("plugin_end")]
    assert ends == ["SetHostNamePlugin"]
    assert result.state.computer_name == "web-01"


@pytest.mark.parametrize("module", HELPER_MODULES)
def test_missing_class_in_an_upstream_helper_module_is_an_attribute_error(module: str) -> None:
    path = f"{_UP}{module}.ExecCmdPlugin"

    with pytest.raises(PluginClassMissing) as raised:
        load_plugin_class(path)

    assert str(raised.value) == f"module '{_UP}{module}' has no attribute 'ExecCmdPlugin'"


def test_missing_class_in_a_plugin_module_is_an_attribute_error() -> None:
    with pytest.raises(PluginClassMissing) as raised:
        load_plugin_class(f"{_UP}windows.licensing.LicensingPlugin")

    assert str(raised.value) == (
        f"module '{_UP}windows.licensing' has no attribute 'LicensingPlugin'"
    )


def crash_of(result: RunResult) -> list[object]:
    return [e.get("error") for e in result.trace.of_kind("agent_exit")]


def test_helper_module_path_in_the_conf_aborts_the_agent() -> None:
    machine, _ = openstack_machine((f"{_UP}common.execcmd.ExecCmdPlugin", "hostname"))

    result = machine.run()

    assert crash_of(result) == [
        f"PluginClassMissing: module '{_UP}common.execcmd' has no attribute 'ExecCmdPlugin'"
    ]
    assert result.trace.of_kind("plugin_end") == []


@pytest.mark.parametrize(
    "path",
    [
        f"{_UP}common.nosuch.NoSuchPlugin",
        f"{_UP}windows.execcmd.ExecCmdPlugin",
        "cloudbaseinit.plugins.common.mtu",
        "MTUPlugin",
    ],
)
def test_unknown_module_is_an_import_error_naming_the_path(path: str) -> None:
    with pytest.raises(PluginImportError) as raised:
        load_plugin_class(path)

    assert raised.value.args == (path,)


def test_unknown_module_in_the_conf_is_skipped_in_every_stage() -> None:
    missing = f"{_UP}common.nosuch.NoSuchPlugin"
    machine, _ = openstack_machine((missing, "hostname"))

    result = machine.run()

    unavailable = [e for e in result.trace.of_kind("plugin_unavailable") if e.boot == 1]
    assert [(e.get("stage"), e.get("path")) for e in unavailable] == [
        ("PRE_NETWORKING", missing),
        ("PRE_METADATA_DISCOVERY", missing),
        ("MAIN", missing),
    ]
    assert [e.get("plugin") for e in result.trace.of_kind("plugin_end")] == ["SetHostNamePlugin"]


class PluginWithoutExecute(Plugin):
    """A plugin class that forgot to implement ``execute``."""


def test_base_plugin_defaults_are_main_stage_any_os_and_class_name() -> None:
    plugin = PluginWithoutExecute(context())

    assert PluginWithoutExecute.execution_stage == Stage.MAIN
    assert plugin.get_os_requirements() == (None, None)
    assert plugin.get_name() == "PluginWithoutExecute"
    with pytest.raises(NotImplementedError) as raised:
        plugin.execute(None, {})
    assert raised.value.args == ()


def test_plugin_sees_the_agent_context_conf_and_osutils() -> None:
    ctx = context()

    plugin = PluginWithoutExecute(ctx)

    assert plugin.context is ctx
    assert plugin.conf is ctx.conf
    assert plugin.osutils is ctx.osutils
    assert ctx.dhcp is None
    ctx.events("anything", field=1)  # the default sink accepts and drops every event
