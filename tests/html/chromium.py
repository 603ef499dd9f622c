"""Headless Chromium for the HTML report's tests and benchmark.

Debian's ``chromium`` and ``chromium-driver`` packages driven by selenium 4; nothing is
downloaded (the driver's path is given, so selenium-manager never runs).

* :func:`chromium_missing` -- why a browser cannot be started here, or None;
* :func:`launch` -- a context manager: one headless Chromium, a :class:`Browser`;
* :func:`open_page` -- a context manager: a browser on one local file, a :class:`Page`.

A :class:`Page` answers what the browser saw: the console (:meth:`Page.console`,
:meth:`Page.errors`), the network requests the page made (:meth:`Page.requests`,
:meth:`Page.foreign_requests`, from the performance log), its load timing
(:meth:`Page.timing`), and takes screenshots (:meth:`Page.screenshot`).

The browser's world is a folder the context manager owns (a fresh temporary folder,
made under ``root`` when one is given; keep it shallow: Chromium's profile lock is a Unix
socket in it, whose path may not exceed 107 bytes): the profile (``--user-data-dir``) and
the HOME, XDG and TMPDIR of chromedriver and the Chromium processes it starts, so that
nothing lands in the user's ``~/.config``, ``~/.cache`` (Chromium writes dconf's cache
there) or the shared ``/tmp`` (its profile lock, shared memory files) (the host guard,
simulator/guard.py, sees only this Python process; the browser's writes are kept in the
folder by its environment instead). ``--disable-dev-shm-usage`` keeps its shared memory
out of ``/dev/shm`` (in TMPDIR, that folder). Under the test suite's guard the only
program started is chromedriver (:data:`HOST_TOOLS`, which tests/html/conftest.py adds as
the ``host_tools`` marker of every test using the ``chromium`` fixture); it listens on a
loopback port that selenium connects to.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: The programs a test using the browser starts (its ``host_tools`` marker): chromedriver,
#: which starts Chromium (/usr/bin/chromium, a shell script) itself.
HOST_TOOLS = (CHROMEDRIVER,)

FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-breakpad",
    "--disable-crash-reporter",
    # Nothing leaves the machine even when a page asks (the request is still logged, and
    # fails): no name resolves, and http(s)/ws go to a loopback port nobody listens on.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
)

#: Schemes of requests that never leave the page: the page's own file is checked apart.
LOCAL_SCHEMES = ("data:", "blob:", "about:")

_SETUP = "apt-get install chromium chromium-driver"


class ChromiumMissing(RuntimeError):
    """No browser can be started here; the message says why (see :func:`chromium_missing`)."""


def selenium_installed() -> bool:
    return importlib.util.find_spec("selenium") is not None


def chromium_missing() -> str | None:
    """Why headless Chromium cannot run here (selenium or a Debian package missing), or
    None. Selenium first: where the test extra is not installed, that is the reason."""
    if not selenium_installed():
        return "selenium is not installed (pip install -e '.[test]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"{path} not found: the Debian package {package} ({_SETUP})"
    return None


@dataclass(frozen=True)
class ConsoleMessage:
    """One entry of the browser's console log."""

    level: str  # "SEVERE" (console.error, uncaught exceptions, failed loads), "WARNING",
    # "INFO", "DEBUG"
    text: str
    source: str  # "javascript", "console-api", "network", ...

    def __str__(self) -> str:
        return f"{self.level} [{self.source}] {self.text}"


@dataclass(frozen=True)
class LoadTiming:
    """A page load, in ms since its navigation started (the Navigation Timing entry and the
    paint entries)."""

    response_start_ms: float
    dom_content_loaded_ms: float  # domContentLoadedEventEnd
    load_event_end_ms: float
    first_paint_ms: float | None  # None: the browser reported no paint
    first_contentful_paint_ms: float | None

    @property
    def load_ms(self) -> float:
        """responseStart to loadEventEnd."""
        return self.load_event_end_ms - self.response_start_ms

    @property
    def paint_ms(self) -> float | None:
        """responseStart to the first paint."""
        if self.first_paint_ms is None:
            return None
        return self.first_paint_ms - self.response_start_ms


_TIMING_JS = """
const nav = performance.getEntriesByType('navigation')[0];
if (!nav || !nav.loadEventEnd) return null;
const paint = {};
for (const p of performance.getEntriesByType('paint')) paint[p.name] = p.startTime;
return {
  response_start: nav.responseStart,
  dom_content_loaded: nav.domContentLoadedEventEnd,
  load_event_end: nav.loadEventEnd,
  first_paint: paint['first-paint'] ?? null,
  first_contentful_paint: paint['first-contentful-paint'] ?? null,
};
"""

