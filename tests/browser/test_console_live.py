"""A live show run from the console: sam schedules it, reads the streamer's ingest details, is refused a
pin before the show is on the air, sees it go LIVE when the broadcaster starts (the fake IVS, real
ffmpeg), and pins a product: a ticket holder's storefront page, open in another browser, shows it without
a reload, and stops showing it when sam unpins. The console's screenshot for the README comes from here."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from playwright.sync_api import expect

from tests.browser.browsing import assert_accessible, readme_screenshot, signed_in
from tests.browser.shop_setup import broadcast, buy_ticket, vod_knows

# The fake IVS starts ffmpeg and waits for its first segments: a bound on the wait, not a timing under test.
GOING_LIVE_MS = 120_000


def test_staff_schedule_a_show_and_pin_a_product_that_a_viewer_sees_at_once(shop: Any, new_context: Any) -> None:
    sku = shop.new_product(kind="physical", stock=20, amount=2500)
    name = f"Test product {sku}"
    vod_knows(shop, sku)

    page = signed_in(new_context().new_page(), "sam", start="/console/live")
    expect(page.get_by_role("heading", name="Live shows", level=1)).to_be_visible()
    assert_accessible(page)
    form = page.get_by_role("region", name="Schedule a live show")
    form.get_by_label("Title").fill("Console live")
    form.get_by_label("Starts at").fill((datetime.now() + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"))
    form.get_by_label("Description").fill("Mugs and shirts, live from the studio")
    form.get_by_role("button", name="Schedule").click()

    expect(page.get_by_role("heading", name="Live show: Console live", level=1)).to_be_visible()
    show_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_test_id("show-state")).to_have_text("SCHEDULED")
    ingest = page.get_by_role("region", name="For the streamer")
    expect(ingest.get_by_test_id("ingest-server")).to_contain_text("rtmps://")
    channel = shop.call("vod", "GET", f"/live-shows/{show_id}", user="sam").body["channel"]
    expect(ingest).not_to_contain_text(channel["stream_key"])
    ingest.get_by_role("button", name="Show the key").click()
    expect(ingest).to_contain_text(channel["stream_key"])
    assert_accessible(page)

    # Not on the air yet: the pin is refused and the page says why.
    pinning = page.get_by_role("region", name="Pinned product")
    pinning.get_by_label("Product to pin").select_option(sku)
    pinning.get_by_role("button", name="Pin", exact=True).click()
    expect(pinning.get_by_role("alert")).to_contain_text("not_live")

    buy_ticket(shop, show_id, user="ada")
    broadcast(shop, show_id, "POST")
    try:
        expect(page.get_by_test_id("show-state")).to_have_text("LIVE", timeout=GOING_LIVE_MS)
        viewer = signed_in(new_context().new_page(), "ada", start=f"/live/{show_id}")
        expect(viewer.get_by_role("heading", name="Console live", level=1)).to_be_visible()
        expect(viewer.get_by_test_id("pinned-product")).to_have_count(0)
        viewer.evaluate("() => { window.__sameDocument = true; }")

        pinning.get_by_role("button", name="Pin", exact=True).click()
        expect(pinning.get_by_test_id("current-pin")).to_contain_text(name)
        expect(pinning.get_by_test_id("pin-status")).to_have_text(f"Pinned: {name}. Viewers see it now.")
        expect(viewer.get_by_test_id("pinned-product")).to_contain_text(name)
        assert viewer.evaluate("() => window.__sameDocument === true"), "the viewer's page was not reloaded"
        assert shop.call("vod", "GET", f"/live-shows/{show_id}", user="ada").body["current_pin"]["sku"] == sku
        assert_accessible(page)
        ingest.get_by_role("button", name="Hide the key").click()  # no stream key in the README's picture
        expect(ingest).not_to_contain_text(channel["stream_key"])
        readme_screenshot(page, "console-live.png", full_page=True)

        pinning.get_by_role("button", name="Unpin").click()
        expect(pinning.get_by_test_id("current-pin")).to_have_text("Nothing is pinned.")
        expect(viewer.get_by_test_id("pinned-product")).to_have_count(0)
    finally:
        broadcast(shop, show_id, "DELETE")
