"""fulfillment's consumer contracts, producer side: for every consumer's declaration about an event
fulfillment publishes, fulfillment's real code is driven into the declared provider state and the
event it writes to its outbox must give that consumer every field it relies on.

A new consumer declaration gets its producer test here without anyone editing this file, unless it
names a provider state fulfillment does not know yet (shop_devstack.contract_testing says how)."""

from __future__ import annotations

import uuid
from types import ModuleType
from typing import Any

import pytest

from chalicelib import usecases
from shop_contracts.consumer_contracts import check, the_event
from shop_contracts.events import Money, OrderLine, PaymentCapturedV1, ShipmentRequestedV1
from shop_devstack.contract_testing import Producer, ProducerContractTests, declarations_produced_by
from shop_devstack.testing import deliver_to_subscription, eventbridge_body
from shop_eventing.envelope import new_event

SERVICE = "fulfillment"
DECLARATIONS = declarations_produced_by(SERVICE)


@pytest.fixture
def producer(fulfillment_app: ModuleType, aws: Any) -> Producer:
    return Producer(fulfillment_app, aws)


def paid_order_with_physical_lines_gets_a_shipment(producer: Producer) -> list[dict[str, Any]]:
    order_id = f"ord-{uuid.uuid4().hex[:12]}"
    price = Money(amount=2500, currency="EUR")
    paid = PaymentCapturedV1(
        order_id=order_id,
        payment_id="ch_contract",
        amount=Money(amount=5399, currency="EUR"),
        customer_email="ann@example.com",
        lines=[
            OrderLine(sku="BLURAY-BOX-1", name="Blu-ray box set", kind="physical", quantity=2, unit_price=price),
            OrderLine(sku="film.42", name="A film", kind="digital", quantity=1, unit_price=Money(amount=399, currency="EUR")),
        ],
        shipping_address="Ann Example, 1 Main St, 12345 Springfield, US",
    )
    event = new_event(paid, producer="shop.orders", correlation_id=order_id)
    response = deliver_to_subscription(producer.app, SERVICE, "request-shipment", eventbridge_body(event))
    assert response == {"batchItemFailures": []}
    return producer.events_about(order_id)


def not_produced_yet(producer: Producer) -> list[dict[str, Any]]:
    pytest.xfail(
        "fulfillment publishes no ShipmentPacked, ShipmentInstructed, ShipmentDispatched, ShipmentDelivered or "
        "ShipmentCancelled on this branch yet (issue 11: the 3PL and the carrier)"
    )


class TestFulfillmentAsProducer(ProducerContractTests):
    SERVICE = SERVICE
    # Provider state (as consumers name it) -> drives fulfillment's real code into it; returns the
    # details fulfillment published there.
    PROVIDER_STATES = {
        "a paid order with physical lines was given a shipment": paid_order_with_physical_lines_gets_a_shipment,
        # notify's declarations, for the carrier's flow to drive when fulfillment publishes these events.
        "the carrier took an instructed shipment's parcel": not_produced_yet,
        "the carrier delivered a dispatched parcel": not_produced_yet,
        # orders.order-history's declarations, for the 3PL's flow to drive when fulfillment publishes these events.
        "the warehouse packed a picked shipment for the logistics service": not_produced_yet,
        "the logistics service accepted a packed shipment's instruction": not_produced_yet,
        "a requested shipment was cancelled because its order was cancelled": not_produced_yet,
    }


def test_fulfillment_has_consumers_to_satisfy() -> None:
    assert {d.event_type for d in DECLARATIONS} == {
        "ShipmentRequested",
        "ShipmentPacked",
        "ShipmentInstructed",
        "ShipmentDispatched",
        "ShipmentDelivered",
        "ShipmentCancelled",
    }


def test_the_check_bites_when_fulfillment_stops_setting_a_relied_on_field(
    producer: Producer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def shipment_requested_without_its_id(**fields: Any) -> ShipmentRequestedV1:
        # model_construct skips validation, as a hand-built payload would: the planted regression.
        return ShipmentRequestedV1.model_construct(**{k: v for k, v in fields.items() if k != "shipment_id"})

    monkeypatch.setattr(usecases, "ShipmentRequestedV1", shipment_requested_without_its_id)

    detail = the_event(paid_order_with_physical_lines_gets_a_shipment(producer), "ShipmentRequested", 1)

    assert {d.id: check(d, detail) for d in DECLARATIONS if d.event_type == "ShipmentRequested"} == {
        "orders.order-history:ShipmentRequested.v1": [
            "orders.order-history relies on ShipmentRequested v1 field data.shipment_id: data.shipment_id is missing"
        ]
    }
