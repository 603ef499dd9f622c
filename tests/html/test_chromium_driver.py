"""The browser utility the HTML report's tests stand on (tests/html/chromium.py): what it
reports of a page is what the page did."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.html import chromium as browser_tools
from tests.html.chromium import Browser

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>probe</title></head>
<body><p id="hello">hello</p>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw==">
<script>
console.info("an info");
console.warn("a warning");
console.error("an error");
setTimeout(() => {
  const section = document.createElement("section");
  section.className = "late";
  document.body.append(section);
}, 50);
</script></body></html>
"""


def test_reports_the_console_requests_timing_and_screenshots(
    chromium: Browser, tmp_path: Path
) -> None:
    path = tmp_path / "page.html"
    path.write_text(PAGE, encoding="utf-8")
    page = chromium.open(path)
    assert page.find("#hello").text == "hello"
    assert page.wait_for("section.late") > 0
    texts = [(m.level, m.text) for m in page.console()]
    assert any(level == "INFO" and "an info" in text for level, text in texts), texts
    assert [m.level for m in page.errors()] == ["WARNING", "SEVERE"], texts
    assert page.requests()[0] == path.resolve().as_uri()
    assert page.foreign_requests() == []
    timing = page.timing()
    assert 0 <= timing.response_start_ms <= timing.load_event_end_ms
    assert timing.load_ms >= 0
    shot = page.screenshot(tmp_path / "shot.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    full = page.screenshot(tmp_path / "full.png", full_page=True)
    assert full.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reports_requests_for_anything_but_the_page(chromium: Browser, tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        '<!doctype html><img src="https://example.invalid/a.png"><img src="other.png">'
        '<script>fetch("http://192.0.2.1/x").catch(() => {});</script>',
        encoding="utf-8",
    )
    page = chromium.open(path)
    page.settle()
    assert sorted(page.foreign_requests()) == sorted(
        [
            "https://example.invalid/a.png",
            (tmp_path / "other.png").resolve().as_uri(),
            "http://192.0.2.1/x",
        ]
    )
    # A second page starts with a clean record.
    again = chromium.open(tmp_path / "page.html")
    assert again.requests()[0] == path.resolve().as_uri()


def test_a_missing_browser_is_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser_tools, "selenium_installed", lambda: False)
    assert "selenium is not installed" in (browser_tools.chromium_missing() or "")
    monkeypatch.setattr(browser_tools, "selenium_installed", lambda: True)
    monkeypatch.setattr(browser_tools, "CHROMEDRIVER", "/nonexistent/chromedriver")
    reason = browser_tools.chromium_missing()
    assert reason is not None and "chromium-driver" in reason
    with (
        pytest.raises(browser_tools.ChromiumMissing, match="chromium-driver"),
        browser_tools.launch(),
    ):
        pass
