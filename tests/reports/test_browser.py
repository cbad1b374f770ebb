"""The report in a real browser: Debian's Chromium, headless, driven by playwright.

The report is rendered from the fixture context (made-up numbers, not results). The test
checks that the page loads without console errors, the verdict is visible, every image
decodes and the tables are there, and it saves a screenshot (copied to
``$ALLIANCE_SCREENSHOT_DIR`` when set).

Chromium comes from the system (``apt-get install chromium``; ``.ci/run`` installs it),
never from ``playwright install``. Without it the test is skipped locally and fails in CI.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from reports.html import render_report

from .test_html import N_IMAGES

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() in ("true", "1")


def _need(condition: bool, reason: str) -> None:
    """Skip locally, fail in CI: CI must run the browser test."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the browser test must run in CI)")
    pytest.skip(reason)


@contextmanager
def chromium_page(report: Path):
    """Open ``report`` in headless Chromium; yield the page and what went wrong while loading.

    Yields ``{"page", "console", "page_errors", "failed_requests"}``; skips locally (fails
    in CI) when Chromium or playwright is missing.
    """
    _need(CHROMIUM.exists(), f"{CHROMIUM} not found: install Debian's chromium "
                             "(apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "the playwright package is not installed (pip install -e '.[test]')")
    messages, page_errors, failed_requests = [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                             headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            # playwright needs Python functions as handlers, not bound builtins like list.append
            page.on("console", lambda message: messages.append(message))
            page.on("pageerror", lambda error: page_errors.append(error))
            page.on("requestfailed", lambda request: failed_requests.append(request))
            page.goto(report.as_uri(), wait_until="load", timeout=15_000)
            yield {"page": page, "console": messages, "page_errors": page_errors,
                   "failed_requests": failed_requests}
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browser_page(report_context, tmp_path_factory):
    """Open the fixture report in headless Chromium, collecting its console messages."""
    report = render_report(report_context, tmp_path_factory.mktemp("report") / "report.html")
    with chromium_page(report) as opened:
        yield {**opened, "report": report}


def test_page_loads_without_console_errors(browser_page):
    errors = [f"{m.type}: {m.text}" for m in browser_page["console"] if m.type == "error"]
    assert errors == []
    assert browser_page["page_errors"] == []
    assert [r.url for r in browser_page["failed_requests"]] == []


def test_verdict_is_visible_with_its_text(browser_page, report_context):
    verdict = browser_page["page"].locator("#verdict")
    assert verdict.is_visible()
    text = verdict.inner_text()
    assert report_context["verdict"].verdict in text
    assert "P(" in text  # the probability behind the verdict is shown with it


def test_images_decode(browser_page):
    page = browser_page["page"]
    sizes = page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
    assert len(sizes) == N_IMAGES
    assert all(complete and width > 0 and height > 0 for complete, width, height in sizes), sizes


def test_tables_present(browser_page):
    page = browser_page["page"]
    for section in ("data", "model", "diagnostics", "effects", "shares", "dominance",
                    "dominance-analysis", "ppc", "loo", "sensitivity", "provenance"):
        assert page.locator(f"#{section} table").count() > 0, section
    assert page.locator("#gates tbody tr").count() == 5
    assert page.locator(".na").count() == 0  # the fixture fills every section


def test_dominance_analysis_and_group_checks_are_shown(browser_page, report_context):
    page = browser_page["page"]
    groups = len(report_context["dominance_analysis"].groups)
    pairs = page.locator("#pairwise-dominance tbody tr")
    assert pairs.count() == groups * (groups - 1)
    assert pairs.first.is_visible() and "dominates" in pairs.first.inner_text()
    assert page.locator("#submodels tr.failed").count() == 1
    assert page.locator("#failed-submodels").is_visible()
    for where, expected in (("#dominance-figure img", 1),
                            ("#ppc-groups img", len(report_context["ppc_checks"].group_statistics) + 1)):
        sizes = page.eval_on_selector_all(
            where, "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        assert len(sizes) == expected and all(c and w > 0 and h > 0 for c, w, h in sizes), where
    assert page.locator("#loo-pit-figure img").is_visible()


def test_screenshot(browser_page):
    page = browser_page["page"]
    shot = browser_page["report"].with_suffix(".png")
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    target = os.environ.get("ALLIANCE_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / "report.png")
