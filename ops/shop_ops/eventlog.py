"""The producers' event logs: the outbox items each publishing service keeps 90 days in its own table.

Every outbox item is in the table's index `gsi1` under `OUTBOX#<event type>`, sorted by
`<occurred_at>#<event_id>` (shop_eventing.outbox.outbox_item), so "every OrderPlaced between t1 and
t2" is one query per event type, exact to the microsecond, on AWS and locally alike. The relay marks
an item `published_at` and leaves it; its TTL (`expires_at`) removes it after 90 days.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shop_eventing.outbox import OUTBOX_ITEM_TYPE, from_dynamodb
from shop_ops.target import Target

LOG_INDEX = "gsi1"


@dataclass(frozen=True)
class LoggedEvent:
    """One event as its producer's outbox logged it."""

    event_id: str
    event_type: str
    schema_version: int
    source: str  # the EventBridge source, e.g. shop.orders
    producer: str  # the service, e.g. orders
    occurred_at: datetime
    correlation_id: str
    detail: str  # the detail JSON exactly as the relay published it
    published_at: str | None

    @property
    def metadata(self) -> dict[str, Any]:
        metadata: dict[str, Any] = json.loads(self.detail)["metadata"]
        return metadata


def utc(moment: datetime) -> datetime:
    """Naive datetimes are read as UTC: the shop's clocks and its logs are all UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def logged_event(item: dict[str, Any], producer: str) -> LoggedEvent:
    return LoggedEvent(
        event_id=item["event_id"],
        event_type=item["event_type"],
        schema_version=int(item["schema_version"]),
        source=item["source"],
        producer=producer,
        occurred_at=datetime.fromisoformat(item["occurred_at"]),
        correlation_id=item.get("correlation_id", ""),
        detail=item["detail"],
        published_at=item.get("published_at"),
    )


def event_types(target: Target, types: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(producer, event type) for the given types, or for every type the topology's services publish."""
    wanted = set(types)
    published = [(service.name, ref.event_type) for service in target.topology.services for ref in service.publishes]
    unknown = wanted - {event_type for _, event_type in published}
    if unknown:
        raise ValueError(f"no service publishes {sorted(unknown)}")
    return [(producer, event_type) for producer, event_type in published if not wanted or event_type in wanted]


def read_log(
    target: Target,
    *,
    since: datetime,
    until: datetime,
    types: Iterable[str] = (),
    correlation_id: str | None = None,
) -> list[LoggedEvent]:
    """Every logged event with since <= occurred_at < until, of the given types (default: all), in
    the order they occurred. With `correlation_id`, only that order's (or video's) events; the filter
    runs in DynamoDB, which still reads (and bills) the whole window of each type."""
    since, until = utc(since), utc(until)
    found: list[LoggedEvent] = []
    for producer, event_type in event_types(target, types):
        found += [logged_event(item, producer) for item in _query(target, producer, event_type, since, until, correlation_id)]
    # The sort key holds "<occurred_at>#<event_id>", so BETWEEN the two bare timestamps already leaves
    # out an event that occurred exactly at `until`; the check keeps that true for any format.
    return sorted((e for e in found if since <= e.occurred_at < until), key=lambda e: (e.occurred_at, e.event_id))


def _query(
    target: Target, producer: str, event_type: str, since: datetime, until: datetime, correlation_id: str | None
) -> Iterator[dict[str, Any]]:
    request: dict[str, Any] = {
        "TableName": target.naming.table(producer),
        "IndexName": LOG_INDEX,
        "KeyConditionExpression": "gsi1pk = :type AND gsi1sk BETWEEN :since AND :until",
        "ExpressionAttributeValues": {
            ":type": {"S": f"OUTBOX#{event_type}"},
            ":since": {"S": since.isoformat()},
            ":until": {"S": until.isoformat()},
            ":outbox": {"S": OUTBOX_ITEM_TYPE},
        },
        "FilterExpression": "item_type = :outbox",
    }
    if correlation_id is not None:
        request["FilterExpression"] += " AND correlation_id = :correlation"
        request["ExpressionAttributeValues"][":correlation"] = {"S": correlation_id}
    for page in target.client("dynamodb").get_paginator("query").paginate(**request):
        yield from (from_dynamodb(item) for item in page["Items"])
