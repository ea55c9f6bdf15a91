"""The order's lifecycle through the app against the embedded AWS (moto): the cancel routes, the staff
refund route, the refund-on-cancel, order-history and product-view subscriptions (each event handed to
the Lambda function the app registers, as SQS would), the charge guard for cancelled orders, and the
locale and delivery preference at checkout. The payment gateway is the session's fake for charges and
an in-memory fake of the port's refund side."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from chalicelib import usecases
from chalicelib.domain import ChargeOutcome
from chalicelib.payments import PaymentGatewayUnavailable, RefundOutcome, RefundRefused
from shop_contracts import REGISTRY
from shop_contracts.events import (
    EntitlementGrantedV1,
    EntitlementRevokedV1,
    Money,
    OrderCancelledV1,
    ProductPublishedV1,
    ProductRetiredV1,
    ProductUpdatedV1,
    ShipmentDeliveredV1,
    ShipmentDispatchedV1,
    ShipmentInstructedV1,
    ShipmentPackedV1,
    ShipmentRequestedV1,
    StockLine,
    StockReservedV1,
    VideoAccess,
)
from shop_devstack.testing import deliver_to_subscription, eventbridge_body, signed_in_client
from shop_eventing.envelope import DomainEvent, EventData, new_event
from shop_eventing.outbox import processed_marker_key, to_dynamodb

ADDRESS = {"recipient": "Ada", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}
JSON = {"Content-Type": "application/json"}
OK = {"batchItemFailures": []}


@dataclass
class Refunds:
    """The gateway port's refund side in memory: answers from a script, remembers each key's first answer
    (as a gateway's idempotency does) and records every call."""

    script: list[Exception | None] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[str, RefundOutcome] = field(default_factory=dict)

    def refund(self, *, idempotency_key: str, payment_id: str, amount: int, reason: str) -> RefundOutcome:
        self.calls.append({"idempotency_key": idempotency_key, "payment_id": payment_id, "amount": amount, "reason": reason})
        failure = self.script.pop(0) if self.script else None
        if failure is not None:
            raise failure
        return self.answers.setdefault(idempotency_key, RefundOutcome(refund_id=f"re_{uuid.uuid4().hex[:10]}", amount=amount))

    def keys(self) -> set[str]:
        return set(self.answers)


@dataclass
class Charges:
    """The charge side: approves, and runs `meanwhile` while the gateway is being asked."""

    meanwhile: Callable[[], None] | None = None
    calls: list[str] = field(default_factory=list)

    def charge(self, *, idempotency_key: str, amount: int, currency: str, token: str, description: str) -> ChargeOutcome:
        self.calls.append(idempotency_key)
        if self.meanwhile:
            self.meanwhile()
        return ChargeOutcome(approved=True, charge_id=f"pi_{idempotency_key}")


class Shop:
    """The orders app as its customers, its staff and the other services' events reach it."""

    def __init__(self, app: ModuleType, aws: Any, client: Any, staff: Any, grace: Any, publish_product: Any) -> None:
        self.app = app
        self.aws = aws
        self.client = client
        self.staff = staff
        self.grace = grace
        self.publish_product = publish_product

    def place(self, *lines: tuple[str, int], body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
        request = {
            "customer_email": "ada@example.com",
            "payment_token": "tok_visa",
            "shipping_address": ADDRESS,
            "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
            **(body or {}),
        }
        return self.client.http.post(
            "/orders", body=json.dumps(request), headers={**JSON, "Idempotency-Key": uuid.uuid4().hex, **(headers or {})}
        )

    def placed(self, *, kind: str = "physical", amount: int = 1250, quantity: int = 2) -> str:
        sku = self.publish_product(kind=kind, amount=amount).data.sku
        response = self.place((sku, quantity), body={} if kind == "physical" else {"shipping_address": None})
        assert response.status_code == 201, response.body
        return str(json.loads(response.body)["order_id"])

    def paid(self, **kwargs: Any) -> str:
        order_id = self.placed(**kwargs)
        self.reserve(order_id, Charges())
        assert self.order(order_id).status == "PAID"
        return order_id

    def reserve(self, order_id: str, gateway: Any) -> DomainEvent:
        """StockReserved handed to the charge step (with `gateway` for the charge)."""
        event = new_event(StockReservedV1(order_id=order_id, lines=[]), producer="shop.catalog", correlation_id=order_id)
        usecases.charge_payment(event, "orders.charge-payment", self.app.repository, self.app.unit_of_work, gateway)
        return event

    def order(self, order_id: str) -> Any:
        order = self.app.repository.order(order_id)
        assert order is not None
        return order

    def cancel(self, order_id: str, reason: str = "changed my mind", *, as_: Any = None, staff: bool = False) -> Any:
        who = as_ or (self.staff if staff else self.client)
        path = f"/staff/orders/{order_id}/cancel" if staff else f"/orders/{order_id}/cancel"
        return who.http.post(path, body=json.dumps({"reason": reason}), headers=JSON)

    def refund(self, order_id: str, body: Any, key: str | None = "new", *, as_: Any = None) -> Any:
        headers = dict(JSON)
        if key is not None:
            headers["Idempotency-Key"] = uuid.uuid4().hex if key == "new" else key
        raw = body if isinstance(body, str) else json.dumps(body)
        return (as_ or self.staff).http.post(f"/staff/orders/{order_id}/refunds", body=raw, headers=headers)

    def deliver(self, subscription: str, *events: DomainEvent) -> dict[str, Any]:
        return deliver_to_subscription(self.app, "orders", subscription, *(eventbridge_body(e) for e in events))

    def published(self, order_id: str, event_type: str) -> list[dict[str, Any]]:
        return [item["detail"] for item in self.aws.outbox(correlation_id=order_id, event_type=event_type)]


@pytest.fixture
def refunds(orders_app: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Refunds:
    fake = Refunds()
    monkeypatch.setattr(orders_app, "refunds", fake)
    return fake


@pytest.fixture
def shop(orders_app: ModuleType, aws: Any, client: Any, issuer: Any, publish_product: Any, refunds: Refunds) -> Iterator[Shop]:
    with signed_in_client(orders_app.app, issuer, "sam") as staff, signed_in_client(orders_app.app, issuer, "grace") as grace:
        yield Shop(orders_app, aws, client, staff, grace, publish_product)


def error_of(response: Any) -> dict[str, Any]:
    return dict(json.loads(response.body)["error"])


def fulfillment(data: EventData, order_id: str) -> DomainEvent:
    return new_event(data, producer="shop.fulfillment", correlation_id=order_id)


def shipment_story(order_id: str) -> list[DomainEvent]:
    """Fulfillment's events for one parcel, in the order fulfillment publishes them."""
    shipment, lines = f"shp-{order_id[:8]}", [StockLine(sku="BOX", quantity=2)]
    who = {"customer_email": "ada@example.com", "customer_id": "ada-sub", "locale": "en"}
    return [
        fulfillment(
            ShipmentRequestedV1(shipment_id=shipment, order_id=order_id, lines=lines, shipping_address="1 Main St"), order_id
        ),
        fulfillment(ShipmentPackedV1(shipment_id=shipment, order_id=order_id, lines=lines, packed_by="wes"), order_id),
        fulfillment(
            ShipmentInstructedV1(shipment_id=shipment, order_id=order_id, logistics_shipment_id="3pl-9", carrier="yamato"),
            order_id,
        ),
        fulfillment(
            ShipmentDispatchedV1(
                shipment_id=shipment,
                order_id=order_id,
                carrier="yamato",
                tracking_number="4912-0001",
                tracking_url="https://track.example/4912-0001",
                **who,
            ),
            order_id,
        ),
        fulfillment(
            ShipmentDeliveredV1(shipment_id=shipment, order_id=order_id, carrier="yamato", tracking_number="4912-0001", **who),
            order_id,
        ),
    ]


# -- GET: the statuses, the timeline, tracking ---------------------------------------------------------


def test_fulfillments_events_delivered_in_reverse_end_delivered_with_tracking(shop):
    order_id = shop.paid()
    story = shipment_story(order_id)

    for event in reversed(story):
        assert shop.deliver("order-history", event) == OK
        body = json.loads(shop.client.http.get(f"/orders/{order_id}").body)
        assert (body["status"], body["fulfillment_status"]) == ("DELIVERED", "delivered")

    assert body["payment_status"] == "captured"
    assert body["tracking"] == {
        "carrier": "yamato",
        "tracking_number": "4912-0001",
        "tracking_url": "https://track.example/4912-0001",
    }
    steps = [entry["event_type"] for entry in body["timeline"]]
    assert steps == ["OrderPlaced", "StockReserved", "PaymentCaptured", *(e.event_type for e in story)]
    assert [entry["summary"] for entry in body["timeline"][-3:]] == [
        "handed to the logistics service (yamato, 3pl-9)",
        "dispatched with yamato, tracking number 4912-0001",
        "delivered by yamato",
    ]


def test_fulfillments_events_in_one_batch_in_reverse_and_twice_are_recorded_once(shop):
    order_id = shop.paid()
    story = shipment_story(order_id)

    assert shop.deliver("order-history", *reversed(story), *story) == OK

    order = shop.order(order_id)
    assert (order.status, order.fulfillment_status) == ("DELIVERED", "delivered")
    assert len(order.timeline) == 3 + len(story)


def test_tracking_is_not_shown_before_dispatch(shop):
    order_id = shop.paid()
    for event in shipment_story(order_id)[:3]:
        shop.deliver("order-history", event)

    body = json.loads(shop.client.http.get(f"/orders/{order_id}").body)

    assert (body["status"], body["fulfillment_status"], body["tracking"]) == ("SHIPMENT_INSTRUCTED", "instructed", None)


def test_staff_read_any_order_and_customers_cannot_use_the_staff_route(shop):
    order_id = shop.placed()

    assert json.loads(shop.staff.http.get(f"/staff/orders/{order_id}").body)["order_id"] == order_id
    assert shop.client.http.get(f"/staff/orders/{order_id}").status_code == 403
    assert shop.staff.http.get("/staff/orders/no-such-order").status_code == 404


# -- cancel ---------------------------------------------------------------------------------------------


def test_a_customer_cancels_a_paid_order_and_orders_publishes_order_cancelled(shop):
    order_id = shop.paid()

    response = shop.cancel(order_id, "ordered the wrong size")

    assert response.status_code == 200, response.body
    body = json.loads(response.body)
    assert (body["status"], body["payment_status"], body["fulfillment_status"]) == ("CANCELLED", "captured", "cancelled")
    assert body["cancellation"] == {"cancelled_by": "customer", "reason": "ordered the wrong size"}
    assert body["timeline"][-1]["summary"] == "cancelled by the customer: ordered the wrong size"
    [cancelled] = shop.published(order_id, "OrderCancelled")
    data = cancelled["data"]
    order = shop.order(order_id)
    assert (data["order_id"], data["cancelled_by"], data["reason"], data["payment_id"]) == (
        order_id,
        "customer",
        "ordered the wrong size",
        order.payment_id,
    )
    assert (data["total"], data["customer_email"], data["locale"], data["customer_id"]) == (
        {"amount": 2500, "currency": "USD"},
        "ada@example.com",
        "ja",
        order.customer_id,
    )
    assert [line["quantity"] for line in data["lines"]] == [2]
    assert cancelled["metadata"]["event_id"] == body["timeline"][-1]["event_id"]


def test_cancelling_an_order_not_yet_paid_publishes_no_payment(shop):
    order_id = shop.placed()

    assert shop.cancel(order_id).status_code == 200

    [cancelled] = shop.published(order_id, "OrderCancelled")
    assert cancelled["data"]["payment_id"] is None
    assert shop.order(order_id).payment_status == "voided"


def test_the_same_cancel_again_answers_the_same_and_publishes_once(shop):
    order_id = shop.paid()
    first = shop.cancel(order_id, "wrong size")

    again = shop.cancel(order_id, "wrong size")

    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert json.loads(again.body) == json.loads(first.body)
    assert len(shop.published(order_id, "OrderCancelled")) == 1


def test_another_cancel_of_a_cancelled_order_is_409_already_cancelled(shop):
    order_id = shop.paid()
    shop.cancel(order_id, "wrong size")

    for response in (shop.cancel(order_id, "another reason"), shop.cancel(order_id, "wrong size", staff=True)):
        assert response.status_code == 409
        assert error_of(response)["code"] == "already_cancelled"
    assert len(shop.published(order_id, "OrderCancelled")) == 1


def test_the_customer_cannot_cancel_once_the_3pl_has_the_instruction_and_is_told_why(shop):
    order_id = shop.paid()
    for event in shipment_story(order_id)[:3]:
        shop.deliver("order-history", event)

    response = shop.cancel(order_id)

    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "handed_to_logistics"
    assert "logistics" in error["message"]
    assert shop.published(order_id, "OrderCancelled") == []
    # Staff still can: fulfillment calls the instruction back.
    staff = shop.cancel(order_id, "customer called the shop", staff=True)
    assert staff.status_code == 200, staff.body
    assert json.loads(staff.body)["cancellation"]["cancelled_by"] == "staff"
    [cancelled] = shop.published(order_id, "OrderCancelled")
    assert cancelled["data"]["cancelled_by"] == "staff"


def test_nobody_cancels_once_the_carrier_has_the_parcel(shop):
    order_id = shop.paid()
    shop.deliver("order-history", shipment_story(order_id)[3])  # the dispatch alone, overtaking the rest

    for staff in (False, True):
        response = shop.cancel(order_id, staff=staff)
        assert response.status_code == 409
        assert error_of(response)["code"] == "already_shipped"


def test_a_rejected_or_failed_order_cannot_be_cancelled(shop):
    order_id = shop.placed()
    event = new_event(StockReservedV1(order_id=order_id, lines=[]), producer="shop.catalog", correlation_id=order_id)

    class Declining:
        def charge(self, **_: Any) -> ChargeOutcome:
            return ChargeOutcome(approved=False, decline_code="card_declined")

    usecases.charge_payment(event, "orders.charge-payment", shop.app.repository, shop.app.unit_of_work, Declining())

    response = shop.cancel(order_id)
    assert (response.status_code, error_of(response)["code"]) == (409, "payment_failed")


def test_another_customers_order_is_404_to_cancel_and_staff_need_the_staff_group(shop):
    order_id = shop.paid()

    assert shop.cancel(order_id, as_=shop.grace).status_code == 404
    assert shop.cancel(order_id, as_=shop.client, staff=True).status_code == 403
    assert shop.client.http.anonymous.post(f"/orders/{order_id}/cancel", body='{"reason": "x"}', headers=JSON).status_code == 401
    assert shop.cancel("no-such-order").status_code == 404
    assert shop.order(order_id).status == "PAID"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "reason"),
        ({"reason": ""}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"reason": "bad\nreason"}, "reason"),
        ({"reason": 7}, "reason"),
        ({"reason": "ok", "extra": 1}, "extra"),
    ],
)
def test_a_bad_cancel_request_is_400_naming_the_field(shop, body, field):
    order_id = shop.placed()

    response = shop.client.http.post(f"/orders/{order_id}/cancel", body=json.dumps(body), headers=JSON)

    assert response.status_code == 400
    assert [f["field"] for f in error_of(response)["fields"]] == [field]
    assert shop.order(order_id).status == "PENDING"


