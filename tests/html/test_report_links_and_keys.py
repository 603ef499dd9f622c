"""The HTML report's ways in, in headless Chromium: a link straight to an item of a timeline,
a finding's failure line leading to its cuts in the matrix, the keyboard on the timelines; and
what the page says where there is nothing to draw (no boot ran, a cut whose run the report
does not hold) or to look up (every mark kind has its legend entry).

The documents are written by hand (tests/html/sample.py), changed here for each case.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import re
from pathlib import Path
from typing import Any

from guestsim.simulator.explore import explore_power_loss
from guestsim.simulator.html import explore_document, write_html
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import load_scenario
from guestsim.simulator.timeline import Mark
from tests.html.chromium import Browser, Page
from tests.html.sample import HOSTILE, mark, sample_document

LIBRARY = bundled("scenarios")
# Three findings, all declared known: the test declares none.
EXPLORED = "power-loss/winrm-certificate-auth-after-a-cut.yaml"
# What is scrolled to lies between the sticky filter bar and the bottom of the window.
IN_VIEW = (
    "(() => {{ const box = {}.getBoundingClientRect();"
    " return box.top >= 40 && box.bottom <= innerHeight; }})()"
)


def open_report(chromium: Browser, document: dict[str, Any], path: Path, hash: str = "") -> Page:
    write_html(document, path)
    page = chromium.open(path.resolve().as_uri() + hash)
    page.wait_for("#app[data-state='ready']")
    return page


def in_view(page: Page, element_id: str) -> None:
    """Wait until the element is scrolled into the window (the page scrolls smoothly)."""
    page.wait_until(IN_VIEW.format(f"document.getElementById({json.dumps(element_id)})"))


def classes(page: Page, selector: str) -> list[str]:
    return (page.find(selector).get_attribute("class") or "").split()


def assert_quiet(page: Page) -> None:
    assert [str(m) for m in page.errors()] == []
    assert page.foreign_requests() == []


def keys(page: Page, *sent: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(page.driver).send_keys(*sent).perform()


# --- a link to an item -------------------------------------------------------------------------


def test_a_link_to_a_mark_opens_its_scenario_and_shows_the_mark(
    chromium: Browser, tmp_path: Path
) -> None:
    """#s0-m21 names a mark of the passing scenario, which starts folded and undrawn: the
    page opens and draws it, highlights the mark, says what it is and scrolls to it."""
    page = open_report(chromium, sample_document(), tmp_path / "sample.html", "#s0-m21")
    page.wait_for('section#s0[data-rendered="true"]')
    assert page.find("#s0 > details").get_attribute("open") is not None
    assert {"mark-os", "highlight"} <= set(classes(page, "#s0-m21"))
    assert "set_computer_name app-server-02" in page.find("#s0 .mark-detail").text
    in_view(page, "s0-m21")
    assert_quiet(page)

    # A later change of the address: a plugin run of a cut run (drawn only when asked for).
    assert page.find_all("section#s0c3") == []
    page.run("location.hash = '#s0c3-p20'")
    page.wait_for('section#s0c3[data-rendered="true"]')
    assert {"plugin-bar", "highlight"} <= set(classes(page, "#s0c3-p20"))
    assert "SetHostNamePlugin" in page.find("#s0c3 .mark-detail").text
    in_view(page, "s0c3-p20")
    # The one highlight of a scenario moves with the link.
    page.run("location.hash = '#s0-m22'")
    page.wait_until("document.getElementById('s0-m22').classList.contains('highlight')")
    assert "highlight" not in classes(page, "#s0-m21")
    in_view(page, "s0-m22")
    assert_quiet(page)


def test_a_link_to_a_mark_outside_a_zoomed_window_shows_the_whole_boot(
    chromium: Browser, tmp_path: Path
) -> None:
    page = open_report(chromium, sample_document(), tmp_path / "sample.html")
    page.reveal("#s1", 'section#s1[data-rendered="true"]')
    page.run(
        "document.querySelector('#s1 svg.boot-timeline').parentNode._zoom([0, 50]);"
        "location.hash = '#s1-m45';"
    )
    page.wait_until("document.getElementById('s1-m45') !== null")
    assert "highlight" in classes(page, "#s1-m45")
    assert page.find_all("#s1 svg.zoomed") == []
    assert_quiet(page)


def test_an_event_link_names_its_item_in_the_address(chromium: Browser, tmp_path: Path) -> None:
    page = open_report(chromium, sample_document(), tmp_path / "sample.html")
    page.reveal("#s1", 'section#s1[data-rendered="true"]')
    link = page.find("#s1 .failure a.event-link[data-seq='45']")
    page.run("arguments[0].scrollIntoView({block: 'center'});", link)
    link.click()
    assert page.run("return location.hash") == "#s1-m45"
    # The address, opened again, shows the same item.
    address = page.run("return location.href")
    chromium.driver.get("about:blank")
    again = chromium.open(address)
    again.wait_for('section#s1[data-rendered="true"]')
    assert "highlight" in classes(again, "#s1-m45")
    assert_quiet(again)


# --- the legend --------------------------------------------------------------------------------


def mark_kinds() -> set[str]:
    """Every kind of mark the timeline makes, as timeline.Mark documents them."""
    source = inspect.getsource(Mark)
    comment = re.search(r"kind: str((?:\s*#.*\n)+)", source)
    assert comment is not None
    kinds = set(re.findall(r'"(\w+)"', comment[1]))
    assert {"http", "dhcp", "power_loss", "provisioning"} <= kinds
    return kinds


def test_every_mark_kind_has_its_legend_entry(chromium: Browser, tmp_path: Path) -> None:
    document = sample_document()
    failing = next(e for e in document["scenarios"] if e["id"] == "s1")
    unanswered = mark(
        "dhcp",
        10,
        0,
        "DHCP request (option 245) unanswered",
        "metadata discovery",
        end=4000,
        bad=True,
    )
    failing["timeline"]["boots"][0]["marks"].insert(2, unanswered)
    page = open_report(chromium, document, tmp_path / "sample.html")
    entries = page.run(
        "return [...document.querySelectorAll('.legend .legend-item')]"
        ".map((e) => [e.dataset.kinds || '', e.textContent])"
    )
    covered = {kind for kinds, _ in entries for kind in kinds.split()}
    assert mark_kinds() - covered == set()
    (dhcp,) = [text for kinds, text in entries if "dhcp" in kinds.split()]
    assert "DHCP" in dhcp and "unanswered" in dhcp
    # The legend's sample is drawn as the timeline draws an unanswered DHCP request: a bar in
    # the colour of what went wrong.
    page.reveal("#s1", 'section#s1[data-rendered="true"]')
    fill = "return getComputedStyle(document.querySelector(arguments[0])).fill"
    drawn = page.run(fill, "#s1-m10 rect")
    assert drawn == page.run(fill, ".legend .mark-dhcp.bad rect")
    assert drawn != page.run(fill, ".legend .mark-dhcp:not(.bad) rect")
    assert page.run(
        "return document.querySelector('#s1-m10').parentNode.classList.contains('bad-marks')"
    )
    assert_quiet(page)


# --- an exploration's findings -----------------------------------------------------------------


def explored_with_findings() -> dict[str, Any]:
    """The sample's exploration with a finding at two cuts (3 and 5), the reference scenario
    failing with one line per finding, as the document builder writes them."""
    document = sample_document()
    (matrix,) = document["explore"]
    matrix["cuts"][4].update(outcome="diverged", finding="diverged-3")
    matrix["findings"] = [
        {"id": "diverged-3", "outcome": "diverged", "cuts": [3, 5], "known": False},
        {"id": "reboot_loop-4", "outcome": "reboot_loop", "cuts": [4], "known": False},
        {"id": "crashed-6", "outcome": "crashed", "cuts": [6], "known": True},
    ]
    reference = document["scenarios"][0]
    reference["verdict"] = "fail"
    reference["failures"] = [
        {"text": f"{f['id']} (cuts {', '.join(map(str, f['cuts']))})", "events": []}
        for f in matrix["findings"]
        if not f["known"]
    ]
    return document


def test_a_findings_failure_line_leads_to_its_cuts_in_the_matrix(
    chromium: Browser, tmp_path: Path
) -> None:
    page = open_report(chromium, explored_with_findings(), tmp_path / "explore.html")
    page.run("document.getElementById('explore-s0').open = false")
    links = page.find_all("#s0 .failure a.finding-link")
    assert len(links) == 2
    page.run("arguments[0].scrollIntoView({block: 'center'});", links[0])
    links[0].click()
    page.wait_until("document.getElementById('explore-s0').open")
    lit = page.run(
        "return [...document.querySelectorAll('#cut-matrix td.cut.highlight')]"
        ".map((c) => c.dataset.index)"
    )
    assert lit == ["3", "5"]
    assert page.find("#explore-s0 li.finding.highlight strong").text == "diverged-3"
    page.wait_until(IN_VIEW.format("document.querySelector('#cut-matrix td.cut.highlight')"))
    assert page.run("return document.activeElement.closest('td.cut').dataset.index") == "3"
    # The other finding's line moves the highlight to its own cut.
    page.run("arguments[0].scrollIntoView({block: 'center'});", links[1])
    links[1].click()
    lit = page.run(
        "return [...document.querySelectorAll('#cut-matrix td.cut.highlight')]"
        ".map((c) => c.dataset.index)"
    )
    assert lit == ["4"]
    page.screenshot(tmp_path / "finding.png")
    # The links' address opens the exploration's block too.
    page.run("document.getElementById('explore-s0').open = false; location.hash = '#explore-s0';")
    page.wait_until("document.getElementById('explore-s0').open")
    assert_quiet(page)


def test_the_findings_of_a_real_exploration_lead_to_their_cuts(
    chromium: Browser, tmp_path: Path
) -> None:
    """The document builder names the findings of an exploration in its failure lines: each
    line of a library exploration (its known findings undeclared) leads to its cuts."""
    scenario = load_scenario(LIBRARY / EXPLORED, LIBRARY)
    expect = copy.deepcopy(scenario.data["expect"])
    expect["power_loss"]["known_findings"] = []
    scenario = dataclasses.replace(scenario, data={**scenario.data, "expect": expect})
    exploration = explore_power_loss(scenario, None, True)
    findings = [(f.id, list(f.cuts)) for f in exploration.findings]
    assert len(findings) == 3 and not any(f.known for f in exploration.findings)
    page = open_report(chromium, explore_document([exploration]), tmp_path / "explore.html")
    links = page.find_all("#s0 .failure a.finding-link")
    assert len(links) == len(findings)
    for link, (name, cuts) in zip(links, findings, strict=True):
        page.run("arguments[0].scrollIntoView({block: 'center'});", link)
        link.click()
        lit = page.run(
            "return [...document.querySelectorAll('#cut-matrix td.cut.highlight')]"
            ".map((c) => Number(c.dataset.index))"
        )
        assert lit == cuts
        assert page.find("#explore-s0 li.finding.highlight strong").text == name
    assert_quiet(page)


# --- nothing to draw ---------------------------------------------------------------------------


def test_a_scenario_where_no_boot_ran_says_so(chromium: Browser, tmp_path: Path) -> None:
    document = sample_document()
    failing = next(e for e in document["scenarios"] if e["id"] == "s1")
    failing.update(
        boots=0, outcome=f"agent not started: {HOSTILE}", virtual_ms=0, timeline={"boots": []}
    )
    quiet = copy.deepcopy(failing)
    quiet.update(id="s3", name="clouds/no-boot-no-reason", outcome=None)
    document["scenarios"].insert(3, quiet)
    page = open_report(chromium, document, tmp_path / "sample.html")
    page.run("location.hash = '#s1'")
    page.wait_for('section#s1[data-rendered="true"]')
    message = page.find("#s1 .no-boots")
    assert message.is_displayed()
    assert message.text == f"No boot ran: agent not started: {HOSTILE}"
    page.run("location.hash = '#s3'")
    page.wait_for('section#s3[data-rendered="true"]')
    assert page.find("#s3 .no-boots").text == "No boot ran."
    assert page.run("return document.querySelectorAll('img, b').length") == 0
    assert_quiet(page)


def test_a_cut_without_its_run_is_plain_text(chromium: Browser, tmp_path: Path) -> None:
    """Explored without keeping the runs, a cut has no run to open: its cell shows the
    outcome's colour, is no button and not focusable, and its title says why."""
    document = sample_document()
    (matrix,) = document["explore"]
    matrix["cuts"][2]["run"] = None  # cut 3: null
    del matrix["cuts"][3]["run"]  # cut 4: missing
    document["scenarios"] = [e for e in document["scenarios"] if e["id"] not in ("s0c3", "s0c4")]
    page = open_report(chromium, document, tmp_path / "explore.html")
    for index in (3, 4):
        cell = page.find(f"#cut-matrix td.cut[data-index='{index}']")
        assert (
            page.run("return arguments[0].querySelectorAll('button, a, [tabindex]').length", cell)
            == 0
        )
        assert "not in this report" in (cell.get_attribute("title") or "")
        assert cell.get_attribute("data-outcome") in ("diverged", "reboot_loop")
        static = page.find(f"#cut-matrix td.cut[data-index='{index}'] .cut-static")
        assert static.is_displayed()
        assert page.run("return arguments[0].tabIndex", static) == -1
        page.run("arguments[0].scrollIntoView({block: 'center'});", cell)
        static.click()
    assert page.find_all("section.scenario#s0c3, section.scenario#s0c4") == []
    # The cells with a run are still buttons.
    assert len(page.find_all("#cut-matrix td.cut button.cut-button")) == 4
    page.screenshot(tmp_path / "no-run.png")
    assert_quiet(page)


