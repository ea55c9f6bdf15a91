"""Catalog use cases. Each reads what it needs, asks the domain, and commits state + events at once."""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.api_models import ProductInput
from chalicelib.domain import Product, Reserve, decide_reservation, merge_lines
from chalicelib.repository import (
    CatalogRepository,
    create_product,
    put_reservation,
    release_reservation,
    return_stock,
    revise_product,
    take_stock,
)
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
from shop_eventing.outbox import TransactionCancelled, UnitOfWork

SOURCE = "shop.catalog"
NewUnitOfWork = Callable[[], UnitOfWork]


class ConcurrentUpdate(Exception):
    """Someone changed the same product at the same moment; the caller may simply try again."""


def upsert_product(sku: str, command: ProductInput, repository: CatalogRepository, new_uow: NewUnitOfWork) -> Product:
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
        revise_product(uow, product, existing.revision, stock_given=command.stock is not None)
    else:
        create_product(uow, product)
    uow.publish(
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
        raise ConcurrentUpdate(str(cancelled)) from None
    return product


def reserve_stock(
    event: DomainEvent, subscriber: str, repository: CatalogRepository, new_uow: NewUnitOfWork, attempts: int = 5
) -> None:
    order = event.data
    assert isinstance(order, OrderPlacedV1)
    requested = merge_lines((line.sku, line.quantity) for line in order.lines)
    for _ in range(attempts):
        decision = decide_reservation(requested, repository.products(sorted(requested)))
        uow = new_uow()
        uow.mark_processed(subscriber, event)
        if isinstance(decision, Reserve):
            for sku, quantity in sorted(decision.lines.items()):
                take_stock(uow, sku, quantity)
            put_reservation(uow, order.order_id, "RESERVED", decision.lines)
            lines = [StockLine(sku=sku, quantity=qty) for sku, qty in sorted(decision.lines.items())]
            uow.publish(event.caused(StockReservedV1(order_id=order.order_id, lines=lines), producer=SOURCE))
        else:
            put_reservation(uow, order.order_id, "REJECTED", {})
            unavailable = [UnavailableLine(sku=s, requested=r, available=a) for s, r, a in decision.unavailable]
            uow.publish(
                event.caused(
                    StockRejectedV1(order_id=order.order_id, reason=decision.reason, unavailable=unavailable),
                    producer=SOURCE,
                )
            )
        try:
            uow.commit()
            return
        except TransactionCancelled as cancelled:
            failed = cancelled.failed_labels()
            if "reservation" in failed:
                # This order was already decided (e.g. an OrderPlaced of another major version);
                # note that this event was seen and change nothing else.
                seen = new_uow()
                seen.mark_processed(subscriber, event)
                seen.commit()
                return
            if not any(label.startswith("stock:") for label in failed):
                raise
            # Another order took the stock between our read and our write: decide again on fresh stock.
    raise ConcurrentUpdate(f"stock for order {order.order_id} kept changing; the event will be retried")


def release_stock(event: DomainEvent, subscriber: str, repository: CatalogRepository, new_uow: NewUnitOfWork) -> None:
    failure = event.data
    assert isinstance(failure, PaymentFailedV1)
    reservation = repository.reservation(failure.order_id)
    uow = new_uow()
    uow.mark_processed(subscriber, event)
    if reservation and reservation["status"] == "RESERVED":
        release_reservation(uow, failure.order_id)
        lines = [StockLine(sku=line["sku"], quantity=line["quantity"]) for line in reservation["lines"]]
        for line in lines:
            return_stock(uow, line.sku, line.quantity)
        uow.publish(event.caused(StockReleasedV1(order_id=failure.order_id, lines=lines), producer=SOURCE))
    uow.commit()