# -- the charge guard -------------------------------------------------------------------------------------


def test_a_cancel_accepted_while_stock_reserved_is_in_flight_means_no_charge(shop):
    order_id = shop.placed()
    assert shop.cancel(order_id).status_code == 200
    gateway = Charges()

    reserved = shop.reserve(order_id, gateway)  # catalog's reservation arrives after the cancel

    assert gateway.calls == []
    order = shop.order(order_id)
    assert (order.status, order.payment_status, order.payment_id) == ("CANCELLED", "voided", None)
    assert reserved.event_id in [entry.event_id for entry in order.timeline]
    assert shop.published(order_id, "PaymentCaptured") == shop.published(order_id, "PaymentFailed") == []
    assert shop.aws.processed("orders.charge-payment", reserved.event_id)


def test_a_cancel_while_the_gateway_is_charging_is_refused_then_accepted_with_the_payment(shop):
    order_id = shop.placed()
    during: list[Any] = []
    gateway = Charges(meanwhile=lambda: during.append(shop.cancel(order_id)))

    shop.reserve(order_id, gateway)

    [refused] = during
    assert (refused.status_code, error_of(refused)["code"]) == (409, "payment_in_progress")
    assert shop.order(order_id).status == "PAID"
    after = shop.cancel(order_id)
    assert after.status_code == 200
    [cancelled] = shop.published(order_id, "OrderCancelled")
    assert cancelled["data"]["payment_id"] == f"pi_order-{order_id}"


