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

from chalicelib import usecases
from shop_contracts.events import Money, ProductPublishedV1, StockLine, StockReservedV1, VideoAccess
from shop_devstack.contract_testing import (
    Consumer,
    ConsumerContractTests,
    Scenario,
    as_new_event,
)
from shop_devstack.testing import deliver_to_subscription, eventbridge_body
from shop_eventing.envelope import new_event

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

    def paid_rental_order(self) -> tuple[str, str]:
        """A paid order for one video rental of its own (order id, sku): catalog's product event, the
        customer's POST /orders, the stock reservation through charge-payment."""
        sku = f"RENT-{uuid.uuid4().hex[:12].upper()}"
        product = ProductPublishedV1(
            sku=sku,
            name="48-hour rental",
            kind="digital",
            price=Money(amount=399, currency="EUR"),
            revision=1,
            product_type="video_rental",
            access=VideoAccess(product_type="video_rental", video_id=f"vid_{uuid.uuid4().hex[:20]}", rental_hours=48),
        )
        usecases.update_product_view(
            new_event(product, producer="shop.catalog", correlation_id=f"product:{sku}"), "t", self.app.unit_of_work
        )
        response = self.post_order(
            {"customer_email": "ann@example.com", "payment_token": "tok_visa", "lines": [{"sku": sku, "quantity": 1}]}
        )
        assert response.status_code == 201, response.body
        order_id = str(json.loads(response.body)["order_id"])
        reserved = StockReservedV1(order_id=order_id, lines=[StockLine(sku=sku, quantity=1)])
        event = new_event(reserved, producer="shop.catalog", correlation_id=order_id)
        assert deliver_to_subscription(self.app, SERVICE, "charge-payment", eventbridge_body(event)) == {"batchItemFailures": []}
        assert self.order(order_id).status == "PAID"
        return order_id, sku

    def order(self, order_id: str) -> Any:
        order = self.app.repository.order(order_id)
        assert order is not None
        return order

    def paid_order(self) -> str:
        """placed_order, its stock reserved and its payment captured through the charge-payment subscription."""
        order_id = self.placed_order()
        reserved = StockReservedV1(order_id=order_id, lines=[StockLine(sku=self.order(order_id).lines[0].sku, quantity=2)])
        event = new_event(reserved, producer="shop.catalog", correlation_id=order_id)
        assert deliver_to_subscription(self.app, SERVICE, "charge-payment", eventbridge_body(event)) == {"batchItemFailures": []}
        assert self.order(order_id).status == "PAID"
        return order_id


@pytest.fixture
def orders(orders_app: ModuleType, aws: Any, post_order: Callable[..., Any], publish_product: Callable[..., Any]) -> Orders:
    return Orders(orders_app, aws, post_order, publish_product)


def about_a_placed_order(orders: Orders, example: dict[str, Any]) -> dict[str, Any]:
    order_id = orders.placed_order()
    return as_new_event(example, order_id, order_id=order_id)


def about_a_new_product(orders: Orders, example: dict[str, Any]) -> dict[str, Any]:
    sku = f"SKU-{uuid.uuid4().hex[:12].upper()}"
    return as_new_event(example, f"product:{sku}", sku=sku)


def about_a_published_product(orders: Orders, example: dict[str, Any]) -> dict[str, Any]:
    """The product published at a revision below the example's, so the example is the newer one."""
    sku = orders.publish_product(revision=1).data.sku
    return as_new_event(example, f"product:{sku}", sku=sku)


def product_view_was_updated(orders: Orders, detail: dict[str, Any]) -> None:
    product_view_was_kept(orders, detail)
    view = orders.app.repository.product_views([detail["data"]["sku"]])[detail["data"]["sku"]]
    assert (view.product_type, view.retired) == (detail["data"]["product_type"], False)


def product_was_retired(orders: Orders, detail: dict[str, Any]) -> None:
    sku = detail["data"]["sku"]
    view = orders.app.repository.product_views([sku])[sku]
    assert (view.retired, view.revision) == (True, detail["data"]["revision"])
    assert sku not in {v.sku for v in orders.app.repository.all_product_views()}


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


def about_a_paid_order(orders: Orders, example: dict[str, Any]) -> dict[str, Any]:
    order_id = orders.paid_order()
    return as_new_event(example, order_id, order_id=order_id)


def cancelled_paid_order(orders: Orders) -> Any:
    order_id = orders.paid_order()
    order, _ = usecases.cancel(
        order_id,
        by="customer",
        actor="ann",
        reason="ordered the wrong size",
        repository=orders.app.repository,
        new_uow=orders.app.unit_of_work,
    )
    return order


def about_a_cancelled_paid_order(orders: Orders, example: dict[str, Any]) -> dict[str, Any]:
    order = cancelled_paid_order(orders)
    return as_new_event(example, order.order_id, order_id=order.order_id)


