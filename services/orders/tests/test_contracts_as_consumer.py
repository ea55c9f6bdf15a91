"""orders' consumer contracts, consumer side: every example it declares (consumer-contracts/) goes
through the Lambda function the app registers for that subscription and has its effect.

A declaration whose example the real handler cannot use would let a producer pass a check against
expectations orders does not actually have; these tests keep the two honest."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shop_contracts.consumer_contracts import ConsumerContract, consumed_by, discover
from shop_devstack.testing import deliver_example

SERVICE = "orders"
REPO_ROOT = Path(__file__).resolve().parents[3]
DECLARATIONS = consumed_by(discover(REPO_ROOT), SERVICE)


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


def as_new_event(example: dict[str, Any], correlation_id: str, **data: Any) -> dict[str, Any]:
    """The example with its own event_id (and the given data), so nothing earlier in the session makes it a duplicate."""
    detail = copy.deepcopy(example)
    detail["metadata"].update(event_id=str(uuid.uuid4()), correlation_id=correlation_id)
    detail["data"].update(data)
    return detail


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


@dataclass(frozen=True)
class Scenario:
    """What the handler needs before the example arrives, and the effect it must have had."""

    arrange: Callable[[Orders, dict[str, Any]], dict[str, Any]]
    effect: Callable[[Orders, dict[str, Any]], None]


SCENARIOS: dict[str, Scenario] = {
    "orders.product-view:ProductPublished.v1": Scenario(about_a_new_product, product_view_was_kept),
    "orders.charge-payment:StockReserved.v1": Scenario(about_a_placed_order, payment_was_captured),
    "orders.order-history:StockRejected.v1": Scenario(about_a_placed_order, rejection_was_recorded),
    "orders.order-history:StockReleased.v1": Scenario(about_a_placed_order, release_was_recorded),
    "orders.order-history:ShipmentRequested.v1": Scenario(about_a_placed_order, shipment_was_recorded),
}


def test_every_scenario_belongs_to_a_declaration() -> None:
    assert sorted(SCENARIOS) == sorted(d.id for d in DECLARATIONS)


@pytest.mark.parametrize("declaration", DECLARATIONS, ids=lambda d: d.id)
def test_the_subscription_handles_its_declared_example(declaration: ConsumerContract, orders: Orders) -> None:
    scenario = SCENARIOS.get(declaration.id)
    if scenario is None:
        pytest.fail(f"{declaration.location}: no scenario for {declaration.id} in {__name__}.SCENARIOS")
    detail = scenario.arrange(orders, declaration.example)
    response = deliver_example(orders.app, SERVICE, declaration.subscription, detail)

    assert response == {"batchItemFailures": []}
    # An unusable event is parked in the DLQ without a batch failure: only the marker proves it was applied.
    applied = orders.aws.processed(declaration.subscriber, detail["metadata"]["event_id"])
    assert applied, (
        f"{declaration.subscriber} did not apply the example of {declaration.location}; its DLQ reason is in the log above"
    )
    scenario.effect(orders, detail)