# -- refund on cancel -------------------------------------------------------------------------------------


def test_refund_on_cancel_gives_everything_back_once_and_publishes_payment_refunded(shop, refunds):
    order_id = shop.paid(amount=1250, quantity=2)
    shop.cancel(order_id)
    cancelled = the_event(shop, order_id, "OrderCancelled")

    assert shop.deliver("refund-on-cancel", cancelled) == OK
    assert shop.deliver("refund-on-cancel", cancelled) == OK  # a duplicate delivery

    order = shop.order(order_id)
    assert refunds.calls == [
        {
            "idempotency_key": f"refund-cancel-{cancelled.event_id}",
            "payment_id": order.payment_id,
            "amount": 2500,
            "reason": "order cancelled: changed my mind",
        }
    ]
    [refunded] = shop.published(order_id, "PaymentRefunded")
    data = refunded["data"]
    assert (data["amount"], data["refunded_total"], data["fully_refunded"], data["initiated_by"]) == (
        {"amount": 2500, "currency": "USD"},
        {"amount": 2500, "currency": "USD"},
        True,
        "customer_cancellation",
    )
    assert (data["payment_id"], data["refund_id"]) == (
        order.payment_id,
        refunds.answers[refunds.calls[0]["idempotency_key"]].refund_id,
    )
    assert refunded["metadata"]["causation_id"] == cancelled.event_id
    body = json.loads(shop.client.http.get(f"/orders/{order_id}").body)
    assert (body["status"], body["payment_status"], body["refunded"]) == (
        "CANCELLED",
        "refunded",
        {"amount": 2500, "currency": "USD"},
    )
    assert body["timeline"][-1]["summary"] == "refunded 25.00 USD (order cancelled: changed my mind)"


