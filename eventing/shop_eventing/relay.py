"""The outbox relay: DynamoDB stream → EventBridge, and its sweeper.

The relay sees every new outbox item (INSERT of item_type=outbox), puts the events on the bus at most ten
per PutEvents, retries exactly the entries the response reports as failed, and marks the items
published. If entries still fail after the retries it raises, so the stream batch is delivered again:
events are published at least once, and consumers de-duplicate on `event_id`.

A stream record lives 24 hours. If the relay fails for longer (the bus refusing, a bug, a disabled
event source), the stream forgets the item, but the item stays in the table's sparse index of
unpublished items (outbox.PENDING_INDEX) until it is marked published. The sweeper, run on a schedule,
publishes the items that have waited there longer than a grace period (which leaves the stream relay
its turn first) through the same publishing code. Nothing written to an outbox is ever lost.

A service may also give the relay a change feed (`ChangeFeed`): events about its table's changes
themselves (change data capture), e.g. catalog's StockLevelChanged from every write that moves a
product's stock, whatever use case made it. The relay already reads every record of the stream, so
these ride in the same PutEvents calls as the outbox's events: no second reader of the stream, no
extra invocation. They have no outbox item to mark and the sweeper does not know them: a change
event lost with its stream record (24 hours of failing) stays lost, so a change feed is for views
that the next change corrects, never for a step of a flow.

Every publishing call (the relay's and the sweeper's) writes one metrics line (shop_eventing.metrics):
OutboxPublished, the outbox events it put on the bus, and OutboxAgeSeconds, per event, how long after
its use case wrote it (`occurred_at`) it was published: the outbox's backlog, which the outbox alarm
watches (deploy/templates.py). Change events are not outbox events and count in neither.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import ClientError

from shop_eventing.envelope import DomainEvent
from shop_eventing.metrics import Tally
from shop_eventing.outbox import ITEM_TYPE, OUTBOX_ITEM_TYPE, PENDING_INDEX, PENDING_PARTITION, from_dynamodb

log = logging.getLogger(__name__)

PUT_EVENTS_MAX_ENTRIES = 10
# How often each publishing service runs its sweeper (a scheduled function on AWS).
SWEEP_EVERY_MINUTES = 5
# A sweep starts another batch only with this much of the function's time left (one batch of 500
# takes a few seconds of PutEvents).
SWEEP_MARGIN_MS = 15_000


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
    key: dict[str, Any] | None  # the outbox item to mark published; None for a change event (nothing to mark)
    entry: dict[str, Any]
    event_id: str


@dataclass(frozen=True)
class StreamChange:
    """One stream record as a change feed reads it: the item before and after the write (plain items,
    empty when there was none), the record's name (INSERT, MODIFY, REMOVE) and when it was written."""

    event_name: str
    old: dict[str, Any]
    new: dict[str, Any]
    written_at: datetime


ChangeFeed = Callable[[StreamChange], Sequence[DomainEvent]]
"""A table change -> the events it announces. It must be deterministic (same record, same events with
the same event_ids): a stream batch is delivered again after a failure, and consumers de-duplicate
on event_id."""


def outbox_events(stream_records: Iterable[Mapping[str, Any]], bus_name: str) -> list[PendingEvent]:
    """The outbox items newly inserted in a batch of Lambda DynamoDB stream records."""
    pending = []
    for record in stream_records:
        if record.get("eventName") != "INSERT":
            continue
        image = from_dynamodb(record.get("dynamodb", {}).get("NewImage", {}))
        if image.get(ITEM_TYPE) != OUTBOX_ITEM_TYPE:
            continue
        pending.append(pending_event(image, bus_name))
    return pending


