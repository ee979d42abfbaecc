"""The browser the journeys drive: Debian's Chromium through Playwright (no download)."""

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def chromium():
    from django.db import connections
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            # Under Playwright's event loop a test's own queries go through connections of
            # their own (Django's are context-local): closed here, or one outlives the test
            # and blocks the test database's teardown.
            connections.close_all()
            browser.close()
