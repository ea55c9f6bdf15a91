"""The push channel's rules with in-memory fakes (no AWS): who may watch a show, what a late joiner is
told, and the fan-out of pins — the highest sequence wins, a closed connection is forgotten, a repeated
or late event changes nothing, and a fan-out cut short is finished by the event's redelivery; and a
customer's own orders: watched by nobody else, each order's highest status_version wins."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import push
from chalicelib.push import Connection, ConnectionGone, ConnectionMoved, CurrentChange, NotConnected
from shop_contracts.events import Money, OrderStatusChangedV1, PinnedProduct, ProductPinnedV1, ProductUnpinnedV1
from shop_eventing.envelope import DomainEvent, new_event

NOW = datetime(2026, 6, 12, 19, 0, tzinfo=UTC)
SHOW = "show-tokyo"
SUBSCRIBER = "vod.push-pins"


class MemoryStore:
    """`push.PushStore` in memory, with the DynamoDB adapter's conditions."""

    def __init__(self) -> None:
        self.connections: dict[str, Connection] = {}
        self.watching: dict[str, set[str]] = {}
        self.pins: dict[tuple[str, str | None], CurrentChange] = {}
        self.processed: set[tuple[str, str]] = set()

    def add_connection(self, connection: Connection, *, connected_at: datetime, expires_at: datetime) -> None:
        self.connections[connection.connection_id] = connection

    def connection(self, connection_id: str) -> Connection | None:
        return self.connections.get(connection_id)

    def set_topics(self, connection: Connection, topics: Sequence[str], *, expires_at: datetime) -> None:
        stored = self.connections.get(connection.connection_id)
        if stored is None:
            raise NotConnected(connection.connection_id)
        if stored.version != connection.version:
            raise ConnectionMoved(connection.connection_id)
        for topic in set(connection.topics) - set(topics):
            self.watching[topic].discard(connection.connection_id)
        for topic in topics:
            self.watching.setdefault(topic, set()).add(connection.connection_id)
        self.connections[connection.connection_id] = replace(connection, topics=tuple(topics), version=connection.version + 1)

    def remove_connection(self, connection: Connection) -> None:
        if self.connections[connection.connection_id].version != connection.version:
            raise ConnectionMoved(connection.connection_id)
        del self.connections[connection.connection_id]
        for topic in connection.topics:
            self.watching[topic].discard(connection.connection_id)

    def watchers(self, topic: str) -> list[str]:
        return sorted(self.watching.get(topic, set()))

    def forget_watcher(self, topic: str, connection_id: str) -> None:
        self.watching.get(topic, set()).discard(connection_id)

    def current(self, topic: str, subject: str | None = None) -> CurrentChange | None:
        return self.pins.get((topic, subject))

    def advance(self, topic: str, change: CurrentChange, *, expires_at: datetime, subject: str | None = None) -> bool:
        recorded = self.pins.get((topic, subject))
        if recorded is not None and recorded.sequence >= change.sequence:
            return False
        self.pins[(topic, subject)] = change
        return True

    def mark_fanned_out(self, topic: str, event: DomainEvent, subscriber: str, subject: str | None = None) -> None:
        key = (topic, subject)
        if self.pins[key].event_id == event.event_id:
            self.pins[key] = replace(self.pins[key], fanned_out=True)
        self.mark_processed(event, subscriber)

    def mark_processed(self, event: DomainEvent, subscriber: str) -> None:
        self.processed.add((subscriber, event.event_id))


class Outbox:
    """`push.Sender`: what each connection was sent; the ids in `closed` are gone."""

    def __init__(self, closed: Sequence[str] = ()) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = {}
        self.closed = set(closed)
        self.fail_after: int | None = None
        self._lock = threading.Lock()  # the fan-out posts from several threads

    def send(self, connection_id: str, message: Mapping[str, Any]) -> None:
        with self._lock:
            if connection_id in self.closed:
                raise ConnectionGone(connection_id)
            if self.fail_after is not None and sum(map(len, self.sent.values())) >= self.fail_after:
                raise RuntimeError("the management API timed out")
            # As it goes over the wire: JSON.
            self.sent.setdefault(connection_id, []).append(json.loads(json.dumps(message)))

    def of(self, connection_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.sent.get(connection_id, []) if kind is None or m["type"] == kind]


