"""Reconciliation: what the event flow should have done and did not.

- orders stuck in a state the event flow (not a person) moves on, for longer than a threshold;
- outbox items never published (still in the table's `outbox-pending` index after the sweeper's turn);
- events a subscriber never handled: every event in the producers' logs in the window, for every
  subscriber the topology gives it, without that subscriber's processed-marker.

Each missed event is repaired by replaying exactly it to exactly that subscriber (`Repair`), which
`shop reconcile --repair` runs and otherwise prints as `shop replay` commands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shop_eventing.outbox import PENDING_INDEX, PENDING_PARTITION, from_dynamodb
from shop_ops import markers
from shop_ops.eventlog import LoggedEvent, read_log, utc
from shop_ops.queues import Clock, utcnow
from shop_ops.replay import Delivery
from shop_ops.target import Target, subscriber_id

# The states an order leaves through events alone (services/orders/chalicelib/domain.py): a paid order
# waits for fulfillment's ShipmentRequested only if it holds physical goods (a digital-only order stays
# PAID). Later states wait for the warehouse, the carrier or the customer, which take their own time.
FLOW_STATES = ("PENDING", "STOCK_RESERVED", "PAID")
DEFAULT_STUCK_AFTER = timedelta(minutes=15)
# An event younger than this may still be on its way (relay, bus, queue, retries): not yet "missed".
DEFAULT_SETTLE = timedelta(minutes=2)
# The sweeper runs every 5 minutes and publishes what waited 2; older than this, it is not working.
DEFAULT_UNPUBLISHED_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class StuckOrder:
    order_id: str
    status: str
    created_at: datetime
    age: timedelta


@dataclass(frozen=True)
class Unpublished:
    producer: str
    event_id: str
    event_type: str
    occurred_at: datetime
    correlation_id: str


@dataclass(frozen=True)
class Missed:
    subscriber: str
    event: LoggedEvent


@dataclass(frozen=True)
class Repair:
    """One subscriber's missed events, replayed to it alone."""

    subscriber: str
    events: tuple[LoggedEvent, ...]

    def replay_arguments(self) -> list[str]:
        """`shop replay`'s arguments that re-deliver exactly these events to exactly this subscriber."""
        since = min(e.occurred_at for e in self.events)
        until = max(e.occurred_at for e in self.events) + timedelta(microseconds=1)
        arguments = ["--since", since.isoformat(), "--until", until.isoformat(), "--to", self.subscriber]
        for event_type in sorted({e.event_type for e in self.events}):
            arguments += ["--type", event_type]
        for event in self.events:
            arguments += ["--event-id", event.event_id]
        return arguments


@dataclass
class Findings:
    since: datetime
    until: datetime
    checked_events: int = 0
    stuck: list[StuckOrder] = field(default_factory=list)
    unpublished: list[Unpublished] = field(default_factory=list)
    missed: list[Missed] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.stuck or self.unpublished or self.missed)

    def repairs(self) -> list[Repair]:
        by_subscriber: dict[str, list[LoggedEvent]] = {}
        for missed in self.missed:
            by_subscriber.setdefault(missed.subscriber, []).append(missed.event)
        return [Repair(subscriber, tuple(events)) for subscriber, events in sorted(by_subscriber.items())]

    def deliveries(self, target: Target) -> list[Delivery]:
        """The repair as replay deliveries, in the order the events occurred."""
        ordered = sorted(self.missed, key=lambda m: (m.event.occurred_at, m.event.event_id, m.subscriber))
        return [Delivery(m.event, m.subscriber, _queue(target, m.subscriber)) for m in ordered]


def _queue(target: Target, subscriber: str) -> str:
    service, subscription = target.subscription(subscriber)
    return target.naming.queue(service.name, subscription.name)


