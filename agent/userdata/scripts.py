"""User scripts: which interpreter runs them (by extension, then header) and running them.

The same table serves three callers: in-memory user data (headers only), script files
(LocalScripts, ``text/x-shellscript`` parts: extension first, then the file's header),
and cloud-config ``runcmd``. Scripts that are data rather than files are written to
``%TEMP%\\<uuid4><ext>`` first and removed afterwards, whatever happens.
"""

from __future__ import annotations

import logging
import ntpath
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from guestsim.agent.osutils import OSUtils, ProcessResult
from guestsim.agent.plugins.base import AgentContext

LOG = logging.getLogger(__name__)

Runner = Callable[[OSUtils, str], ProcessResult]


def _shell(osutils: OSUtils, path: str) -> ProcessResult:
    return osutils.execute_process([path], shell=True)


def _python(osutils: OSUtils, path: str) -> ProcessResult:
    return osutils.execute_process(["python", path], shell=False)


def _bash(osutils: OSUtils, path: str) -> ProcessResult:
    return osutils.execute_process(["bash", path], shell=False)


def _powershell_sysnative(osutils: OSUtils, path: str) -> ProcessResult:
    return osutils.execute_powershell_script(path, sysnative=True)


def _powershell_x86(osutils: OSUtils, path: str) -> ProcessResult:
    return osutils.execute_powershell_script(path, sysnative=False)


@dataclass(frozen=True)
class ScriptKind:
    """An executor: upstream's class name, the extension its temp files get, how it runs."""

    name: str
    extension: str
    runner: Runner

    def run_file(self, osutils: OSUtils, path: str) -> ProcessResult:
        return self.runner(osutils, path)

    def run_data(self, osutils: OSUtils, data: bytes) -> ProcessResult:
        path = temp_script_path(osutils, self.extension)
        try:
            osutils.write_file(path, data)
            return self.runner(osutils, path)
        finally:
            if osutils.path_exists(path):
                osutils.remove_path(path)


SHELL = ScriptKind("Shell", ".cmd", _shell)
PYTHON = ScriptKind("Python", ".py", _python)
BASH = ScriptKind("Bash", ".sh", _bash)
POWERSHELL_SYSNATIVE = ScriptKind("PowershellSysnative", ".ps1", _powershell_sysnative)
POWERSHELL = ScriptKind("Powershell", ".ps1", _powershell_x86)


class _EC2Config:
    """EC2-style data: ``<script>`` blocks run as cmd, then ``<powershell>`` blocks.

    Quirk (upstream): the blocks' exit codes are summed, so two blocks exiting 1001 give
    2002, which is neither a reboot nor a re-run.
    """

    name = "EC2Config"

    def run_data(self, osutils: OSUtils, data: bytes) -> ProcessResult:
        blocks = [(SHELL, block) for block in _EC2_SCRIPT_BLOCK.findall(data)]
        blocks += [(POWERSHELL_SYSNATIVE, block) for block in _EC2_POWERSHELL_BLOCK.findall(data)]
        outputs: list[bytes] = []
        errors: list[bytes] = []
        total = 0
        for kind, block in blocks:
            code = block.strip()
            if not code:
                continue
            try:
                out, err, exit_code = kind.run_data(osutils, code)
            except Exception:
                # A failing block contributes nothing; the others still run.
                LOG.exception("An error occurred while running an EC2 %s block", kind.name)
                continue
            outputs.append(out)
            errors.append(err)
            total += exit_code
        return b"\n".join(outputs), b"\n".join(errors), total


EC2_CONFIG = _EC2Config()
Executor = ScriptKind | _EC2Config

# Extension table for files, in upstream's order (the first match wins).
_BY_EXTENSION: tuple[tuple[str, ScriptKind], ...] = (
    ("cmd", SHELL),
    ("py", PYTHON),
    ("exe", SHELL),
    ("sh", BASH),
    ("ps1", POWERSHELL_SYSNATIVE),
)