# Resolves with performance.now() when an element matches (at once if one does already).
_WAIT_JS = """
const [selector, done] = [arguments[0], arguments[arguments.length - 1]];
if (document.querySelector(selector)) { done(performance.now()); return; }
const observer = new MutationObserver(() => {
  if (document.querySelector(selector)) { observer.disconnect(); done(performance.now()); }
});
observer.observe(document, {subtree: true, childList: true, attributes: true});
"""


@dataclass
class Page:
    """One local file opened in the browser. Valid until the browser opens another."""

    driver: WebDriver
    url: str
    _console: list[ConsoleMessage] = field(default_factory=list)
    _requests: list[str] = field(default_factory=list)

    def _pull(self) -> None:
        for entry in _log(self.driver, "browser"):
            self._console.append(
                ConsoleMessage(
                    str(entry.get("level", "")),
                    str(entry.get("message", "")),
                    str(entry.get("source", "")),
                )
            )
        for entry in _log(self.driver, "performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                url = str(message["params"]["request"]["url"])
                # What the browser loaded before this page's own document (its start page)
                # is not the page's.
                if self._requests or url.split("#", 1)[0] == self.url.split("#", 1)[0]:
                    self._requests.append(url)

    def console(self) -> list[ConsoleMessage]:
        """Every console message since the page was opened."""
        self._pull()
        return list(self._console)

    def errors(self) -> list[ConsoleMessage]:
        """The console's errors and warnings (levels SEVERE and WARNING)."""
        return [m for m in self.console() if m.level in ("SEVERE", "WARNING")]

    def requests(self) -> list[str]:
        """The URL of every request the page made (Network.requestWillBeSent), the page's
        own file first."""
        self._pull()
        return list(self._requests)

    def settle(self, quiet: float = 0.3, timeout: float = 10.0) -> list[str]:
        """Wait for the load event, then until no new request has been made for ``quiet``
        seconds; every request (see :meth:`requests`)."""
        self.timing(timeout)
        deadline = time.monotonic() + timeout
        seen, since = len(self.requests()), time.monotonic()
        while time.monotonic() - since < quiet and time.monotonic() < deadline:
            time.sleep(0.05)
            now = len(self.requests())
            if now != seen:
                seen, since = now, time.monotonic()
        return self.requests()

    def foreign_requests(self) -> list[str]:
        """The requests for anything but the page's own file and data:, blob:, about: URLs
        (a self-contained page makes none)."""
        own = self.url.split("#", 1)[0]
        return [
            url
            for url in self.requests()
            if url.split("#", 1)[0] != own and not url.startswith(LOCAL_SCHEMES)
        ]

    def timing(self, timeout: float = 10.0) -> LoadTiming:
        """The load timing, once the load event has ended."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.driver.execute_script(_TIMING_JS)
            if found is not None:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.url}: no load event within {timeout} s")
            time.sleep(0.01)
        if found["first_paint"] is None:  # painting may follow the load event by a frame
            with contextlib.suppress(TimeoutError):
                self.wait_until("performance.getEntriesByType('paint').length > 0", 1.0)
                found = self.driver.execute_script(_TIMING_JS)
        return LoadTiming(
            response_start_ms=float(found["response_start"]),
            dom_content_loaded_ms=float(found["dom_content_loaded"]),
            load_event_end_ms=float(found["load_event_end"]),
            first_paint_ms=_ms(found["first_paint"]),
            first_contentful_paint_ms=_ms(found["first_contentful_paint"]),
        )

    def wait_for(self, selector: str, timeout: float = 10.0) -> float:
        """Wait until an element matches the CSS ``selector``; the page's clock then (ms
        since its navigation started; the time of the call if one matched already)."""
        self.driver.set_script_timeout(timeout)
        from selenium.common.exceptions import TimeoutException

        try:
            return float(self.driver.execute_async_script(_WAIT_JS, selector))
        except TimeoutException as timeout_error:
            raise TimeoutError(
                f"{self.url}: nothing matches {selector!r} after {timeout} s"
            ) from timeout_error

    def reveal(self, selector: str, ready: str, timeout: float = 10.0) -> float:
        """Scroll the element ``selector`` into view, then wait until ``ready`` matches: for
        what a page builds only when it comes near the viewport."""
        self.driver.execute_script(
            "document.querySelector(arguments[0]).scrollIntoView({block: 'start'});", selector
        )
        return self.wait_for(ready, timeout)

    def wait_until(self, expression: str, timeout: float = 10.0) -> Any:
        """Poll the JavaScript ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.driver.execute_script(f"return ({expression});")
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.url}: {expression!r} still false after {timeout} s")
            time.sleep(0.01)

    def run(self, script: str, *args: Any) -> Any:
        """``driver.execute_script``: the script's ``return`` value."""
        return self.driver.execute_script(script, *args)

    def find(self, selector: str) -> WebElement:
        """The first element matching the CSS ``selector`` (NoSuchElementException if none)."""
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def find_all(self, selector: str) -> list[WebElement]:
        """Every element matching the CSS ``selector``."""
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, selector))

    def screenshot(self, path: str | os.PathLike[str], full_page: bool = False) -> Path:
        """A PNG of the viewport (``full_page``: of the whole page) at ``path``."""
        target = Path(path)
        if not full_page:
            if not self.driver.save_screenshot(str(target)):
                raise RuntimeError(f"{self.url}: no screenshot taken")
            return target
        import base64

        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
        )
        target.write_bytes(base64.b64decode(shot["data"]))
        return target


