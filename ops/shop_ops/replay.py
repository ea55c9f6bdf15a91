"""Replay: re-deliver logged events, with their original event_id, to exactly the subscribers named.

Events come from the producers' outbox logs (shop_ops.eventlog), not from EventBridge's archive: an
archive replay works in one-minute batches, in no order, and filters only by the bus's rules, so it
reaches every subscriber of a type; moto's ignores the window and the filters altogether. Each event is
sent straight to each chosen subscriber's own SQS queue, wrapped in a fresh EventBridge envelope
(a new envelope `id`, `replay-name` set as EventBridge's own replays set it) around the detail the
producer published, unchanged. Subscribers de-duplicate on the detail's event_id, so a subscriber that
had the event repeats no effect and one that missed it gets it now.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shop_ops.eventlog import LoggedEvent, read_log
from shop_ops.pacing import Pacer
from shop_ops.target import Target, subscriber_id

SEND_BATCH = 10  # SendMessageBatch's limit
DEFAULT_RATE = 50.0  # messages per second
REPLAY_ATTRIBUTE = "shop-replay"


@dataclass(frozen=True)
class Delivery:
    event: LoggedEvent
    subscriber: str  # e.g. notify.order-emails
    queue: str  # its queue's name


@dataclass
class ReplayResult:
    replay_name: str
    planned: list[Delivery]
    sent: int = 0
    failed: list[tuple[Delivery, str]] = field(default_factory=list)

    def counts(self) -> Counter[tuple[str, str]]:
        """Deliveries per (event type, subscriber)."""
        return Counter((d.event.event_type, d.subscriber) for d in self.planned)


def plan(target: Target, events: Iterable[LoggedEvent], to: Sequence[str] = ()) -> list[Delivery]:
    """Each event to each subscriber that accepts its type and major (the same test the bus's rules
    make), restricted to the subscribers in `to` (topology names) when given."""
    chosen = {subscriber_id(*target.subscription(name)) for name in to}
    deliveries = []
    for event in events:
        for service, subscription in target.topology.subscriptions():
            name = subscriber_id(service, subscription)
            if chosen and name not in chosen:
                continue
            if subscription.accepts(event.event_type, event.schema_version):
                deliveries.append(Delivery(event, name, target.naming.queue(service.name, subscription.name)))
    return deliveries


def envelope(event: LoggedEvent, *, region: str, account: str | None, replay_name: str) -> str:
    """The body EventBridge's SQS target would deliver for the event, as a replay of it."""
    body: dict[str, Any] = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": event.event_type,
        "source": event.source,
        "time": event.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": json.loads(event.detail),
        "replay-name": replay_name,
    }
    if account:
        body["account"] = account
    return json.dumps(body, separators=(",", ":"))


def new_replay_name(now: datetime | None = None) -> str:
    return f"shop-replay-{(now or datetime.now(UTC)).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


def send(
    target: Target,
    deliveries: Sequence[Delivery],
    *,
    rate: float = DEFAULT_RATE,
    replay_name: str | None = None,
    progress: Callable[[int], None] = lambda _: None,
    pacer: Pacer | None = None,
) -> ReplayResult:
    """Send `deliveries` in the order given (plan's: the order the events occurred), at most `rate`
    messages per second; `progress(n)` after each batch of n. Entries SQS refuses are reported in
    `failed`, not retried: run the same replay again, subscribers de-duplicate."""
    result = ReplayResult(replay_name or new_replay_name(), list(deliveries))
    sqs = target.client("sqs")
    pacer = pacer or Pacer(rate)
    urls: dict[str, str] = {}
    pending: dict[str, list[Delivery]] = {}

    def flush(queue: str) -> None:
        batch = pending.pop(queue, [])
        if not batch:
            return
        if queue not in urls:
            urls[queue] = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        _, region, account = _arn_parts(urls[queue], target)
        pacer.take(len(batch))
        response = sqs.send_message_batch(
            QueueUrl=urls[queue],
            Entries=[
                {
                    "Id": str(i),
                    "MessageBody": envelope(d.event, region=region, account=account, replay_name=result.replay_name),
                    "MessageAttributes": {REPLAY_ATTRIBUTE: {"DataType": "String", "StringValue": result.replay_name}},
                }
                for i, d in enumerate(batch)
            ],
        )
        failed = {entry["Id"]: entry.get("Message", entry.get("Code", "failed")) for entry in response.get("Failed", [])}
        result.failed += [(d, failed[str(i)]) for i, d in enumerate(batch) if str(i) in failed]
        result.sent += len(batch) - len(failed)
        progress(len(batch))

    for delivery in deliveries:
        pending.setdefault(delivery.queue, []).append(delivery)
        if len(pending[delivery.queue]) == SEND_BATCH:
            flush(delivery.queue)
    for queue in list(pending):
        flush(queue)
    return result


def _arn_parts(queue_url: str, target: Target) -> tuple[str, str, str | None]:
    """(queue name, region, account) of a queue URL: https://sqs.<region>.amazonaws.com/<account>/<name>
    on AWS, <endpoint>/<account>/<name> on moto (which leaves `account` out of its envelopes)."""
    parts = queue_url.rstrip("/").split("/")
    region = target.session.region_name or "us-east-1"
    return parts[-1], region, None if target.local else parts[-2]


def select(
    target: Target,
    *,
    since: datetime,
    until: datetime,
    types: Sequence[str] = (),
    to: Sequence[str] = (),
    event_ids: Sequence[str] = (),
    correlation_id: str | None = None,
) -> list[Delivery]:
    """The deliveries a replay of the window makes: its events (of `types`; only `event_ids` when
    given) to their subscribers (only those in `to` when given), in the order the events occurred."""
    events = read_log(target, since=since, until=until, types=types, correlation_id=correlation_id)
    if event_ids:
        wanted = set(event_ids)
        events = [event for event in events if event.event_id in wanted]
    return plan(target, events, to)