class Tickets:
    """`push.Entitlements`: each customer's entitlements as the vod table holds them."""

    def __init__(self, **by_customer: list[dict[str, Any]]) -> None:
        self.by_customer = by_customer
        self.asked: list[tuple[str, str | None]] = []

    def entitlements(self, customer_id: str, subject: str | None = None) -> list[dict[str, Any]]:
        self.asked.append((customer_id, subject))
        return list(self.by_customer.get(customer_id, []))


def ticket(show: str = SHOW, *, status: str = "ACTIVE", expires: datetime | None = None) -> dict[str, Any]:
    return {
        "product_type": "live_ticket",
        "live_show_id": show,
        "status": status,
        "expires_at_iso": expires.isoformat() if expires else None,
    }


def pinned(sequence: int, sku: str = "TSHIRT-M", show: str = SHOW) -> DomainEvent:
    data = ProductPinnedV1(
        live_show_id=show,
        pin_id=f"pin-{sequence}",
        sequence=sequence,
        product=PinnedProduct(sku=sku, name="Tour T-shirt", price=Money(amount=2500, currency="JPY")),
        pinned_at=NOW.isoformat(),
        offset_ms=1000 * sequence,
    )
    return new_event(data, producer="shop.vod", correlation_id=show, now=NOW)


def unpinned(sequence: int, sku: str = "TSHIRT-M", show: str = SHOW) -> DomainEvent:
    data = ProductUnpinnedV1(
        live_show_id=show, pin_id=f"pin-{sequence - 1}", sequence=sequence, sku=sku, unpinned_at=NOW.isoformat()
    )
    return new_event(data, producer="shop.vod", correlation_id=show, now=NOW)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def connected(store: MemoryStore, connection_id: str, sub: str, groups: Sequence[str] = ()) -> str:
    push.connect(connection_id, sub, groups, store, NOW)
    return connection_id


def watch(store: MemoryStore, connection_id: str, tickets: Tickets, outbox: Outbox, show: str = SHOW) -> None:
    push.on_message(connection_id, json.dumps({"action": "watch", "live_show_id": show}), store, tickets, outbox, NOW)


# -- who may watch ------------------------------------------------------------------------------------


def test_a_ticket_holder_watches_the_show_and_is_told_so(store):
    outbox, tickets = Outbox(), Tickets(ada=[ticket()])
    connected(store, "c-ada", "ada")

    watch(store, "c-ada", tickets, outbox)

    assert outbox.of("c-ada") == [{"type": "watching", "topic": f"live-show:{SHOW}", "live_show_id": SHOW}]
    assert store.watchers(f"live-show:{SHOW}") == ["c-ada"]
    assert tickets.asked == [("ada", f"LIVE#{SHOW}")]  # one query, for this show's entitlements alone


@pytest.mark.parametrize(
    ("entitlements", "why"),
    [
        ([], "no ticket at all"),
        ([ticket(status="REVOKED")], "the order was cancelled or refunded"),
        ([ticket(show="another-show")], "a ticket for another show"),
        ([ticket(expires=NOW - timedelta(minutes=1))], "an expired entitlement"),
        ([{**ticket(), "product_type": "video_rental"}], "a rental is not a ticket"),
    ],
)
def test_without_an_active_ticket_for_the_show_a_viewer_gets_an_error_and_is_not_recorded(store, entitlements, why):
    outbox = Outbox()
    connected(store, "c-grace", "grace")

    watch(store, "c-grace", Tickets(grace=entitlements), outbox)

    assert [m["code"] for m in outbox.of("c-grace")] == ["no_ticket"], why
    assert outbox.of("c-grace")[0]["type"] == "error"
    assert store.watchers(f"live-show:{SHOW}") == []
    assert store.connection("c-grace").topics == ()  # type: ignore[union-attr]


