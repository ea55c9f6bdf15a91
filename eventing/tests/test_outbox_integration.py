"""The transactional outbox end to end against the embedded AWS: one TransactWriteItems for state and
events, the table's stream read with boto3, the relay putting the events on the bus, and the rule
delivering only the declared schema versions to the subscriber's queue."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from shop_devstack.testing import eventually
from shop_eventing.envelope import DomainEvent, EventData, EventRegistry, new_event
from shop_eventing.outbox import (
    AlreadyProcessed,
    EventAlreadyInOutbox,
    TransactionCancelled,
    UnitOfWork,
    WriteConflict,
    from_dynamodb,
    processed_marker_key,
)
from shop_eventing.relay import BotoEventBus, OutboxRelay, table_marker
from shop_eventing.topology import EventRef, Naming, ServiceSpec, Subscription, Topology
from shop_infra.provision import Provisioned, provision

registry = EventRegistry()


@registry.register("Ping", 1)
class PingV1(EventData):
    n: int


@registry.register("Ping", 2)
class PingV2(EventData):
    n: int
    label: str


class ThingExists(WriteConflict):
    """The thing was created before."""


class ThingNotPaid(WriteConflict):
    """The thing is not in the PAID status the update expects."""


PRODUCER = ServiceSpec(name="producer", publishes=(EventRef("Ping", (1, 2)),))
CONSUMER = ServiceSpec(name="consumer", subscriptions=(Subscription("pings", events=(EventRef("Ping"),)),))
TOPOLOGY = Topology(services=(PRODUCER, CONSUMER))
NAMING = Naming(stage="t")
TABLE = NAMING.table("producer")


@dataclass
class Stack:
    provisioned: Provisioned
    dynamodb: Any
    streams: Any
    sqs: Any
    events: Any

    @property
    def queue_url(self) -> str:
        return self.provisioned.queue_urls[("consumer", "pings")]

    def item(self, pk: str, sk: str) -> dict[str, Any] | None:
        found = self.dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True)
        return from_dynamodb(found["Item"]) if "Item" in found else None

    def all_items(self) -> list[dict[str, Any]]:
        return sorted(
            (from_dynamodb(i) for i in self.dynamodb.scan(TableName=TABLE, ConsistentRead=True)["Items"]),
            key=lambda i: (i["pk"], i["sk"]),
        )

    def stream_event(self) -> dict[str, Any]:
        """Everything on the producer table's stream so far, as a Lambda DynamoDB stream event."""
        arn = self.provisioned.table_stream_arns["producer"]
        records = []
        for shard in self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            iterator = self.streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")[
                "ShardIterator"
            ]
            while iterator:
                page = self.streams.get_records(ShardIterator=iterator, Limit=1000)
                records += page["Records"]
                iterator = page.get("NextShardIterator") if page["Records"] else None
        return {
            "Records": [
                {
                    "eventID": r["eventID"],
                    "eventName": r["eventName"],
                    "eventSource": "aws:dynamodb",
                    "eventSourceARN": arn,
                    "awsRegion": r["awsRegion"],
                    "dynamodb": {k: v for k, v in r["dynamodb"].items() if k != "ApproximateCreationDateTime"},
                }
                for r in records
            ]
        }

    def receive(self, queue_url: str) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        for message in messages:
            self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in messages]


@pytest.fixture
def stack(aws_endpoint: str) -> Iterator[Stack]:
    provisioned = provision(TOPOLOGY, NAMING)
    yield Stack(
        provisioned,
        boto3.client("dynamodb"),
        boto3.client("dynamodbstreams"),
        boto3.client("sqs"),
        boto3.client("events"),
    )


def ping(n: int, *, version: int = 1, causing: DomainEvent | None = None) -> DomainEvent:
    data: EventData = PingV1(n=n) if version == 1 else PingV2(n=n, label=f"v2-{n}")
    now = datetime(2025, 6, 1, 8, 0, n, tzinfo=UTC)
    if causing:
        return causing.caused(data, producer="shop.producer", now=now)
    return new_event(data, producer="shop.producer", correlation_id=f"corr-{n}", now=now)


def uow(stack: Stack) -> UnitOfWork:
    return UnitOfWork(stack.dynamodb, TABLE, PRODUCER.source)


