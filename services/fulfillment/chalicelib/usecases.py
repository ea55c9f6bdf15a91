"""Fulfillment use cases: keep each order's delivery address, and request the shipment of its
physical goods once it is paid."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from chalicelib.domain import Shipment, plan_shipment
from chalicelib.repository import AddressNotBetter, ShipmentAlreadyRequested
from shop_contracts.events import OrderPlacedV2, PaymentCapturedV1, ShipmentRequestedV1, StockLine
from shop_eventing.envelope import DomainEvent
from shop_eventing.outbox import TransactionalWork

SOURCE = "shop.fulfillment"


class Fulfillment(Protocol):
    """The fulfillment table as the use cases read it (chalicelib.repository.FulfillmentRepository)."""

    def shipment(self, order_id: str) -> dict[str, Any] | None: ...

    def delivery_address(self, order_id: str) -> dict[str, Any] | None: ...


class FulfillmentWork(TransactionalWork, Protocol):
    """One transaction on the fulfillment table (chalicelib.repository.FulfillmentUnitOfWork): its own writes, then
    TransactionalWork's events, processed-marker and commit."""

    def add_shipment(self, shipment: Shipment, requested_at: str) -> None: ...

    def keep_delivery_address(self, order_id: str, address: dict[str, Any], source_version: int) -> None: ...


NewUnitOfWork = Callable[[], FulfillmentWork]


def record_delivery_address(event: DomainEvent, subscriber: str, new_uow: NewUnitOfWork) -> None:
    """On OrderPlaced (read as v2): keep the structured address for the order's shipment.

    During the migration each order arrives twice (v1 and v2, two event_ids): the first one stored
    wins the conditional put; v2's own address is never worse than an upcast v1's, so a v2 arriving
    second replaces an upcast one."""
    placed = event.data
    assert isinstance(placed, OrderPlacedV2)
    uow = new_uow()
    uow.mark_processed(subscriber, event)
    if placed.shipping_address:
        uow.keep_delivery_address(placed.order_id, placed.shipping_address.model_dump(), event.published_version)
    try:
        uow.commit()
    except AddressNotBetter:
        _note_seen(new_uow, subscriber, event)


def request_shipment(event: DomainEvent, subscriber: str, new_uow: NewUnitOfWork) -> None:
    """On PaymentCaptured: request one shipment for the order's physical goods (none if all digital)."""
    paid = event.data
    assert isinstance(paid, PaymentCapturedV1)
    shipment = plan_shipment(paid.order_id, ((line.sku, line.kind, line.quantity) for line in paid.lines), paid.shipping_address)
    uow = new_uow()
    uow.mark_processed(subscriber, event)
    if shipment:
        uow.add_shipment(shipment, requested_at=event.metadata.occurred_at.isoformat())
        lines = [StockLine(sku=sku, quantity=qty) for sku, qty in sorted(shipment.lines.items())]
        uow.add_event(
            event.caused(
                ShipmentRequestedV1(
                    shipment_id=shipment.shipment_id, order_id=shipment.order_id, lines=lines, shipping_address=shipment.address
                ),
                producer=SOURCE,
            )
        )
    try:
        uow.commit()
    except ShipmentAlreadyRequested:
        _note_seen(new_uow, subscriber, event)


def shipment_for_order(repository: Fulfillment, order_id: str) -> dict[str, Any] | None:
    shipment = repository.shipment(order_id)
    if shipment is None:
        return None
    # The best address known now (native v2 beats an upcast v1), not a copy frozen at request time.
    return {**shipment, "delivery_address": repository.delivery_address(order_id)}


def _note_seen(new_uow: NewUnitOfWork, subscriber: str, event: DomainEvent) -> None:
    """The event's effect is already in the table: remember the event was handled, change nothing else."""
    seen = new_uow()
    seen.mark_processed(subscriber, event)
    seen.commit()
