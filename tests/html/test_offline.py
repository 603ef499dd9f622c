"""The HTML report is self-contained: it loads nothing from anywhere but itself.

Issue 16: "The HTML passes an offline check: no http(s):// resource loads." Two halves:

* statically (tests/html/offline.py): no attribute naming another host, no stylesheet or
  icon link, no CSS url()/@import of a URL, no network API in its scripts; and the check
  is shown to find each kind of problem in a page that has it, so that it cannot pass by
  finding nothing;
* in Chromium: every request the opened page made (the performance log) is for the file
  itself or a data:, blob:, about: URL, also once every scenario section is rendered
  (their content is built lazily, by script); and no element the scripts made names
  another host.
"""

from __future__ import annotations

import copy
import importlib
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from guestsim.simulator.paths import bundled
from tests.html.chromium import Browser, Page
from tests.html.offline import offline_problems

LIBRARY = bundled("scenarios")
HOSTILE = '</script><img src="https://evil.example/x.png"><script src="//evil.example/a.js">'


def html_module() -> Any:
    """guestsim.simulator.html (imported, not skipped, when it is missing: the report exists
    now, and a test that skipped would hide its loss)."""
    return importlib.import_module("guestsim.simulator.html")


def _plugin(name: str, start: int, end: int | None, outcome: str, seq: int) -> dict[str, Any]:
    return {
        "plugin": name,
        "stage": "MAIN",
        "start_ms": start,
        "end_ms": end,
        "status": 1 if outcome == "ok" else None,
        "reboot": False,
        "outcome": outcome,
        "reason": "done" if outcome == "skipped" else None,
        "error": "boom" if outcome == "failed" else None,
        "seq": seq,
        "end_seq": seq + 1 if end is not None else None,
    }


def _boot(number: int, url_note: str) -> dict[str, Any]:
    """One boot: an agent lane, discovery with a failed request and a retry, MAIN."""
    probe = {
        "service": "HttpService",
        "result": "loaded",
        "start_ms": 1000,
        "end_ms": 6000,
        "requests": 2,
        "faults": 1,
        "waited_ms": 4000,
        "seq": 3,
    }
    return {
        "number": number,
        "start_ms": 0,
        "end_ms": 9000,
        "metadata_service": "HttpService",
        "ended_with": "agent service stopped",
        "phases": [
            {
                "name": "agent",
                "kind": "agent",
                "start_ms": 0,
                "end_ms": 1000,
                "verdict": "ok",
                "reboot": False,
                "plugins": [],
                "probes": [],
            },
            {
                "name": "metadata discovery",
                "kind": "discovery",
                "start_ms": 1000,
                "end_ms": 6000,
                "verdict": "HttpService",
                "reboot": False,
                "plugins": [],
                "probes": [probe],
            },
            {
                "name": "MAIN",
                "kind": "stage",
                "start_ms": 6000,
                "end_ms": 9000,
                "verdict": "ok",
                "reboot": False,
                "plugins": [
                    _plugin("SetHostNamePlugin", 6000, 7000, "ok", 10),
                    _plugin("CreateUserPlugin", 7000, 9000, "failed", 12),
                    _plugin("MTUPlugin", 9000, 9000, "skipped", 14),
                ],
                "probes": [],
            },
        ],
        "marks": [
            {
                "kind": "http",
                "seq": 4,
                "start_ms": 1500,
                "end_ms": 1500,
                "label": f"GET {url_note} → 500 (fault: status 500)",
                "phase": "metadata discovery",
                "plugin": None,
                "fault": "status 500",
                "bad": True,
            },
            {
                "kind": "sleep",
                "seq": 5,
                "start_ms": 1500,
                "end_ms": 5500,
                "label": "sleep 4.0 s",
                "phase": "metadata discovery",
                "plugin": None,
                "fault": None,
                "bad": False,
            },
            {
                "kind": "os",
                "seq": 11,
                "start_ms": 6500,
                "end_ms": 6500,
                "label": f"set_registry_value HKLM\\SOFTWARE\\Cloudbase {HOSTILE}",
                "phase": "MAIN",
                "plugin": "SetHostNamePlugin",
                "fault": None,
                "bad": False,
            },
        ],
        "changes": [
            {
                "path": ["registry", "HKLM\\SOFTWARE\\Cloudbase Solutions", HOSTILE],
                "before": "absent",
                "after": "https://evil.example/value",
            }
        ],
    }


