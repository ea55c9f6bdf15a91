"""Fulfillment use cases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.domain import Shipment, plan_shipment
from shop_contracts.events import OrderPlacedV2, PaymentCapturedV1, ShipmentRequestedV1, StockLine
from shop_eventing.envelope import DomainEvent
from shop_eventing.outbox import TransactionCancelled, UnitOfWork, from_dynamodb, to_dynamodb

SOURCE = "shop.fulfillment"
NewUnitOfWork = Callable[[], UnitOfWork]


def shipment_key(order_id: str) -> dict[str, str]:
    return {"pk": f"SHIPMENT#{order_id}", "sk": "SHIPMENT"}


def address_key(order_id: str) -> dict[str, str]:
    return {"pk": f"ADDRESS#{order_id}", "sk": "ADDRESS"}


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
        uow.put(
            {
                **address_key(placed.order_id),
                "kind_of_item": "delivery_address",
                "order_id": placed.order_id,
                "address": placed.shipping_address.model_dump(),
                "source_version": event.published_version,
            },
            label="address",
            # Native v2 data may replace an upcast v1 address, never the other way round.
            condition="attribute_not_exists(pk) OR source_version < :version",
            values={":version": event.published_version},
        )
    try:
        uow.commit()
    except TransactionCancelled as cancelled:
        if "address" not in cancelled.failed_labels():
            raise
        seen = new_uow()
        seen.mark_processed(subscriber, event)
        seen.commit()


def delivery_address(client: Any, table_name: str, order_id: str) -> dict[str, Any] | None:
    item = client.get_item(TableName=table_name, Key=to_dynamodb(address_key(order_id)), ConsistentRead=True).get("Item")
    return dict(from_dynamodb(item)["address"]) if item else None


def request_shipment(event: DomainEvent, subscriber: str, new_uow: NewUnitOfWork) -> None:
    paid = event.data
    assert isinstance(paid, PaymentCapturedV1)
    shipment = plan_shipment(paid.order_id, ((line.sku, line.kind, line.quantity) for line in paid.lines), paid.shipping_address)
    uow = new_uow()
    uow.mark_processed(subscriber, event)
    if shipment:
        lines = [StockLine(sku=sku, quantity=qty) for sku, qty in sorted(shipment.lines.items())]
        uow.put(
            {
                **shipment_key(shipment.order_id),
                "kind_of_item": "shipment",
                "shipment_id": shipment.shipment_id,
                "order_id": shipment.order_id,
                "lines": [line.model_dump() for line in lines],
                "address": shipment.address,
                "status": shipment.status,
                "requested_at": event.metadata.occurred_at.isoformat(),
            },
            label="shipment",
            condition="attribute_not_exists(pk)",  # one shipment per order, whatever arrives twice
        )
        uow.publish(
            event.caused(
                ShipmentRequestedV1(
                    shipment_id=shipment.shipment_id, order_id=shipment.order_id, lines=lines, shipping_address=shipment.address
                ),
                producer=SOURCE,
            )
        )
    try:
        uow.commit()
    except TransactionCancelled as cancelled:
        if "shipment" not in cancelled.failed_labels():
            raise
        seen = new_uow()
        seen.mark_processed(subscriber, event)
        seen.commit()


def shipment_for_order(client: Any, table_name: str, order_id: str) -> dict[str, Any] | None:
    item = client.get_item(TableName=table_name, Key=to_dynamodb(shipment_key(order_id)), ConsistentRead=True).get("Item")
    if not item:
        return None
    found = from_dynamodb(item)
    shipment = {k: found[k] for k in ("shipment_id", "order_id", "lines", "address", "status", "requested_at")}
    # The best address known now (native v2 beats an upcast v1), not a copy frozen at request time.
    shipment["delivery_address"] = delivery_address(client, table_name, order_id)
    return shipment


__all__ = ["Shipment", "delivery_address", "record_delivery_address", "request_shipment", "shipment_for_order"]