def test_staff_watch_any_show_without_a_ticket(store):
    outbox, tickets = Outbox(), Tickets()
    connected(store, "c-sam", "sam", groups=["staff"])

    watch(store, "c-sam", tickets, outbox)

    assert [m["type"] for m in outbox.of("c-sam")] == ["watching"]
    assert tickets.asked == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("not json", "invalid_message"),
        ("[1, 2]", "unknown_action"),
        (json.dumps({"action": "dance"}), "unknown_action"),
        (json.dumps({"action": "watch"}), "invalid_message"),
        (json.dumps({"action": "watch", "live_show_id": ""}), "invalid_message"),
        (json.dumps({"action": "watch", "live_show_id": 7}), "invalid_message"),
        (json.dumps({"action": "watch", "live_show_id": "s", "extra": 1}), "invalid_message"),
        (None, "invalid_message"),
    ],
)
def test_a_message_the_channel_does_not_understand_is_answered_with_an_error(store, body, code):
    outbox = Outbox()
    connected(store, "c-ada", "ada")

    push.on_message("c-ada", body, store, Tickets(ada=[ticket()]), outbox, NOW)

    [answer] = outbox.of("c-ada")
    assert (answer["type"], answer["code"]) == ("error", code)
    assert answer["message"]


def test_unwatch_stops_the_pins(store):
    outbox, tickets = Outbox(), Tickets(ada=[ticket()])
    connected(store, "c-ada", "ada")
    watch(store, "c-ada", tickets, outbox)

    push.on_message("c-ada", json.dumps({"action": "unwatch"}), store, tickets, outbox, NOW)
    push.fan_out(pinned(1), SUBSCRIBER, store, outbox, NOW)

    assert [m["type"] for m in outbox.of("c-ada")] == ["watching", "unwatched"]
    assert outbox.of("c-ada", "unwatched")[0]["topics"] == [f"live-show:{SHOW}"]


def test_a_connection_watches_a_bounded_number_of_topics(store):
    outbox = Outbox()
    connected(store, "c-sam", "sam", groups=["staff"])
    for index in range(push.MAX_TOPICS_PER_CONNECTION):
        watch(store, "c-sam", Tickets(), outbox, show=f"show-{index}")

    watch(store, "c-sam", Tickets(), outbox, show="one-too-many")

    assert outbox.of("c-sam", "error")[0]["code"] == "too_many_topics"
    assert store.watchers("live-show:one-too-many") == []


def test_disconnect_forgets_the_connection_and_what_it_watched(store):
    outbox = Outbox()
    connected(store, "c-ada", "ada")
    watch(store, "c-ada", Tickets(ada=[ticket()]), outbox)

    push.disconnect("c-ada", store)
    push.disconnect("c-ada", store)  # API Gateway may say it twice; nothing left the second time

    assert store.connection("c-ada") is None
    assert store.watchers(f"live-show:{SHOW}") == []


# -- the fan-out --------------------------------------------------------------------------------------


def two_viewers(store: MemoryStore, outbox: Outbox) -> None:
    tickets = Tickets(ada=[ticket()], grace=[ticket()])
    for connection_id, sub in (("c-ada", "ada"), ("c-grace", "grace")):
        connected(store, connection_id, sub)
        watch(store, connection_id, tickets, outbox)


def test_a_pin_reaches_every_viewer_of_the_show_and_no_one_else(store):
    outbox = Outbox()
    two_viewers(store, outbox)
    connected(store, "c-other", "sam", groups=["staff"])
    watch(store, "c-other", Tickets(), outbox, show="another-show")

    result = push.fan_out(pinned(1), SUBSCRIBER, store, outbox, NOW)

    assert (result.outcome, result.sent) == ("sent", 2)
    for viewer in ("c-ada", "c-grace"):
        [pin] = outbox.of(viewer, "pin")
        assert pin == {
            "type": "pin",
            "topic": f"live-show:{SHOW}",
            "live_show_id": SHOW,
            "pin_id": "pin-1",
            "sequence": 1,
            "product": {"sku": "TSHIRT-M", "name": "Tour T-shirt", "price": {"amount": 2500, "currency": "JPY"}},
            "pinned_at": NOW.isoformat(),
            "offset_ms": 1000,
        }
    assert outbox.of("c-other", "pin") == []


