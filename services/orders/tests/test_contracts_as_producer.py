"""orders' consumer contracts, producer side: for every consumer's declaration about an event orders
publishes, orders' real code (POST /orders, the charge-payment subscription against the session's
payment gateway) is driven into the declared provider state and the event it writes to its outbox
must give that consumer every field it relies on.

A new consumer declaration gets its producer test here without anyone editing this file, unless it
names a provider state orders does not know yet (shop_devstack.contract_testing says how)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from chalicelib import status_changes, usecases
from shop_contracts.consumer_contracts import check, committed_schema, schema_errors, the_event
from shop_contracts.events import Money, PaymentCapturedV1, ProductPublishedV1, StockLine, StockReservedV1, VideoAccess
from shop_devstack.contract_testing import Producer, ProducerContractTests, declarations_produced_by
from shop_devstack.testing import deliver_to_subscription, eventbridge_body, raw_eventbridge_body
from shop_eventing.envelope import new_event
from shop_eventing.relay import stream_change

SERVICE = "orders"
DECLARATIONS = declarations_produced_by(SERVICE)
ADDRESS = {
    "recipient": "Ann Example",
    "line1": "1 Main St",
    "line2": "Flat 2",
    "city": "Springfield",
    "postal_code": "12345",
    "country": "US",
}
PHYSICAL_UNITS = 2


@dataclass
class OrdersProducer(Producer):
    post_order: Callable[..., Any]
    publish_product: Callable[..., Any]
    client: Any

    def place_order(self, payment_token: str) -> tuple[str, str]:
        """POST /orders for a physical and a digital product, to ADDRESS; returns (order id, physical sku)."""
        physical = self.publish_product(kind="physical", amount=2500, currency="EUR").data.sku
        digital = self.publish_product(kind="digital", amount=399, currency="EUR").data.sku
        response = self.post_order(
            {
                "customer_email": "ann@example.com",
                "payment_token": payment_token,
                "lines": [{"sku": physical, "quantity": PHYSICAL_UNITS}, {"sku": digital, "quantity": 1}],
                "shipping_address": ADDRESS,
            }
        )
        assert response.status_code == 201, response.body
        return str(json.loads(response.body)["order_id"]), physical

    def reserve_and_charge(self, payment_token: str) -> str:
        """An order placed, then its StockReserved handed to the charge-payment subscription."""
        order_id, physical = self.place_order(payment_token)
        reserved = StockReservedV1(order_id=order_id, lines=[StockLine(sku=physical, quantity=PHYSICAL_UNITS)])
        event = new_event(reserved, producer="shop.catalog", correlation_id=order_id)
        assert deliver_to_subscription(self.app, SERVICE, "charge-payment", eventbridge_body(event)) == {"batchItemFailures": []}
        return order_id

    def cancel(self, order_id: str) -> None:
        """The customer who placed it cancels it through the API."""
        response = self.client.http.post(
            f"/orders/{order_id}/cancel",
            body=json.dumps({"reason": "changed my mind"}),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.body


@pytest.fixture
def producer(
    orders_app: ModuleType,
    aws: Any,
    post_order: Callable[..., Any],
    publish_product: Callable[..., Any],
    client: Any,
) -> OrdersProducer:
    return OrdersProducer(orders_app, aws, post_order, publish_product, client)


def an_order_is_placed(producer: OrdersProducer) -> list[dict[str, Any]]:
    order_id, _ = producer.place_order("tok_visa")
    return producer.events_about(order_id)


def an_order_is_paid(producer: OrdersProducer) -> list[dict[str, Any]]:
    return producer.events_about(producer.reserve_and_charge("tok_visa"))


def an_order_is_declined(producer: OrdersProducer) -> list[dict[str, Any]]:
    return producer.events_about(producer.reserve_and_charge("tok_chargeDeclined"))


def a_paid_order_is_cancelled_by_its_customer(producer: OrdersProducer) -> list[dict[str, Any]]:
    order_id = producer.reserve_and_charge("tok_visa")
    producer.cancel(order_id)
    return producer.events_about(order_id)


def a_cancelled_paid_order_is_refunded(producer: OrdersProducer) -> list[dict[str, Any]]:
    """The cancel's own OrderCancelled handed to orders' refund-on-cancel subscription."""
    order_id = producer.reserve_and_charge("tok_visa")
    producer.cancel(order_id)
    cancelled = the_event(producer.events_about(order_id), "OrderCancelled", 1)
    body = raw_eventbridge_body(cancelled, detail_type="OrderCancelled", source="shop.orders")
    assert deliver_to_subscription(producer.app, SERVICE, "refund-on-cancel", body) == {"batchItemFailures": []}
    return producer.events_about(order_id)


def a_live_ticket_order_is_paid(producer: OrdersProducer) -> list[dict[str, Any]]:
    """A customer buys a live show's ticket (a digital product whose access names the show) and pays."""
    sku = f"LIVE-{uuid.uuid4().hex[:10].upper()}"
    ticket = ProductPublishedV1(
        sku=sku,
        name="Live in Tokyo",
        kind="digital",
        price=Money(amount=3000, currency="JPY"),
        revision=1,
        product_type="live_ticket",
        access=VideoAccess(product_type="live_ticket", live_show_id=f"show-{uuid.uuid4().hex[:8]}"),
    )
    usecases.update_product_view(new_event(ticket, producer="shop.catalog", correlation_id=sku), "t", producer.app.unit_of_work)
    body = {
        "customer_email": "ann@example.com",
        "payment_token": "tok_visa",
        "locale": "en",
        "lines": [{"sku": sku, "quantity": 1}],
    }
    response = producer.post_order(body)
    assert response.status_code == 201, response.body
    order_id = str(json.loads(response.body)["order_id"])
    reserved = new_event(
        StockReservedV1(order_id=order_id, lines=[StockLine(sku=sku, quantity=1)]),
        producer="shop.catalog",
        correlation_id=order_id,
    )
    assert deliver_to_subscription(producer.app, SERVICE, "charge-payment", eventbridge_body(reserved)) == {
        "batchItemFailures": []
    }
    return producer.events_about(order_id)


