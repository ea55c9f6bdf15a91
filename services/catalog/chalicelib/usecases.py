"""Catalog use cases. Each reads what it needs, asks the domain, and commits state + events at once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal, Protocol

from chalicelib.domain import (
    Access,
    Product,
    ProductInvalid,
    PublicChange,
    Release,
    ReservationStatus,
    Reserve,
    Tombstone,
    TransitionRefused,
    adjusted_stock,
    checked_access,
    checked_stock,
    decide_cancellation,
    decide_reservation,
    kind_of,
    legacy_product_type,
    merge_lines,
    public_change,
)
from chalicelib.repository import (
    Adjustment,
    AdjustmentKeyUsed,
    NotEnoughStock,
    ProductChangedSinceRead,
    ProductExists,
    Reservation,
    ReservationExists,
    ReservationNotHeld,
    StockChangedSinceRead,
)
from shop_contracts.events import (
    Money,
    OrderCancelledV1,
    OrderPlacedV1,
    PaymentFailedV1,
    ProductKind,
    ProductPublishedV1,
    ProductRetiredV1,
    ProductType,
    ProductUpdatedV1,
    StockAdjustedV1,
    StockAdjustmentReason,
    StockLine,
    StockRejectedV1,
    StockReleasedV1,
    StockReservedV1,
    UnavailableLine,
    VideoAccess,
)
from shop_eventing.envelope import DomainEvent, EventData, new_event
from shop_eventing.outbox import TransactionalWork, TransactionCancelled

SOURCE = "shop.catalog"
log = logging.getLogger(__name__)


class Catalog(Protocol):
    """The catalog table as the use cases read it (chalicelib.repository.CatalogRepository)."""

    def product(self, sku: str) -> Product | None: ...

    def products(self, skus: list[str]) -> dict[str, Product]: ...

    def adjustment(self, sku: str, idempotency_key: str) -> Adjustment | None: ...

    def reservation(self, order_id: str) -> Reservation | None: ...


class CatalogWork(TransactionalWork, Protocol):
    """One transaction on the catalog table (chalicelib.repository.CatalogUnitOfWork): its own writes, then
    TransactionalWork's events, processed-marker and commit."""

    def create_product(self, product: Product) -> None: ...

    def save_product(self, product: Product, previous_revision: int, *, stock: int | None = None) -> None: ...

    def take_stock(self, sku: str, quantity: int) -> None: ...

    def return_stock(self, sku: str, quantity: int) -> None: ...

    def adjust_stock(self, sku: str, *, read: int, on_hand: int) -> None: ...

    def record_adjustment(self, adjustment: Adjustment) -> None: ...

    def put_reservation(self, order_id: str, status: ReservationStatus, lines: dict[str, int]) -> None: ...

    def release_reservation(self, order_id: str, reason: str) -> None: ...


NewUnitOfWork = Callable[[], CatalogWork]
Clock = Callable[[], datetime]


class ConcurrentUpdate(Exception):
    """Someone changed the same product (or order) at the same moment; the caller may simply try again."""


class ProductNotFound(Exception):
    pass


class ProductAlreadyExists(Exception):
    pass


class StaleRevision(Exception):
    """The change was based on a revision the product has left behind."""

    def __init__(self, sku: str, expected: int, current: int | None) -> None:
        now = f"it is at revision {current}" if current is not None else "it changed meanwhile"
        super().__init__(f"product {sku} is not at revision {expected}; {now}")
        self.current = current


class IdempotencyKeyReused(Exception):
    """The Idempotency-Key was used for another adjustment of the product."""


# -- product events ----------------------------------------------------------------------------------


def _video_access(product: Product) -> VideoAccess | None:
    if product.product_type == "physical_good":
        return None
    access = product.access or Access()
    return VideoAccess(
        product_type=product.product_type,
        video_id=access.video_id,
        live_show_id=access.live_show_id,
        rental_hours=access.rental_hours,
    )