def test_the_highest_sequence_wins_and_a_late_or_repeated_event_changes_nothing(store):
    outbox = Outbox()
    two_viewers(store, outbox)
    newer, older = pinned(5, sku="MUG-1"), pinned(4, sku="CAP-1")

    assert push.fan_out(newer, SUBSCRIBER, store, outbox, NOW).outcome == "sent"
    assert push.fan_out(older, SUBSCRIBER, store, outbox, NOW).outcome == "stale"
    assert push.fan_out(newer, SUBSCRIBER, store, outbox, NOW).outcome == "stale"  # the same event again, after it went out
    assert push.fan_out(pinned(5, sku="CAP-1"), SUBSCRIBER, store, outbox, NOW).outcome == "stale"  # another event, same sequence

    assert [p["product"]["sku"] for p in outbox.of("c-ada", "pin")] == ["MUG-1"]
    assert (SUBSCRIBER, older.event_id) in store.processed  # seen, so powertools and the marker stop a repeat
    assert store.current(f"live-show:{SHOW}").message["product"]["sku"] == "MUG-1"  # type: ignore[union-attr,index]


def test_an_unpin_with_a_higher_sequence_clears_the_pin_and_reaches_the_viewers(store):
    outbox = Outbox()
    two_viewers(store, outbox)
    push.fan_out(pinned(1), SUBSCRIBER, store, outbox, NOW)

    assert push.fan_out(unpinned(2), SUBSCRIBER, store, outbox, NOW).outcome == "sent"
    assert push.fan_out(unpinned(1), SUBSCRIBER, store, outbox, NOW).outcome == "stale"  # older than the pin: ignored

    [unpin] = outbox.of("c-grace", "unpin")
    assert (unpin["sequence"], unpin["sku"], unpin["live_show_id"]) == (2, "TSHIRT-M", SHOW)
    current = store.current(f"live-show:{SHOW}")
    assert current is not None
    assert (current.sequence, current.message) == (2, None)


def test_a_late_joiner_gets_the_current_pin_and_nothing_after_an_unpin(store):
    outbox, tickets = Outbox(), Tickets(ada=[ticket()], grace=[ticket()])
    push.fan_out(pinned(3, sku="MUG-1"), SUBSCRIBER, store, outbox, NOW)  # nobody watches yet

    connected(store, "c-ada", "ada")
    watch(store, "c-ada", tickets, outbox)
    push.fan_out(unpinned(4, sku="MUG-1"), SUBSCRIBER, store, outbox, NOW)
    connected(store, "c-grace", "grace")
    watch(store, "c-grace", tickets, outbox)

    assert [(m["type"], m.get("sequence")) for m in outbox.of("c-ada")] == [("watching", None), ("pin", 3), ("unpin", 4)]
    assert [m["type"] for m in outbox.of("c-grace")] == ["watching"]


def test_a_closed_connection_is_forgotten_and_the_others_still_get_the_pin(store):
    outbox = Outbox()
    two_viewers(store, outbox)
    outbox.closed.add("c-grace")

    result = push.fan_out(pinned(1), SUBSCRIBER, store, outbox, NOW)

    assert (result.sent, result.gone) == (1, ["c-grace"])
    assert store.watchers(f"live-show:{SHOW}") == ["c-ada"]
    assert len(outbox.of("c-ada", "pin")) == 1


