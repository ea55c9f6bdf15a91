"""OrderStatusChanged through the app against the embedded AWS (moto): every save that changes an
order's status bumps its status_version in the same write, the API shows it, and the app's own relay
announces each change once from the table's real stream records (decision 0018)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

import pytest

from chalicelib import status_changes, usecases
from chalicelib.domain import ChargeOutcome
from shop_contracts.consumer_contracts import committed_schema, schema_errors
from shop_contracts.events import ShipmentDispatchedV1, ShipmentRequestedV1, StockLine, StockReservedV1
from shop_devstack.oidc_issuer import DEMO_USERS
from shop_devstack.testing import deliver_to_subscription, eventbridge_body
from shop_eventing.envelope import DomainEvent, EventData, new_event

ADDRESS = {"recipient": "Ada", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}


class Bus:
    """Takes every PutEvents entry (the relay's bus port)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def put_events(self, entries: Sequence[Mapping[str, Any]]) -> list[str | None]:
        self.entries += [dict(entry) for entry in entries]
        return [None] * len(entries)

    def status_changes(self, order_id: str) -> list[dict[str, Any]]:
        details = [json.loads(e["Detail"]) for e in self.entries if e["DetailType"] == "OrderStatusChanged"]
        return [d for d in details if d["data"]["order_id"] == order_id]


class Approves:
    def charge(self, *, idempotency_key: str, amount: int, currency: str, token: str, description: str) -> ChargeOutcome:
        return ChargeOutcome(approved=True, charge_id=f"pi_{idempotency_key}")


def fulfillment(data: EventData, order_id: str) -> DomainEvent:
    return new_event(data, producer="shop.fulfillment", correlation_id=order_id)


@pytest.fixture
def placed(post_order: Callable[..., Any], publish_product: Callable[..., Any]) -> Callable[[], dict[str, Any]]:
    def place() -> dict[str, Any]:
        sku = publish_product(kind="physical").data.sku
        response = post_order(
            {
                "customer_email": "ada@example.com",
                "payment_token": "tok_visa",
                "shipping_address": ADDRESS,
                "lines": [{"sku": sku, "quantity": 1}],
            }
        )
        assert response.status_code == 201, response.body
        return dict(json.loads(response.body))

    return place


def status_version(aws: Any, order_id: str) -> int:
    item = aws.item(f"ORDER#{order_id}", "ORDER")
    assert item is not None
    return int(item["status_version"])


def history(app: ModuleType, *events: DomainEvent) -> None:
    body = [eventbridge_body(event) for event in events]
    assert deliver_to_subscription(app, "orders", "order-history", *body) == {"batchItemFailures": []}


def a_shipped_order(app: ModuleType, aws: Any, placed: Callable[[], dict[str, Any]]) -> str:
    """Placed, reserved and paid (the charge step), its shipment requested (twice: a redelivery) and dispatched."""
    order_id = str(placed()["order_id"])
    assert status_version(aws, order_id) == 1
    reserved = new_event(StockReservedV1(order_id=order_id, lines=[]), producer="shop.catalog", correlation_id=order_id)
    usecases.charge_payment(reserved, "orders.charge-payment", app.repository, app.unit_of_work, Approves())
    requested = fulfillment(
        ShipmentRequestedV1(
            shipment_id="shp-1", order_id=order_id, lines=[StockLine(sku="BOX", quantity=1)], shipping_address="x"
        ),
        order_id,
    )
    history(app, requested)
    history(app, fulfillment(ShipmentRequestedV1(**requested.data.model_dump()), order_id))  # same fact, another event: no change
    dispatched = ShipmentDispatchedV1(
        shipment_id="shp-1", order_id=order_id, carrier="yamato", tracking_number="4912-0001", customer_email="ada@example.com"
    )
    history(app, fulfillment(dispatched, order_id))
    return order_id


def test_each_status_change_bumps_status_version_once_and_the_api_shows_it(orders_app, aws, client, placed):
    order = placed()
    assert (order["status"], order["status_version"]) == ("PENDING", 1)

    order_id = a_shipped_order(orders_app, aws, placed)

    read = json.loads(client.http.get(f"/orders/{order_id}").body)
    assert (read["status"], read["status_version"]) == (
        "SHIPPED",
        5,
    )  # PENDING, STOCK_RESERVED, PAID, SHIPMENT_REQUESTED, SHIPPED
    assert status_version(aws, order_id) == 5


def test_the_relay_announces_each_status_once_in_order_from_the_real_stream(orders_app, aws, placed, monkeypatch):
    order_id = a_shipped_order(orders_app, aws, placed)
    records = aws.stream_records(f"ORDER#{order_id}")
    bus = Bus()
    monkeypatch.setattr(orders_app.runtime.relay, "_bus", bus)

    orders_app.runtime.relay.handle({"Records": records})
    orders_app.runtime.relay.handle({"Records": records})  # the batch again, as after a failure

    changes = bus.status_changes(order_id)
    once = {d["metadata"]["event_id"]: d for d in changes}
    assert len(changes) == 2 * len(once), "a redelivered record is the same event"
    assert [(d["data"]["previous_status"], d["data"]["status"], d["data"]["status_version"]) for d in once.values()] == [
        (None, "PENDING", 1),
        ("PENDING", "STOCK_RESERVED", 2),
        ("STOCK_RESERVED", "PAID", 3),
        ("PAID", "SHIPMENT_REQUESTED", 4),
        ("SHIPMENT_REQUESTED", "SHIPPED", 5),
    ]
    assert len(records) > len(once), "saves that changed no status announced nothing"
    for detail in once.values():
        assert detail["metadata"]["event_id"] == status_changes.status_change_event_id(order_id, detail["data"]["status_version"])
        assert (detail["data"]["customer_id"], detail["metadata"]["correlation_id"]) == (DEMO_USERS["ada"].sub, order_id)
        assert schema_errors(committed_schema("OrderStatusChanged", 1), detail) == []
