"""The order page follows the push channel's order topic and polls only when it has to.

vod's WebSocket API gets the orders topic on another branch ({"action": "watchOrders"} → "watching"
with topic "orders:<sub>", then "order-status" messages), so this test plays the channel with
Playwright's WebSocket routing, in that protocol, while the order itself moves for real (the warehouse
and the 3PL through their APIs). While the channel covers orders the page reads the order once per
newer status_version and never polls; when the channel stops covering them (as today's vod answers
watchOrders: unknown_action), the page polls until a final status."""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import Page, WebSocketRoute, expect

from tests.browser.browsing import assert_accessible, signed_in
from tests.browser.storefront import place_order
from tests.fulfillment_e2e import JP_ADDRESS, Fulfillment

PUSH = re.compile(r"^ws://.*/api\?token=")


class FakeOrderTopic:
    """The push channel as the page meets it: acknowledges watchOrders (or refuses it, like today's vod)."""

    def __init__(self) -> None:
        self.sockets: list[WebSocketRoute] = []
        self.acknowledge = True

    def route(self, ws: WebSocketRoute) -> None:
        self.sockets.append(ws)

        def on_message(message: str | bytes) -> None:
            if json.loads(message).get("action") != "watchOrders":
                return
            if self.acknowledge:
                ws.send(json.dumps({"type": "watching", "topic": "orders:ada"}))
            else:
                ws.send(json.dumps({"type": "error", "code": "unknown_action", "message": "no such action"}))

        ws.on_message(on_message)

    def status(self, order: dict[str, Any], version: int) -> None:
        message = {"type": "order-status", "topic": "orders:ada", "order_id": order["order_id"], "status": order["status"]}
        self.sockets[-1].send(json.dumps({**message, "previous_status": None, "status_version": version, "changed_at": ""}))


def test_the_order_page_reads_the_order_on_pushed_changes_and_polls_only_without_the_channel(shop, page: Page) -> None:
    sku = shop.new_product(amount=600)
    order_id = place_order(shop, [(sku, 1)], email="ada@example.com", address=JP_ADDRESS)
    shop.settled_order(order_id, wanting={"SHIPMENT_REQUESTED"}, timeout=60)

    channel = FakeOrderTopic()
    page.route_web_socket(PUSH, channel.route)
    reads: list[str] = []
    order_url = f"/api/orders/orders/{order_id}"
    page.on("request", lambda r: reads.append(r.url) if r.method == "GET" and r.url.endswith(order_url) else None)
    signed_in(page, "ada", start=f"/me/orders/{order_id}")
    status = page.get_by_test_id("order-status")
    expect(status).to_have_attribute("data-status", "SHIPMENT_REQUESTED")
    updates = page.get_by_test_id("order-status-line")
    expect(updates).to_have_attribute("data-updates", "push")  # the channel acknowledged the topic
    first_reads = len(reads)

    # The warehouse packs the parcel; the page hears of it through the channel alone.
    warehouse = Fulfillment(shop)
    warehouse.pick_and_pack(order_id)
    packed = shop.settled_order(order_id, wanting={"SHIPMENT_PACKED", "SHIPMENT_INSTRUCTED"})
    channel.status(packed, version=5)
    expect(status).to_have_attribute("data-status", packed["status"])
    channel.status(packed, version=5)  # delivered twice
    channel.status({**packed, "status": "PAID"}, version=3)  # late
    channel.status({"order_id": "another-order", "status": "SHIPPED"}, version=9)  # not this order
    assert_accessible(page)
    # One read per newer version of this order, and no polling while the channel covered orders.
    assert len(reads) == first_reads + 1, reads

    # The channel stops covering orders (a reconnect to a vod without the topic): the page polls again.
    channel.acknowledge = False
    channel.sockets[-1].close()
    expect(updates).to_have_attribute("data-updates", "poll")
    shipment = warehouse.shipment_reaches(order_id, "INSTRUCTED")
    for step in ("picking", "packed", "shipped"):
        warehouse.advance(shipment["logistics_shipment_id"], step)
    expect(status).to_have_attribute("data-status", "SHIPPED", timeout=60_000)
    assert len(reads) > first_reads + 1
