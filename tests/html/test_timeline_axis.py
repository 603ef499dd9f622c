"""The timeline's horizontal axis in Chromium: virtual time where it passes, event order where
it does not.

Most boots take no virtual time but for a wait or two: on a linear time axis all their work
would sit on one pixel. The order axis spreads the events of one instant in the order they
happened (each drawn edge is placed by its time and its event's seq) and keeps waits to
scale, so a 525 s discovery still dwarfs the instant work around it. A switch under each
picture draws strictly linear virtual time instead; zoom works in both.
"""

from __future__ import annotations

import itertools
import json
from functools import cache
from pathlib import Path
from typing import Any

from guestsim.simulator.html import run_document, write_html
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import RunRecord, load_scenario, run_scenario
from tests.html.chromium import Browser, Page
from tests.html.sample import sample_document

LIBRARY = bundled("scenarios")
INSTANT = "clouds/cloudstack-password-once.yaml"  # boot 1: 0 s, three plugins
AZURE = "clouds/azure-wireserver-fallback.yaml"  # 525 s of discovery, then instant work


@cache
def record(path: str) -> RunRecord:
    return run_scenario(load_scenario(LIBRARY / path, LIBRARY), keep_states=True).record()


def events(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in record(path).trace_jsonl.splitlines() if line.strip()]


def open_run(chromium: Browser, path: str, folder: Path) -> Page:
    """The report of one library run: the one scenario starts open and drawn."""
    html = folder / (Path(path).stem + ".html")
    write_html(run_document([record(path)]), html)
    page = chromium.open(html)
    page.wait_for("#app[data-state='ready']")
    page.reveal("#s0", 'section#s0[data-rendered="true"]')
    return page


def numbers(page: Page, selector: str, script: str) -> list[Any]:
    """``script`` (a function of ``el``) over every element matching ``selector``."""
    return list(
        page.run(
            f"return [...document.querySelectorAll(arguments[0])].map((el) => {script});",
            selector,
        )
    )


def assert_quiet(page: Page) -> None:
    assert [str(m) for m in page.errors()] == []
    assert page.foreign_requests() == []


def bar_starts(page: Page, svg: str) -> dict[int, float]:
    """Each plugin bar's left edge, by the seq of its plugin_start event."""
    pairs = numbers(page, f"{svg} rect.plugin-bar", "[+el.dataset.seq, +el.getAttribute('x')]")
    return {int(seq): float(x) for seq, x in pairs}


def switch_to_linear(page: Page, svg: str) -> None:
    box = page.find(f"{svg}").find_element(
        "xpath", "ancestor::div[@class='boot']//input[contains(@class, 'axis-linear')]"
    )
    page.run("arguments[0].scrollIntoView({block: 'center'});", box)
    box.click()
    page.wait_for(f'{svg}[data-axis="linear"]')


def test_the_plugins_of_an_instant_boot_are_spread_in_the_order_they_started(
    chromium: Browser, tmp_path: Path
) -> None:
    started = [e for e in events(INSTANT) if e["kind"] == "plugin_start" and e["boot"] == 1]
    assert len(started) >= 3 and len({e["t_ms"] for e in started}) == 1  # all at one instant
    page = open_run(chromium, INSTANT, tmp_path)
    svg = "#s0 svg.boot-timeline[data-boot='1']"
    assert page.find(svg).get_attribute("data-axis") == "order"
    starts = bar_starts(page, svg)
    assert sorted(starts) == [e["seq"] for e in started]
    xs = [starts[e["seq"]] for e in started]
    assert all(b - a >= 5 for a, b in itertools.pairwise(xs)), xs  # apart, in order
    page.find(svg).screenshot(str(tmp_path / "instant.png"))

    # Strictly linear virtual time: one instant, one position.
    switch_to_linear(page, svg)
    assert len(set(bar_starts(page, svg).values())) == 1
    assert_quiet(page)


