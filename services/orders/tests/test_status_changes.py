"""OrderStatusChanged from the orders table's change stream, without AWS: which item changes announce a
status change, and that the same change read again is the very same event (decision 0018)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.status_changes import order_status_changes, status_change_event_id
from shop_contracts.events import OrderStatusChangedV1
from shop_eventing.relay import StreamChange

WRITTEN = datetime(2030, 5, 17, 12, 0, 1, tzinfo=UTC)


def order(status: str, status_version: int | None, customer_id: str | None = "ada-sub", **more: Any) -> dict[str, Any]:
    item = {"pk": "ORDER#ord-1", "sk": "ORDER", "item_type": "order", "order_id": "ord-1", "status": status, **more}
    if status_version is not None:
        item["status_version"] = status_version
    if customer_id is not None:
        item["customer_id"] = customer_id
    return item


def change(old: dict[str, Any], new: dict[str, Any], name: str = "MODIFY") -> StreamChange:
    return StreamChange(event_name=name, old=old, new=new, written_at=WRITTEN)


def test_a_status_change_announces_the_new_and_the_previous_status_at_its_version():
    [event] = order_status_changes(change(order("STOCK_RESERVED", 2), order("PAID", 3)))

    assert isinstance(event.data, OrderStatusChangedV1)
    assert event.data.model_dump() == {
        "order_id": "ord-1",
        "customer_id": "ada-sub",
        "status": "PAID",
        "previous_status": "STOCK_RESERVED",
        "status_version": 3,
        "changed_at": WRITTEN.isoformat(),
    }
    assert (event.event_id, event.metadata.producer, event.metadata.correlation_id) == (
        status_change_event_id("ord-1", 3),
        "shop.orders",
        "ord-1",
    )
    assert event.metadata.occurred_at == WRITTEN


def test_a_new_order_announces_its_first_status_without_a_previous_one():
    [event] = order_status_changes(change({}, order("PENDING", 1), name="INSERT"))

    assert isinstance(event.data, OrderStatusChangedV1)
    assert (event.data.status, event.data.previous_status, event.data.status_version) == ("PENDING", None, 1)


def test_the_same_record_read_again_is_the_same_event():
    record = change(order("PAID", 3), order("SHIPMENT_REQUESTED", 4))

    first, again = order_status_changes(record), order_status_changes(record)

    assert [e.to_detail() for e in first] == [e.to_detail() for e in again]


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        (order("PAID", 3), order("PAID", 3, shipment={"shipment_id": "s-1"}), "a save that left the status alone"),
        (order("PAID", None), order("PAID", 0), "an order from before status versions, status unchanged"),
        (order("PAID", 3, customer_id=None), order("SHIPPED", 4, customer_id=None), "an order placed before sign-in"),
        ({}, {"pk": "OUTBOX#x", "sk": "OUTBOX", "item_type": "outbox", "status_version": 1}, "another item"),
        (order("PAID", 3), {}, "a removal"),
    ],
)
def test_only_an_order_whose_status_version_moved_and_that_has_a_customer_announces_anything(old, new, why):
    assert order_status_changes(change(old, new)) == [], why


def test_an_order_from_before_status_versions_announces_its_next_change_as_version_1():
    [event] = order_status_changes(change(order("STOCK_RESERVED", None), order("PAID", 1)))

    assert isinstance(event.data, OrderStatusChangedV1)
    assert (event.data.previous_status, event.data.status, event.data.status_version) == ("STOCK_RESERVED", "PAID", 1)


def test_event_ids_differ_per_order_and_version():
    ids = {status_change_event_id(order_id, version) for order_id in ("ord-1", "ord-2") for version in (1, 2)}

    assert len(ids) == 4