# --- the keyboard ------------------------------------------------------------------------------


def start_of(boot: dict[str, Any], element_class: str, seq: int) -> int:
    """The start (ms) of what the document says an element of ``boot`` with that seq is."""
    if "mark" in element_class.split():
        return int(next(m["start_ms"] for m in boot["marks"] if m["seq"] == seq))
    for phase in boot["phases"]:
        for run in phase["plugins"]:
            if run["seq"] == seq:
                return int(run["start_ms"])
        for probe in phase["probes"]:
            if probe["seq"] == seq:
                return int(probe["start_ms"])
    raise AssertionError(f"no item {seq}")


def test_the_timeline_is_reached_and_read_with_the_keyboard(
    chromium: Browser, tmp_path: Path
) -> None:
    """Tab reaches each boot's picture; the arrow keys move through its bars and marks in time
    order, the line under it (aria-live) saying which; Enter selects one as a click does."""
    from selenium.webdriver.common.keys import Keys

    document = sample_document()
    page = open_report(chromium, document, tmp_path / "sample.html")
    page.reveal("#s1", 'section#s1[data-rendered="true"]')
    svg = "#s1 svg.boot-timeline[data-boot='1']"
    last_link = page.find("#s1 .failure a.event-link[data-seq='31']")
    page.run("arguments[0].focus();", last_link)
    keys(page, Keys.TAB)
    assert page.run(f'return document.activeElement.matches("{svg}")')
    detail = page.find("#s1 .mark-detail")
    assert detail.get_attribute("aria-live") == "polite"

    boot = document["scenarios"][1]["timeline"]["boots"][0]
    items = page.run(
        f'return document.querySelectorAll("{svg} .mark, {svg} .plugin-bar, '
        f'{svg} .probe, {svg} .plugin-skipped").length'
    )
    visited = []
    for step in range(items):
        keys(page, Keys.ARROW_RIGHT)
        focused = page.run(
            f'const el = document.querySelector("{svg} .kb-focus");'
            "return [el.getAttribute('class'), Number(el.dataset.seq),"
            " el.querySelector(':scope > title').textContent];"
        )
        element_class, seq, title = focused
        assert detail.text == f"{step + 1} of {items}: {title}"
        visited.append((start_of(boot, element_class, seq), element_class.split()[0], seq))
    assert len(set(visited)) == items  # each once
    times = [start for start, _, _ in visited]
    assert times == sorted(times)  # in time order
    assert page.run(f'return document.activeElement.matches("{svg}")')
    page.screenshot(tmp_path / "keyboard.png")

    keys(page, Keys.HOME)
    assert detail.text.startswith(f"1 of {items}: ")
    keys(page, Keys.END)
    assert detail.text.startswith(f"{items} of {items}: power cut at side effect 7")
    keys(page, Keys.ARROW_RIGHT)  # stays on the last
    assert detail.text.startswith(f"{items} of {items}: ")
    keys(page, Keys.ENTER)
    assert "highlight" in classes(page, "#s1-m45")
    assert_quiet(page)