def a_signed_in_customers_order_is_paid(producer: OrdersProducer) -> list[dict[str, Any]]:
    """What the relay's change feed announces from the table's stream about a paid order (no outbox
    item: the stream itself is OrderStatusChanged's source); the POST was signed in as ada."""
    order_id = producer.reserve_and_charge("tok_visa")
    changes = [stream_change(record) for record in producer.aws.stream_records(f"ORDER#{order_id}")]
    statuses = [event.to_detail() for change in changes for event in status_changes.order_status_changes(change)]
    assert [status["data"]["status"] for status in statuses] == ["PENDING", "STOCK_RESERVED", "PAID"]
    return statuses[-1:]


PAID = "a physical order whose stock was reserved and whose payment was captured"


class TestOrdersAsProducer(ProducerContractTests):
    SERVICE = SERVICE
    # Provider state (as consumers name it) -> drives orders' real code into it; returns the details
    # orders published there.
    PROVIDER_STATES = {
        "a customer placed an order for a physical and a digital product, shipped to a structured address": an_order_is_placed,
        PAID: an_order_is_paid,
        "an order whose stock was reserved and whose payment was declined": an_order_is_declined,
        "a customer cancelled a paid order before its shipment was handed to the logistics service": (
            a_paid_order_is_cancelled_by_its_customer
        ),
        # catalog.release-stock's name for it (its stock was reserved, as a paid order's is).
        "a customer cancelled an order whose stock was reserved": a_paid_order_is_cancelled_by_its_customer,
        # The order placed by place_order has a physical line.
        "a customer cancelled a paid order with physical lines before its shipment was handed to the logistics service": (
            a_paid_order_is_cancelled_by_its_customer
        ),
        "a customer cancelled a paid order and its payment was refunded in full": a_cancelled_paid_order_is_refunded,
        "a customer paid for a live show's ticket": a_live_ticket_order_is_paid,
        "a signed-in customer's order was placed, reserved and paid": a_signed_in_customers_order_is_paid,
    }


