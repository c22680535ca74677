"""The HTML report in a real headless browser (Debian's Chromium, driven by Selenium through
chromedriver): it loads from a file with nothing else beside it, shows its tables and plots, and has
no broken image and no console error."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

import pytest

from dunelab.report import render

from .records_fixture import make_record

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@contextlib.contextmanager
def open_browser():
    """Headless Chromium under chromedriver, with a fresh profile and no network chatter (this
    machine's network is closed: the background services' connections would only fail)."""
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not Path(exe).exists():
            pytest.fail(f"{exe} is missing: scripts/bootstrap installs chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="dunelab-chromium-") as profile:
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,2000"):
            opts.add_argument(arg)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
        try:
            driver.set_page_load_timeout(60)
            yield driver
        finally:
            driver.quit()


@pytest.fixture(scope="module")
def browser():
    with open_browser() as driver:
        yield driver


def test_report_page_loads_with_tables_and_plots(browser, tmp_path):
    files = render(make_record(), tmp_path / "run")
    # Only the page itself: a self-contained report must not need plots/ beside it.
    alone = tmp_path / "alone"
    alone.mkdir()
    page = shutil.copy(files.html, alone / "report.html")
    browser.get(Path(page).as_uri())

    assert browser.title == "dunelab run itest-20261129T000000Z"
    headings = [h.text for h in browser.find_elements("css selector", "h2")]
    assert "Scenario trap" in headings and "Rows that did not pass" in headings

    results = browser.find_element("css selector", "table.results")
    header = [th.text for th in results.find_elements("css selector", "th")]
    assert header[:3] == ["measure", "ours linux", "ours dune"] and "paper dune/linux" in header
    first = [td.text for td in results.find_elements("css selector", "tr")[1].find_elements("css selector", "td")]
    assert first[0] == "getpid" and first[header.index("paper dune/linux")] == "6.49×"
    assert browser.find_element("css selector", "td.failed").text == "failed"

    images = browser.find_elements("css selector", "img")
    assert len(images) == 4
    for img in images:
        loaded = browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img)
        assert loaded, f"broken image: {img.get_attribute('alt')}"
        assert img.size["width"] > 300, img.get_attribute("alt")   # shown, not collapsed

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
