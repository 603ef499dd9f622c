"""The HTML report: one self-contained page drawn from a report document.

:func:`render_html` writes one HTML5 page: the stylesheet and the script inline (read from
``assets/report.css`` and ``assets/report.js``, package data), the document embedded as
gzip-compressed JSON in base64 in ``<script type="application/gzip" id="guestsim-report"
data-encoding="base64">`` (an exploration's document of every cut run shrinks about
thirty times). The script decodes it in the browser (``atob``, then
``DecompressionStream('gzip')`` over a ``Blob`` of those bytes: nothing is requested, it
works from ``file://``) and draws the page from it (summary table, per scenario its boots'
timelines as SVG, tables of changes and events, the cut matrix of an exploration),
building the heavy parts only when they are opened or scrolled into view. A payload that
does not decode shows as an error message in the page. :func:`read_document` reads the
document back from a page.

The page loads nothing: no URL of any scheme but the page's own fragments and ``data:``
is named by the markup, and its Content-Security-Policy lets the browser run only this
script and style (by hash) and load nothing else, so that even a mistake cannot fetch.
The base64 alphabet holds no markup, so no text of the document can end the ``<script>``
element; the script inserts every text of the document as text, never as markup. The
same document gives the same bytes.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import html
import json
import os
import re
import zlib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="referrer" content="no-referrer">
<meta name="generator" content="guestsim">
<title>{title}</title>
<link rel="icon" href="data:,">
<style>{css}</style>
</head>
<body>
<h1>{title}</h1>
<noscript><p>This report draws its tables and timelines with JavaScript; the data is in the
page source (the guestsim-report script element: JSON, gzip-compressed, in base64).</p></noscript>
<div id="app"></div>
<script type="application/gzip" id="guestsim-report" data-encoding="base64">{data}</script>
<script>{js}</script>
</body>
</html>
"""


@cache
def _asset(name: str) -> str:
    text = (
        resources.files("guestsim.simulator.html")
        .joinpath("assets", name)
        .read_text(encoding="utf-8")
    )
    # Inline, an asset must not end its own element.
    closing = "</style" if name.endswith(".css") else "</script"
    if closing in text.lower() or "<!--" in text:
        raise ValueError(f"assets/{name} holds {closing!r} or '<!--': it cannot be inlined")
    return text


def _hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def document_json(document: Any) -> bytes:
    """``document`` as the page embeds it, before compression: UTF-8 JSON, sorted keys, no
    whitespace (the same document, the same bytes)."""
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def embed_document(document: Any) -> str:
    """``document`` as the page's ``guestsim-report`` element holds it: its
    :func:`document_json` gzip-compressed (level 9, mtime 0: no clock, no file name in the
    header) and in base64, whose alphabet cannot end a ``<script>`` element.

    The compressed bytes are zlib's: the same document gives the same page with one zlib
    build; another zlib version may compress it to other (equally valid) bytes."""
    packed = gzip.compress(document_json(document), compresslevel=9, mtime=0)
    return base64.b64encode(packed).decode("ascii")


_EMBEDDED = re.compile(
    r'<script type="application/gzip" id="guestsim-report" data-encoding="base64">'
    r"([^<]*)</script>"
)


def read_document(page: str) -> dict[str, Any]:
    """The report document embedded in ``page`` (the text :func:`render_html` wrote);
    ValueError when the page holds none or it does not decode."""
    found = _EMBEDDED.search(page)
    if found is None:
        raise ValueError("no guestsim-report element in the page")
    try:
        packed = base64.b64decode(found[1], validate=True)
        document = json.loads(gzip.decompress(packed).decode("utf-8"))
    except (binascii.Error, OSError, EOFError, zlib.error, UnicodeDecodeError) as error:
        raise ValueError(f"the embedded report does not decode: {error}") from error
    except json.JSONDecodeError as error:
        raise ValueError(f"the embedded report is not JSON: {error}") from error
    if not isinstance(document, dict):
        raise ValueError("the embedded report is not a JSON object")
    return document


def render_html(document: dict[str, Any]) -> str:
    """The report page of ``document`` (an ``html.document`` report document)."""
    css = _asset("report.css")
    js = _asset("report.js")
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src {_hash(js)}",
            f"style-src {_hash(css)}",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    return _PAGE.format(
        csp=csp,
        title=html.escape(str(document.get("title") or "guestsim report")),
        css=css,
        data=embed_document(document),
        js=js,
    )


def write_html(document: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the report page of ``document`` to ``path`` (UTF-8)."""
    Path(path).write_text(render_html(document), encoding="utf-8", newline="\n")
