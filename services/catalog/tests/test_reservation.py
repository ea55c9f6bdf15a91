"""Reserving and releasing stock: the use cases against a real (in-process) moto DynamoDB.

The invariants under test (docs/design-rules.md, outbox and consuming): each consumed event takes effect once per (subscriber,
event_id); a reservation and its StockReserved/StockRejected commit together; stock never oversells.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from dataclasses import replace
from types import ModuleType
from typing import Any

import pytest

from chalicelib import usecases
from chalicelib.domain import Access
from shop_contracts.events import Money, OrderCancelledV1, OrderLine, OrderPlacedV1, PaymentFailedV1
from shop_devstack.dispatcher import LambdaContext
from shop_devstack.testing import eventbridge_body, lambda_sqs_event, subscription_queue_arn
from shop_eventing.envelope import DomainEvent, new_event
from shop_eventing.outbox import AlreadyProcessed, from_dynamodb, to_dynamodb

RESERVE = "catalog.reserve-stock"
RELEASE = "catalog.release-stock"


class Catalog:
    """The catalog's use cases wired to the app's repository and unit of work, plus read-back helpers."""

    def __init__(self, app: ModuleType, aws: Any) -> None:
        self.app = app
        self.aws = aws

    def product(self, *, kind: str = "physical", stock: int | None = 10, amount: int = 1200) -> str:
        sku = f"SKU-{uuid.uuid4().hex[:12].upper()}"
        command = usecases.PutProduct(
            name=f"Product {sku}", kind=kind, price_amount=amount, currency="USD", stock=stock if kind == "physical" else None
        )
        usecases.upsert_product(sku, command, self.app.repository, self.app.unit_of_work)
        return sku

    def ticket(self, seats: int) -> str:
        """A live ticket on sale with `seats` seats (its stock)."""
        sku = f"LIVE-{uuid.uuid4().hex[:12].upper()}"
        command = usecases.PutProduct(
            name=f"Live {sku}",
            kind="digital",
            price_amount=3000,
            currency="USD",
            stock=seats,
            product_type="live_ticket",
            access=Access(live_show_id="show-1"),
        )
        usecases.upsert_product(sku, command, self.app.repository, self.app.unit_of_work)
        return sku

    def retire(self, sku: str) -> None:
        usecases.retire_product(sku, None, self.app.repository, self.app.unit_of_work)

    def stock(self, sku: str) -> int | None:
        product = self.app.repository.product(sku)
        assert product is not None
        return product.stock

    def reserve(self, event: DomainEvent) -> None:
        usecases.reserve_stock(event, RESERVE, self.app.repository, self.app.unit_of_work)

    def release(self, event: DomainEvent) -> None:
        usecases.release_stock(event, RELEASE, self.app.repository, self.app.unit_of_work)

    def events(self, order_id: str, event_type: str | None = None) -> list[dict[str, Any]]:
        match = {"correlation_id": order_id} | ({"event_type": event_type} if event_type else {})
        return self.aws.outbox(**match)

    def reservation(self, order_id: str) -> Any:
        return self.app.repository.reservation(order_id)

    def processed(self, subscriber: str, event: DomainEvent) -> bool:
        key = to_dynamodb({"pk": f"PROCESSED#{subscriber}", "sk": event.event_id})
        item = self.aws.dynamodb.get_item(TableName=self.aws.table, Key=key, ConsistentRead=True).get("Item")
        return bool(item) and from_dynamodb(item)["event_type"] == event.event_type


@pytest.fixture
def catalog(catalog_app: ModuleType, aws: Any) -> Catalog:
    return Catalog(catalog_app, aws)


def order_placed(lines: list[tuple[str, str, int]], order_id: str | None = None) -> DomainEvent:
    """An OrderPlaced v1 event for (sku, kind, quantity) lines."""
    order_id = order_id or f"ord-{uuid.uuid4().hex[:12]}"
    order_lines = [
        OrderLine(sku=sku, name=f"Product {sku}", kind=kind, quantity=quantity, unit_price=Money(amount=1200, currency="USD"))
        for sku, kind, quantity in lines
    ]
    data = OrderPlacedV1(
        order_id=order_id,
        customer_email="buyer@example.com",
        lines=order_lines,
        total=Money(amount=sum(line.quantity * 1200 for line in order_lines), currency="USD"),
        shipping_address="1 Main St, Springfield",
    )
    return new_event(data, producer="shop.orders", correlation_id=order_id)


def payment_failed(order_id: str) -> DomainEvent:
    data = PaymentFailedV1(
        order_id=order_id, amount=Money(amount=1200, currency="USD"), customer_email="buyer@example.com", reason="card_declined"
    )
    return new_event(data, producer="shop.orders", correlation_id=order_id)


def order_cancelled(placed: DomainEvent) -> DomainEvent:
    """The customer cancelled the order `placed` placed (its lines as they were ordered)."""
    assert isinstance(placed.data, OrderPlacedV1)
    order = placed.data
    data = OrderCancelledV1(
        order_id=order.order_id,
        cancelled_by="customer",
        reason="changed my mind",
        customer_email=order.customer_email,
        lines=order.lines,
        total=order.total,
    )
    return new_event(data, producer="shop.orders", correlation_id=order.order_id)


def order_id_of(event: DomainEvent) -> str:
    assert isinstance(event.data, OrderPlacedV1 | PaymentFailedV1 | OrderCancelledV1)
    return event.data.order_id


# -- reserving -------------------------------------------------------------------------------------


def test_reservation_takes_the_stock_and_publishes_stock_reserved(catalog):
    sku = catalog.product(stock=5)
    placed = order_placed([(sku, "physical", 2)])
    order_id = order_id_of(placed)

    catalog.reserve(placed)

    assert catalog.stock(sku) == 3
    [reserved] = catalog.events(order_id)
    assert reserved["event_type"] == "StockReserved"
    assert reserved["detail"]["data"] == {"order_id": order_id, "lines": [{"sku": sku, "quantity": 2}]}
    metadata = reserved["detail"]["metadata"]
    assert (metadata["causation_id"], metadata["correlation_id"], metadata["producer"]) == (
        placed.event_id,
        order_id,
        "shop.catalog",
    )
    reservation = catalog.reservation(order_id)
    assert reservation is not None
    assert (reservation.status, reservation.lines) == ("RESERVED", {sku: 2})
    assert catalog.processed(RESERVE, placed)


def test_a_sku_listed_twice_is_reserved_as_one_merged_line(catalog):
    sku = catalog.product(stock=5)
    placed = order_placed([(sku, "physical", 1), (sku, "physical", 3)])

    catalog.reserve(placed)

    assert catalog.stock(sku) == 1
    [reserved] = catalog.events(order_id_of(placed), "StockReserved")
    assert reserved["detail"]["data"]["lines"] == [{"sku": sku, "quantity": 4}]


def test_several_skus_are_all_reserved_in_one_go(catalog):
    first, second = catalog.product(stock=3), catalog.product(stock=4)
    placed = order_placed([(first, "physical", 3), (second, "physical", 1)])

    catalog.reserve(placed)

    assert (catalog.stock(first), catalog.stock(second)) == (0, 3)
    [reserved] = catalog.events(order_id_of(placed), "StockReserved")
    assert reserved["detail"]["data"]["lines"] == sorted(
        [{"sku": first, "quantity": 3}, {"sku": second, "quantity": 1}], key=lambda line: line["sku"]
    )


def test_digital_lines_need_no_stock_and_reserve_nothing(catalog):
    film = catalog.product(kind="digital")
    box = catalog.product(stock=2)
    placed = order_placed([(film, "digital", 3), (box, "physical", 1)])

    catalog.reserve(placed)

    assert (catalog.stock(film), catalog.stock(box)) == (None, 1)
    [reserved] = catalog.events(order_id_of(placed), "StockReserved")
    assert reserved["detail"]["data"]["lines"] == [{"sku": box, "quantity": 1}]


def test_digital_only_order_is_reserved_with_no_lines(catalog):
    film = catalog.product(kind="digital")
    placed = order_placed([(film, "digital", 1)])

    catalog.reserve(placed)

    [reserved] = catalog.events(order_id_of(placed))
    assert reserved["event_type"] == "StockReserved"
    assert reserved["detail"]["data"]["lines"] == []


def test_repeating_the_same_event_is_already_processed_and_changes_nothing(catalog):
    sku = catalog.product(stock=5)
    placed = order_placed([(sku, "physical", 2)])
    catalog.reserve(placed)

    with pytest.raises(AlreadyProcessed):
        catalog.reserve(placed)

    assert catalog.stock(sku) == 3
    assert [e["event_type"] for e in catalog.events(order_id_of(placed))] == ["StockReserved"]


def test_a_second_order_placed_for_the_same_order_changes_nothing(catalog):
    sku = catalog.product(stock=5)
    first = order_placed([(sku, "physical", 2)])
    order_id = order_id_of(first)
    # Another event (e.g. the same order published in a second major version) about the same order.
    second = order_placed([(sku, "physical", 2)], order_id=order_id)
    catalog.reserve(first)

    catalog.reserve(second)

    assert catalog.stock(sku) == 3
    assert [e["event_type"] for e in catalog.events(order_id)] == ["StockReserved"]
    assert catalog.reservation(order_id).status == "RESERVED"
    # ...but it is remembered as seen, so its own redelivery is a plain duplicate.
    assert catalog.processed(RESERVE, second)
    with pytest.raises(AlreadyProcessed):
        catalog.reserve(second)


def test_out_of_stock_publishes_stock_rejected_and_leaves_stock_alone(catalog):
    short, plenty = catalog.product(stock=1), catalog.product(stock=10)
    placed = order_placed([(short, "physical", 3), (plenty, "physical", 2)])
    order_id = order_id_of(placed)

    catalog.reserve(placed)

    assert (catalog.stock(short), catalog.stock(plenty)) == (1, 10)
    [rejected] = catalog.events(order_id)
    assert rejected["event_type"] == "StockRejected"
    assert rejected["detail"]["data"] == {
        "order_id": order_id,
        "reason": "out_of_stock",
        "unavailable": [{"sku": short, "requested": 3, "available": 1}],
    }
    assert rejected["detail"]["metadata"]["causation_id"] == placed.event_id
    assert catalog.reservation(order_id).status == "REJECTED"


def test_zero_stock_is_rejected_with_zero_available(catalog):
    sku = catalog.product(stock=0)
    placed = order_placed([(sku, "physical", 1)])

    catalog.reserve(placed)

    [rejected] = catalog.events(order_id_of(placed), "StockRejected")
    assert rejected["detail"]["data"]["unavailable"] == [{"sku": sku, "requested": 1, "available": 0}]
    assert catalog.stock(sku) == 0


def test_unknown_product_is_rejected_as_unknown_product(catalog):
    known = catalog.product(stock=4)
    ghost = f"GHOST-{uuid.uuid4().hex[:8].upper()}"
    placed = order_placed([(known, "physical", 1), (ghost, "physical", 2)])

    catalog.reserve(placed)

    assert catalog.stock(known) == 4
    [rejected] = catalog.events(order_id_of(placed))
    assert rejected["detail"]["data"]["reason"] == "unknown_product"
    assert rejected["detail"]["data"]["unavailable"] == [{"sku": ghost, "requested": 2, "available": 0}]


def test_a_rejection_repeated_is_already_processed_and_publishes_once(catalog):
    sku = catalog.product(stock=0)
    placed = order_placed([(sku, "physical", 1)])
    catalog.reserve(placed)

    with pytest.raises(AlreadyProcessed):
        catalog.reserve(placed)

    assert [e["event_type"] for e in catalog.events(order_id_of(placed))] == ["StockRejected"]


def test_never_oversell_under_concurrent_reservations(catalog):
    sku = catalog.product(stock=5)
    orders = [order_placed([(sku, "physical", 1)]) for _ in range(10)]
    start = threading.Barrier(len(orders))
    errors: list[BaseException] = []
    redeliveries: list[str] = []

    def consume(event: DomainEvent) -> None:
        start.wait()
        try:
            # SQS redelivers an event whose handler gave up on contention; play that here.
            for _ in range(5):
                try:
                    catalog.reserve(event)
                    return
                except usecases.ConcurrentUpdate:
                    redeliveries.append(event.event_id)
            raise AssertionError(f"{event.event_id} still contended after 5 deliveries")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=consume, args=(event,)) for event in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    outcomes = [[e["event_type"] for e in catalog.events(order_id_of(event))] for event in orders]
    assert sorted(outcomes) == [["StockRejected"]] * 5 + [["StockReserved"]] * 5
    assert catalog.stock(sku) == 0
    statuses = sorted(catalog.reservation(order_id_of(event)).status for event in orders)
    assert statuses == ["REJECTED"] * 5 + ["RESERVED"] * 5
    for event in orders:
        [outcome] = catalog.events(order_id_of(event))
        if outcome["event_type"] == "StockRejected":
            assert outcome["detail"]["data"]["unavailable"] == [{"sku": sku, "requested": 1, "available": 0}]


def test_contention_that_never_ends_gives_up_without_writing(catalog, monkeypatch):
    """Stock that changes between every read and write: the use case retries, then raises for SQS to redeliver."""
    sku = catalog.product(stock=5)
    placed = order_placed([(sku, "physical", 2)])
    repository = catalog.app.repository
    real_products = repository.products

    def set_stock(units: int) -> None:
        catalog.app.runtime.dynamodb.update_item(
            TableName=catalog.aws.table,
            Key=to_dynamodb({"pk": f"PRODUCT#{sku}", "sk": "PRODUCT"}),
            UpdateExpression="SET stock = :units",
            ExpressionAttributeValues=to_dynamodb({":units": units}),
        )

    def stale_products(skus: list[str]) -> dict[str, Any]:
        # Every read sees 5 units; right after it, someone else takes 4 of them.
        set_stock(5)
        found = real_products(skus)
        set_stock(1)
        return found

    monkeypatch.setattr(repository, "products", stale_products)

    with pytest.raises(usecases.ConcurrentUpdate):
        catalog.reserve(placed)

    monkeypatch.undo()
    assert catalog.events(order_id_of(placed)) == []
    assert catalog.reservation(order_id_of(placed)) is None
    assert not catalog.processed(RESERVE, placed)


def test_an_order_already_decided_is_noted_as_seen_even_when_its_stock_also_ran_out(catalog, monkeypatch):
    """Both conditions fail at once: the reservation exists and the stock read is stale. The typed
    conflict that decides must be ReservationExists (mark seen, done), not NotEnoughStock (retry until
    ConcurrentUpdate): this fails if commit reported the stock conflict instead."""
    sku = catalog.product(stock=1)
    first = order_placed([(sku, "physical", 1)])
    catalog.reserve(first)
    assert catalog.stock(sku) == 0
    # The same order again under another event_id (as another major version would arrive).
    again = order_placed([(sku, "physical", 1)], order_id=order_id_of(first))
    repository = catalog.app.repository
    real_products = repository.products

    def products_as_before_the_first_reservation(skus: list[str]) -> dict[str, Any]:
        return {found_sku: replace(product, stock=1) for found_sku, product in real_products(skus).items()}

    monkeypatch.setattr(repository, "products", products_as_before_the_first_reservation)
    catalog.reserve(again)
    monkeypatch.undo()

    assert catalog.processed(RESERVE, again)
    assert catalog.stock(sku) == 0
    assert [e["event_type"] for e in catalog.events(order_id_of(first))] == ["StockReserved"]


# -- releasing -------------------------------------------------------------------------------------


def test_payment_failed_returns_the_reserved_stock_once(catalog):
    sku = catalog.product(stock=5)
    placed = order_placed([(sku, "physical", 2)])
    order_id = order_id_of(placed)
    catalog.reserve(placed)
    failed = payment_failed(order_id)

    catalog.release(failed)

    assert catalog.stock(sku) == 5
    assert catalog.reservation(order_id).status == "RELEASED"
    [released] = catalog.events(order_id, "StockReleased")
    assert released["detail"]["data"] == {
        "order_id": order_id,
        "lines": [{"sku": sku, "quantity": 2}],
        "reason": "payment_failed",
    }
    assert released["detail"]["metadata"]["causation_id"] == failed.event_id

    with pytest.raises(AlreadyProcessed):
        catalog.release(failed)

    assert catalog.stock(sku) == 5
    assert len(catalog.events(order_id, "StockReleased")) == 1


def test_another_payment_failed_for_a_released_order_returns_nothing_more(catalog):
    sku = catalog.product(stock=5)
    placed = order_placed([(sku, "physical", 2)])
    order_id = order_id_of(placed)
    catalog.reserve(placed)
    catalog.release(payment_failed(order_id))
    second = payment_failed(order_id)

    catalog.release(second)

    assert catalog.stock(sku) == 5
    assert len(catalog.events(order_id, "StockReleased")) == 1
    assert catalog.processed(RELEASE, second)


def test_payment_failed_for_a_rejected_order_releases_nothing(catalog):
    sku = catalog.product(stock=1)
    placed = order_placed([(sku, "physical", 3)])
    order_id = order_id_of(placed)
    catalog.reserve(placed)

    catalog.release(payment_failed(order_id))

    assert catalog.stock(sku) == 1
    assert catalog.reservation(order_id).status == "REJECTED"
    assert [e["event_type"] for e in catalog.events(order_id)] == ["StockRejected"]


def test_payment_failed_for_an_order_never_seen_releases_nothing(catalog):
    order_id = f"ord-{uuid.uuid4().hex[:12]}"
    failed = payment_failed(order_id)

    catalog.release(failed)

    assert catalog.events(order_id) == []
    assert catalog.processed(RELEASE, failed)


# -- through the subscriber (the Lambda entry) ------------------------------------------------------


def sqs_event(*events: DomainEvent) -> dict[str, Any]:
    """A Lambda SQS event whose bodies are EventBridge events, one record per event, distinct messageIds."""
    return lambda_sqs_event(*map(eventbridge_body, events), queue_arn=subscription_queue_arn("catalog", "reserve-stock"))


def lambda_context() -> LambdaContext:
    return LambdaContext("shop-local-catalog-subscriber", timeout_seconds=30)


def test_subscriber_reserves_once_for_a_duplicated_delivery(catalog):
    sku = catalog.product(stock=5)
    placed = order_placed([(sku, "physical", 1)])

    first = catalog.app.reserve_subscriber.handle(sqs_event(placed, placed), lambda_context())
    again = catalog.app.reserve_subscriber.handle(sqs_event(placed), lambda_context())

    assert first == {"batchItemFailures": []}
    assert again == {"batchItemFailures": []}
    assert catalog.stock(sku) == 4
    assert [e["event_type"] for e in catalog.events(order_id_of(placed))] == ["StockReserved"]


def test_subscriber_parks_an_unreadable_record_and_handles_its_neighbour(catalog):
    sku = catalog.product(stock=5)
    placed = order_placed([(sku, "physical", 1)])
    batch = sqs_event(placed, placed)
    batch["Records"][0]["body"] = "not json"
    sqs = catalog.app.runtime.session.client("sqs")
    dlq = sqs.get_queue_url(QueueName="shop-local-catalog-reserve-stock-dlq")["QueueUrl"]

    result = catalog.app.reserve_subscriber.handle(batch, lambda_context())

    assert result == {"batchItemFailures": []}
    assert catalog.stock(sku) == 4
    parked = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in parked] == ["not json"]
    assert parked[0]["MessageAttributes"]["shop-dead-letter-reason"]["StringValue"] == "body is not JSON"
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=parked[0]["ReceiptHandle"])


def test_release_subscriber_returns_stock_once(catalog):
    sku = catalog.product(stock=5)
    placed = order_placed([(sku, "physical", 3)])
    catalog.reserve(placed)
    failed = payment_failed(order_id_of(placed))

    results = [catalog.app.release_subscriber.handle(sqs_event(failed), lambda_context()) for _ in range(2)]

    assert results == [{"batchItemFailures": []}] * 2
    assert catalog.stock(sku) == 5


# -- staff edits racing reservations ---------------------------------------------------------------


def test_a_price_edit_racing_a_reservation_does_not_put_reserved_stock_back(catalog, monkeypatch):
    from chalicelib.repository import CatalogRepository

    sku = catalog.product(stock=5, amount=1200)
    placed = order_placed([(sku, "physical", 2)])
    repository = catalog.app.repository
    untouched = CatalogRepository(catalog.app.runtime.dynamodb, catalog.app.runtime.table_name)
    real_product = repository.product

    landed: list[bool] = []

    def read_then_reservation_lands(wanted: str) -> Any:
        found = real_product(wanted)
        if not landed:  # right after the edit's first read
            usecases.reserve_stock(placed, RESERVE, untouched, catalog.app.unit_of_work)
            landed.append(True)
        return found

    monkeypatch.setattr(repository, "product", read_then_reservation_lands)
    price_only = usecases.PutProduct(name=f"Product {sku}", kind="physical", price_amount=999, currency="USD", stock=None)
    # Refusing the edit (ConcurrentUpdate, a 409) is a correct answer too: the staff member retries.
    with contextlib.suppress(usecases.ConcurrentUpdate):
        usecases.upsert_product(sku, price_only, repository, catalog.app.unit_of_work)
    monkeypatch.undo()

    assert [e["event_type"] for e in catalog.events(order_id_of(placed))] == ["StockReserved"]
    assert catalog.stock(sku) == 3


# -- live tickets and products off sale ------------------------------------------------------------


def test_live_ticket_seats_are_reserved_until_the_show_is_sold_out(catalog):
    show = catalog.ticket(seats=2)
    first, second = order_placed([(show, "digital", 1)]), order_placed([(show, "digital", 1)])
    third = order_placed([(show, "digital", 1)])

    for placed in (first, second, third):
        catalog.reserve(placed)

    assert catalog.stock(show) == 0
    [reserved] = catalog.events(order_id_of(first), "StockReserved")
    assert reserved["detail"]["data"]["lines"] == [{"sku": show, "quantity": 1}]
    [rejected] = catalog.events(order_id_of(third))
    assert rejected["event_type"] == "StockRejected"
    assert rejected["detail"]["data"] == {
        "order_id": order_id_of(third),
        "reason": "out_of_stock",
        "unavailable": [{"sku": show, "requested": 1, "available": 0}],
    }


def test_a_retired_product_is_rejected_as_unknown_product(catalog):
    retired, fine = catalog.product(stock=5), catalog.product(stock=5)
    catalog.retire(retired)
    placed = order_placed([(retired, "physical", 1), (fine, "physical", 1)])

    catalog.reserve(placed)

    [rejected] = catalog.events(order_id_of(placed))
    assert rejected["detail"]["data"]["reason"] == "unknown_product"
    assert rejected["detail"]["data"]["unavailable"] == [{"sku": retired, "requested": 1, "available": 0}]
    assert (catalog.stock(retired), catalog.stock(fine)) == (5, 5)


def test_a_retirement_between_the_read_and_the_write_is_not_sold(catalog, monkeypatch):
    """The stock write's condition sees the product went off sale; the reservation decides again."""
    sku = catalog.product(stock=5)
    placed = order_placed([(sku, "physical", 1)])
    repository = catalog.app.repository
    real_products = repository.products
    reads: list[int] = []

    def read_then_retired(skus: list[str]) -> Any:
        found = real_products(skus)
        if not reads:
            catalog.retire(sku)
        reads.append(1)
        return found

    monkeypatch.setattr(repository, "products", read_then_retired)
    catalog.reserve(placed)
    monkeypatch.undo()

    assert len(reads) == 2
    assert catalog.stock(sku) == 5
    assert [e["event_type"] for e in catalog.events(order_id_of(placed))] == ["StockRejected"]


