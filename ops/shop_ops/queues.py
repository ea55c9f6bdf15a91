"""What the commands read from SQS: depths, and the age of a queue's oldest message.

SQS has no queue attribute for the oldest message's age; on AWS it is the CloudWatch metric
`ApproximateAgeOfOldestMessage`, which moto does not publish. Locally the age of a DLQ's oldest
message is computed from the `SentTimestamp` of the messages a peek sees (a DLQ has no consumer, so
a peek disturbs nothing); a live queue is never peeked, since every receive counts towards its
redrive to the DLQ, and shows no age locally.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shop_ops.target import Target

# How long a peeked message stays hidden if resetting its visibility fails (it is reset at once).
PEEK_VISIBILITY_SECONDS = 30
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
    """Queue URLs by name, resolved once per command."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.sqs = target.client("sqs")
        self._urls: dict[str, str] = {}
        self._arns: dict[str, str] = {}

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
                WaitTimeSeconds=0 if self.target.local else 1,
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
        """The age of the queue's oldest message: CloudWatch's on AWS; locally a peek's, for a DLQ only."""
        if depth == 0:
            return None
        if not self.target.local:
            return self._metric_age(name, clock)
        if not peekable:
            return None
        sent = [int(m["Attributes"]["SentTimestamp"]) for m in self.peek(name, min(depth, 100))]
        return clock() - datetime.fromtimestamp(min(sent) / 1000, UTC) if sent else None

    def _metric_age(self, name: str, clock: Clock) -> timedelta | None:
        now = clock()
        datapoints = self.target.client("cloudwatch").get_metric_statistics(
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
