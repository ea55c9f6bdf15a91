"""Marking outbox items published against the embedded DynamoDB: an item that no longer exists (its
TTL or an operator deleted it) is skipped, never re-created, and does not fail the batch, which would
hold up every later event of the table; any other error still fails it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from shop_eventing.envelope import EventData, new_event
from shop_eventing.outbox import outbox_item, to_dynamodb
from shop_eventing.relay import OutboxRelay, pending_event, table_marker

BUS = "shop-t"


class BeepV1(EventData):
    n: int


BeepV1.event_type = "Beep"
BeepV1.schema_version = 1


class AcceptingBus:
    def __init__(self) -> None:
        self.entries: list[Mapping[str, Any]] = []

    def put_events(self, entries: Sequence[Mapping[str, Any]]) -> list[str | None]:
        self.entries += entries
        return [None for _ in entries]


def new_table(dynamodb: Any) -> str:
    table = f"relay-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return table


def test_an_item_gone_before_it_is_marked_is_skipped_and_the_rest_of_the_batch_is_marked(aws_endpoint: str) -> None:
    dynamodb = boto3.client("dynamodb")
    table = new_table(dynamodb)
    gone, kept = (outbox_item(new_event(BeepV1(n=n), producer="shop.test", correlation_id="c"), "shop.test") for n in (1, 2))
    dynamodb.put_item(TableName=table, Item=to_dynamodb(kept))  # `gone` was never stored, or deleted since
    bus = AcceptingBus()
    relay = OutboxRelay(bus, BUS, table_marker(dynamodb, table), sleep=lambda _: None)

    published = relay.publish([pending_event(gone, BUS), pending_event(kept, BUS)])

    assert published == 2
    assert [entry["Detail"] for entry in bus.entries] == [gone["detail"], kept["detail"]]
    items = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    assert [item["pk"]["S"] for item in items] == [kept["pk"]]  # no stub of the vanished item
    assert "published_at" in items[0]
    assert "pending_pk" not in items[0]


def test_any_other_error_while_marking_still_fails_the_batch(aws_endpoint: str) -> None:
    dynamodb = boto3.client("dynamodb")
    item = outbox_item(new_event(BeepV1(n=3), producer="shop.test", correlation_id="c"), "shop.test")
    relay = OutboxRelay(AcceptingBus(), BUS, table_marker(dynamodb, "no-such-table"), sleep=lambda _: None)

    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        relay.publish([pending_event(item, BUS)])
