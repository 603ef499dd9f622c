"""``guestsim validate``: find the mistakes in scenario files and ``cloudbase-init.conf``.

A conf file is read exactly as the agent reads it, then checked for what the agent would
silently tolerate but a user almost never means: unknown options, deprecated names,
unknown plugin or metadata-service paths, a plugin listed twice, and plugin orders that
cannot work. Every finding names the file and line. A scenario file is checked against its
schema, and the conf file it names (``agent.conf``) and its inline ``agent.options`` as a
conf file would be. Warnings are what the agent tolerates; errors are what stops it or
makes it skip something.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from guestsim.agent.config import (
    AgentConfig,
    ConfigError,
    ConfigFileError,
    ConfigValueError,
    config_from_options,
    load_config,
)
from guestsim.agent.metadata.factory import UPSTREAM_SERVICES
from guestsim.agent.plugins.registry import LEGACY_ALIASES, UPSTREAM_MODULES, UPSTREAM_PLUGINS
from guestsim.simulator.errors import ScenarioError
from guestsim.simulator.scenario import YAML_LOADER, load_scenario

ERROR = "error"
WARNING = "warning"

_PLUGINS = "cloudbaseinit.plugins."
# (plugin, plugin that must run before it, why). The later plugin reads what the earlier
# one leaves behind in the same stage: the admin user, its profile or its password.
ORDER_RULES: tuple[tuple[str, str, str], ...] = (
    (
        f"{_PLUGINS}common.setuserpassword.SetUserPasswordPlugin",
        f"{_PLUGINS}windows.createuser.CreateUserPlugin",
        "it sets the password of the user CreateUserPlugin creates",
    ),
    (
        f"{_PLUGINS}common.sshpublickeys.SetUserSSHPublicKeysPlugin",
        f"{_PLUGINS}windows.createuser.CreateUserPlugin",
        "it writes into the profile CreateUserPlugin creates",
    ),
    (
        f"{_PLUGINS}windows.winrmcertificateauth.ConfigWinRMCertificateAuthPlugin",
        f"{_PLUGINS}windows.createuser.CreateUserPlugin",
        "it maps certificates to the user CreateUserPlugin creates",
    ),
    (
        f"{_PLUGINS}windows.winrmcertificateauth.ConfigWinRMCertificateAuthPlugin",
        f"{_PLUGINS}common.setuserpassword.SetUserPasswordPlugin",
        "it needs the password SetUserPasswordPlugin leaves for it",
    ),
)


@dataclass(frozen=True)
class Finding:
    path: str
    line: int | None
    severity: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.severity}: {self.message}"


def validate_conf(path: Path) -> list[Finding]:
    try:
        conf = load_config(path)
    except ConfigValueError as ex:
        return [Finding(ex.file, ex.line, ERROR, f"[{ex.group}] {ex.option}: {ex.detail}")]
    except ConfigFileError as ex:
        return [Finding(ex.file, ex.line, ERROR, ex.reason)]
    except ConfigError as ex:
        return [Finding(str(path), None, ERROR, str(ex))]
    findings = [
        Finding(warning.file, warning.line, WARNING, warning.message) for warning in conf.warnings
    ]
    findings += _check_plugins(conf, str(path))
    findings += _check_services(conf, str(path))
    return findings


def _check_plugins(conf: AgentConfig, path: str) -> list[Finding]:
    if not conf.is_set("plugins"):
        return []
    line = conf.line_of("plugins")
    findings: list[Finding] = []
    seen: dict[str, int] = {}
    order: list[str] = []
    for index, configured in enumerate(conf.get("plugins")):
        canonical = LEGACY_ALIASES.get(configured, configured)
        if configured in LEGACY_ALIASES:
            findings.append(
                Finding(
                    path, line, WARNING, f"deprecated plugin path {configured}; use {canonical}"
                )
            )
        elif canonical not in UPSTREAM_PLUGINS:
            module = canonical.rpartition(".")[0]
            problem = (
                "has no such class (the agent would abort)"
                if module in UPSTREAM_MODULES
                else "is not a cloudbase-init plugin (the agent skips it)"
            )
            findings.append(Finding(path, line, ERROR, f"plugin {configured} {problem}"))
        if canonical in seen:
            findings.append(
                Finding(
                    path,
                    line,
                    WARNING,
                    f"plugin {canonical.rpartition('.')[2]} is listed twice "
                    f"(entries {seen[canonical] + 1} and {index + 1}); the agent loads it twice",
                )
            )
        else:
            seen[canonical] = index
            order.append(canonical)
    for later, earlier, why in ORDER_RULES:
        if later in seen and earlier in seen and seen[later] < seen[earlier]:
            findings.append(
                Finding(
                    path,
                    line,
                    ERROR,
                    f"{later.rpartition('.')[2]} is listed before {earlier.rpartition('.')[2]}, "
                    f"but {why}",
                )
            )
    return findings


def _check_services(conf: AgentConfig, path: str) -> list[Finding]:
    if not conf.is_set("metadata_services"):
        return []
    line = conf.line_of("metadata_services")
    return [
        Finding(path, line, ERROR, f"metadata service {service} does not exist (the agent aborts)")
        for service in conf.get("metadata_services")
        if service not in UPSTREAM_SERVICES
    ]


def validate_scenario(path: Path) -> list[Finding]:
    """The scenario file, the conf file it names (``agent.conf``) and its inline options."""
    spec = _agent_spec(path)
    conf_path = spec.get("conf")
    findings = (
        validate_conf(Path(os.path.normpath(path.parent / conf_path)))
        if isinstance(conf_path, str)
        else []
    )
    try:
        load_scenario(path)
    except ScenarioError as ex:
        if isinstance(ex.__cause__, ConfigError) and any(f.severity == ERROR for f in findings):
            # The conf file's own error, already named with its file and line.
            return findings
        where = f"{ex.field}: " if ex.field else ""
        return [*findings, Finding(str(path), None, ERROR, f"{where}{ex.message}")]
    options = spec.get("options")
    if isinstance(options, dict) and options:
        inline = config_from_options(options, f"{path}: agent.options")
        for finding in [
            *(Finding(str(path), None, WARNING, w.message) for w in inline.warnings),
            *_check_plugins(inline, str(path)),
            *_check_services(inline, str(path)),
        ]:
            findings.append(
                Finding(finding.path, None, finding.severity, f"agent.options: {finding.message}")
            )
    return findings


def _agent_spec(path: Path) -> dict[str, Any]:
    """The scenario's ``agent`` mapping as written ({} when the file cannot say)."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    agent = data.get("agent") if isinstance(data, dict) else None
    return agent if isinstance(agent, dict) else {}


def validate(path: Path) -> list[Finding]:
    """Scenario files by their ``.yaml``/``.yml`` suffix; anything else as a conf file."""
    if path.suffix in (".yaml", ".yml"):
        return validate_scenario(path)
    return validate_conf(path)
