"""cloud-config ``write_files``: create files with decoded content."""

from __future__ import annotations

import base64
import binascii
import logging
import ntpath
import zlib
from typing import TYPE_CHECKING, Any

from guestsim.agent.resources import ResourceLimits, bounded_gunzip
from guestsim.agent.userdata.cloudconfig.common import absolute_path

if TYPE_CHECKING:
    from guestsim.agent.plugins.base import AgentContext

LOG = logging.getLogger(__name__)

DEFAULT_PERMISSIONS = 0o644
# Owner write permission: the only bit Windows keeps (clear = the read-only attribute).
OWNER_WRITE = 0o200

GZIP = "gzip"
BASE64 = "base64"
GZIP_ENCODINGS = ("gz", "gzip")
GZIP_BASE64_ENCODINGS = ("gz+base64", "gzip+base64", "gz+b64", "gzip+b64")
BASE64_ENCODINGS = ("b64", "base64")


def decode_steps(encoding: Any) -> list[str]:
    """The decoding steps an ``encoding`` value names, in the order they apply."""
    if not encoding:
        return []
    name = str(encoding).lower().strip()
    if name in GZIP_ENCODINGS:
        return [GZIP]
    if name in GZIP_BASE64_ENCODINGS:
        return [BASE64, GZIP]
    if name in BASE64_ENCODINGS:
        return [BASE64]
    LOG.warning("Unknown encoding, assuming plain text.")
    return []


def decode_content(
    content: bytes, encoding: Any, limit: int = ResourceLimits.decompressed_bytes
) -> bytes:
    """Apply each step; a step that fails is logged and its input passed on unchanged.

    Gzip content may expand to ``limit`` bytes; more raises
    :class:`~guestsim.agent.resources.DecompressionLimitExceeded` (a ``MemoryError``,
    which the step does not catch, as upstream's does not).
    """
    for step in decode_steps(encoding):
        if step == BASE64:
            try:
                content = base64.b64decode(content)
            except (binascii.Error, ValueError, TypeError):
                LOG.exception("Fail to decode base64 content.")
        else:
            try:
                content = bounded_gunzip(content, limit, "a write_files gzip content")
            except (OSError, EOFError, ValueError, zlib.error):
                LOG.exception("Fail to decompress gzip content.")
    return content


def convert_permissions(permissions: Any) -> int:
    """A number as is (floats truncated); a string read as octal; else the default."""
    if isinstance(permissions, int | float):
        return int(permissions)
    try:
        # int(..., 8) takes both "0644" and "0o644".
        return int(permissions, 8)
    except (TypeError, ValueError):
        LOG.warning(
            "Fail to process permissions %s, assuming %s", permissions, oct(DEFAULT_PERMISSIONS)
        )
        return DEFAULT_PERMISSIONS


def _content_bytes(content: Any) -> bytes:
    if isinstance(content, bytes):  # a YAML !!binary value
        return content
    if isinstance(content, str):
        return content.encode("utf-8")
    raise TypeError(f"write_files content must be text, not {type(content).__name__}")


def write_files(context: AgentContext, value: Any) -> bool:
    """Write one file (a mapping) or each file of a list; never asks for a reboot."""
    osutils = context.osutils
    items = [value] if isinstance(value, dict) else value
    for item in items:
        if not isinstance(item, dict) or "path" not in item or "content" not in item:
            LOG.warning("Missing required keys from file information %s", item)
            continue
        path = absolute_path(osutils, item["path"])
        content = decode_content(
            _content_bytes(item["content"]),
            item.get("encoding"),
            osutils.get_resource_limits().decompressed_bytes,
        )
        permissions = convert_permissions(item.get("permissions"))
        append = bool(item.get("append", False))
        parent = ntpath.dirname(path)
        if not osutils.path_exists(parent):
            try:
                osutils.make_dirs(parent)
            except OSError:
                LOG.exception("Fail to create the directory %s", parent)
                continue
        osutils.write_file(path, content, append=append)
        # Upstream then chmods the file; on Windows that only sets the read-only
        # attribute when the owner-write bit is clear. The fake Windows keeps no file
        # attributes, so only the decision is logged.
        LOG.debug(
            "Permissions %s for %s (read-only: %s)",
            oct(permissions),
            path,
            not permissions & OWNER_WRITE,
        )
        # ``owner`` is ignored, as upstream does.
    return False