def minimal_document() -> dict[str, Any]:
    """A run document (the contract's shape) of a passing and a failing scenario whose
    text is full of URLs and markup: text, never a resource."""
    scenario: dict[str, Any] = {
        "id": "s0",
        "name": "clouds/openstack-happy-path",
        "path": "scenarios/clouds/openstack-happy-path.yaml",
        "verdict": "pass",
        "skip_reason": None,
        "boots": 2,
        "outcome": "agent service stopped",
        "virtual_ms": 18000,
        "failures": [],
        "timeline": {"boots": [_boot(1, "http://169.254.169.254/"), _boot(2, "http://x/")]},
    }
    failing = copy.deepcopy(scenario)
    failing.update(
        id="s1",
        name=f"failures/{HOSTILE}",
        path="scenarios/failures/evil.yaml",
        verdict="fail",
        boots=1,
        failures=[{"text": f"plugins.SetHostNamePlugin: expected {HOSTILE}", "events": [4, 11]}],
        timeline={"boots": [_boot(1, "https://169.254.169.254/openstack/latest")]},
    )
    skipped = copy.deepcopy(scenario)
    skipped.update(
        id="s2",
        name="clouds/azure-happy-path",
        verdict="skip",
        skip_reason="not overridable: https://example.com/why",
        timeline=None,
    )
    return {
        "version": 1,
        "kind": "run",
        "title": "guestsim run",
        "agent": "guestsim",
        "summary": {"passed": 1, "failed": 1, "skipped": 1},
        "scenarios": [scenario, failing, skipped],
        "explore": None,
    }


def minimal_report(tmp_path: Path) -> Path:
    path = tmp_path / "minimal.html"
    path.write_text(html_module().render_html(minimal_document()), encoding="utf-8")
    return path


def cli_report(tmp_path: Path) -> Path:
    """`guestsim run --html` of a library scenario and a failing copy of it."""
    html_module()
    scenario = LIBRARY / "clouds" / "openstack-happy-path.yaml"
    shutil.copy(scenario, tmp_path / "passes.yaml")
    text = scenario.read_text(encoding="utf-8")
    broken = text.replace("computer_name: win-web-01", "computer_name: win-web-99")
    assert broken != text
    (tmp_path / "fails.yaml").write_text(broken, encoding="utf-8")
    report = tmp_path / "cli.html"
    result = CliRunner().invoke(
        __import__("guestsim.simulator.cli", fromlist=["cli"]).cli,
        ["run", str(tmp_path / "passes.yaml"), str(tmp_path / "fails.yaml"), "--html", str(report)],
    )
    assert result.exit_code == 1, result.output  # one scenario fails
    assert report.is_file(), result.output
    return report


REPORTS: dict[str, Callable[[Path], Path]] = {"minimal": minimal_report, "cli": cli_report}


# --- the static check -------------------------------------------------------------------


@pytest.mark.parametrize("report", REPORTS)
def test_the_report_names_no_resource_elsewhere(report: str, tmp_path: Path) -> None:
    html = REPORTS[report](tmp_path).read_text(encoding="utf-8")
    assert offline_problems(html) == []


