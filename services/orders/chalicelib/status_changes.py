"""OrderStatusChanged from the orders table's change stream (change data capture, decision 0018).

Every save of an order writes its derived status and, when that status changed, one more
`status_version` (domain.Order.current_status_version) in the same conditional put, so this feed needs
to know no use case: an order item whose status_version moved announces its status at that version.
The relay calls it for every stream record it reads (shop_eventing.relay, ChangeFeed) and publishes
what it returns beside the outbox's events.

The event_id derives from (order_id, status_version) and the time from the stream record: a
redelivered record, or the same change read again, is the very same event, which consumers
de-duplicate. An order without a customer (placed before sign-in) announces nothing: nobody could
watch it, and the contract names the customer whose storefront shows it.
"""

from __future__ import annotations

import uuid

from chalicelib.repository import ORDER_ITEM_TYPE, STATUS_VERSION
from shop_contracts.events import OrderStatusChangedV1
from shop_eventing.envelope import DomainEvent, new_event
from shop_eventing.outbox import ITEM_TYPE
from shop_eventing.relay import StreamChange

SOURCE = "shop.orders"
# Fixed forever: the event ids of changes already published derive from it.
STATUS_CHANGE_NAMESPACE = uuid.UUID("5b0c7f3e-2d41-4c8e-9a6f-0e7d3b1c9a52")


def status_change_event_id(order_id: str, status_version: int) -> str:
    return str(uuid.uuid5(STATUS_CHANGE_NAMESPACE, f"{order_id}#{status_version}"))


def order_status_changes(change: StreamChange) -> list[DomainEvent]:
    """OrderStatusChanged for an order item whose status_version moved; nothing for a save that left
    the status alone, any other item (outbox, markers, the catalog view), a removal, or an order
    without a customer."""
    new = change.new
    if new.get(ITEM_TYPE) != ORDER_ITEM_TYPE or new.get(STATUS_VERSION) is None or not new.get("customer_id"):
        return []
    version = int(new[STATUS_VERSION])
    # 0: an order saved before status_version existed, whose status has not changed since.
    if version < 1 or change.old.get(STATUS_VERSION) == version:
        return []
    order_id = str(new["order_id"])
    previous = change.old.get("status")
    status = OrderStatusChangedV1(
        order_id=order_id,
        customer_id=str(new["customer_id"]),
        status=str(new["status"]),
        previous_status=str(previous) if previous else None,
        status_version=version,
        changed_at=change.written_at.isoformat(),
    )
    return [
        new_event(
            status,
            producer=SOURCE,
            correlation_id=order_id,
            event_id=status_change_event_id(order_id, version),
            now=change.written_at,
        )
    ]