def test_a_long_wait_still_dwarfs_the_instant_work_around_it(
    chromium: Browser, tmp_path: Path
) -> None:
    page = open_run(chromium, AZURE, tmp_path)
    svg = "#s0 svg.boot-timeline[data-boot='1']"
    assert page.find(svg).get_attribute("data-axis") == "order"

    def widths() -> tuple[float, float]:
        shown = numbers(
            page,
            f"{svg} rect.phase",
            "[el.classList.contains('phase-discovery'), +el.getAttribute('width')]",
        )
        (discovery,) = [w for is_discovery, w in shown if is_discovery]
        return discovery, sum(w for is_discovery, w in shown if not is_discovery)

    discovery, others = widths()
    assert discovery > others, (discovery, others)
    # The plugins of MAIN, at one instant after the wait, are still apart and in order.
    xs = [x for _, x in sorted(bar_starts(page, svg).items())]
    assert len(xs) == 2 and xs[1] - xs[0] >= 5, xs
    # Seconds are labelled where time has moved, each once, and no two labels overlap.
    labels = numbers(page, f"{svg} .axis text", "el.textContent")
    assert labels[0] == "0 s" and "525 s" in labels and "528 s" in labels
    assert len(labels) == len(set(labels))
    boxes = sorted(
        numbers(
            page,
            f"{svg} .axis text",
            "(({left, right}) => [left, right])(el.getBoundingClientRect())",
        )
    )
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(boxes)), boxes
    page.find(svg).screenshot(str(tmp_path / "azure.png"))

    switch_to_linear(page, svg)
    discovery_linear, others_linear = widths()
    assert discovery_linear > discovery and discovery_linear > 50 * others_linear
    assert_quiet(page)


def drag(page: Page, svg: str, start: float, end: float) -> None:
    """Drag across the picture from ``start`` to ``end`` (fractions of its plot: the width
    right of the lane labels, as the picture's phase rects span it)."""
    from selenium.webdriver.common.action_chains import ActionChains

    element = page.find(svg)
    page.run("arguments[0].scrollIntoView({block: 'center'});", element)
    left, right, middle = (
        float(v)
        for v in page.run(
            "const box = arguments[0].getBoundingClientRect();"
            "const rects = [...arguments[0].querySelectorAll('rect.phase')]"
            "  .map((el) => el.getBoundingClientRect());"
            "return [Math.min(...rects.map((r) => r.left)), Math.max(...rects.map((r) => r.right)),"
            "  box.left + box.width / 2];",
            element,
        )
    )

    def at(fraction: float) -> int:
        return round(left + fraction * (right - left) - middle)

    (
        ActionChains(page.driver)
        .move_to_element_with_offset(element, at(start), 0)
        .click_and_hold()
        .move_by_offset(1, 0)
        .move_to_element_with_offset(element, at(end), 0)
        .release()
        .perform()
    )
    page.wait_for(f"{svg}.zoomed")


def test_a_drag_zooms_in_on_either_axis(chromium: Browser, tmp_path: Path) -> None:
    page = open_run(chromium, AZURE, tmp_path)
    svg = "#s0 svg.boot-timeline[data-boot='1']"
    marks = len(page.find_all(f"{svg} .mark"))
    # Order axis: the right fifth holds MAIN's plugins and the stop-service wait.
    drag(page, svg, 0.75, 0.999)
    assert len(page.find_all(f"{svg} rect.plugin-bar")) == 2
    assert len(page.find_all(f"{svg} .mark")) < marks / 4  # the discovery's waits are left out
    xs = [x for _, x in sorted(bar_starts(page, svg).items())]
    assert xs[1] - xs[0] > 40, xs  # drawn wider than before the zoom
    page.find(svg).screenshot(str(tmp_path / "zoomed-order.png"))
    page.find("#s0 .boot .zoom-reset").click()
    page.wait_until(f"!document.querySelector(\"{svg}\").classList.contains('zoomed')")
    assert len(page.find_all(f"{svg} .mark")) == marks

    # Linear axis: the last percent of the 528 s holds MAIN and the wait.
    switch_to_linear(page, svg)
    drag(page, svg, 0.99, 0.9995)
    assert page.find(svg).get_attribute("data-axis") == "linear"
    assert len(page.find_all(f"{svg} rect.plugin-bar")) == 2
    assert len(page.find_all(f"{svg} .mark")) < marks / 4
    assert_quiet(page)


def test_a_document_without_the_order_is_drawn_on_linear_time(
    chromium: Browser, tmp_path: Path
) -> None:
    """A document that gives no seqs for the boots' edges (written by hand, or before they
    were given) is drawn on virtual time alone, with no switch to offer."""
    document = sample_document()
    for entry in document["scenarios"]:
        for boot in (entry["timeline"] or {}).get("boots", []):
            assert "first_seq" not in boot
    html = tmp_path / "sample.html"
    write_html(document, html)
    page = chromium.open(html)
    page.reveal("#s1", 'section#s1[data-rendered="true"]')
    axes = numbers(page, "#s1 svg.boot-timeline", "el.dataset.axis")
    assert axes and set(axes) == {"linear"}
    assert page.find_all("#s1 input.axis-linear") == []
    assert_quiet(page)
