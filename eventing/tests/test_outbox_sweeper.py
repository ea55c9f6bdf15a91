"""The sweeper against the embedded AWS: an outbox item the stream relay never published (its stream
record expired, say) is found in the table's sparse index of unpublished items, published onto the
bus, delivered by the rule, and leaves the index; nothing else is swept."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from shop_eventing.envelope import DomainEvent, EventData, EventRegistry, new_event
from shop_eventing.outbox import PENDING_INDEX, UnitOfWork, from_dynamodb, outbox_item, to_dynamodb
from shop_eventing.relay import (
    SWEEP_MARGIN_MS,
    BotoEventBus,
    OutboxRelay,
    OutboxSweeper,
    table_marker,
    table_unpublished,
)
from shop_eventing.runtime import ServiceRuntime
from shop_eventing.topology import EventRef, Naming, ServiceSpec, Subscription, Topology
from shop_infra.provision import provision

registry = EventRegistry()


@registry.register("Pong", 1)
class PongV1(EventData):
    n: int


PRODUCER = ServiceSpec(name="producer", publishes=(EventRef("Pong"),))
CONSUMER = ServiceSpec(name="consumer", subscriptions=(Subscription("pongs", events=(EventRef("Pong"),)),))
TOPOLOGY = Topology(services=(PRODUCER, CONSUMER))
NOW = datetime.now(UTC)


@dataclass
class Shop:
    naming: Naming
    dynamodb: Any
    sqs: Any
    queue_url: str

    @property
    def table(self) -> str:
        return self.naming.table("producer")

    def commit(self, n: int, *, age: timedelta) -> DomainEvent:
        """Commit one event through the outbox, as a use case would, `age` before NOW; no relay runs."""
        event = new_event(PongV1(n=n), producer=PRODUCER.source, correlation_id=f"c-{n}", now=NOW - age)
        unit = UnitOfWork(self.dynamodb, self.table, PRODUCER.source)
        unit.add_event(event)
        unit.commit()
        return event

    def sweeper(self, *, batch_limit: int = 500) -> OutboxSweeper:
        relay = OutboxRelay(BotoEventBus(boto3.client("events")), self.naming.bus, table_marker(self.dynamodb, self.table))
        return OutboxSweeper(
            relay,
            table_unpublished(self.dynamodb, self.table, self.naming.bus),
            grace=timedelta(minutes=2),
            batch_limit=batch_limit,
            clock=lambda: NOW,
        )

    def outbox_item(self, event: DomainEvent) -> dict[str, Any]:
        key = {"pk": {"S": f"OUTBOX#{event.event_id}"}, "sk": {"S": "OUTBOX"}}
        return from_dynamodb(self.dynamodb.get_item(TableName=self.table, Key=key, ConsistentRead=True)["Item"])

    def pending_ids(self) -> list[str]:
        items = self.dynamodb.scan(TableName=self.table, IndexName=PENDING_INDEX)["Items"]
        return sorted(from_dynamodb(item)["event_id"] for item in items)

    def delivered_ids(self) -> list[str]:
        ids: list[str] = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return ids
            for message in messages:
                ids.append(json.loads(message["Body"])["detail"]["metadata"]["event_id"])
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def shop(aws_endpoint: str) -> Iterator[Shop]:
    naming = Naming(stage=f"s{uuid.uuid4().hex[:8]}")
    provisioned = provision(TOPOLOGY, naming)
    yield Shop(naming, boto3.client("dynamodb"), boto3.client("sqs"), provisioned.queue_urls[("consumer", "pongs")])


def test_an_item_the_relay_never_published_is_swept_onto_the_bus_once(shop: Shop) -> None:
    forgotten = shop.commit(1, age=timedelta(hours=30))

    assert shop.sweeper().sweep() == 1
    assert shop.delivered_ids() == [forgotten.event_id]
    item = shop.outbox_item(forgotten)
    assert "published_at" in item and "pending_pk" not in item
    assert shop.pending_ids() == []
    assert shop.sweeper().sweep() == 0
    assert shop.delivered_ids() == []


def test_an_item_younger_than_the_grace_is_left_to_the_stream_relay(shop: Shop) -> None:
    fresh = shop.commit(2, age=timedelta(seconds=30))

    assert shop.sweeper().sweep() == 0
    assert shop.pending_ids() == [fresh.event_id]


def test_an_item_the_relay_published_is_not_swept(shop: Shop) -> None:
    relayed = shop.commit(3, age=timedelta(hours=1))
    table_marker(shop.dynamodb, shop.table)({"pk": f"OUTBOX#{relayed.event_id}", "sk": "OUTBOX"})

    assert shop.pending_ids() == []
    assert shop.sweeper().sweep() == 0
    assert shop.delivered_ids() == []


def test_the_oldest_go_first_and_one_run_is_bounded(shop: Shop) -> None:
    events = [shop.commit(n, age=timedelta(minutes=60 - n)) for n in range(3)]  # n=0 is the oldest

    assert shop.sweeper(batch_limit=2).sweep() == 2
    assert sorted(shop.delivered_ids()) == sorted([events[0].event_id, events[1].event_id])
    assert shop.sweeper(batch_limit=2).sweep() == 1
    assert shop.delivered_ids() == [events[2].event_id]


def test_a_backlog_drains_in_one_run_while_time_is_left(shop: Shop) -> None:
    events = [shop.commit(n, age=timedelta(minutes=60 - n)) for n in range(5)]

    assert shop.sweeper(batch_limit=2).sweep(time_left=lambda: True) == 5
    assert sorted(shop.delivered_ids()) == sorted(event.event_id for event in events)
    assert shop.pending_ids() == []


@dataclass
class FakeLambdaContext:
    remaining_millis: int

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


@pytest.mark.parametrize(
    ("context", "swept"),
    [
        (FakeLambdaContext(SWEEP_MARGIN_MS + 60_000), 5),  # time for every batch: the backlog drains in one run
        (FakeLambdaContext(SWEEP_MARGIN_MS - 1), 2),  # too little time for another batch: one batch only
        (None, 2),  # no Lambda context (called outside Lambda): one batch only
    ],
    ids=["plenty-of-time", "under-the-margin", "no-context"],
)
def test_the_scheduled_sweep_starts_another_batch_only_with_time_left(
    shop: Shop, context: FakeLambdaContext | None, swept: int
) -> None:
    for n in range(5):
        shop.commit(n, age=timedelta(minutes=60 - n))
    runtime = ServiceRuntime(TOPOLOGY, PRODUCER.name, registry)
    runtime.outbox_sweeper = shop.sweeper(batch_limit=2)  # the service's own, with smaller batches

    assert runtime.sweep_outbox(context) == swept
    assert len(shop.delivered_ids()) == swept
    assert len(shop.pending_ids()) == 5 - swept


def test_the_index_is_read_past_a_page_that_dynamodb_cut_short() -> None:
    """DynamoDB ends a page at 1 MB whatever the Limit; the next page holds the rest of the batch."""
    dynamodb = boto3.client("dynamodb", region_name="eu-west-1", aws_access_key_id="stub", aws_secret_access_key="stub")
    items = [
        outbox_item(new_event(PongV1(n=n), producer=PRODUCER.source, correlation_id=f"c-{n}", now=NOW), PRODUCER.source)
        for n in range(3)
    ]
    last_key = {"pk": {"S": items[0]["pk"]}}
    query = {
        "TableName": "table",
        "IndexName": PENDING_INDEX,
        "KeyConditionExpression": ANY,
        "ExpressionAttributeValues": ANY,
        "Limit": 3,
    }
    with Stubber(dynamodb) as stubbed:
        stubbed.add_response("query", {"Items": [to_dynamodb(items[0])], "LastEvaluatedKey": last_key}, query)
        stubbed.add_response(
            "query", {"Items": [to_dynamodb(item) for item in items[1:]]}, query | {"ExclusiveStartKey": last_key}
        )

        found = table_unpublished(dynamodb, "table", "bus")(NOW, 3)

        stubbed.assert_no_pending_responses()
    assert [event.event_id for event in found] == [item["event_id"] for item in items]
