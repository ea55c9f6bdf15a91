"""Checkout's one order per checkout: a double click and a reload while the order is on its way (the
first request reached the orders API, its answer never reached the page) make exactly one order,
because the page keeps the checkout's Idempotency-Key until the order is confirmed and sends it again.
And the storefront in Japanese; and a cancel from the order page."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, Route, expect

from tests.browser.browsing import assert_accessible, signed_in
from tests.browser.storefront import add_to_cart, fill_checkout, hand_to_logistics, order_id_from, orders_with, place_order
from tests.fulfillment_e2e import JP_ADDRESS

ORDERS_POST = re.compile(r".*/api/orders/orders$")


def test_a_double_click_and_a_reload_during_the_submit_make_one_order(shop, page: Page) -> None:
    sku = shop.new_product(amount=1234)
    signed_in(page, "ada")
    add_to_cart(page, sku)
    page.goto("/cart")
    fill_checkout(page)

    held: list[Route] = []
    keys: list[str] = []

    def hold(route: Route) -> None:
        keys.append(route.request.headers["idempotency-key"])
        held.append(route)

    page.route(ORDERS_POST, hold)
    button = page.get_by_role("button", name=re.compile("Place order|Placing your order"))
    button.dblclick()
    expect(button).to_be_disabled()
    expect(button).to_have_text("Placing your order…")
    assert len(held) >= 1
    # The first request reaches the orders API and makes the order; its answer is lost to the reload.
    first = held[0].fetch()
    assert first.status == 201, first.text()
    made = first.json()["order_id"]
    page.unroute_all(behavior="ignoreErrors")

    sent_after: list[str] = []
    page.on("request", lambda r: sent_after.append(r.headers.get("idempotency-key", "")) if ORDERS_POST.match(r.url) else None)
    page.reload()
    assert order_id_from(page) == made, "the page finished the same checkout: the first order"
    expect(page.get_by_test_id("order-status")).to_be_visible()
    assert sent_after and set(sent_after) == set(keys) and len(set(keys)) == 1, (keys, sent_after)

    page.reload()
    expect(page.get_by_test_id("order-status")).to_be_visible()
    page.goto("/cart")
    expect(page.get_by_text("Your cart is empty.")).to_be_visible()
    assert [order["order_id"] for order in orders_with(shop, sku)] == [made]
    storage = page.evaluate("() => JSON.stringify({local: {...localStorage}, session: {...sessionStorage}})")
    assert "eyJ" not in storage, f"a token was written to web storage: {storage}"
    assert "shop.checkout.pending" not in storage, "the confirmed checkout's key is forgotten"


def test_a_customer_cancels_an_order_and_a_refusal_is_shown(shop, page: Page) -> None:
    sku = shop.new_product(amount=700)
    order_id = place_order(shop, [(sku, 1)], email="ada@example.com", address=JP_ADDRESS)
    signed_in(page, "ada", start=f"/me/orders/{order_id}")
    status = page.get_by_test_id("order-status")
    expect(status).to_have_attribute("data-status", "SHIPMENT_REQUESTED", timeout=60_000)
    page.get_by_label("Reason (optional)").fill("ordered the wrong one")
    page.get_by_role("button", name="Cancel order").click()
    expect(status).to_have_attribute("data-status", "CANCELLED")
    expect(page.get_by_test_id("timeline")).to_contain_text("Order cancelled")
    expect(page.get_by_role("button", name="Cancel order")).to_have_count(0)
    assert shop.order(order_id)["cancellation"]["reason"] == "ordered the wrong one"
    assert_accessible(page)

    page.goto("/me/orders")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=order_id))
    expect(row).to_contain_text("Cancelled")
    assert_accessible(page)


def test_a_cancel_the_api_refuses_says_why(shop, page: Page) -> None:
    """The page still offers the cancel (its refreshes are cut off) when the parcel has gone to the 3PL:
    the orders API refuses, and the page says why."""
    sku = shop.new_product(amount=800)
    order_id = place_order(shop, [(sku, 1)], email="ada@example.com", address=JP_ADDRESS)  # the 3PL needs all of it
    signed_in(page, "ada", start=f"/me/orders/{order_id}")
    status = page.get_by_test_id("order-status")
    expect(status).to_have_attribute("data-status", "SHIPMENT_REQUESTED", timeout=60_000)
    order_url = re.compile(rf".*/api/orders/orders/{order_id}$")
    page.route(order_url, lambda route: route.abort())
    hand_to_logistics(shop, order_id)
    shop.settled_order(order_id, wanting={"SHIPMENT_INSTRUCTED"})  # orders heard of it too
    page.get_by_role("button", name="Cancel order").click()
    expect(page.get_by_test_id("refusal")).to_contain_text("already with the logistics service")
    page.unroute(order_url)
    expect(status).to_have_attribute("data-status", "SHIPMENT_INSTRUCTED")
    expect(page.get_by_role("button", name="Cancel order")).to_have_count(0)
    assert shop.order(order_id)["status"] == "SHIPMENT_INSTRUCTED"
    assert_accessible(page)


def test_the_storefront_speaks_japanese(shop, new_context: Any) -> None:
    sku = shop.new_product(amount=4200)
    page: Page = new_context(locale="ja-JP").new_page()
    page.goto("/")
    expect(page.get_by_role("heading", name="商品一覧", level=1)).to_be_visible()
    assert page.evaluate("document.documentElement.lang") == "ja"
    page.goto(f"/products/{sku}")
    expect(page.get_by_test_id("product-type")).to_have_text("商品（配送）")
    expect(page.get_by_test_id("product-price")).to_have_text("$42.00")
    page.get_by_label("数量").fill("2")
    page.get_by_role("button", name="カートに入れる").click()
    expect(page.get_by_text("カートに追加しました")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="カート (2)").click()
    expect(page.get_by_role("heading", name="カートとご注文手続き", level=1)).to_be_visible()
    expect(page.get_by_test_id("cart-total")).to_have_text("$84.00")
    expect(page.locator("main").get_by_role("button", name="サインイン")).to_be_visible()  # to check out
    main = page.locator("main")
    expect(main).not_to_contain_text("store.")  # no key without its Japanese text
    assert_accessible(page)
