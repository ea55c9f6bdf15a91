"""The outbox relay: DynamoDB stream → EventBridge.

It sees every new outbox item (INSERT of kind=outbox), puts the events on the bus at most ten per
PutEvents, retries exactly the entries the response reports as failed, and marks the items published.
If entries still fail after the retries it raises, so the stream batch is delivered again: events are
published at least once, never lost, and consumers de-duplicate on `event_id`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from shop_eventing.outbox import OUTBOX_KIND, from_dynamodb

log = logging.getLogger(__name__)

PUT_EVENTS_MAX_ENTRIES = 10


class EventBus(Protocol):
    def put_events(self, entries: Sequence[Mapping[str, Any]]) -> list[str | None]:
        """Put entries; return, per entry in order, None when accepted or the error code."""


class BotoEventBus:
    def __init__(self, client: Any) -> None:
        self._client = client

    def put_events(self, entries: Sequence[Mapping[str, Any]]) -> list[str | None]:
        response = self._client.put_events(Entries=list(entries))
        return [entry.get("ErrorCode") for entry in response["Entries"]]


class RelayFailed(Exception):
    """Some outbox entries could not be published after every retry; the stream batch must be retried."""


@dataclass(frozen=True)
class PendingEvent:
    key: dict[str, Any]
    entry: dict[str, Any]
    event_id: str


def outbox_events(stream_records: Iterable[Mapping[str, Any]], bus_name: str) -> list[PendingEvent]:
    """The outbox items newly inserted in a batch of Lambda DynamoDB stream records."""
    pending = []
    for record in stream_records:
        if record.get("eventName") != "INSERT":
            continue
        image = from_dynamodb(record.get("dynamodb", {}).get("NewImage", {}))
        if image.get("kind") != OUTBOX_KIND:
            continue
        pending.append(
            PendingEvent(
                key={"pk": image["pk"], "sk": image["sk"]},
                entry={
                    "Source": image["source"],
                    "DetailType": image["event_type"],
                    "Detail": image["detail"],
                    "EventBusName": bus_name,
                    "Time": datetime.fromisoformat(image["occurred_at"]),
                },
                event_id=image["event_id"],
            )
        )
    return pending


class OutboxRelay:
    def __init__(
        self,
        bus: EventBus,
        bus_name: str,
        mark_published: Callable[[dict[str, Any]], None],
        *,
        max_attempts: int = 5,
        backoff_seconds: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._bus = bus
        self._bus_name = bus_name
        self._mark_published = mark_published
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._sleep = sleep

    def handle(self, stream_event: Mapping[str, Any]) -> int:
        """Relay one Lambda DynamoDB stream event; returns how many events were published."""
        pending = outbox_events(stream_event.get("Records", []), self._bus_name)
        for start in range(0, len(pending), PUT_EVENTS_MAX_ENTRIES):
            chunk = pending[start : start + PUT_EVENTS_MAX_ENTRIES]
            self._publish(chunk)
            for event in chunk:
                self._mark_published(event.key)
        return len(pending)

    def _publish(self, chunk: list[PendingEvent]) -> None:
        remaining = chunk
        for attempt in range(1, self._max_attempts + 1):
            errors = self._bus.put_events([event.entry for event in remaining])
            failed = [(event, error) for event, error in zip(remaining, errors, strict=True) if error]
            if not failed:
                return
            log.warning(
                "PutEvents rejected %d of %d entries (attempt %d/%d): %s",
                len(failed),
                len(remaining),
                attempt,
                self._max_attempts,
                json.dumps({event.event_id: error for event, error in failed}),
            )
            remaining = [event for event, _ in failed]
            if attempt < self._max_attempts:
                self._sleep(self._backoff * 2 ** (attempt - 1))
        raise RelayFailed(f"could not publish {[event.event_id for event in remaining]}")


def table_marker(client: Any, table_name: str) -> Callable[[dict[str, Any]], None]:
    """Marks an outbox item published (it stays as the producer's event log until its TTL)."""

    def mark(key: dict[str, Any]) -> None:
        client.update_item(
            TableName=table_name,
            Key={"pk": {"S": key["pk"]}, "sk": {"S": key["sk"]}},
            UpdateExpression="SET published_at = :now",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":now": {"S": datetime.now(UTC).isoformat()}},
        )

    return mark
