"""The push channel end to end: viewers who bought a live ticket through the real order flow hold a
WebSocket to the embedded stack's WebSocket API, and the pins staff make reach them through the bus.

The pin API (PUT/DELETE /live-shows/{id}/pin) is built on its own branch, so the test plays its part on
the bus: it puts the ProductPinned and ProductUnpinned v1 vod publishes on the shop's bus with vod's
source; EventBridge's rule, vod's push-pins queue, the dispatcher, vod's fan-out and the gateway's
management API do the rest. The time from the bus to each viewer is printed (never asserted)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from shop_contracts.events import Money, PinnedProduct, ProductPinnedV1, ProductUnpinnedV1
from shop_devstack.testing import eventually
from shop_eventing.envelope import DomainEvent, new_event
from shop_eventing.outbox import from_dynamodb, to_dynamodb

# Bounds a hang on a busy machine; a message that never comes fails the test after it.
WAIT = 30


def buy_a_ticket(shop: Any, sku: str, user: str, show: str) -> None:
    placed = shop.place_order([(sku, 1)], address=None, user=user)
    assert placed.status == 201, placed.body
    order_id = placed.body["order_id"]
    eventually(lambda: shop.order(order_id, user=user)["status"] == "PAID", timeout=60, what=f"{user}'s order {order_id} paid")

    def entitled() -> bool:
        mine = shop.call("vod", "GET", "/me/videos", user=user).body["entitlements"]
        return any(e["live_show_id"] == show and e["active"] for e in mine)

    eventually(entitled, timeout=WAIT, what=f"{user}'s ticket for {show} in vod")


@pytest.fixture(scope="module")
def show(shop: Any) -> str:
    """A live show ada and grace hold tickets for, sold through catalog, orders and vod's grant-access."""
    show_id = f"show-{uuid.uuid4().hex[:10]}"
    sku = f"LIVE-{uuid.uuid4().hex[:10].upper()}"
    product = {
        "sku": sku,
        "name": "Live in Tokyo",
        "product_type": "live_ticket",
        "price": {"amount": 3000, "currency": "USD"},
        "access": {"live_show_id": show_id},
        "stock": 10,
    }
    assert shop.call("catalog", "POST", "/staff/products", product, user="sam").status == 201
    assert shop.call("catalog", "POST", f"/staff/products/{sku}/publish", user="sam").status == 200
    eventually(lambda: shop.storefront_has(sku), what=f"{sku} in the orders service's catalog view")
    for user in ("ada", "grace"):
        buy_a_ticket(shop, sku, user, show_id)
    return show_id


def viewer(shop: Any, user: str) -> ClientConnection:
    return connect(f"{shop.stack.websocket_url}?token={shop.token(user)}", open_timeout=WAIT)


def receive(client: ClientConnection) -> dict[str, Any]:
    return dict(json.loads(client.recv(timeout=WAIT)))


def watch(client: ClientConnection, show: str) -> dict[str, Any]:
    client.send(json.dumps({"action": "watch", "live_show_id": show}))
    return receive(client)


def nothing_else_came(client: ClientConnection) -> None:
    """The channel answers a client's messages in order, after whatever was posted before: so if the
    next message is the answer to this one, nothing else was sent in between."""
    client.send(json.dumps({"action": "unwatch", "live_show_id": "no-such-show"}))
    assert receive(client) == {"type": "unwatched", "topics": []}


def publish_as_vod(shop: Any, event: DomainEvent) -> float:
    """Put `event` on the shop's bus as vod's relay does; returns when (time.monotonic)."""
    entry = {
        "EventBusName": shop.stack.naming.bus,
        "Source": "shop.vod",
        "DetailType": event.event_type,
        "Detail": json.dumps(event.to_detail()),
    }
    sent = time.monotonic()
    response = shop.stack.client("events").put_events(Entries=[entry])
    assert response["FailedEntryCount"] == 0, response
    return sent


def pinned(show: str, sequence: int, sku: str) -> DomainEvent:
    now = datetime.now(UTC)
    data = ProductPinnedV1(
        live_show_id=show,
        pin_id=f"pin-{sequence}",
        sequence=sequence,
        product=PinnedProduct(sku=sku, name="Tour T-shirt", price=Money(amount=2500, currency="USD")),
        pinned_at=now.isoformat(),
        offset_ms=60_000 * sequence,
    )
    return new_event(data, producer="shop.vod", correlation_id=show, now=now)


