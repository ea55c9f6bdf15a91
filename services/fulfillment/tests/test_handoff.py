"""The warehouse's API, the hand-off subscribers and the tracking webhook through the real app, against
the session's moto (table, S3) and the in-process fake 3PL."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from tests.arrange import WEBHOOK_SECRET

from chalicelib import usecases
from shop_contracts.events import OrderCancelledV1
from shop_devstack.logistics_3pl import Faults, sign
from shop_devstack.testing import deliver_to_subscription, eventbridge_body, outbox_items
from shop_eventing.envelope import DomainEvent, new_event
from tests import arrange

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def fake(logistics_3pl: Any) -> Iterator[Any]:
    logistics_3pl.logistics.faults = Faults()
    yield logistics_3pl
    logistics_3pl.logistics.faults = Faults()


def events(app: ModuleType, order_id: str, event_type: str) -> list[dict[str, Any]]:
    found = outbox_items(app.runtime.dynamodb, app.runtime.table_name, correlation_id=order_id, event_type=event_type)
    return [item["detail"] for item in found]


def packed_event(app: ModuleType, order_id: str) -> DomainEvent:
    [detail] = events(app, order_id, "ShipmentPacked")
    return app.REGISTRY.parse(detail)  # type: ignore[no-any-return]


def deliver(app: ModuleType, subscription: str, event: DomainEvent) -> dict[str, Any]:
    return deliver_to_subscription(app, "fulfillment", subscription, eventbridge_body(event))


def delivery_fails(app: ModuleType, subscription: str, event: DomainEvent) -> None:
    """The whole batch (this one record) failed: Lambda leaves it to SQS to deliver again."""
    with pytest.raises(BatchProcessingError):
        deliver(app, subscription, event)


def post(client: Any, path: str, body: Any = None, **kwargs: Any) -> Any:
    return client.http.post(path, headers=JSON, body=json.dumps(body) if body is not None else b"", **kwargs)


# -- the warehouse's API ---------------------------------------------------------------------------


def test_the_picking_list_shows_the_shipment_until_it_is_packed(fulfillment_app, client):
    order_id = arrange.new_order_id()
    arrange.requested(fulfillment_app, order_id)

    def listed() -> list[str]:
        response = client.http.get("/picking-list?limit=100")
        assert response.status_code == 200
        return [s["order_id"] for s in json.loads(response.body)["shipments"]]

    assert order_id in listed()
    assert json.loads(post(client, f"/orders/{order_id}/shipment/picked").body)["status"] == "PICKED"
    assert order_id in listed()
    packed = post(client, f"/orders/{order_id}/shipment/packed", {"handoff": "logistics_service"})
    assert (packed.status_code, json.loads(packed.body)["handoff"]) == (200, "logistics_service")
    assert order_id not in listed()
    [published] = events(fulfillment_app, order_id, "ShipmentPacked")
    assert published["data"]["handoff"] == "logistics_service"


def test_packing_before_picking_is_a_409_in_the_one_error_shape(fulfillment_app, client):
    order_id = arrange.new_order_id()
    arrange.requested(fulfillment_app, order_id)

    response = post(client, f"/orders/{order_id}/shipment/packed")

    assert response.status_code == 409
    assert json.loads(response.body)["error"]["code"] == "status_conflict"
    assert events(fulfillment_app, order_id, "ShipmentPacked") == []


def test_picking_twice_answers_the_same_and_publishes_nothing_twice(fulfillment_app, client):
    order_id = arrange.new_order_id()
    arrange.requested(fulfillment_app, order_id)

    first = post(client, f"/orders/{order_id}/shipment/picked")
    again = post(client, f"/orders/{order_id}/shipment/picked")

    assert first.status_code == again.status_code == 200
    assert json.loads(first.body)["picked_at"] == json.loads(again.body)["picked_at"]


def test_an_unknown_handoff_is_a_400_naming_the_field(fulfillment_app, client):
    order_id = arrange.new_order_id()
    arrange.picked(fulfillment_app, order_id)

    response = post(client, f"/orders/{order_id}/shipment/packed", {"handoff": "pigeon"})

    assert response.status_code == 400
    assert json.loads(response.body)["error"]["fields"][0]["field"] == "handoff"


def test_a_step_on_an_order_without_a_shipment_is_a_404(client):
    assert post(client, "/orders/ord-nothing/shipment/picked").status_code == 404


def test_customers_cannot_work_the_picking_list(client, issuer):
    from shop_devstack.testing import bearer

    assert client.http.get("/picking-list", headers=bearer(issuer, "ada")).status_code == 403
    assert client.http.anonymous.get("/picking-list").status_code == 401


# -- instruct-logistics ------------------------------------------------------------------------------


def test_a_packed_shipment_is_instructed_after_the_3pl_recovers_from_5xx(fulfillment_app, fake):
    order_id = arrange.new_order_id()
    shipment_id = arrange.packed(fulfillment_app, order_id)
    packed = packed_event(fulfillment_app, order_id)
    fake.logistics.faults.fail_next = 2

    delivery_fails(fulfillment_app, "instruct-logistics", packed)
    delivery_fails(fulfillment_app, "instruct-logistics", packed)
    assert fulfillment_app.repository.shipment(order_id)["status"] == "PACKED"

    assert deliver(fulfillment_app, "instruct-logistics", packed) == {"batchItemFailures": []}
    [at_3pl] = [s for s in fake.logistics.shipments() if s["identifier"] == shipment_id]
    shipment = fulfillment_app.repository.shipment(order_id)
    assert (shipment["status"], shipment["logistics_shipment_id"]) == ("INSTRUCTED", at_3pl["id"])
    [instructed] = events(fulfillment_app, order_id, "ShipmentInstructed")
    assert instructed["data"]["delivery"] == {"date": "2030-05-20", "time_slot": "14-16"}


def test_a_rate_limited_instruction_is_retried_by_sqs(fulfillment_app, fake):
    order_id = arrange.new_order_id()
    arrange.packed(fulfillment_app, order_id)
    packed = packed_event(fulfillment_app, order_id)
    fake.logistics.faults.rate_limit_next = 1

    delivery_fails(fulfillment_app, "instruct-logistics", packed)
    assert deliver(fulfillment_app, "instruct-logistics", packed) == {"batchItemFailures": []}
    assert fulfillment_app.repository.shipment(order_id)["status"] == "INSTRUCTED"


# -- the tracking webhook -----------------------------------------------------------------------------


def notification(app: ModuleType, order_id: str, status: str, **changes: Any) -> bytes:
    shipment = app.repository.shipment(order_id)
    body = {
        "event_id": f"evt-{time.monotonic_ns()}",
        "shipment_id": shipment.get("logistics_shipment_id", "OL-none"),
        "identifier": shipment["shipment_id"],
        "order_no": order_id,
        "status": status,
        "delivery_carrier": "YAMATO",
        "tracking_code": "400098765432" if status in ("shipped", "delivered") else None,
        **changes,
    }
    return json.dumps(body).encode()


def webhook(client: Any, body: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> Any:
    sent = str(timestamp if timestamp is not None else int(time.time()))
    headers = {**JSON, "X-Logistics-Timestamp": sent, "X-Logistics-Signature": sign(secret, sent, body)}
    return client.http.anonymous.post("/logistics/tracking", headers=headers, body=body)


def instructed(app: ModuleType, order_id: str) -> None:
    arrange.packed(app, order_id)
    assert deliver(app, "instruct-logistics", packed_event(app, order_id)) == {"batchItemFailures": []}


def test_shipped_then_delivered_publish_dispatched_with_tracking_then_delivered(fulfillment_app, client, fake):
    order_id = arrange.new_order_id()
    instructed(fulfillment_app, order_id)

    shipped = webhook(client, notification(fulfillment_app, order_id, "shipped"))
    delivered = webhook(client, notification(fulfillment_app, order_id, "delivered"))

    assert [json.loads(r.body) for r in (shipped, delivered)] == [{"outcome": "applied"}, {"outcome": "applied"}]
    [dispatched] = events(fulfillment_app, order_id, "ShipmentDispatched")
    assert (dispatched["data"]["tracking_number"], dispatched["data"]["carrier"], dispatched["data"]["customer_email"]) == (
        "400098765432",
        "yamato",
        "hanako@example.jp",
    )
    assert dispatched["data"]["tracking_url"].endswith("id=400098765432")
    assert len(events(fulfillment_app, order_id, "ShipmentDelivered")) == 1


def test_a_duplicate_and_an_out_of_order_notification_are_ignored(fulfillment_app, client, fake):
    order_id = arrange.new_order_id()
    instructed(fulfillment_app, order_id)
    shipped = notification(fulfillment_app, order_id, "shipped")
    webhook(client, shipped)

    duplicate = webhook(client, shipped)
    webhook(client, notification(fulfillment_app, order_id, "delivered"))
    late = webhook(client, notification(fulfillment_app, order_id, "shipped"))

    assert [json.loads(r.body) for r in (duplicate, late)] == [{"outcome": "ignored"}, {"outcome": "ignored"}]
    assert len(events(fulfillment_app, order_id, "ShipmentDispatched")) == 1
    assert fulfillment_app.repository.shipment(order_id)["status"] == "DELIVERED"


def test_a_forged_or_stale_notification_is_a_401_and_changes_nothing(fulfillment_app, client, fake):
    order_id = arrange.new_order_id()
    instructed(fulfillment_app, order_id)
    body = notification(fulfillment_app, order_id, "shipped")

    forged = webhook(client, body, secret="guessed")
    stale = webhook(client, body, timestamp=int(time.time()) - 3600)
    unsigned = client.http.anonymous.post("/logistics/tracking", headers=JSON, body=body)

    for response in (forged, stale, unsigned):
        assert response.status_code == 401
        assert json.loads(response.body)["error"]["code"] == "invalid_signature"
    assert fulfillment_app.repository.shipment(order_id)["status"] == "INSTRUCTED"
    assert events(fulfillment_app, order_id, "ShipmentDispatched") == []


def test_a_signed_notification_about_an_unknown_shipment_is_a_404_and_a_bad_body_a_400(client):
    unknown = json.dumps(
        {"event_id": "e", "shipment_id": "OL1", "identifier": "shp_x", "order_no": "ord-none", "status": "shipped"}
    ).encode()

    assert webhook(client, unknown).status_code == 404
    assert webhook(client, b'{"status": "teleported"}').status_code == 400


# -- carrier-list -------------------------------------------------------------------------------------


def the_days_rows(app: ModuleType, day: str) -> list[list[str]]:
    content = app.carrier_lists()._client.get_object(Bucket=app.CARRIER_LISTS_BUCKET, Key=f"yamato-b2/{day}.csv")
    raw = content["Body"].read()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    return list(csv.reader(io.StringIO(raw.decode("cp932"), newline="")))[1:]


def test_a_csv_parcel_is_one_row_of_its_days_file_even_when_redelivered(fulfillment_app):
    orders = [arrange.new_order_id(), arrange.new_order_id()]
    for order_id in orders:
        arrange.packed(fulfillment_app, order_id, "carrier_csv")
    packed = [packed_event(fulfillment_app, order_id) for order_id in orders]

    for event in (*packed, packed[0], packed[1]):
        assert deliver(fulfillment_app, "carrier-list", event) == {"batchItemFailures": []}

    day = fulfillment_app.repository.shipment(orders[0])["carrier_list_day"]
    ids = [row[0] for row in the_days_rows(fulfillment_app, day)]
    shipment_ids = [fulfillment_app.repository.shipment(o)["shipment_id"] for o in orders]
    assert sorted(i for i in ids if i in shipment_ids) == sorted(shipment_ids)
    assert len(ids) == len(set(ids))


def test_a_redelivery_after_a_failed_upload_lists_the_parcel_once(fulfillment_app):
    order_id = arrange.new_order_id()
    arrange.packed(fulfillment_app, order_id, "carrier_csv")
    packed = packed_event(fulfillment_app, order_id)

    class Down:
        def write(self, day: str, content: bytes) -> str:
            raise ConnectionError("S3 is unreachable")

    with pytest.raises(ConnectionError):
        usecases.list_for_carrier(
            packed, "fulfillment.carrier-list", fulfillment_app.repository, fulfillment_app.unit_of_work, Down(), arrange.SHIPPER
        )
    assert deliver(fulfillment_app, "carrier-list", packed) == {"batchItemFailures": []}

    day = fulfillment_app.repository.shipment(order_id)["carrier_list_day"]
    shipment_id = fulfillment_app.repository.shipment(order_id)["shipment_id"]
    assert [row[0] for row in the_days_rows(fulfillment_app, day)].count(shipment_id) == 1


def test_staff_confirm_a_csv_parcels_dispatch(fulfillment_app, client):
    order_id = arrange.new_order_id()
    arrange.packed(fulfillment_app, order_id, "carrier_csv")

    response = post(client, f"/orders/{order_id}/shipment/dispatched", {"carrier": "yamato", "tracking_number": "400011112222"})

    assert (response.status_code, json.loads(response.body)["status"]) == (200, "DISPATCHED")
    [dispatched] = events(fulfillment_app, order_id, "ShipmentDispatched")
    assert dispatched["data"]["tracking_number"] == "400011112222"


# -- cancel-shipment --------------------------------------------------------------------------------


def order_cancelled(order_id: str, by: str = "customer") -> DomainEvent:
    paid = arrange.paid(order_id).data
    data = OrderCancelledV1(
        order_id=order_id,
        cancelled_by=by,  # type: ignore[arg-type]
        reason="changed my mind",
        customer_email="hanako@example.jp",
        lines=paid.lines,  # type: ignore[attr-defined]
        total=paid.amount,  # type: ignore[attr-defined]
    )
    return new_event(data, producer="shop.orders", correlation_id=order_id, now=datetime.now(UTC))


def test_cancelled_before_payment_then_paid_makes_no_shipment(fulfillment_app):
    order_id = arrange.new_order_id()

    assert deliver(fulfillment_app, "cancel-shipment", order_cancelled(order_id)) == {"batchItemFailures": []}
    assert deliver(fulfillment_app, "request-shipment", arrange.paid(order_id)) == {"batchItemFailures": []}

    assert fulfillment_app.repository.shipment(order_id) is None
    assert events(fulfillment_app, order_id, "ShipmentRequested") == []


def test_cancelled_after_instruction_is_cancelled_at_the_3pl(fulfillment_app, fake):
    order_id = arrange.new_order_id()
    instructed(fulfillment_app, order_id)

    assert deliver(fulfillment_app, "cancel-shipment", order_cancelled(order_id, "staff")) == {"batchItemFailures": []}

    shipment = fulfillment_app.repository.shipment(order_id)
    [at_3pl] = [s for s in fake.logistics.shipments() if s["id"] == shipment["logistics_shipment_id"]]
    assert (shipment["status"], at_3pl["status"]) == ("CANCELLED", "cancelled")
    assert len(events(fulfillment_app, order_id, "ShipmentCancelled")) == 1


def test_cancelled_after_the_3pl_shipped_is_refused_and_recorded(fulfillment_app, fake):
    order_id = arrange.new_order_id()
    instructed(fulfillment_app, order_id)
    logistics_id = fulfillment_app.repository.shipment(order_id)["logistics_shipment_id"]
    fake.logistics._shipments[logistics_id].status = "shipped"

    assert deliver(fulfillment_app, "cancel-shipment", order_cancelled(order_id, "staff")) == {"batchItemFailures": []}

    shipment = fulfillment_app.repository.shipment(order_id)
    assert (shipment["status"], shipment["cancel_refused_reason"]) == (
        "INSTRUCTED",
        "the logistics service refused: its shipment is shipped",
    )
    assert events(fulfillment_app, order_id, "ShipmentCancelled") == []
