"""The push channel: viewers hold a WebSocket open and the shop pushes what happens to what they watch.

The first topic is a live show's pinned product (ProductPinned / ProductUnpinned); the storefront's
order-status updates will be another topic on the same connections. Messages are JSON text frames:

    client → shop  {"action": "watch", "live_show_id": "…"}        start watching a show
                   {"action": "unwatch", "live_show_id"?: "…"}     stop (one show, or everything)
    shop → client  {"type": "watching", "topic": "live-show:<id>", "live_show_id": "…"}
                   {"type": "pin", "topic", "live_show_id", "pin_id", "sequence", "product", "pinned_at", "offset_ms"}
                   {"type": "unpin", "topic", "live_show_id", "pin_id", "sequence", "sku", "unpinned_at", "offset_ms"}
                   {"type": "unwatched", "topics": [...]}
                   {"type": "error", "code", "message"}

Delivery is at least once and may be out of order (a late joiner's answer can cross a live pin): a
client keeps, per show, the message with the highest `sequence`, as every reader of the events does.

No boto3 here: the use cases get the table (`PushStore`), the entitlements and the connections
(`Sender`, API Gateway's management API on AWS and on the embedded stack alike) passed in.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shop_contracts.events import ProductPinnedV1, ProductUnpinnedV1
from shop_eventing.envelope import DomainEvent
from shop_eventing.http import Text

# API Gateway closes every WebSocket after two hours: a connection's items outlive it by a margin, and
# DynamoDB's TTL removes what a lost $disconnect left behind.
CONNECTION_LIFETIME = timedelta(hours=2, minutes=10)
# A show's current pin is kept this long after its last change (the late joiner's answer).
CURRENT_PIN_LIFETIME = timedelta(days=7)
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


# -- what clients send --------------------------------------------------------------------------------


class Watch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    action: Literal["watch"]
    live_show_id: Text = Field(min_length=1, max_length=128)


class Unwatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    action: Literal["unwatch"]
    live_show_id: Text | None = Field(default=None, min_length=1, max_length=128)


ClientMessage = Annotated[Watch | Unwatch, Field(discriminator="action")]
_CLIENT_MESSAGE: TypeAdapter[Watch | Unwatch] = TypeAdapter(ClientMessage)


class Refused(Exception):
    """What the connection is told instead of doing what it asked: {"type": "error", code, message}."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_client_message(body: str | None) -> Watch | Unwatch:
    if body is None or len(body.encode()) > MAX_MESSAGE_BYTES:
        raise Refused("invalid_message", f"send one JSON object of at most {MAX_MESSAGE_BYTES} bytes")
    try:
        parsed = json.loads(body)
    except ValueError:
        raise Refused("invalid_message", 'messages are JSON objects such as {"action": "watch", "live_show_id": "…"}') from None
    if not isinstance(parsed, dict) or parsed.get("action") not in {"watch", "unwatch"}:
        raise Refused("unknown_action", "action must be watch or unwatch")
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
class CurrentPin:
    """A topic's latest change as the fan-out recorded it: `message` is None after an unpin."""

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

    def current(self, topic: str) -> CurrentPin | None: ...

    def advance(self, topic: str, change: CurrentPin, *, expires_at: datetime) -> bool:
        """Record `change` if its sequence is higher than the recorded one; False if not (nothing written)."""

    def mark_fanned_out(self, topic: str, event: DomainEvent, subscriber: str) -> None:
        """The change went out to every watcher: noted on the topic, and the event marked processed."""

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
        else:
            unwatch(connection_id, request.live_show_id, store, sender, now)
    except Refused as refused:
        _send_quietly(sender, connection_id, error_message(refused.code, refused.message))


def watch(
    connection_id: str, live_show_id: str, store: PushStore, entitlements: Entitlements, sender: Sender, now: datetime
) -> None:
    """A ticket holder (or staff) watches the show: recorded first, then told the current pin, so a pin
    committed meanwhile reaches the viewer either way (the fan-out reads the watchers after its write)."""
    topic = live_show_topic(live_show_id)
    for attempt in range(1, CONNECTION_ATTEMPTS + 1):
        connection = _connection(store, connection_id)
        if not connection.staff and not holds_live_ticket(
            entitlements.entitlements(connection.sub, f"LIVE#{live_show_id}"), live_show_id, now
        ):
            raise Refused("no_ticket", f"watching live show {live_show_id} needs a ticket for it")
        if topic in connection.topics:
            break
        if len(connection.topics) >= MAX_TOPICS_PER_CONNECTION:
            raise Refused(
                "too_many_topics", f"a connection watches at most {MAX_TOPICS_PER_CONNECTION} topics; unwatch one first"
            )
        try:
            store.set_topics(connection, (*connection.topics, topic), expires_at=now + CONNECTION_LIFETIME)
            break
        except ConnectionMoved:
            if attempt == CONNECTION_ATTEMPTS:
                raise Refused("busy", "the connection changed meanwhile; send the message again") from None
        except NotConnected:
            raise Refused("not_connected", "the connection is no longer known; connect again") from None
    _send_quietly(sender, connection_id, {"type": "watching", "topic": topic, "live_show_id": live_show_id})
    current = store.current(topic)
    if current is not None and current.message is not None:
        _send_quietly(sender, connection_id, current.message)


def unwatch(connection_id: str, live_show_id: str | None, store: PushStore, sender: Sender, now: datetime) -> None:
    for attempt in range(1, CONNECTION_ATTEMPTS + 1):
        connection = _connection(store, connection_id)
        dropped = [t for t in connection.topics if live_show_id is None or t == live_show_topic(live_show_id)]
        if not dropped:
            break
        try:
            kept = [t for t in connection.topics if t not in dropped]
            store.set_topics(connection, kept, expires_at=now + CONNECTION_LIFETIME)
            break
        except ConnectionMoved:
            if attempt == CONNECTION_ATTEMPTS:
                raise Refused("busy", "the connection changed meanwhile; send the message again") from None
        except NotConnected:
            raise Refused("not_connected", "the connection is no longer known; connect again") from None
    _send_quietly(sender, connection_id, {"type": "unwatched", "topics": dropped})


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

    An event whose sequence is not above the recorded one is a repeat or late, and changes nothing. The
    same event again after a crash halfway (recorded, not marked fanned out) posts to every watcher
    again: at least once, and a client keeps the highest sequence anyway."""
    data = event.data
    if isinstance(data, ProductPinnedV1):
        posted = pin_message(data)
        current: dict[str, Any] | None = posted
    else:
        assert isinstance(data, ProductUnpinnedV1)
        posted, current = unpin_message(data), None
    topic = live_show_topic(data.live_show_id)
    change = CurrentPin(sequence=data.sequence, event_id=event.event_id, message=current, fanned_out=False)
    if not store.advance(topic, change, expires_at=now + CURRENT_PIN_LIFETIME):
        recorded = store.current(topic)
        if recorded is None or recorded.event_id != event.event_id or recorded.fanned_out:
            store.mark_processed(event, subscriber)
            return FanOut("stale")
    result = post_to_all(topic, posted, store, sender)
    store.mark_fanned_out(topic, event, subscriber)
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