def product_event(change: PublicChange, product: Product) -> DomainEvent:
    """The event a public change publishes: the whole public state (a retirement: who and which revision)."""
    price = Money(amount=product.price_amount, currency=product.currency)
    data: EventData
    if change == "published":
        data = ProductPublishedV1(
            sku=product.sku,
            name=product.name,
            kind=product.kind,
            price=price,
            revision=product.revision,
            product_type=product.product_type,
            access=_video_access(product),
        )
    elif change == "updated":
        data = ProductUpdatedV1(
            sku=product.sku,
            name=product.name,
            kind=product.kind,
            product_type=product.product_type,
            price=price,
            access=_video_access(product),
            revision=product.revision,
        )
    else:
        data = ProductRetiredV1(sku=product.sku, revision=product.revision)
    return new_event(data, producer=SOURCE, correlation_id=f"product:{product.sku}")


def _stage_change(uow: CatalogWork, before: Product | None, after: Product) -> None:
    change = public_change(before, after)
    if change is not None:
        uow.add_event(product_event(change, after))


# -- the staff's product operations --------------------------------------------------------------------


@dataclass(frozen=True)
class NewProduct:
    sku: str
    name: str
    product_type: ProductType
    price_amount: int
    currency: str
    access: Access | None
    stock: int | None


def create_draft(command: NewProduct, new_uow: NewUnitOfWork) -> Product:
    """A new product, not on sale yet: no event until it is published."""
    product = Product.draft(
        command.sku,
        name=command.name,
        product_type=command.product_type,
        price_amount=command.price_amount,
        currency=command.currency,
        access=command.access,
        stock=command.stock,
    )
    uow = new_uow()
    uow.create_product(product)
    try:
        uow.commit()
    except ProductExists:
        raise ProductAlreadyExists(f"product {command.sku} exists already") from None
    return product


def _change(
    sku: str,
    expected_revision: int | None,
    change: Callable[[Product], Product],
    repository: Catalog,
    new_uow: NewUnitOfWork,
) -> Product:
    current = repository.product(sku)
    if current is None:
        raise ProductNotFound(f"no product {sku}")
    if expected_revision is not None and expected_revision != current.revision:
        raise StaleRevision(sku, expected_revision, current.revision)
    after = change(current)
    uow = new_uow()
    uow.save_product(after, current.revision)
    _stage_change(uow, current, after)
    try:
        uow.commit()
    except ProductChangedSinceRead:
        if expected_revision is not None:
            raise StaleRevision(sku, expected_revision, None) from None
        raise ConcurrentUpdate(f"product {sku} changed at the same time; retry") from None
    except TransactionCancelled as cancelled:
        raise ConcurrentUpdate(str(cancelled)) from None
    return after


def edit_product(
    sku: str,
    expected_revision: int,
    repository: Catalog,
    new_uow: NewUnitOfWork,
    *,
    name: str | None = None,
    price: tuple[int, str] | None = None,
    access: Access | None = None,
) -> Product:
    """Change a draft's or a published product's details; a published one announces them (ProductUpdated)."""
    return _change(sku, expected_revision, lambda p: p.edited(name=name, price=price, access=access), repository, new_uow)


def publish_product(sku: str, expected_revision: int | None, repository: Catalog, new_uow: NewUnitOfWork) -> Product:
    """Put on sale (ProductPublished). Publishing what is on sale already changes nothing: a retry is safe."""
    current = repository.product(sku)
    if current is not None and current.on_sale:
        return current
    return _change(sku, expected_revision, Product.published, repository, new_uow)


def retire_product(sku: str, expected_revision: int | None, repository: Catalog, new_uow: NewUnitOfWork) -> Product:
    """Withdraw from sale (ProductRetired). Retiring what is retired already changes nothing."""
    current = repository.product(sku)
    if current is not None and current.status == "retired":
        return current
    return _change(sku, expected_revision, Product.retired, repository, new_uow)


@dataclass(frozen=True)
class PutProduct:
    """The legacy `PUT /products/{sku}`: the product's whole details, on sale at once."""

    name: str
    kind: ProductKind
    price_amount: int
    currency: str
    stock: int | None
    product_type: ProductType | None = None
    access: Access | None = None


