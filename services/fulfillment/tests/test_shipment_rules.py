"""request_shipment's rules (one shipment per paid order, physical goods only) through an in-memory
fulfillment table (tests/fakes.py): no AWS. The DynamoDB adapter, the subscriber and the GET route are tested against
moto in test_shipments.py."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

import pytest
from tests.fakes import InMemoryFulfillment

from chalicelib import usecases
from shop_contracts.events import ShipmentRequestedV1, StockLine
from shop_devstack import testing
from shop_eventing.envelope import DomainEvent
from shop_eventing.outbox import AlreadyProcessed

SUBSCRIBER = "fulfillment.request-shipment"
PAID_AT = datetime(2030, 5, 17, 12, 30, tzinfo=UTC)


# Every PaymentCaptured of these tests is paid at the same moment, so shipments' times are known.
payment_captured = functools.partial(testing.payment_captured, now=PAID_AT)


def request_shipment(table: InMemoryFulfillment, event: DomainEvent) -> None:
    usecases.request_shipment(event, SUBSCRIBER, table.unit_of_work)


def test_the_physical_goods_of_a_paid_order_are_shipped_once_merged_by_sku():
    table = InMemoryFulfillment()
    lines = [("BOX", "physical", 1), ("FILM", "digital", 1), ("BOX", "physical", 2), ("MUG", "physical", 1)]
    paid = payment_captured("ord-1", lines)

    request_shipment(table, paid)

    shipment = table.shipment("ord-1")
    assert shipment is not None
    assert shipment["lines"] == [{"sku": "BOX", "quantity": 3}, {"sku": "MUG", "quantity": 1}]
    assert (shipment["address"], shipment["status"], shipment["requested_at"]) == (
        "1 Main St, Springfield",
        "REQUESTED",
        PAID_AT.isoformat(),
    )
    [requested] = table.outbox
    assert requested.data == ShipmentRequestedV1(
        shipment_id=shipment["shipment_id"],
        order_id="ord-1",
        lines=[StockLine(sku="BOX", quantity=3), StockLine(sku="MUG", quantity=1)],
        shipping_address="1 Main St, Springfield",
    )
    assert requested.metadata.causation_id == paid.event_id
    assert (SUBSCRIBER, paid.event_id) in table.processed


def test_a_digital_only_order_ships_nothing_but_notes_the_event():
    table = InMemoryFulfillment()
    paid = payment_captured("ord-2", [("FILM", "digital", 1)], address=None)

    request_shipment(table, paid)

    assert table.shipments == {}
    assert table.outbox == []
    assert (SUBSCRIBER, paid.event_id) in table.processed


def test_a_second_payment_event_for_the_order_is_noted_without_a_second_shipment():
    table = InMemoryFulfillment()
    request_shipment(table, payment_captured("ord-3", [("BOX", "physical", 1)]))
    first = table.shipment("ord-3")
    # The same fact under another event_id (e.g. re-published by the producer): no second shipment.
    again = payment_captured("ord-3", [("BOX", "physical", 1)])

    request_shipment(table, again)

    assert table.shipment("ord-3") == first
    assert [event.event_type for event in table.outbox] == ["ShipmentRequested"]
    assert (SUBSCRIBER, again.event_id) in table.processed


def test_the_same_event_again_is_already_processed_and_changes_nothing():
    table = InMemoryFulfillment()
    paid = payment_captured("ord-4", [("BOX", "physical", 1)])
    request_shipment(table, paid)

    with pytest.raises(AlreadyProcessed):
        request_shipment(table, paid)

    assert len(table.outbox) == 1


def test_physical_goods_without_an_address_are_refused_and_nothing_is_written():
    table = InMemoryFulfillment()

    with pytest.raises(ValueError, match="no shipping address"):
        request_shipment(table, payment_captured("ord-5", [("BOX", "physical", 1)], address=None))

    assert (table.shipments, table.outbox, table.processed) == ({}, [], set())


def test_the_shipment_shows_the_best_delivery_address_known_now():
    table = InMemoryFulfillment()
    request_shipment(table, payment_captured("ord-6", [("BOX", "physical", 1)]))
    table.addresses["ord-6"] = ({"line1": "1 Main St", "city": "Springfield"}, 2)

    shipment = usecases.shipment_for_order(table, "ord-6")

    assert shipment is not None
    assert shipment["delivery_address"] == {"line1": "1 Main St", "city": "Springfield"}
    assert usecases.shipment_for_order(table, "ord-none") is None