def forged_cancellation(order_id: str, payment_id: str | None) -> DomainEvent:
    return new_event(
        OrderCancelledV1.model_validate(
            {
                "order_id": order_id,
                "cancelled_by": "customer",
                "reason": "not from orders' own API",
                "customer_email": "ada@example.com",
                "lines": [
                    {
                        "sku": "X",
                        "name": "X",
                        "kind": "physical",
                        "quantity": 1,
                        "unit_price": {"amount": 2500, "currency": "USD"},
                    }
                ],
                "total": {"amount": 2500, "currency": "USD"},
                "payment_id": payment_id,
            }
        ),
        producer="shop.orders",
        correlation_id=order_id,
    )


def test_an_order_cancelled_about_an_order_orders_never_held_is_noted_not_retried(shop, refunds):
    # Another service's test (or a mistake) on the bus: orders publishes OrderCancelled only for its own
    # orders, so one about an unknown order is not its own and must not wait in the queue for the DLQ.
    forged = forged_cancellation("ord-orders-never-held", "pi_nobody")

    assert shop.deliver("refund-on-cancel", forged) == OK

    assert refunds.calls == []
    assert shop.aws.processed("orders.refund-on-cancel", forged.event_id)


def test_an_order_cancelled_that_orders_did_not_record_refunds_nothing(shop, refunds):
    order_id = shop.paid()
    forged = forged_cancellation(order_id, shop.order(order_id).payment_id)

    assert shop.deliver("refund-on-cancel", forged) == OK

    assert refunds.calls == []
    assert shop.published(order_id, "PaymentRefunded") == []
    assert shop.order(order_id).payment_status == "captured"
    assert shop.aws.processed("orders.refund-on-cancel", forged.event_id)


def test_refund_on_cancel_takes_back_every_digital_line(shop, refunds):
    order_id = shop.paid(kind="digital", amount=399, quantity=1)
    shop.cancel(order_id)

    shop.deliver("refund-on-cancel", the_event(shop, order_id, "OrderCancelled"))

    [refunded] = shop.published(order_id, "PaymentRefunded")
    assert refunded["data"]["skus"] == [line.sku for line in shop.order(order_id).lines]


def test_nothing_captured_nothing_refunded(shop, refunds):
    order_id = shop.placed()
    shop.cancel(order_id)
    cancelled = the_event(shop, order_id, "OrderCancelled")

    assert shop.deliver("refund-on-cancel", cancelled) == OK

    assert refunds.calls == []
    assert shop.published(order_id, "PaymentRefunded") == []
    assert shop.aws.processed("orders.refund-on-cancel", cancelled.event_id)


