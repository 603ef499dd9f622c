"""User data templates: a first line ``## template: jinja`` renders the rest with Jinja2."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import jinja2

from guestsim.agent.userdata.sandbox import BoundedSandbox

if TYPE_CHECKING:
    from guestsim.agent.metadata.base import MetadataService

LOG = logging.getLogger(__name__)

# Matched at the very start of the first line, case-insensitively, as upstream does.
TEMPLATE_HEADER = re.compile(r"##\s*template:(.*)", re.IGNORECASE)
JINJA_TEMPLATE_TYPE = "jinja"
MISSING_VARIABLE_PREFIX = "CI_MISSING_JINJA_VAR/"


class TemplateRenderError(jinja2.TemplateError):
    """An expression of the template failed while rendering (a Python error inside it)."""


def _template_line(error: BaseException) -> str:
    """``"line N: "`` of the innermost template frame of ``error``'s traceback, or ``""``."""
    line = ""
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_filename == "<template>":
            line = f"line {frame.tb_lineno}: "
        frame = frame.tb_next
    return line


class MissingVariable(jinja2.Undefined):
    """An undefined variable prints as ``CI_MISSING_JINJA_VAR/<name>`` instead of nothing.

    Everything else an undefined value refuses (attribute access, arithmetic ...) still
    raises, as with Jinja's default undefined type.
    """

    def __str__(self) -> str:
        return f"{MISSING_VARIABLE_PREFIX}{self._undefined_name}"


def template_type(data: bytes) -> str | None:
    """The type named by a ``## template: <type>`` first line (lower case), or None."""
    first_line = data.split(b"\n", 1)[0]
    try:
        text = first_line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    match = TEMPLATE_HEADER.match(text)
    if match is None:
        return None
    return match.group(1).strip().lower()


def render_template(data: bytes, service: MetadataService) -> bytes | None:
    """The rendered user data if it is a Jinja template; None when it is not a template.

    The header line is dropped and the rest rendered with ``trim_blocks`` (and Jinja's
    other defaults, so a single trailing newline is not kept) against
    ``service.get_instance_data()``.
    """
    kind = template_type(data)
    if kind is None:
        return None
    if kind != JINJA_TEMPLATE_TYPE:
        LOG.debug("Unsupported template type: %s", kind)
        return None
    LOG.info("Using template engine: %s", JINJA_TEMPLATE_TYPE)
    parts = data.split(b"\n", 1)
    body = parts[1].decode("utf-8") if len(parts) > 1 else ""
    # Deviation: upstream renders with a plain Environment. guestsim renders guest user
    # data inside the host process, so the sandbox keeps a template from reaching Python
    # internals (``''.__class__.__mro__`` ...); ordinary templates render identically.
    # The guest's resource limits bound the render too (BoundedSandbox).
    environment = BoundedSandbox(
        limits=service.osutils.get_resource_limits(), trim_blocks=True, undefined=MissingVariable
    )
    template = environment.from_string(body)
    instance_data = service.get_instance_data()
    try:
        rendered = environment.render_bounded(template, instance_data)
    except (ArithmeticError, LookupError, TypeError, ValueError) as ex:
        # The template's own expression failed (``{{ 1 / 0 }}``, ``{{ 1 + 'a' }}``):
        # upstream fails the plugin with Python's error; this names it and the line.
        raise TemplateRenderError(f"{_template_line(ex)}{type(ex).__name__}: {ex}") from ex
    return rendered.encode("utf-8")
