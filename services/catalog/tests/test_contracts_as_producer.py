"""catalog's consumer contracts, producer side: for every consumer's declaration about an event
catalog publishes, catalog's real code (the staff API, the reservation subscriptions) is driven into
the declared provider state and the event it writes to its outbox must give that consumer every
field it relies on.

A new consumer declaration gets its producer test here without anyone editing this file, unless it
names a provider state catalog does not know yet (shop_devstack.contract_testing says how)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from chalicelib import stock_levels, usecases
from shop_contracts.consumer_contracts import check, committed_schema, schema_errors, the_event
from shop_contracts.events import Money, OrderCancelledV1, OrderLine, OrderPlacedV1, PaymentFailedV1, ProductPublishedV1
from shop_devstack.contract_testing import Producer, ProducerContractTests, declarations_produced_by
from shop_devstack.testing import deliver_to_subscription, eventbridge_body
from shop_eventing.envelope import EventData, new_event
from shop_eventing.relay import stream_change

SERVICE = "catalog"
DECLARATIONS = declarations_produced_by(SERVICE)
PRICE = Money(amount=2500, currency="EUR")


@dataclass
class CatalogProducer(Producer):
    put_product: Callable[..., Any]
    new_sku: Callable[[], str]
    client: Any
    stream_records: Callable[[str], list[dict[str, Any]]]

    def product(self, *, kind: str = "physical", stock: int | None = None) -> str:
        sku = self.new_sku()
        body: dict[str, Any] = {"name": "Blu-ray box set", "kind": kind, "price": PRICE.model_dump()}
        if stock is not None:
            body["stock"] = stock
        assert self.put_product(sku, body).status_code == 201
        return sku

    def staff(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        raw = "" if body is None else json.dumps(body)
        response = self.client.http.request(
            method, path, headers={"Content-Type": "application/json", **(headers or {})}, body=raw
        )
        assert response.status_code in (200, 201), response.body
        return json.loads(response.body)

    def deliver(self, subscription: str, data: EventData, order_id: str) -> None:
        event = new_event(data, producer="shop.orders", correlation_id=order_id)
        assert deliver_to_subscription(self.app, SERVICE, subscription, eventbridge_body(event)) == {"batchItemFailures": []}


@pytest.fixture
def producer(
    catalog_app: ModuleType,
    aws: Any,
    put_product: Callable[..., Any],
    new_sku: Callable[[], str],
    client: Any,
    stream_records: Callable[[str], list[dict[str, Any]]],
) -> CatalogProducer:
    return CatalogProducer(catalog_app, aws, put_product, new_sku, client, stream_records)


def order_placed(order_id: str, lines: list[tuple[str, str, int]]) -> OrderPlacedV1:
    """lines are (sku, kind, quantity)."""
    return OrderPlacedV1(
        order_id=order_id,
        customer_email="ann@example.com",
        lines=[OrderLine(sku=sku, name="Blu-ray box set", kind=kind, quantity=q, unit_price=PRICE) for sku, kind, q in lines],
        total=Money(amount=sum(q for _, _, q in lines) * PRICE.amount, currency=PRICE.currency),
        shipping_address="1 Main St",
    )


def stock_levels_of(producer: CatalogProducer, sku: str) -> list[dict[str, Any]]:
    """What the relay's change feed announces from the table's stream about `sku` (no outbox item: the
    stream itself is StockLevelChanged's source)."""
    changes = [stream_change(record) for record in producer.stream_records(sku)]
    return [event.to_detail() for change in changes for event in stock_levels.stock_level_changes(change)]


def a_new_product_is_published(producer: CatalogProducer) -> list[dict[str, Any]]:
    sku = producer.product(stock=10)
    return producer.events_about(f"product:{sku}")


def reserve_an_order(producer: CatalogProducer, *, in_stock: int, ordered: int) -> str:
    order_id = f"ord-{uuid.uuid4().hex[:12]}"
    physical, digital = producer.product(stock=in_stock), producer.product(kind="digital")
    producer.deliver(
        "reserve-stock", order_placed(order_id, [(physical, "physical", ordered), (digital, "digital", 1)]), order_id
    )
    return order_id


def an_order_is_reserved(producer: CatalogProducer) -> list[dict[str, Any]]:
    return producer.events_about(reserve_an_order(producer, in_stock=5, ordered=2))


def an_order_reserves_units_of_a_product_in_stock(producer: CatalogProducer) -> list[dict[str, Any]]:
    order_id = f"ord-{uuid.uuid4().hex[:12]}"
    sku = producer.product(stock=5)
    producer.deliver("reserve-stock", order_placed(order_id, [(sku, "physical", 2)]), order_id)
    levels = stock_levels_of(producer, sku)
    assert [level["data"]["on_hand"] for level in levels] == [5, 3]
    return levels[-1:]


def an_order_asks_for_more_than_the_stock(producer: CatalogProducer) -> list[dict[str, Any]]:
    return producer.events_about(reserve_an_order(producer, in_stock=1, ordered=2))


def a_reservation_is_released_after_a_declined_payment(producer: CatalogProducer) -> list[dict[str, Any]]:
    order_id = reserve_an_order(producer, in_stock=5, ordered=2)
    declined = PaymentFailedV1(
        order_id=order_id, amount=Money(amount=5399, currency="EUR"), customer_email="ann@example.com", reason="card_declined"
    )
    producer.deliver("release-stock", declined, order_id)
    return producer.events_about(order_id)


def a_published_products_price_is_changed(producer: CatalogProducer) -> list[dict[str, Any]]:
    sku = producer.new_sku()
    body = {"sku": sku, "name": "Rent: A film", "product_type": "video_rental", "price": PRICE.model_dump()}
    producer.staff("POST", "/staff/products", body | {"access": {"video_id": "film-42", "rental_hours": 48}})
    producer.staff("POST", f"/staff/products/{sku}/publish")
    producer.staff("PATCH", f"/staff/products/{sku}", {"price": {"amount": 299, "currency": "EUR"}}, {"If-Match": '"2"'})
    return producer.events_about(f"product:{sku}")


def a_published_product_is_retired(producer: CatalogProducer) -> list[dict[str, Any]]:
    sku = producer.product(stock=3)
    producer.staff("POST", f"/staff/products/{sku}/retire")
    return producer.events_about(f"product:{sku}")


def a_live_tickets_capacity_is_changed(producer: CatalogProducer) -> list[dict[str, Any]]:
    sku = producer.new_sku()
    body = {"sku": sku, "name": "Live in Tokyo", "product_type": "live_ticket", "price": PRICE.model_dump(), "stock": 100}
    producer.staff("POST", "/staff/products", body | {"access": {"live_show_id": "show-tokyo"}})
    producer.staff("POST", f"/staff/products/{sku}/publish")
    path = f"/staff/products/{sku}/stock-adjustments"
    producer.staff("POST", path, {"delta": 50, "reason": "capacity_changed", "note": "a bigger hall"}, {"Idempotency-Key": sku})
    return producer.events_about(f"product:{sku}")


def a_reservation_is_released_after_a_cancellation(producer: CatalogProducer) -> list[dict[str, Any]]:
    order_id = reserve_an_order(producer, in_stock=5, ordered=2)
    placed = order_placed(order_id, [("ANY-1", "physical", 2)])
    cancelled = OrderCancelledV1(
        order_id=order_id,
        cancelled_by="customer",
        reason="changed my mind",
        customer_email=placed.customer_email,
        lines=placed.lines,
        total=placed.total,
        payment_id="pay-1",
    )
    producer.deliver("release-stock", cancelled, order_id)
    return producer.events_about(order_id)


class TestCatalogAsProducer(ProducerContractTests):
    SERVICE = SERVICE
    # Provider state (as consumers name it) -> drives catalog's real code into it; returns the details
    # catalog published there.
    PROVIDER_STATES = {
        "a staff member published a new product": a_new_product_is_published,
        "an order's physical lines were reserved": an_order_is_reserved,
        "an order asked for more units than are in stock": an_order_asks_for_more_than_the_stock,
        "an order reserved units of a product in stock": an_order_reserves_units_of_a_product_in_stock,
        "an order's reservation was released after its payment was declined": a_reservation_is_released_after_a_declined_payment,
        "a staff member changed a published product's price": a_published_products_price_is_changed,
        "a staff member retired a published product": a_published_product_is_retired,
        "a staff member changed a live ticket's capacity": a_live_tickets_capacity_is_changed,
        "an order's reservation was released after it was cancelled": a_reservation_is_released_after_a_cancellation,
    }


@pytest.mark.parametrize("state", sorted(TestCatalogAsProducer.PROVIDER_STATES))
def test_every_event_catalog_publishes_passes_its_committed_schema(producer: CatalogProducer, state: str) -> None:
    """Whether or not a consumer declares it yet: each event in each situation matches its committed schema."""
    details = TestCatalogAsProducer.PROVIDER_STATES[state](producer)

    assert details
    for detail in details:
        metadata = detail["metadata"]
        assert schema_errors(committed_schema(metadata["event_type"], metadata["schema_version"]), detail) == [], metadata


def test_each_product_event_and_stock_adjusted_is_produced_whole(producer: CatalogProducer) -> None:
    """The product events carry the whole public state (type and access included); StockAdjusted says who and why."""
    changed = a_published_products_price_is_changed(producer)
    capacity = a_live_tickets_capacity_is_changed(producer)
    retired = a_published_product_is_retired(producer)
    cancelled = a_reservation_is_released_after_a_cancellation(producer)

    updated = the_event(changed, "ProductUpdated", 1)["data"]
    assert (updated["product_type"], updated["access"]["video_id"], updated["access"]["rental_hours"], updated["revision"]) == (
        "video_rental",
        "film-42",
        48,
        3,
    )
    published = the_event(capacity, "ProductPublished", 1)["data"]
    assert (published["product_type"], published["access"]["live_show_id"]) == ("live_ticket", "show-tokyo")
    adjusted = the_event(capacity, "StockAdjusted", 1)["data"]
    assert (adjusted["delta"], adjusted["on_hand"], adjusted["reason"], adjusted["note"]) == (
        50,
        150,
        "capacity_changed",
        "a bigger hall",
    )
    assert adjusted["adjusted_by"]
    assert the_event(retired, "ProductRetired", 1)["data"]["revision"] == 2
    assert the_event(cancelled, "StockReleased", 1)["data"]["reason"] == "order_cancelled"


def test_catalog_has_consumers_to_satisfy() -> None:
    # At least these: other consumers may declare more (orders' product view: ProductUpdated, ProductRetired).
    assert {d.event_type for d in DECLARATIONS} >= {"ProductPublished", "StockReserved", "StockRejected", "StockReleased"}


def test_the_check_bites_when_catalog_stops_setting_a_relied_on_field(
    producer: CatalogProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def product_published_without_its_revision(**fields: Any) -> ProductPublishedV1:
        # model_construct skips validation, as a hand-built payload would: the planted regression.
        return ProductPublishedV1.model_construct(**{k: v for k, v in fields.items() if k != "revision"})

    monkeypatch.setattr(usecases, "ProductPublishedV1", product_published_without_its_revision)

    detail = the_event(a_new_product_is_published(producer), "ProductPublished", 1)

    assert {d.id: check(d, detail) for d in DECLARATIONS if d.event_type == "ProductPublished"} == {
        "orders.product-view:ProductPublished.v1": [
            "orders.product-view relies on ProductPublished v1 field data.revision: data.revision is missing"
        ],
        "vod.product-view:ProductPublished.v1": [
            "vod.product-view relies on ProductPublished v1 field data.revision: data.revision is missing"
        ],
    }
