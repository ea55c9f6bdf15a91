"""The payment step (StockReserved -> charge -> PaymentCaptured/PaymentFailed) and the order history,
against a real (in-process) moto DynamoDB; the gateway is a recording fake, or the app's own Stripe
adapter against the session's fake Stripe (the adapter alone: test_payments.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

import pytest

from chalicelib import usecases
from chalicelib.api_models import LineRequest, PlaceOrderRequest
from chalicelib.payments import ChargeOutcome, PaymentGatewayUnavailable
from shop_contracts.events import ShipmentRequestedV1, StockLine, StockRejectedV1, StockReleasedV1, StockReservedV1
from shop_devstack.dispatcher import LambdaContext
from shop_devstack.testing import eventbridge_body, lambda_sqs_event, subscription_queue_arn
from shop_eventing.envelope import DomainEvent, EventData, new_event
from shop_eventing.outbox import AlreadyProcessed

CHARGE = "orders.charge-payment"
HISTORY = "orders.order-history"

# Whoever signed in to place the order: its sub travels on with the order's events.
CUSTOMER_ID = "7d0b3c2e-customer-sub"


@dataclass
class FakeGateway:
    """A PaymentGateway that answers from a script and records every call."""

    outcomes: list[ChargeOutcome | Exception] = field(default_factory=lambda: [ChargeOutcome(approved=True, charge_id="ch_1")])
    calls: list[dict[str, Any]] = field(default_factory=list)

    def charge(self, *, idempotency_key: str, amount: int, currency: str, token: str, description: str) -> ChargeOutcome:
        self.calls.append(
            {
                "idempotency_key": idempotency_key,
                "amount": amount,
                "currency": currency,
                "token": token,
                "description": description,
            }
        )
        outcome = self.outcomes[min(len(self.calls), len(self.outcomes)) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class Orders:
    """The orders use cases wired to the app's repository and unit of work."""

    def __init__(self, app: ModuleType, aws: Any, publish_product: Any) -> None:
        self.app = app
        self.aws = aws
        self.publish_product = publish_product

    def place(self, *, token: str = "tok_visa", kind: str = "physical", amount: int = 1250, quantity: int = 2) -> str:
        sku = self.publish_product(kind=kind, amount=amount).data.sku
        request = PlaceOrderRequest(
            customer_email="buyer@example.com",
            payment_token=token,
            lines=[LineRequest(sku=sku, quantity=quantity)],
            shipping_address="1 Main St" if kind == "physical" else None,
        )
        order, _ = usecases.place(request, uuid.uuid4().hex, CUSTOMER_ID, self.app.repository, self.app.unit_of_work)
        return order.order_id

    def order(self, order_id: str) -> Any:
        order = self.app.repository.order(order_id)
        assert order is not None
        return order

    def charge(self, event: DomainEvent, gateway: Any) -> None:
        usecases.charge_payment(event, CHARGE, self.app.repository, self.app.unit_of_work, gateway)

    def history(self, event: DomainEvent) -> None:
        usecases.record_history(event, HISTORY, self.app.repository, self.app.unit_of_work)

    def events(self, order_id: str, event_type: str | None = None) -> list[dict[str, Any]]:
        match = {"correlation_id": order_id} | ({"event_type": event_type} if event_type else {})
        return self.aws.outbox(**match)


@pytest.fixture
def orders(orders_app: ModuleType, aws: Any, publish_product: Any) -> Orders:
    return Orders(orders_app, aws, publish_product)


def caused_by_catalog(data: EventData, order_id: str) -> DomainEvent:
    return new_event(data, producer="shop.catalog", correlation_id=order_id)


def stock_reserved(order_id: str) -> DomainEvent:
    return caused_by_catalog(StockReservedV1(order_id=order_id, lines=[]), order_id)


def published_types(orders: Orders, order_id: str) -> list[str]:
    """Event types published for an order, OrderPlaced counted in its v1 form only (its v2 twin is
    checked in test_api)."""
    return [
        item["event_type"]
        for item in orders.events(order_id)
        if not (item["event_type"] == "OrderPlaced" and item["schema_version"] == 2)
    ]