def upsert_product(sku: str, command: PutProduct, repository: Catalog, new_uow: NewUnitOfWork) -> Product:
    """Create (published) or revise a product in one call, as the API did before drafts: a new product
    is published at once, a draft is published, a published one updated; a retired one is refused.
    Without `stock`, a revision keeps the units on hand."""
    existing = repository.product(sku)
    # A revision without a product_type keeps the product's own type (a client of those days knows only the kind).
    keeps_its_type = command.product_type is None and existing is not None and existing.kind == command.kind
    product_type = (
        existing.product_type if keeps_its_type and existing else legacy_product_type(command.kind, command.product_type)
    )
    if kind_of(product_type) != command.kind:
        raise ProductInvalid("kind", f"a {product_type} is {kind_of(product_type)}")
    checked_stock(product_type, command.stock)
    uow = new_uow()
    if existing is None:
        # Created and published in one write, revision 1, as before drafts. A product of those days
        # (no product_type) named no video: its access is not required, only checked when given.
        untyped = command.product_type is None and command.access is None
        product = Product(
            sku=sku,
            name=command.name,
            product_type=product_type,
            price_amount=command.price_amount,
            currency=command.currency,
            stock=checked_stock(product_type, command.stock),
            revision=1,
            status="published",
            access=None if untyped else checked_access(product_type, command.access),
        )
        uow.create_product(product)
    else:
        if existing.product_type != product_type:
            raise TransitionRefused(f"product {sku} is a {existing.product_type}; its type cannot change", field="product_type")
        product = existing.edited(name=command.name, price=(command.price_amount, command.currency), access=command.access)
        product = replace(product, status="published", stock=command.stock if command.stock is not None else existing.stock)
        uow.save_product(product, existing.revision, stock=command.stock)
    _stage_change(uow, existing, product)
    try:
        uow.commit()
    except TransactionCancelled as cancelled:
        # The product was created or changed since we read it (ProductExists, ProductChangedSinceRead),
        # or another transaction was writing it at that moment: either way a retry on fresh data is the answer.
        raise ConcurrentUpdate(str(cancelled)) from None
    if command.stock is None and existing is not None:
        # What is on hand now (orders may have taken units since we read it), for the answer.
        fresh = repository.product(sku)
        return fresh if fresh is not None else product
    return product


# -- stock adjustments -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdjustStock:
    sku: str
    idempotency_key: str
    delta: int
    reason: StockAdjustmentReason
    note: str | None
    adjusted_by: str


def adjust_stock(
    command: AdjustStock, repository: Catalog, new_uow: NewUnitOfWork, now: Clock = lambda: datetime.now(UTC), attempts: int = 10
) -> tuple[Adjustment, bool]:
    """Add or remove units (StockAdjusted), once per Idempotency-Key: the answer and whether it is a replay."""
    for _ in range(attempts):
        done = repository.adjustment(command.sku, command.idempotency_key)
        if done is not None:
            if not done.same_request(command.delta, command.reason, command.note):
                raise IdempotencyKeyReused(f"Idempotency-Key {command.idempotency_key} was used for another adjustment")
            return done, True
        product = repository.product(command.sku)
        if product is None:
            raise ProductNotFound(f"no product {command.sku}")
        on_hand = adjusted_stock(product, command.delta, command.reason)
        event = new_event(
            StockAdjustedV1(
                sku=command.sku,
                delta=command.delta,
                on_hand=on_hand,
                reason=command.reason,
                note=command.note,
                adjusted_by=command.adjusted_by,
            ),
            producer=SOURCE,
            correlation_id=f"product:{command.sku}",
        )
        adjustment = Adjustment(
            sku=command.sku,
            key=command.idempotency_key,
            delta=command.delta,
            reason=command.reason,
            note=command.note,
            on_hand=on_hand,
            adjusted_by=command.adjusted_by,
            adjusted_at=now().isoformat(),
            event_id=event.event_id,
        )
        uow = new_uow()
        # Staged first: when the key was used meanwhile, that is the conflict commit reports.
        uow.record_adjustment(adjustment)
        uow.adjust_stock(command.sku, read=product.stock or 0, on_hand=on_hand)
        uow.add_event(event)
        try:
            uow.commit()
            return adjustment, False
        except (AdjustmentKeyUsed, StockChangedSinceRead):
            # A retry of this very request won (the loop answers it), or an order or another adjustment
            # moved the stock: decide again on fresh data.
            continue
    raise ConcurrentUpdate(f"the stock of {command.sku} kept changing; retry")


