"""The static half of the offline check: what in an HTML page's source would load something
from elsewhere (:func:`offline_problems`).

A self-contained page (the HTML report) loads nothing but itself: no attribute naming an
http(s):// or protocol-relative (//host) URL, no stylesheet, preload or icon link, no
external script, no CSS ``url()`` of a URL or ``@import``, and no inline script that asks
the network for anything (fetch, XMLHttpRequest, dynamic import(), WebSocket,
EventSource, sendBeacon, workers), nor names an http(s) URL other than an XML namespace.
Data scripts (a ``<script>`` of any type but JavaScript's: ``application/json``, or the
report's embedded document, ``application/gzip`` in base64) are data, not read: URLs
written in them are text, as they are in the page's text. The report's program, the
``<script>`` without a type, is read.

The dynamic half opens the page in Chromium and reads the requests it made
(tests/html/test_offline.py).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Attributes whose value is a URL the browser may load (or go to, for action/href).
URL_ATTRIBUTES = {
    "src",
    "href",
    "xlink:href",
    "srcset",
    "imagesrcset",
    "action",
    "formaction",
    "poster",
    "data",
    "background",
    "codebase",
    "cite",
    "longdesc",
    "manifest",
    "ping",
    "profile",
    "archive",
}
# <link rel=...> kinds that load what they name.
LOADING_RELS = {
    "stylesheet",
    "preload",
    "modulepreload",
    "prefetch",
    "preconnect",
    "dns-prefetch",
    "prerender",
    "icon",
    "shortcut",
    "apple-touch-icon",
    "manifest",
    "import",
}
# Elements whose src (or data, for <object>) is loaded whatever its scheme (a relative
# path is another file: the page would not be self-contained either).
LOADING_ELEMENTS = {
    "script": "src",
    "img": "src",
    "iframe": "src",
    "frame": "src",
    "embed": "src",
    "object": "data",
    "audio": "src",
    "video": "src",
    "source": "src",
    "track": "src",
    "input": "src",
}
# <script type=...> that the browser runs; any other type is data.
SCRIPT_TYPES = {
    "",
    "module",
    "text/javascript",
    "application/javascript",
    "application/ecmascript",
    "text/ecmascript",
    "application/x-javascript",
}
# URLs a script may name without loading anything: the XML namespaces of createElementNS.
NAMESPACES = (
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/1999/xhtml",
    "http://www.w3.org/XML/1998/namespace",
    "http://www.w3.org/2000/xmlns/",
)

_REMOTE = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//|^\s*(?:https?|wss?|ftp):", re.IGNORECASE)
_URL_IN_SCRIPT = re.compile(r"\b(?:https?|wss?|ftp)://[^\s'\"`)<>]*", re.IGNORECASE)
_CSS_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.IGNORECASE | re.DOTALL)
_CSS_IMPORT = re.compile(r"@import\b", re.IGNORECASE)
_SCRIPT_NETWORK = re.compile(
    r"\bfetch\s*\(|\bXMLHttpRequest\b|\bimport\s*\(|\bimportScripts\s*\(|\bWebSocket\b"
    r"|\bEventSource\b|\bsendBeacon\b|\bnew\s+(?:Shared)?Worker\b|\bserviceWorker\b"
    r"|\bRTCPeerConnection\b|\bwindow\.open\s*\(|\blocation(?:\.href)?\s*=(?!=)"
    r"|\bWebTransport\b",
    re.IGNORECASE,
)
_LOCAL_URL = re.compile(r"^\s*(?:data:|blob:|about:|#)", re.IGNORECASE)


def _remote(value: str) -> bool:
    return bool(_REMOTE.match(value))


def _srcset_urls(value: str) -> list[str]:
    return [part.strip().split()[0] for part in value.split(",") if part.strip()]


def css_problems(css: str, where: str) -> list[str]:
    """``@import`` and ``url()`` of anything but a data: URL or a fragment in CSS text."""
    problems = []
    if _CSS_IMPORT.search(css):
        problems.append(f"{where}: CSS @import")
    for match in _CSS_URL.finditer(css):
        url = match.group(2).strip()
        if not _LOCAL_URL.match(url):
            problems.append(f"{where}: CSS url({url})")
    return problems


def script_problems(script: str, where: str) -> list[str]:
    """Network APIs and URLs in an inline script."""
    problems = [
        f"{where}: network API {match.group(0).strip()!r}"
        for match in _SCRIPT_NETWORK.finditer(script)
    ]
    problems += [
        f"{where}: a URL {match.group(0)!r}"
        for match in _URL_IN_SCRIPT.finditer(script)
        if not match.group(0).startswith(NAMESPACES)
    ]
    return problems


class _Scanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._raw: tuple[str, str] | None = None  # ("style"|"script", where) being read
        self._text: list[str] = []

    def _where(self, tag: str) -> str:
        line, column = self.getpos()
        return f"<{tag}> at {line}:{column + 1}"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        where = self._where(tag)
        values = {name: value or "" for name, value in attrs}
        for name, value in values.items():
            if name in URL_ATTRIBUTES:
                urls = _srcset_urls(value) if name.endswith("srcset") else [value]
                self.problems += [
                    f"{where}: {name}={url!r} names another host" for url in urls if _remote(url)
                ]
            elif name == "style":
                self.problems += css_problems(value, f"{where} style attribute")
            elif name.startswith("on"):
                self.problems += script_problems(value, f"{where} {name} handler")
        if tag == "link":
            rels = set(values.get("rel", "").lower().split())
            href = values.get("href", "")
            if rels & LOADING_RELS and href and not _LOCAL_URL.match(href):
                self.problems.append(f"{where}: <link rel={values['rel']!r}> loads {href!r}")
        attribute = LOADING_ELEMENTS.get(tag)
        if attribute and values.get(attribute) and not _LOCAL_URL.match(values[attribute]):
            self.problems.append(f"{where}: loads {attribute}={values[attribute]!r}")
        if tag == "meta" and values.get("http-equiv", "").lower() == "refresh":
            self.problems.append(f"{where}: a meta refresh ({values.get('content', '')!r})")
        if tag == "base" and values.get("href"):
            self.problems.append(f"{where}: a base URL {values['href']!r}")
        if tag == "style":
            self._raw, self._text = ("style", where), []
        elif tag == "script":
            kind = values.get("type", "").lower().split(";")[0].strip()
            runs = kind in SCRIPT_TYPES
            self._raw, self._text = ("script" if runs else "data", where), []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in ("style", "script"):
            self.handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        if self._raw is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._raw is None or tag not in ("style", "script"):
            return
        kind, where = self._raw
        text = "".join(self._text)
        if kind == "style":
            self.problems += css_problems(text, where)
        elif kind == "script":
            self.problems += script_problems(text, where)
        self._raw, self._text = None, []


def offline_problems(html: str) -> list[str]:
    """What in ``html`` would load a resource from anywhere but the page itself (empty: the
    page is self-contained)."""
    scanner = _Scanner()
    scanner.feed(html)
    scanner.close()
    return scanner.problems