# -- the charge -----------------------------------------------------------------------------------


def test_approved_charge_publishes_payment_captured_and_the_order_is_paid(orders):
    order_id = orders.place(amount=1250, quantity=2)
    gateway = FakeGateway([ChargeOutcome(approved=True, charge_id="ch_approved")])
    reserved = stock_reserved(order_id)

    orders.charge(reserved, gateway)

    assert gateway.calls == [
        {
            "idempotency_key": f"order-{order_id}",
            "amount": 2500,
            "currency": "USD",
            "token": "tok_visa",
            "description": f"order {order_id}",
        }
    ]
    order = orders.order(order_id)
    assert (order.status, order.payment_id) == ("PAID", "ch_approved")
    assert [entry.event_type for entry in order.timeline] == ["OrderPlaced", "StockReserved", "PaymentCaptured"]
    assert published_types(orders, order_id) == ["OrderPlaced", "PaymentCaptured"]
    [captured] = orders.events(order_id, "PaymentCaptured")
    data = captured["detail"]["data"]
    assert (data["order_id"], data["payment_id"], data["amount"]) == (
        order_id,
        "ch_approved",
        {"amount": 2500, "currency": "USD"},
    )
    assert (data["customer_email"], data["shipping_address"], data["customer_id"]) == (
        "buyer@example.com",
        "1 Main St",
        CUSTOMER_ID,
    )
    assert [(line["kind"], line["quantity"], line["unit_price"]) for line in data["lines"]] == [
        ("physical", 2, {"amount": 1250, "currency": "USD"})
    ]
    metadata = captured["detail"]["metadata"]
    assert (metadata["causation_id"], metadata["correlation_id"], metadata["producer"]) == (
        reserved.event_id,
        order_id,
        "shop.orders",
    )
    assert orders.aws.processed(CHARGE, reserved.event_id)


def test_declined_charge_publishes_payment_failed_with_the_reason(orders):
    order_id = orders.place(token="tok_chargeDeclined", amount=700, quantity=1)
    gateway = FakeGateway([ChargeOutcome(approved=False, decline_code="card_declined")])

    orders.charge(stock_reserved(order_id), gateway)

    order = orders.order(order_id)
    assert (order.status, order.payment_id) == ("PAYMENT_FAILED", None)
    assert published_types(orders, order_id) == ["OrderPlaced", "PaymentFailed"]
    [failed] = orders.events(order_id, "PaymentFailed")
    assert failed["detail"]["data"] == {
        "order_id": order_id,
        "amount": {"amount": 700, "currency": "USD"},
        "customer_email": "buyer@example.com",
        "reason": "card_declined",
        "customer_id": CUSTOMER_ID,
        "locale": "ja",
    }
    assert order.timeline[-1].summary == "payment failed (card_declined)"


def test_unavailable_gateway_propagates_and_writes_only_the_claim(orders):
    order_id = orders.place()
    before = orders.order(order_id)
    gateway = FakeGateway([PaymentGatewayUnavailable("503")])
    reserved = stock_reserved(order_id)

    with pytest.raises(PaymentGatewayUnavailable):
        orders.charge(reserved, gateway)

    after = orders.order(order_id)
    # The claim made before asking the gateway (no cancel may slip in while a charge is out), nothing more.
    assert after.status == "STOCK_RESERVED"
    assert (after.version, after.payment_id, after.charge_started) == (before.version + 1, None, True)
    assert [entry.event_id for entry in after.timeline] == [entry.event_id for entry in before.timeline] + [reserved.event_id]
    assert published_types(orders, order_id) == ["OrderPlaced"]
    assert not orders.aws.processed(CHARGE, reserved.event_id)


