"""The HTML report of the whole bundled library: its size, its cost, how fast it opens.

* ``guestsim run --html report.html`` over the library: the file's size (goal: under
  5 MB), the process's wall and CPU time next to a ``guestsim run`` without the report
  (the difference of their CPU times is what building and writing the report costs);
* the size of the document it embeds (JSON, before the page gzips and base64-encodes it);
* opening it in headless Chromium (Debian's chromium + chromium-driver; the figure is
  skipped, saying why, when they or selenium are missing): navigation start to the load
  event's end, to the first paint, to the page drawn (the embedded document decoded and
  the summary built: the page's "guestsim-ready" performance mark), and the time to
  render the first scenario section once it is opened (its details built, then the next
  frame drawn); "opens in" is the later of the load and the drawing plus that render
  (goal: under 2 s). Medians of ``--loads`` loads (at least 5) in one browser;
* the same for ``guestsim explore --power-loss --html`` over the library (``--jobs 2``;
  one process: it takes a while), unless ``--no-explore``.

Medians of whole processes, run with ``nox -s bench``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # tests.html.chromium, the browser driver the tests use
    sys.path.insert(0, str(REPO))

from tests.html.chromium import Browser, chromium_missing, launch  # noqa: E402

GUESTSIM = [sys.executable, "-c", "from guestsim.simulator.cli import main; main()"]
SIZE_GOAL = 5_000_000  # bytes
OPEN_GOAL_MS = 2000.0

# Scroll to the first scenario section and open it (unless it is rendered already); resolve,
# once it is rendered and the next frame is drawn, with the ms that took.
_RENDER_FIRST_JS = """
const done = arguments[arguments.length - 1];
const section = document.querySelector('section.scenario');
if (!section) { done(null); return; }
const start = performance.now();
const painted = () => requestAnimationFrame(() => requestAnimationFrame(
  () => done(performance.now() - start)));
