"""Requesting shipments for paid orders, and reading them back over HTTP, against a real (in-process) moto."""

from __future__ import annotations

import functools
import json
import uuid
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest

from chalicelib import usecases
from chalicelib.api_models import ShipmentResponse
from chalicelib.domain import plan_shipment
from shop_devstack import testing
from shop_devstack.dispatcher import LambdaContext
from shop_devstack.testing import eventbridge_body, lambda_sqs_event, subscription_queue_arn
from shop_eventing.envelope import DomainEvent
from shop_eventing.outbox import AlreadyProcessed

SUBSCRIBER = "fulfillment.request-shipment"
PAID_AT = datetime(2030, 5, 17, 12, 30, tzinfo=UTC)


def new_order_id() -> str:
    return f"ord-{uuid.uuid4().hex[:12]}"


# Every PaymentCaptured of these tests is paid at the same moment, so shipments' times are known.
payment_captured = functools.partial(testing.payment_captured, now=PAID_AT)


@pytest.fixture
def request_shipment(fulfillment_app: ModuleType) -> Any:
    def run(event: DomainEvent) -> None:
        usecases.request_shipment(event, SUBSCRIBER, fulfillment_app.unit_of_work)

    return run


def shipment_id_for(order_id: str) -> str:
    shipment = plan_shipment(order_id, [("X", "physical", 1)], "anywhere")
    assert shipment is not None
    return shipment.shipment_id


# -- the use case ----------------------------------------------------------------------------------


def test_physical_order_gets_a_shipment_and_a_shipment_requested(request_shipment, aws):
    order_id = new_order_id()
    paid = payment_captured(
        order_id, [("BOX", "physical", 1), ("FILM", "digital", 1), ("BOX", "physical", 2), ("MUG", "physical", 1)]
    )

    request_shipment(paid)

    shipment = aws.item(f"SHIPMENT#{order_id}", "SHIPMENT")
    assert shipment is not None
    assert {k: shipment[k] for k in ("shipment_id", "order_id", "lines", "address", "status", "requested_at")} == {
        "shipment_id": shipment_id_for(order_id),
        "order_id": order_id,
        "lines": [{"sku": "BOX", "quantity": 3}, {"sku": "MUG", "quantity": 1}],
        "address": "1 Main St, Springfield",
        "status": "REQUESTED",
        "requested_at": "2030-05-17T12:30:00+00:00",
    }
    [requested] = aws.outbox(correlation_id=order_id)
    assert requested["event_type"] == "ShipmentRequested"
    assert requested["source"] == "shop.fulfillment"
    assert requested["detail"]["data"] == {
        "shipment_id": shipment_id_for(order_id),
        "order_id": order_id,
        "lines": [{"sku": "BOX", "quantity": 3}, {"sku": "MUG", "quantity": 1}],
        "shipping_address": "1 Main St, Springfield",
    }
    metadata = requested["detail"]["metadata"]
    assert (metadata["causation_id"], metadata["correlation_id"], metadata["producer"]) == (
        paid.event_id,
        order_id,
        "shop.fulfillment",
    )
    assert aws.item(f"PROCESSED#{SUBSCRIBER}", paid.event_id) is not None


def test_the_same_event_again_is_already_processed(request_shipment, aws):
    order_id = new_order_id()
    paid = payment_captured(order_id, [("BOX", "physical", 1)])
    request_shipment(paid)

    with pytest.raises(AlreadyProcessed):
        request_shipment(paid)

    assert len(aws.outbox(correlation_id=order_id)) == 1


def test_the_same_order_paid_again_under_another_event_id_still_has_one_shipment(request_shipment, aws):
    order_id = new_order_id()
    first = payment_captured(order_id, [("BOX", "physical", 1)])
    second = payment_captured(order_id, [("BOX", "physical", 1)], address="Somewhere else 2")
    request_shipment(first)

    request_shipment(second)

    assert len(aws.outbox(correlation_id=order_id)) == 1
    assert aws.item(f"SHIPMENT#{order_id}", "SHIPMENT")["address"] == "1 Main St, Springfield"
    assert aws.item(f"PROCESSED#{SUBSCRIBER}", second.event_id) is not None
    with pytest.raises(AlreadyProcessed):
        request_shipment(second)


