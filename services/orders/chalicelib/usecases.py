"""Orders use cases: place an order, charge it once stock is reserved, keep its history, cancel it,
refund it; keep the catalog view."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, get_args

from chalicelib.api_models import PlaceOrderRequest
from chalicelib.domain import (
    CancelledBy,
    ChargeOutcome,
    ChargeRequest,
    Order,
    PaymentCaptured,
    PaymentOutcome,
    ProductView,
    Refund,
    RefundInitiator,
    format_money,
    place_order,
    resolve_locale,
)
from chalicelib.payments import PaymentGateway, RefundRefused
from chalicelib.repository import IdempotencyKeyTaken, OrderChangedSinceRead, ProductViewNotNewer
from shop_contracts.events import (
    Address,
    DeliveryPreference,
    EntitlementGrantedV1,
    EntitlementRevokedV1,
    Locale,
    Money,
    OrderCancelledV1,
    OrderLine,
    OrderPlacedV1,
    OrderPlacedV2,
    PaymentCapturedV1,
    PaymentFailedV1,
    PaymentRefundedV1,
    ProductPublishedV1,
    ProductRetiredV1,
    ProductUpdatedV1,
    ShipmentCancelledV1,
    ShipmentDeliveredV1,
    ShipmentDispatchedV1,
    ShipmentInstructedV1,
    ShipmentPackedV1,
    ShipmentRequestedV1,
    StockRejectedV1,
    StockReleasedV1,
    StockReservedV1,
    VideoAccess,
)
from shop_eventing.envelope import DomainEvent, EventData, new_event
from shop_eventing.outbox import TransactionalWork

SOURCE = "shop.orders"
SAVE_ATTEMPTS = 5
# The shop's language when the customer names none and their browser asks for none we speak: the shop
# sells in Japan first (notify reads an event without a locale the same way).
DEFAULT_LOCALE: Locale = "ja"
SUPPORTED_LOCALES: tuple[str, ...] = get_args(Locale)
REASON_MAX_LENGTH = 500


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

    def retire_product_view(self, sku: str, revision: int) -> None: ...


NewUnitOfWork = Callable[[], OrdersWork]


class IdempotencyKeyReused(Exception):
    """The same Idempotency-Key came with a different request body."""


class CursorInvalid(Exception):
    """The ?cursor= is not one this service gave this customer."""


class OrderChanged(Exception):
    """The order kept changing under us; the event is retried later."""


class OrderNotFound(Exception):
    """No such order, or (for a customer) not theirs."""


def _fingerprint(request: PlaceOrderRequest) -> str:
    return hashlib.sha256(json.dumps(request.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def place(
    request: PlaceOrderRequest,
    idempotency_key: str,
    customer_id: str,
    repository: Orders,
    new_uow: NewUnitOfWork,
    *,
    accept_language: str | None = None,
) -> tuple[Order, bool]:
    """Returns (order, replayed): the same key with the same body returns the first order again.

    Keys are the customer's own: another customer's same key is another request (and must never
    replay somebody else's order). The locale is the body's, else the best of Accept-Language we
    speak, else DEFAULT_LOCALE: every order carries one, so no consumer has to guess."""
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
        locale=resolve_locale(request.locale, accept_language, DEFAULT_LOCALE, SUPPORTED_LOCALES),
        delivery=request.delivery.model_dump() if request.delivery else None,
    )
    # The same fact in both majors while v1 has consumers (catalog): only the address's shape differs,
    # and each has its own event_id.
    fact: dict[str, Any] = {
        "order_id": order.order_id,
        "customer_email": order.customer_email,
        "lines": _order_lines(order),
        "total": Money(amount=order.total, currency=order.currency),
        "customer_id": order.customer_id,
        "locale": order.locale,
    }
    placed = new_event(
        OrderPlacedV1(**fact, shipping_address=order.shipping_address), producer=SOURCE, correlation_id=order.order_id
    )
    placed_v2 = new_event(
        OrderPlacedV2(**fact, shipping_address=address, delivery=_delivery(order)),
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
    order.mark_saved()
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
            access=VideoAccess.model_validate(line.access) if line.access else None,
        )
        for line in order.lines
    ]


def _delivery(order: Order) -> DeliveryPreference | None:
    return DeliveryPreference.model_validate(order.delivery) if order.delivery else None


def _locale(order: Order) -> Locale | None:
    return order.locale if order.locale in SUPPORTED_LOCALES else None  # type: ignore[return-value]


def _money(order: Order, amount: int) -> Money:
    return Money(amount=amount, currency=order.currency)


def charge_payment(
    event: DomainEvent,
    subscriber: str,
    repository: Orders,
    new_uow: NewUnitOfWork,
    gateway: PaymentGateway,
) -> None:
    """On StockReserved: charge once (the gateway key is the order id), record the outcome, publish it.

    A cancelled order is never charged. Before asking the gateway the step commits `charge_started`
    on the order (conditionally, on the version it read): a cancellation committed first makes that
    write fail and the step decides again, finding the order cancelled; a cancellation arriving after
    it is refused (payment_in_progress) until the outcome is recorded, so money is never taken from
    an order nobody would refund."""
    reserved = event.data
    assert isinstance(reserved, StockReservedV1)
    for _ in range(SAVE_ATTEMPTS):
        order = _existing_order(repository, reserved.order_id)
        order.record(event.event_id, event.event_type, event.metadata.occurred_at, "stock reserved")
        outcome: DomainEvent | None = None
        if order.awaiting_payment:
            charge = order.charge_request()
            if charge and not order.charge_started:
                order.charge_started = True
                if not _save(order, new_uow):
                    continue
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
            locale=_locale(order),
            structured_address=Address.model_validate(order.delivery_address) if order.delivery_address else None,
            delivery=_delivery(order),
        )
    return PaymentFailedV1(
        order_id=order.order_id,
        amount=amount,
        customer_email=order.customer_email,
        reason=payment.reason,
        customer_id=order.customer_id,
        locale=_locale(order),
    )


def _released(data: StockReleasedV1) -> str:
    return "reserved stock released" + (" (order cancelled)" if data.reason == "order_cancelled" else "")


def _instructed(data: ShipmentInstructedV1) -> str:
    return f"handed to the logistics service ({data.carrier}, {data.logistics_shipment_id})"


_SUMMARIES: dict[type[EventData], Callable[[Any], str]] = {
    StockRejectedV1: lambda d: f"rejected: {d.reason}",
    StockReleasedV1: _released,
    ShipmentRequestedV1: lambda d: f"shipment requested ({d.shipment_id})",
    ShipmentPackedV1: lambda d: f"packed ({d.shipment_id})",
    ShipmentInstructedV1: _instructed,
    ShipmentDispatchedV1: lambda d: f"dispatched with {d.carrier}, tracking number {d.tracking_number}",
    ShipmentDeliveredV1: lambda d: f"delivered by {d.carrier}",
    ShipmentCancelledV1: lambda d: f"shipment cancelled ({d.shipment_id})",
}
HistoryEvent = (
    StockRejectedV1
    | StockReleasedV1
    | ShipmentRequestedV1
    | ShipmentPackedV1
    | ShipmentInstructedV1
    | ShipmentDispatchedV1
    | ShipmentDeliveredV1
    | ShipmentCancelledV1
)


def _shipment_facts(data: EventData) -> dict[str, str | None]:
    """What a shipment event tells about the parcel, by the names the order keeps."""
    facts: dict[str, str | None] = {"shipment_id": getattr(data, "shipment_id", None)}
    for name in ("carrier", "tracking_number", "tracking_url", "logistics_shipment_id"):
        facts[name] = getattr(data, name, None)
    return facts


def record_history(event: DomainEvent, subscriber: str, repository: Orders, new_uow: NewUnitOfWork) -> None:
    """Another service's event about an order goes on the order's timeline; the statuses follow from
    the set of events the timeline holds, so the order the events arrive in does not matter."""
    data = event.data
    assert isinstance(data, HistoryEvent)
    order_id = data.order_id
    summary = _SUMMARIES[type(data)](data)
    for _ in range(SAVE_ATTEMPTS):
        order = _existing_order(repository, order_id)
        order.record(event.event_id, event.event_type, event.metadata.occurred_at, summary)
        order.note_shipment(**_shipment_facts(data))
        if _commit(order, subscriber, event, new_uow, None):
            return
    raise OrderChanged(f"order {order_id} kept changing")


def _access_summary(data: EntitlementGrantedV1 | EntitlementRevokedV1) -> str:
    what = data.product_type.replace("_", " ")
    if isinstance(data, EntitlementRevokedV1):
        return f"access revoked: {data.sku} ({what}, {data.reason.replace('_', ' ')})"
    until = f", until {data.expires_at}" if data.expires_at else ""
    return f"access granted: {data.sku} ({what}{until})"


def record_delivery(event: DomainEvent, subscriber: str, repository: Orders, new_uow: NewUnitOfWork) -> bool:
    """vod granted or revoked a digital line's access: the line's facts and the event go on the order
    (the line shows delivered or revoked; the statuses follow from the set of facts, in any arrival order).

    Returns False for an entitlement about an order orders never held, noted as processed and not retried:
    vod grants only on a PaymentCaptured, which orders publishes after the order's commit, so no wait can
    make such an order appear (a test or a replay put that PaymentCaptured on the bus)."""
    data = event.data
    assert isinstance(data, EntitlementGrantedV1 | EntitlementRevokedV1)
    summary = _access_summary(data)
    for _ in range(SAVE_ATTEMPTS):
        order = repository.order(data.order_id)
        if order is None:
            _mark_processed(new_uow, subscriber, event)
            return False
        order.record(event.event_id, event.event_type, event.metadata.occurred_at, summary)
        if isinstance(data, EntitlementGrantedV1):
            order.note_delivery(
                data.sku, entitlement_id=data.entitlement_id, granted_at=data.granted_at, expires_at=data.expires_at
            )
        else:
            order.note_delivery(
                data.sku, entitlement_id=data.entitlement_id, revoked_at=data.revoked_at, revoke_reason=data.reason
            )
        if _commit(order, subscriber, event, new_uow, None):
            return True
    raise OrderChanged(f"order {data.order_id} kept changing")


def update_product_view(event: DomainEvent, subscriber: str, new_uow: NewUnitOfWork) -> None:
    """ProductPublished, ProductUpdated and ProductRetired share one revision: the view keeps the
    highest it has seen (a conditional write), so a late, older event changes nothing."""
    product = event.data
    assert isinstance(product, ProductPublishedV1 | ProductUpdatedV1 | ProductRetiredV1)
    uow = new_uow()
    if isinstance(product, ProductRetiredV1):
        uow.retire_product_view(product.sku, product.revision)
    else:
        uow.save_product_view(
            ProductView(
                sku=product.sku,
                name=product.name,
                kind=product.kind,
                price_amount=product.price.amount,
                currency=product.price.currency,
                revision=product.revision,
                product_type=product.product_type or ("physical_good" if product.kind == "physical" else None),
                # An access naming neither a video nor a show (catalog's legacy digital products) gives
                # nothing: carried on, vod could only fail on it.
                access=product.access.model_dump()
                if product.access and (product.access.video_id or product.access.live_show_id)
                else None,
            )
        )
    uow.mark_processed(subscriber, event)
    try:
        uow.commit()
    except ProductViewNotNewer:
        # We already hold a newer revision: this one is stale. Remember we saw it, change nothing.
        seen = new_uow()
        seen.mark_processed(subscriber, event)
        seen.commit()


# -- cancellation -----------------------------------------------------------------------------------


def cancel(
    order_id: str,
    *,
    by: CancelledBy,
    actor: str,
    reason: str,
    repository: Orders,
    new_uow: NewUnitOfWork,
    owner: str | None = None,
) -> tuple[Order, bool]:
    """Cancel the order and publish OrderCancelled, which every service compensates from (stock,
    shipment, access, money: see `refund_on_cancel`). Returns (order, replayed): the same party asking
    again with the same reason gets the same answer. `owner`: the customer who must own the order
    (None for staff). Raises OrderNotFound, or CancelRefused naming why (domain.Order.cancel_refusal)."""
    for _ in range(SAVE_ATTEMPTS):
        order = repository.order(order_id)
        if order is None or (owner is not None and order.customer_id != owner):
            raise OrderNotFound(order_id)
        if order.cancellation is not None and order.cancellation.same_request(by, actor, reason):
            return order, True
        captured = order.payment_id if order.has_seen("PaymentCaptured") else None
        cancelled = new_event(
            OrderCancelledV1(
                order_id=order.order_id,
                cancelled_by=by,
                reason=reason,
                customer_email=order.customer_email,
                customer_id=order.customer_id,
                locale=_locale(order),
                lines=_order_lines(order),
                total=_money(order, order.total),
                payment_id=captured,
            ),
            producer=SOURCE,
            correlation_id=order.order_id,
        )
        order.cancel(by=by, actor=actor, reason=reason, event_id=cancelled.event_id)
        who = "the customer" if by == "customer" else "staff"
        order.record(cancelled.event_id, cancelled.event_type, cancelled.metadata.occurred_at, f"cancelled by {who}: {reason}")
        uow = new_uow()
        uow.save_order(order)
        uow.add_event(cancelled)
        try:
            uow.commit()
        except OrderChangedSinceRead:
            continue  # decide again on what changed (a shipment handed over, a charge started)
        order.mark_saved()
        return order, False
    raise OrderChanged(f"order {order_id} kept changing")


# -- refunds ----------------------------------------------------------------------------------------


def refund_on_cancel(
    event: DomainEvent, subscriber: str, repository: Orders, new_uow: NewUnitOfWork, gateway: PaymentGateway
) -> None:
    """On OrderCancelled: give back everything captured and not yet refunded, through the gateway with a
    key derived from the OrderCancelled's event_id, then publish PaymentRefunded. Nothing captured,
    nothing to do; an OrderCancelled that is not the order's own recorded cancellation, nothing either.
    A refusal is recorded on the order (staff refund by hand) and not retried."""
    cancelled = event.data
    assert isinstance(cancelled, OrderCancelledV1)
    order = repository.order(cancelled.order_id)
    key = f"refund-cancel-{event.event_id}"
    # Only the cancellation orders itself recorded gives money back: any other OrderCancelled (a forged
    # or mistaken one on the bus, about one of our orders or about none) is noted as processed and
    # refunds nothing. orders writes the order before its own OrderCancelled, so waiting cannot help.
    ours = order is not None and order.cancellation is not None and order.cancellation.event_id == event.event_id
    if order is None or not ours or (order.refund(key) is None and (order.refundable_amount <= 0 or not order.payment_id)):
        done = new_uow()
        done.mark_processed(subscriber, event)
        done.commit()
        return
    initiated_by: RefundInitiator = "customer_cancellation" if cancelled.cancelled_by == "customer" else "staff"
    digital = [line.sku for line in order.lines if line.kind == "digital"]
    try:
        _refund(
            repository,
            new_uow,
            gateway,
            order_id=order.order_id,
            key=key,
            amount=None,
            reason=f"order cancelled: {cancelled.reason}"[:REASON_MAX_LENGTH],
            initiated_by=initiated_by,
            skus=digital,
            cause=(subscriber, event),
        )
    except RefundRefused:
        return  # recorded on the order's timeline with the processed-marker


def refund_by_staff(
    order_id: str,
    *,
    idempotency_key: str,
    amount: int,
    reason: str,
    skus: list[str],
    repository: Orders,
    new_uow: NewUnitOfWork,
    gateway: PaymentGateway,
) -> tuple[Order, Refund, bool]:
    """A staff member gives back `amount` of an order's captured payment. Returns (order, refund,
    replayed). The same Idempotency-Key with the same request returns the same refund (and finishes it
    if the gateway did not answer the first time); with another request it is refused."""
    if repository.order(order_id) is None:
        raise OrderNotFound(order_id)
    request_key = f"refund/{order_id}/{idempotency_key}"
    fingerprint = hashlib.sha256(json.dumps([amount, reason, skus]).encode()).hexdigest()
    previous = repository.request(request_key)
    if previous is not None and previous["fingerprint"] != fingerprint:
        raise IdempotencyKeyReused(idempotency_key)
    # The gateway's key: ours is at most 255 characters and so is the gateway's, with the order id besides.
    key = "refund-staff-" + hashlib.sha256(request_key.encode()).hexdigest()[:40]
    order, refund, replayed = _refund(
        repository,
        new_uow,
        gateway,
        order_id=order_id,
        key=key,
        amount=amount,
        reason=reason,
        initiated_by="staff",
        skus=skus,
        request=None if previous else (request_key, fingerprint),
    )
    return order, refund, replayed


def _refund(
    repository: Orders,
    new_uow: NewUnitOfWork,
    gateway: PaymentGateway,
    *,
    order_id: str,
    key: str,
    amount: int | None,
    reason: str,
    initiated_by: RefundInitiator,
    skus: list[str],
    cause: tuple[str, DomainEvent] | None = None,
    request: tuple[str, str] | None = None,
) -> tuple[Order, Refund, bool]:
    """Three restartable steps, each safe to repeat under the same `key`: claim the amount on the order
    (a conditional write, so racing refunds never give back more than was captured), ask the gateway
    (it answers a repeated key with its first answer), record the refund and publish PaymentRefunded.
    Raises RefundNotAllowed from the claim, RefundRefused from the gateway (the claim released)."""
    order, refund = _claim_refund(
        repository,
        new_uow,
        order_id=order_id,
        key=key,
        amount=amount,
        reason=reason,
        initiated_by=initiated_by,
        skus=skus,
        request=request,
    )
    if refund.done:
        if cause:  # a redelivery after the refund was recorded: only the marker is missing
            _mark_processed(new_uow, *cause)
        return order, refund, True
    payment_id = order.payment_id or ""
    # 2. the gateway
    try:
        outcome = gateway.refund(idempotency_key=key, payment_id=payment_id, amount=refund.amount, reason=reason)
    except RefundRefused as refused:
        _release(repository, new_uow, order_id, refund, refused, cause)
        raise
    # 3. the record and the event
    for _ in range(SAVE_ATTEMPTS):
        order = _existing_order(repository, order_id)
        current = order.refund(key)
        if current is None or current.done:
            if current is not None:
                return order, current, True
            raise OrderChanged(f"refund {key} of order {order_id} vanished")
        refunded = order.refunded_amount + outcome.amount
        data = PaymentRefundedV1(
            order_id=order_id,
            refund_id=outcome.refund_id,
            payment_id=payment_id,
            amount=_money(order, outcome.amount),
            refunded_total=_money(order, refunded),
            fully_refunded=refunded >= order.captured_amount,
            reason=reason,
            initiated_by=initiated_by,
            skus=current.skus,
            customer_email=order.customer_email,
            customer_id=order.customer_id,
            locale=_locale(order),
        )
        event = cause[1].caused(data, producer=SOURCE) if cause else new_event(data, producer=SOURCE, correlation_id=order_id)
        done = order.complete_refund(key, refund_id=outcome.refund_id, amount=outcome.amount, event_id=event.event_id)
        summary = f"refunded {format_money(outcome.amount, order.currency)} ({reason})"
        order.record(event.event_id, event.event_type, event.metadata.occurred_at, summary)
        uow = new_uow()
        uow.save_order(order)
        uow.add_event(event)
        if cause:
            uow.mark_processed(*cause)
        try:
            uow.commit()
        except OrderChangedSinceRead:
            continue
        order.mark_saved()
        return order, done, False
    raise OrderChanged(f"order {order_id} kept changing")


def _claim_refund(
    repository: Orders,
    new_uow: NewUnitOfWork,
    *,
    order_id: str,
    key: str,
    amount: int | None,
    reason: str,
    initiated_by: RefundInitiator,
    skus: list[str],
    request: tuple[str, str] | None,
) -> tuple[Order, Refund]:
    for _ in range(SAVE_ATTEMPTS):
        order = _existing_order(repository, order_id)
        existing = order.refund(key)
        if existing is not None:
            return order, existing
        refund = order.start_refund(key=key, amount=amount, reason=reason, initiated_by=initiated_by, skus=skus)
        uow = new_uow()
        if request:
            uow.save_request(*request, order_id)
        uow.save_order(order)
        try:
            uow.commit()
        except IdempotencyKeyTaken:
            request = None  # the same request, concurrently, claimed first: its claim is on the order
            continue
        except OrderChangedSinceRead:
            continue
        order.mark_saved()
        return order, refund
    raise OrderChanged(f"order {order_id} kept changing")


def _release(
    repository: Orders,
    new_uow: NewUnitOfWork,
    order_id: str,
    refund: Refund,
    refused: RefundRefused,
    cause: tuple[str, DomainEvent] | None,
) -> None:
    """The gateway refused: give the claimed amount back to what is refundable and say so on the timeline."""
    for _ in range(SAVE_ATTEMPTS):
        order = _existing_order(repository, order_id)
        order.abandon_refund(refund.key)
        summary = f"refund of {format_money(refund.amount, order.currency)} refused by the payment gateway ({refused.code})"
        order.record(f"refund-refused-{refund.key}", "RefundRefused", datetime.now(UTC), summary)
        uow = new_uow()
        uow.save_order(order)
        if cause:
            uow.mark_processed(*cause)
        try:
            uow.commit()
        except OrderChangedSinceRead:
            continue
        return
    raise OrderChanged(f"order {order_id} kept changing")


def _mark_processed(new_uow: NewUnitOfWork, subscriber: str, event: DomainEvent) -> None:
    uow = new_uow()
    uow.mark_processed(subscriber, event)
    uow.commit()


def _existing_order(repository: Orders, order_id: str) -> Order:
    order = repository.order(order_id)
    if order is None:
        # Every event about an order follows its OrderPlaced, which follows the order's commit.
        raise LookupError(f"no order {order_id}")
    return order


def _save(order: Order, new_uow: NewUnitOfWork) -> bool:
    """Save the order alone; False if it moved since it was read. On success the order is at its new version."""
    uow = new_uow()
    uow.save_order(order)
    try:
        uow.commit()
    except OrderChangedSinceRead:
        return False
    order.mark_saved()
    return True


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