def test_refund_on_cancel_after_a_partial_staff_refund_gives_back_the_rest(shop, refunds):
    order_id = shop.paid(amount=1000, quantity=3)
    assert shop.refund(order_id, {"amount": 700, "reason": "scratched box"}).status_code == 201
    shop.cancel(order_id)

    shop.deliver("refund-on-cancel", the_event(shop, order_id, "OrderCancelled"))

    assert [call["amount"] for call in refunds.calls] == [700, 2300]
    assert shop.order(order_id).payment_status == "refunded"
    assert [d["data"]["refunded_total"]["amount"] for d in shop.published(order_id, "PaymentRefunded")] == [700, 3000]


def test_an_unavailable_gateway_is_retried_with_the_same_key_and_refunds_once(shop, refunds):
    order_id = shop.paid()
    shop.cancel(order_id)
    cancelled = the_event(shop, order_id, "OrderCancelled")
    refunds.script = [PaymentGatewayUnavailable("503")]

    # The whole batch failed: Lambda's SQS source (powertools) raises, and SQS redelivers later.
    with pytest.raises(BatchProcessingError):
        shop.deliver("refund-on-cancel", cancelled)
    assert shop.published(order_id, "PaymentRefunded") == []
    assert shop.order(order_id).payment_status == "captured"

    assert shop.deliver("refund-on-cancel", cancelled) == OK

    assert {call["idempotency_key"] for call in refunds.calls} == {f"refund-cancel-{cancelled.event_id}"}
    assert len(refunds.answers) == 1
    assert len(shop.published(order_id, "PaymentRefunded")) == 1
    assert shop.order(order_id).payment_status == "refunded"


def test_a_refused_refund_is_noted_on_the_timeline_and_not_retried(shop, refunds):
    order_id = shop.paid()
    shop.cancel(order_id)
    cancelled = the_event(shop, order_id, "OrderCancelled")
    refunds.script = [RefundRefused("charge_disputed", "The charge is disputed.")]

    assert shop.deliver("refund-on-cancel", cancelled) == OK

    order = shop.order(order_id)
    assert (order.payment_status, order.refunds, order.refundable_amount) == ("captured", [], order.total)
    assert order.timeline[-1].event_type == "RefundRefused"
    assert "charge_disputed" in order.timeline[-1].summary
    assert shop.published(order_id, "PaymentRefunded") == []
    assert shop.aws.processed("orders.refund-on-cancel", cancelled.event_id)


def the_event(shop: Shop, order_id: str, event_type: str) -> DomainEvent:
    """The event orders published about the order, as a subscriber receives it."""
    [detail] = shop.published(order_id, event_type)
    return REGISTRY.parse(detail)


# -- staff refunds ----------------------------------------------------------------------------------------


def test_two_partial_refunds_then_an_over_refund_is_refused_naming_what_is_left(shop, refunds):
    order_id = shop.paid(amount=1000, quantity=3)

    first = shop.refund(order_id, {"amount": 1000, "reason": "late delivery"})
    second = shop.refund(order_id, {"amount": 1500, "reason": "damaged"})
    over = shop.refund(order_id, {"amount": 501, "reason": "greedy"})

    assert (first.status_code, second.status_code) == (201, 201)
    assert json.loads(first.body)["payment_status"] == "partially_refunded"
    body = json.loads(second.body)
    assert (body["amount"], body["refunded_total"], body["fully_refunded"]) == (
        {"amount": 1500, "currency": "USD"},
        {"amount": 2500, "currency": "USD"},
        False,
    )
    assert over.status_code == 422
    error = error_of(over)
    assert (error["code"], error["fields"][0]["field"]) == ("exceeds_refundable", "amount")
    assert "500" in error["message"]
    assert [call["amount"] for call in refunds.calls] == [1000, 1500]
    last = shop.refund(order_id, {"amount": 500, "reason": "the rest"})
    assert json.loads(last.body)["fully_refunded"] is True
    published = [d["data"] for d in shop.published(order_id, "PaymentRefunded")]
    assert [(d["amount"]["amount"], d["refunded_total"]["amount"], d["fully_refunded"]) for d in published] == [
        (1000, 1000, False),
        (1500, 2500, False),
        (500, 3000, True),
    ]
    assert {d["initiated_by"] for d in published} == {"staff"}
    order = json.loads(shop.client.http.get(f"/orders/{order_id}").body)
    assert (order["payment_status"], order["refunded"]["amount"]) == ("refunded", 3000)
    nothing = shop.refund(order_id, {"amount": 1, "reason": "more"})
    assert (nothing.status_code, error_of(nothing)["code"]) == (409, "nothing_to_refund")


