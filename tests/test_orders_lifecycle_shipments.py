"""End to end, from the shop's bus on: fulfillment's later shipment events (the 3PL accepted the
instruction, the carrier dispatched, delivered) arrive through EventBridge, SQS and orders'
order-history subscription, in reverse order, and the order never moves backwards; once the 3PL has
the instruction the customer's cancel is refused with the reason. The events are put on the bus as
fulfillment publishes them, for the order's real shipment (fulfillment's own 3PL steps are its
service's to test)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from shop_contracts.events import ShipmentDeliveredV1, ShipmentDispatchedV1, ShipmentInstructedV1
from shop_devstack.testing import eventually
from shop_eventing.envelope import DomainEvent, EventData, new_event
from shop_eventing.topology import Naming

NAMING = Naming(stage="local")


def from_fulfillment(shop: Any, *events: DomainEvent) -> None:
    entries = [
        {
            "Source": "shop.fulfillment",
            "DetailType": event.event_type,
            "Detail": json.dumps(event.to_detail()),
            "EventBusName": NAMING.bus,
        }
        for event in events
    ]
    answer = shop.stack.client("events").put_events(Entries=entries)
    assert answer["FailedEntryCount"] == 0, answer


def event(data: EventData, order_id: str, at: datetime) -> DomainEvent:
    return new_event(data, producer="shop.fulfillment", correlation_id=order_id, now=at)


def test_shipment_events_in_reverse_end_delivered_and_the_customer_may_not_cancel_after_the_handover(shop):
    sku = shop.new_product(stock=5, amount=1500)
    email = "hanako@example.com"
    order_id = shop.place_order([(sku, 1)], email=email).body["order_id"]
    shop.settled_order(order_id, wanting={"SHIPMENT_REQUESTED"})
    shipment = shop.call("fulfillment", "GET", f"/orders/{order_id}/shipment")
    assert shipment.status == 200, shipment.body
    shipment_id = shipment.body["shipment_id"]
    start = datetime.now(UTC)
    who = {"customer_email": email, "locale": "en"}
    instructed = event(
        ShipmentInstructedV1(shipment_id=shipment_id, order_id=order_id, logistics_shipment_id="3pl-e2e", carrier="yamato"),
        order_id,
        start,
    )
    dispatched = event(
        ShipmentDispatchedV1(
            shipment_id=shipment_id,
            order_id=order_id,
            carrier="yamato",
            tracking_number="4912-0042",
            tracking_url="https://track.example/4912-0042",
            **who,
        ),
        order_id,
        start + timedelta(hours=1),
    )
    delivered = event(
        ShipmentDeliveredV1(shipment_id=shipment_id, order_id=order_id, carrier="yamato", tracking_number="4912-0042", **who),
        order_id,
        start + timedelta(days=1),
    )

    from_fulfillment(shop, instructed)
    instructed_order = shop.settled_order(order_id, wanting={"SHIPMENT_INSTRUCTED"})
    assert instructed_order["fulfillment_status"] == "instructed"
    refused = shop.call("orders", "POST", f"/orders/{order_id}/cancel", {"reason": "too slow"})
    assert refused.status == 409
    assert refused.body["error"]["code"] == "handed_to_logistics"

    from_fulfillment(shop, delivered)
    shop.settled_order(order_id, wanting={"DELIVERED"})
    from_fulfillment(shop, dispatched)  # stale: the parcel was delivered already

    def with_the_dispatch() -> dict[str, Any] | None:
        order = shop.order(order_id)
        return order if "ShipmentDispatched" in [entry["event_type"] for entry in order["timeline"]] else None

    order = eventually(with_the_dispatch, what="the late dispatch on the timeline")
    assert (order["status"], order["fulfillment_status"], order["payment_status"]) == ("DELIVERED", "delivered", "captured")
    assert order["tracking"] == {
        "carrier": "yamato",
        "tracking_number": "4912-0042",
        "tracking_url": "https://track.example/4912-0042",
    }
    assert [entry["event_type"] for entry in order["timeline"]][-3:] == [
        "ShipmentInstructed",
        "ShipmentDispatched",
        "ShipmentDelivered",
    ]
    staff = shop.call("orders", "POST", f"/staff/orders/{order_id}/cancel", {"reason": "late"}, user="sam")
    assert (staff.status, staff.body["error"]["code"]) == (409, "already_delivered")
