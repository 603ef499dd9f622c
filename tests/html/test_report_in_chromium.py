"""The HTML report in real headless Chromium (Debian's chromium and chromium-driver; the tests
skip, saying why, where they are missing).

The page of a failing and a passing library run opens without a console message, loads
nothing, draws per boot one bar per plugin that ran and shows the unmet expectation. A hand
written document (tests/html/sample.py) checks the rest: the filter, the cut matrix of an
exploration, the links from a failure to its events, and hostile guest text staying text.
The page's bytes are checked without a browser: the same document gives the same page, the
embedded document (gzip-compressed JSON in base64) reads back and cannot end its element,
and no markup names anything to load. A damaged payload shows as a message in the page.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import json
import re
from collections import Counter
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from guestsim.simulator.html import read_document, render_html, run_document, write_html
from guestsim.simulator.html.render import embed_document
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import RunRecord, load_scenario, run_scenario
from tests.html.chromium import Browser, Page
from tests.html.sample import HOSTILE, big_document, sample_document

LIBRARY = bundled("scenarios")
PASSING = "reboots/hostname-reboot-allowed.yaml"
FAILING = "clouds/azure-goalstate-404-retried.yaml"
DATA = re.compile(
    r'(<script type="application/gzip" id="guestsim-report"[^>]*>)(.*?)</script>', re.S
)
BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


@cache
def records() -> tuple[RunRecord, RunRecord]:
    """A library scenario made to fail (an expectation contradicted, as
    tests/simulator/test_expectations_can_fail.py does) and one that passes, with what each
    boot changed."""
    original = load_scenario(LIBRARY / FAILING, LIBRARY)
    expect = {**original.data["expect"], "plugins": {"SetHostNamePlugin": "absent"}}
    failing = run_scenario(
        dataclasses.replace(original, data={**original.data, "expect": expect}), keep_states=True
    )
    assert failing.failures
    passing = run_scenario(load_scenario(LIBRARY / PASSING, LIBRARY), keep_states=True)
    assert not passing.failures
    return failing.record(), passing.record()


def open_report(chromium: Browser, document: dict[str, Any], path: Path) -> Page:
    write_html(document, path)
    page = chromium.open(path)
    page.wait_for("#app[data-state='ready']")  # decoded and drawn
    assert page.find_all("main.scenarios")
    return page


def click(page: Page, selector: str) -> None:
    """Click the element in the middle of the viewport (clear of the sticky filter bar)."""
    element = page.find(selector)
    page.run("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


def plugins_that_ran(boot: dict[str, Any]) -> int:
    return sum(
        1 for phase in boot["phases"] for run in phase["plugins"] if run["outcome"] != "skipped"
    )


def classes(page: Page, selector: str) -> list[str]:
    return (page.find(selector).get_attribute("class") or "").split()


def assert_quiet(page: Page) -> None:
    assert [str(m) for m in page.errors()] == []
    assert page.foreign_requests() == []
    assert page.run("return document.images.length") == 0


# --- the page's bytes --------------------------------------------------------------------------


def test_the_same_document_gives_the_same_page_and_the_document_reads_back() -> None:
    document = sample_document()
    page = render_html(document)
    assert render_html(sample_document()) == page
    assert read_document(page) == document
    ((_, data),) = DATA.findall(page)
    assert BASE64.fullmatch(data)
    assert gzip.decompress(base64.b64decode(data))[:1] == b"{"
    assert page.count("</script>") == 2  # the data's and the program's own


def test_text_that_could_end_the_script_element_cannot_reach_the_markup() -> None:
    hostile = {"a": "</script><!-- \u2028\u2029 & >" + HOSTILE}
    text = embed_document(hostile)
    assert BASE64.fullmatch(text)  # no <, >, &, quote or line separator can be written
    page = render_html({**sample_document(), "title": "t", "scenarios": [], "extra": hostile})
    assert read_document(page)["extra"] == hostile
    assert HOSTILE not in page and "</script><!--" not in page


def test_a_page_without_a_readable_document_is_an_error() -> None:
    page = render_html(sample_document())
    with pytest.raises(ValueError, match="no guestsim-report element"):
        read_document(page.replace('id="guestsim-report"', 'id="other"'))
    with pytest.raises(ValueError, match="does not decode"):
        read_document(DATA.sub(lambda m: m[1] + m[2][:200] + "</script>", page))


class Tags(HTMLParser):
    """The elements of a page's markup (not those its script makes) and their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append((tag, attrs))


