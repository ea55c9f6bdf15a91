"""A live show in the storefront: a ticket holder's page plays the live HLS (the fake IVS's real
ffmpeg broadcast, with the viewer's token) and shows the product staff pin, then unpin, without a
reload (the push channel); a customer without a ticket is told so and pointed at the ticket."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from shop_devstack.testing import eventually
from tests.browser.browsing import assert_accessible, signed_in
from tests.browser.storefront import assert_not_reloaded, mark_the_page
from tests.test_vod_live import broadcast, sell_ticket
from tests.test_vod_push import buy_a_ticket

PLAYING = "() => { const v = document.querySelector('video'); return !!v && v.currentTime > 0.5 && !v.paused; }"


@pytest.fixture(scope="module")
def live_show(shop: Any) -> Iterator[dict[str, str]]:
    """A show on the air (the fake IVS broadcasts a test picture with real ffmpeg), ada holding a ticket."""
    starts = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    created = shop.call("vod", "POST", "/live-shows", {"title": "Storefront live", "starts_at": starts}, user="sam")
    assert created.status == 201, created.body
    show_id, channel = created.body["live_show_id"], created.body["channel"]
    ticket = sell_ticket(shop, show_id)
    buy_a_ticket(shop, ticket, "ada", show_id)
    product, other = shop.new_product(amount=2500), shop.new_product(amount=900)
    broadcast(shop, channel["arn"], "POST")
    try:
        eventually(
            lambda: shop.call("vod", "GET", f"/live-shows/{show_id}", user="sam").body["state"] == "LIVE",
            timeout=90,
            interval=0.5,
            what="the show LIVE",
        )
        yield {"id": show_id, "ticket": ticket, "product": product, "other": other}
    finally:
        broadcast(shop, channel["arn"], "DELETE")


def pin(shop: Any, show_id: str, sku: str | None) -> None:
    reply = shop.call("vod", "PUT" if sku else "DELETE", f"/live-shows/{show_id}/pin", {"sku": sku} if sku else None, user="sam")
    assert reply.status == 200, reply.body


def test_a_ticket_holder_watches_the_show_and_sees_each_pin_without_a_reload(shop, page: Page, live_show) -> None:
    show_id, sku = live_show["id"], live_show["product"]
    signed_in(page, "ada", start=f"/live/{show_id}")
    expect(page.get_by_role("heading", name="Storefront live", level=1)).to_be_visible()
    expect(page.get_by_test_id("live-state")).to_contain_text("Live now")
    page.wait_for_function(PLAYING)
    expect(page.get_by_test_id("pinned-product")).to_have_count(0)
    mark_the_page(page)

    pin(shop, show_id, sku)
    pinned = page.get_by_test_id("pinned-product")
    expect(pinned).to_contain_text(f"Test product {sku}")
    expect(pinned).to_contain_text("$25.00")
    assert pinned.evaluate("(el) => !!el.closest('[aria-live]')"), "the pin is announced (aria-live)"
    assert_accessible(page)

    pinned.get_by_role("button", name=f"Buy Test product {sku}").click()
    expect(pinned).to_contain_text("Added to your cart")
    expect(page.get_by_role("link", name="Cart (1)")).to_be_visible()

    pin(shop, show_id, None)
    expect(page.get_by_test_id("pinned-product")).to_have_count(0)
    pin(shop, show_id, live_show["other"])
    expect(page.get_by_test_id("pinned-product")).to_contain_text(f"Test product {live_show['other']}")
    expect(page.get_by_test_id("pinned-product")).to_contain_text("$9.00")
    assert_not_reloaded(page)


def test_a_customer_without_a_ticket_is_told_where_to_buy_one(shop, page: Page, live_show) -> None:
    signed_in(page, "grace", start=f"/live/{live_show['id']}")
    expect(page.get_by_test_id("refusal")).to_contain_text("You need a ticket to watch this show.")
    expect(page.locator("video")).to_have_count(0)
    page.get_by_role("link", name="Buy a ticket").click()
    page.wait_for_url(f"**/products/{live_show['ticket']}")
    expect(page.get_by_test_id("product-type")).to_contain_text("Live show ticket")
    assert_accessible(page)
