"""Orders use cases: place an order, charge it once stock is reserved, keep its history."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from chalicelib.api_models import PlaceOrderRequest
from chalicelib.domain import ChargeOutcome, ChargeRequest, Order, PaymentCaptured, PaymentOutcome, ProductView, place_order
from chalicelib.payments import PaymentGateway
from chalicelib.repository import IdempotencyKeyTaken, OrderChangedSinceRead, ProductViewNotNewer
from shop_contracts.events import (
    Money,
    OrderLine,
    OrderPlacedV1,
    OrderPlacedV2,
    PaymentCapturedV1,
    PaymentFailedV1,
    ProductPublishedV1,
    ShipmentRequestedV1,
    StockRejectedV1,
    StockReleasedV1,
    StockReservedV1,
)
from shop_eventing.envelope import DomainEvent, EventData, new_event
from shop_eventing.outbox import TransactionalWork

SOURCE = "shop.orders"
SAVE_ATTEMPTS = 5


class Orders(Protocol):
    """The orders table as the use cases read it (chalicelib.repository.OrdersRepository)."""

    def order(self, order_id: str) -> Order | None: ...

    def request(self, idempotency_key: str) -> dict[str, Any] | None: ...

    def product_views(self, skus: list[str]) -> dict[str, ProductView]: ...

    def customer_orders(
        self, customer_id: str, *, limit: int, after: dict[str, str] | None
    ) -> tuple[list[Order], dict[str, str] | None]: ...


class OrdersWork(TransactionalWork, Protocol):
    """One transaction on the orders table (chalicelib.repository.OrdersUnitOfWork): its own writes, then
    TransactionalWork's events, processed-marker and commit."""

    def save_order(self, order: Order) -> None: ...

    def save_request(self, idempotency_key: str, fingerprint: str, order_id: str) -> None: ...

    def save_product_view(self, view: ProductView) -> None: ...


NewUnitOfWork = Callable[[], OrdersWork]


class IdempotencyKeyReused(Exception):
    """The same Idempotency-Key came with a different request body."""


class CursorInvalid(Exception):
    """The ?cursor= is not one this service gave this customer."""


class OrderChanged(Exception):
    """The order kept changing under us; the event is retried later."""