def test_the_page_names_nothing_to_load() -> None:
    page = render_html(sample_document())
    # The document holds guest URLs, compressed (data); nothing in the page names one.
    assert not re.search(r"https?://", page, re.IGNORECASE)
    assert not re.search(r"@import|url\(", page, re.IGNORECASE)
    tags = Tags()
    tags.feed(page)
    assert [name for name, _ in tags.seen] == [
        "html", "head", "meta", "meta", "meta", "meta", "meta", "title", "link", "style",
        "body", "h1", "noscript", "p", "div", "script", "script",
    ]  # fmt: skip
    for _, attrs in tags.seen:
        for name, value in attrs:
            if name in ("src", "href", "action", "srcset", "data", "poster", "background"):
                assert (value or "").startswith(("data:", "#")), (name, value)
    # The policy runs only this script and style: what the markup holds, by hash.
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert policy is not None
    (script,) = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    (style,) = re.findall(r"<style>(.*?)</style>", page, re.DOTALL)
    for kind, body in (("script-src", script), ("style-src", style)):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"{kind} 'sha256-{digest}'" in policy.group(1)
    assert "default-src 'none'" in policy.group(1)


def test_the_title_is_escaped_in_the_markup() -> None:
    page = render_html(sample_document())
    assert "<title>guestsim sample &lt;/script&gt;&lt;img" in page
    assert "<img" not in page