def test_digital_only_order_ships_nothing_but_is_marked_processed(request_shipment, aws):
    order_id = new_order_id()
    paid = payment_captured(order_id, [("FILM", "digital", 2)], address=None)

    request_shipment(paid)

    assert aws.item(f"SHIPMENT#{order_id}", "SHIPMENT") is None
    assert aws.outbox(correlation_id=order_id) == []
    marker = aws.item(f"PROCESSED#{SUBSCRIBER}", paid.event_id)
    assert marker is not None
    assert marker["event_type"] == "PaymentCaptured"
    with pytest.raises(AlreadyProcessed):
        request_shipment(paid)


def test_physical_order_without_an_address_fails_and_writes_nothing(request_shipment, aws):
    order_id = new_order_id()
    paid = payment_captured(order_id, [("BOX", "physical", 1)], address=None)

    with pytest.raises(ValueError, match=order_id):
        request_shipment(paid)

    assert aws.item(f"SHIPMENT#{order_id}", "SHIPMENT") is None
    assert aws.item(f"PROCESSED#{SUBSCRIBER}", paid.event_id) is None
    assert aws.outbox(correlation_id=order_id) == []


# -- through the subscriber (the Lambda entry) ------------------------------------------------------


def sqs_event(*events: DomainEvent) -> dict[str, Any]:
    """A Lambda SQS event whose bodies are EventBridge events, one record per event, distinct messageIds."""
    return lambda_sqs_event(*map(eventbridge_body, events), queue_arn=subscription_queue_arn("fulfillment", "request-shipment"))


def test_subscriber_requests_one_shipment_for_a_duplicated_delivery(fulfillment_app, aws):
    order_id = new_order_id()
    paid = payment_captured(order_id, [("BOX", "physical", 1)])
    context = LambdaContext("shop-local-fulfillment-request-shipment", timeout_seconds=30)

    first = fulfillment_app.shipment_subscriber.handle(sqs_event(paid, paid), context)
    again = fulfillment_app.shipment_subscriber.handle(sqs_event(paid), context)

    assert first == again == {"batchItemFailures": []}
    assert len(aws.outbox(correlation_id=order_id)) == 1


# -- GET /orders/{id}/shipment ---------------------------------------------------------------------


def test_get_shipment_returns_it(request_shipment, client):
    order_id = new_order_id()
    request_shipment(payment_captured(order_id, [("BOX", "physical", 2)]))

    response = client.http.get(f"/orders/{order_id}/shipment")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = json.loads(response.body)
    assert {name: value for name, value in body.items() if value is not None} == {
        "shipment_id": shipment_id_for(order_id),
        "order_id": order_id,
        "lines": [{"sku": "BOX", "quantity": 2}],
        "address": "1 Main St, Springfield",
        "status": "REQUESTED",
        "requested_at": "2030-05-17T12:30:00+00:00",
    }
    # No OrderPlaced v2 has been seen for this order, so no structured address is known yet; nothing
    # later than the request has happened to it either.
    assert body["delivery_address"] is None
    assert set(body) == set(ShipmentResponse.model_fields)


def test_get_shipment_of_an_order_without_one_is_a_404_json(request_shipment, client):
    digital = new_order_id()
    request_shipment(payment_captured(digital, [("FILM", "digital", 1)], address=None))

    for order_id in (digital, new_order_id()):
        response = client.http.get(f"/orders/{order_id}/shipment")

        assert response.status_code == 404
        assert response.headers["Content-Type"] == "application/json"
        error = json.loads(response.body)["error"]
        assert error["code"] == "not_found"
        assert order_id in error["message"]


def test_health(client):
    response = client.http.get("/health")

    assert response.status_code == 200
    assert json.loads(response.body) == {"status": "ok", "service": "fulfillment"}