def relay(stack: Stack) -> OutboxRelay:
    return OutboxRelay(BotoEventBus(stack.events), NAMING.bus, table_marker(stack.dynamodb, TABLE), sleep=lambda s: None)


# --- the unit of work --------------------------------------------------------------------------------


def test_commit_writes_the_state_and_the_outbox_item_together(stack: Stack) -> None:
    event = ping(1)
    work = uow(stack)
    work.put(
        {"pk": "THING#1", "sk": "THING", "item_type": "thing", "status": "NEW"},
        condition="attribute_not_exists(pk)",
        conflict=ThingExists,
    )
    work.add_event(event)

    work.commit()

    assert work.staged_events == [event]
    assert stack.item("THING#1", "THING") == {"pk": "THING#1", "sk": "THING", "item_type": "thing", "status": "NEW"}
    outbox = stack.item(f"OUTBOX#{event.event_id}", "OUTBOX")
    assert outbox is not None
    assert json.loads(outbox.pop("detail")) == event.to_detail()
    assert outbox == {
        "pk": f"OUTBOX#{event.event_id}",
        "sk": "OUTBOX",
        "item_type": "outbox",
        "source": "shop.producer",
        "event_type": "Ping",
        "schema_version": 1,
        "event_id": event.event_id,
        "correlation_id": "corr-1",
        "occurred_at": "2025-06-01T08:00:01+00:00",
        "gsi1pk": "OUTBOX#Ping",
        "gsi1sk": f"2025-06-01T08:00:01+00:00#{event.event_id}",
        "expires_at": int(datetime(2025, 8, 30, 8, 0, 1, tzinfo=UTC).timestamp()),  # kept 90 days as the event log
        # In the sparse index of unpublished items until the relay (or the sweeper) publishes it.
        "pending_pk": "OUTBOX-PENDING",
        "pending_sk": f"2025-06-01T08:00:01+00:00#{event.event_id}",
    }


def ship_if_paid(work: UnitOfWork, pk: str) -> None:
    """Stage the conditional update these tests make fail: THING `pk` becomes SHIPPED only if it is PAID."""
    work.update(
        {"pk": pk, "sk": "THING"},
        "SET #s = :new",
        condition="#s = :expected",
        conflict=ThingNotPaid,
        names={"#s": "status"},
        values={":new": "SHIPPED", ":expected": "PAID"},
    )


def test_a_failed_condition_on_the_state_writes_no_outbox_item(stack: Stack) -> None:
    stack.dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "THING#1"}, "sk": {"S": "THING"}, "status": {"S": "OLD"}})
    event = ping(2)
    work = uow(stack)
    ship_if_paid(work, "THING#1")
    work.add_event(event)

    with pytest.raises(ThingNotPaid) as cancelled:
        work.commit()

    assert cancelled.value.conflicts == (ThingNotPaid,)
    assert cancelled.value.reasons == [("Update THING#1", "ConditionalCheckFailed")]
    assert str(cancelled.value) == "Update THING#1: ConditionalCheckFailed"
    assert stack.item(f"OUTBOX#{event.event_id}", "OUTBOX") is None
    assert stack.all_items() == [{"pk": "THING#1", "sk": "THING", "status": "OLD"}]


def test_staging_an_event_id_twice_raises_event_already_in_outbox(stack: Stack) -> None:
    event = ping(3)
    first = uow(stack)
    first.add_event(event)
    first.commit()

    second = uow(stack)
    second.put({"pk": "THING#3", "sk": "THING"})
    second.add_event(event)
    with pytest.raises(EventAlreadyInOutbox) as cancelled:
        second.commit()

    assert cancelled.value.reasons == [(f"Put OUTBOX#{event.event_id}", "ConditionalCheckFailed")]
    assert stack.item("THING#3", "THING") is None


def test_commit_raises_the_conflict_of_the_write_that_failed_not_of_another_one(stack: Stack) -> None:
    # Two conditional writes declaring different conflicts; only the second one's condition fails.
    stack.dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "THING#10"}, "sk": {"S": "THING"}, "status": {"S": "NEW"}})
    work = uow(stack)
    work.put({"pk": "THING#11", "sk": "THING"}, condition="attribute_not_exists(pk)", conflict=ThingExists)
    ship_if_paid(work, "THING#10")

    with pytest.raises(WriteConflict) as cancelled:
        work.commit()

    assert type(cancelled.value) is ThingNotPaid
    assert cancelled.value.conflicts == (ThingNotPaid,)
    assert stack.item("THING#11", "THING") is None


