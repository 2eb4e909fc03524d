"""A real browser for page stories: Debian's chromium driven by Playwright, one browser per module and worker.

Tests that take the `page` fixture skip, saying why, when chromium or the playwright package is missing
(deploy/test.sh installs chromium with apt-get when it runs as root).
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
MOBILE_WIDTH = 390


def chromium_path() -> str | None:
    """Debian's chromium (or INTERPEOPLE_CHROMIUM), None when it is not installed."""
    wanted = os.environ.get("INTERPEOPLE_CHROMIUM")
    for candidate in ((wanted,) if wanted else ()) + CHROMIUM_CANDIDATES:
        if candidate and os.path.exists(candidate):
            return candidate
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def browser():
    """One headless chromium per test module in a worker. It is stopped when the module ends: while Playwright
    runs it keeps an event loop running in this thread, where other modules' tests call asyncio.run."""
    executable = chromium_path()
    if executable is None:
        pytest.skip(
            "browser tests need chromium: run `apt-get install -y chromium` (deploy/test.sh does as root)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need the playwright package: bash deploy/bootstrap.sh test")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (no cookies) and page for one test; JavaScript stays on, as in real browsers."""
    context = browser.new_context()
    context.set_default_timeout(15000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def phone(browser):
    """A page 390 px wide, as on a small phone."""
    context = browser.new_context(viewport={"width": MOBILE_WIDTH, "height": 844})
    context.set_default_timeout(15000)
    opened = context.new_page()
    yield opened
    context.close()


def page_width(opened) -> int:
    """How wide the page's content is (more than the viewport means sideways scrolling)."""
    return opened.evaluate("document.documentElement.scrollWidth")
