"""The fulfillment table: shipments, their tombstones, and the delivery addresses kept for them. Keys
live here only.

A shipment on the picking list is in the general index under PICKING (oldest request first) until it
is packed; a parcel listed for the carrier CSV is there under CARRIERLIST#<day> (the day's file is
rebuilt from that partition)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chalicelib.domain import Shipment
from shop_eventing.outbox import ITEM_TYPE, UnitOfWork, WriteConflict, from_dynamodb, to_dynamodb

INDEX = "gsi1"
PICKING_PARTITION = "PICKING"


class ShipmentAlreadyRequested(WriteConflict):
    """The order has its shipment (or its tombstone) already: one shipment per order, whatever arrives twice."""


class AddressNotBetter(WriteConflict):
    """An address from the same or a newer OrderPlaced major version is stored already."""


class StatusChanged(WriteConflict):
    """The shipment is no longer in a status the write started from: someone else moved it first."""


class TrackingNotNewer(WriteConflict):
    """The shipment has already recorded this tracking status or a later one."""


def shipment_key(order_id: str) -> dict[str, str]:
    return {"pk": f"SHIPMENT#{order_id}", "sk": "SHIPMENT"}


def address_key(order_id: str) -> dict[str, str]:
    return {"pk": f"ADDRESS#{order_id}", "sk": "ADDRESS"}


def carrier_list_partition(day: str) -> str:
    return f"CARRIERLIST#{day}"


_SHIPMENT_FIELDS = ("shipment_id", "order_id", "lines", "address", "status", "requested_at")
# What the table keeps beyond those and returns with them when set.
_OPTIONAL_FIELDS = (
    "customer_email",
    "customer_id",
    "locale",
    "structured_address",
    "delivery",
    "picked_at",
    "picked_by",
    "packed_at",
    "packed_by",
    "handoff",
    "logistics_shipment_id",
    "carrier",
    "instructed_at",
    "instruction_error",
    "logistics_status",
    "tracking_number",
    "tracking_url",
    "dispatched_at",
    "delivered_at",
    "carrier_list_day",
    "cancelled_at",
    "cancelled_by",
    "cancel_refused_at",
    "cancel_refused_reason",
)


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


def _shipment_view(item: Mapping[str, Any]) -> dict[str, Any]:
    view = {field: item[field] for field in _SHIPMENT_FIELDS}
    view.update({field: item[field] for field in _OPTIONAL_FIELDS if item.get(field) is not None})
    return view


class FulfillmentRepository:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _get(self, key: dict[str, str]) -> dict[str, Any] | None:
        item = self._client.get_item(TableName=self._table, Key=to_dynamodb(key), ConsistentRead=True).get("Item")
        return from_dynamodb(item) if item else None

    def shipment(self, order_id: str) -> dict[str, Any] | None:
        """The order's shipment: id, order_id, lines, address, status, requested_at, and whatever later
        steps recorded (see _OPTIONAL_FIELDS). None when there is none, or only a tombstone."""
        item = self._get(shipment_key(order_id))
        return _shipment_view(item) if item and not item.get("tombstone") else None

    def cancelled_before_payment(self, order_id: str) -> bool:
        item = self._get(shipment_key(order_id))
        return bool(item and item.get("tombstone"))

    def delivery_address(self, order_id: str) -> dict[str, Any] | None:
        item = self._get(address_key(order_id))
        return dict(item["address"]) if item else None

    def delivery_preference(self, order_id: str) -> dict[str, Any] | None:
        item = self._get(address_key(order_id))
        return dict(item["delivery"]) if item and item.get("delivery") else None

    def _query_index(self, partition: str, limit: int | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": INDEX,
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": to_dynamodb({":pk": partition}),
        }
        while True:
            page = self._client.query(**request)
            items += [from_dynamodb(item) for item in page["Items"]]
            if "LastEvaluatedKey" not in page or (limit is not None and len(items) >= limit):
                return items[:limit] if limit is not None else items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def picking_list(self, limit: int) -> list[dict[str, Any]]:
        """Shipments waiting to be picked or packed, oldest request first."""
        return [_shipment_view(item) for item in self._query_index(PICKING_PARTITION, limit)]

    def carrier_list(self, day: str) -> list[dict[str, Any]]:
        """The parcels listed for the carrier CSV on `day`, in the order they were listed."""
        return [_shipment_view(item) for item in self._query_index(carrier_list_partition(day))]


class FulfillmentUnitOfWork(UnitOfWork):
    """One transaction on the fulfillment table: the use cases' writes, events and processed-marker."""

    def add_shipment(self, shipment: Shipment, requested_at: str, details: Mapping[str, Any] | None = None) -> None:
        """`details`: the customer's e-mail, id and locale, the structured address and delivery wish."""
        self.put(
            {
                **shipment_key(shipment.order_id),
                ITEM_TYPE: "shipment",
                **shipment_record(shipment, requested_at),
                **{k: v for k, v in (details or {}).items() if v is not None},
                # On the picking list from the start, oldest first.
                "gsi1pk": PICKING_PARTITION,
                "gsi1sk": f"{requested_at}#{shipment.order_id}",
            },
            condition="attribute_not_exists(pk)",
            conflict=ShipmentAlreadyRequested,
        )

    def add_tombstone(self, order_id: str, cancelled_at: str, cancelled_by: str) -> None:
        """The order was cancelled before it had a shipment: the tombstone takes the shipment's key, so
        a PaymentCaptured arriving later finds it taken and creates none."""
        self.put(
            {
                **shipment_key(order_id),
                ITEM_TYPE: "shipment_tombstone",
                "order_id": order_id,
                "tombstone": True,
                "status": "CANCELLED",
                "cancelled_at": cancelled_at,
                "cancelled_by": cancelled_by,
            },
            condition="attribute_not_exists(pk)",
            conflict=ShipmentAlreadyRequested,
        )

    def move_shipment(
        self,
        order_id: str,
        from_statuses: Iterable[str],
        to_status: str,
        fields: Mapping[str, Any] | None = None,
        remove: Iterable[str] = (),
    ) -> None:
        """Set the shipment's status (and `fields`) only if it is still in one of `from_statuses`."""
        self._update_shipment(order_id, {"status": to_status, **(fields or {})}, remove, from_statuses=tuple(from_statuses))

    def note_on_shipment(self, order_id: str, fields: Mapping[str, Any], *, in_statuses: Iterable[str]) -> None:
        """Record `fields` without moving the shipment, if it is still in one of `in_statuses`."""
        self._update_shipment(order_id, fields, (), from_statuses=tuple(in_statuses))

    def record_tracking(self, order_id: str, logistics_status: str, rank: int, fields: Mapping[str, Any]) -> None:
        """Record the 3PL's status `logistics_status` (and `fields`) only if it is later than the one recorded."""
        sets = {"logistics_status": logistics_status, "tracking_rank": rank, **fields}
        names = {f"#f{i}": name for i, name in enumerate(sets)}
        values = {f":v{i}": value for i, value in enumerate(sets.values())}
        self.update(
            shipment_key(order_id),
            "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(sets))),
            condition="attribute_exists(pk) AND (attribute_not_exists(tracking_rank) OR tracking_rank < :rank)",
            conflict=TrackingNotNewer,
            names=names,
            values={**values, ":rank": rank},
        )

    def _update_shipment(
        self, order_id: str, sets: Mapping[str, Any], remove: Iterable[str], *, from_statuses: tuple[str, ...]
    ) -> None:
        sets = {name: value for name, value in sets.items() if value is not None}
        names = {f"#f{i}": name for i, name in enumerate(sets)}
        values: dict[str, Any] = {f":v{i}": value for i, value in enumerate(sets.values())}
        expression = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(sets)))
        removed = list(remove)
        if removed:
            names.update({f"#r{i}": name for i, name in enumerate(removed)})
            expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(removed)))
        names["#status"] = "status"
        values.update({f":from{i}": status for i, status in enumerate(from_statuses)})
        allowed = ", ".join(f":from{i}" for i in range(len(from_statuses)))
        self.update(
            shipment_key(order_id),
            expression,
            condition=f"attribute_exists(pk) AND #status IN ({allowed})",
            conflict=StatusChanged,
            names=names,
            values=values,
        )

    def keep_delivery_address(
        self, order_id: str, address: dict[str, Any], source_version: int, delivery: dict[str, Any] | None = None
    ) -> None:
        """`source_version` is the OrderPlaced major the address came from (1: upcast from one line of text)."""
        self.put(
            {
                **address_key(order_id),
                ITEM_TYPE: "delivery_address",
                "order_id": order_id,
                "address": address,
                "source_version": source_version,
                "delivery": delivery,
            },
            # Native v2 data may replace an upcast v1 address, never the other way round.
            condition="attribute_not_exists(pk) OR source_version < :version",
            conflict=AddressNotBetter,
            values={":version": source_version},
        )
