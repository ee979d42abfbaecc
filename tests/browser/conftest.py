"""The browser the journeys drive: Debian's Chromium through Playwright (no download)."""

import os
from pathlib import Path

import pytest

# Where the journeys save their screenshots: var/screenshots unless TREMOR_SCREENSHOTS says
# otherwise, so a test run never rewrites the tracked ones; `make screenshots` points it at
# docs/screenshots to refresh the README's pictures on purpose.
SCREENSHOTS_ENV = "TREMOR_SCREENSHOTS"
DEFAULT_SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"

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


@pytest.fixture
def screenshots() -> Path:
    """The directory the journeys save their screenshots in, created."""
    directory = Path(os.environ.get(SCREENSHOTS_ENV) or DEFAULT_SCREENSHOTS)
    directory.mkdir(parents=True, exist_ok=True)
    return directory
