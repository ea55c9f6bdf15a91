"""DLQ tooling on the embedded AWS: depth and oldest age, each message with why it failed (the
consumer's attribute, or the handler's failure record), redrive to the source queue, purge."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from shop_devstack.testing import raw_eventbridge_body
from shop_eventing.consumer import DEAD_LETTER_REASON, failure_record_key
from shop_eventing.outbox import to_dynamodb
from shop_ops import dlq

SUBSCRIBER = "orders.product-view"


def detail(event_id: str) -> dict[str, object]:
    metadata = {"event_id": event_id, "event_type": "ProductRetired", "schema_version": 1, "correlation_id": "product:S"}
    return {"metadata": metadata, "data": {"sku": "S", "revision": 1}}


def dead_letter(shop, event_id: str, *, reason: str | None = None) -> None:
    body = raw_eventbridge_body(detail(event_id), detail_type="ProductRetired", source="shop.catalog")
    attributes = {DEAD_LETTER_REASON: {"DataType": "String", "StringValue": reason}} if reason else {}
    shop.sqs.send_message(QueueUrl=shop.queue_url(SUBSCRIBER, dlq=True), MessageBody=body, MessageAttributes=attributes)


def record_failure(shop, event_id: str, reason: str) -> None:
    item = {
        **failure_record_key(SUBSCRIBER, event_id),
        "item_type": "failure",
        "reason": reason,
        "receive_count": 5,
        "failed_at": datetime.now(UTC).isoformat(),
    }
    shop.dynamodb.put_item(TableName=shop.target.naming.table("orders"), Item=to_dynamodb(item))


def test_show_gives_each_dead_letter_its_reason_from_the_attribute_or_the_failure_record(shop) -> None:
    shop.drain(SUBSCRIBER, dlq=True)
    poison, raised, unexplained = (str(uuid.uuid4()) for _ in range(3))
    dead_letter(shop, poison, reason="unknown event ProductRetired v9")
    dead_letter(shop, raised)
    record_failure(shop, raised, "OrderChangedSinceRead: the order changed")
    dead_letter(shop, unexplained)

    letters = {letter.event_id: letter for letter in dlq.show(shop.target, SUBSCRIBER)}
    again = dlq.show(shop.target, SUBSCRIBER)

    assert (letters[poison].reason, letters[poison].reason_from) == ("unknown event ProductRetired v9", "attribute")
    assert (letters[raised].reason, letters[raised].reason_from, letters[raised].receive_count) == (
        "OrderChangedSinceRead: the order changed",
        "failure record",
        5,
    )
    assert letters[unexplained].reason is None
    assert letters[raised].event_type == "ProductRetired" and letters[raised].correlation_id == "product:S"
    assert len(again) == 3, "show leaves the messages in the DLQ, visible"


def test_list_gives_each_dlq_its_depth_and_the_age_of_its_oldest_message(shop) -> None:
    shop.drain(SUBSCRIBER, dlq=True)
    dead_letter(shop, str(uuid.uuid4()))
    dead_letter(shop, str(uuid.uuid4()))
    later = datetime.now(UTC) + timedelta(hours=1)

    summaries = {s.subscriber: s for s in dlq.list_dlqs(shop.target, clock=lambda: later)}

    assert summaries[SUBSCRIBER].depth == 2
    oldest = summaries[SUBSCRIBER].oldest_age
    assert oldest is not None and timedelta(minutes=59) < oldest <= timedelta(hours=1, minutes=1)
    assert summaries["notify.crm-sync"].depth == 0 and summaries["notify.crm-sync"].oldest_age is None
    assert len(summaries) == sum(len(s.subscriptions) for s in shop.target.topology.services)


def test_redrive_moves_the_messages_back_to_the_source_queue_with_their_body_and_attributes(shop) -> None:
    shop.drain(SUBSCRIBER, dlq=True), shop.drain(SUBSCRIBER)
    ids = [str(uuid.uuid4()) for _ in range(12)]
    for event_id in ids:
        dead_letter(shop, event_id, reason="why")
    moved: list[int] = []

    first = dlq.redrive(shop.target, SUBSCRIBER, limit=5, progress=moved.append)
    rest = dlq.redrive(shop.target, SUBSCRIBER)

    assert (first.moved, rest.moved, sum(moved)) == (5, 7, 5)
    back = shop.drain(SUBSCRIBER)
    assert sorted(json.loads(m["Body"])["detail"]["metadata"]["event_id"] for m in back) == sorted(ids)
    assert {m["MessageAttributes"][DEAD_LETTER_REASON]["StringValue"] for m in back} == {"why"}
    assert shop.drain(SUBSCRIBER, dlq=True) == []


def test_purge_empties_the_dlq_and_says_how_many_it_held(shop) -> None:
    shop.drain(SUBSCRIBER, dlq=True)
    for _ in range(3):
        dead_letter(shop, str(uuid.uuid4()))

    assert dlq.purge(shop.target, SUBSCRIBER) == 3
    assert dlq.depth(shop.target, SUBSCRIBER) == 0
