"""The fulfillment table: shipments and the delivery addresses kept for them. Keys live here only."""

from __future__ import annotations

from typing import Any

from chalicelib.domain import Shipment
from shop_eventing.outbox import ITEM_TYPE, UnitOfWork, WriteConflict, from_dynamodb, to_dynamodb


class ShipmentAlreadyRequested(WriteConflict):
    """The order has its shipment already: one shipment per order, whatever arrives twice."""


class AddressNotBetter(WriteConflict):
    """An address from the same or a newer OrderPlaced major version is stored already."""


def shipment_key(order_id: str) -> dict[str, str]:
    return {"pk": f"SHIPMENT#{order_id}", "sk": "SHIPMENT"}


def address_key(order_id: str) -> dict[str, str]:
    return {"pk": f"ADDRESS#{order_id}", "sk": "ADDRESS"}


_SHIPMENT_FIELDS = ("shipment_id", "order_id", "lines", "address", "status", "requested_at")


def shipment_record(shipment: Shipment, requested_at: str) -> dict[str, Any]:
    """A shipment's fields as the table keeps them and `FulfillmentRepository.shipment` returns them."""
    return {
        "shipment_id": shipment.shipment_id,
        "order_id": shipment.order_id,
        "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in sorted(shipment.lines.items())],
        "address": shipment.address,
        "status": shipment.status,
        "requested_at": requested_at,
    }


class FulfillmentRepository:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _get(self, key: dict[str, str]) -> dict[str, Any] | None:
        item = self._client.get_item(TableName=self._table, Key=to_dynamodb(key), ConsistentRead=True).get("Item")
        return from_dynamodb(item) if item else None

    def shipment(self, order_id: str) -> dict[str, Any] | None:
        """The order's shipment as requested: its id, order_id, lines, address, status, requested_at."""
        item = self._get(shipment_key(order_id))
        return {field: item[field] for field in _SHIPMENT_FIELDS} if item else None

    def delivery_address(self, order_id: str) -> dict[str, Any] | None:
        item = self._get(address_key(order_id))
        return dict(item["address"]) if item else None


class FulfillmentUnitOfWork(UnitOfWork):
    """One transaction on the fulfillment table: the use cases' writes, events and processed-marker."""

    def add_shipment(self, shipment: Shipment, requested_at: str) -> None:
        self.put(
            {**shipment_key(shipment.order_id), ITEM_TYPE: "shipment", **shipment_record(shipment, requested_at)},
            condition="attribute_not_exists(pk)",
            conflict=ShipmentAlreadyRequested,
        )

    def keep_delivery_address(self, order_id: str, address: dict[str, Any], source_version: int) -> None:
        """`source_version` is the OrderPlaced major the address came from (1: upcast from one line of text)."""
        self.put(
            {
                **address_key(order_id),
                ITEM_TYPE: "delivery_address",
                "order_id": order_id,
                "address": address,
                "source_version": source_version,
            },
            # Native v2 data may replace an upcast v1 address, never the other way round.
            condition="attribute_not_exists(pk) OR source_version < :version",
            conflict=AddressNotBetter,
            values={":version": source_version},
        )
