"""Signing in and out of the storefront in a real browser: the OIDC code flow with PKCE against the
shop's issuer, tokens held in memory only, a reload that keeps the person signed in through the
issuer's session, and sign-out that ends both."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.browsing import assert_accessible, signed_in


def test_a_customer_signs_in_stays_signed_in_across_a_reload_and_signs_out(page: Page) -> None:
    signed_in(page, "ada")
    assert page.url.endswith("/"), "the callback sends the person back where they started"

    storage = page.evaluate("() => JSON.stringify({local: {...localStorage}, session: {...sessionStorage}})")
    assert "eyJ" not in storage, f"a token was written to web storage: {storage}"

    page.reload()
    expect(page.get_by_test_id("signed-in-as")).to_contain_text("ada")
    assert_accessible(page)

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.reload()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.get_by_test_id("signed-in-as")).to_have_count(0)
    # The issuer forgot its session too: signing in again asks for the password.
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_label("Password")).to_be_visible()


def test_the_issuer_form_says_what_went_wrong(page: Page) -> None:
    page.goto("/")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("User name").fill("ada")
    page.get_by_label("Password").fill("not-her-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong password")
    assert_accessible(page)


def test_the_storefront_lists_the_products_and_speaks_japanese(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Products", level=1)).to_be_visible()
    expect(page.get_by_role("listitem").first).to_be_visible()
    page.get_by_label("Language").select_option("ja")
    expect(page.get_by_role("heading", name="商品一覧", level=1)).to_be_visible()
    assert page.evaluate("document.documentElement.lang") == "ja"
    assert_accessible(page)


def test_the_console_turns_customers_away_and_lets_staff_in(page: Page) -> None:
    signed_in(page, "ada", start="/console/")
    expect(page.get_by_text("This page is for staff.")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    signed_in(page, "sam", start="/console/")
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    assert_accessible(page)
