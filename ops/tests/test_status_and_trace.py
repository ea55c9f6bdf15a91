"""status: per service, queue and DLQ depths and the outbox backlog; trace: one order's story in time order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shop_contracts.events import Money, PaymentFailedV1, StockLine, StockReservedV1
from shop_eventing.consumer import failure_record_key
from shop_eventing.outbox import to_dynamodb
from shop_ops import status, trace


def test_status_counts_queue_and_dlq_messages_and_unpublished_outbox_items(shop) -> None:
    shop.drain("vod.transcode"), shop.drain("vod.transcode", dlq=True)
    for _ in range(2):
        shop.sqs.send_message(QueueUrl=shop.queue_url("vod.transcode"), MessageBody="{}")
    shop.sqs.send_message(QueueUrl=shop.queue_url("vod.transcode", dlq=True), MessageBody="{}")
    before = {s.service: s for s in status.status(shop.target)}["fulfillment"].outbox
    order = f"o-{uuid.uuid4().hex[:8]}"
    written = datetime.now(UTC) - timedelta(minutes=3)
    shipment = StockReservedV1(order_id=order, lines=[StockLine(sku="S", quantity=1)])
    shop.publish("catalog", shipment, correlation_id=order, at=written, published=False)

    services = {s.service: s for s in status.status(shop.target)}

    transcode = {s.subscriber: s for s in services["vod"].subscriptions}["vod.transcode"]
    assert (transcode.queue.total, transcode.dlq.total) == (2, 1)
    assert transcode.queue_oldest is None, "a live queue is never peeked locally"
    assert transcode.dlq_oldest is not None
    assert services["notify"].outbox is None, "notify publishes nothing"
    catalog = services["catalog"].outbox
    assert catalog is not None and catalog.pending >= 1 and catalog.oldest is not None and catalog.oldest >= timedelta(minutes=3)
    assert before is not None and services["fulfillment"].outbox == before
    shop.drain("vod.transcode"), shop.drain("vod.transcode", dlq=True)


def test_trace_tells_an_orders_events_and_each_subscribers_part_in_time_order(shop) -> None:
    order = f"o-{uuid.uuid4().hex[:8]}"
    at = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    reserved = shop.publish(
        "catalog", StockReservedV1(order_id=order, lines=[StockLine(sku="S", quantity=1)]), correlation_id=order, at=at
    )
    failed = shop.publish(
        "orders",
        PaymentFailedV1(
            order_id=order, amount=Money(amount=1, currency="USD"), customer_email="a@example.com", reason="card_declined"
        ),
        correlation_id=order,
        at=at + timedelta(seconds=1),
    )
    shop.mark_handled("orders.charge-payment", reserved)
    shop.mark_handled("catalog.release-stock", failed)
    failure = {
        **failure_record_key("notify.order-emails", failed.event_id),
        "item_type": "failure",
        "reason": "SesDown: try later",
        "receive_count": 2,
        "failed_at": (at + timedelta(seconds=2)).isoformat(),
    }
    shop.dynamodb.put_item(TableName=shop.target.naming.table("notify"), Item=to_dynamodb(failure))
    other = f"o-{uuid.uuid4().hex[:8]}"
    shop.publish("catalog", StockReservedV1(order_id=other, lines=[StockLine(sku="S", quantity=1)]), correlation_id=other, at=at)

    steps = trace.trace(shop.target, order, since=at - timedelta(minutes=1), until=at + timedelta(minutes=1))

    told = [(step.service, step.kind, step.event) for step in steps]
    assert told[:2] == [("catalog", "published", "StockReserved v1"), ("orders", "published", "PaymentFailed v1")]
    assert ("orders", "handled", "StockReserved v1") in told and ("catalog", "handled", "PaymentFailed v1") in told
    assert ("notify", "failed", "PaymentFailed v1") in told
    assert [s.detail for s in steps if s.kind == "failed"] == ["notify.order-emails, receive 2: SesDown: try later"]
    assert {s.event_id for s in steps} == {reserved.event_id, failed.event_id}
    assert [s.at for s in steps if s.kind == "published"] == sorted(s.at for s in steps if s.kind == "published")
