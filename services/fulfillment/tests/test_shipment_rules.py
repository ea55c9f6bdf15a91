"""request_shipment's rules (one shipment per paid order, physical goods only) through an in-memory
fulfillment table: no AWS. The DynamoDB adapter, the subscriber and the GET route are tested against
moto in test_shipments.py; this fake keeps the adapter's contract (the `FulfillmentWork` port, the same
typed conflicts) so the use case cannot tell them apart."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib import usecases
from chalicelib.domain import Shipment
from chalicelib.repository import AddressNotBetter, ShipmentAlreadyRequested, shipment_record
from shop_contracts.events import ShipmentRequestedV1, StockLine
from shop_devstack import testing
from shop_devstack.in_memory import InMemoryTable, InMemoryUnitOfWork
from shop_eventing.envelope import DomainEvent
from shop_eventing.outbox import AlreadyProcessed

SUBSCRIBER = "fulfillment.request-shipment"
PAID_AT = datetime(2030, 5, 17, 12, 30, tzinfo=UTC)


class InMemoryFulfillment(InMemoryTable):
    """The fulfillment table in memory: `Fulfillment` reads, and `unit_of_work()` for transactions."""

    def __init__(self) -> None:
        super().__init__()
        self.shipments: dict[str, dict[str, Any]] = {}
        self.addresses: dict[str, tuple[dict[str, Any], int]] = {}  # order_id -> (address, source_version)

    def shipment(self, order_id: str) -> dict[str, Any] | None:
        found = self.shipments.get(order_id)
        return dict(found) if found else None

    def delivery_address(self, order_id: str) -> dict[str, Any] | None:
        found = self.addresses.get(order_id)
        return dict(found[0]) if found else None

    def unit_of_work(self) -> InMemoryFulfillmentWork:
        return InMemoryFulfillmentWork(self)


class InMemoryFulfillmentWork(InMemoryUnitOfWork[InMemoryFulfillment]):
    """Stages like FulfillmentUnitOfWork."""

    def add_shipment(self, shipment: Shipment, requested_at: str) -> None:
        stored = shipment_record(shipment, requested_at)  # the adapter's own record: the same reads

        def store() -> None:
            self._table.shipments[shipment.order_id] = stored

        self.stage(ShipmentAlreadyRequested, lambda: shipment.order_id not in self._table.shipments, store)

    def keep_delivery_address(self, order_id: str, address: dict[str, Any], source_version: int) -> None:
        def better() -> bool:
            stored = self._table.addresses.get(order_id)
            return stored is None or stored[1] < source_version

        def store() -> None:
            self._table.addresses[order_id] = (address, source_version)

        self.stage(AddressNotBetter, better, store)


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
