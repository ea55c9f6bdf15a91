"""The warehouse in the console: wes (group warehouse) sees the picking list and nothing else, and marks a
paid order's shipment picked, then packed; fulfillment records both (and hands the parcel on)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from shop_devstack.testing import eventually
from tests.browser.browsing import assert_accessible, signed_in
from tests.browser.shop_setup import paid_physical_order


def test_the_warehouse_marks_an_order_picked_and_packed(shop: Any, new_context: Any) -> None:
    order_id, sku = paid_physical_order(shop)
    eventually(
        lambda: any(
            s["order_id"] == order_id for s in shop.call("fulfillment", "GET", "/picking-list", user="wes").body["shipments"]
        ),
        what=f"{order_id} on the picking list",
    )

    page = signed_in(new_context().new_page(), "wes", start="/console/")
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_text(["Overview", "Picking list"])
    # A staff page tells the warehouse where its page is.
    page.goto("/console/products")
    expect(page.get_by_role("heading", name="For staff only", level=1)).to_be_visible()
    page.get_by_role("main").get_by_role("link", name="Picking list").click()

    expect(page.get_by_role("heading", name="Picking list", level=1)).to_be_visible()
    row = page.get_by_test_id(f"shipment-{order_id}")
    expect(row).to_contain_text(f"{sku} × 2")
    expect(row.get_by_test_id("shipment-status")).to_have_text("To pick")
    assert_accessible(page)

    row.get_by_role("button", name=f"Mark picked: order {order_id}").click()
    expect(row.get_by_test_id("shipment-status")).to_have_text("Picked")
    expect(page.get_by_test_id("picking-status")).to_have_text(f"Order {order_id}: picked.")
    # By keyboard alone: from the select, Tab reaches the button, which shows its focus ring; Enter presses it.
    row.get_by_label("Leaves by").select_option("carrier_csv")
    row.get_by_label("Leaves by").focus()
    page.keyboard.press("Tab")
    pack = row.get_by_role("button", name=f"Mark packed: order {order_id}")
    expect(pack).to_be_focused()
    assert pack.evaluate("(el) => el.matches(':focus-visible') && getComputedStyle(el).outlineStyle === 'solid'")
    page.keyboard.press("Enter")
    expect(row.get_by_test_id("shipment-status")).to_have_text("Packed")
    expect(page.get_by_test_id("picking-status")).to_have_text(f"Order {order_id}: packed.")
    assert_accessible(page)

    shipment = shop.call("fulfillment", "GET", f"/orders/{order_id}/shipment", user="wes").body
    assert (shipment["status"], shipment["handoff"]) == ("PACKED", "carrier_csv")
    assert shipment["picked_by"] and shipment["packed_by"]

    # Packed shipments leave the list.
    page.get_by_role("button", name="Refresh").click()
    expect(page.get_by_test_id(f"shipment-{order_id}")).to_have_count(0)
