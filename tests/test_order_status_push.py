"""A customer's order statuses end to end: ada watches her orders over the embedded stack's WebSocket API,
places an order through the orders API, and gets each status change as it happens (orders' table stream,
its relay's change feed, EventBridge, vod's push-orders queue, the dispatcher, vod's fan-out and the
gateway's management API) up to SHIPPED, after the warehouse packs the parcel and the fake 3PL ships it;
grace, connected and watching her own orders all along, hears nothing of ada's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.fulfillment_e2e import JP_ADDRESS, Fulfillment

# Bounds a hang on a busy machine; a message that never comes fails the test after it.
WAIT = 60
# The statuses an order paid and shipped goes through, in order (services/orders/README.md).
LIFECYCLE = ("PENDING", "STOCK_RESERVED", "PAID", "SHIPMENT_REQUESTED", "SHIPMENT_PACKED", "SHIPMENT_INSTRUCTED", "SHIPPED")
MESSAGE_FIELDS = {"type", "topic", "order_id", "status", "previous_status", "status_version", "changed_at"}


class Storefront:
    """A customer's tab: one connection watching their orders, keeping per order the highest
    status_version it was told (the protocol's rule, services/vod/README.md)."""

    def __init__(self, client: ClientConnection) -> None:
        self.client = client
        self.received: list[dict[str, Any]] = []
        self.shown: dict[str, dict[str, Any]] = {}
        self.client.send(json.dumps({"action": "watchOrders"}))
        watching = self._receive()
        assert watching["type"] == "watching", watching
        self.topic = str(watching["topic"])

    def _receive(self) -> dict[str, Any]:
        return dict(json.loads(self.client.recv(timeout=WAIT)))

    def take(self, message: dict[str, Any]) -> None:
        self.received.append(message)
        if message["type"] != "order-status":
            return
        shown = self.shown.get(message["order_id"])
        if shown is None or message["status_version"] > shown["status_version"]:
            self.shown[message["order_id"]] = message

    def until(self, order_id: str, status: str) -> list[dict[str, Any]]:
        """Receive until the order shows `status`; what was shown for it, in turn (late ones left out)."""
        shown: list[dict[str, Any]] = []
        while (self.shown.get(order_id) or {}).get("status") != status:
            before = self.shown.get(order_id)
            self.take(self._receive())
            if self.shown.get(order_id) is not before:
                shown.append(self.shown[order_id])
        return shown

    def settle(self) -> None:
        """Everything sent before now arrives: the channel answers a message after whatever it posted before."""
        self.client.send(json.dumps({"action": "unwatch", "live_show_id": "no-such-show"}))
        while (message := self._receive()) != {"type": "unwatched", "topics": []}:
            self.take(message)


@pytest.fixture
def clients() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def storefront(shop: Any, clients: ExitStack, user: str) -> Storefront:
    client = clients.enter_context(connect(f"{shop.stack.websocket_url}?token={shop.token(user)}", open_timeout=WAIT))
    return Storefront(client)


def in_lifecycle_order(messages: list[dict[str, Any]]) -> bool:
    positions = [LIFECYCLE.index(m["status"]) for m in messages]
    return positions == sorted(set(positions))


def test_a_customer_sees_her_order_s_status_change_live_and_nobody_else_does(shop, clients):
    fulfillment = Fulfillment(shop)
    ada, grace = storefront(shop, clients, "ada"), storefront(shop, clients, "grace")
    assert ada.topic.startswith("orders:") and grace.topic.startswith("orders:") and ada.topic != grace.topic

    sku = shop.new_product(stock=5, amount=1500, currency="JPY")
    placed = shop.place_order([(sku, 1)], address=JP_ADDRESS, user="ada")
    assert placed.status == 201, placed.body
    order_id = str(placed.body["order_id"])

    # Paid and its shipment requested, behind the API: each change pushed as it is written.
    until_requested = ada.until(order_id, "SHIPMENT_REQUESTED")
    assert in_lifecycle_order(until_requested), [m["status"] for m in until_requested]
    print(f"\nada was shown: {' -> '.join(m['status'] for m in until_requested)}")
    first = until_requested[0]
    assert set(first) == MESSAGE_FIELDS
    assert (first["topic"], first["order_id"]) == (ada.topic, order_id)
    requested = until_requested[-1]
    assert requested["previous_status"] in LIFECYCLE[: LIFECYCLE.index("SHIPMENT_REQUESTED")]

    # The warehouse packs it, the 3PL is instructed, picks, packs and ships it (its tracking webhook).
    fulfillment.pick_and_pack(order_id)
    logistics_id = fulfillment.shipment_reaches(order_id, "INSTRUCTED")["logistics_shipment_id"]
    for status in ("picking", "packed", "shipped"):
        [sent] = fulfillment.advance(logistics_id, status)
        assert sent["status"] == 200, sent
    until_shipped = ada.until(order_id, "SHIPPED")
    print(f"then: {' -> '.join(m['status'] for m in until_shipped)}")
    assert in_lifecycle_order(until_requested + until_shipped), [m["status"] for m in until_requested + until_shipped]

    # What ada was shown last is what the orders API says, at the same status_version.
    order = shop.order(order_id, user="ada")
    assert (order["status"], order["status_version"]) == ("SHIPPED", until_shipped[-1]["status_version"])
    mine = [m for m in ada.received if m["type"] == "order-status" and m["order_id"] == order_id]
    # Whatever came twice (at least once delivery) came alike: one status per status_version.
    assert len({(m["status_version"], m["status"]) for m in mine}) == len({m["status_version"] for m in mine})

    ada.settle()
    grace.settle()
    assert [m for m in grace.received if m.get("order_id") == order_id or m.get("topic") == ada.topic] == []
    assert all(m["topic"] == grace.topic for m in grace.received if m["type"] == "order-status")
