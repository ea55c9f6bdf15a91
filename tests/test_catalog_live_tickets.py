"""Catalog end to end: staff create a live ticket as a draft, publish it, and the show's capacity is the
stock the real order flow reserves (HTTP in, events through EventBridge and SQS): the ticket after the
last seat is rejected, a declined payment gives its seat back, a capacity change lets one more in, and a
retired ticket is not sold."""

from __future__ import annotations

import uuid
from typing import Any

from shop_devstack.testing import eventually

STAFF = "sam"
SOLD = {"PAID", "DELIVERED"}


def staff(shop: Any, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    return shop.call("catalog", method, path, body, headers, user=STAFF)


def seats_left(shop: Any, sku: str) -> int:
    reply = staff(shop, "GET", f"/staff/products/{sku}")
    assert reply.status == 200, reply.body
    return int(reply.body["stock"])


def ticket_order(shop: Any, sku: str, *, token: str = "tok_visa") -> str:
    placed = shop.place_order([(sku, 1)], token=token, address=None)
    assert placed.status == 201, placed.body
    return str(placed.body["order_id"])


def test_a_live_show_sells_its_capacity_and_not_one_seat_more(shop):
    sku = f"LIVE-{uuid.uuid4().hex[:10].upper()}"
    draft = staff(
        shop,
        "POST",
        "/staff/products",
        {
            "sku": sku,
            "name": "Live in Tokyo, 12 June",
            "product_type": "live_ticket",
            "price": {"amount": 3000, "currency": "USD"},
            "access": {"live_show_id": "show-tokyo-0612"},
            "stock": 2,
        },
    )
    assert (draft.status, draft.body["status"]) == (201, "draft")
    assert shop.call("catalog", "GET", f"/products/{sku}", user=None).status == 404  # a draft is nobody's business

    published = staff(shop, "POST", f"/staff/products/{sku}/publish", headers={"If-Match": '"1"'})
    assert (published.status, published.body["status"]) == (200, "published")
    eventually(lambda: shop.storefront_has(sku), what=f"{sku} in the orders service's catalog view")

    # Two seats, two tickets sold; the third order finds the show sold out.
    first, second = ticket_order(shop, sku), ticket_order(shop, sku)
    for order_id in (first, second):
        # Paid, and DELIVERED once vod's grant of the ticket reaches orders (tests/test_vod_digital_orders.py).
        assert shop.settled_order(order_id, wanting=SOLD)["status"] in SOLD
    third = shop.settled_order(ticket_order(shop, sku))
    assert third["status"] == "REJECTED"
    assert "out_of_stock" in third["timeline"][1]["summary"]
    assert seats_left(shop, sku) == 0
    storefront = shop.call("catalog", "GET", f"/products/{sku}", user=None).body
    assert storefront["availability"] == "sold_out"

    # The venue adds a seat: capacity_changed, once however often the request is sent.
    for _ in range(2):
        grown = staff(
            shop,
            "POST",
            f"/staff/products/{sku}/stock-adjustments",
            {"delta": 1, "reason": "capacity_changed", "note": "one more chair"},
            {"Idempotency-Key": f"{sku}-chair"},
        )
        assert (grown.status, grown.body["on_hand"]) == (201, 1)
    assert seats_left(shop, sku) == 1

    # A declined payment gives its seat back (StockReleased), and the seat sells again.
    declined = shop.settled_order(ticket_order(shop, sku, token="tok_chargeDeclined"))
    assert declined["status"] == "PAYMENT_FAILED"
    eventually(lambda: seats_left(shop, sku) == 1 or None, what="the declined order's seat back")
    assert shop.settled_order(ticket_order(shop, sku), wanting=SOLD)["status"] in SOLD
    assert seats_left(shop, sku) == 0

    # Removing seats that were sold is refused, naming what is on hand.
    refused = staff(
        shop,
        "POST",
        f"/staff/products/{sku}/stock-adjustments",
        {"delta": -1, "reason": "capacity_changed"},
        {"Idempotency-Key": f"{sku}-shrink"},
    )
    assert (refused.status, refused.body["error"]["fields"][0]["field"]) == (409, "on_hand")


def test_a_retired_product_is_not_sold(shop):
    sku = f"LIVE-{uuid.uuid4().hex[:10].upper()}"
    body = {
        "sku": sku,
        "name": "Live in Osaka",
        "product_type": "live_ticket",
        "price": {"amount": 2000, "currency": "USD"},
        "access": {"live_show_id": "show-osaka"},
        "stock": 50,
    }
    assert staff(shop, "POST", "/staff/products", body).status == 201
    assert staff(shop, "POST", f"/staff/products/{sku}/publish").status == 200
    eventually(lambda: shop.storefront_has(sku), what=f"{sku} in the orders service's catalog view")

    retired = staff(shop, "POST", f"/staff/products/{sku}/retire")

    assert (retired.status, retired.body["status"]) == (200, "retired")
    assert shop.call("catalog", "GET", f"/products/{sku}", user=None).status == 404
    placed = shop.place_order([(sku, 1)], address=None)
    if placed.status == 201:
        # Orders had not heard of the retirement (or does not refuse at checkout): catalog refuses the line.
        order = shop.settled_order(placed.body["order_id"])
        assert order["status"] == "REJECTED"
        assert "unknown_product" in order["timeline"][1]["summary"]
    else:
        assert 400 <= placed.status < 500, placed.body
    assert seats_left(shop, sku) == 50
