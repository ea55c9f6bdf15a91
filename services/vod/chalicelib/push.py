"""The push channel: viewers hold a WebSocket open and the shop pushes what happens to what they watch.

Two kinds of topic: a live show's pinned product (ProductPinned / ProductUnpinned), and a customer's
own orders (OrderStatusChanged), on the same connections. Messages are JSON text frames:

    client → shop  {"action": "watch", "live_show_id": "…"}        start watching a show
                   {"action": "unwatch", "live_show_id"?: "…"}     stop (one show, or everything)
                   {"action": "watchOrders"}                       start watching the caller's own orders
                   {"action": "unwatchOrders"}                     stop
    shop → client  {"type": "watching", "topic": "live-show:<id>", "live_show_id": "…"}
                   {"type": "watching", "topic": "orders:<sub>"}
                   {"type": "pin", "topic", "live_show_id", "pin_id", "sequence", "product", "pinned_at", "offset_ms"}
                   {"type": "unpin", "topic", "live_show_id", "pin_id", "sequence", "sku", "unpinned_at", "offset_ms"}
                   {"type": "order-status", "topic", "order_id", "status", "previous_status", "status_version", "changed_at"}
                   {"type": "unwatched", "topics": [...]}
                   {"type": "error", "code", "message"}

Delivery is at least once and may be out of order (a late joiner's answer can cross a live pin; two
status changes' posts can cross): a client keeps, per show, the message with the highest `sequence`
and, per order, the one with the highest `status_version`, as every reader of the events does. The
shop never sends a change older than one it recorded for the same show or order.

No boto3 here: the use cases get the table (`PushStore`), the entitlements and the connections
(`Sender`, API Gateway's management API on AWS and on the embedded stack alike) passed in.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shop_contracts.events import OrderStatusChangedV1, ProductPinnedV1, ProductUnpinnedV1
from shop_eventing.envelope import DomainEvent
from shop_eventing.http import Text

# API Gateway closes every WebSocket after two hours: a connection's items outlive it by a margin, and
# DynamoDB's TTL removes what a lost $disconnect left behind.
CONNECTION_LIFETIME = timedelta(hours=2, minutes=10)
# A show's current pin is kept this long after its last change (the late joiner's answer).
CURRENT_PIN_LIFETIME = timedelta(days=7)
# An order's latest status version is kept this long after its last change: longer than a dead-lettered
# change can wait for its redrive (14 days), so a redriven old status is still recognised as old.
ORDER_STATUS_LIFETIME = timedelta(days=30)
# One connection may watch this many topics at once (a storefront tab: a show and a few orders).
MAX_TOPICS_PER_CONNECTION = 10
# Posts to connections run this many at a time: a show's viewers get a pin in about one round trip each
# divided by this, not one after another.
FAN_OUT_THREADS = 16
# API Gateway refuses a message above 128 KiB; ours are far smaller, anything bigger is not ours.
MAX_MESSAGE_BYTES = 128 * 1024

STAFF_GROUP = "staff"


def live_show_topic(live_show_id: str) -> str:
    return f"live-show:{live_show_id}"


ORDERS_TOPIC_PREFIX = "orders:"


def orders_topic(customer_id: str) -> str:
    """A customer's orders, by their sub: only a connection signed in as that customer watches it."""
    return f"{ORDERS_TOPIC_PREFIX}{customer_id}"


# -- what clients send --------------------------------------------------------------------------------


class Watch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    action: Literal["watch"]
    live_show_id: Text = Field(min_length=1, max_length=128)


class Unwatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    action: Literal["unwatch"]
    live_show_id: Text | None = Field(default=None, min_length=1, max_length=128)


class WatchOrders(BaseModel):
    """No customer is named: the connection's own sub is the only one it may watch."""

    model_config = ConfigDict(extra="forbid", strict=True)

    action: Literal["watchOrders"]


