"""Orders and refunds in the console: sam looks an order up, refunds part of it (a refund beyond what is
left is refused, and the page says why), and cancels it; a customer who opens the console is told it is
for staff."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from shop_devstack.testing import eventually
from tests.browser.browsing import assert_accessible, signed_in
from tests.browser.shop_setup import paid_physical_order


def test_staff_refund_part_of_an_order_and_cancel_it(shop: Any, new_context: Any) -> None:
    order_id, _ = paid_physical_order(shop)  # 2 x $12.00

    page = signed_in(new_context().new_page(), "sam", start="/console/orders")
    expect(page.get_by_role("heading", name="Orders and refunds", level=1)).to_be_visible()
    page.get_by_label("Order ID").fill(order_id)
    page.get_by_role("button", name="Find the order").click()
    expect(page.get_by_role("heading", name=f"Order {order_id}", level=1)).to_be_visible()
    expect(page.get_by_test_id("payment-status")).to_have_text("Captured")
    assert_accessible(page)

    refund = page.get_by_role("region", name="Refund", exact=True)
    expect(refund).to_contain_text("Up to $24.00 is left to refund.")
    refund.get_by_label("Refund amount (USD)").fill("5.00")
    refund.get_by_label("Refund reason").fill("scratched box")
    refund.get_by_role("button", name="Refund").click()
    expect(page.get_by_test_id("order-live-status")).to_have_text("Refunded: $5.00 in all so far.")
    expect(page.get_by_test_id("order-refunded")).to_have_text("$5.00")
    expect(page.get_by_test_id("payment-status")).to_have_text("Partially refunded")

    refund.get_by_label("Refund amount (USD)").fill("30.00")
    refund.get_by_label("Refund reason").fill("too much")
    refund.get_by_role("button", name="Refund").click()
    expect(refund.get_by_role("alert")).to_contain_text("exceeds_refundable")
    assert shop.call("orders", "GET", f"/staff/orders/{order_id}", user="sam").body["refunded"]["amount"] == 500

    cancel = page.get_by_role("region", name="Cancel the order")
    cancel.get_by_label("Cancellation reason").fill("customer called")
    cancel.get_by_role("button", name="Cancel the order").click()
    expect(page.get_by_test_id("order-status")).to_have_text("CANCELLED")
    expect(cancel.get_by_role("button", name="Cancel the order")).to_be_disabled()
    eventually(lambda: shop.order(order_id)["status"] == "CANCELLED", what=f"{order_id} cancelled")
    assert_accessible(page)

    # An order that does not exist is the API's 404, shown as such.
    page.goto("/console/orders/ord_does_not_exist")
    expect(page.get_by_role("alert")).to_contain_text("404")


def test_a_customer_is_told_the_console_is_for_staff(new_context: Any) -> None:
    page = signed_in(new_context().new_page(), "ada", start="/console/")
    expect(page.get_by_text("This page is for staff.")).to_be_visible()
    expect(page.get_by_text("Your account is in neither group.")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_count(0)
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    assert_accessible(page)
    page.get_by_role("link", name="Go to the storefront").click()
    expect(page.get_by_role("heading", name="Products", level=1)).to_be_visible()