def test_the_retry_after_an_outage_charges_with_the_same_key_and_succeeds(orders):
    order_id = orders.place()
    gateway = FakeGateway([PaymentGatewayUnavailable("503"), ChargeOutcome(approved=True, charge_id="ch_later")])
    reserved = stock_reserved(order_id)
    with pytest.raises(PaymentGatewayUnavailable):
        orders.charge(reserved, gateway)

    orders.charge(reserved, gateway)

    assert [call["idempotency_key"] for call in gateway.calls] == [f"order-{order_id}"] * 2
    assert orders.order(order_id).status == "PAID"
    assert published_types(orders, order_id) == ["OrderPlaced", "PaymentCaptured"]


def test_duplicate_stock_reserved_is_already_processed_and_charges_once(orders):
    order_id = orders.place()
    gateway = FakeGateway()
    reserved = stock_reserved(order_id)
    orders.charge(reserved, gateway)

    with pytest.raises(AlreadyProcessed):
        orders.charge(reserved, gateway)

    assert len(gateway.calls) == 1
    assert published_types(orders, order_id) == ["OrderPlaced", "PaymentCaptured"]
    assert [entry.event_type for entry in orders.order(order_id).timeline] == ["OrderPlaced", "StockReserved", "PaymentCaptured"]


def test_another_stock_reserved_for_a_paid_order_does_not_charge_again(orders):
    order_id = orders.place()
    gateway = FakeGateway()
    orders.charge(stock_reserved(order_id), gateway)

    orders.charge(stock_reserved(order_id), gateway)

    assert len(gateway.calls) == 1
    assert orders.order(order_id).status == "PAID"
    assert published_types(orders, order_id) == ["OrderPlaced", "PaymentCaptured"]


def test_stock_reserved_for_an_unknown_order_fails_for_a_retry(orders):
    gateway = FakeGateway()

    with pytest.raises(LookupError):
        orders.charge(stock_reserved(f"ord-{uuid.uuid4()}"), gateway)

    assert gateway.calls == []


def test_an_order_that_moved_under_the_charge_is_read_again_and_saved_once(orders, monkeypatch):
    """Another event lands on the order between our read and our write: optimistic concurrency retries."""
    order_id = orders.place()
    repository = orders.app.repository
    real_order = repository.order
    raced: list[str] = []

    def order_then_race(wanted: str) -> Any:
        found = real_order(wanted)
        if not raced:
            raced.append(wanted)
            released = caused_by_catalog(StockReleasedV1(order_id=order_id, lines=[]), order_id)
            orders.history(released)  # bumps the stored version
        return found

    monkeypatch.setattr(repository, "order", order_then_race)
    gateway = FakeGateway()

    orders.charge(stock_reserved(order_id), gateway)

    monkeypatch.undo()
    order = orders.order(order_id)
    assert order.status == "PAID"
    assert sorted(entry.event_type for entry in order.timeline) == sorted(
        ["OrderPlaced", "StockReleased", "StockReserved", "PaymentCaptured"]
    )
    # The race hit the claim, written before the gateway is asked: asked once, published once.
    assert [call["idempotency_key"] for call in gateway.calls] == [f"order-{order_id}"]
    assert published_types(orders, order_id) == ["OrderPlaced", "PaymentCaptured"]


def test_a_free_order_is_not_reported_as_a_declined_card(orders, aws):
    order_id = orders.place(kind="digital", amount=0, quantity=1)

    orders.charge(stock_reserved(order_id), orders.app.gateway)

    assert orders.order(order_id).status == "PAID"


# -- order history ----------------------------------------------------------------------------------


def test_stock_rejected_goes_on_the_timeline_and_rejects_the_order(orders):
    order_id = orders.place()
    rejected = caused_by_catalog(StockRejectedV1(order_id=order_id, reason="out_of_stock", unavailable=[]), order_id)

    orders.history(rejected)

    order = orders.order(order_id)
    assert order.status == "REJECTED"
    assert [(e.event_type, e.summary) for e in order.timeline][-1] == ("StockRejected", "rejected: out_of_stock")
    with pytest.raises(AlreadyProcessed):
        orders.history(rejected)
    assert len(orders.order(order_id).timeline) == 2


