"""What the browser tests do in a page: sign in through the issuer's real form (the OIDC code flow with
PKCE the page runs), and check accessibility with axe-core inside the page."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from shop_devstack.oidc_issuer import DEMO_USERS

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "build" / "browser-artifacts"
AXE = REPO_ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
README_IMAGES = REPO_ROOT / "docs" / "images"
# `make readme-screenshots` sets it: only then do the tests write the README's pictures, so an
# ordinary test run leaves the working tree as it found it.
README_SCREENSHOTS_ENV = "SHOP_README_SCREENSHOTS"


def signed_in(page: Page, username: str, *, start: str = "/") -> Page:
    """Open `start`, press Sign in, fill the issuer's form and come back signed in."""
    user = DEMO_USERS[username]
    page.goto(start)
    page.get_by_role("button", name=re.compile("Sign in|サインイン")).first.click()
    page.get_by_label("User name").fill(user.username)
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in-as")).to_contain_text(username)
    return page


def assert_accessible(page: Page, *, context: str | None = None) -> list[dict[str, Any]]:
    """axe-core in the page: no critical violation (serious ones are returned, and kept as an artefact)."""
    # Evaluated through the DevTools protocol, which the page's Content-Security-Policy does not govern
    # (a <script> tag would be refused by it, as it should be).
    page.evaluate(AXE.read_text())
    result: dict[str, Any] = page.evaluate(
        "async (selector) => await axe.run(selector ? document.querySelector(selector) : document)", context
    )
    violations: list[dict[str, Any]] = result["violations"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report = [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]} for v in violations]
    slug = re.sub(r"[^A-Za-z0-9]+", "_", page.url.split("//", 1)[-1])[:80]
    (ARTIFACTS / f"axe-{slug}.json").write_text(json.dumps(report, indent=2))
    critical = [v for v in report if v["impact"] == "critical"]
    assert not critical, f"critical accessibility violations on {page.url}: {critical}"
    return [v for v in report if v["impact"] == "serious"]


def readme_screenshot(page: Page, name: str, *, full_page: bool = False) -> Path:
    """A picture the README shows: always kept with the test's artefacts, and written into docs/images
    when README_SCREENSHOTS_ENV is set (`make readme-screenshots`)."""
    kept = ARTIFACTS / "readme" / name
    kept.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(kept), full_page=full_page)
    if os.environ.get(README_SCREENSHOTS_ENV) == "1":
        README_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(kept, README_IMAGES / name)
    return kept
