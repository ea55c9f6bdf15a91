"""`shop status` and `shop trace` on the running shop: every subscription's queue and DLQ with each
publishing service's outbox backlog, and one order's story, step by step, in time order."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from shop_contracts import TOPOLOGY
from shop_devstack.testing import eventually
from shop_ops import status, trace
from tests.ops_e2e import shop_command, target_of


def test_status_lists_every_subscription_and_each_publishers_outbox(shop):
    services = status.status(target_of(shop))

    assert [s.service for s in services] == [s.name for s in TOPOLOGY.services]
    subscribers = [sub.subscriber for s in services for sub in s.subscriptions]
    assert subscribers == [f"{service.name}.{sub.name}" for service, sub in TOPOLOGY.subscriptions()]
    assert {s.service for s in services if s.outbox is not None} == {s.name for s in TOPOLOGY.services if s.publishes}

    printed = shop_command(shop, "status")
    assert printed.exit_code == 0, printed.output
    for service, subscription in TOPOLOGY.subscriptions():
        assert re.search(rf"│ {service.name}\s+│ {subscription.name}\s+│ \d+\s+│ \d+", printed.output), subscription.name


def test_trace_prints_an_orders_story_across_services_in_time_order(shop):
    sku = shop.new_product(stock=2)
    placed = shop.place_order([(sku, 1)], email=f"trace-{uuid.uuid4().hex[:8]}@example.com")
    order_id = shop.settled_order(placed.body["order_id"])["order_id"]

    def told() -> list[trace.Step] | None:
        steps = trace.trace(target_of(shop), order_id)
        handled = {(s.event, s.detail) for s in steps if s.kind == "handled"}
        return (
            steps
            if ("PaymentCaptured v1", "notify.sales-ledger") in handled and not [s for s in steps if s.kind == "not handled"]
            else None
        )

    steps = eventually(told, what="every subscriber of the order's events to handle them")
    published = [(s.service, s.event) for s in steps if s.kind == "published"]
    # v1 and v2 of OrderPlaced are committed in one transaction, at the same moment; the rest follow in causal order.
    assert sorted(published[:2]) == [("orders", "OrderPlaced v1"), ("orders", "OrderPlaced v2")]
    assert published[2:] == [
        ("catalog", "StockReserved v1"),
        ("orders", "PaymentCaptured v1"),
        ("fulfillment", "ShipmentRequested v1"),
    ]
    handled = {(s.event, s.detail) for s in steps if s.kind == "handled"}
    for subscriber in ("catalog.reserve-stock", "orders.charge-payment", "fulfillment.request-shipment", "notify.order-emails"):
        assert any(detail == subscriber for _, detail in handled), subscriber
    assert [s.at for s in steps] == sorted(s.at for s in steps)
    assert {s.kind for s in steps} == {"published", "handled"}

    printed = shop_command(shop, "trace", order_id)
    assert printed.exit_code == 0, printed.output
    rows = [line for line in printed.output.splitlines() if re.match(r"│ \d{4}-\d\d-\d\d ", line)]
    assert len(rows) == len(steps)
    times = [datetime.strptime(row.split("│")[1].strip(), "%Y-%m-%d %H:%M:%S.%f") for row in rows]
    assert times == sorted(times)
    assert any("published PaymentCaptured v1" in row for row in rows)
    assert any("handled PaymentCaptured v1 (notify.order-emails)" in row for row in rows)
