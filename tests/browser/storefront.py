"""What the storefront's browser tests share: a READY film made with the real ffmpeg and a rental of it
on sale (with shoppable markers), products and orders made through the APIs where a test is not about
making them, the warehouse and the fake 3PL moving a parcel on, and the page steps a customer takes
(add to cart, check out)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from playwright.sync_api import Page, expect

from shop_devstack.testing import eventually
from tests.fulfillment_e2e import Fulfillment
from tests.test_vod_ingest import settled
from tests.test_vod_playback import clip_with_sound, put_on_sale, upload

REPO_ROOT = Path(__file__).resolve().parents[2]
FILM_SECONDS = 8
ADDRESS = {
    "recipient": "Ada Lovelace",
    "line1": "1-2-3 Jingumae",
    "city": "Shibuya-ku",
    "region": "Tokyo",
    "postal_code": "150-0001",
    "phone": "03-1234-5678",
}


@dataclass(frozen=True)
class Film:
    video_id: str
    rental_sku: str
    early_sku: str  # on screen from EARLY[0] to EARLY[1] seconds
    late_sku: str  # on screen from LATE[0] to LATE[1] seconds


EARLY = (0.5, 3.0)
LATE = (4.5, 7.5)


def ready_film(shop: Any, workdir: Path) -> Film:
    """A short clip with sound, uploaded as staff and transcoded by the real ffmpeg into HLS; two
    physical products on its timeline at different moments; a 48-hour rental of it on sale."""
    video_id = upload(shop, clip_with_sound(workdir / "film.mp4", seconds=FILM_SECONDS), "Storefront film")
    assert settled(shop, video_id)["state"] == "READY"
    early, late = shop.new_product(amount=1800), shop.new_product(amount=2200)
    markers = {
        "markers": [
            {"sku": early, "start_s": EARLY[0], "end_s": EARLY[1]},
            {"sku": late, "start_s": LATE[0], "end_s": LATE[1]},
        ]
    }
    placed = shop.call("vod", "PUT", f"/videos/{video_id}/markers", markers, {"If-Match": '"0"'}, user="sam")
    assert placed.status == 200, placed.body

    def known() -> bool:  # vod's product read model heard of both (their names and prices show)
        timeline = shop.call("vod", "GET", f"/videos/{video_id}/timeline", user="sam").body
        return all(m["purchasable"] for m in timeline["markers"]) and len(timeline["markers"]) == 2

    eventually(known, timeout=30, what="the markers' products in vod's read model")
    return Film(video_id=video_id, rental_sku=put_on_sale(shop, video_id), early_sku=early, late_sku=late)


def place_order(shop: Any, lines: list[tuple[str, int]], **options: Any) -> str:
    """POST /orders through the API, once more with the same Idempotency-Key if the connection dropped
    before an answer (a service closes idle keep-alive connections after 10 s, and a pooled one may be
    reused just as it closes): the key makes the repeat the same order. Returns the order id."""
    key = uuid.uuid4().hex
    try:
        placed = shop.place_order(lines, key=key, **options)
    except urllib3.exceptions.ProtocolError:
        placed = shop.place_order(lines, key=key, **options)
    assert placed.status == 201, placed.body
    return str(placed.body["order_id"])


def rented(shop: Any, film: Film, user: str) -> str:
    """`user` rents the film through the API (tests about buying use the pages); returns the order id."""
    order_id = place_order(shop, [(film.rental_sku, 1)], address=None, user=user)

    def entitled() -> bool:
        mine = shop.call("vod", "GET", "/me/videos", user=user).body["entitlements"]
        return any(e["video_id"] == film.video_id and e["active"] for e in mine)

    eventually(entitled, timeout=60, what=f"{user}'s rental of {film.video_id}")
    return order_id


def orders_with(shop: Any, sku: str, user: str = "ada") -> list[dict[str, Any]]:
    orders = shop.call("orders", "GET", "/orders?limit=100", user=user).body["orders"]
    return [order for order in orders if any(line["sku"] == sku for line in order["lines"])]


# -- pages ---------------------------------------------------------------------------------------------
def add_to_cart(page: Page, sku: str, quantity: int | None = None) -> None:
    page.goto(f"/products/{sku}")
    expect(page.get_by_test_id("product-price")).to_be_visible()
    if quantity is not None:
        page.get_by_label("Quantity").fill(str(quantity))
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_text("Added to your cart")).to_be_visible()


def fill_checkout(page: Page, *, card: str = "tok_visa") -> None:
    """The checkout form on /cart: the address (shown for physical lines) and the test card."""
    page.get_by_label("Recipient").fill(ADDRESS["recipient"])
    page.get_by_label("Address line 1").fill(ADDRESS["line1"])
    page.get_by_label("City").fill(ADDRESS["city"])
    page.get_by_label("Prefecture, state or province").fill(ADDRESS["region"])
    page.get_by_label("Postal code").fill(ADDRESS["postal_code"])
    page.get_by_label("Phone").fill(ADDRESS["phone"])
    page.get_by_label("Test card").select_option(card)


def order_id_from(page: Page) -> str:
    page.wait_for_url("**/me/orders/*")
    return page.url.rsplit("/", 1)[-1]


def hand_to_logistics(shop: Any, order_id: str) -> dict[str, Any]:
    """The warehouse picks and packs the parcel and the 3PL takes the instruction: SHIPMENT_INSTRUCTED."""
    fulfillment = Fulfillment(shop)
    shop.settled_order(order_id, wanting={"SHIPMENT_REQUESTED"}, timeout=60)
    fulfillment.pick_and_pack(order_id)
    return fulfillment.shipment_reaches(order_id, "INSTRUCTED")


def ship(shop: Any, order_id: str) -> None:
    """Then the 3PL picks, packs and gives the parcel to the carrier: SHIPPED."""
    shipment = hand_to_logistics(shop, order_id)
    for status in ("picking", "packed", "shipped"):
        Fulfillment(shop).advance(shipment["logistics_shipment_id"], status)


def mark_the_page(page: Page) -> None:
    """A property only this document has: still there later, the page was not reloaded meanwhile."""
    page.evaluate("() => { window.__notReloaded = true; }")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("() => window.__notReloaded === true"), "the page was reloaded"


def unique(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"