def test_the_keys_stay_fast_on_a_boot_of_thousands_of_marks(
    chromium: Browser, tmp_path: Path
) -> None:
    document = sample_document()
    failing = next(e for e in document["scenarios"] if e["id"] == "s1")
    boot = failing["timeline"]["boots"][0]
    boot["marks"][2:2] = [
        mark("http", 1000 + n, 5000 + n, f"GET /retry/{n} → 500", "metadata discovery", bad=True)
        for n in range(3000)
    ]
    page = open_report(chromium, document, tmp_path / "big.html")
    page.reveal("#s1", 'section#s1[data-rendered="true"]')
    spent = page.run(
        "const svg = document.querySelector('#s1 svg.boot-timeline');"
        "svg.focus();"
        "const press = (key) => svg.dispatchEvent("
        "  new KeyboardEvent('keydown', {key, bubbles: true, cancelable: true}));"
        "const t0 = performance.now();"
        "press('ArrowRight');"  # the first press puts the items in order
        "const t1 = performance.now();"
        "for (let i = 0; i < 500; i += 1) press('ArrowRight');"
        "const t2 = performance.now();"
        "return [t1 - t0, (t2 - t1) / 500,"
        " document.querySelector('#s1 .mark-detail').textContent];"
    )
    first, each, text = spent
    assert text.startswith("501 of 3")
    assert first < 100, spent  # generous: a sort of 3000 items
    assert each < 5, spent
    assert_quiet(page)
