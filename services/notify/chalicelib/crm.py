"""The CRM's view of an order, free of I/O: one record per order, merged from the events about it.

notify keeps the view in its own table and pushes the whole record to the CRM (an upsert keyed on the
order id), so a push is idempotent and a retry after any failure simply pushes again.

Events arrive in any order (SQS is not FIFO, and a failed one comes back later). A stale event never
overwrites newer state: the status and the last event follow the newest event by its `occurred_at`
(the event id breaks ties, so every replica of the view agrees); facts only one event kind carries
(the amount paid, the carrier and tracking number) are kept whenever they arrive, and the amount
refunded only grows (each refund carries the order's refunded total so far).

Concurrent deliveries for one order are settled in `sync_order`: the view is written with an
optimistic version check, and after pushing, the pusher checks the version again and pushes the
newer view if another event was merged meanwhile, so the CRM's last write is the newest view.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from shop_contracts.events import (
    OrderCancelledV1,
    PaymentCapturedV1,
    PaymentRefundedV1,
    ShipmentDeliveredV1,
    ShipmentDispatchedV1,
)
from shop_eventing.envelope import DomainEvent

# The statuses the back office sees, by the event that sets them.
STATUS_OF = {
    "PaymentCaptured": "paid",
    "OrderCancelled": "cancelled",
    "ShipmentDispatched": "shipped",
    "ShipmentDelivered": "delivered",
}
MAX_ROUNDS = 5


@dataclass(frozen=True)
class OrderView:
    order_id: str
    customer_email: str | None = None
    customer_id: str | None = None
    status: str | None = None
    last_event_type: str | None = None
    last_event_at: str | None = None  # ISO 8601 UTC of the newest event merged
    last_event_id: str | None = None
    currency: str | None = None
    paid_amount: int | None = None
    refunded_amount: int | None = None
    carrier: str | None = None
    tracking_number: str | None = None

    def crm_fields(self) -> dict[str, str]:
        """The record's fields as the CRM app names them (kintone: every value a string)."""
        values = {
            "order_id": self.order_id,
            "customer_email": self.customer_email,
            "customer_id": self.customer_id,
            "status": self.status,
            "currency": self.currency,
            "paid_amount": self.paid_amount,
            "refunded_amount": self.refunded_amount,
            "carrier": self.carrier,
            "tracking_number": self.tracking_number,
            "last_event_type": self.last_event_type,
            "last_event_at": self.last_event_at,
        }
        return {field: str(value) for field, value in values.items() if value is not None}


def _moment(event: DomainEvent) -> tuple[str, str]:
    return event.metadata.occurred_at.isoformat().replace("+00:00", "Z"), event.event_id


def merge(view: OrderView, event: DomainEvent) -> OrderView:
    """`view` with `event` applied; merging an event twice, or an older one, changes nothing it should not."""
    data = event.data
    merged = replace(
        view,
        customer_email=view.customer_email or getattr(data, "customer_email", None),
        customer_id=view.customer_id or getattr(data, "customer_id", None),
    )
    if isinstance(data, PaymentCapturedV1):
        merged = replace(merged, paid_amount=data.amount.amount, currency=data.amount.currency)
    elif isinstance(data, PaymentRefundedV1):
        refunded = max(merged.refunded_amount or 0, data.refunded_total.amount)
        merged = replace(merged, refunded_amount=refunded, currency=merged.currency or data.refunded_total.currency)
    elif isinstance(data, ShipmentDispatchedV1 | ShipmentDeliveredV1):
        merged = replace(merged, carrier=data.carrier, tracking_number=data.tracking_number)
    elif isinstance(data, OrderCancelledV1):
        merged = replace(merged, currency=merged.currency or data.total.currency)
    else:
        raise ValueError(f"the CRM takes no {type(data).__name__}")
    at, event_id = _moment(event)
    if merged.last_event_at is None or (at, event_id) > (merged.last_event_at, merged.last_event_id or ""):
        status = STATUS_OF.get(event.event_type)
        if isinstance(data, PaymentRefundedV1):
            status = "refunded" if data.fully_refunded else "partially_refunded"
        merged = replace(merged, status=status, last_event_type=event.event_type, last_event_at=at, last_event_id=event_id)
    return merged


class OrderViews(Protocol):
    def get(self, order_id: str) -> tuple[OrderView | None, int]:
        """The stored view and its version (0 when there is none)."""

    def save(self, view: OrderView, expected_version: int) -> bool:
        """Store `view` as version `expected_version + 1` if the stored version is still `expected_version`."""


class Crm(Protocol):
    def upsert(self, order_id: str, fields: dict[str, str]) -> None:
        """Create or update the order's one record; raise if the CRM did not take it."""


class ViewKeptChanging(Exception):
    """The order's view changed under every attempt: the message is retried later."""


def sync_order(event: DomainEvent, views: OrderViews, crm: Crm) -> OrderView:
    """Merge `event` into the order's view and push the view to the CRM until the CRM holds the newest."""
    order_id: str = event.data.order_id  # type: ignore[attr-defined]
    for _ in range(MAX_ROUNDS):
        stored, version = views.get(order_id)
        current = stored or OrderView(order_id=order_id)
        merged = merge(current, event)
        if merged != stored:
            if not views.save(merged, version):
                continue
            version += 1
        break
    else:
        raise ViewKeptChanging(f"order {order_id}: the view changed under {MAX_ROUNDS} merges")
    pushed, pushed_version = merged, version
    for _ in range(MAX_ROUNDS):
        crm.upsert(order_id, pushed.crm_fields())
        latest, latest_version = views.get(order_id)
        if latest is None or latest_version == pushed_version:
            return pushed
        # Another event was merged while this push was on its way: the CRM may hold the older view.
        pushed, pushed_version = latest, latest_version
    raise ViewKeptChanging(f"order {order_id}: the view changed under {MAX_ROUNDS} pushes")