def test_shipment_requested_stamped_before_the_capture_still_sorts_and_ends_shipment_requested(orders):
    """Clock skew between services: fulfillment's event claims an earlier time than the capture it follows."""
    order_id = orders.place()
    orders.charge(stock_reserved(order_id), FakeGateway())
    captured_at = orders.order(order_id).timeline[-1].occurred_at
    shipped = new_event(
        ShipmentRequestedV1(
            shipment_id="shp_1", order_id=order_id, lines=[StockLine(sku="X", quantity=1)], shipping_address="1 Main St"
        ),
        producer="shop.fulfillment",
        correlation_id=order_id,
        now=datetime.fromisoformat(captured_at) - timedelta(minutes=5),
    )

    orders.history(shipped)

    order = orders.order(order_id)
    assert order.status == "SHIPMENT_REQUESTED"
    assert [entry.occurred_at for entry in order.timeline] == sorted(entry.occurred_at for entry in order.timeline)
    assert order.timeline[-1].event_type == "PaymentCaptured"
    assert ("ShipmentRequested", "shipment requested (shp_1)") in [(e.event_type, e.summary) for e in order.timeline]
    with pytest.raises(AlreadyProcessed):
        orders.history(shipped)
    assert len(orders.order(order_id).timeline) == 4


def test_a_late_redelivery_of_stock_reserved_after_shipment_charges_nothing(orders):
    order_id = orders.place()
    gateway = FakeGateway()
    reserved = stock_reserved(order_id)
    orders.charge(reserved, gateway)
    orders.history(
        new_event(
            ShipmentRequestedV1(shipment_id="shp_2", order_id=order_id, lines=[], shipping_address="1 Main St"),
            producer="shop.fulfillment",
            correlation_id=order_id,
        )
    )

    with pytest.raises(AlreadyProcessed):
        orders.charge(reserved, gateway)

    assert len(gateway.calls) == 1
    assert orders.order(order_id).status == "SHIPMENT_REQUESTED"


# -- through the subscriber (the Lambda entry) ------------------------------------------------------


def sqs_event(*events: DomainEvent) -> dict[str, Any]:
    """A Lambda SQS event whose bodies are EventBridge events, one record per event, distinct messageIds."""
    return lambda_sqs_event(*map(eventbridge_body, events), queue_arn=subscription_queue_arn("orders", "charge-payment"))


def test_payment_subscriber_charges_the_real_gateway_once_for_a_duplicated_delivery(orders, aws):
    order_id = orders.place()
    reserved = stock_reserved(order_id)
    context = LambdaContext("shop-local-orders-charge-payment", timeout_seconds=30)

    first = orders.app.payment_subscriber.handle(sqs_event(reserved, reserved), context)
    again = orders.app.payment_subscriber.handle(sqs_event(reserved), context)

    assert first == again == {"batchItemFailures": []}
    assert orders.order(order_id).status == "PAID"
    assert len(aws.gateway.payment_intents(f"order-{order_id}")) == 1
    assert published_types(orders, order_id) == ["OrderPlaced", "PaymentCaptured"]


def test_payment_subscriber_reports_a_gateway_outage_as_a_batch_item_failure(orders):
    flaky = stock_reserved(orders.place(token="tok_flaky"))
    fine = stock_reserved(orders.place(token="tok_visa"))
    batch = sqs_event(flaky, fine)
    context = LambdaContext("shop-local-orders-charge-payment", timeout_seconds=30)

    first = orders.app.payment_subscriber.handle(batch, context)
    # SQS delivers the failed record again (same body, its own receipt).
    retried = orders.app.payment_subscriber.handle(sqs_event(flaky), context)

    assert first == {"batchItemFailures": [{"itemIdentifier": batch["Records"][0]["messageId"]}]}
    assert retried == {"batchItemFailures": []}
    assert orders.order(flaky.data.order_id).status == "PAID"
    assert orders.order(fine.data.order_id).status == "PAID"
