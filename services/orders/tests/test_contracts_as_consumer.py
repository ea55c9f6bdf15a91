"""orders' consumer contracts, consumer side: every example it declares (consumer-contracts/) goes
through the Lambda function the app registers for that subscription and has its effect. Why: see
shop_devstack.contract_testing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any

import pytest

from shop_devstack.contract_testing import (
    Consumer,
    ConsumerContractTests,
    Scenario,
    as_new_event,
)

SERVICE = "orders"


@dataclass
class Orders:
    app: ModuleType
    aws: Any
    post_order: Callable[..., Any]
    publish_product: Callable[..., Any]

    def placed_order(self) -> str:
        """An order for a physical product, paid by a card the session's payment gateway approves."""
        sku = self.publish_product(kind="physical", amount=2500, currency="EUR").data.sku
        response = self.post_order(
            {
                "customer_email": "ann@example.com",
                "payment_token": "tok_visa",
                "lines": [{"sku": sku, "quantity": 2}],
                "shipping_address": {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"},
            }
        )
        assert response.status_code == 201, response.body
        return str(json.loads(response.body)["order_id"])

    def order(self, order_id: str) -> Any:
        order = self.app.repository.order(order_id)
        assert order is not None
        return order


@pytest.fixture
def orders(orders_app: ModuleType, aws: Any, post_order: Callable[..., Any], publish_product: Callable[..., Any]) -> Orders:
    return Orders(orders_app, aws, post_order, publish_product)


def about_a_placed_order(orders: Orders, example: dict[str, Any]) -> dict[str, Any]:
    order_id = orders.placed_order()
    return as_new_event(example, order_id, order_id=order_id)


def about_a_new_product(orders: Orders, example: dict[str, Any]) -> dict[str, Any]:
    sku = f"SKU-{uuid.uuid4().hex[:12].upper()}"
    return as_new_event(example, f"product:{sku}", sku=sku)


def product_view_was_kept(orders: Orders, detail: dict[str, Any]) -> None:
    product = detail["data"]
    view = orders.app.repository.product_views([product["sku"]])[product["sku"]]
    assert (view.name, view.kind, view.price_amount, view.currency, view.revision) == (
        product["name"],
        product["kind"],
        product["price"]["amount"],
        product["price"]["currency"],
        product["revision"],
    )


def on_the_timeline(orders: Orders, detail: dict[str, Any], summary: str) -> Any:
    order = orders.order(detail["data"]["order_id"])
    metadata = detail["metadata"]
    [entry] = [entry for entry in order.timeline if entry.event_id == metadata["event_id"]]
    assert entry.event_type == metadata["event_type"]
    assert datetime.fromisoformat(entry.occurred_at) == datetime.fromisoformat(metadata["occurred_at"])
    assert entry.summary == summary
    return order


def payment_was_captured(orders: Orders, detail: dict[str, Any]) -> None:
    order = on_the_timeline(orders, detail, "stock reserved")
    assert order.status == "PAID"
    [captured] = orders.aws.outbox(correlation_id=order.order_id, event_type="PaymentCaptured")
    assert captured["detail"]["metadata"]["causation_id"] == detail["metadata"]["event_id"]


def rejection_was_recorded(orders: Orders, detail: dict[str, Any]) -> None:
    assert on_the_timeline(orders, detail, f"rejected: {detail['data']['reason']}").status == "REJECTED"


def release_was_recorded(orders: Orders, detail: dict[str, Any]) -> None:
    on_the_timeline(orders, detail, "reserved stock released")


def shipment_was_recorded(orders: Orders, detail: dict[str, Any]) -> None:
    order = on_the_timeline(orders, detail, f"shipment requested ({detail['data']['shipment_id']})")
    assert order.status == "SHIPMENT_REQUESTED"


@pytest.fixture
def consumer(orders: Orders) -> Consumer[Orders]:
    return Consumer(orders, orders.app, markers_in=orders.aws)


class TestOrdersAsConsumer(ConsumerContractTests):
    SERVICE = SERVICE
    SCENARIOS = {
        "orders.product-view:ProductPublished.v1": Scenario(about_a_new_product, product_view_was_kept),
        "orders.charge-payment:StockReserved.v1": Scenario(about_a_placed_order, payment_was_captured),
        "orders.order-history:StockRejected.v1": Scenario(about_a_placed_order, rejection_was_recorded),
        "orders.order-history:StockReleased.v1": Scenario(about_a_placed_order, release_was_recorded),
        "orders.order-history:ShipmentRequested.v1": Scenario(about_a_placed_order, shipment_was_recorded),
    }