# -- cancellation: the stock side ------------------------------------------------------------------


def test_a_cancelled_order_gives_back_everything_it_reserved_once(catalog):
    box, show, film = catalog.product(stock=5), catalog.ticket(seats=10), catalog.product(kind="digital")
    placed = order_placed([(box, "physical", 2), (show, "digital", 3), (film, "digital", 1)])
    order_id = order_id_of(placed)
    catalog.reserve(placed)
    cancelled = order_cancelled(placed)

    catalog.release(cancelled)

    assert (catalog.stock(box), catalog.stock(show)) == (5, 10)
    assert catalog.reservation(order_id).status == "RELEASED"
    [released] = catalog.events(order_id, "StockReleased")
    assert released["detail"]["data"] == {
        "order_id": order_id,
        "lines": sorted([{"sku": box, "quantity": 2}, {"sku": show, "quantity": 3}], key=lambda line: line["sku"]),
        "reason": "order_cancelled",
    }
    assert released["detail"]["metadata"]["causation_id"] == cancelled.event_id
    with pytest.raises(AlreadyProcessed):
        catalog.release(cancelled)
    assert (catalog.stock(box), catalog.stock(show)) == (5, 10)
    assert len(catalog.events(order_id, "StockReleased")) == 1


def test_another_cancellation_of_the_same_order_releases_nothing_more(catalog):
    sku = catalog.product(stock=5)
    placed = order_placed([(sku, "physical", 2)])
    catalog.reserve(placed)
    catalog.release(order_cancelled(placed))
    second = order_cancelled(placed)

    catalog.release(second)

    assert catalog.stock(sku) == 5
    assert len(catalog.events(order_id_of(placed), "StockReleased")) == 1
    assert catalog.processed(RELEASE, second)


