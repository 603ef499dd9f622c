"""``guestsim explain``: what the agent will see in a scenario, before anything runs."""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from typing import Any

from guestsim.simulator.scenario import Scenario

_SHOWN_BYTES = 400


def _document(value: Any) -> str:
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return f"<{len(value)} bytes of binary data>"
        return text if len(text) <= _SHOWN_BYTES else text[:_SHOWN_BYTES] + f"… ({len(text)} chars)"
    return json.dumps(value, indent=2, sort_keys=True, default=repr)


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def explain(scenario: Scenario) -> str:
    machine = scenario.build_machine()
    state = machine.state
    out = [f"{scenario.qualified_name}: {scenario.description}", ""]

    out.append(f"Agent configuration ({scenario.conf.source}):")
    explicit = scenario.conf.explicit_items()
    out += [f"  [{group}] {name} = {value}" for group, name, value in explicit] or [
        "  (all defaults)"
    ]
    out += [f"  warning: {warning}" for warning in scenario.conf.warnings]

    out += ["", "Machine:"]
    version = state.version
    out.append(f"  Windows {version.major}.{version.minor}.{version.build} {version.edition}")
    out.append(f"  computer name {state.computer_name}")
    for adapter in state.adapters:
        if adapter.dhcp_server:
            dhcp = f", DHCP from {adapter.dhcp_server}"
        else:
            dhcp = ", DHCP on, no lease" if adapter.dhcp_enabled else ", static"
        if not adapter.connected:
            dhcp += ", disconnected"
        gateway = state.network.default_gateway(adapter.name)
        via = f", gateway {gateway}" if gateway else ""
        address = f" {adapter.address}" if adapter.address else ""
        out.append(f"  adapter {adapter.name} {adapter.mac}{address}{dhcp}{via}")
    for number, disk in enumerate(state.disks):
        out.append(f"  disk \\\\.\\PHYSICALDRIVE{number}: {disk.size} bytes")
    for volume in state.volumes:
        where = f"{volume.letter}:" if volume.letter else volume.path
        out.append(f"  volume {where} label={volume.label!r} filesystem={volume.filesystem}")
    for drive in state.drives:
        if drive.kind == "cdrom":
            media = "media" if drive.letter in state.cdrom_media else "empty"
            out.append(f"  CD-ROM {drive.root} label={drive.label!r} ({media})")
            if drive.letter in state.cdrom_media:
                for name in _files_under(state, drive.root):
                    out.append(f"      {name}")

    out += ["", "DHCP servers:"]
    servers = machine.dhcp.network.servers
    out += [f"  {server.address} options {sorted(server.options)}" for server in servers] or [
        "  (none)"
    ]

    out += ["", "Clouds:"]
    if not machine.clouds:
        out.append("  (none: every metadata request is refused)")
    for cloud in machine.clouds:
        out.append(f"  {cloud.name} at {cloud.base_url}")
        if cloud.tree is not None:
            # The documents are the folder's files (cloud.tree); the model keeps the rest.
            out += [f"    {line}" for line in cloud.tree.describe()]
        model = getattr(cloud, "model", None)
        if model is not None and is_dataclass(model) and not isinstance(model, type):
            for field, value in asdict(model).items():
                if value in (None, "", {}, []):
                    continue
                out.append(f"    {field}:")
                out.append(_indent(_document(value), "      "))
    faults = machine.gateway.faults.faults
    if faults:
        out += ["", "Faults:"]
        out += [f"  {fault}" for fault in faults]
    return "\n".join(out)


def _files_under(state: Any, root: str) -> list[str]:
    return sorted(state.files.files_under(root))
