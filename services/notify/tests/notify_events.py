"""Events as their producers publish them, for notify's tests: one builder per event notify consumes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shop_contracts.events import (
    Address,
    Locale,
    Money,
    OrderCancelledV1,
    OrderLine,
    PaymentCapturedV1,
    PaymentFailedV1,
    PaymentRefundedV1,
    ShipmentDeliveredV1,
    ShipmentDispatchedV1,
)
from shop_eventing.envelope import DomainEvent, EventData, new_event

T0 = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


def new_order_id() -> str:
    return f"ord-{uuid.uuid4().hex[:10]}"


def recipient() -> str:
    return f"buyer-{uuid.uuid4().hex[:10]}@example.com"


def at(data: EventData, producer: str, minutes: float = 0) -> DomainEvent:
    order_id: str = data.order_id  # type: ignore[attr-defined]
    return new_event(data, producer=producer, correlation_id=order_id, now=T0 + timedelta(minutes=minutes))


def captured(
    order_id: str,
    to: str = "ada@example.com",
    *,
    locale: Locale | None = None,
    currency: str = "USD",
    unit: int = 1000,
    name: str = "Blu-ray box",
    recipient_name: str | None = None,
    minutes: float = 0,
) -> DomainEvent:
    lines = [
        OrderLine(sku="BOX", name=name, kind="physical", quantity=2, unit_price=Money(amount=unit, currency=currency)),
        OrderLine(sku="FILM", name="Film rental", kind="digital", quantity=1, unit_price=Money(amount=500, currency=currency)),
    ]
    data = PaymentCapturedV1(
        order_id=order_id,
        payment_id="ch_1",
        amount=Money(amount=2 * unit + 500, currency=currency),
        customer_email=to,
        customer_id="sub-ada",
        lines=lines,
        shipping_address="1 Main St",
        locale=locale,
        structured_address=Address(recipient=recipient_name, line1="1 Main St") if recipient_name else None,
    )
    return at(data, "shop.orders", minutes)


def failed(
    order_id: str, to: str = "bob@example.com", *, locale: Locale | None = None, reason: str = "card_declined"
) -> DomainEvent:
    data = PaymentFailedV1(
        order_id=order_id, amount=Money(amount=700, currency="USD"), customer_email=to, reason=reason, locale=locale
    )
    return at(data, "shop.orders")


def dispatched(
    order_id: str, to: str = "ada@example.com", *, locale: Locale | None = None, url: str | None = None, minutes: float = 60
) -> DomainEvent:
    data = ShipmentDispatchedV1(
        shipment_id="shp_1",
        order_id=order_id,
        carrier="yamato",
        tracking_number="4912-3456-7890",
        tracking_url=url,
        customer_email=to,
        locale=locale,
    )
    return at(data, "shop.fulfillment", minutes)


def delivered(order_id: str, to: str = "ada@example.com", *, locale: Locale | None = None, minutes: float = 120) -> DomainEvent:
    data = ShipmentDeliveredV1(
        shipment_id="shp_1",
        order_id=order_id,
        carrier="yamato",
        tracking_number="4912-3456-7890",
        customer_email=to,
        locale=locale,
    )
    return at(data, "shop.fulfillment", minutes)


def cancelled(
    order_id: str,
    to: str = "ada@example.com",
    *,
    locale: Locale | None = None,
    reason: str = "ordered by mistake",
    minutes: float = 10,
) -> DomainEvent:
    data = OrderCancelledV1(
        order_id=order_id,
        cancelled_by="customer",
        reason=reason,
        customer_email=to,
        locale=locale,
        lines=[
            OrderLine(sku="BOX", name="Blu-ray box", kind="physical", quantity=1, unit_price=Money(amount=1200, currency="JPY"))
        ],
        total=Money(amount=1200, currency="JPY"),
        payment_id="ch_1",
    )
    return at(data, "shop.orders", minutes)


def refunded(
    order_id: str,
    to: str = "ada@example.com",
    *,
    locale: Locale | None = None,
    amount: int = 1200,
    total: int = 1200,
    full: bool = True,
    currency: str = "JPY",
    reason: str = "order cancelled",
    minutes: float = 11,
) -> DomainEvent:
    data = PaymentRefundedV1(
        order_id=order_id,
        refund_id=f"re_{uuid.uuid4().hex[:8]}",
        payment_id="ch_1",
        amount=Money(amount=amount, currency=currency),
        refunded_total=Money(amount=total, currency=currency),
        fully_refunded=full,
        reason=reason,
        initiated_by="customer_cancellation",
        customer_email=to,
        locale=locale,
    )
    return at(data, "shop.orders", minutes)
