"""Browser fixtures: Debian's chromium (headless, `make browser` installs it) driven by Playwright's
Python package against the embedded shop's web edge, the storefront at / and the console at /console/.

Each test gets a fresh browser context (no cookies, no storage: a new visitor), and leaves a
screenshot of its last page in build/browser-artifacts/<test>.png, pass or fail. What tests do in the
page (sign in, check accessibility) is in tests/browser/browsing.py."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.browser.browsing import ARTIFACTS

CHROMIUM = os.environ.get("SHOP_CHROMIUM", "/usr/bin/chromium")
# Headless, and nothing that reaches outside 127.0.0.1 (a closed network refuses it, slowly).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
# Generous for a loaded two-core CI machine: these bound waits, they are not timings under test.
DEFAULT_TIMEOUT_MS = 30_000
expect.set_options(timeout=DEFAULT_TIMEOUT_MS)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def web_url(shop: Any) -> str:
    url: str = shop.stack.web_url
    return url


@pytest.fixture
def new_context(browser: Browser, web_url: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A factory of fresh visitors (several people at once: a customer and staff, two customers); each
    context's pages are screenshotted at the end of the test."""
    contexts: list[BrowserContext] = []

    def make(locale: str = "en-US") -> BrowserContext:
        context = browser.new_context(base_url=web_url, locale=locale, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    for i, context in enumerate(contexts):
        for j, page in enumerate(context.pages):
            suffix = "" if (i, j) == (0, 0) else f"-{i}-{j}"
            # A closed page has nothing to show; the test's own result stands.
            with contextlib.suppress(PlaywrightError):
                page.screenshot(path=str(ARTIFACTS / f"{name}{suffix}.png"), full_page=True)
        context.close()


@pytest.fixture
def page(new_context: Any) -> Page:
    """One fresh visitor's page."""
    context: BrowserContext = new_context()
    return context.new_page()