def reconcile(
    target: Target,
    *,
    since: datetime,
    until: datetime | None = None,
    correlation_id: str | None = None,
    subscribers: Sequence[str] = (),
    stuck_after: timedelta = DEFAULT_STUCK_AFTER,
    settle: timedelta = DEFAULT_SETTLE,
    unpublished_after: timedelta = DEFAULT_UNPUBLISHED_AFTER,
    clock: Clock = utcnow,
) -> Findings:
    """Check the window [since, until) (until: now less `settle`); with `correlation_id`, one order's
    events only; with `subscribers`, only those subscribers' markers."""
    now = clock()
    until = min(utc(until), now - settle) if until else now - settle
    findings = Findings(since=utc(since), until=until)
    chosen = {subscriber_id(*target.subscription(name)) for name in subscribers}
    events = [e for e in read_log(target, since=since, until=until, correlation_id=correlation_id) if e.published_at]
    findings.checked_events = len(events)
    expected = [
        (subscriber_id(service, subscription), event)
        for event in events
        for service, subscription in target.topology.subscriptions()
        if subscription.accepts(event.event_type, event.schema_version)
        and (not chosen or subscriber_id(service, subscription) in chosen)
    ]
    found = markers.processed(target, [(subscriber, event.event_id) for subscriber, event in expected])
    findings.missed = [Missed(subscriber, event) for subscriber, event in expected if (subscriber, event.event_id) not in found]
    findings.unpublished = [
        u
        for u in unpublished(target, older_than=now - unpublished_after)
        if not correlation_id or u.correlation_id == correlation_id
    ]
    findings.stuck = [
        o
        for o in stuck_orders(target, older_than=now - stuck_after, now=now)
        if not correlation_id or o.order_id == correlation_id
    ]
    return findings


def unpublished(target: Target, *, older_than: datetime) -> list[Unpublished]:
    """Outbox items still waiting for the relay, written before `older_than`, oldest first."""
    found = []
    dynamodb = target.client("dynamodb")
    for service in target.topology.services:
        if not service.publishes:
            continue
        pages = dynamodb.get_paginator("query").paginate(
            TableName=target.naming.table(service.name),
            IndexName=PENDING_INDEX,
            KeyConditionExpression="pending_pk = :pending AND pending_sk < :cutoff",
            ExpressionAttributeValues={":pending": {"S": PENDING_PARTITION}, ":cutoff": {"S": utc(older_than).isoformat()}},
        )
        for page in pages:
            for item in map(from_dynamodb, page["Items"]):
                found.append(
                    Unpublished(
                        service.name,
                        item["event_id"],
                        item["event_type"],
                        datetime.fromisoformat(item["occurred_at"]),
                        item.get("correlation_id", ""),
                    )
                )
    return sorted(found, key=lambda u: (u.occurred_at, u.event_id))


def stuck_orders(target: Target, *, older_than: datetime, now: datetime) -> list[StuckOrder]:
    """Orders in a FLOW_STATES state created before `older_than`. A scan of the orders table, filtered
    in DynamoDB: fine for an operator's occasional run, billed by the table's size."""
    values: dict[str, Any] = {":order": {"S": "order"}, **{f":s{i}": {"S": s} for i, s in enumerate(FLOW_STATES)}}
    pages = (
        target.client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName=target.naming.table("orders"),
            FilterExpression=f"item_type = :order AND #status IN ({', '.join(f':s{i}' for i in range(len(FLOW_STATES)))})",
            ExpressionAttributeNames={"#status": "status", "#lines": "lines"},
            ExpressionAttributeValues=values,
            ProjectionExpression="order_id, #status, created_at, #lines",
        )
    )
    stuck = []
    for page in pages:
        for item in map(from_dynamodb, page["Items"]):
            created_at = datetime.fromisoformat(item["created_at"])
            if created_at >= older_than:
                continue
            if item["status"] == "PAID" and not any(line.get("kind") == "physical" for line in item.get("lines", [])):
                continue
            stuck.append(StuckOrder(item["order_id"], item["status"], created_at, now - created_at))
    return sorted(stuck, key=lambda o: o.created_at)
