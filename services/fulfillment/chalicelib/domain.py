"""Fulfillment rules, free of I/O: what a paid order needs shipped."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

# Shipment ids derive from the order, so a repeated or replayed request names the same shipment.
_SHIPMENT_NAMESPACE = uuid.UUID("6f1c3d4e-0b7a-4f37-9a51-3c2b9e7d8a10")


@dataclass(frozen=True)
class Shipment:
    shipment_id: str
    order_id: str
    lines: dict[str, int]
    address: str
    status: str = "REQUESTED"


def plan_shipment(order_id: str, lines: Iterable[tuple[str, str, int]], address: str | None) -> Shipment | None:
    """lines are (sku, kind, quantity); only physical goods ship. None when there is nothing to ship."""
    physical: dict[str, int] = {}
    for sku, kind, quantity in lines:
        if kind == "physical":
            physical[sku] = physical.get(sku, 0) + quantity
    if not physical:
        return None
    if not address:
        raise ValueError(f"order {order_id} has physical goods but no shipping address")
    shipment_id = f"shp_{uuid.uuid5(_SHIPMENT_NAMESPACE, order_id).hex[:16]}"
    return Shipment(shipment_id, order_id, physical, address)