BAD_PAGES = {
    "script src": ('<script src="https://cdn.example.com/d3.js"></script>', "src="),
    "protocol-relative img": ('<img src="//cdn.example.com/a.png">', "names another host"),
    "srcset": ('<img srcset="a.png 1x, http://cdn.example.com/b.png 2x">', "srcset"),
    "stylesheet link": ('<link rel="stylesheet" href="report.css">', "<link rel="),
    "icon link": ('<link rel="icon" href="https://example.com/favicon.ico">', "<link rel="),
    "preload link": ('<link rel="preload" href="//fonts.example.com/f.woff2">', "<link rel="),
    "iframe": ('<iframe src="https://example.com/"></iframe>', "src="),
    "object data": ('<object data="http://example.com/x.svg"></object>', "data="),
    "video poster": ('<video poster="https://example.com/p.jpg"></video>', "poster="),
    "form action": ('<form action="https://example.com/post"></form>', "action="),
    "svg image": (
        '<svg><image xlink:href="https://example.com/i.png"/></svg>',
        "xlink:href=",
    ),
    "css import": ("<style>@import 'theme.css';</style>", "@import"),
    "css url": (
        "<style>body { background: url(https://example.com/bg.png) }</style>",
        "CSS url(",
    ),
    "css font": (
        "<style>@font-face { font-family: x; src: url('//fonts.example.com/x.woff2') }</style>",
        "CSS url(",
    ),
    "style attribute": ('<div style="background:url(http://example.com/a.png)"></div>', "url("),
    "fetch": ("<script>fetch('data.json').then(r => r.json())</script>", "fetch"),
    "XMLHttpRequest": ("<script>const x = new XMLHttpRequest();</script>", "XMLHttpRequest"),
    "dynamic import": ("<script type=module>import('./more.js')</script>", "import"),
    "WebSocket": ("<script>new WebSocket('ws://localhost:1')</script>", "WebSocket"),
    "EventSource": ("<script>new EventSource('/events')</script>", "EventSource"),
    "sendBeacon": ("<script>navigator.sendBeacon('/b', '')</script>", "sendBeacon"),
    "Worker": ("<script>new Worker('w.js')</script>", "Worker"),
    "URL in a script": (
        "<script>const img = new Image(); img.src = 'https://example.com/t.gif';</script>",
        "https://example.com",
    ),
    "event handler": (
        "<body onload=\"fetch('https://example.com/ping')\"></body>",
        "onload handler",
    ),
    "meta refresh": (
        '<meta http-equiv="refresh" content="0; url=https://example.com/">',
        "meta refresh",
    ),
    "base": ('<base href="https://example.com/">', "base URL"),
}


@pytest.mark.parametrize("case", BAD_PAGES)
def test_the_static_check_finds_each_kind_of_outside_load(case: str) -> None:
    snippet, expected = BAD_PAGES[case]
    page = f"<!doctype html><html><head><title>t</title></head><body>{snippet}</body></html>"
    problems = offline_problems(page)
    assert problems, f"{case}: the check found nothing in {snippet}"
    assert any(expected in problem for problem in problems), problems


def test_the_static_check_leaves_text_data_and_local_references_alone() -> None:
    page = """<!doctype html><html><head><meta charset="utf-8"><title>ok</title>
<style>.bar { fill: url(#stripes); background: url("data:image/png;base64,AAAA") }</style>
</head><body>
<p>GET http://169.254.169.254/openstack → 500 and //not a link</p>
<a href="#s1">scenario</a><img src="data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEK">
<svg xmlns="http://www.w3.org/2000/svg"><use href="#tick"/></svg>
<script type="application/json" id="guestsim-report">{"url": "https://example.com/x",
"css": "@import url(https://x)", "js": "fetch('https://x')"}</script>
<script type="application/gzip" id="guestsim-report" data-encoding="base64">
fetch('https://x') XMLHttpRequest//cdn/+WebSocket+ab//cd==</script>
<script>
const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
location.hash = "#s1";  // a fragment: no load
</script></body></html>"""
    assert offline_problems(page) == []


def test_the_static_check_reads_the_reports_own_script_not_its_data() -> None:
    page = html_module().render_html(minimal_document())
    assert offline_problems(page) == []
    # The program (the one <script> without a type) is read: a load put in it is found.
    assert page.count("<script>") == 1
    spiked = page.replace("<script>", "<script>fetch('https://example.com/x');", 1)
    problems = offline_problems(spiked)
    assert any("network API 'fetch(" in p for p in problems), problems
    assert any("'https://example.com/x'" in p for p in problems), problems
    # The embedded document (base64) is data: what it spells is not read as script.
    data = page.replace(
        'data-encoding="base64">', 'data-encoding="base64">fetch(XMLHttpRequest//x/', 1
    )
    assert offline_problems(data) == []