# Header table: byte patterns anchored at offset 0, case-sensitive. Quirks reproduced:
# only ``#!/usr/bin/env python<whitespace>`` means Python, every other shebang (python3,
# /usr/bin/python ...) means bash; ``rem CMD`` in upper case is not recognised.
_BY_HEADER: tuple[tuple[re.Pattern[bytes], ScriptKind], ...] = (
    (re.compile(rb"rem\scmd\s"), SHELL),
    (re.compile(rb"#!\s*/usr/bin/env\s+python\s"), PYTHON),
    (re.compile(rb"#!"), BASH),
    (re.compile(rb"#(?:ps1|ps1_sysnative)\s"), POWERSHELL_SYSNATIVE),
    (re.compile(rb"#ps1_x86\s"), POWERSHELL),
)
# EC2 tags count anywhere in the data.
_EC2_TAG = re.compile(rb"</?(?:script|powershell)>")
_EC2_SCRIPT_BLOCK = re.compile(rb"<script>(.*?)</script>", re.DOTALL)
_EC2_POWERSHELL_BLOCK = re.compile(rb"<powershell>(.*?)</powershell>", re.DOTALL)


def temp_script_path(osutils: OSUtils, extension: str) -> str:
    """``%TEMP%\\<uuid4><ext>``; the UUID's randomness comes from the OS."""
    name = uuid.UUID(bytes=osutils.random_bytes(16), version=4)
    return ntpath.join(osutils.get_temp_dir(), f"{name}{extension}")


def executor_for_extension(path: str) -> ScriptKind | None:
    extension = ntpath.splitext(path)[1][1:].lower()
    return next((kind for ext, kind in _BY_EXTENSION if ext == extension), None)


def executor_for_data(data: bytes) -> Executor | None:
    for pattern, kind in _BY_HEADER:
        if pattern.match(data):
            return kind
    if _EC2_TAG.search(data):
        return EC2_CONFIG
    return None


def _log_output(out: bytes, err: bytes) -> None:
    LOG.debug("User_data stdout:\n%s", out.decode("utf-8", "replace"))
    LOG.debug("User_data stderr:\n%s", err.decode("utf-8", "replace"))


def execute_user_data_script(context: AgentContext, data: bytes) -> int:
    """Run in-memory user data chosen by its header; its exit code (0 if it could not run).

    Unrecognised data is a WARNING ``Unsupported user_data format`` and 0; an error while
    running it is a WARNING and 0.
    """
    executor = executor_for_data(data)
    if executor is None:
        LOG.warning("Unsupported user_data format")
        return 0
    exit_code = 0
    try:
        out, err, exit_code = executor.run_data(context.osutils, data)
    except Exception as ex:
        LOG.warning("An error occurred during user_data execution: '%s'", ex)
    else:
        _log_output(out, err)
    LOG.info("User_data script ended with return code: %s", exit_code)
    return exit_code


def execute_script_file(context: AgentContext, path: str) -> int:
    """Run a script file: by its extension, else by its content's header; its exit code.

    A file neither recognises is DEBUG ``No valid extension or header found in the
    userdata: <path>`` and 0; an error while running it is a WARNING and 0. A file
    recognised by its header is run from a temporary copy with the executor's extension.
    """
    osutils = context.osutils
    kind = executor_for_extension(path)
    executor: Executor | None = kind
    data = b""
    if kind is None:
        data = osutils.read_file(path)
        executor = executor_for_data(data)
    if executor is None:
        LOG.debug("No valid extension or header found in the userdata: %s", path)
        return 0
    exit_code = 0
    try:
        if kind is not None:
            out, err, exit_code = kind.run_file(osutils, path)
        else:
            out, err, exit_code = executor.run_data(osutils, data)
    except Exception as ex:
        LOG.warning("An error occurred during file execution: '%s'", ex)
    else:
        LOG.info('Script "%s" ended with exit code: %s', path, exit_code)
        _log_output(out, err)
    return exit_code