def as_the_cancellation_of_a_paid_order(orders: Orders, example: dict[str, Any]) -> dict[str, Any]:
    """The example as the OrderCancelled orders published for the order: refund-on-cancel gives back only
    for a cancellation the order records (its event_id)."""
    order = cancelled_paid_order(orders)
    detail = as_new_event(example, order.order_id, order_id=order.order_id)
    detail["metadata"]["event_id"] = order.cancellation.event_id
    return detail


def shipment_step_was_recorded(summary: Callable[[dict[str, Any]], str], statuses: tuple[str, str]) -> Any:
    def effect(orders: Orders, detail: dict[str, Any]) -> None:
        order = on_the_timeline(orders, detail, summary(detail["data"]))
        assert (order.status, order.fulfillment_status) == statuses

    return effect


def tracking_was_kept(orders: Orders, detail: dict[str, Any]) -> None:
    data = detail["data"]
    order = on_the_timeline(orders, detail, f"dispatched with {data['carrier']}, tracking number {data['tracking_number']}")
    assert (order.status, order.fulfillment_status) == ("SHIPPED", "shipped")
    assert order.tracking == {
        "carrier": data["carrier"],
        "tracking_number": data["tracking_number"],
        "tracking_url": data["tracking_url"],
    }


def the_payment_was_refunded(orders: Orders, detail: dict[str, Any]) -> None:
    order = orders.order(detail["data"]["order_id"])
    assert (order.status, order.payment_status, order.refunded_amount) == ("CANCELLED", "refunded", order.total)
    [refunded] = orders.aws.outbox(correlation_id=order.order_id, event_type="PaymentRefunded")
    assert refunded["detail"]["metadata"]["causation_id"] == detail["metadata"]["event_id"]
    assert refunded["detail"]["data"]["initiated_by"] == "customer_cancellation"
    # The session's fake Stripe gave it back, once.
    given_back = [r for r in orders.aws.gateway.refunds() if r["payment_intent"] == order.payment_id]
    assert [r["amount"] for r in given_back] == [order.total]


def about_a_paid_rental(orders: Orders, example: dict[str, Any]) -> dict[str, Any]:
    order_id, sku = orders.paid_rental_order()
    return as_new_event(example, order_id, order_id=order_id, sku=sku)


def the_line_was_delivered(orders: Orders, detail: dict[str, Any]) -> None:
    data = detail["data"]
    order = on_the_timeline(orders, detail, f"access granted: {data['sku']} (video rental, until {data['expires_at']})")
    [line] = order.lines
    assert order.line_delivery(line) == "delivered"
    assert order.deliveries[data["sku"]]["entitlement_id"] == data["entitlement_id"]
    assert (order.status, order.fulfillment_status) == ("DELIVERED", "delivered")


def the_line_was_revoked(orders: Orders, detail: dict[str, Any]) -> None:
    data = detail["data"]
    order = on_the_timeline(orders, detail, f"access revoked: {data['sku']} (video rental, order cancelled)")
    [line] = order.lines
    assert order.line_delivery(line) == "revoked"
    assert order.deliveries[data["sku"]]["revoked_at"] == data["revoked_at"]


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
        "orders.product-view:ProductUpdated.v1": Scenario(about_a_published_product, product_view_was_updated),
        "orders.product-view:ProductRetired.v1": Scenario(about_a_published_product, product_was_retired),
        "orders.order-history:ShipmentPacked.v1": Scenario(
            about_a_paid_order,
            shipment_step_was_recorded(lambda d: f"packed ({d['shipment_id']})", ("SHIPMENT_PACKED", "not_fulfilled")),
        ),
        "orders.order-history:ShipmentInstructed.v1": Scenario(
            about_a_paid_order,
            shipment_step_was_recorded(
                lambda d: f"handed to the logistics service ({d['carrier']}, {d['logistics_shipment_id']})",
                ("SHIPMENT_INSTRUCTED", "instructed"),
            ),
        ),
        "orders.order-history:ShipmentDispatched.v1": Scenario(about_a_paid_order, tracking_was_kept),
        "orders.order-history:ShipmentDelivered.v1": Scenario(
            about_a_paid_order, shipment_step_was_recorded(lambda d: f"delivered by {d['carrier']}", ("DELIVERED", "delivered"))
        ),
        "orders.order-history:ShipmentCancelled.v1": Scenario(
            about_a_cancelled_paid_order,
            shipment_step_was_recorded(lambda d: f"shipment cancelled ({d['shipment_id']})", ("CANCELLED", "cancelled")),
        ),
        "orders.refund-on-cancel:OrderCancelled.v1": Scenario(as_the_cancellation_of_a_paid_order, the_payment_was_refunded),
        "orders.digital-delivery:EntitlementGranted.v1": Scenario(about_a_paid_rental, the_line_was_delivered),
        "orders.digital-delivery:EntitlementRevoked.v1": Scenario(about_a_paid_rental, the_line_was_revoked),
    }
