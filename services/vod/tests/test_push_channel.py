"""The push channel through vod's real handlers: a real WebSocket client connects to the embedded stack's
WebSocket gateway (shop_devstack.websocket_gateway, here invoking the app's functions in this process),
tokens are verified at $connect, tickets are read from the table grant-access wrote, and the push-pins
subscription's function posts through API Gateway's management API (the gateway's, over HTTP, with
boto3's apigatewaymanagementapi client), whose GoneException makes vod forget a connection."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from unittest import mock

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from shop_contracts.events import (
    Money,
    OrderLine,
    OrderStatusChangedV1,
    PaymentCapturedV1,
    PinnedProduct,
    ProductPinnedV1,
    ProductUnpinnedV1,
    VideoAccess,
)
from shop_devstack.oidc_issuer import DEMO_USERS
from shop_devstack.testing import deliver_to_subscription, eventbridge_body, eventually
from shop_devstack.websocket_gateway import Gateway, RunningGateway, app_websocket_functions, in_process
from shop_eventing.envelope import DomainEvent, new_event

NOW = datetime.now(UTC).replace(microsecond=0)
# Long enough for a busy machine; a message that never comes fails the test after it.
WAIT = 10


@pytest.fixture(scope="module")
def gateway(vod_app: ModuleType, issuer: Any) -> Iterator[RunningGateway]:
    handlers, names = app_websocket_functions(vod_app, vod_app.app, "local")
    with RunningGateway(Gateway(in_process(handlers, names))) as running:
        with mock.patch.dict(os.environ, {"VOD_PUSH_ENDPOINT": running.management_endpoint}):
            vod_app.push_connections.cache_clear()
            yield running
        vod_app.push_connections.cache_clear()


def a_show() -> str:
    return f"show-{uuid.uuid4().hex[:10]}"


def buy_ticket(vod_app: ModuleType, user: str, show: str) -> None:
    """Orders' PaymentCaptured for a ticket, handed to grant-access: the entitlement the channel checks."""
    order_id = f"ord-{uuid.uuid4().hex[:12]}"
    price = Money(amount=3000, currency="JPY")
    ticket = OrderLine(
        sku="TICKET-1",
        name="Live ticket",
        kind="digital",
        quantity=1,
        unit_price=price,
        access=VideoAccess(product_type="live_ticket", live_show_id=show),
    )
    data = PaymentCapturedV1(
        order_id=order_id,
        payment_id="ch_test",
        amount=price,
        customer_email=f"{user}@example.com",
        lines=[ticket],
        customer_id=DEMO_USERS[user].sub,
    )
    event = new_event(data, producer="shop.orders", correlation_id=order_id, now=NOW)
    assert deliver_to_subscription(vod_app, "vod", "grant-access", eventbridge_body(event)) == {"batchItemFailures": []}


def viewer(gateway: RunningGateway, issuer: Any, user: str) -> ClientConnection:
    return connect(f"{gateway.url}?token={issuer.issuer.mint({'username': user})}", open_timeout=WAIT)


def receive(client: ClientConnection) -> dict[str, Any]:
    return dict(json.loads(client.recv(timeout=WAIT)))


def watch(client: ClientConnection, show: str) -> dict[str, Any]:
    client.send(json.dumps({"action": "watch", "live_show_id": show}))
    return receive(client)


def pinned(show: str, sequence: int, sku: str = "TSHIRT-M") -> DomainEvent:
    data = ProductPinnedV1(
        live_show_id=show,
        pin_id=f"pin-{sequence}",
        sequence=sequence,
        product=PinnedProduct(sku=sku, name="Tour T-shirt", price=Money(amount=2500, currency="JPY")),
        pinned_at=NOW.isoformat(),
    )
    return new_event(data, producer="shop.vod", correlation_id=show, now=NOW)