def test_when_several_conditions_fail_commit_raises_the_first_staged_and_lists_all(stack: Stack) -> None:
    for existing in ("THING#12", "THING#13"):
        stack.dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": existing}, "sk": {"S": "THING"}, "status": {"S": "NEW"}})
    work = uow(stack)
    ship_if_paid(work, "THING#12")
    work.put({"pk": "THING#12", "sk": "OTHER"})
    work.put({"pk": "THING#13", "sk": "THING", "status": "NEW"}, condition="attribute_not_exists(pk)", conflict=ThingExists)

    with pytest.raises(ThingNotPaid) as cancelled:
        work.commit()

    assert cancelled.value.conflicts == (ThingNotPaid, ThingExists)


def test_a_conditional_write_must_declare_its_conflict() -> None:
    work = UnitOfWork(client=None, table_name=TABLE, source=PRODUCER.source)
    with pytest.raises(TypeError, match="names its conflict"):
        work.put({"pk": "THING#19", "sk": "THING"}, condition="attribute_not_exists(pk)")
    with pytest.raises(TypeError, match="names its conflict"):
        work.update({"pk": "THING#19", "sk": "THING"}, "SET n = :n", conflict=ThingExists, values={":n": 1})


class _CancellingClient:
    """Answers TransactWriteItems as DynamoDB does when it cancels a transaction for `codes`."""

    def __init__(self, codes: list[str]) -> None:
        self._codes = codes

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> None:
        assert len(TransactItems) == len(self._codes)
        raise ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                "CancellationReasons": [{"Code": code} for code in self._codes],
            },
            "TransactWriteItems",
        )


def test_a_cancellation_no_condition_explains_is_a_plain_transaction_cancelled() -> None:
    # Another transaction writing the same item: nothing the use case declared, so no WriteConflict.
    work = UnitOfWork(_CancellingClient(["None", "TransactionConflict"]), TABLE, PRODUCER.source)
    work.put({"pk": "THING#14", "sk": "THING"}, condition="attribute_not_exists(pk)", conflict=ThingExists)
    work.put({"pk": "THING#15", "sk": "THING"})

    with pytest.raises(TransactionCancelled) as cancelled:
        work.commit()

    assert not isinstance(cancelled.value, WriteConflict)
    assert cancelled.value.reasons == [("Put THING#15", "TransactionConflict")]


def test_the_processed_marker_wins_over_any_other_failed_condition() -> None:
    consumed = ping(16)
    work = UnitOfWork(_CancellingClient(["ConditionalCheckFailed", "ConditionalCheckFailed"]), TABLE, PRODUCER.source)
    work.put({"pk": "THING#16", "sk": "THING"}, condition="attribute_not_exists(pk)", conflict=ThingExists)
    work.mark_processed("producer.pings", consumed)

    with pytest.raises(AlreadyProcessed):
        work.commit()


def test_marking_the_same_event_processed_twice_raises_already_processed_and_writes_nothing(stack: Stack) -> None:
    consumed = ping(4)
    first = uow(stack)
    first.put({"pk": "COUNTER", "sk": "COUNTER", "count": 1})
    first.mark_processed("producer.pings", consumed)
    first.commit()
    marker = stack.item(**processed_marker_key("producer.pings", consumed.event_id))
    assert marker is not None
    assert (marker["item_type"], marker["event_type"]) == ("processed", "Ping")
    before = stack.all_items()

    again = uow(stack)
    again.put({"pk": "COUNTER", "sk": "COUNTER", "count": 2})
    effect = ping(5, causing=consumed)
    again.add_event(effect)
    again.mark_processed("producer.pings", consumed)
    with pytest.raises(AlreadyProcessed):
        again.commit()

    assert stack.all_items() == before
    assert stack.item("COUNTER", "COUNTER") == {"pk": "COUNTER", "sk": "COUNTER", "count": 1}
    assert stack.item(f"OUTBOX#{effect.event_id}", "OUTBOX") is None


