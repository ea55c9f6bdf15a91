"""End to end, through HTTP and the real event flow: a customer cancels an order before its shipment is
handed to the logistics service, and orders compensates its own part (the money) from its own
OrderCancelled: the refund goes through the payment gateway and the order shows cancelled and refunded.
(Catalog's release and fulfillment's cancellation are their services' to assert.)"""

from __future__ import annotations

import json
from typing import Any

from shop_devstack.testing import eventually


def event_types(order: dict[str, Any]) -> list[str]:
    return [entry["event_type"] for entry in order["timeline"]]


def refunds_at_the_gateway(shop: Any, payment_id: str) -> list[int]:
    """The amounts the fake Stripe gave back on the payment."""
    response = shop.http.request("GET", f"{shop.stack.gateway_url}/_fake/refunds")
    return [refund["amount"] for refund in json.loads(response.data)["data"] if refund["payment_intent"] == payment_id]


def cancel(shop: Any, order_id: str, reason: str = "ordered the wrong size", *, user: str = "ada", staff: bool = False) -> Any:
    path = f"/staff/orders/{order_id}/cancel" if staff else f"/orders/{order_id}/cancel"
    return shop.call("orders", "POST", path, {"reason": reason}, user=user)


def test_a_paid_order_cancelled_before_dispatch_is_refunded_in_full(shop):
    sku = shop.new_product(stock=5, amount=1800)
    placed = shop.place_order([(sku, 2)])
    order_id = placed.body["order_id"]
    shop.settled_order(order_id, wanting={"SHIPMENT_REQUESTED"})

    cancelled = cancel(shop, order_id)

    assert cancelled.status == 200, cancelled.body
    assert (cancelled.body["status"], cancelled.body["fulfillment_status"]) == ("CANCELLED", "cancelled")
    assert cancelled.body["cancellation"] == {"cancelled_by": "customer", "reason": "ordered the wrong size"}

    def refunded() -> dict[str, Any] | None:
        order = shop.order(order_id)
        return order if order["payment_status"] == "refunded" else None

    order = eventually(refunded, timeout=30, what="the cancelled order to be refunded")
    assert order["status"] == "CANCELLED"
    assert order["refunded"] == {"amount": 3600, "currency": "USD"}
    steps = event_types(order)
    assert steps[:4] == ["OrderPlaced", "StockReserved", "PaymentCaptured", "ShipmentRequested"]
    assert steps.count("OrderCancelled") == 1
    assert steps.count("PaymentRefunded") == 1
    assert steps.index("OrderCancelled") < steps.index("PaymentRefunded")
    assert len(shop.charges_for(order_id)) == 1
    assert refunds_at_the_gateway(shop, order["payment_id"]) == [3600]


def test_the_same_cancel_again_answers_the_same(shop):
    sku = shop.new_product(stock=5)
    order_id = shop.place_order([(sku, 1)]).body["order_id"]
    shop.settled_order(order_id, wanting={"SHIPMENT_REQUESTED"})

    first = cancel(shop, order_id, "twice")
    again = cancel(shop, order_id, "twice")
    other = cancel(shop, order_id, "another reason")

    assert (first.status, again.status) == (200, 200)
    assert again.headers["idempotent-replayed"] == "true"
    assert (other.status, other.body["error"]["code"]) == (409, "already_cancelled")
    assert event_types(shop.order(order_id)).count("OrderCancelled") == 1


def test_a_rejected_order_cannot_be_cancelled_and_the_api_says_why(shop):
    sku = shop.new_product(stock=1)
    order_id = shop.place_order([(sku, 2)]).body["order_id"]
    shop.settled_order(order_id, wanting={"REJECTED"})

    refused = cancel(shop, order_id)

    assert refused.status == 409
    assert refused.body["error"]["code"] == "rejected"
    assert shop.order(order_id)["status"] == "REJECTED"


def test_only_the_owner_cancels_and_staff_use_their_own_route(shop):
    sku = shop.new_product(stock=5)
    order_id = shop.place_order([(sku, 1)]).body["order_id"]
    shop.settled_order(order_id, wanting={"SHIPMENT_REQUESTED"})

    assert cancel(shop, order_id, user="grace").status == 404
    assert cancel(shop, order_id, user="ada", staff=True).status == 403

    by_staff = cancel(shop, order_id, "out of stock at the warehouse", user="sam", staff=True)

    assert by_staff.status == 200, by_staff.body
    assert by_staff.body["cancellation"]["cancelled_by"] == "staff"
    eventually(lambda: shop.order(order_id)["payment_status"] == "refunded", timeout=30, what="the staff cancellation's refund")
