"""The scheduled sweeper as wired in orders' app: an outbox item its stream relay never published
is published by `sweep_outbox` and leaves the index of unpublished items."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

from shop_contracts.events import Money, PaymentFailedV1
from shop_devstack.dispatcher import LambdaContext, scheduled_event
from shop_eventing.envelope import new_event
from shop_eventing.outbox import UnitOfWork


def test_sweep_outbox_publishes_what_the_relay_missed(orders_app: ModuleType, aws: Any) -> None:
    # An event orders publishes; no stream relay runs in these tests, as if its record had expired.
    late = new_event(
        PaymentFailedV1(order_id="ord-swept", amount=Money(amount=100, currency="USD"), customer_email="a@x.org", reason="x"),
        producer="shop.orders",
        correlation_id="ord-swept",
        now=datetime.now(UTC) - timedelta(hours=30),
    )
    unit = UnitOfWork(aws.dynamodb, aws.table, "shop.orders")
    unit.add_event(late)
    unit.commit()
    [before] = aws.outbox(event_id=late.event_id)
    assert "published_at" not in before

    orders_app.sweep_outbox(scheduled_event("us-east-1", "rule/sweep", datetime.now(UTC)), LambdaContext("sweep", 60))

    [after] = aws.outbox(event_id=late.event_id)
    assert "published_at" in after and "pending_pk" not in after
