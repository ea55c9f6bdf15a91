"""Catalog use cases. Each reads what it needs, asks the domain, and commits state + events at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from chalicelib.api_models import ProductInput
from chalicelib.domain import Product, Reserve, decide_reservation, merge_lines
from chalicelib.repository import NotEnoughStock, ReservationExists
from shop_contracts.events import (
    Money,
    OrderPlacedV1,
    PaymentFailedV1,
    ProductPublishedV1,
    StockLine,
    StockRejectedV1,
    StockReleasedV1,
    StockReservedV1,
    UnavailableLine,
)
from shop_eventing.envelope import DomainEvent, new_event
from shop_eventing.outbox import TransactionalWork, TransactionCancelled

SOURCE = "shop.catalog"


class Catalog(Protocol):
    """The catalog table as the use cases read it (chalicelib.repository.CatalogRepository)."""

    def product(self, sku: str) -> Product | None: ...

    def products(self, skus: list[str]) -> dict[str, Product]: ...

    def reservation(self, order_id: str) -> dict[str, Any] | None: ...


class CatalogWork(TransactionalWork, Protocol):
    """One transaction on the catalog table (chalicelib.repository.CatalogUnitOfWork): its own writes, then
    TransactionalWork's events, processed-marker and commit."""

    def create_product(self, product: Product) -> None: ...

    def revise_product(self, product: Product, previous_revision: int, stock_given: bool) -> None: ...

    def take_stock(self, sku: str, quantity: int) -> None: ...

    def return_stock(self, sku: str, quantity: int) -> None: ...

    def put_reservation(self, order_id: str, status: str, lines: dict[str, int]) -> None: ...

    def release_reservation(self, order_id: str) -> None: ...


NewUnitOfWork = Callable[[], CatalogWork]


class ConcurrentUpdate(Exception):
    """Someone changed the same product at the same moment; the caller may simply try again."""


def upsert_product(sku: str, command: ProductInput, repository: Catalog, new_uow: NewUnitOfWork) -> Product:
    existing = repository.product(sku)
    fields = {
        "name": command.name,
        "kind": command.kind,
        "price_amount": command.price.amount,
        "currency": command.price.currency,
        "stock": command.stock,
    }
    product = existing.revised(**fields) if existing else Product.new(sku, **fields)  # type: ignore[arg-type]
    uow = new_uow()
    if existing:
        uow.revise_product(product, existing.revision, stock_given=command.stock is not None)
    else:
        uow.create_product(product)
    uow.add_event(
        new_event(
            ProductPublishedV1(
                sku=product.sku,
                name=product.name,
                kind=product.kind,
                price=Money(amount=product.price_amount, currency=product.currency),
                revision=product.revision,
            ),
            producer=SOURCE,
            correlation_id=f"product:{sku}",
        )
    )
    try:
        uow.commit()
    except TransactionCancelled as cancelled:
        # The product changed since we read it (ProductChangedSinceRead), or another transaction was
        # writing it at that moment: either way a retry on fresh data is the answer.
        raise ConcurrentUpdate(str(cancelled)) from None
    return product


def reserve_stock(event: DomainEvent, subscriber: str, repository: Catalog, new_uow: NewUnitOfWork, attempts: int = 5) -> None:
    order = event.data
    assert isinstance(order, OrderPlacedV1)
    requested = merge_lines((line.sku, line.quantity) for line in order.lines)
    for _ in range(attempts):
        decision = decide_reservation(requested, repository.products(sorted(requested)))
        uow = new_uow()
        uow.mark_processed(subscriber, event)
        if isinstance(decision, Reserve):
            # The reservation is staged before the stock: if this order was already decided, that
            # is the conflict commit reports, whatever happened to the stock meanwhile.
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
            # This order was already decided (e.g. an OrderPlaced of another major version);
            # note that this event was seen and change nothing else.
            seen = new_uow()
            seen.mark_processed(subscriber, event)
            seen.commit()
            return
        except NotEnoughStock:
            # Another order took the stock between our read and our write: decide again on fresh stock.
            continue
    raise ConcurrentUpdate(f"stock for order {order.order_id} kept changing; the event will be retried")


def release_stock(event: DomainEvent, subscriber: str, repository: Catalog, new_uow: NewUnitOfWork) -> None:
    failure = event.data
    assert isinstance(failure, PaymentFailedV1)
    reservation = repository.reservation(failure.order_id)
    uow = new_uow()
    uow.mark_processed(subscriber, event)
    if reservation and reservation["status"] == "RESERVED":
        uow.release_reservation(failure.order_id)
        lines = [StockLine(sku=line["sku"], quantity=line["quantity"]) for line in reservation["lines"]]
        for line in lines:
            uow.return_stock(line.sku, line.quantity)
        uow.add_event(event.caused(StockReleasedV1(order_id=failure.order_id, lines=lines), producer=SOURCE))
    uow.commit()
