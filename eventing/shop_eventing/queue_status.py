"""How far behind a service is: each subscription's queue and DLQ (visible, in flight, the age of the
oldest message) and its outbox backlog (items the relay has not published yet).

One measurement for two readers: the operator's `shop status` (ops/shop_ops, from outside, every
service) and each service's staff route `GET /ops/status` (shop_eventing.ops_api, from inside, its own
subscriptions only). So it lives here, in the package every service ships, and takes boto3 clients
rather than knowing where they come from.

SQS has no queue attribute for the oldest message's age. On AWS it is the CloudWatch metric
`ApproximateAgeOfOldestMessage`, which moto does not publish: without a CloudWatch client (the
embedded stack) the age of a DLQ's oldest message is computed from the `SentTimestamp` of the messages
a peek sees (a DLQ has no consumer, so a peek disturbs nothing), and a live queue is never peeked,
since every receive counts towards its redrive to the DLQ, so it shows no age.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shop_eventing.outbox import PENDING_INDEX, PENDING_PARTITION, from_dynamodb
from shop_eventing.topology import Naming, ServiceSpec, subscriber_id

# How long a peeked message stays hidden if resetting its visibility fails (it is reset at once).
PEEK_VISIBILITY_SECONDS = 30
# At most this many messages are peeked for a DLQ's oldest: enough to find it in any DLQ a person
# still reads message by message, and a bounded cost for a full one.
PEEK_LIMIT = 100
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Depth:
    visible: int
    in_flight: int

    @property
    def total(self) -> int:
        return self.visible + self.in_flight


class Queues:
    """Queue URLs by name, resolved once per instance, and what a queue holds.

    `cloudwatch`: a CloudWatch client where SQS publishes its metrics (AWS); None on the embedded stack,
    where ages are peeked (DLQs only) and SQS answers a short poll from every server it has."""

    def __init__(self, sqs: Any, *, cloudwatch: Any | None = None) -> None:
        self.sqs = sqs
        self.cloudwatch = cloudwatch
        self._urls: dict[str, str] = {}
        self._arns: dict[str, str] = {}

    @property
    def ages_from_metrics(self) -> bool:
        return self.cloudwatch is not None

    def url(self, name: str) -> str:
        if name not in self._urls:
            self._urls[name] = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return self._urls[name]

    def arn(self, name: str) -> str:
        if name not in self._arns:
            attributes = self.sqs.get_queue_attributes(QueueUrl=self.url(name), AttributeNames=["QueueArn"])["Attributes"]
            self._arns[name] = attributes["QueueArn"]
        return self._arns[name]

    def depth(self, name: str) -> Depth:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.url(name), AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return Depth(int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"]))

    def peek(self, name: str, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` messages of a queue, with all their attributes, left in it and visible again."""
        url = self.url(name)
        seen: dict[str, dict[str, Any]] = {}
        while len(seen) < limit:
            batch = self.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, limit - len(seen)),
                VisibilityTimeout=PEEK_VISIBILITY_SECONDS,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                # AWS samples servers on a short poll and may answer nothing while messages wait.
                WaitTimeSeconds=1 if self.ages_from_metrics else 0,
            ).get("Messages", [])
            new = [message for message in batch if message["MessageId"] not in seen]
            if not new:
                break
            seen.update((message["MessageId"], message) for message in new)
        messages = list(seen.values())
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            self.sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for i, m in enumerate(chunk)
                ],
            )
        return messages

    def oldest_age(self, name: str, *, peekable: bool, depth: int, clock: Clock = utcnow) -> timedelta | None:
        """The age of the queue's oldest message: CloudWatch's on AWS; without it a peek's, for a DLQ only."""
        if depth == 0:
            return None
        if self.cloudwatch is not None:
            return self._metric_age(self.cloudwatch, name, clock)
        if not peekable:
            return None
        sent = [int(m["Attributes"]["SentTimestamp"]) for m in self.peek(name, min(depth, PEEK_LIMIT))]
        return clock() - datetime.fromtimestamp(min(sent) / 1000, UTC) if sent else None

    @staticmethod
    def _metric_age(cloudwatch: Any, name: str, clock: Clock) -> timedelta | None:
        now = clock()
        datapoints = cloudwatch.get_metric_statistics(
            Namespace="AWS/SQS",
            MetricName="ApproximateAgeOfOldestMessage",
            Dimensions=[{"Name": "QueueName", "Value": name}],
            StartTime=now - timedelta(minutes=10),
            EndTime=now,
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        if not datapoints:
            return None
        latest = max(datapoints, key=lambda point: point["Timestamp"])
        return timedelta(seconds=float(latest["Maximum"]))


@dataclass(frozen=True)
class SubscriptionStatus:
    subscriber: str  # service.subscription, as consumers mark events processed
    queue_name: str
    queue: Depth
    queue_oldest: timedelta | None  # None when empty, or on the embedded stack (a live queue is never peeked)
    dlq_name: str
    dlq: Depth
    dlq_oldest: timedelta | None

    @property
    def subscription(self) -> str:
        return self.subscriber.partition(".")[2]


@dataclass(frozen=True)
class OutboxBacklog:
    pending: int
    oldest: timedelta | None


@dataclass
class ServiceStatus:
    service: str
    subscriptions: list[SubscriptionStatus] = field(default_factory=list)
    outbox: OutboxBacklog | None = None  # None for a service that publishes nothing


def service_status(
    service: ServiceSpec, naming: Naming, queues: Queues, dynamodb: Any, *, clock: Clock = utcnow
) -> ServiceStatus:
    """One service's subscriptions (queue and DLQ) and, if it publishes, its outbox backlog."""
    current = ServiceStatus(service.name)
    for subscription in service.subscriptions:
        queue = naming.queue(service.name, subscription.name)
        dlq = naming.dlq(service.name, subscription.name)
        queue_depth, dlq_depth = queues.depth(queue), queues.depth(dlq)
        current.subscriptions.append(
            SubscriptionStatus(
                subscriber_id(service, subscription),
                queue,
                queue_depth,
                queues.oldest_age(queue, peekable=False, depth=queue_depth.total, clock=clock),
                dlq,
                dlq_depth,
                queues.oldest_age(dlq, peekable=True, depth=dlq_depth.total, clock=clock),
            )
        )
    if service.publishes:
        current.outbox = outbox_backlog(dynamodb, naming.table(service.name), clock=clock)
    return current


def outbox_backlog(dynamodb: Any, table: str, *, clock: Clock = utcnow) -> OutboxBacklog:
    """Read from the sparse index of unpublished items: empty (and free) when the relay keeps up."""
    query = {
        "TableName": table,
        "IndexName": PENDING_INDEX,
        "KeyConditionExpression": "pending_pk = :pending",
        "ExpressionAttributeValues": {":pending": {"S": PENDING_PARTITION}},
    }
    pending = sum(page["Count"] for page in dynamodb.get_paginator("query").paginate(**query, Select="COUNT"))
    if not pending:
        return OutboxBacklog(0, None)
    [oldest] = dynamodb.query(**query, Limit=1, ScanIndexForward=True)["Items"] or [None]
    if oldest is None:
        return OutboxBacklog(pending, None)
    return OutboxBacklog(pending, clock() - datetime.fromisoformat(from_dynamodb(oldest)["occurred_at"]))