def test_a_fan_out_cut_short_is_finished_when_the_event_comes_again(store):
    outbox = Outbox()
    two_viewers(store, outbox)
    event = pinned(1)
    outbox.fail_after = 2 + 1  # the two "watching" answers, then one pin, then the API fails

    with pytest.raises(RuntimeError):
        push.fan_out(event, SUBSCRIBER, store, outbox, NOW)
    assert store.current(f"live-show:{SHOW}").fanned_out is False  # type: ignore[union-attr]
    outbox.fail_after = None
    assert push.fan_out(event, SUBSCRIBER, store, outbox, NOW).outcome == "sent"  # SQS delivers it again

    assert {viewer: len(outbox.of(viewer, "pin")) >= 1 for viewer in ("c-ada", "c-grace")} == {"c-ada": True, "c-grace": True}
    assert store.current(f"live-show:{SHOW}").fanned_out is True  # type: ignore[union-attr]
    assert push.fan_out(event, SUBSCRIBER, store, outbox, NOW).outcome == "stale"


# -- a customer's orders ----------------------------------------------------------------------------------

ORDERS_SUBSCRIBER = "vod.push-orders"


def status_changed(version: int, status: str, *, order_id: str = "ord-1", customer: str = "ada") -> DomainEvent:
    data = OrderStatusChangedV1(
        order_id=order_id,
        customer_id=customer,
        status=status,
        previous_status=None if version == 1 else "EARLIER",
        status_version=version,
        changed_at=NOW.isoformat(),
    )
    return new_event(data, producer="shop.orders", correlation_id=order_id, now=NOW)


def watch_orders(store: MemoryStore, connection_id: str, outbox: Outbox, **extra: Any) -> None:
    push.on_message(connection_id, json.dumps({"action": "watchOrders", **extra}), store, Tickets(), outbox, NOW)


def test_a_customer_watches_their_own_orders_topic_whoever_they_are(store):
    outbox = Outbox()
    connected(store, "c-ada", "ada")
    connected(store, "c-sam", "sam", groups=["staff"])

    watch_orders(store, "c-ada", outbox)
    watch_orders(store, "c-ada", outbox)  # again: still one topic
    watch_orders(store, "c-sam", outbox)

    assert outbox.of("c-ada") == [{"type": "watching", "topic": "orders:ada"}] * 2
    assert outbox.of("c-sam") == [{"type": "watching", "topic": "orders:sam"}]  # staff too: their own orders alone
    assert store.connection("c-ada").topics == ("orders:ada",)  # type: ignore[union-attr]


@pytest.mark.parametrize("extra", [{"customer_id": "grace"}, {"topic": "orders:grace"}, {"sub": "grace"}])
def test_watch_orders_names_no_customer_so_nobody_watches_another_s(store, extra):
    outbox = Outbox()
    connected(store, "c-ada", "ada")

    watch_orders(store, "c-ada", outbox, **extra)

    [refused] = outbox.of("c-ada")
    assert (refused["type"], refused["code"]) == ("error", "invalid_message")
    assert store.watchers("orders:grace") == store.watchers("orders:ada") == []


def test_an_order_s_status_reaches_its_customer_s_connections_and_no_one_else(store):
    outbox = Outbox()
    for connection_id, sub in (("c-ada", "ada"), ("c-ada-phone", "ada"), ("c-grace", "grace")):
        connected(store, connection_id, sub)
        watch_orders(store, connection_id, outbox)

    result = push.fan_out(status_changed(3, "PAID"), ORDERS_SUBSCRIBER, store, outbox, NOW)

    assert (result.outcome, result.sent) == ("sent", 2)
    for connection_id in ("c-ada", "c-ada-phone"):
        assert outbox.of(connection_id, "order-status") == [
            {
                "type": "order-status",
                "topic": "orders:ada",
                "order_id": "ord-1",
                "status": "PAID",
                "previous_status": "EARLIER",
                "status_version": 3,
                "changed_at": NOW.isoformat(),
            }
        ]
    assert outbox.of("c-grace", "order-status") == []