def test_the_same_idempotency_key_returns_the_same_refund_and_refunds_once(shop, refunds):
    order_id = shop.paid()
    body = {"amount": 300, "reason": "goodwill"}

    first = shop.refund(order_id, body, key="refund-1")
    again = shop.refund(order_id, body, key="refund-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert json.loads(again.body)["refund_id"] == json.loads(first.body)["refund_id"]
    assert len(refunds.calls) == 1
    assert len(shop.published(order_id, "PaymentRefunded")) == 1
    other = shop.refund(order_id, {"amount": 301, "reason": "goodwill"}, key="refund-1")
    assert (other.status_code, error_of(other)["code"]) == (422, "idempotency_key_reused")


def test_an_unavailable_gateway_is_503_and_the_same_request_again_refunds_once(shop, refunds):
    order_id = shop.paid()
    refunds.script = [PaymentGatewayUnavailable("timeout")]
    body = {"amount": 400, "reason": "goodwill"}

    first = shop.refund(order_id, body, key="k-503")
    assert (first.status_code, error_of(first)["code"]) == (503, "payment_gateway_unavailable")
    # The claim stays: the amount is not refundable twice while the first attempt is unresolved.
    assert shop.order(order_id).refundable_amount == 2500 - 400

    again = shop.refund(order_id, body, key="k-503")

    assert again.status_code == 201
    assert len({call["idempotency_key"] for call in refunds.calls}) == 1
    assert len(shop.published(order_id, "PaymentRefunded")) == 1


def test_a_refund_the_gateway_refuses_is_422_and_releases_the_amount(shop, refunds):
    order_id = shop.paid()
    refunds.script = [RefundRefused("charge_disputed", "The charge is disputed.")]

    refused = shop.refund(order_id, {"amount": 400, "reason": "goodwill"})

    assert (refused.status_code, error_of(refused)["code"]) == (422, "refund_refused")
    assert "charge_disputed" in error_of(refused)["message"]
    assert shop.order(order_id).refundable_amount == 2500


def test_digital_lines_named_by_a_refund_travel_with_it(shop, refunds):
    film = shop.publish_product(kind="digital", amount=399).data.sku
    box = shop.publish_product(amount=1000).data.sku
    order_id = json.loads(shop.place((box, 1), (film, 1)).body)["order_id"]
    shop.reserve(order_id, Charges())

    wrong = shop.refund(order_id, {"amount": 399, "reason": "x", "skus": [film, box]})
    right = shop.refund(order_id, {"amount": 399, "reason": "video would not play", "skus": [film]})

    assert (wrong.status_code, error_of(wrong)["code"], error_of(wrong)["fields"][0]["field"]) == (
        422,
        "not_a_digital_line",
        "skus[1]",
    )
    assert right.status_code == 201
    [refunded] = shop.published(order_id, "PaymentRefunded")
    assert refunded["data"]["skus"] == [film]


def test_an_order_without_a_captured_payment_cannot_be_refunded(shop, refunds):
    order_id = shop.placed()

    response = shop.refund(order_id, {"amount": 100, "reason": "x"})

    assert (response.status_code, error_of(response)["code"]) == (409, "not_captured")
    assert refunds.calls == []


def test_refunds_are_for_staff_only(shop, refunds):
    order_id = shop.paid()

    assert shop.refund(order_id, {"amount": 100, "reason": "x"}, as_=shop.client).status_code == 403
    assert shop.refund("no-such-order", {"amount": 100, "reason": "x"}).status_code == 404
    assert refunds.calls == []


@pytest.mark.parametrize(
    ("body", "key", "field"),
    [
        ({"amount": 100, "reason": "x"}, None, "Idempotency-Key"),
        ({"amount": 0, "reason": "x"}, "new", "amount"),
        ({"amount": -1, "reason": "x"}, "new", "amount"),
        ({"amount": "100", "reason": "x"}, "new", "amount"),
        ({"amount": 1.5, "reason": "x"}, "new", "amount"),
        ({"amount": 100}, "new", "reason"),
        ({"amount": 100, "reason": "x", "skus": ["bad sku"]}, "new", "skus[0]"),
    ],
)
def test_a_bad_refund_request_is_400_naming_the_field(shop, refunds, body, key, field):
    order_id = shop.paid()

    response = shop.refund(order_id, body, key=key)

    assert response.status_code == 400, response.body
    assert field in [f["field"] for f in error_of(response)["fields"]]
    assert refunds.calls == []


# -- the product view ---------------------------------------------------------------------------------------


def catalog(data: EventData) -> DomainEvent:
    return new_event(data, producer="shop.catalog", correlation_id=f"product:{data.sku}")  # type: ignore[attr-defined]


def published(sku: str, revision: int, amount: int = 1000) -> DomainEvent:
    return catalog(
        ProductPublishedV1(
            sku=sku, name=f"Product {sku}", kind="physical", price=Money(amount=amount, currency="USD"), revision=revision
        )
    )


def test_a_retired_product_leaves_the_storefront_and_checkout_refuses_it_naming_the_sku(shop):
    sku = f"SKU-{uuid.uuid4().hex[:10].upper()}"
    assert shop.deliver("product-view", published(sku, 1)) == OK
    other = shop.publish_product().data.sku

    assert shop.deliver("product-view", catalog(ProductRetiredV1(sku=sku, revision=2))) == OK

    listed = {p["sku"] for p in json.loads(shop.client.http.anonymous.get("/products").body)["products"]}
    assert sku not in listed and other in listed
    response = shop.place((other, 1), (sku, 1))
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "product_retired"
    assert error["fields"] == [{"field": "lines[1].sku", "problem": f"product {sku!r} is no longer sold"}]


def test_an_unknown_product_is_400_naming_the_sku(shop):
    response = shop.place(("NEVER-PUBLISHED", 1))

    assert response.status_code == 400
    assert "NEVER-PUBLISHED" in error_of(response)["fields"][0]["problem"]


def test_an_older_publication_arriving_after_the_retirement_does_not_bring_the_product_back(shop):
    sku = f"SKU-{uuid.uuid4().hex[:10].upper()}"

    # The retirement overtakes the product's publication (and an update).
    assert shop.deliver("product-view", catalog(ProductRetiredV1(sku=sku, revision=3)), published(sku, 1)) == OK
    assert shop.deliver("product-view", published(sku, 2)) == OK

    assert shop.app.repository.product_views([sku])[sku].retired is True
    assert (shop.place((sku, 1)).status_code, error_of(shop.place((sku, 1)))["code"]) == (422, "product_retired")


def test_an_update_at_a_higher_revision_reprices_and_a_stale_one_does_not(shop):
    sku = f"SKU-{uuid.uuid4().hex[:10].upper()}"
    access = {"product_type": "video_purchase", "video_id": "vid-1"}

    def updated(revision: int, amount: int) -> DomainEvent:
        return catalog(
            ProductUpdatedV1.model_validate(
                {
                    "sku": sku,
                    "name": "Film",
                    "kind": "digital",
                    "product_type": "video_purchase",
                    "price": {"amount": amount, "currency": "USD"},
                    "access": access,
                    "revision": revision,
                }
            )
        )

    assert shop.deliver("product-view", published(sku, 1, amount=500), updated(3, 700), updated(2, 600)) == OK

    view = shop.app.repository.product_views([sku])[sku]
    assert (view.price_amount, view.revision, view.product_type, view.access) == (
        700,
        3,
        "video_purchase",
        access | {"live_show_id": None, "rental_hours": None},
    )
    response = shop.place((sku, 1), body={"shipping_address": None})
    order_id = json.loads(response.body)["order_id"]
    [placed] = [d for d in shop.published(order_id, "OrderPlaced") if d["metadata"]["schema_version"] == 1]
    assert placed["data"]["lines"][0]["access"]["video_id"] == "vid-1"
    assert placed["data"]["total"]["amount"] == 700


# -- locale and delivery at checkout --------------------------------------------------------------------------


def test_the_locale_comes_from_accept_language_and_travels_on_every_event(shop):
    sku = shop.publish_product().data.sku

    response = shop.place((sku, 1), headers={"Accept-Language": "fr-FR,en-US;q=0.9,ja;q=0.5"})

    order_id = json.loads(response.body)["order_id"]
    assert json.loads(response.body)["locale"] == "en"
    assert {d["data"]["locale"] for d in shop.published(order_id, "OrderPlaced")} == {"en"}
    shop.reserve(order_id, Charges())
    [captured] = shop.published(order_id, "PaymentCaptured")
    assert captured["data"]["locale"] == "en"


def test_the_bodys_locale_wins_over_accept_language(shop):
    sku = shop.publish_product().data.sku

    response = shop.place((sku, 1), body={"locale": "ja"}, headers={"Accept-Language": "en"})

    assert json.loads(response.body)["locale"] == "ja"


def test_the_delivery_preference_and_the_structured_address_reach_payment_captured(shop):
    sku = shop.publish_product().data.sku
    delivery = {"date": "2099-01-05", "time_slot": "14-16"}
    address = {**ADDRESS, "region": "Tokyo", "phone": "+81 3-1234-5678"}

    response = shop.place((sku, 1), body={"delivery": delivery, "shipping_address": address})

    assert response.status_code == 201, response.body
    order_id = json.loads(response.body)["order_id"]
    assert json.loads(response.body)["delivery"] == delivery
    [v2] = [d for d in shop.published(order_id, "OrderPlaced") if d["metadata"]["schema_version"] == 2]
    assert v2["data"]["delivery"] == delivery
    shop.reserve(order_id, Charges())
    [captured] = shop.published(order_id, "PaymentCaptured")
    assert captured["data"]["delivery"] == delivery
    assert captured["data"]["structured_address"] | {} == {**address, "line2": None}


def test_a_payment_failure_says_who_and_in_which_language(shop):
    sku = shop.publish_product().data.sku
    order_id = json.loads(shop.place((sku, 1), body={"locale": "en"}).body)["order_id"]

    class Declining:
        def charge(self, **_: Any) -> ChargeOutcome:
            return ChargeOutcome(approved=False, decline_code="card_declined")

    shop.reserve(order_id, Declining())

    [failed] = shop.published(order_id, "PaymentFailed")
    assert (failed["data"]["locale"], failed["data"]["customer_id"]) == ("en", shop.order(order_id).customer_id)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"delivery": {"date": "2099-02-30"}}, "delivery.date"),
        ({"delivery": {"date": "2000-01-01"}}, "delivery.date"),
        ({"delivery": {"date": "05/01/2099"}}, "delivery.date"),
        ({"delivery": {"time_slot": "midnight"}}, "delivery.time_slot"),
        ({"delivery": {"when": "soon"}}, "delivery.when"),
        ({"locale": "fr"}, "locale"),
    ],
)
def test_a_bad_locale_or_delivery_is_400_naming_the_field(shop, extra, field):
    sku = shop.publish_product().data.sku

    response = shop.place((sku, 1), body=extra)

    assert response.status_code == 400, response.body
    assert field in [f["field"] for f in error_of(response)["fields"]]


