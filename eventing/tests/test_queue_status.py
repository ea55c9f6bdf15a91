"""The one measurement of a service's backlog (`shop status` and every service's GET /ops/status):
each subscription's queue and DLQ, the age of their oldest messages, and the unpublished outbox."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from shop_devstack.testing import embedded_aws
from shop_eventing.envelope import EventData, EventRegistry, new_event
from shop_eventing.outbox import UnitOfWork
from shop_eventing.queue_status import Depth, Queues, outbox_backlog, service_status
from shop_eventing.topology import EventRef, Naming, ServiceSpec, Subscription, Topology
from shop_infra.provision import Provisioned, provision

registry = EventRegistry()


@registry.register("Tick", 1)
class TickV1(EventData):
    n: int


PRODUCER = ServiceSpec(name="producer", publishes=(EventRef("Tick"),))
CONSUMER = ServiceSpec(
    name="consumer",
    subscriptions=(
        Subscription(name="ticks", events=(EventRef("Tick"),)),
        Subscription(name="audit", events=(EventRef("Tick"),)),
    ),
)
TOPOLOGY = Topology(services=(PRODUCER, CONSUMER))
# Far past anything the test itself takes: ages are measured against it, never against the wall clock.
AN_HOUR_LATER = timedelta(hours=1)


@dataclass
class Aws:
    naming: Naming
    provisioned: Provisioned
    sqs: Any
    dynamodb: Any

    def send(self, subscription: str, *, dlq: bool = False, count: int = 1) -> None:
        urls = self.provisioned.dlq_urls if dlq else self.provisioned.queue_urls
        for n in range(count):
            self.sqs.send_message(QueueUrl=urls[("consumer", subscription)], MessageBody=f'{{"n": {n}}}')


@pytest.fixture
def aws() -> Iterator[Aws]:
    with embedded_aws():
        naming = Naming(stage=f"t{uuid.uuid4().hex[:8]}")  # moto's backends outlive a server: a stage per test
        yield Aws(naming, provision(TOPOLOGY, naming), boto3.client("sqs"), boto3.client("dynamodb"))


def later() -> datetime:
    return datetime.now(UTC) + AN_HOUR_LATER


class FakeCloudWatch:
    """CloudWatch's GetMetricStatistics for SQS's ApproximateAgeOfOldestMessage, by queue name."""

    def __init__(self, maximums: dict[str, list[float]]) -> None:
        self.maximums = maximums
        self.asked: list[str] = []

    def get_metric_statistics(self, **query: Any) -> dict[str, Any]:
        assert (query["Namespace"], query["MetricName"], query["Statistics"]) == (
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            ["Maximum"],
        )
        [dimension] = query["Dimensions"]
        self.asked.append(dimension["Value"])
        start = query["EndTime"] - timedelta(minutes=len(self.maximums.get(dimension["Value"], [])))
        points = [
            {"Timestamp": start + timedelta(minutes=i), "Maximum": value}
            for i, value in enumerate(self.maximums.get(dimension["Value"], []))
        ]
        return {"Datapoints": list(reversed(points))}  # CloudWatch returns them in no order


def test_each_subscriptions_queue_and_dlq_are_counted_and_a_dlqs_oldest_is_peeked(aws: Aws) -> None:
    aws.send("ticks", count=2)
    aws.send("audit", dlq=True)

    status = service_status(CONSUMER, aws.naming, Queues(aws.sqs), aws.dynamodb, clock=later)

    ticks, audit = status.subscriptions
    assert (ticks.subscriber, ticks.subscription, audit.subscriber) == ("consumer.ticks", "ticks", "consumer.audit")
    assert (ticks.queue_name, ticks.dlq_name) == (aws.naming.queue("consumer", "ticks"), aws.naming.dlq("consumer", "ticks"))
    assert (ticks.queue, ticks.dlq) == (Depth(2, 0), Depth(0, 0))
    assert ticks.queue_oldest is None, "a live queue is never peeked: each receive counts towards its DLQ"
    assert (audit.queue, audit.dlq) == (Depth(0, 0), Depth(1, 0))
    assert audit.dlq_oldest is not None and AN_HOUR_LATER <= audit.dlq_oldest < AN_HOUR_LATER + timedelta(minutes=5)
    assert status.outbox is None, "the consumer publishes nothing"


def test_a_peek_leaves_the_dead_letters_where_they_were(aws: Aws) -> None:
    aws.send("audit", dlq=True, count=3)
    queues = Queues(aws.sqs)

    service_status(CONSUMER, aws.naming, queues, aws.dynamodb, clock=later)

    assert queues.depth(aws.naming.dlq("consumer", "audit")) == Depth(3, 0), "visible again at once"


def test_with_cloudwatch_each_queues_age_is_its_latest_datapoint_and_nothing_is_peeked(aws: Aws) -> None:
    ticks, ticks_dlq = aws.naming.queue("consumer", "ticks"), aws.naming.dlq("consumer", "ticks")
    aws.send("ticks")
    aws.send("ticks", dlq=True)
    cloudwatch = FakeCloudWatch({ticks: [30.0, 95.0], ticks_dlq: [600.0, 660.0, 720.0]})

    [found, empty] = service_status(CONSUMER, aws.naming, Queues(aws.sqs, cloudwatch=cloudwatch), aws.dynamodb).subscriptions

    assert (found.queue_oldest, found.dlq_oldest) == (timedelta(seconds=95), timedelta(seconds=720))
    assert (empty.queue_oldest, empty.dlq_oldest) == (None, None)
    assert cloudwatch.asked == [ticks, ticks_dlq], "an empty queue costs no metric read"
    assert Queues(aws.sqs).depth(ticks_dlq) == Depth(1, 0), "not peeked: the DLQ's message was never received"


def test_a_queue_cloudwatch_has_no_datapoint_for_yet_has_no_age(aws: Aws) -> None:
    aws.send("ticks")
    status = service_status(CONSUMER, aws.naming, Queues(aws.sqs, cloudwatch=FakeCloudWatch({})), aws.dynamodb)

    assert status.subscriptions[0].queue_oldest is None


def test_the_outbox_backlog_counts_unpublished_items_and_ages_the_oldest(aws: Aws) -> None:
    table = aws.naming.table("producer")
    assert outbox_backlog(aws.dynamodb, table) == outbox_backlog(aws.dynamodb, table, clock=later)
    assert outbox_backlog(aws.dynamodb, table).pending == 0
    written = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    for minutes in (3, 0):
        uow = UnitOfWork(aws.dynamodb, table, source="shop.producer")
        uow.add_event(
            new_event(TickV1(n=minutes), producer="shop.producer", correlation_id="t", now=written + timedelta(minutes=minutes))
        )
        uow.commit()

    backlog = service_status(PRODUCER, aws.naming, Queues(aws.sqs), aws.dynamodb, clock=lambda: written + AN_HOUR_LATER).outbox

    assert backlog is not None and (backlog.pending, backlog.oldest) == (2, AN_HOUR_LATER)