def test_orders_has_consumers_to_satisfy() -> None:
    # At least these (other services declare more as they start consuming orders' events).
    assert {(d.event_type, d.schema_version) for d in DECLARATIONS} >= {
        ("OrderPlaced", 1),
        ("OrderPlaced", 2),
        ("PaymentCaptured", 1),
        ("PaymentFailed", 1),
        ("OrderCancelled", 1),
        ("PaymentRefunded", 1),
        ("OrderStatusChanged", 1),
    }


def test_the_check_bites_when_orders_stops_setting_a_relied_on_field(
    producer: OrdersProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def payment_captured_without_the_address(**fields: Any) -> PaymentCapturedV1:
        # The planted regression: the charge step forgets to copy the order's address.
        return PaymentCapturedV1(**{**fields, "shipping_address": None})

    monkeypatch.setattr(usecases, "PaymentCapturedV1", payment_captured_without_the_address)

    detail = the_event(an_order_is_paid(producer), "PaymentCaptured", 1)

    # notify and vod read the same event but not the address: only fulfillment is broken.
    assert {d.id: check(d, detail) for d in DECLARATIONS if d.event_type == "PaymentCaptured"} == {
        "fulfillment.request-shipment:PaymentCaptured.v1": [
            "fulfillment.request-shipment relies on PaymentCaptured v1 field data.shipping_address: data.shipping_address is null"
        ],
        "notify.order-emails:PaymentCaptured.v1": [],
        "notify.crm-sync:PaymentCaptured.v1": [],
        "notify.sales-ledger:PaymentCaptured.v1": [],
        "notify.show-reminders:PaymentCaptured.v1": [],
        "vod.grant-access:PaymentCaptured.v1": [],
    }


def test_the_check_bites_when_orders_loses_part_of_the_structured_address(
    producer: OrdersProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_placed_v2 = usecases.OrderPlacedV2

    def order_placed_v2_without_a_postal_code(**fields: Any) -> Any:
        # The planted regression: the v2 event is built from an address that lost its postal code.
        address = fields["shipping_address"]
        return real_placed_v2(**{**fields, "shipping_address": address.model_copy(update={"postal_code": None})})

    monkeypatch.setattr(usecases, "OrderPlacedV2", order_placed_v2_without_a_postal_code)

    detail = the_event(an_order_is_placed(producer), "OrderPlaced", 2)

    assert {d.id: check(d, detail) for d in DECLARATIONS if (d.event_type, d.schema_version) == ("OrderPlaced", 2)} == {
        "fulfillment.delivery-addresses:OrderPlaced.v2": [
            "fulfillment.delivery-addresses relies on OrderPlaced v2 field data.shipping_address.postal_code: "
            "data.shipping_address.postal_code is null"
        ]
    }


@pytest.mark.parametrize("state", sorted(TestOrdersAsProducer.PROVIDER_STATES))
def test_every_event_orders_publishes_in_each_state_passes_its_committed_schema(producer: OrdersProducer, state: str) -> None:
    """Whether or not a consumer declares it yet: each state's events match their committed schemas."""
    details = TestOrdersAsProducer.PROVIDER_STATES[state](producer)

    assert details
    for detail in details:
        metadata = detail["metadata"]
        assert schema_errors(committed_schema(metadata["event_type"], metadata["schema_version"]), detail) == [], metadata


def test_a_refunded_cancellation_publishes_what_the_refund_s_consumers_read(producer: OrdersProducer) -> None:
    detail = the_event(a_cancelled_paid_order_is_refunded(producer), "PaymentRefunded", 1)

    data = detail["data"]
    assert (data["fully_refunded"], data["initiated_by"], data["amount"], data["refunded_total"]) == (
        True,
        "customer_cancellation",
        {"amount": 2 * 2500 + 399, "currency": "EUR"},
        {"amount": 2 * 2500 + 399, "currency": "EUR"},
    )
    assert data["skus"] and data["refund_id"] and data["reason"].startswith("order cancelled: ")