def unpinned(show: str, sequence: int, sku: str = "TSHIRT-M") -> DomainEvent:
    data = ProductUnpinnedV1(
        live_show_id=show, pin_id=f"pin-{sequence - 1}", sequence=sequence, sku=sku, unpinned_at=NOW.isoformat()
    )
    return new_event(data, producer="shop.vod", correlation_id=show, now=NOW)


def push_pins(vod_app: ModuleType, event: DomainEvent) -> None:
    assert deliver_to_subscription(vod_app, "vod", "push-pins", eventbridge_body(event)) == {"batchItemFailures": []}


@pytest.mark.parametrize("query", ["", "?token=", "?token=not-a-jwt"])
def test_connecting_without_a_valid_token_is_refused_at_the_handshake(gateway, query):
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{gateway.url}{query}", open_timeout=WAIT)

    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["error"]["code"] == "unauthorized"
    assert gateway.gateway.connections == {}


def test_an_expired_token_is_refused(gateway, issuer):
    token = issuer.issuer.mint({"username": "ada", "exp": 1_000_000_000, "iat": 999_999_000})

    with pytest.raises(InvalidStatus) as refused:
        connect(f"{gateway.url}?token={token}", open_timeout=WAIT)

    assert refused.value.response.status_code == 401


def test_ticket_holders_get_each_pin_and_unpin_and_a_late_joiner_the_current_pin(gateway, vod_app, issuer):
    show = a_show()
    buy_ticket(vod_app, "ada", show)
    buy_ticket(vod_app, "grace", show)
    with viewer(gateway, issuer, "ada") as ada:
        assert watch(ada, show) == {"type": "watching", "topic": f"live-show:{show}", "live_show_id": show}

        push_pins(vod_app, pinned(show, 1, sku="MUG-1"))
        pin = receive(ada)
        assert (pin["type"], pin["sequence"], pin["product"]["sku"]) == ("pin", 1, "MUG-1")

        with viewer(gateway, issuer, "grace") as grace:
            assert watch(grace, show)["type"] == "watching"
            late = receive(grace)
            assert (late["type"], late["sequence"], late["product"]["sku"]) == ("pin", 1, "MUG-1")

            push_pins(vod_app, unpinned(show, 2, sku="MUG-1"))
            for client in (ada, grace):
                unpin = receive(client)
                assert (unpin["type"], unpin["sequence"], unpin["sku"]) == ("unpin", 2, "MUG-1")

            push_pins(vod_app, pinned(show, 1, sku="LATE-1"))  # older than the unpin: nobody hears of it
            # The fan-out posts before its function returns, so a pin would be ahead of this answer.
            grace.send(json.dumps({"action": "watch", "live_show_id": show}))
            assert receive(grace)["type"] == "watching"


def test_a_viewer_without_a_ticket_gets_an_error_and_no_pins(gateway, vod_app, issuer):
    show = a_show()
    with viewer(gateway, issuer, "grace") as grace:
        refused = watch(grace, show)
        assert (refused["type"], refused["code"]) == ("error", "no_ticket")

        push_pins(vod_app, pinned(show, 1))

        grace.send(json.dumps({"action": "unwatch"}))
        assert receive(grace) == {"type": "unwatched", "topics": []}  # the pin never came before this answer


def test_staff_watch_without_a_ticket(gateway, vod_app, issuer):
    show = a_show()
    with viewer(gateway, issuer, "sam") as sam:
        assert watch(sam, show)["type"] == "watching"
        push_pins(vod_app, pinned(show, 1))
        assert receive(sam)["type"] == "pin"


def test_a_closed_connection_is_forgotten(gateway, vod_app, issuer):
    show = a_show()
    topic = f"live-show:{show}"
    with viewer(gateway, issuer, "sam") as sam:
        watch(sam, show)
        assert len(vod_app.push_store.watchers(topic)) == 1

    eventually(lambda: vod_app.push_store.watchers(topic) == [], timeout=WAIT, what="$disconnect to forget the watcher")