@pytest.mark.parametrize("before", ["payment_failed", "rejected"])
def test_a_cancellation_after_nothing_stayed_reserved_releases_nothing(catalog, before):
    sku = catalog.product(stock=1 if before == "rejected" else 5)
    placed = order_placed([(sku, "physical", 2)])
    catalog.reserve(placed)
    if before == "payment_failed":
        catalog.release(payment_failed(order_id_of(placed)))
    stock = catalog.stock(sku)
    cancelled = order_cancelled(placed)

    catalog.release(cancelled)

    assert catalog.stock(sku) == stock
    assert len(catalog.events(order_id_of(placed), "StockReleased")) == (1 if before == "payment_failed" else 0)
    assert catalog.processed(RELEASE, cancelled)


def test_a_cancellation_before_the_order_placed_leaves_a_tombstone_and_nothing_is_reserved(catalog):
    """OrderPlaced's delivery was delayed: the cancellation comes first. The late OrderPlaced must not
    take stock for an order that no longer exists (nobody would ever give it back)."""
    sku = catalog.product(stock=5)
    placed = order_placed([(sku, "physical", 2)])
    order_id = order_id_of(placed)
    cancelled = order_cancelled(placed)

    catalog.release(cancelled)
    assert catalog.reservation(order_id).status == "CANCELLED"
    assert catalog.processed(RELEASE, cancelled)
    catalog.reserve(placed)

    assert catalog.stock(sku) == 5
    assert catalog.events(order_id) == []
    assert catalog.reservation(order_id).status == "CANCELLED"
    assert catalog.processed(RESERVE, placed)
    # Both redelivered: still nothing.
    with pytest.raises(AlreadyProcessed):
        catalog.release(cancelled)
    with pytest.raises(AlreadyProcessed):
        catalog.reserve(placed)
    assert catalog.stock(sku) == 5


