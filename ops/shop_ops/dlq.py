"""DLQ tooling: every DLQ's depth and oldest message, the messages with why they failed, redrive to the
source queue at a bounded rate, purge.

Why a message failed: a record no retry can fix carries its reason in the `shop-dead-letter-reason`
attribute (the consumer dead-letters it at once); a record whose handler raised was moved by SQS after
its last receive, with no reason, so the consumer keeps the handler's exception in a failure record in
its service's table, keyed by subscriber and event_id (shop_eventing.consumer.failure_record_key).

Redrive is StartMessageMoveTask on AWS. moto lacks it, so locally the messages are received from the
DLQ, sent to the source queue with their body and attributes, and deleted from the DLQ once sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shop_eventing.consumer import DEAD_LETTER_REASON
from shop_ops import markers
from shop_ops.pacing import Pacer
from shop_ops.queues import Clock, Queues, utcnow
from shop_ops.target import Target, subscriber_id

DEFAULT_REDRIVE_RATE = 10.0  # messages per second


@dataclass(frozen=True)
class DlqSummary:
    subscriber: str
    dlq: str
    depth: int
    oldest_age: timedelta | None


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    sent_at: datetime
    # The receive on which the handler last failed (its failure record), else SQS's count before this look
    # (SQS counts every look at a DLQ too, so it grows with each `shop dlq show`).
    receive_count: int
    event_type: str | None
    event_id: str | None
    correlation_id: str | None
    reason: str | None
    reason_from: str | None  # "attribute" (dead-lettered by the consumer) or "failure record" (the handler raised)
    failed_at: str | None
    body: str


@dataclass
class RedriveResult:
    subscriber: str
    moved: int = 0
    task_handle: str | None = None  # StartMessageMoveTask's, on AWS


def subscribers(target: Target, names: Sequence[str] = ()) -> list[str]:
    """The named subscribers (checked against the topology), or all of them."""
    if names:
        return [subscriber_id(*target.subscription(name)) for name in names]
    return [subscriber_id(service, subscription) for service, subscription in target.topology.subscriptions()]


def dlq_name(target: Target, subscriber: str) -> str:
    service, subscription = target.subscription(subscriber)
    return target.naming.dlq(service.name, subscription.name)


def queue_name(target: Target, subscriber: str) -> str:
    service, subscription = target.subscription(subscriber)
    return target.naming.queue(service.name, subscription.name)


def list_dlqs(target: Target, names: Sequence[str] = (), *, clock: Clock = utcnow) -> list[DlqSummary]:
    queues = Queues(target)
    found = []
    for subscriber in subscribers(target, names):
        dlq = dlq_name(target, subscriber)
        depth = queues.depth(dlq).total
        found.append(DlqSummary(subscriber, dlq, depth, queues.oldest_age(dlq, peekable=True, depth=depth, clock=clock)))
    return found


def show(target: Target, subscriber: str, *, limit: int = 10) -> list[DeadLetter]:
    """Up to `limit` messages of the subscriber's DLQ (left in it), oldest first, each with its reason."""
    service, subscription = target.subscription(subscriber)
    subscriber = subscriber_id(service, subscription)
    messages = Queues(target).peek(dlq_name(target, subscriber), limit)
    letters = [_dead_letter(message) for message in messages]
    recorded = markers.failures(target, [(subscriber, d.event_id) for d in letters if d.event_id and not d.reason])
    shown = []
    for letter in letters:
        failure = recorded.get((subscriber, letter.event_id or ""))
        if failure and not letter.reason:
            recorded_failure = {"reason": failure["reason"], "reason_from": "failure record", "failed_at": failure["failed_at"]}
            shown.append(
                replace(letter, receive_count=int(failure.get("receive_count", letter.receive_count)), **recorded_failure)
            )
        else:
            shown.append(letter)
    return sorted(shown, key=lambda letter: letter.sent_at)