def stream_change(record: Mapping[str, Any]) -> StreamChange:
    """A Lambda DynamoDB stream record (view type NEW_AND_OLD_IMAGES) as a `StreamChange`."""
    dynamodb = record.get("dynamodb", {})
    written = dynamodb.get("ApproximateCreationDateTime")
    return StreamChange(
        event_name=str(record.get("eventName", "")),
        old=from_dynamodb(dynamodb.get("OldImage", {})),
        new=from_dynamodb(dynamodb.get("NewImage", {})),
        # The record's own time, so a redelivered record makes the very same event.
        written_at=datetime.fromtimestamp(float(written), UTC) if written is not None else datetime.now(UTC),
    )


def change_events(stream_records: Iterable[Mapping[str, Any]], bus_name: str, feed: ChangeFeed) -> list[PendingEvent]:
    """What `feed` announces about a batch of stream records, in the records' order.

    A record the feed cannot read is logged and skipped, not raised: raising would hold up the table's
    whole stream, the outbox's events (the order flow) included, for a view's sake."""
    pending = []
    for record in stream_records:
        try:
            events = feed(stream_change(record))
        except Exception:
            log.exception("change feed failed on stream record %s: skipped", record.get("eventID"))
            continue
        pending += [change_event(event, bus_name) for event in events]
    return pending


def change_event(event: DomainEvent, bus_name: str) -> PendingEvent:
    """The PutEvents entry of an event a change feed announced (its producer is the entry's source)."""
    return PendingEvent(
        key=None,
        entry={
            "Source": event.metadata.producer,
            "DetailType": event.event_type,
            "Detail": json.dumps(event.to_detail(), separators=(",", ":"), sort_keys=True),
            "EventBusName": bus_name,
            "Time": event.metadata.occurred_at,
        },
        event_id=event.event_id,
    )


