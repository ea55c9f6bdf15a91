"""`shop trace ORDER_ID`: one order's story across services, in time order.

The story is read from what the services keep anyway: each producer's outbox log (every event about
the order carries its id as `correlation_id`), and, for each event, each subscriber's processed-marker
and failure record. An event with neither, for a subscriber the topology gives it, was not handled (yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shop_eventing.outbox import to_dynamodb
from shop_ops import markers
from shop_ops.eventlog import read_log, utc
from shop_ops.queues import Clock, utcnow
from shop_ops.target import Target, subscriber_id

# The log is searched from a little before the order was placed (clocks of two services may differ).
LEAD = timedelta(minutes=1)
# Without an order item to date it from, the whole retention of the outbox logs is searched.
LOG_RETENTION = timedelta(days=90)


@dataclass(frozen=True)
class Step:
    at: datetime
    service: str
    kind: str  # published | pending | handled | failed | not handled
    event: str  # type and major, e.g. OrderPlaced v2
    event_id: str
    detail: str = ""

    def describe(self) -> str:
        return {
            "published": f"published {self.event} ({self.event_id})",
            "pending": f"wrote {self.event} ({self.event_id}) to its outbox, not yet published",
            "handled": f"handled {self.event} ({self.detail})",
            "failed": f"failed on {self.event} ({self.detail})",
            "not handled": f"has not handled {self.event} ({self.detail})",
        }[self.kind]


def order_placed_at(target: Target, order_id: str) -> datetime | None:
    found = target.client("dynamodb").get_item(
        TableName=target.naming.table("orders"),
        Key=to_dynamodb({"pk": f"ORDER#{order_id}", "sk": "ORDER"}),
        ProjectionExpression="created_at",
    )
    created = found.get("Item", {}).get("created_at", {}).get("S")
    return datetime.fromisoformat(created) if created else None


def trace(
    target: Target, correlation_id: str, *, since: datetime | None = None, until: datetime | None = None, clock: Clock = utcnow
) -> list[Step]:
    """Every step of the order (or any correlation id: a video's) in [since, until)."""
    now = clock()
    if since is None:
        placed = order_placed_at(target, correlation_id)
        since = placed - LEAD if placed else now - LOG_RETENTION
    events = read_log(target, since=since, until=until or now + LEAD, correlation_id=correlation_id)
    expected = [
        (subscriber_id(service, subscription), event)
        for event in events
        for service, subscription in target.topology.subscriptions()
        if subscription.accepts(event.event_type, event.schema_version)
    ]
    pairs = [(subscriber, event.event_id) for subscriber, event in expected]
    handled, failed = markers.processed(target, pairs), markers.failures(target, pairs)
    steps = []
    for event in events:
        label = f"{event.event_type} v{event.schema_version}"
        kind = "published" if event.published_at else "pending"
        steps.append(Step(event.occurred_at, event.producer, kind, label, event.event_id))
    for subscriber, event in expected:
        key, label = (subscriber, event.event_id), f"{event.event_type} v{event.schema_version}"
        service = subscriber.partition(".")[0]
        if key in failed:
            failure = failed[key]
            detail = f"{subscriber}, receive {failure.get('receive_count', '?')}: {failure['reason']}"
            at = utc(datetime.fromisoformat(failure["failed_at"]))
            steps.append(Step(at, service, "failed", label, event.event_id, detail))
        if key in handled:
            at = utc(datetime.fromisoformat(handled[key]["processed_at"]))
            steps.append(Step(at, service, "handled", label, event.event_id, subscriber))
        elif key not in failed:
            steps.append(Step(event.occurred_at, service, "not handled", label, event.event_id, subscriber))
    order = {"published": 0, "pending": 0, "failed": 1, "handled": 2, "not handled": 3}
    return sorted(steps, key=lambda s: (s.at, order[s.kind], s.service, s.event_id))