def test_another_subscriber_may_process_the_same_event(stack: Stack) -> None:
    consumed = ping(6)
    for subscriber in ("producer.pings", "producer.audit"):
        work = uow(stack)
        work.mark_processed(subscriber, consumed)
        work.commit()

    markers = [i for i in stack.all_items() if i.get("item_type") == "processed"]
    assert sorted(m["pk"] for m in markers) == ["PROCESSED#producer.audit", "PROCESSED#producer.pings"]
    assert {m["sk"] for m in markers} == {consumed.event_id}


def test_an_empty_unit_of_work_commits_nothing(stack: Stack) -> None:
    uow(stack).commit()
    assert stack.all_items() == []


# --- stream → relay → bus → queue -------------------------------------------------------------------


def test_a_committed_event_reaches_the_subscribers_queue_and_is_marked_published(stack: Stack) -> None:
    event = ping(7)
    work = uow(stack)
    work.put({"pk": "THING#7", "sk": "THING", "item_type": "thing"})
    work.add_event(event)
    work.commit()

    stream_event = stack.stream_event()
    assert sorted(r["eventName"] for r in stream_event["Records"]) == ["INSERT", "INSERT"]
    assert relay(stack).handle(stream_event) == 1

    (body,) = eventually(lambda: stack.receive(stack.queue_url), what="the event on the subscriber's queue")
    assert body["detail"] == event.to_detail()
    assert body["source"] == "shop.producer"
    assert body["detail-type"] == "Ping"
    assert body["time"] == "2025-06-01T08:00:07Z"
    assert body["detail"]["metadata"]["event_id"] == event.event_id
    assert registry.parse(body["detail"]) == event
    outbox = stack.item(f"OUTBOX#{event.event_id}", "OUTBOX")
    assert outbox is not None
    published_at = datetime.fromisoformat(outbox["published_at"])
    assert abs(datetime.now(UTC) - published_at) < timedelta(minutes=1)
    assert "pending_pk" not in outbox and "pending_sk" not in outbox, "out of the index the sweeper reads"
    assert stack.item("THING#7", "THING") == {"pk": "THING#7", "sk": "THING", "item_type": "thing"}, "the state is not touched"
    # A re-delivered stream batch (now also holding the relay's own published_at MODIFY, which it
    # ignores) publishes the event again: at least once, under the same event_id for consumers to dedupe.
    again = stack.stream_event()
    assert [r["eventName"] for r in again["Records"]] == ["INSERT", "INSERT", "MODIFY"]
    assert relay(stack).handle(again) == 1
    (duplicate,) = eventually(lambda: stack.receive(stack.queue_url), what="the re-published event")
    assert duplicate["detail"] == body["detail"]
    assert duplicate["id"] != body["id"]


def test_a_schema_version_the_subscription_did_not_declare_is_not_delivered(stack: Stack) -> None:
    # A catch-all control queue proves the v2 event did reach the bus; only the rule kept it out.
    control_url = stack.sqs.create_queue(QueueName="control")["QueueUrl"]
    control_arn = stack.sqs.get_queue_attributes(QueueUrl=control_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stack.events.put_rule(
        Name="control", EventBusName=NAMING.bus, EventPattern=json.dumps({"source": [PRODUCER.source]}), State="ENABLED"
    )
    stack.events.put_targets(Rule="control", EventBusName=NAMING.bus, Targets=[{"Id": "control", "Arn": control_arn}])
    v2, v1 = ping(8, version=2), ping(9, version=1)
    work = uow(stack)
    work.add_event(v2)  # first in the transaction, so it is put on the bus before v1
    work.add_event(v1)
    work.commit()

    assert relay(stack).handle(stack.stream_event()) == 2

    control: list[dict[str, Any]] = []

    def both_on_control_queue() -> bool:
        control.extend(stack.receive(control_url))
        return len(control) == 2

    eventually(both_on_control_queue, what="both events on the control queue")
    assert sorted(b["detail"]["metadata"]["schema_version"] for b in control) == [1, 2]
    (delivered,) = eventually(lambda: stack.receive(stack.queue_url), what="the v1 event on the subscriber's queue")
    assert delivered["detail"] == v1.to_detail()
    assert stack.receive(stack.queue_url) == [], "the v2 event must not follow"
    for event in (v1, v2):
        outbox = stack.item(f"OUTBOX#{event.event_id}", "OUTBOX")
        assert outbox is not None
        assert "published_at" in outbox
