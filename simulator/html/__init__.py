"""The HTML report: a document of what ran (:mod:`.document`) drawn as one page (:mod:`.render`)."""

from __future__ import annotations

from guestsim.simulator.html.document import explore_document, run_document, trace_document
from guestsim.simulator.html.render import read_document, render_html, write_html

__all__ = [
    "explore_document",
    "read_document",
    "render_html",
    "run_document",
    "trace_document",
    "write_html",
]
