"""WindowsLicensingPlugin: its log lines as upstream words them, and which licensing manager
(WMI on Windows 6.1 and later, ``slmgr.vbs`` before) each Windows version gets.

Every test boots a whole machine; the log lines are compared whole, so a changed template
or argument shows.
"""

from __future__ import annotations

import pytest

from guestsim.agent.plugins.licensing import PRODUCT_KEYS, VOL_ACT_KMS
from guestsim.simulator.machine import RunResult
from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.licensing import KMS_CLIENT, RETAIL
from guestsim.simulator.windows.state import WindowsState
from tests.agent.test_platform_plugins import (
    GVLK_2019_DATACENTER,
    LICENSING,
    RETAIL_KEY,
    commands,
    done,
    failed,
    only_end,
    os_calls,
    run,
    windows,
)

SLMGR = "C:\\Windows\\system32\\slmgr.vbs"
PREFIX = "boot 1 {level} agent.plugins.licensing: "
KMS_PRODUCT = "Windows(R) Operating System, VOLUME_KMSCLIENT channel"
WSH_BANNER = (
    "Microsoft (R) Windows Script Host Version 5.812\r\n"
    "Copyright (C) Microsoft Corporation. All rights reserved.\r\n\r\n"
)


def plugin_log(result: RunResult) -> list[str]:
    """The licensing plugin's own log lines."""
    return [line for line in result.log if " agent.plugins.licensing: " in line]


def line(level: str, message: str) -> str:
    return PREFIX.format(level=level) + message


def retail(state: WindowsState | None = None) -> WindowsState:
    """A retail installation: the KMS client product is not the current one."""
    state = state or default_windows_state()
    state.licensing.installed_channel = RETAIL
    state.licensing.installed_key = RETAIL_KEY
    return state


def test_kms_key_host_and_activation_are_logged_as_upstream() -> None:
    state = retail()
    state.licensing.kms_servers = {"kms.sim.test": 1688}

    result = run(
        LICENSING,
        {
            "set_kms_product_key": True,
            "kms_host": "kms.sim.test",
            "activate_windows": True,
            "log_licensing_info": False,
        },
        state=state,
    )

    done(result, LICENSING)
    assert plugin_log(result) == [
        line("DEBUG", f"KMS client product: {KMS_PRODUCT} (license family ServerDatacenter)"),
        line("DEBUG", "Use AVMA: False"),
        line("INFO", f"Setting product key: {GVLK_2019_DATACENTER}"),
        line("INFO", "Setting KMS host: kms.sim.test"),
        line("INFO", "Activating Windows"),
        line(
            "DEBUG",
            "Activation result:\n"
            + WSH_BANNER
            + "Activating Windows(R), ServerDatacenter edition ...\r\n"
            + "Product activated successfully.\r\n",
        ),
    ]
    assert result.state.licensing.installed_channel == KMS_CLIENT


def test_license_report_is_logged_whole_after_the_status_refresh() -> None:
    result = run(LICENSING)

    done(result, LICENSING)
    report = commands(result, "cscript.exe")
    assert report == [["cscript.exe", SLMGR, "/dlv"]]
    (logged,) = plugin_log(result)
    header = line("INFO", "Microsoft Windows license info:\n" + WSH_BANNER)
    assert logged.startswith(header)
    body = logged.removeprefix(header)
    assert body.startswith("Software licensing service version: 10.0.17763.1\r\n")
    assert "\r\nName: Windows(R), ServerDatacenter edition\r\n" in body


def test_current_kms_product_is_named_in_the_log() -> None:
    result = run(LICENSING, {"set_kms_product_key": True, "log_licensing_info": False})

    done(result, LICENSING)
    assert plugin_log(result) == [
        line("DEBUG", f"KMS client product: {KMS_PRODUCT} (license family ServerDatacenter)"),
        line(
            "INFO",
            f'Product "{KMS_PRODUCT}" is already the current one, no need to set a product key',
        ),
    ]
    assert os_calls(result, "set_product_key") == []


def test_missing_avma_key_without_the_kms_option_sets_no_key() -> None:
    # Windows Server 2012 (6.2) has no AVMA key; the KMS fallback needs its own option.
    result = run(
        LICENSING,
        {"set_avma_product_key": True, "log_licensing_info": False},
        state=retail(windows("6.2.9200")),
    )

    done(result, LICENSING)
    assert plugin_log(result) == [
        line("DEBUG", f"KMS client product: {KMS_PRODUCT} (license family ServerDatacenter)"),
        line("DEBUG", "Use AVMA: True"),
        line("ERROR", "AVMA product key not found for this OS"),
    ]
    assert os_calls(result, "set_product_key") == []
    assert result.state.licensing.installed_channel == RETAIL


def test_missing_kms_key_error_is_logged_as_upstream(monkeypatch: pytest.MonkeyPatch) -> None:
    # A Windows release newer than the agent's table of generic keys.
    monkeypatch.setitem(PRODUCT_KEYS, (10, 0, VOL_ACT_KMS), ())

    result = run(
        LICENSING, {"set_kms_product_key": True, "log_licensing_info": False}, state=retail()
    )

    done(result, LICENSING)
    assert plugin_log(result)[-1] == line("ERROR", "KMS product key not found for this OS")
    assert os_calls(result, "set_product_key") == []


def test_nano_server_is_logged_as_upstream() -> None:
    state = default_windows_state()
    state.version.nano_server = True

    result = run(LICENSING, state=state)

    done(result, LICENSING)
    assert plugin_log(result) == [
        line("INFO", "Licensing info and activation are not available on Nano Server")
    ]


def test_windows_6_1_sets_the_kms_host_through_wmi() -> None:
    result = run(
        LICENSING,
        {"kms_host": "kms.sim.test:1700", "log_licensing_info": False},
        state=windows("6.1.7601"),
    )

    done(result, LICENSING)
    assert [(e.get("host"), e.get("port")) for e in os_calls(result, "set_kms_host")] == [
        ("kms.sim.test", "1700")
    ]
    assert commands(result, "cscript.exe") == []
    assert (result.state.licensing.kms_host, result.state.licensing.kms_port) == (
        "kms.sim.test",
        1700,
    )


def test_windows_6_0_kms_host_without_port_is_passed_to_slmgr_alone() -> None:
    result = run(
        LICENSING,
        {"kms_host": "kms.sim.test", "log_licensing_info": False},
        state=windows("6.0.6002"),
    )

    done(result, LICENSING)
    assert commands(result, "cscript.exe") == [["cscript.exe", SLMGR, "/skms", "kms.sim.test"]]
    assert (result.state.licensing.kms_host, result.state.licensing.kms_port) == (
        "kms.sim.test",
        1688,
    )


def test_windows_6_0_product_key_error_says_what_is_missing() -> None:
    result = run(LICENSING, {"set_kms_product_key": True}, state=windows("6.0.6002"))

    assert failed(result, LICENSING) == (
        "NotImplementedError: Listing licensing products needs Windows 6.1 or later"
    )
    assert only_end(result, LICENSING).get("status") is None