def _damaged(data: str, case: str) -> str:
    if case == "truncated":
        return data[: len(data) // 8 * 4]
    if case == "not base64":
        return "@@ not base64 @@"
    if case == "not gzip":
        return base64.b64encode(b'{"version": 1}').decode()
    return base64.b64encode(gzip.compress(b'{"version": 1, "kind": ', mtime=0)).decode()


@pytest.mark.parametrize("case", ["truncated", "not base64", "not gzip", "not JSON"])
def test_a_damaged_payload_shows_an_error_in_the_page(
    case: str, chromium: Browser, tmp_path: Path
) -> None:
    page_text = render_html(sample_document())
    damaged = DATA.sub(lambda m: m[1] + _damaged(m[2], case) + "</script>", page_text)
    with pytest.raises(ValueError):
        read_document(damaged)
    path = tmp_path / "damaged.html"
    path.write_text(damaged, encoding="utf-8")
    page = chromium.open(path)
    page.wait_for("#app[data-state='error']")
    message = page.find("#app .load-error")
    assert message.is_displayed()
    reason = {"not base64": "it is not base64", "not JSON": "it is not JSON"}
    expected = reason.get(case, "it does not decompress")
    assert message.text.startswith(f"This report's data could not be read: {expected}")
    assert "truncated or damaged" in message.text
    assert page.find_all("table#summary, main.scenarios") == []
    assert_quiet(page)


# --- real runs ---------------------------------------------------------------------------------


def test_a_failing_and_a_passing_run_in_chromium(chromium: Browser, tmp_path: Path) -> None:
    document = run_document(list(records()))
    page = open_report(chromium, document, tmp_path / "report.html")
    assert page.find("#s0").get_attribute("data-verdict") == "fail"
    assert page.find("#s0 > details").get_attribute("open") is not None  # a failure starts open
    assert page.find("#s1 > details").get_attribute("open") is None
    page.screenshot(tmp_path / "report.png", full_page=True)

    rows = page.find_all("table#summary tr.scenario-row")
    assert [r.get_attribute("data-verdict") for r in rows] == ["fail", "pass"]
    (failure,) = document["scenarios"][0]["failures"]
    shown = page.find("#s0 .failure")
    assert shown.is_displayed()
    assert failure["text"] in shown.text

    click(page, "#s1 > details > summary")
    for record, entry in zip(records(), document["scenarios"], strict=True):
        # The right count comes from the run's own trace, not from the document drawn.
        events = [json.loads(line) for line in record.trace_jsonl.splitlines() if line.strip()]
        started = Counter(e["boot"] for e in events if e["kind"] == "plugin_start")
        page.wait_for(f'section.scenario#{entry["id"]}[data-rendered="true"]')
        boots = entry["timeline"]["boots"]
        assert page.run(
            "return arguments[0].querySelectorAll('svg.boot-timeline').length",
            page.find(f"#{entry['id']}"),
        ) == len(boots)
        for boot in boots:
            svg = f'#{entry["id"]} svg.boot-timeline[data-boot="{boot["number"]}"]'
            bars = len(page.find_all(f"{svg} rect.plugin-bar"))
            assert bars == plugins_that_ran(boot) == started[boot["number"]]
            assert len(page.find_all(f"{svg} rect.phase")) == len(boot["phases"])
            assert len(page.find_all(f"{svg} .mark")) == len(boot["marks"])
            skipped = sum(
                1 for p in boot["phases"] for r in p["plugins"] if r["outcome"] == "skipped"
            )
            assert len(page.find_all(f"{svg} .plugin-skipped")) == skipped
    # The passing scenario's second boot skips what the first did.
    assert page.find_all("#s1 svg[data-boot='2'] .plugin-skipped")
    page.screenshot(tmp_path / "report-open.png", full_page=True)
    assert_quiet(page)


# --- the page's behaviour, on a document written by hand ------------------------------------------


def test_the_filters_hide_rows_and_sections(chromium: Browser, tmp_path: Path) -> None:
    page = open_report(chromium, sample_document(), tmp_path / "sample.html")

    def visible() -> list[str | None]:
        return [
            row.get_attribute("data-id")
            for row in page.find_all("tr.scenario-row")
            if row.is_displayed()
        ]

    assert visible() == ["s0", "s1", "s2"]
    page.find("#filter").send_keys("NEEDS-upstream")
    assert visible() == ["s2"]
    assert not page.find("section#s1").is_displayed()
    assert "1 of 3" in page.find("#shown-count").text
    page.find("#filter").clear()
    page.run("arguments[0].dispatchEvent(new Event('input'))", page.find("#filter"))
    assert visible() == ["s0", "s1", "s2"]
    page.find("#verdict-filter option[value='fail']").click()
    assert visible() == ["s1"]
    assert page.find("section#s1").is_displayed()
    assert not page.find("section#s0").is_displayed()
    assert_quiet(page)


def test_a_cut_cell_opens_that_runs_section(chromium: Browser, tmp_path: Path) -> None:
    document = sample_document()
    page = open_report(chromium, document, tmp_path / "explore.html")
    cells = page.find_all("table#cut-matrix td.cut")
    assert [c.get_attribute("data-outcome") for c in cells] == [
        cut["outcome"] for cut in document["explore"][0]["cuts"]
    ]
    assert page.find_all("section.scenario#s0c3") == []  # cut runs are drawn when asked for
    click(page, "table#cut-matrix td.cut[data-outcome='diverged']")
    page.wait_for('section.scenario#s0c3[data-rendered="true"]')
    section = page.find("section#s0c3")
    assert section.is_displayed()
    assert page.find("#s0c3 .failure").text.startswith("cut 3: diverged")
    cut = next(e for e in document["scenarios"] if e["id"] == "s0c3")
    for boot in cut["timeline"]["boots"]:
        bars = page.find_all(
            f"#s0c3 svg.boot-timeline[data-boot='{boot['number']}'] rect.plugin-bar"
        )
        assert len(bars) == plugins_that_ran(boot)
    assert "selected" in classes(page, "td.cut[data-index='3']")
    page.screenshot(tmp_path / "explore.png")
    assert_quiet(page)
    # A link to a cut run opens it too.
    linked = chromium.open((tmp_path / "explore.html").as_uri() + "#s0c5")
    linked.wait_for('section.scenario#s0c5[data-rendered="true"]')
    assert linked.find("section#s0c5").is_displayed()
    assert_quiet(linked)


def test_a_failures_event_link_highlights_its_mark(chromium: Browser, tmp_path: Path) -> None:
    page = open_report(chromium, sample_document(), tmp_path / "sample.html")
    page.reveal("#s1", 'section#s1[data-rendered="true"]')
    links = page.find_all("#s1 .failure a.event-link")
    assert [link.get_attribute("data-seq") for link in links] == ["12", "33", "45", "31"]
    click(page, "#s1 .failure a.event-link[data-seq='45']")
    assert {"highlight", "mark-power_loss"} <= set(classes(page, "#s1-m45"))
    assert "power cut at side effect 7" in page.find("#s1 .mark-detail").text
    click(page, "#s1 .failure a.event-link[data-seq='31']")
    assert "highlight" not in classes(page, "#s1-m45")
    assert "highlight" in classes(page, "#s1-m31")
    assert_quiet(page)


def test_hostile_guest_text_shows_as_text(chromium: Browser, tmp_path: Path) -> None:
    page = open_report(chromium, sample_document(), tmp_path / "sample.html")
    page.run("window.alert = () => { document.title = 'ALERTED'; };")
    page.reveal("#s1", 'section#s1[data-rendered="true"]')
    click(page, "#s2 > details > summary")
    click(page, "#s1 details.state-changes > summary")
    click(page, "#s1 details.events > summary")
    click(page, "table#cut-matrix td.cut[data-outcome='crashed']")
    page.wait_for('section#s0c6[data-rendered="true"]')
    assert HOSTILE in page.find("h1").text
    assert HOSTILE in page.find("#s1 .failure").text
    assert HOSTILE in page.find("#s1 .state-changes table").text
    assert HOSTILE in page.find("#s2 .skip-reason").text
    assert page.run("return document.querySelectorAll('img, b, iframe, object').length") == 0
    titles = page.run(
        "return [...document.querySelectorAll('#s1 svg title')].map(t => t.textContent)"
    )
    assert any(HOSTILE in title for title in titles)
    assert page.driver.title != "ALERTED"
    assert_quiet(page)


def test_the_page_reads_in_the_dark(chromium: Browser, tmp_path: Path) -> None:
    light = open_report(chromium, sample_document(), tmp_path / "sample.html")
    background = "return getComputedStyle(document.body).backgroundColor"
    assert light.run(background) == "rgb(255, 255, 255)"
    chromium.driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    dark = chromium.open(tmp_path / "sample.html")
    assert dark.run(background) != "rgb(255, 255, 255)"
    dark.screenshot(tmp_path / "dark.png")
    assert_quiet(dark)


def test_a_big_report_opens_with_only_what_is_in_view_drawn(
    chromium: Browser, tmp_path: Path
) -> None:
    document = big_document(count=300, boots_each=4)
    page = open_report(chromium, document, tmp_path / "big.html")
    timing = page.timing()
    assert len(page.find_all("tr.scenario-row")) == 300
    # Generous: the load is measured by the benchmark; here it only must not be absurd.
    assert timing.load_ms < 10_000, timing
    # The summary table fills the screen: no section is drawn yet.
    assert page.find_all('section.scenario[data-rendered="true"]') == []
    page.run("document.getElementById('s4').scrollIntoView()")
    page.wait_for('section#s4[data-rendered="true"]')
    assert len(page.find_all('section.scenario[data-rendered="true"]')) < 10  # of 60 failing
    page.run("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_until(
        "document.querySelector('#s298 details').open === false"
        " && document.querySelector('#s299[data-rendered=\"true\"]') !== null"
    )
    assert_quiet(page)


def test_a_drag_across_a_timeline_zooms_in_and_the_button_out(
    chromium: Browser, tmp_path: Path
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    page = open_report(chromium, sample_document(), tmp_path / "sample.html")
    page.reveal("#s1", 'section#s1[data-rendered="true"]')
    svg = "#s1 svg.boot-timeline[data-boot='1']"
    element = page.find(svg)
    page.run("arguments[0].scrollIntoView({block: 'center'});", element)
    assert len(page.find_all(f"{svg} rect.plugin-bar")) == 3
    # The right tenth of the picture: the MAIN stage after the 525 s wait.
    width = element.size["width"]
    (
        ActionChains(page.driver)
        .move_to_element_with_offset(element, int(width * 0.4) - 2, 0)
        .click_and_hold()
        .move_by_offset(1, 0)
        .move_to_element_with_offset(element, width // 2 - 2, 0)
        .release()
        .perform()
    )
    page.wait_for(f"{svg}.zoomed")
    zoomed = page.find(svg)
    assert len(page.find_all(f"{svg} rect.plugin-bar")) == 3
    assert len(page.find_all(f"{svg} .mark")) < 10  # the discovery's requests are left out
    zoomed.screenshot(str(tmp_path / "zoomed.png"))
    click(page, "#s1 .boot .zoom-reset")
    page.wait_until(f"!document.querySelector(\"{svg}\").classList.contains('zoomed')")
    assert len(page.find_all(f"{svg} .mark")) == 10
    assert_quiet(page)


def test_long_guest_text_wraps_rather_than_widening_the_page(
    chromium: Browser, tmp_path: Path
) -> None:
    """An outcome, a path or a boot's ending can be one long word (an agent hung on a long
    URL): at 800 px the page still fits its window (nothing scrolls sideways)."""
    url = "http://169.254.169.254/openstack/latest/" + "a" * 300
    document = sample_document()
    failing = next(e for e in document["scenarios"] if e["id"] == "s1")
    failing["outcome"] = f"agent hung on GET {url}"
    failing["path"] = "scenarios/" + "p" * 300 + ".yaml"
    for boot in failing["timeline"]["boots"]:
        boot["ended_with"] = f"agent hung on GET {url}"
    chromium.driver.set_window_size(800, 900)
    page = open_report(chromium, document, tmp_path / "long.html")
    page.run("document.getElementById('s1').scrollIntoView()")
    page.wait_for('section#s1[data-rendered="true"]')
    click(page, "#s2 > details > summary")
    page.screenshot(tmp_path / "long.png", full_page=True)
    assert page.run(
        "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    ), page.run("return [document.documentElement.scrollWidth, innerWidth]")
    assert_quiet(page)


def test_a_report_of_one_scenario_shows_its_timeline_at_once(
    chromium: Browser, tmp_path: Path
) -> None:
    """``guestsim trace --html`` writes one passing scenario: it is what the page is about, so
    it starts open and drawn rather than folded away."""
    document = sample_document()
    document.update(kind="trace", explore=None, scenarios=[document["scenarios"][0]])
    page = open_report(chromium, document, tmp_path / "trace.html")
    page.reveal("#s0", 'section#s0[data-rendered="true"]')
    assert page.find("#s0 > details").get_attribute("open") is not None
    assert page.find("#s0 svg.boot-timeline[data-boot='1']").is_displayed()
    assert_quiet(page)


def _contrast(a: str, b: str) -> float:
    """The WCAG contrast ratio of two computed ``rgb(...)`` colours."""

    def luminance(colour: str) -> float:
        channels = [int(c) / 255 for c in re.findall(r"\d+", colour)[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_cut_matrix_headings_read_in_both_schemes(
    scheme: str, chromium: Browser, tmp_path: Path
) -> None:
    """The outcome headings of the cut matrix are text on the outcome's colour: readable
    (WCAG AA, 4.5:1) in the light and the dark scheme alike."""
    document = sample_document()
    document["explore"][0]["cuts"][1]["outcome"] = "hung"
    document["explore"][0]["cuts"][4]["outcome"] = "not_modelled"
    chromium.driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
    )
    page = open_report(chromium, document, tmp_path / "matrix.html")
    colours = page.run(
        "return [...document.querySelectorAll('#cut-matrix th.outcome-head')].map(t => {"
        "  const s = getComputedStyle(t); return [t.textContent, s.color, s.backgroundColor];"
        "})"
    )
    assert len(colours) == 6
    poor = [(name, round(_contrast(fg, bg), 2)) for name, fg, bg in colours]
    assert [p for p in poor if p[1] < 4.5] == [], poor
