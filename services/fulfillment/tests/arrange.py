"""Shipments in each state, made by fulfillment's own use cases against the app's real table: what the
moto-level tests and the contract tests start from."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from chalicelib import usecases
from chalicelib.domain import Handoff, Shipper, shipment_id_for
from shop_contracts.events import Address, DeliveryPreference, Money, OrderCancelledV1, OrderLine, PaymentCapturedV1
from shop_devstack.logistics_3pl import sign
from shop_eventing.envelope import DomainEvent, new_event

WAREHOUSE_STAFF = "staff-sub-wes"
# What the service tests' fake 3PL and the app agree on (conftest.py's logistics_3pl).
THREE_PL_TOKEN = "service-tests-3pl-token"
WEBHOOK_SECRET = "service-tests-webhook-secret"
JP_ADDRESS = Address(
    recipient="山田 花子",
    line1="千代田1-1",
    line2="グランドハイツ101",
    city="千代田区",
    postal_code="100-0001",
    country="JP",
    region="東京都",
    phone="03-1234-5678",
)
SHIPPER = Shipper(
    name="VODショップ",
    phone="03-0000-0000",
    postal_code="100-0001",
    address="東京都千代田区1-1",
    billing_customer_code="012345678901",
)
DELIVERY = DeliveryPreference(date="2030-05-20", time_slot="14-16")


def new_order_id() -> str:
    return f"ord-{uuid.uuid4().hex[:12]}"


def paid(order_id: str, *, address: Address | None = JP_ADDRESS, now: datetime | None = None) -> DomainEvent:
    """PaymentCaptured for two units of one physical product and a digital one, with the structured address."""
    yen = Money(amount=2500, currency="JPY")
    data = PaymentCapturedV1(
        order_id=order_id,
        payment_id="ch_test",
        amount=Money(amount=5399, currency="JPY"),
        customer_email="hanako@example.jp",
        customer_id="sub-hanako",
        locale="ja",
        lines=[
            OrderLine(sku="BLURAY-BOX-1", name="Blu-ray box", kind="physical", quantity=2, unit_price=yen),
            OrderLine(sku="film.42", name="A film", kind="digital", quantity=1, unit_price=Money(amount=399, currency="JPY")),
        ],
        shipping_address=address.as_text() if address else None,
        structured_address=address,
        delivery=DELIVERY,
    )
    return new_event(data, producer="shop.orders", correlation_id=order_id, now=now)


def requested(app: ModuleType, order_id: str, **kwargs: Any) -> str:
    """The order paid and its shipment requested; returns the shipment id."""
    usecases.request_shipment(paid(order_id, **kwargs), "fulfillment.request-shipment", app.unit_of_work)
    return shipment_id_for(order_id)


def picked(app: ModuleType, order_id: str, **kwargs: Any) -> str:
    shipment_id = requested(app, order_id, **kwargs)
    usecases.mark_picked(app.repository, app.unit_of_work, order_id, WAREHOUSE_STAFF, datetime.now(UTC))
    return shipment_id


def packed(app: ModuleType, order_id: str, handoff: Handoff = "logistics_service", **kwargs: Any) -> str:
    shipment_id = picked(app, order_id, **kwargs)
    usecases.mark_packed(app.repository, app.unit_of_work, order_id, WAREHOUSE_STAFF, handoff, datetime.now(UTC))
    return shipment_id


def order_cancelled(order_id: str, by: str = "customer") -> DomainEvent:
    """OrderCancelled for the order `paid` describes."""
    paid_data = paid(order_id).data
    assert isinstance(paid_data, PaymentCapturedV1)
    data = OrderCancelledV1(
        order_id=order_id,
        cancelled_by=by,  # type: ignore[arg-type]
        reason="changed my mind",
        customer_email=paid_data.customer_email,
        lines=paid_data.lines,
        total=paid_data.amount,
    )
    return new_event(data, producer="shop.orders", correlation_id=order_id, now=datetime.now(UTC))


def tracking_webhook(client: Any, shipment: dict[str, Any], status: str, *, secret: str = WEBHOOK_SECRET) -> Any:
    """The 3PL's tracking notification about `shipment`, signed with `secret`, POSTed through a chalice test client."""
    body = json.dumps(
        {
            "event_id": f"evt-{uuid.uuid4().hex}",
            "shipment_id": shipment.get("logistics_shipment_id", "OL-none"),
            "identifier": shipment["shipment_id"],
            "order_no": shipment["order_id"],
            "status": status,
            "delivery_carrier": "YAMATO",
            "tracking_code": "400098765432" if status in ("shipped", "delivered") else None,
        }
    ).encode()
    sent = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Logistics-Timestamp": sent,
        "X-Logistics-Signature": sign(secret, sent, body),
    }
    return client.http.post("/logistics/tracking", headers=headers, body=body)
