"""Headless Chromium for the browser tests (JupyterLab in test_browser.py, the web book in test_book_browser.py)."""

from __future__ import annotations

import pytest

from dlcourse import doctor


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, driven by Playwright; skips with install instructions where either is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed: pip install -r requirements-dev.txt")
    executable = doctor.chromium_executable()  # $DLCOURSE_CHROMIUM, else a Chromium on PATH
    if not executable:
        pytest.skip("Chromium is not installed: sudo apt-get install chromium (Debian/Ubuntu), "
                    "or set DLCOURSE_CHROMIUM to a Chromium or Chrome executable")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True,
            # no update checks or other background requests: this machine may have no network
            args=["--disable-background-networking", "--disable-component-update", "--no-first-run"])
        try:
            yield chromium
        finally:
            chromium.close()
