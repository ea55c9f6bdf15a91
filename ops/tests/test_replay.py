"""Replay from the producers' outbox logs: the exact window and types, exactly the subscribers asked
for, the original event_id in a fresh envelope, at a bounded rate."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shop_contracts.events import Money, PaymentFailedV1, StockLine, StockReservedV1
from shop_ops import replay
from shop_ops.eventlog import read_log
from shop_ops.pacing import Pacer
from shop_ops.target import UnknownSubscriber

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def reserved(order_id: str) -> StockReservedV1:
    return StockReservedV1(order_id=order_id, lines=[StockLine(sku="SKU-1", quantity=1)])


def failed(order_id: str) -> PaymentFailedV1:
    return PaymentFailedV1(
        order_id=order_id, amount=Money(amount=100, currency="USD"), customer_email="a@example.com", reason="card_declined"
    )


def test_the_log_gives_exactly_the_events_of_the_window_and_types_in_the_order_they_occurred(shop) -> None:
    base = T0 + timedelta(days=1)
    order = f"o-{uuid.uuid4().hex[:8]}"
    before = shop.publish("catalog", reserved(order), correlation_id=order, at=base - timedelta(microseconds=1))
    first = shop.publish("catalog", reserved(order), correlation_id=order, at=base)
    second = shop.publish("orders", failed(order), correlation_id=order, at=base + timedelta(seconds=1))
    at_until = shop.publish("orders", failed(order), correlation_id=order, at=base + timedelta(seconds=2))

    window = read_log(shop.target, since=base, until=base + timedelta(seconds=2))
    only_failed = read_log(shop.target, since=base, until=base + timedelta(seconds=3), types=["PaymentFailed"])

    assert [e.event_id for e in window] == [first.event_id, second.event_id]
    assert before.event_id not in [e.event_id for e in window] and at_until.event_id not in [e.event_id for e in window]
    assert [e.event_id for e in only_failed] == [second.event_id, at_until.event_id]
    assert (window[0].producer, window[0].source, window[0].schema_version) == ("catalog", "shop.catalog", 1)
    assert json.loads(window[1].detail) == second.to_detail()


def test_each_event_goes_to_the_subscribers_of_its_type_or_only_to_those_named(shop) -> None:
    base = T0 + timedelta(days=2)
    order = f"o-{uuid.uuid4().hex[:8]}"
    shop.publish("catalog", reserved(order), correlation_id=order, at=base)
    shop.publish("orders", failed(order), correlation_id=order, at=base + timedelta(seconds=1))
    window = {"since": base, "until": base + timedelta(minutes=1)}

    everyone = replay.select(shop.target, **window)
    one = replay.select(shop.target, **window, to=["notify.order-emails"])

    assert [(d.event.event_type, d.subscriber) for d in everyone] == [
        ("StockReserved", "orders.charge-payment"),
        ("PaymentFailed", "catalog.release-stock"),
        ("PaymentFailed", "notify.order-emails"),
    ]
    assert [(d.event.event_type, d.subscriber, d.queue) for d in one] == [
        ("PaymentFailed", "notify.order-emails", shop.target.naming.queue("notify", "order-emails"))
    ]
    with pytest.raises(UnknownSubscriber, match=r"notify\.order-mails"):
        replay.select(shop.target, **window, to=["notify.order-mails"])


def test_a_replay_delivers_the_original_detail_in_a_fresh_envelope_to_the_named_queue_only(shop) -> None:
    base = T0 + timedelta(days=3)
    order = f"o-{uuid.uuid4().hex[:8]}"
    event = shop.publish("orders", failed(order), correlation_id=order, at=base)
    shop.drain("notify.order-emails"), shop.drain("catalog.release-stock")

    deliveries = replay.select(shop.target, since=base, until=base + timedelta(seconds=1), to=["notify.order-emails"])
    twice = [replay.send(shop.target, deliveries, replay_name=f"r{n}") for n in (1, 2)]

    assert [result.sent for result in twice] == [1, 1]
    received = shop.drain("notify.order-emails")
    bodies = [json.loads(message["Body"]) for message in received]
    assert [body["detail"] for body in bodies] == [event.to_detail()] * 2
    assert len({body["id"] for body in bodies}) == 2, "each replay is a new envelope"
    assert {(body["source"], body["detail-type"], body["replay-name"]) for body in bodies} == {
        ("shop.orders", "PaymentFailed", "r1"),
        ("shop.orders", "PaymentFailed", "r2"),
    }
    assert shop.drain("catalog.release-stock") == [], "a subscriber not named gets nothing"


def test_a_replay_keeps_to_its_rate() -> None:
    """25 messages at 10 a second: the pacer waits 2 s in all (on a fake clock), never sending ahead."""
    now = [0.0]
    sent_at: list[float] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    pacer = Pacer(10, clock=lambda: now[0], sleep=sleep)
    for batch in (10, 10, 5):
        pacer.take(batch)
        sent_at.append(now[0])

    assert sent_at == [0.0, 1.0, 2.0]