def test_per_order_the_highest_status_version_wins_and_a_late_or_repeated_change_is_not_sent(store):
    outbox = Outbox()
    connected(store, "c-ada", "ada")
    watch_orders(store, "c-ada", outbox)
    shipped, paid = status_changed(5, "SHIPPED"), status_changed(3, "PAID")

    assert push.fan_out(shipped, ORDERS_SUBSCRIBER, store, outbox, NOW).outcome == "sent"
    assert push.fan_out(paid, ORDERS_SUBSCRIBER, store, outbox, NOW).outcome == "stale"  # late
    assert push.fan_out(shipped, ORDERS_SUBSCRIBER, store, outbox, NOW).outcome == "stale"  # repeated
    # Another order of the same customer has its own versions.
    assert push.fan_out(status_changed(1, "PENDING", order_id="ord-2"), ORDERS_SUBSCRIBER, store, outbox, NOW).outcome == "sent"

    assert [(m["order_id"], m["status_version"]) for m in outbox.of("c-ada", "order-status")] == [("ord-1", 5), ("ord-2", 1)]
    assert (ORDERS_SUBSCRIBER, paid.event_id) in store.processed
    assert store.current("orders:ada", "ord-1").sequence == 5  # type: ignore[union-attr]


def test_unwatch_orders_stops_them_and_leaves_a_show_watched(store):
    outbox = Outbox()
    connected(store, "c-ada", "ada")
    watch(store, "c-ada", Tickets(ada=[ticket()]), outbox)
    watch_orders(store, "c-ada", outbox)

    push.on_message("c-ada", json.dumps({"action": "unwatchOrders"}), store, Tickets(), outbox, NOW)
    push.fan_out(status_changed(1, "PENDING"), ORDERS_SUBSCRIBER, store, outbox, NOW)

    assert outbox.of("c-ada", "unwatched") == [{"type": "unwatched", "topics": ["orders:ada"]}]
    assert outbox.of("c-ada", "order-status") == []
    assert store.connection("c-ada").topics == (f"live-show:{SHOW}",)  # type: ignore[union-attr]


def test_a_closed_connection_of_the_customer_is_forgotten(store):
    outbox = Outbox()
    for connection_id in ("c-ada", "c-ada-old-tab"):
        connected(store, connection_id, "ada")
        watch_orders(store, connection_id, outbox)
    outbox.closed.add("c-ada-old-tab")

    result = push.fan_out(status_changed(1, "PENDING"), ORDERS_SUBSCRIBER, store, outbox, NOW)

    assert (result.sent, result.gone) == (1, ["c-ada-old-tab"])
    assert store.watchers("orders:ada") == ["c-ada"]


class MovingStore(MemoryStore):
    """The connection changes under the first `moves` writes (another message, its $disconnect racing)."""

    def __init__(self, moves: int) -> None:
        super().__init__()
        self.moves = moves

    def set_topics(self, connection: Connection, topics: Sequence[str], *, expires_at: datetime) -> None:
        if self.moves:
            self.moves -= 1
            raise ConnectionMoved(connection.connection_id)
        super().set_topics(connection, topics, expires_at=expires_at)


@pytest.mark.parametrize("action", ["watchOrders", "unwatchOrders"])
def test_a_connection_that_moved_is_read_again_and_busy_only_after_every_attempt(action):
    answers = {}
    for moves in (push.CONNECTION_ATTEMPTS - 1, push.CONNECTION_ATTEMPTS):
        store, outbox = MovingStore(moves=0), Outbox()
        connected(store, "c-ada", "ada")
        if action == "unwatchOrders":
            watch_orders(store, "c-ada", outbox)  # something to drop
        store.moves = moves
        push.on_message("c-ada", json.dumps({"action": action}), store, Tickets(), outbox, NOW)
        answers[moves] = outbox.of("c-ada")[-1]

    assert answers[push.CONNECTION_ATTEMPTS - 1]["type"] == ("watching" if action == "watchOrders" else "unwatched")
    assert (answers[push.CONNECTION_ATTEMPTS]["type"], answers[push.CONNECTION_ATTEMPTS]["code"]) == ("error", "busy")


def test_watching_orders_on_a_connection_that_is_gone_is_refused(store):
    outbox = Outbox()

    watch_orders(store, "c-never-connected", outbox)

    assert [(m["type"], m["code"]) for m in outbox.of("c-never-connected")] == [("error", "not_connected")]
