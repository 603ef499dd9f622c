"""User data templates: a first line ``## template: jinja`` renders the rest with Jinja2."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import jinja2
from jinja2.sandbox import SandboxedEnvironment

if TYPE_CHECKING:
    from guestsim.agent.metadata.base import MetadataService

LOG = logging.getLogger(__name__)

# Matched at the very start of the first line, case-insensitively, as upstream does.
TEMPLATE_HEADER = re.compile(r"##\s*template:(.*)", re.IGNORECASE)
JINJA_TEMPLATE_TYPE = "jinja"
MISSING_VARIABLE_PREFIX = "CI_MISSING_JINJA_VAR/"


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
    environment = SandboxedEnvironment(trim_blocks=True, undefined=MissingVariable)
    rendered = environment.from_string(body).render(service.get_instance_data())
    return rendered.encode("utf-8")
