"""Cancelling a shipment end to end: OrderCancelled (put on the bus under orders' source, as orders'
relay would publish it) reaches fulfillment's cancel-shipment subscriber through its rule and queue."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shop_contracts.events import Address, Money, OrderCancelledV1, OrderLine, PaymentCapturedV1
from shop_devstack.testing import eventually
from shop_eventing.envelope import DomainEvent, new_event
from tests.fulfillment_e2e import JP_ADDRESS, Fulfillment, new_order_id


@pytest.fixture
def fulfillment(shop: Any) -> Fulfillment:
    return Fulfillment(shop)


LINES = [OrderLine(sku="MUG-1", name="Mug", kind="physical", quantity=1, unit_price=Money(amount=900, currency="JPY"))]


def order_cancelled(order_id: str, by: str = "customer") -> DomainEvent:
    data = OrderCancelledV1(
        order_id=order_id,
        cancelled_by=by,  # type: ignore[arg-type]
        reason="changed my mind",
        customer_email="hanako@example.jp",
        lines=LINES,
        total=Money(amount=900, currency="JPY"),
    )
    return new_event(data, producer="shop.orders", correlation_id=order_id, now=datetime.now(UTC))


def payment_captured(order_id: str) -> DomainEvent:
    address = Address.model_validate(JP_ADDRESS)
    data = PaymentCapturedV1(
        order_id=order_id,
        payment_id="ch_e2e",
        amount=Money(amount=900, currency="JPY"),
        customer_email="hanako@example.jp",
        lines=LINES,
        shipping_address=address.as_text(),
        structured_address=address,
    )
    return new_event(data, producer="shop.orders", correlation_id=order_id, now=datetime.now(UTC))


def handled(fulfillment: Fulfillment, subscription: str, event: DomainEvent) -> bool:
    from shop_eventing.outbox import processed_marker_key, to_dynamodb

    table = fulfillment.stack.naming.table("fulfillment")
    key = to_dynamodb(processed_marker_key(f"fulfillment.{subscription}", event.event_id))
    return "Item" in fulfillment.stack.client("dynamodb").get_item(TableName=table, Key=key, ConsistentRead=True)


def test_cancelled_before_it_was_paid_no_shipment_is_ever_made(fulfillment):
    """Out of order: the cancellation overtakes the payment; the payment arriving later makes nothing."""
    order_id = new_order_id()
    cancelled, paid = order_cancelled(order_id), payment_captured(order_id)

    fulfillment.publish(cancelled)
    eventually(lambda: handled(fulfillment, "cancel-shipment", cancelled), what="the cancellation handled")
    fulfillment.publish(paid)
    eventually(lambda: handled(fulfillment, "request-shipment", paid), what="the late payment handled")

    assert fulfillment.call("GET", f"/orders/{order_id}/shipment").status == 404
    assert fulfillment.published(order_id, "ShipmentRequested") == []


def test_cancelled_before_instruction_the_3pl_never_hears_of_it(fulfillment):
    order_id = fulfillment.paid_physical_order()
    shipment_id = fulfillment.shipment(order_id)["shipment_id"]

    fulfillment.publish(order_cancelled(order_id))

    fulfillment.shipment_reaches(order_id, "CANCELLED")
    assert len(fulfillment.published(order_id, "ShipmentCancelled")) == 1
    refused = fulfillment.call("POST", f"/orders/{order_id}/shipment/picked")
    assert (refused.status, refused.body["error"]["code"]) == (409, "status_conflict")
    assert fulfillment.at_3pl(shipment_id) == []


def test_cancelled_after_instruction_the_3pl_cancels_it(fulfillment):
    order_id = fulfillment.paid_physical_order()
    fulfillment.pick_and_pack(order_id)
    shipment = fulfillment.shipment_reaches(order_id, "INSTRUCTED")

    fulfillment.publish(order_cancelled(order_id, by="staff"))

    fulfillment.shipment_reaches(order_id, "CANCELLED")
    [at_3pl] = fulfillment.at_3pl(shipment["shipment_id"])
    assert at_3pl["status"] == "cancelled"
    [cancelled] = fulfillment.published(order_id, "ShipmentCancelled")
    assert cancelled["data"]["shipment_id"] == shipment["shipment_id"]


def test_cancelled_after_the_3pl_shipped_is_refused_and_recorded(fulfillment):
    order_id = fulfillment.paid_physical_order()
    fulfillment.pick_and_pack(order_id)
    logistics_id = fulfillment.shipment_reaches(order_id, "INSTRUCTED")["logistics_shipment_id"]
    fulfillment.advance(logistics_id, "shipped")
    fulfillment.shipment_reaches(order_id, "DISPATCHED")
    cancelled = order_cancelled(order_id, by="staff")

    fulfillment.publish(cancelled)

    eventually(lambda: handled(fulfillment, "cancel-shipment", cancelled), what="the cancellation handled")
    shipment = fulfillment.shipment(order_id)
    assert (shipment["status"], shipment["cancel_refused_reason"]) == (
        "DISPATCHED",
        "the parcel is dispatched; it can no longer be cancelled",
    )
    assert fulfillment.published(order_id, "ShipmentCancelled") == []
    assert fulfillment.at_3pl(shipment["shipment_id"])[0]["status"] == "shipped"


def test_cancelled_once_the_3pl_packed_it_is_refused_by_the_3pl(fulfillment):
    order_id = fulfillment.paid_physical_order()
    fulfillment.pick_and_pack(order_id)
    logistics_id = fulfillment.shipment_reaches(order_id, "INSTRUCTED")["logistics_shipment_id"]
    fulfillment.advance(logistics_id, "packed")
    cancelled = order_cancelled(order_id, by="staff")

    fulfillment.publish(cancelled)

    eventually(lambda: handled(fulfillment, "cancel-shipment", cancelled), what="the cancellation handled")
    shipment = fulfillment.shipment(order_id)
    assert (shipment["status"], shipment["cancel_refused_reason"]) == (
        "INSTRUCTED",
        "the logistics service refused: its shipment is packed",
    )
    assert fulfillment.published(order_id, "ShipmentCancelled") == []
