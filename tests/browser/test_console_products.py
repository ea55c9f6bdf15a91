"""The staff console's products page in a real browser: sam creates a product through the form (a
draft), publishes it and a customer's storefront lists it; the API's refusals (a field it rejects, stock
that would go below zero, a stale revision) are shown as it gives them; stock adjusts and the name changes."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import expect

from shop_devstack.testing import eventually
from tests.browser.browsing import assert_accessible, signed_in


def test_staff_create_a_product_that_appears_in_the_storefront(shop: Any, new_context: Any) -> None:  # noqa: PLR0915 - one product, start to end
    page = signed_in(new_context().new_page(), "sam", start="/console/products")
    expect(page.get_by_role("heading", name="Products and stock", level=1)).to_be_visible()
    assert_accessible(page)

    # A SKU the API refuses: its message names the field.
    form = page.get_by_role("region", name="New product")
    form.get_by_label("SKU").fill("not a sku!")
    form.get_by_label("Name").fill("Bad one")
    form.get_by_label("Price").fill("12.50")
    form.get_by_role("button", name="Create product").click()
    expect(form.get_by_role("alert")).to_contain_text("sku")
    expect(form.get_by_role("alert")).to_contain_text("400")

    sku = f"CON-{uuid.uuid4().hex[:8].upper()}"
    name = f"Console mug {sku}"
    form.get_by_label("SKU").fill(sku)
    form.get_by_label("Name").fill(name)
    form.get_by_label("Type").select_option("physical_good")
    form.get_by_label("Price").fill("12.50")
    form.get_by_label("Currency").select_option("USD")
    form.get_by_label("Units on hand").fill("5")
    form.get_by_role("button", name="Create product").click()

    expect(page.get_by_role("heading", name=f"Product: {name}", level=1)).to_be_visible()
    expect(page.get_by_test_id("product-status")).to_have_text("Draft")
    expect(page.get_by_test_id("product-stock")).to_have_text("5")
    assert_accessible(page)

    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_test_id("product-status")).to_have_text("Published")
    expect(page.get_by_test_id("product-live-status")).to_contain_text("Published")

    # Removing more than is on hand is refused, and says so; a delivery adds units.
    stock = page.get_by_role("region", name="Stock adjustment")
    stock.get_by_label("Change in units").fill("-9")
    stock.get_by_label("Reason").select_option("damaged")
    stock.get_by_role("button", name="Adjust stock").click()
    expect(stock.get_by_role("alert")).to_contain_text("409")
    expect(page.get_by_test_id("product-stock")).to_have_text("5")
    stock.get_by_label("Change in units").fill("3")
    stock.get_by_label("Reason").select_option("received")
    stock.get_by_role("button", name="Adjust stock").click()
    expect(page.get_by_test_id("product-stock")).to_have_text("8")
    assert shop.stock(sku) == 8

    # The edit form sends the revision it read: someone else's change first makes it stale.
    revision = shop.call("catalog", "GET", f"/staff/products/{sku}", user="sam").body["revision"]
    changed = shop.call(
        "catalog", "PATCH", f"/staff/products/{sku}", {"name": f"{name} (API)"}, {"If-Match": f'"{revision}"'}, user="sam"
    )
    assert changed.status == 200, changed.body
    edit = page.get_by_role("region", name="Edit", exact=True)
    edit.get_by_label("Name").fill(f"{name} v2")
    edit.get_by_role("button", name="Save changes").click()
    expect(edit.get_by_role("alert")).to_contain_text("stale_revision")
    edit.get_by_role("button", name="Load the latest version").click()
    expect(edit.get_by_label("Name")).to_have_value(f"{name} (API)")
    edit.get_by_label("Name").fill(name)
    edit.get_by_role("button", name="Save changes").click()
    expect(page.get_by_test_id("product-live-status")).to_have_text("Saved.")

    # A customer's storefront lists it once orders' catalog view has the events.
    eventually(lambda: shop.storefront_has(sku), what=f"{sku} in the storefront")
    storefront = new_context().new_page()
    storefront.goto("/")
    expect(storefront.get_by_role("link", name=name, exact=True)).to_be_visible()

    # And the console's list shows it, in Japanese too.
    page.get_by_role("link", name="← All products").click()
    expect(page.get_by_role("link", name=sku)).to_be_visible()
    page.get_by_label("Language").select_option("ja")
    expect(page.get_by_role("heading", name="商品と在庫", level=1)).to_be_visible()
    expect(page.get_by_role("row", name=sku).get_by_text("公開中")).to_be_visible()
    assert_accessible(page)