# --- in Chromium ------------------------------------------------------------------------

# Attributes of every element (those scripts made too) that name another host.
_REMOTE_IN_DOM = """
const found = [];
const names = ['src', 'href', 'xlink:href', 'srcset', 'action', 'formaction', 'poster',
               'data', 'background'];
for (const el of document.querySelectorAll('*')) {
  for (const name of names) {
    const value = el.getAttribute(name);
    if (value && /^\\s*([a-z][a-z0-9+.-]*:)?\\/\\//i.test(value)) {
      found.push(`<${el.tagName.toLowerCase()} ${name}="${value}">`);
    }
  }
  const style = el.getAttribute('style');
  if (style && /url\\(\\s*['"]?\\s*([a-z]+:)?\\/\\//i.test(style)) found.push(`style="${style}"`);
}
return found;
"""


def render_every_section(page: Page) -> int:
    """Open every closed <details> (scenario sections, their lazily built events and
    changes, again for those the first opening made) and bring each scenario section not
    drawn yet into view (they are drawn near the viewport), until none is left; the number
    of scenario sections."""
    page.wait_for("#app[data-state='ready']")  # the document decoded and the page drawn
    for _ in range(10):
        opened = page.run(
            "const closed = document.querySelectorAll('details:not([open])');"
            "closed.forEach(d => { d.open = true; });"
            "return closed.length;"
        )
        time.sleep(0.05)  # the toggle events fire as tasks of their own
        pending = page.run(
            "return [...document.querySelectorAll('section.scenario')].filter("
            "s => s.dataset.rendered !== 'true' && s.dataset.verdict !== 'skip').map(s => s.id);"
        )
        for section in pending:
            page.run("document.getElementById(arguments[0]).scrollIntoView()", section)
            time.sleep(0.1)  # an IntersectionObserver reports in a later frame
        if not opened and not pending:
            break
    page.run("window.scrollTo(0, 0)")
    return len(page.find_all("section.scenario"))


def _assert_offline(page: Page) -> None:
    requests = page.settle()
    assert requests and requests[0] == page.url, requests
    assert page.foreign_requests() == [], requests
    assert page.run(_REMOTE_IN_DOM) == []


@pytest.mark.parametrize("report", REPORTS)
def test_the_report_loads_nothing_but_itself_in_chromium(
    report: str, tmp_path: Path, chromium: Browser
) -> None:
    path = REPORTS[report](tmp_path)
    page = chromium.open(path)
    page.wait_for("#app[data-state='ready']")  # decoded (from bytes in memory) and drawn
    _assert_offline(page)
    # The lazily built content (timelines, changes, events), every section of it.
    sections = render_every_section(page)
    assert sections >= 2
    page.wait_until(
        "[...document.querySelectorAll('section.scenario')].every("
        "s => s.dataset.rendered === 'true' || s.dataset.verdict === 'skip')"
    )
    _assert_offline(page)
    assert page.find_all("section.scenario[data-rendered='true']")
    assert page.find_all("svg.boot-timeline")


BAD_AT_RUN_TIME = {
    # Built by script, so the static check cannot see them: the browser's record does.
    "an image made by script": (
        "<script>const i = new Image(); i.src = ['ht', 'tp:', '//192.0.2.7/p.gif'].join('');"
        "</script>"
    ),
    "a stylesheet made by script": (
        "<script>const l = document.createElement('link'); l.rel = 'style' + 'sheet';"
        "l.href = 'theme.css'; document.head.append(l);</script>"
    ),
}


@pytest.mark.parametrize("case", BAD_AT_RUN_TIME)
def test_chromium_sees_the_loads_a_script_makes(
    case: str, tmp_path: Path, chromium: Browser
) -> None:
    path = tmp_path / "bad.html"
    path.write_text(f"<!doctype html><title>t</title>{BAD_AT_RUN_TIME[case]}", encoding="utf-8")
    assert offline_problems(path.read_text(encoding="utf-8")) == []  # hidden from it
    page = chromium.open(path)
    page.settle()
    assert page.foreign_requests(), page.requests()