def pending_event(item: Mapping[str, Any], bus_name: str) -> PendingEvent:
    """The PutEvents entry of one outbox item (a plain item, as `from_dynamodb` returns it)."""
    return PendingEvent(
        key={"pk": item["pk"], "sk": item["sk"]},
        entry={
            "Source": item["source"],
            "DetailType": item["event_type"],
            "Detail": item["detail"],
            "EventBusName": bus_name,
            "Time": datetime.fromisoformat(item["occurred_at"]),
            # The writer's trace continues through EventBridge and SQS (outbox.TRACE_HEADER_ENV).
            **({"TraceHeader": item["trace_header"]} if item.get("trace_header") else {}),
        },
        event_id=item["event_id"],
    )


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
        changes: ChangeFeed | None = None,
        service: str = "",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`service`: the source of the service whose outbox this is (the metrics' dimension)."""
        self._bus = bus
        self._service = service
        self._clock = clock
        self._changes = changes
        self._bus_name = bus_name
        self._mark_published = mark_published
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._sleep = sleep

    @property
    def service(self) -> str:
        return self._service

    def handle(self, stream_event: Mapping[str, Any]) -> int:
        """Relay one Lambda DynamoDB stream event (and what the change feed, if any, announces about
        it); returns how many events were published."""
        records = stream_event.get("Records", [])
        pending = outbox_events(records, self._bus_name)
        if self._changes is not None:
            pending += change_events(records, self._bus_name, self._changes)
        return self.publish(pending)

    def publish(self, pending: Sequence[PendingEvent]) -> int:
        """Put `pending` on the bus and mark each published; returns how many."""
        tally = Tally(self._service)
        try:
            for start in range(0, len(pending), PUT_EVENTS_MAX_ENTRIES):
                chunk = pending[start : start + PUT_EVENTS_MAX_ENTRIES]
                self._publish(chunk)
                published_at = self._clock()
                for event in chunk:
                    if event.key is not None:
                        self._mark_published(event.key)
                        tally.count("OutboxPublished")
                        tally.seconds("OutboxAgeSeconds", (published_at - event.entry["Time"]).total_seconds())
        finally:
            # What was published before a failure counts too: its ages are the backlog's.
            tally.flush()
        return len(pending)

    def _publish(self, chunk: Sequence[PendingEvent]) -> None:
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
    """Marks an outbox item published (it stays as the producer's event log until its TTL).

    An item that is gone by then (its TTL deleted it, or someone did) is left gone: the condition keeps
    the update from creating a stub of it, and the failed condition is logged, not raised. Raising would
    fail the whole stream batch, and Lambda retries a failed batch until its records expire (24 hours),
    holding up every later event of the table for nothing: the event is already on the bus, and there
    is nothing left to mark. A sweep that read the item from the index just before it went would stop
    the same way.
    """

    def mark(key: dict[str, Any]) -> None:
        try:
            client.update_item(
                TableName=table_name,
                Key={"pk": {"S": key["pk"]}, "sk": {"S": key["sk"]}},
                # Out of the sparse index of unpublished items too: the sweeper never sees it again.
                UpdateExpression="SET published_at = :now REMOVE pending_pk, pending_sk",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":now": {"S": datetime.now(UTC).isoformat()}},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            log.warning("outbox item %s no longer exists: published, nothing to mark", json.dumps(key, sort_keys=True))

    return mark


UnpublishedSource = Callable[[datetime, int], list[PendingEvent]]
"""(older_than, limit) -> the oldest unpublished outbox items written before `older_than`."""


class OutboxSweeper:
    """Publishes the outbox items the stream relay has not published within `grace`."""

    def __init__(
        self,
        relay: OutboxRelay,
        unpublished: UnpublishedSource,
        *,
        grace: timedelta = timedelta(minutes=2),
        batch_limit: int = 500,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        measure_backlog: bool = False,
    ) -> None:
        """`measure_backlog`: write OutboxOldestUnpublishedSeconds on every run (one more 1-item read)."""
        self._relay = relay
        self._unpublished = unpublished
        self._measure = measure_backlog
        self._grace = grace
        self._batch_limit = batch_limit
        self._clock = clock

    def sweep(self, time_left: Callable[[], bool] = lambda: False) -> int:
        """Publish what waited too long, oldest first, `batch_limit` at a time, for as long as batches
        come back full and `time_left()` says so (a backlog drains in one run); returns how many."""
        if self._measure:
            self._measure_backlog()
        published = 0
        while True:
            overdue = self._unpublished(self._clock() - self._grace, self._batch_limit)
            if overdue:
                log.warning(
                    "sweeping %d outbox item(s) the stream relay did not publish: %s",
                    len(overdue),
                    json.dumps([event.event_id for event in overdue[:20]]),
                )
            published += self._relay.publish(overdue)
            if len(overdue) < self._batch_limit or not time_left():
                return published

    def _measure_backlog(self) -> None:
        """OutboxOldestUnpublishedSeconds, on every run, 0 when nothing waits: the publishers' own
        OutboxAgeSeconds says nothing when nothing gets published at all (a stream that stopped, a relay
        that fails on every record, a bus that refuses everything), and this one does. The scheduled
        sweeper runs whatever happens, so its alarm treats missing data as breaching."""
        now = self._clock()
        oldest = self._unpublished(now, 1)
        age = (now - oldest[0].entry["Time"]).total_seconds() if oldest else 0.0
        tally = Tally(self._relay.service)
        tally.seconds("OutboxOldestUnpublishedSeconds", max(age, 0.0))
        tally.flush()


def table_unpublished(client: Any, table_name: str, bus_name: str) -> UnpublishedSource:
    """Reads the table's sparse index of unpublished outbox items (strongly consistent reads are not
    available on a GSI: an item published a moment ago may come back once more, which consumers
    de-duplicate like any redelivery)."""

    def unpublished(older_than: datetime, limit: int) -> list[PendingEvent]:
        pages = client.get_paginator("query").paginate(
            TableName=table_name,
            IndexName=PENDING_INDEX,
            KeyConditionExpression="pending_pk = :pending AND pending_sk < :cutoff",
            ExpressionAttributeValues={":pending": {"S": PENDING_PARTITION}, ":cutoff": {"S": older_than.isoformat()}},
            PaginationConfig={"MaxItems": limit, "PageSize": limit},
        )
        return [pending_event(from_dynamodb(item), bus_name) for page in pages for item in page["Items"]]

    return unpublished