const rendered = () => section.dataset.rendered === 'true';
if (rendered()) { painted(); return; }
new MutationObserver((_, observer) => {
  if (rendered()) { observer.disconnect(); painted(); }
}).observe(section, {attributes: true, attributeFilter: ['data-rendered']});
section.scrollIntoView();  // as a person opens it: in view (drawn when near the viewport)
const details = section.querySelector('details');
if (details) details.open = true;
"""


def html_option(command: str) -> str | None:
    """Why ``guestsim COMMAND --html`` cannot be measured yet, or None."""
    from guestsim.simulator.cli import cli

    found = cli.commands.get(command)
    if found is None or "html_path" not in {p.name for p in found.params}:
        return f"guestsim {command} has no --html option yet"
    return None


def timed(arguments: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one ``guestsim`` process."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "CI": "true"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [*GUESTSIM, *arguments], env=env, stdout=subprocess.DEVNULL, check=False
    )  # failures and findings exit 1
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def medians(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def size_line(path: Path) -> str:
    if not path.is_file():
        return "not written (see the command's own output)"
    size = path.stat().st_size
    verdict = "ok" if size < SIZE_GOAL else "OVER THE GOAL"
    return f"{size:>11,} bytes ({size / 1e6:.2f} MB; goal < 5 MB: {verdict})"


def document_line(path: Path) -> str:
    """The size of the JSON document the page at ``path`` embeds, uncompressed."""
    from guestsim.simulator.html import read_document
    from guestsim.simulator.html.render import document_json

    if not path.is_file():
        return "n/a"
    size = len(document_json(read_document(path.read_text(encoding="utf-8"))))
    return f"{size:>11,} bytes ({size / 1e6:.2f} MB; embedded gzipped, in base64)"


def open_times(browser: Browser, path: Path, loads: int) -> list[str]:
    """Lines: the medians of ``loads`` loads of ``path``."""
    load, paint, drawn, render, total = [], [], [], [], []
    for _ in range(loads):
        browser.driver.get("about:blank")
        page = browser.open(path)
        timing = page.timing(timeout=60)
        page.wait_for("#app[data-state]", timeout=60)  # "ready", or "error": said below
        ready = page.run(
            "const m = performance.getEntriesByName('guestsim-ready')[0];"
            "return m ? m.startTime : null;"
        )
        browser.driver.set_script_timeout(60)
        first = browser.driver.execute_async_script(_RENDER_FIRST_JS)
        load.append(timing.load_event_end_ms)
        if timing.first_paint_ms is not None:
            paint.append(timing.first_paint_ms)
        drawn.append(float(ready) if ready is not None else float("nan"))
        render.append(float(first) if first is not None else 0.0)
        total.append(max(timing.load_event_end_ms, drawn[-1]) + render[-1])
        state = page.run("return document.getElementById('app').dataset.state")
        if state != "ready":
            print(f"    the page is not drawn: {page.find('#app').text[:200]}")
        errors = page.errors()
        if errors:
            print(f"    console: {len(errors)} error(s)/warning(s), the first: {errors[0]}")
    opened = statistics.median(total)
    verdict = "ok" if opened < OPEN_GOAL_MS else "OVER THE GOAL"
    painted = f"{statistics.median(paint):>8.0f} ms" if paint else "     n/a   "
    return [
        f"    navigation start → load end      {statistics.median(load):>8.0f} ms",
        f"    navigation start → first paint   {painted}",
        f"    navigation start → page drawn    {statistics.median(drawn):>8.0f} ms"
        "   (document decoded, summary built)",
        f"    first scenario section rendered  {statistics.median(render):>8.0f} ms",
        f"    opens in (drawn + that render)   {opened:>8.0f} ms   (goal < 2 s: {verdict})",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="guestsim run processes")
    parser.add_argument("--loads", type=int, default=5, help="Chromium loads (at least 5)")
    parser.add_argument("--no-explore", action="store_true", help="skip the explore report")
    args = parser.parse_args()
    loads = max(args.loads, 5)
    not_built = html_option("run")
    if not_built is not None:
        print(f"HTML report: skipped ({not_built})")
        return
    missing = chromium_missing()
    with tempfile.TemporaryDirectory(prefix="guestsim-bench-") as folder:
        run_report = Path(folder) / "run.html"
        with_html = medians(
            [timed(["run", "--html", str(run_report)]) for _ in range(args.repeats)]
        )
        without = medians([timed(["run"]) for _ in range(args.repeats)])
        print(f"HTML report of the whole library (median of {args.repeats} processes)")
        print(f"  guestsim run --html: size       {size_line(run_report)}")
        print(f"    the document it embeds (JSON)  {document_line(run_report)}")
        print(
            f"  guestsim run --html              {with_html[0]:>8.2f} s wall "
            f"{with_html[1]:>6.2f} s CPU"
        )
        print(
            f"  guestsim run (no report)         {without[0]:>8.2f} s wall {without[1]:>6.2f} s CPU"
        )
        print(
            f"  building + writing the report    {with_html[1] - without[1]:>8.2f} s CPU "
            "(the difference; CPU, not wall: the machine may be shared)"
        )
        explore_report = Path(folder) / "explore.html"
        explore_skip = "--no-explore" if args.no_explore else html_option("explore")
        if explore_skip is None:
            wall, cpu = timed(
                ["explore", "--power-loss", "--jobs", "2", "--html", str(explore_report)]
            )
            print("  guestsim explore --power-loss --html (--jobs 2, one process)")
            print(f"    size                           {size_line(explore_report)}")
            print(f"    the document it embeds (JSON)  {document_line(explore_report)}")
            print(f"    the process                    {wall:>8.2f} s wall {cpu:>6.2f} s CPU")
        else:
            print(f"  guestsim explore --power-loss --html: skipped ({explore_skip})")
        if missing is not None:
            print(f"  opening in Chromium: skipped (chromium missing: {missing})")
            return
        if not run_report.is_file():
            return
        with launch(folder) as browser:
            print(f"  opening in Chromium (median of {loads} loads)")
            print("  guestsim run --html")
            for line in open_times(browser, run_report, loads):
                print(line)
            if explore_skip is None and explore_report.is_file():
                print("  guestsim explore --power-loss --html")
                for line in open_times(browser, explore_report, loads):
                    print(line)


if __name__ == "__main__":
    main()
