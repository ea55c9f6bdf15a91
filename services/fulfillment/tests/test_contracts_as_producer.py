"""fulfillment's consumer contracts, producer side: for every consumer's declaration about an event
fulfillment publishes, fulfillment's real code is driven into the declared provider state and the
event it writes to its outbox must give that consumer every field it relies on.

A new consumer declaration gets its producer test here without anyone editing this file, unless it
names a provider state fulfillment does not know yet (shop_devstack.contract_testing says how)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import usecases
from chalicelib.domain import Handoff
from shop_contracts.consumer_contracts import check, committed_schema, schema_errors, the_event
from shop_contracts.events import Money, OrderLine, PaymentCapturedV1, ShipmentRequestedV1
from shop_devstack.contract_testing import Producer, ProducerContractTests, declarations_produced_by
from shop_devstack.testing import deliver_to_subscription, eventbridge_body, raw_eventbridge_body, signed_in_client
from shop_eventing.envelope import new_event
from tests import arrange

SERVICE = "fulfillment"
DECLARATIONS = declarations_produced_by(SERVICE)


@dataclass
class FulfillmentProducer(Producer):
    issuer: Any


@pytest.fixture
def producer(fulfillment_app: ModuleType, aws: Any, issuer: Any) -> Producer:
    return FulfillmentProducer(fulfillment_app, aws, issuer)


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


def packed_for(handoff: Handoff) -> Any:
    """The warehouse picks and packs a requested shipment through the staff API (signed in as wes), saying how it leaves."""

    def drive(producer: Producer) -> list[dict[str, Any]]:
        order_id = arrange.new_order_id()
        arrange.requested(producer.app, order_id)
        with signed_in_client(producer.app.app, producer.issuer, "wes") as client:  # type: ignore[attr-defined]
            assert client.http.post(f"/orders/{order_id}/shipment/picked").status_code == 200
            body = json.dumps({"handoff": handoff})
            response = client.http.post(
                f"/orders/{order_id}/shipment/packed", headers={"Content-Type": "application/json"}, body=body
            )
            assert response.status_code == 200, response.body
        return producer.events_about(order_id)

    return drive


def instructed_order(producer: Producer) -> str:
    """A packed shipment whose ShipmentPacked reached instruct-logistics, which instructed the session's fake 3PL."""
    order_id = arrange.new_order_id()
    arrange.packed(producer.app, order_id)
    [packed] = [d for d in producer.events_about(order_id) if d["metadata"]["event_type"] == "ShipmentPacked"]
    body = raw_eventbridge_body(packed, detail_type="ShipmentPacked", source="shop.fulfillment")
    assert deliver_to_subscription(producer.app, SERVICE, "instruct-logistics", body) == {"batchItemFailures": []}
    return order_id


def the_logistics_service_accepted_the_instruction(producer: Producer) -> list[dict[str, Any]]:
    return producer.events_about(instructed_order(producer))


def tracked(*statuses: str) -> Any:
    """An instructed shipment, then the 3PL's signed tracking webhook for each status in turn."""

    def drive(producer: Producer) -> list[dict[str, Any]]:
        order_id = instructed_order(producer)
        shipment = producer.app.repository.shipment(order_id)  # type: ignore[attr-defined]
        with Client(producer.app.app) as client:  # type: ignore[attr-defined]
            for status in statuses:
                response = arrange.tracking_webhook(client, shipment, status)
                assert json.loads(response.body) == {"outcome": "applied"}, response.body
        return producer.events_about(order_id)

    return drive


def a_requested_shipment_is_cancelled(producer: Producer) -> list[dict[str, Any]]:
    order_id = arrange.new_order_id()
    arrange.requested(producer.app, order_id)
    body = eventbridge_body(arrange.order_cancelled(order_id))
    assert deliver_to_subscription(producer.app, SERVICE, "cancel-shipment", body) == {"batchItemFailures": []}
    return producer.events_about(order_id)


class TestFulfillmentAsProducer(ProducerContractTests):
    SERVICE = SERVICE
    # Provider state (as consumers name it) -> drives fulfillment's real code into it; returns the
    # details fulfillment published there.
    PROVIDER_STATES = {
        "a paid order with physical lines was given a shipment": paid_order_with_physical_lines_gets_a_shipment,
        "the warehouse packed a picked shipment for the logistics service": packed_for("logistics_service"),
        "the warehouse packed a picked shipment for the carrier CSV": packed_for("carrier_csv"),
        # The states orders' order-history and notify's subscriptions name for fulfillment's later events
        # (notify's declarations for ShipmentDispatched and ShipmentDelivered are on main already).
        "the logistics service accepted a packed shipment's instruction": the_logistics_service_accepted_the_instruction,
        "the carrier took an instructed shipment's parcel": tracked("shipped"),
        "the carrier delivered a dispatched parcel": tracked("shipped", "delivered"),
        "a requested shipment was cancelled because its order was cancelled": a_requested_shipment_is_cancelled,
    }


@pytest.mark.parametrize(
    ("state", "published"),
    [
        ("the logistics service accepted a packed shipment's instruction", "ShipmentInstructed"),
        ("the carrier took an instructed shipment's parcel", "ShipmentDispatched"),
        ("the carrier delivered a dispatched parcel", "ShipmentDelivered"),
        ("a requested shipment was cancelled because its order was cancelled", "ShipmentCancelled"),
    ],
)
def test_each_state_publishes_its_event_and_every_event_passes_its_committed_schema(
    producer: Producer, state: str, published: str
) -> None:
    """The states no declaration on this branch names yet (other services' subscriptions do) are driven
    all the same, so they are known to work before those declarations arrive."""
    details = TestFulfillmentAsProducer.PROVIDER_STATES[state](producer)

    assert the_event(details, published, 1)["data"]["order_id"]
    for detail in details:
        metadata = detail["metadata"]
        assert schema_errors(committed_schema(metadata["event_type"], metadata["schema_version"]), detail) == []


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
