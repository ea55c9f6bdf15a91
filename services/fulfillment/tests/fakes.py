"""In-memory stand-ins for the use cases' ports, for the tests of fulfillment's rules (no AWS, no HTTP).

`InMemoryFulfillment` keeps the adapter's contract (the `Fulfillment` reads and the `FulfillmentWork`
writes, with the same typed conflicts under the same conditions), so a use case cannot tell it from the
DynamoDB table; `FakeLogistics` answers like the 3PL adapter, failures included."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.domain import Shipment
from chalicelib.logistics import CancelRefused, LogisticsShipment, LogisticsUnavailable, ShippingInstruction
from chalicelib.repository import (
    AddressNotBetter,
    ShipmentAlreadyRequested,
    StatusChanged,
    TrackingNotNewer,
    shipment_record,
)
from shop_devstack.in_memory import InMemoryTable, InMemoryUnitOfWork


class InMemoryFulfillment(InMemoryTable):
    """The fulfillment table in memory: `Fulfillment` reads, and `unit_of_work()` for transactions."""

    def __init__(self) -> None:
        super().__init__()
        self.shipments: dict[str, dict[str, Any]] = {}
        self.addresses: dict[str, tuple[dict[str, Any], int]] = {}  # order_id -> (address, source_version)
        self.deliveries: dict[str, dict[str, Any]] = {}

    def shipment(self, order_id: str) -> dict[str, Any] | None:
        found = self.shipments.get(order_id)
        return {k: v for k, v in found.items() if k != "listed_for"} if found and not found.get("tombstone") else None

    def cancelled_before_payment(self, order_id: str) -> bool:
        return bool(self.shipments.get(order_id, {}).get("tombstone"))

    def delivery_address(self, order_id: str) -> dict[str, Any] | None:
        found = self.addresses.get(order_id)
        return dict(found[0]) if found else None

    def delivery_preference(self, order_id: str) -> dict[str, Any] | None:
        found = self.deliveries.get(order_id)
        return dict(found) if found else None

    def picking_list(self, limit: int) -> list[dict[str, Any]]:
        waiting = [s for s in self.shipments.values() if s.get("on_picking_list")]
        waiting.sort(key=lambda s: (s["requested_at"], s["order_id"]))
        return [self._view(s) for s in waiting[:limit]]

    def carrier_list(self, day: str) -> list[dict[str, Any]]:
        return [self._view(s) for s in self.shipments.values() if s.get("gsi1pk") == f"CARRIERLIST#{day}"]

    @staticmethod
    def _view(item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if k not in ("on_picking_list", "gsi1pk", "gsi1sk", "tracking_rank")}

    def unit_of_work(self) -> InMemoryFulfillmentWork:
        return InMemoryFulfillmentWork(self)


class InMemoryFulfillmentWork(InMemoryUnitOfWork[InMemoryFulfillment]):
    """Stages like FulfillmentUnitOfWork."""

    def add_shipment(self, shipment: Shipment, requested_at: str, details: Mapping[str, Any] | None = None) -> None:
        stored = {
            **shipment_record(shipment, requested_at),
            **{k: v for k, v in (details or {}).items() if v is not None},
            "on_picking_list": True,
        }

        def store() -> None:
            self._table.shipments[shipment.order_id] = stored

        self.stage(ShipmentAlreadyRequested, lambda: shipment.order_id not in self._table.shipments, store)

    def add_tombstone(self, order_id: str, cancelled_at: str, cancelled_by: str) -> None:
        def store() -> None:
            self._table.shipments[order_id] = {
                "order_id": order_id,
                "tombstone": True,
                "status": "CANCELLED",
                "cancelled_at": cancelled_at,
                "cancelled_by": cancelled_by,
            }

        self.stage(ShipmentAlreadyRequested, lambda: order_id not in self._table.shipments, store)

    def move_shipment(
        self,
        order_id: str,
        from_statuses: tuple[str, ...],
        to_status: str,
        fields: Mapping[str, Any] | None = None,
        remove: tuple[str, ...] = (),
    ) -> None:
        self._update(order_id, {"status": to_status, **(fields or {})}, remove, from_statuses)

    def note_on_shipment(self, order_id: str, fields: Mapping[str, Any], *, in_statuses: tuple[str, ...]) -> None:
        self._update(order_id, fields, (), in_statuses)

    def _update(self, order_id: str, sets: Mapping[str, Any], remove: tuple[str, ...], statuses: tuple[str, ...]) -> None:
        def holds() -> bool:
            found = self._table.shipments.get(order_id)
            return bool(found) and found["status"] in statuses  # type: ignore[index]

        def apply() -> None:
            item = self._table.shipments[order_id]
            item.update({k: v for k, v in sets.items() if v is not None})
            if "gsi1pk" in remove:
                item.pop("on_picking_list", None)
            for name in remove:
                item.pop(name, None)

        self.stage(StatusChanged, holds, apply)

    def record_tracking(self, order_id: str, logistics_status: str, rank: int, fields: Mapping[str, Any]) -> None:
        def holds() -> bool:
            found = self._table.shipments.get(order_id)
            return bool(found) and found.get("tracking_rank", -1) < rank  # type: ignore[union-attr]

        def apply() -> None:
            item = self._table.shipments[order_id]
            item.update(
                {
                    "logistics_status": logistics_status,
                    "tracking_rank": rank,
                    **{k: v for k, v in fields.items() if v is not None},
                }
            )

        self.stage(TrackingNotNewer, holds, apply)

    def keep_delivery_address(
        self, order_id: str, address: dict[str, Any], source_version: int, delivery: dict[str, Any] | None = None
    ) -> None:
        def better() -> bool:
            stored = self._table.addresses.get(order_id)
            return stored is None or stored[1] < source_version

        def store() -> None:
            self._table.addresses[order_id] = (address, source_version)
            if delivery:
                self._table.deliveries[order_id] = delivery

        self.stage(AddressNotBetter, better, store)


class FakeLogistics:
    """The 3PL port in memory: `fail` the next calls with LogisticsUnavailable, or refuse cancelling
    once a shipment is `packed` or `shipped` (its `statuses` entry), as the real API does."""

    def __init__(self) -> None:
        self.created: dict[str, ShippingInstruction] = {}  # identifier -> instruction
        self.statuses: dict[str, str] = {}  # logistics id -> status
        self.cancel_calls: list[str] = []
        self.fail = 0

    def _maybe_fail(self) -> None:
        if self.fail > 0:
            self.fail -= 1
            raise LogisticsUnavailable("503 from the fake")

    def create_shipment(self, instruction: ShippingInstruction) -> LogisticsShipment:
        self._maybe_fail()
        logistics_id = f"OL-{instruction.identifier}"
        self.created.setdefault(instruction.identifier, instruction)
        self.statuses.setdefault(logistics_id, "waiting")
        return LogisticsShipment(logistics_id=logistics_id, status=self.statuses[logistics_id], carrier="YAMATO")

    def cancel_shipment(self, logistics_id: str) -> None:
        self._maybe_fail()
        self.cancel_calls.append(logistics_id)
        status = self.statuses.get(logistics_id, "waiting")
        if status not in ("waiting", "picking", "cancelled"):
            raise CancelRefused(f"{logistics_id} is {status}", status)
        self.statuses[logistics_id] = "cancelled"