# -- reservations ------------------------------------------------------------------------------------


def reserve_stock(event: DomainEvent, subscriber: str, repository: Catalog, new_uow: NewUnitOfWork, attempts: int = 5) -> None:
    order = event.data
    assert isinstance(order, OrderPlacedV1)
    requested = merge_lines((line.sku, line.quantity) for line in order.lines)
    for _ in range(attempts):
        decision = decide_reservation(requested, repository.products(sorted(requested)))
        uow = new_uow()
        uow.mark_processed(subscriber, event)
        if isinstance(decision, Reserve):
            # The reservation is staged before the stock: if this order was already decided (or
            # cancelled first), that is the conflict commit reports, whatever happened to the stock meanwhile.
            uow.put_reservation(order.order_id, "RESERVED", decision.lines)
            for sku, quantity in sorted(decision.lines.items()):
                uow.take_stock(sku, quantity)
            lines = [StockLine(sku=sku, quantity=qty) for sku, qty in sorted(decision.lines.items())]
            uow.add_event(event.caused(StockReservedV1(order_id=order.order_id, lines=lines), producer=SOURCE))
        else:
            uow.put_reservation(order.order_id, "REJECTED", {})
            unavailable = [UnavailableLine(sku=s, requested=r, available=a) for s, r, a in decision.unavailable]
            uow.add_event(
                event.caused(
                    StockRejectedV1(order_id=order.order_id, reason=decision.reason, unavailable=unavailable),
                    producer=SOURCE,
                )
            )
        try:
            uow.commit()
            return
        except ReservationExists:
            # This order was already decided (e.g. an OrderPlaced of another major version), or it was
            # cancelled before this event arrived (its tombstone): note that this event was seen and
            # change nothing else.
            seen = new_uow()
            seen.mark_processed(subscriber, event)
            seen.commit()
            return
        except NotEnoughStock:
            # Another order took the stock between our read and our write (or a product went off sale):
            # decide again on fresh data.
            continue
    raise ConcurrentUpdate(f"stock for order {order.order_id} kept changing; the event will be retried")


def release_stock(event: DomainEvent, subscriber: str, repository: Catalog, new_uow: NewUnitOfWork, attempts: int = 5) -> None:
    """Give an order's reserved units back when its payment failed or it was cancelled (StockReleased).
    A cancellation that arrives before the order's reservation leaves a tombstone, so the late OrderPlaced
    reserves nothing."""
    data = event.data
    assert isinstance(data, PaymentFailedV1 | OrderCancelledV1)
    cancelled = isinstance(data, OrderCancelledV1)
    reason: Literal["payment_failed", "order_cancelled"] = "order_cancelled" if cancelled else "payment_failed"
    for _ in range(attempts):
        reservation = repository.reservation(data.order_id)
        status = reservation.status if reservation else None
        lines = reservation.lines if reservation else {}
        decision = decide_cancellation(status, lines)
        if not cancelled and isinstance(decision, Tombstone):
            # A failed payment follows a reservation; without one there is nothing to remember.
            decision = None
        uow = new_uow()
        uow.mark_processed(subscriber, event)
        if isinstance(decision, Release):
            uow.release_reservation(data.order_id, reason)
            for sku, quantity in sorted(decision.lines.items()):
                uow.return_stock(sku, quantity)
            released = [StockLine(sku=sku, quantity=qty) for sku, qty in sorted(decision.lines.items())]
            uow.add_event(event.caused(StockReleasedV1(order_id=data.order_id, lines=released, reason=reason), producer=SOURCE))
        elif isinstance(decision, Tombstone):
            uow.put_reservation(data.order_id, "CANCELLED", {})
            log.info("order %s cancelled before its stock was reserved: its OrderPlaced will reserve nothing", data.order_id)
        try:
            uow.commit()
            return
        except (ReservationExists, ReservationNotHeld):
            # The reservation was made, or released, between our read and our write: decide again.
            continue
    raise ConcurrentUpdate(f"the reservation of order {data.order_id} kept changing; the event will be retried")