def test_a_delivery_preference_for_a_digital_only_order_is_400(shop):
    sku = shop.publish_product(kind="digital").data.sku

    response = shop.place((sku, 1), body={"shipping_address": None, "delivery": {"time_slot": "am"}})

    assert (response.status_code, error_of(response)["fields"][0]["field"]) == (400, "delivery")


# -- digital lines: vod's grants and revocations through digital-delivery ------------------------------


def publish_rental(shop: Shop) -> str:
    sku = f"RENT-{uuid.uuid4().hex[:10].upper()}"
    product = ProductPublishedV1(
        sku=sku,
        name="48-hour rental",
        kind="digital",
        price=Money(amount=399, currency="USD"),
        revision=1,
        product_type="video_rental",
        access=VideoAccess(product_type="video_rental", video_id=f"vid_{uuid.uuid4().hex[:20]}", rental_hours=48),
    )
    usecases.update_product_view(new_event(product, producer="shop.catalog", correlation_id=sku), "t", shop.app.unit_of_work)
    return sku


def paid_mixed_order(shop: Shop) -> tuple[str, str, str]:
    box, rental = shop.publish_product(kind="physical", amount=1250).data.sku, publish_rental(shop)
    response = shop.place((box, 1), (rental, 1))
    assert response.status_code == 201, response.body
    order_id = str(json.loads(response.body)["order_id"])
    shop.reserve(order_id, Charges())
    return order_id, box, rental