def _dead_letter(message: dict[str, Any]) -> DeadLetter:
    attributes = message.get("Attributes", {})
    metadata: dict[str, Any] = {}
    try:
        envelope = json.loads(message["Body"])
        if isinstance(envelope, dict) and isinstance(envelope.get("detail"), dict):
            metadata = envelope["detail"].get("metadata") or {}
    except ValueError:
        pass  # not JSON: its reason (the attribute) says so
    reason = message.get("MessageAttributes", {}).get(DEAD_LETTER_REASON, {}).get("StringValue")
    return DeadLetter(
        message_id=message["MessageId"],
        sent_at=datetime.fromtimestamp(int(attributes.get("SentTimestamp", "0")) / 1000, UTC),
        receive_count=max(0, int(attributes.get("ApproximateReceiveCount", "1")) - 1),
        event_type=metadata.get("event_type"),
        event_id=metadata.get("event_id"),
        correlation_id=metadata.get("correlation_id"),
        reason=reason,
        reason_from="attribute" if reason else None,
        failed_at=None,
        body=message["Body"],
    )


def redrive(
    target: Target,
    subscriber: str,
    *,
    rate: float = DEFAULT_REDRIVE_RATE,
    limit: int | None = None,
    progress: Callable[[int], None] = lambda _: None,
    pacer: Pacer | None = None,
) -> RedriveResult:
    """Move the subscriber's dead letters back to its queue, at most `rate` a second (and at most
    `limit` of them, locally). Fix what made them fail first: they are handled again at once."""
    subscriber = subscriber_id(*target.subscription(subscriber))
    queues = Queues(target)
    dlq, source = dlq_name(target, subscriber), queue_name(target, subscriber)
    if not target.local:
        if limit is not None:
            raise ValueError("StartMessageMoveTask moves the whole DLQ: --limit works on the embedded stack only")
        task = queues.sqs.start_message_move_task(
            SourceArn=queues.arn(dlq), DestinationArn=queues.arn(source), MaxNumberOfMessagesPerSecond=max(1, int(rate))
        )
        return RedriveResult(subscriber, task_handle=task["TaskHandle"])
    result = RedriveResult(subscriber)
    pacer = pacer or Pacer(rate)
    while limit is None or result.moved < limit:
        batch = queues.sqs.receive_message(
            QueueUrl=queues.url(dlq),
            MaxNumberOfMessages=min(10, limit - result.moved if limit is not None else 10),
            VisibilityTimeout=60,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not batch:
            break
        pacer.take(len(batch))
        sent = queues.sqs.send_message_batch(
            QueueUrl=queues.url(source),
            Entries=[
                {"Id": str(i), "MessageBody": m["Body"], **_attributes(m.get("MessageAttributes", {}))}
                for i, m in enumerate(batch)
            ],
        )
        ok = {entry["Id"] for entry in sent.get("Successful", [])}
        # Deleted only once sent: a crash in between leaves a copy in both queues, never in neither.
        done = [m for i, m in enumerate(batch) if str(i) in ok]
        if done:
            queues.sqs.delete_message_batch(
                QueueUrl=queues.url(dlq),
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        result.moved += len(done)
        progress(len(done))
        if len(done) < len(batch):
            break  # SQS refused some: they reappear in the DLQ after the visibility timeout
    return result


def _attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    if not attributes:
        return {}
    kept = {
        name: {key: value[key] for key in ("DataType", "StringValue", "BinaryValue") if key in value}
        for name, value in attributes.items()
    }
    return {"MessageAttributes": kept}


def depth(target: Target, subscriber: str) -> int:
    return Queues(target).depth(dlq_name(target, subscriber)).total


def purge(target: Target, subscriber: str) -> int:
    """Delete every message of the subscriber's DLQ; returns how many it held just before."""
    queues = Queues(target)
    dlq = dlq_name(target, subscriber_id(*target.subscription(subscriber)))
    held = queues.depth(dlq).total
    queues.sqs.purge_queue(QueueUrl=queues.url(dlq))
    return held