def _log(driver: WebDriver, name: str) -> list[dict[str, Any]]:
    """The entries of a browser log ("browser": the console, "performance": DevTools
    events) since it was last read (reading drains it)."""
    entries: list[dict[str, Any]] = driver.get_log(name)  # type: ignore[no-untyped-call]
    return entries


def _ms(value: Any) -> float | None:
    return None if value is None else float(value)


class Browser:
    """A running headless Chromium (see :func:`launch`)."""

    def __init__(self, driver: WebDriver, folder: Path) -> None:
        self.driver = driver
        self.folder = folder  # the folder this browser owns (profile, HOME, TMPDIR)

    def open(self, path: str | os.PathLike[str]) -> Page:
        """Open a local file (a path, or a ``file:`` URL); returns once it has loaded
        (document.readyState complete)."""
        url = str(path) if str(path).startswith("file:") else Path(path).resolve().as_uri()
        # Drop what earlier pages logged: the logs are drained as they are read.
        _log(self.driver, "browser")
        _log(self.driver, "performance")
        self.driver.get(url)
        return Page(self.driver, url)


def browser_environment(folder: Path) -> dict[str, str]:
    """The environment of chromedriver and its Chromium: HOME, XDG folders and TMPDIR
    inside ``folder``."""
    env = dict(os.environ)
    for name, sub in (
        ("HOME", "home"),
        ("XDG_CONFIG_HOME", "home/.config"),
        ("XDG_CACHE_HOME", "home/.cache"),
        ("XDG_DATA_HOME", "home/.local/share"),
        ("XDG_STATE_HOME", "home/.local/state"),
        ("TMPDIR", "t"),
    ):
        place = folder / sub
        place.mkdir(parents=True, exist_ok=True)
        env[name] = str(place)
    env.pop("XDG_RUNTIME_DIR", None)
    return env


@contextlib.contextmanager
def launch(
    root: str | os.PathLike[str] | None = None, width: int = 1280, height: int = 900
) -> Iterator[Browser]:
    """Headless Chromium with a fresh profile in a temporary folder of its own (under
    ``root`` when given), removed afterwards. :class:`ChromiumMissing` when it cannot run."""
    reason = chromium_missing()
    if reason is not None:
        raise ChromiumMissing(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    folder = Path(tempfile.mkdtemp(prefix="chromium-", dir=root))
    try:
        # Chromium's profile lock is a Unix socket in TMPDIR: its path has at most 107 bytes.
        socket = folder / "t" / "org.chromium.Chromium.XXXXXX" / "SingletonSocket"
        if len(os.fsencode(socket)) > 107:
            raise RuntimeError(
                f"{folder}: too deep for Chromium's socket ({socket}); use a shorter root"
            )
        options = Options()
        options.binary_location = CHROMIUM
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={folder / 'profile'}")
        options.add_argument(f"--window-size={width},{height}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        service = Service(
            executable_path=CHROMEDRIVER,
            env=browser_environment(folder),
            log_output=subprocess.DEVNULL,
        )
        driver = webdriver.Chrome(service=service, options=options)
        try:
            yield Browser(driver, folder)
        finally:
            driver.quit()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def open_page(
    path: str | os.PathLike[str],
    root: str | os.PathLike[str] | None = None,
    width: int = 1280,
    height: int = 900,
) -> Iterator[Page]:
    """A headless Chromium of its own (see :func:`launch`) on the local file ``path``."""
    with launch(root, width, height) as browser:
        yield browser.open(path)