def test_a_payment_failure_with_no_reservation_leaves_no_tombstone(catalog):
    sku = catalog.product(stock=5)
    placed = order_placed([(sku, "physical", 1)])

    catalog.release(payment_failed(order_id_of(placed)))
    catalog.reserve(placed)

    assert catalog.stock(sku) == 4
    assert catalog.reservation(order_id_of(placed)).status == "RESERVED"


def test_a_cancellation_racing_its_order_placed_never_leaves_stock_taken(catalog):
    """Both at once, repeatedly: whichever commits first, the stock ends where it started."""
    sku = catalog.product(stock=50)
    for _ in range(10):
        placed = order_placed([(sku, "physical", 1)])
        cancelled = order_cancelled(placed)
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def consume(handle: Any, event: DomainEvent, start: threading.Barrier, errors: list[BaseException]) -> None:
            start.wait()
            try:
                for _ in range(5):  # SQS redelivers what gave up on contention
                    try:
                        handle(event)
                        return
                    except usecases.ConcurrentUpdate:
                        continue
            except BaseException as error:
                errors.append(error)

        threads = [
            threading.Thread(target=consume, args=(catalog.reserve, placed, start, errors)),
            threading.Thread(target=consume, args=(catalog.release, cancelled, start, errors)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert errors == []
        assert catalog.stock(sku) == 50
        assert catalog.reservation(order_id_of(placed)).status in ("CANCELLED", "RELEASED")


def test_release_subscriber_handles_a_duplicated_cancellation_once(catalog):
    sku = catalog.product(stock=5)
    placed = order_placed([(sku, "physical", 3)])
    catalog.reserve(placed)
    cancelled = order_cancelled(placed)
    batch = lambda_sqs_event(
        eventbridge_body(cancelled), eventbridge_body(cancelled), queue_arn=subscription_queue_arn("catalog", "release-stock")
    )

    result = catalog.app.release_subscriber.handle(batch, lambda_context())

    assert result == {"batchItemFailures": []}
    assert catalog.stock(sku) == 5
    assert len(catalog.events(order_id_of(placed), "StockReleased")) == 1