class UnwatchOrders(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    action: Literal["unwatchOrders"]


ClientRequest = Watch | Unwatch | WatchOrders | UnwatchOrders
ClientMessage = Annotated[ClientRequest, Field(discriminator="action")]
_CLIENT_MESSAGE: TypeAdapter[ClientRequest] = TypeAdapter(ClientMessage)
ACTIONS = ("watch", "unwatch", "watchOrders", "unwatchOrders")


class Refused(Exception):
    """What the connection is told instead of doing what it asked: {"type": "error", code, message}."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_client_message(body: str | None) -> ClientRequest:
    if body is None or len(body.encode()) > MAX_MESSAGE_BYTES:
        raise Refused("invalid_message", f"send one JSON object of at most {MAX_MESSAGE_BYTES} bytes")
    try:
        parsed = json.loads(body)
    except ValueError:
        raise Refused("invalid_message", 'messages are JSON objects such as {"action": "watch", "live_show_id": "…"}') from None
    if not isinstance(parsed, dict) or parsed.get("action") not in ACTIONS:
        raise Refused("unknown_action", f"action must be one of {', '.join(ACTIONS)}")
    try:
        return _CLIENT_MESSAGE.validate_python(parsed)
    except ValidationError as invalid:
        problem = invalid.errors()[0]
        where = ".".join(str(part) for part in problem["loc"][1:]) or "message"
        raise Refused("invalid_message", f"{where}: {problem['msg']}") from None


# -- what the shop sends ------------------------------------------------------------------------------


def error_message(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


def pin_message(pinned: ProductPinnedV1) -> dict[str, Any]:
    return {
        "type": "pin",
        "topic": live_show_topic(pinned.live_show_id),
        "live_show_id": pinned.live_show_id,
        "pin_id": pinned.pin_id,
        "sequence": pinned.sequence,
        "product": pinned.product.model_dump(mode="json", exclude_none=True),
        "pinned_at": pinned.pinned_at,
        "offset_ms": pinned.offset_ms,
    }


def order_status_message(changed: OrderStatusChangedV1) -> dict[str, Any]:
    return {
        "type": "order-status",
        "topic": orders_topic(changed.customer_id),
        "order_id": changed.order_id,
        "status": changed.status,
        "previous_status": changed.previous_status,
        "status_version": changed.status_version,
        "changed_at": changed.changed_at,
    }


def unpin_message(unpinned: ProductUnpinnedV1) -> dict[str, Any]:
    return {
        "type": "unpin",
        "topic": live_show_topic(unpinned.live_show_id),
        "live_show_id": unpinned.live_show_id,
        "pin_id": unpinned.pin_id,
        "sequence": unpinned.sequence,
        "sku": unpinned.sku,
        "unpinned_at": unpinned.unpinned_at,
        "offset_ms": unpinned.offset_ms,
    }


# -- rules ----------------------------------------------------------------------------------------------


def holds_live_ticket(entitlements: Iterable[Mapping[str, Any]], live_show_id: str, now: datetime) -> bool:
    """An ACTIVE live ticket for the show, not expired: a REVOKED one (cancelled, refunded) does not count."""
    for entitlement in entitlements:
        expires = entitlement.get("expires_at_iso")
        if (
            entitlement.get("status") == "ACTIVE"
            and entitlement.get("product_type") == "live_ticket"
            and entitlement.get("live_show_id") == live_show_id
            and (expires is None or now < datetime.fromisoformat(expires))
        ):
            return True
    return False


# -- ports ----------------------------------------------------------------------------------------------


class ConnectionGone(Exception):
    """The connection is closed (API Gateway's GoneException): forget it."""


class Sender(Protocol):
    def send(self, connection_id: str, message: Mapping[str, Any]) -> None:
        """Post one message to a connection; ConnectionGone if it is closed."""


@dataclass(frozen=True)
class Connection:
    connection_id: str
    sub: str
    staff: bool
    topics: tuple[str, ...] = ()
    version: int = 0


@dataclass(frozen=True)
class CurrentChange:
    """A topic's latest change as the fan-out recorded it (`message` is None after an unpin), or one
    subject's within the topic (an order's on its customer's orders topic): `sequence` is what orders
    them (a pin's sequence, an order's status_version)."""

    sequence: int
    event_id: str
    message: dict[str, Any] | None
    fanned_out: bool


class NotConnected(Exception):
    """The connection's item is gone (it disconnected, or the TTL removed it)."""


class ConnectionMoved(Exception):
    """The connection's topics changed since they were read (another message or its $disconnect): read again."""


class PushStore(Protocol):
    def add_connection(self, connection: Connection, *, connected_at: datetime, expires_at: datetime) -> None: ...

    def connection(self, connection_id: str) -> Connection | None: ...

    def set_topics(self, connection: Connection, topics: Sequence[str], *, expires_at: datetime) -> None:
        """The connection now watches `topics`: its watcher items follow (ConnectionMoved, NotConnected)."""

    def remove_connection(self, connection: Connection) -> None:
        """The connection and its watcher items go (ConnectionMoved if it changed since read)."""

    def watchers(self, topic: str) -> list[str]: ...

    def forget_watcher(self, topic: str, connection_id: str) -> None: ...

    def current(self, topic: str, subject: str | None = None) -> CurrentChange | None:
        """The topic's latest change, or (`subject`, e.g. an order id) the latest about that subject."""

    def advance(self, topic: str, change: CurrentChange, *, expires_at: datetime, subject: str | None = None) -> bool:
        """Record `change` if its sequence is higher than the recorded one; False if not (nothing written)."""

    def mark_fanned_out(self, topic: str, event: DomainEvent, subscriber: str, subject: str | None = None) -> None:
        """The change went out to every watcher: noted on the topic (subject), and the event marked processed."""

    def mark_processed(self, event: DomainEvent, subscriber: str) -> None: ...


class Entitlements(Protocol):
    def entitlements(self, customer_id: str, subject: str | None = None) -> list[dict[str, Any]]: ...


# -- use cases ------------------------------------------------------------------------------------------

# A message and the connection's $disconnect may race on its item; the loser reads again this often.
CONNECTION_ATTEMPTS = 3


def connect(connection_id: str, sub: str, groups: Iterable[str], store: PushStore, now: datetime) -> None:
    """$connect with a verified token: the connection is recorded with who holds it."""
    connection = Connection(connection_id=connection_id, sub=sub, staff=STAFF_GROUP in set(groups))
    store.add_connection(connection, connected_at=now, expires_at=now + CONNECTION_LIFETIME)


def on_message(
    connection_id: str, body: str | None, store: PushStore, entitlements: Entitlements, sender: Sender, now: datetime
) -> None:
    """$default: a client's message. Whatever is refused is answered with an error message, never raised."""
    try:
        request = parse_client_message(body)
        if isinstance(request, Watch):
            watch(connection_id, request.live_show_id, store, entitlements, sender, now)
        elif isinstance(request, Unwatch):
            unwatch(connection_id, request.live_show_id, store, sender, now)
        elif isinstance(request, WatchOrders):
            watch_orders(connection_id, store, sender, now)
        else:
            unwatch_orders(connection_id, store, sender, now)
    except Refused as refused:
        _send_quietly(sender, connection_id, error_message(refused.code, refused.message))


def watch(
    connection_id: str, live_show_id: str, store: PushStore, entitlements: Entitlements, sender: Sender, now: datetime
) -> None:
    """A ticket holder (or staff) watches the show: recorded first, then told the current pin, so a pin
    committed meanwhile reaches the viewer either way (the fan-out reads the watchers after its write)."""

    def may_watch(connection: Connection) -> str:
        if not connection.staff and not holds_live_ticket(
            entitlements.entitlements(connection.sub, f"LIVE#{live_show_id}"), live_show_id, now
        ):
            raise Refused("no_ticket", f"watching live show {live_show_id} needs a ticket for it")
        return live_show_topic(live_show_id)

    topic = _add_topic(connection_id, may_watch, store, now)
    _send_quietly(sender, connection_id, {"type": "watching", "topic": topic, "live_show_id": live_show_id})
    current = store.current(topic)
    if current is not None and current.message is not None:
        _send_quietly(sender, connection_id, current.message)


def watch_orders(connection_id: str, store: PushStore, sender: Sender, now: datetime) -> None:
    """The caller watches their own orders: the topic is the sub the connection signed in with, so no
    message can name another customer's. Nothing is replayed: the storefront reads GET /orders after
    this answer and keeps, per order, the highest status_version of either."""
    topic = _add_topic(connection_id, lambda connection: orders_topic(connection.sub), store, now)
    _send_quietly(sender, connection_id, {"type": "watching", "topic": topic})


def unwatch(connection_id: str, live_show_id: str | None, store: PushStore, sender: Sender, now: datetime) -> None:
    """One show, or (None) everything the connection watches, orders included."""
    if live_show_id is None:
        dropped = _drop_topics(connection_id, lambda topic: True, store, now)
    else:
        dropped = _drop_topics(connection_id, lambda topic: topic == live_show_topic(live_show_id), store, now)
    _send_quietly(sender, connection_id, {"type": "unwatched", "topics": dropped})


def unwatch_orders(connection_id: str, store: PushStore, sender: Sender, now: datetime) -> None:
    dropped = _drop_topics(connection_id, lambda topic: topic.startswith(ORDERS_TOPIC_PREFIX), store, now)
    _send_quietly(sender, connection_id, {"type": "unwatched", "topics": dropped})


def _add_topic(connection_id: str, topic_for: Callable[[Connection], str], store: PushStore, now: datetime) -> str:
    """The connection watches `topic_for(connection)` (which raises Refused if it may not); the topic."""
    for _ in range(CONNECTION_ATTEMPTS):
        connection = _connection(store, connection_id)
        topic = topic_for(connection)
        if topic in connection.topics:
            return topic
        if len(connection.topics) >= MAX_TOPICS_PER_CONNECTION:
            raise Refused(
                "too_many_topics", f"a connection watches at most {MAX_TOPICS_PER_CONNECTION} topics; unwatch one first"
            )
        try:
            store.set_topics(connection, (*connection.topics, topic), expires_at=now + CONNECTION_LIFETIME)
            return topic
        except ConnectionMoved:
            continue  # another message or its $disconnect changed it: read again
        except NotConnected:
            raise Refused("not_connected", "the connection is no longer known; connect again") from None
    raise Refused("busy", "the connection changed meanwhile; send the message again")


def _drop_topics(connection_id: str, dropping: Callable[[str], bool], store: PushStore, now: datetime) -> list[str]:
    """The connection stops watching the topics `dropping` picks; the topics it dropped."""
    for _ in range(CONNECTION_ATTEMPTS):
        connection = _connection(store, connection_id)
        dropped = [t for t in connection.topics if dropping(t)]
        if not dropped:
            return dropped
        try:
            kept = [t for t in connection.topics if t not in dropped]
            store.set_topics(connection, kept, expires_at=now + CONNECTION_LIFETIME)
            return dropped
        except ConnectionMoved:
            continue  # another message or its $disconnect changed it: read again
        except NotConnected:
            raise Refused("not_connected", "the connection is no longer known; connect again") from None
    raise Refused("busy", "the connection changed meanwhile; send the message again")


def disconnect(connection_id: str, store: PushStore) -> None:
    """$disconnect: the connection and what it watched go. A second $disconnect finds nothing to do."""
    for attempt in range(1, CONNECTION_ATTEMPTS + 1):
        connection = store.connection(connection_id)
        if connection is None:
            return
        try:
            store.remove_connection(connection)
            return
        except ConnectionMoved:
            if attempt == CONNECTION_ATTEMPTS:
                raise


@dataclass
class FanOut:
    """What one event's fan-out did, for the log."""

    outcome: Literal["sent", "stale"]
    sent: int = 0
    gone: list[str] = field(default_factory=list)


def fan_out(event: DomainEvent, subscriber: str, store: PushStore, sender: Sender, now: datetime) -> FanOut:
    """ProductPinned / ProductUnpinned: record the show's current pin (highest sequence wins, under a
    condition), then post the change to every connection watching the show; a closed one is forgotten.
    OrderStatusChanged likewise, per order (highest status_version wins) to its customer's connections.

    An event whose sequence is not above the recorded one is a repeat or late, and changes nothing. The
    same event again after a crash halfway (recorded, not marked fanned out) posts to every watcher
    again: at least once, and a client keeps the highest sequence anyway."""
    data = event.data
    subject: str | None = None
    lifetime = CURRENT_PIN_LIFETIME
    if isinstance(data, OrderStatusChangedV1):
        topic, sequence = orders_topic(data.customer_id), data.status_version
        subject, lifetime = data.order_id, ORDER_STATUS_LIFETIME
        posted = order_status_message(data)
        current: dict[str, Any] | None = posted
    elif isinstance(data, ProductPinnedV1):
        topic, sequence = live_show_topic(data.live_show_id), data.sequence
        posted = current = pin_message(data)
    else:
        assert isinstance(data, ProductUnpinnedV1)
        topic, sequence = live_show_topic(data.live_show_id), data.sequence
        posted, current = unpin_message(data), None
    change = CurrentChange(sequence=sequence, event_id=event.event_id, message=current, fanned_out=False)
    if not store.advance(topic, change, expires_at=now + lifetime, subject=subject):
        recorded = store.current(topic, subject)
        if recorded is None or recorded.event_id != event.event_id or recorded.fanned_out:
            store.mark_processed(event, subscriber)
            return FanOut("stale")
    result = post_to_all(topic, posted, store, sender)
    store.mark_fanned_out(topic, event, subscriber, subject)
    return result


def post_to_all(topic: str, message: Mapping[str, Any], store: PushStore, sender: Sender) -> FanOut:
    watchers = store.watchers(topic)
    gone: list[str] = []

    def post(connection_id: str) -> None:
        try:
            sender.send(connection_id, message)
        except ConnectionGone:
            gone.append(connection_id)

    with ThreadPoolExecutor(max_workers=min(FAN_OUT_THREADS, max(1, len(watchers)))) as pool:
        # list(): an error posting to one connection (not a closed one) fails the batch, so SQS retries.
        list(pool.map(post, watchers))
    for connection_id in gone:
        store.forget_watcher(topic, connection_id)
    return FanOut("sent", sent=len(watchers) - len(gone), gone=gone)


def _connection(store: PushStore, connection_id: str) -> Connection:
    connection = store.connection(connection_id)
    if connection is None:
        raise Refused("not_connected", "the connection is no longer known; connect again")
    return connection


def _send_quietly(sender: Sender, connection_id: str, message: Mapping[str, Any]) -> None:
    """An answer to a connection that closed meanwhile has nobody to reach: its $disconnect cleans up."""
    with contextlib.suppress(ConnectionGone):
        sender.send(connection_id, message)