def vod(data: EventData, order_id: str) -> DomainEvent:
    return new_event(data, producer="shop.vod", correlation_id=order_id)


def grant(order_id: str, sku: str) -> DomainEvent:
    return vod(
        EntitlementGrantedV1(
            entitlement_id=f"ent-{sku}",
            customer_id="ada-sub",
            order_id=order_id,
            sku=sku,
            product_type="video_rental",
            video_id="vid-1",
            granted_at="2030-05-17T12:00:00+00:00",
            expires_at="2030-05-19T12:00:00+00:00",
        ),
        order_id,
    )


def revoke(order_id: str, sku: str) -> DomainEvent:
    return vod(
        EntitlementRevokedV1(
            entitlement_id=f"ent-{sku}",
            customer_id="ada-sub",
            order_id=order_id,
            sku=sku,
            product_type="video_rental",
            video_id="vid-1",
            reason="refunded",
            revoked_at="2030-05-18T08:00:00+00:00",
        ),
        order_id,
    )


def lines_of(body: dict[str, Any]) -> dict[str, Any]:
    return {line["sku"]: line["delivery"] for line in body["lines"]}


def test_a_mixed_orders_digital_line_shows_delivered_then_revoked_and_the_order_is_delivered_with_its_parcel(shop):
    order_id, box, rental = paid_mixed_order(shop)
    granted = grant(order_id, rental)

    assert shop.deliver("digital-delivery", granted, granted) == OK  # twice in one batch: recorded once

    body = json.loads(shop.client.http.get(f"/orders/{order_id}").body)
    assert lines_of(body) == {
        box: None,
        rental: {
            "status": "delivered",
            "entitlement_id": f"ent-{rental}",
            "delivered_at": "2030-05-17T12:00:00+00:00",
            "expires_at": "2030-05-19T12:00:00+00:00",
            "revoked_at": None,
            "revoke_reason": None,
        },
    }
    assert (body["status"], body["fulfillment_status"]) == ("PAID", "not_fulfilled")  # the parcel has not left
    assert [e["summary"] for e in body["timeline"] if e["event_type"] == "EntitlementGranted"] == [
        f"access granted: {rental} (video rental, until 2030-05-19T12:00:00+00:00)"
    ]

    for event in shipment_story(order_id):
        assert shop.deliver("order-history", event) == OK
    staff_view = json.loads(shop.staff.http.get(f"/staff/orders/{order_id}").body)
    assert (staff_view["status"], staff_view["fulfillment_status"]) == ("DELIVERED", "delivered")
    assert lines_of(staff_view)[rental]["status"] == "delivered"

    assert shop.deliver("digital-delivery", revoke(order_id, rental)) == OK

    body = json.loads(shop.client.http.get(f"/orders/{order_id}").body)
    assert lines_of(body)[rental] | {"delivered_at": None} == {
        "status": "revoked",
        "entitlement_id": f"ent-{rental}",
        "delivered_at": None,
        "expires_at": "2030-05-19T12:00:00+00:00",
        "revoked_at": "2030-05-18T08:00:00+00:00",
        "revoke_reason": "refunded",
    }
    assert [e["event_type"] for e in body["timeline"]][-1] == "EntitlementRevoked"


def test_a_digital_only_order_is_delivered_once_granted_and_a_grant_after_its_revocation_brings_nothing_back(shop):
    rental = publish_rental(shop)
    response = shop.place((rental, 1), body={"shipping_address": None})
    order_id = str(json.loads(response.body)["order_id"])
    shop.reserve(order_id, Charges())

    assert shop.deliver("digital-delivery", revoke(order_id, rental)) == OK
    assert shop.deliver("digital-delivery", grant(order_id, rental)) == OK

    body = json.loads(shop.client.http.get(f"/orders/{order_id}").body)
    assert lines_of(body)[rental]["status"] == "revoked"
    assert (body["status"], body["payment_status"], body["fulfillment_status"]) == ("DELIVERED", "captured", "delivered")
    [listed] = [o for o in json.loads(shop.client.http.get("/orders?limit=100").body)["orders"] if o["order_id"] == order_id]
    assert lines_of(listed)[rental]["status"] == "revoked"


def test_an_entitlement_about_an_order_orders_never_held_is_noted_and_not_retried(shop):
    stranger = f"ord-{uuid.uuid4().hex[:12]}"
    event = grant(stranger, "FILM-1")

    assert shop.deliver("digital-delivery", event) == OK

    key = to_dynamodb(processed_marker_key("orders.digital-delivery", event.event_id))
    marker = shop.aws.dynamodb.get_item(TableName=shop.aws.table, Key=key, ConsistentRead=True)
    assert "Item" in marker
    assert shop.app.repository.order(stranger) is None
