"""End to end, through HTTP and the real event flow: staff refund part of an order, then the rest;
an over-refund is refused naming what is left; the customer sees the refunded amount and status. And
the customer's language from Accept-Language (else the shop's, Japanese), kept on the order."""

from __future__ import annotations

import uuid
from typing import Any


def refund(shop: Any, order_id: str, amount: int, reason: str = "goodwill", *, key: str | None = None, user: str = "sam") -> Any:
    return shop.call(
        "orders",
        "POST",
        f"/staff/orders/{order_id}/refunds",
        {"amount": amount, "reason": reason},
        {"Idempotency-Key": key or uuid.uuid4().hex},
        user=user,
    )


def test_staff_refund_in_part_twice_and_an_over_refund_is_refused(shop):
    sku = shop.new_product(stock=5, amount=1000)
    order_id = shop.place_order([(sku, 3)]).body["order_id"]
    shop.settled_order(order_id, wanting={"SHIPMENT_REQUESTED"})

    first = refund(shop, order_id, 1000, "late delivery", key=f"first-{order_id}")
    replayed = refund(shop, order_id, 1000, "late delivery", key=f"first-{order_id}")
    second = refund(shop, order_id, 1500, "damaged box")
    over = refund(shop, order_id, 501, "too much")

    assert first.status == 201, first.body
    assert (replayed.status, replayed.headers["idempotent-replayed"]) == (201, "true")
    assert replayed.body["refund_id"] == first.body["refund_id"]
    assert second.status == 201, second.body
    assert (second.body["refunded_total"], second.body["fully_refunded"]) == ({"amount": 2500, "currency": "USD"}, False)
    assert over.status == 422
    assert over.body["error"]["code"] == "exceeds_refundable"
    assert over.body["error"]["fields"][0]["field"] == "amount"
    order = shop.order(order_id)
    assert (order["status"], order["payment_status"], order["refunded"]["amount"]) == (
        "SHIPMENT_REQUESTED",
        "partially_refunded",
        2500,
    )
    assert [entry["event_type"] for entry in order["timeline"]].count("PaymentRefunded") == 2

    rest = refund(shop, order_id, 500, "the rest")

    assert (rest.status, rest.body["fully_refunded"], rest.body["payment_status"]) == (201, True, "refunded")
    assert shop.order(order_id)["payment_status"] == "refunded"


def test_refunds_are_staffs_and_need_a_captured_payment(shop):
    sku = shop.new_product(stock=1)
    order_id = shop.place_order([(sku, 2)]).body["order_id"]
    shop.settled_order(order_id, wanting={"REJECTED"})

    assert refund(shop, order_id, 100, user="ada").status == 403
    not_captured = refund(shop, order_id, 100)
    assert (not_captured.status, not_captured.body["error"]["code"]) == (409, "not_captured")


def test_the_customers_language_comes_from_accept_language_else_the_shops_japanese(shop):
    sku = shop.new_product(stock=5)
    body = {
        "customer_email": "hanako@example.com",
        "payment_token": "tok_visa",
        "shipping_address": {
            "line1": "1-2-3 Ginza",
            "city": "Chuo-ku",
            "region": "Tokyo",
            "postal_code": "104-0061",
            "country": "JP",
        },
        "delivery": {"time_slot": "19-21"},
        "lines": [{"sku": sku, "quantity": 1}],
    }

    placed = shop.call(
        "orders", "POST", "/orders", body, {"Idempotency-Key": uuid.uuid4().hex, "Accept-Language": "en-US,en;q=0.9"}
    )
    unsaid = shop.call("orders", "POST", "/orders", body, {"Idempotency-Key": uuid.uuid4().hex})

    assert placed.status == 201, placed.body
    order = shop.settled_order(placed.body["order_id"], wanting={"SHIPMENT_REQUESTED"})
    assert (order["locale"], order["delivery"]) == ("en", {"date": None, "time_slot": "19-21"})
    assert unsaid.body["locale"] == "ja"
