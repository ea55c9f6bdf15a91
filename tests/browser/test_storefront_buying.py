"""A customer's storefront in a real browser, on a READY film the real ffmpeg transcoded: ada buys a
parcel and a rental through the pages (product page, cart, checkout form) and watches the order move to
SHIPPED without a reload while the warehouse and the 3PL do their part; she plays her rental (hls.js on
real HLS segments, with the signed cookies the playback call set) and buys the product on screen; grace
can open neither ada's order nor ada's video. The README's two screenshots are taken here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.browsing import assert_accessible, readme_screenshot, signed_in
from tests.browser.storefront import (
    ADDRESS,
    Film,
    add_to_cart,
    assert_not_reloaded,
    fill_checkout,
    mark_the_page,
    order_id_from,
    ready_film,
    rented,
    ship,
)

PLAYING = "() => { const v = document.querySelector('video'); return !!v && v.currentTime > 0.5 && !v.paused; }"


@pytest.fixture(scope="module")
def film(shop: Any, tmp_path_factory: pytest.TempPathFactory) -> Film:
    return ready_film(shop, Path(tmp_path_factory.mktemp("film")))


def test_ada_buys_a_parcel_and_a_rental_and_sees_the_parcel_shipped_without_a_reload(shop, page: Page, film: Film) -> None:
    parcel = shop.new_product(amount=2500)
    signed_in(page, "ada")
    expect(page.get_by_role("heading", name=f"Test product {parcel}")).to_be_visible()
    assert_accessible(page)

    add_to_cart(page, parcel, quantity=2)
    assert_accessible(page)
    page.goto(f"/products/{film.rental_sku}")
    expect(page.get_by_test_id("product-type")).to_have_text("Video rental, 48 h")
    expect(page.get_by_label("Quantity")).to_have_count(0)  # one rental is all there is to buy
    page.get_by_role("button", name="Buy now").click()
    page.wait_for_url("**/cart")
    expect(page.get_by_role("link", name="Cart (3)")).to_be_visible()
    expect(page.get_by_test_id("cart-total")).to_have_text("$53.99")
    expect(page.get_by_label("E-mail")).to_have_value("ada@example.com")  # from the ID token
    fill_checkout(page)
    assert_accessible(page)
    page.get_by_role("button", name="Place order").click()

    order_id = order_id_from(page)
    mark_the_page(page)
    # vod's push channel carries the order's statuses (watchOrders): the page listens, it does not poll.
    expect(page.get_by_test_id("order-status-line")).to_have_attribute("data-updates", "push")
    status = page.get_by_test_id("order-status")
    expect(status).to_have_attribute("data-status", "SHIPMENT_REQUESTED", timeout=60_000)
    assert status.evaluate("(el) => el.closest('[aria-live]') !== null"), "status changes are announced"
    expect(page.get_by_role("button", name="Cancel order")).to_be_visible()
    expect(page.get_by_role("link", name="Cart")).to_be_visible()  # the cart was emptied by the order

    ship(shop, order_id)
    expect(status).to_have_attribute("data-status", "SHIPPED", timeout=60_000)
    expect(status).to_have_text("Shipped")
    timeline = page.get_by_test_id("timeline")
    for step in ("Order placed", "Payment captured", "Parcel packed", "Handed to logistics", "Shipped"):
        expect(timeline).to_contain_text(step)
    expect(page.get_by_role("button", name="Cancel order")).to_have_count(0)  # too late to cancel
    assert_not_reloaded(page)
    assert_accessible(page)
    readme_screenshot(page, "storefront-order.png", full_page=True)

    order = shop.order(order_id)
    assert sorted((line["sku"], line["quantity"]) for line in order["lines"]) == sorted([(parcel, 2), (film.rental_sku, 1)])
    assert order["customer_email"] == "ada@example.com"
    assert order["delivery_address"]["line1"] == ADDRESS["line1"]
    assert order["status"] == "SHIPPED"


def test_ada_watches_her_rental_and_buys_the_product_on_screen(shop, page: Page, film: Film) -> None:
    rented(shop, film, "ada")
    signed_in(page, "ada", start="/me/videos")
    watch = page.locator(f'a[href="/videos/{film.video_id}"]').first
    card = page.get_by_test_id("entitlement").filter(has=watch).first
    expect(card).to_contain_text("Video rental, 48 h")
    expect(card).to_contain_text("Watch until")
    assert_accessible(page)
    watch.click()

    page.wait_for_url(f"**/videos/{film.video_id}")
    page.wait_for_function(PLAYING)  # hls.js on the real segments, through the media edge, with the cookies
    now = page.get_by_test_id("shoppable-now")
    early, late = f"Test product {film.early_sku}", f"Test product {film.late_sku}"
    expect(now).to_contain_text(early)
    expect(now.get_by_role("button", name=f"Buy {early}")).to_be_visible()
    # Later in the film the other product is on screen, and the first one is gone.
    expect(now).to_contain_text(late, timeout=60_000)
    page.evaluate("() => document.querySelector('video').pause()")  # hold the moment for the screenshot
    expect(now).not_to_contain_text(early)
    time_now = page.evaluate("() => document.querySelector('video').currentTime")
    assert 4.5 <= time_now <= 7.5 + 0.5, f"the late product shows at {time_now} s, outside its marker"
    expect(now).to_contain_text("$22.00")
    assert_accessible(page)
    readme_screenshot(page, "storefront-video.png")

    now.get_by_role("button", name=f"Buy {late}").click()
    expect(now).to_contain_text("Added to your cart.")
    page.get_by_role("link", name="Cart (1)").click()
    expect(page.get_by_role("row", name=late)).to_be_visible()


def test_grace_can_open_neither_adas_order_nor_adas_video(shop, page: Page, film: Film) -> None:
    order_id = rented(shop, film, "ada")
    signed_in(page, "grace", start=f"/me/orders/{order_id}")
    expect(page.get_by_test_id("refusal")).to_have_text("There is no such order in your account.")
    body = page.locator("main")
    for secret in ("ada@example.com", film.rental_sku, "Rent the test film"):
        expect(body).not_to_contain_text(secret)
    assert_accessible(page)

    page.goto(f"/videos/{film.video_id}")
    expect(page.get_by_test_id("refusal")).to_have_text("You have not bought or rented this video.")
    expect(page.locator("video")).to_have_count(0)
    offer = page.get_by_role("link", name="Get Rent the test film for 48 hours")
    expect(offer.first).to_be_visible()
    assert_accessible(page)
    offer.first.click()
    expect(page.get_by_test_id("product-type")).to_have_text("Video rental, 48 h")