def _fingerprint(request: PlaceOrderRequest) -> str:
    return hashlib.sha256(json.dumps(request.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def place(
    request: PlaceOrderRequest, idempotency_key: str, customer_id: str, repository: Orders, new_uow: NewUnitOfWork
) -> tuple[Order, bool]:
    """Returns (order, replayed): the same key with the same body returns the first order again.

    Keys are the customer's own: another customer's same key is another request (and must never
    replay somebody else's order)."""
    idempotency_key = f"{customer_id}/{idempotency_key}"
    fingerprint = _fingerprint(request)
    existing = _replay(idempotency_key, fingerprint, repository)
    if existing:
        return existing, True
    requested = [(line.sku, line.quantity) for line in request.lines]
    address = request.shipping_address
    order = place_order(
        order_id=str(uuid.uuid4()),
        customer_email=request.customer_email,
        requested=requested,
        catalog=repository.product_views([sku for sku, _ in requested]),
        payment_token=request.payment_token,
        shipping_address=address.as_text() if address else None,
        delivery_address=address.model_dump() if address else None,
        now=datetime.now(UTC),
        customer_id=customer_id,
    )
    # The same fact in both majors while v1 has consumers (catalog): only the address's shape differs,
    # and each has its own event_id.
    fact: dict[str, Any] = {
        "order_id": order.order_id,
        "customer_email": order.customer_email,
        "lines": _order_lines(order),
        "total": Money(amount=order.total, currency=order.currency),
        "customer_id": order.customer_id,
    }
    placed = new_event(
        OrderPlacedV1(**fact, shipping_address=order.shipping_address), producer=SOURCE, correlation_id=order.order_id
    )
    placed_v2 = new_event(
        OrderPlacedV2(**fact, shipping_address=address),
        producer=SOURCE,
        correlation_id=order.order_id,
        now=placed.metadata.occurred_at,
    )
    order.record(placed.event_id, placed.event_type, placed.metadata.occurred_at, "order placed")
    uow = new_uow()
    # The key first: when a concurrent request with the same key won, that is the conflict reported.
    uow.save_request(idempotency_key, fingerprint, order.order_id)
    uow.save_order(order)
    uow.add_event(placed)
    uow.add_event(placed_v2)
    try:
        uow.commit()
    except IdempotencyKeyTaken:
        # A concurrent request with the same key won the race: answer with its order.
        existing = _replay(idempotency_key, fingerprint, repository)
        if existing:
            return existing, True
        raise
    order.version += 1
    return order, False


def customer_order(customer_id: str, order_id: str, repository: Orders) -> Order | None:
    """The order if it is this customer's; another customer's is as absent as a missing one (404, not
    403: whether an order id exists is nobody else's business)."""
    order = repository.order(order_id)
    return order if order is not None and order.customer_id == customer_id else None


_CURSOR_KEYS = frozenset({"pk", "sk", "gsi1pk", "gsi1sk"})


def list_orders(customer_id: str, limit: int, cursor: str | None, repository: Orders) -> tuple[list[Order], str | None]:
    """A page of the customer's orders, newest first, and the opaque cursor of the next page."""
    after = _decode_cursor(cursor, customer_id) if cursor else None
    orders, last = repository.customer_orders(customer_id, limit=limit, after=after)
    return orders, _encode_cursor(last) if last else None


def _encode_cursor(key: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, customer_id: str) -> dict[str, str]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise CursorInvalid("not a cursor from this API") from None
    if not isinstance(key, dict) or set(key) != _CURSOR_KEYS or not all(isinstance(v, str) for v in key.values()):
        raise CursorInvalid("not a cursor from this API")
    # A cursor is the position in one customer's list: nobody pages through another's.
    if key["gsi1pk"] != f"CUSTOMER#{customer_id}":
        raise CursorInvalid("not a cursor from this API")
    return key


def _replay(idempotency_key: str, fingerprint: str, repository: Orders) -> Order | None:
    previous = repository.request(idempotency_key)
    if previous is None:
        return None
    if previous["fingerprint"] != fingerprint:
        raise IdempotencyKeyReused(idempotency_key)
    return repository.order(previous["order_id"])


def _order_lines(order: Order) -> list[OrderLine]:
    return [
        OrderLine(
            sku=line.sku,
            name=line.name,
            kind=line.kind,
            quantity=line.quantity,
            unit_price=Money(amount=line.unit_price, currency=order.currency),
        )
        for line in order.lines
    ]


def charge_payment(
    event: DomainEvent,
    subscriber: str,
    repository: Orders,
    new_uow: NewUnitOfWork,
    gateway: PaymentGateway,
) -> None:
    """On StockReserved: charge once (the gateway key is the order id), record the outcome, publish it."""
    reserved = event.data
    assert isinstance(reserved, StockReservedV1)
    for _ in range(SAVE_ATTEMPTS):
        order = _existing_order(repository, reserved.order_id)
        order.record(event.event_id, event.event_type, event.metadata.occurred_at, "stock reserved")
        outcome: DomainEvent | None = None
        if order.awaiting_payment:
            charge = order.charge_request()
            # Safe to repeat after a crash or a lost race: the gateway answers the same key with the
            # original outcome, so this never charges twice nor turns a success into a failure.
            answer = _ask_gateway(gateway, charge) if charge else None  # None: free, nothing to charge
            payment = order.settle_payment(answer)
            outcome = event.caused(_payment_event(order, payment), producer=SOURCE)
            order.record(outcome.event_id, outcome.event_type, outcome.metadata.occurred_at, payment.summary)
        if _commit(order, subscriber, event, new_uow, outcome):
            return
    raise OrderChanged(f"order {reserved.order_id} kept changing")


def _ask_gateway(gateway: PaymentGateway, charge: ChargeRequest) -> ChargeOutcome:
    return gateway.charge(
        idempotency_key=charge.idempotency_key,
        amount=charge.amount,
        currency=charge.currency,
        token=charge.token,
        description=charge.description,
    )


def _payment_event(order: Order, payment: PaymentOutcome) -> EventData:
    amount = Money(amount=order.total, currency=order.currency)
    if isinstance(payment, PaymentCaptured):
        return PaymentCapturedV1(
            order_id=order.order_id,
            payment_id=payment.payment_id,
            amount=amount,
            customer_email=order.customer_email,
            lines=_order_lines(order),
            shipping_address=order.shipping_address,
            customer_id=order.customer_id,
        )
    return PaymentFailedV1(order_id=order.order_id, amount=amount, customer_email=order.customer_email, reason=payment.reason)


_SUMMARIES: dict[type[EventData], Callable[[EventData], str]] = {
    StockRejectedV1: lambda d: f"rejected: {d.reason}",  # type: ignore[attr-defined]
    StockReleasedV1: lambda d: "reserved stock released",
    ShipmentRequestedV1: lambda d: f"shipment requested ({d.shipment_id})",  # type: ignore[attr-defined]
}


def record_history(event: DomainEvent, subscriber: str, repository: Orders, new_uow: NewUnitOfWork) -> None:
    """Another service's event about an order goes on the order's timeline."""
    assert isinstance(event.data, StockRejectedV1 | StockReleasedV1 | ShipmentRequestedV1)
    order_id = event.data.order_id
    summary = _SUMMARIES[type(event.data)](event.data)
    for _ in range(SAVE_ATTEMPTS):
        order = _existing_order(repository, order_id)
        order.record(event.event_id, event.event_type, event.metadata.occurred_at, summary)
        if _commit(order, subscriber, event, new_uow, None):
            return
    raise OrderChanged(f"order {order_id} kept changing")


def update_product_view(event: DomainEvent, subscriber: str, new_uow: NewUnitOfWork) -> None:
    product = event.data
    assert isinstance(product, ProductPublishedV1)
    view = ProductView(
        sku=product.sku,
        name=product.name,
        kind=product.kind,
        price_amount=product.price.amount,
        currency=product.price.currency,
        revision=product.revision,
    )
    uow = new_uow()
    uow.save_product_view(view)
    uow.mark_processed(subscriber, event)
    try:
        uow.commit()
    except ProductViewNotNewer:
        # We already hold a newer revision: this one is stale. Remember we saw it, change nothing.
        seen = new_uow()
        seen.mark_processed(subscriber, event)
        seen.commit()


def _existing_order(repository: Orders, order_id: str) -> Order:
    order = repository.order(order_id)
    if order is None:
        # Every event about an order follows its OrderPlaced, which follows the order's commit.
        raise LookupError(f"no order {order_id}")
    return order


def _commit(order: Order, subscriber: str, event: DomainEvent, new_uow: NewUnitOfWork, outcome: DomainEvent | None) -> bool:
    """Save the order, the outgoing event and the processed-marker at once; False if the order moved."""
    uow = new_uow()
    uow.save_order(order)
    if outcome:
        uow.add_event(outcome)
    uow.mark_processed(subscriber, event)
    try:
        uow.commit()
    except OrderChangedSinceRead:
        return False
    return True