def unpinned(show: str, sequence: int, sku: str) -> DomainEvent:
    now = datetime.now(UTC)
    data = ProductUnpinnedV1(
        live_show_id=show, pin_id=f"pin-{sequence - 1}", sequence=sequence, sku=sku, unpinned_at=now.isoformat()
    )
    return new_event(data, producer="shop.vod", correlation_id=show, now=now)


def vod_items(shop: Any, pk: str, prefix: str) -> list[dict[str, Any]]:
    answer = shop.stack.client("dynamodb").query(
        TableName=shop.stack.naming.table("vod"),
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues=to_dynamodb({":pk": pk, ":prefix": prefix}),
        ConsistentRead=True,
    )
    return [from_dynamodb(item) for item in answer["Items"]]


def push_pins_drained(shop: Any) -> bool:
    url = shop.stack.provisioned.queue_urls[("vod", "push-pins")]
    attributes = shop.stack.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return attributes == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}


@pytest.fixture
def clients() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def test_connecting_without_a_token_is_refused(shop):
    with pytest.raises(InvalidStatus) as refused:
        connect(shop.stack.websocket_url, open_timeout=WAIT)

    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["error"]["code"] == "unauthorized"


def test_pins_reach_ticket_holders_and_a_late_joiner_and_nobody_else(shop, show, clients):
    topic = f"live-show:{show}"
    ada = clients.enter_context(viewer(shop, "ada"))
    grace = clients.enter_context(viewer(shop, "grace"))
    wes = clients.enter_context(viewer(shop, "wes"))  # warehouse staff, no ticket
    for holder in (ada, grace):
        assert watch(holder, show) == {"type": "watching", "topic": topic, "live_show_id": show}
    refused = watch(wes, show)
    assert (refused["type"], refused["code"]) == ("error", "no_ticket")

    # A pin on the bus reaches both ticket holders.
    sent = publish_as_vod(shop, pinned(show, 1, "TSHIRT-M"))
    latencies = {}
    for name, client in (("ada", ada), ("grace", grace)):
        pin = receive(client)
        latencies[name] = time.monotonic() - sent
        assert (pin["type"], pin["topic"], pin["sequence"], pin["product"]["sku"]) == ("pin", topic, 1, "TSHIRT-M")
    print(f"\npin on the bus -> viewer: {', '.join(f'{n} {s * 1000:.0f} ms' for n, s in latencies.items())}")

    # A late joiner (ada's second tab) is told the current pin when it starts watching.
    ada_later = clients.enter_context(viewer(shop, "ada"))
    assert watch(ada_later, show)["type"] == "watching"
    late = receive(ada_later)
    assert (late["type"], late["sequence"], late["product"]["sku"]) == ("pin", 1, "TSHIRT-M")

    # The unpin reaches everyone watching.
    unpin = unpinned(show, 2, "TSHIRT-M")
    publish_as_vod(shop, unpin)
    for client in (ada, grace, ada_later):
        message = receive(client)
        assert (message["type"], message["sequence"], message["sku"]) == ("unpin", 2, "TSHIRT-M")

    # The unpin again (a redelivery) and an older pin arriving late change nothing.
    late_pin = pinned(show, 1, "LATE-1")
    publish_as_vod(shop, unpin)
    publish_as_vod(shop, late_pin)
    eventually(
        lambda: vod_items(shop, "PROCESSED#vod.push-pins", late_pin.event_id) and push_pins_drained(shop),
        timeout=WAIT,
        what="the late pin handled and vod's push-pins queue drained",
    )
    for client in (ada, grace, ada_later, wes):
        nothing_else_came(client)
    [current] = vod_items(shop, f"PUSH#TOPIC#{topic}", "CURRENT")
    assert (current["sequence"], current["event_id"], current.get("message")) == (2, unpin.event_id, None)

    # A late joiner after the unpin is told nothing is pinned: no pin follows the answer.
    grace_later = clients.enter_context(viewer(shop, "grace"))
    assert watch(grace_later, show)["type"] == "watching"
    nothing_else_came(grace_later)


def test_a_closed_connection_is_forgotten(shop, show):
    topic = f"live-show:{show}"

    def watchers() -> set[str]:
        return {item["sk"] for item in vod_items(shop, f"PUSH#TOPIC#{topic}", "WATCHER#")}

    before = watchers()
    with viewer(shop, "grace") as grace:
        watch(grace, show)
        [mine] = watchers() - before

    eventually(lambda: mine not in watchers(), timeout=WAIT, what="$disconnect to remove grace's watcher")
    assert vod_items(shop, f"PUSH#CONN#{mine.removeprefix('WATCHER#')}", "CONNECTION") == []
