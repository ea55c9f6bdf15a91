"""The outbox relay against a fake bus: chunks of ten, retries of exactly the failed entries, no
"published" mark for what did not get out, and only outbox INSERTs are relayed."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shop_eventing.envelope import DomainEvent, EventData, new_event
from shop_eventing.outbox import TRACE_HEADER_ENV, outbox_item, to_dynamodb
from shop_eventing.relay import (
    PUT_EVENTS_MAX_ENTRIES,
    OutboxRelay,
    OutboxSweeper,
    PendingEvent,
    RelayFailed,
    StreamChange,
    outbox_events,
    pending_event,
)

BUS = "shop-t"
T0 = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


class PingV1(EventData):
    n: int


PingV1.event_type = "Ping"
PingV1.schema_version = 1


class FakeBus:
    """Records every PutEvents call; fails entries whose event_id is listed, `times` times each."""

    def __init__(self, failures: Mapping[str, int] | None = None, code: str = "InternalFailure") -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.remaining_failures = dict(failures or {})
        self.code = code

    def put_events(self, entries: Sequence[Mapping[str, Any]]) -> list[str | None]:
        assert len(entries) <= PUT_EVENTS_MAX_ENTRIES, "PutEvents takes at most ten entries"
        self.calls.append([dict(e) for e in entries])
        result: list[str | None] = []
        for entry in entries:
            event_id = json.loads(entry["Detail"])["metadata"]["event_id"]
            if self.remaining_failures.get(event_id, 0) > 0:
                self.remaining_failures[event_id] -= 1
                result.append(self.code)
            else:
                result.append(None)
        return result

    def ids(self, call: int) -> list[str]:
        return [json.loads(e["Detail"])["metadata"]["event_id"] for e in self.calls[call]]

    def accepted_ids(self) -> list[str]:
        """Every event id the bus took, in order (an id failed then retried appears once)."""
        taken: list[str] = []
        for call in range(len(self.calls)):
            taken += [i for i in self.ids(call) if i not in taken]
        return taken


class Marks:
    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []

    def __call__(self, key: dict[str, Any]) -> None:
        self.keys.append(key)

    def event_ids(self) -> list[str]:
        return [key["pk"].removeprefix("OUTBOX#") for key in self.keys]


def pings(count: int) -> list[DomainEvent]:
    return [
        new_event(
            PingV1(n=n), producer="shop.test", correlation_id=f"c-{n}", event_id=f"e-{n:02d}", now=T0 + timedelta(seconds=n)
        )
        for n in range(count)
    ]


def relay(bus: FakeBus, marks: Marks, *, max_attempts: int = 5, sleeps: list[float] | None = None) -> OutboxRelay:
    return OutboxRelay(
        bus, BUS, marks, max_attempts=max_attempts, sleep=(sleeps.append if sleeps is not None else lambda s: None)
    )


@pytest.fixture
def stream(insert_record: Callable[..., dict[str, Any]]) -> Callable[[list[DomainEvent]], dict[str, Any]]:
    def make(events: list[DomainEvent]) -> dict[str, Any]:
        return {"Records": [insert_record(event) for event in events]}

    return make


def test_an_entry_carries_source_type_detail_bus_and_time(stream: Callable[[list[DomainEvent]], dict[str, Any]]) -> None:
    bus, marks = FakeBus(), Marks()
    (event,) = pings(1)

    assert relay(bus, marks).handle(stream([event])) == 1

    assert bus.calls == [
        [
            {
                "Source": "shop.test",
                "DetailType": "Ping",
                "Detail": json.dumps(event.to_detail(), separators=(",", ":"), sort_keys=True),
                "EventBusName": BUS,
                "Time": T0,
            }
        ]
    ]
    assert json.loads(bus.calls[0][0]["Detail"]) == event.to_detail()
    assert marks.keys == [{"pk": "OUTBOX#e-00", "sk": "OUTBOX"}]


def test_the_writers_trace_header_rides_the_entry_and_none_is_invented(monkeypatch: pytest.MonkeyPatch) -> None:
    (traced, untraced) = pings(2)
    header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    monkeypatch.setenv(TRACE_HEADER_ENV, header)
    traced_item = outbox_item(traced, "shop.test")
    monkeypatch.delenv(TRACE_HEADER_ENV)
    untraced_item = outbox_item(untraced, "shop.test")

    assert pending_event(traced_item, BUS).entry["TraceHeader"] == header
    assert "TraceHeader" not in pending_event(untraced_item, BUS).entry
    assert "trace_header" not in untraced_item


def test_23_inserts_go_out_in_chunks_of_10_10_3_in_order(stream: Callable[[list[DomainEvent]], dict[str, Any]]) -> None:
    bus, marks = FakeBus(), Marks()
    events = pings(23)

    assert relay(bus, marks).handle(stream(events)) == 23

    assert [len(call) for call in bus.calls] == [10, 10, 3]
    assert bus.accepted_ids() == [e.event_id for e in events]
    assert marks.event_ids() == [e.event_id for e in events]


def test_an_entry_failing_once_is_retried_alone_and_everything_is_marked(
    stream: Callable[[list[DomainEvent]], dict[str, Any]],
) -> None:
    bus, marks = FakeBus({"e-04": 1}), Marks()
    sleeps: list[float] = []
    events = pings(7)

    assert relay(bus, marks, sleeps=sleeps).handle(stream(events)) == 7

    assert len(bus.calls) == 2
    assert bus.ids(0) == [e.event_id for e in events]
    assert bus.ids(1) == ["e-04"]
    assert bus.calls[1][0] == bus.calls[0][4], "the retry re-sends the identical entry"
    assert sorted(marks.event_ids()) == sorted(e.event_id for e in events)
    assert sleeps == [0.2]


def test_retries_only_the_failed_entries_of_each_chunk(stream: Callable[[list[DomainEvent]], dict[str, Any]]) -> None:
    bus, marks = FakeBus({"e-01": 2, "e-08": 1, "e-12": 1}), Marks()
    sleeps: list[float] = []
    events = pings(13)

    assert relay(bus, marks, sleeps=sleeps).handle(stream(events)) == 13

    assert [bus.ids(call) for call in range(len(bus.calls))] == [
        [f"e-{n:02d}" for n in range(10)],
        ["e-01", "e-08"],
        ["e-01"],
        ["e-10", "e-11", "e-12"],
        ["e-12"],
    ]
    assert sleeps == [0.2, 0.4, 0.2], "exponential backoff, restarted per chunk"
    assert sorted(marks.event_ids()) == [e.event_id for e in events]


def test_an_entry_failing_every_time_raises_and_its_chunk_is_not_marked(
    stream: Callable[[list[DomainEvent]], dict[str, Any]],
) -> None:
    bus, marks = FakeBus({"e-13": 99}), Marks()
    sleeps: list[float] = []
    events = pings(23)

    with pytest.raises(RelayFailed, match="e-13"):
        relay(bus, marks, max_attempts=3, sleeps=sleeps).handle(stream(events))

    # First chunk out and marked; second chunk: one full call then two retries of the bad entry alone.
    assert [len(call) for call in bus.calls] == [10, 10, 1, 1]
    assert bus.ids(2) == bus.ids(3) == ["e-13"]
    assert sleeps == [0.2, 0.4]
    assert marks.event_ids() == [f"e-{n:02d}" for n in range(10)]
    assert not set(marks.event_ids()) & {f"e-{n:02d}" for n in range(10, 23)}
    # The third chunk was never attempted: the stream batch will be delivered again.
    assert "e-20" not in bus.accepted_ids()


def test_max_attempts_bounds_the_calls_for_a_single_bad_entry(stream: Callable[[list[DomainEvent]], dict[str, Any]]) -> None:
    bus, marks = FakeBus({"e-00": 99}, code="ThrottlingException"), Marks()

    with pytest.raises(RelayFailed, match=r"could not publish \['e-00'\]"):
        relay(bus, marks).handle(stream(pings(1)))

    assert len(bus.calls) == 5
    assert marks.keys == []


def test_non_insert_and_non_outbox_records_are_ignored(
    stream: Callable[[list[DomainEvent]], dict[str, Any]], insert_record: Callable[..., dict[str, Any]]
) -> None:
    bus, marks = FakeBus(), Marks()
    first, second, third = pings(3)
    state_item = {"pk": "ORDER#o-1", "sk": "ORDER", "item_type": "order", "status": "PENDING"}
    records = [
        {"eventName": "INSERT", "dynamodb": {"NewImage": to_dynamodb(state_item)}},
        insert_record(first),
        insert_record(second, event_name="MODIFY"),  # e.g. the relay's own published_at update
        insert_record(third, event_name="REMOVE"),  # the TTL expiring an old outbox item
        {
            "eventName": "INSERT",
            "dynamodb": {"NewImage": to_dynamodb({"pk": "PROCESSED#x", "sk": "e", "item_type": "processed"})},
        },
        {"eventName": "INSERT", "dynamodb": {}},
        {"dynamodb": {"NewImage": to_dynamodb(state_item)}},
    ]

    assert relay(bus, marks).handle({"Records": records}) == 1

    assert [bus.ids(call) for call in range(len(bus.calls))] == [[first.event_id]]
    assert marks.event_ids() == [first.event_id]


def test_a_batch_without_outbox_items_makes_no_calls() -> None:
    bus, marks = FakeBus(), Marks()

    assert relay(bus, marks).handle({"Records": []}) == 0
    assert relay(bus, marks).handle({}) == 0
    assert bus.calls == []
    assert marks.keys == []


def test_outbox_events_reads_the_stream_image(insert_record: Callable[..., dict[str, Any]]) -> None:
    (event,) = pings(1)

    (pending,) = outbox_events([insert_record(event, "shop.orders")], "my-bus")

    assert pending.event_id == event.event_id
    assert pending.key == {"pk": f"OUTBOX#{event.event_id}", "sk": "OUTBOX"}
    assert pending.entry["Source"] == "shop.orders"
    assert pending.entry["EventBusName"] == "my-bus"
    assert pending.entry["Time"] == T0


# --- the sweeper -------------------------------------------------------------------------------------


def test_the_sweeper_publishes_what_waited_longer_than_the_grace_and_marks_it() -> None:
    bus, marks = FakeBus(), Marks()
    overdue = [pending_event(outbox_item(event, "shop.test"), BUS) for event in pings(12)]
    asked: list[tuple[datetime, int]] = []

    def unpublished(older_than: datetime, limit: int) -> list[PendingEvent]:
        asked.append((older_than, limit))
        return overdue

    sweeper = OutboxSweeper(
        relay(bus, marks), unpublished, grace=timedelta(minutes=2), batch_limit=50, clock=lambda: T0 + timedelta(hours=1)
    )

    assert sweeper.sweep() == 12
    assert asked == [(T0 + timedelta(minutes=58), 50)]
    assert [len(call) for call in bus.calls] == [10, 2]
    assert marks.event_ids() == bus.accepted_ids() == [f"e-{n:02d}" for n in range(12)]


def test_a_sweep_with_nothing_overdue_calls_nothing() -> None:
    bus, marks = FakeBus(), Marks()

    assert OutboxSweeper(relay(bus, marks), lambda older_than, limit: []).sweep() == 0
    assert bus.calls == [] and marks.keys == []


def test_every_sweep_writes_the_oldest_unpublished_items_age_and_zero_when_none_waits(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "shop")
    now = T0 + timedelta(minutes=30)
    waiting = [pending_event(outbox_item(event, "shop.test"), BUS) for event in pings(1)]  # written at T0
    stuck_bus = FakeBus(failures={"e-00": 99})
    sweeper = OutboxSweeper(
        OutboxRelay(stuck_bus, BUS, Marks(), max_attempts=1, service="shop.test"),
        lambda older_than, limit: [e for e in waiting if e.entry["Time"] < older_than][:limit],
        clock=lambda: now,
        measure_backlog=True,
    )
    capsys.readouterr()
    with pytest.raises(RelayFailed):
        sweeper.sweep()
    lines = emf_lines(capsys.readouterr().out)
    assert [line["OutboxOldestUnpublishedSeconds"] for line in lines if "OutboxOldestUnpublishedSeconds" in line] == [[1800.0]]

    waiting.clear()
    sweeper.sweep()
    (line,) = emf_lines(capsys.readouterr().out)
    assert (line["service"], line["OutboxOldestUnpublishedSeconds"]) == ("shop.test", [0.0])


def test_a_swept_event_the_bus_keeps_refusing_stays_unmarked_for_the_next_sweep() -> None:
    bus, marks = FakeBus(failures={"e-01": 99}), Marks()
    overdue = [pending_event(outbox_item(event, "shop.test"), BUS) for event in pings(3)]

    with pytest.raises(RelayFailed, match="e-01"):
        OutboxSweeper(relay(bus, marks, max_attempts=2), lambda older_than, limit: overdue).sweep()
    assert "e-01" not in marks.event_ids()


def test_a_backlog_drains_in_batches_while_time_is_left() -> None:
    bus, marks = FakeBus(), Marks()
    backlog = [pending_event(outbox_item(event, "shop.test"), BUS) for event in pings(5)]
    published: set[str] = set()

    def unpublished(older_than: datetime, limit: int) -> list[PendingEvent]:
        waiting = [event for event in backlog if event.event_id not in published]
        published.update(event.event_id for event in waiting[:limit])
        return waiting[:limit]

    checks: list[bool] = []

    def time_left() -> bool:
        checks.append(len(checks) < 1)  # time for one more batch after the first, then none
        return checks[-1]

    sweeper = OutboxSweeper(relay(bus, marks), unpublished, batch_limit=2)

    assert sweeper.sweep(time_left) == 4
    assert marks.event_ids() == ["e-00", "e-01", "e-02", "e-03"]
    assert sweeper.sweep() == 1  # the rest on the next run; a short batch ends a run without asking
    assert marks.event_ids()[-1] == "e-04"
    assert len(checks) == 2


# -- a change feed: events about the table's changes themselves ----------------------------------------


def level_record(n: int, *, changed: bool = True, written: float = 1_746_100_800.0) -> dict[str, Any]:
    """A MODIFY of a counter item; `changed=False`: a write that left its version alone."""
    old = {"pk": "C#1", "sk": "C", "item_type": "counter", "version": n - 1 if changed else n}
    new = {"pk": "C#1", "sk": "C", "item_type": "counter", "version": n}
    return {
        "eventID": f"rec-{n}",
        "eventName": "MODIFY",
        "dynamodb": {"OldImage": to_dynamodb(old), "NewImage": to_dynamodb(new), "ApproximateCreationDateTime": written},
    }


def counter_feed(change: StreamChange) -> list[DomainEvent]:
    if change.new.get("item_type") != "counter" or change.old.get("version") == change.new.get("version"):
        return []
    version = change.new["version"]
    return [
        new_event(
            PingV1(n=version), producer="shop.test", correlation_id="counter", event_id=f"v-{version}", now=change.written_at
        )
    ]


def test_a_change_feed_rides_in_the_outbox_calls_and_marks_nothing(insert_record: Callable[..., dict[str, Any]]) -> None:
    bus, marks = FakeBus(), Marks()
    (outboxed,) = pings(1)
    records = [insert_record(outboxed), level_record(3), level_record(4, changed=False)]

    published = OutboxRelay(bus, BUS, marks, changes=counter_feed).handle({"Records": records})

    assert published == 2
    assert [bus.ids(call) for call in range(len(bus.calls))] == [[outboxed.event_id, "v-3"]], "one PutEvents for both"
    change = bus.calls[0][1]
    assert (change["Source"], change["DetailType"], change["Time"]) == (
        "shop.test",
        "Ping",
        datetime.fromtimestamp(1_746_100_800, UTC),
    )
    assert marks.event_ids() == [outboxed.event_id], "a change event has no outbox item to mark"


def test_a_redelivered_record_announces_the_identical_event() -> None:
    bus = FakeBus()
    relay = OutboxRelay(bus, BUS, Marks(), changes=counter_feed)

    relay.handle({"Records": [level_record(7)]})
    relay.handle({"Records": [level_record(7)]})

    assert bus.calls[0] == bus.calls[1]


def test_a_feed_that_fails_on_a_record_holds_up_neither_the_outbox_nor_the_other_records(
    insert_record: Callable[..., dict[str, Any]],
) -> None:
    bus, marks = FakeBus(), Marks()
    (outboxed,) = pings(1)

    def fussy(change: StreamChange) -> list[DomainEvent]:
        if change.new.get("version") == 5:
            raise KeyError("sku")
        return counter_feed(change)

    relay = OutboxRelay(bus, BUS, marks, changes=fussy)

    assert relay.handle({"Records": [level_record(5), insert_record(outboxed), level_record(6)]}) == 2
    assert bus.accepted_ids() == [outboxed.event_id, "v-6"]


def test_without_a_feed_table_changes_publish_nothing() -> None:
    bus = FakeBus()

    assert relay(bus, Marks()).handle({"Records": [level_record(2)]}) == 0
    assert bus.calls == []


def emf_lines(out: str) -> list[dict[str, Any]]:
    return [line for line in map(json.loads, filter(None, out.splitlines())) if "_aws" in line]


def test_each_publish_writes_how_many_outbox_events_went_out_and_how_old_each_was(
    stream: Callable[[list[DomainEvent]], dict[str, Any]], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "shop")
    events = pings(3)  # written at T0, T0+1s, T0+2s
    published_at = T0 + timedelta(seconds=30)
    capsys.readouterr()

    OutboxRelay(FakeBus(), BUS, Marks(), service="shop.test", clock=lambda: published_at).handle(stream(events))

    (line,) = emf_lines(capsys.readouterr().out)
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "shop"
    assert line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert line["service"] == "shop.test"
    assert line["OutboxPublished"] == [3.0]
    assert line["OutboxAgeSeconds"] == [30.0, 29.0, 28.0]


def test_what_went_out_before_a_failure_is_still_written(
    stream: Callable[[list[DomainEvent]], dict[str, Any]], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "shop")
    events = pings(12)
    bus = FakeBus(failures={events[11].event_id: 99})
    capsys.readouterr()

    with pytest.raises(RelayFailed):
        OutboxRelay(bus, BUS, Marks(), max_attempts=2, sleep=lambda s: None, service="shop.test").handle(stream(events))

    (line,) = emf_lines(capsys.readouterr().out)
    assert line["OutboxPublished"] == [10.0]


def test_without_a_namespace_no_metrics_are_written(
    stream: Callable[[list[DomainEvent]], dict[str, Any]], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    capsys.readouterr()

    OutboxRelay(FakeBus(), BUS, Marks(), service="shop.test").handle(stream(pings(2)))

    assert emf_lines(capsys.readouterr().out) == []