def test_a_connection_the_gateway_no_longer_has_is_dropped_by_the_fan_out(gateway, vod_app, aws):
    """A $disconnect that never came (API Gateway delivers it best-effort): the management API answers
    410 GoneException for the connection, and the fan-out forgets it."""
    from chalicelib import push

    show = a_show()
    topic = f"live-show:{show}"
    push.connect("gone-connection=", "sam-sub", ["staff"], vod_app.push_store, NOW)
    connection = vod_app.push_store.connection("gone-connection=")
    vod_app.push_store.set_topics(connection, [topic], expires_at=NOW)
    assert vod_app.push_store.watchers(topic) == ["gone-connection="]

    push_pins(vod_app, pinned(show, 1))

    assert vod_app.push_store.watchers(topic) == []
    current = aws.item(f"PUSH#TOPIC#{topic}", "CURRENT")
    assert (current["sequence"], current["fanned_out"]) == (1, True)


def status_changed(user: str, order_id: str, version: int, status: str) -> DomainEvent:
    data = OrderStatusChangedV1(
        order_id=order_id,
        customer_id=DEMO_USERS[user].sub,
        status=status,
        previous_status=None,
        status_version=version,
        changed_at=NOW.isoformat(),
    )
    return new_event(data, producer="shop.orders", correlation_id=order_id, now=NOW)


def push_orders(vod_app: ModuleType, event: DomainEvent) -> None:
    assert deliver_to_subscription(vod_app, "vod", "push-orders", eventbridge_body(event)) == {"batchItemFailures": []}


def test_a_customer_gets_their_own_orders_statuses_and_nobody_else_does(gateway, vod_app, issuer):
    order_id = f"ord-{uuid.uuid4().hex[:12]}"
    with viewer(gateway, issuer, "ada") as ada, viewer(gateway, issuer, "grace") as grace:
        for client, user in ((ada, "ada"), (grace, "grace")):
            client.send(json.dumps({"action": "watchOrders"}))
            assert receive(client) == {"type": "watching", "topic": f"orders:{DEMO_USERS[user].sub}"}

        push_orders(vod_app, status_changed("ada", order_id, 2, "STOCK_RESERVED"))
        push_orders(vod_app, status_changed("ada", order_id, 1, "PENDING"))  # late: not sent

        pushed = receive(ada)
        assert (pushed["type"], pushed["order_id"], pushed["status"], pushed["status_version"]) == (
            "order-status",
            order_id,
            "STOCK_RESERVED",
            2,
        )
        for client in (ada, grace):  # nothing else came before the answer to this
            client.send(json.dumps({"action": "unwatch", "live_show_id": "no-such-show"}))
            assert receive(client) == {"type": "unwatched", "topics": []}


def test_an_order_s_status_to_a_connection_the_gateway_no_longer_has_forgets_it(gateway, vod_app, aws):
    from chalicelib import push

    topic = f"orders:{DEMO_USERS['ada'].sub}"
    order_id = f"ord-{uuid.uuid4().hex[:12]}"
    push.connect("gone-orders=", DEMO_USERS["ada"].sub, [], vod_app.push_store, NOW)
    connection = vod_app.push_store.connection("gone-orders=")
    vod_app.push_store.set_topics(connection, [topic], expires_at=NOW)

    push_orders(vod_app, status_changed("ada", order_id, 1, "PENDING"))

    assert "gone-orders=" not in vod_app.push_store.watchers(topic)
    current = aws.item(f"PUSH#TOPIC#{topic}", f"CURRENT#{order_id}")
    assert (current["sequence"], current["fanned_out"]) == (1, True)


def test_demo_users_used_here_are_customers_and_staff():
    # The tests above rely on ada and grace being customers and sam staff.
    assert [DEMO_USERS[u].groups for u in ("ada", "grace", "sam")] == [(), (), ("staff",)]
