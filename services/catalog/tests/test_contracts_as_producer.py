"""catalog's consumer contracts, producer side: for every consumer's declaration about an event
catalog publishes, catalog's real code (the staff API, the reservation subscriptions) is driven into
the declared provider state and the event it writes to its outbox must give that consumer every
field it relies on.

A new consumer declaration gets its producer test here without anyone editing this file, unless it
names a provider state catalog does not know yet (shop_devstack.contract_testing says how)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from chalicelib import usecases
from shop_contracts.consumer_contracts import check, the_event
from shop_contracts.events import Money, OrderLine, OrderPlacedV1, PaymentFailedV1, ProductPublishedV1
from shop_devstack.contract_testing import Producer, ProducerContractTests, declarations_produced_by
from shop_devstack.testing import deliver_to_subscription, eventbridge_body
from shop_eventing.envelope import EventData, new_event

SERVICE = "catalog"
DECLARATIONS = declarations_produced_by(SERVICE)
PRICE = Money(amount=2500, currency="EUR")


@dataclass
class CatalogProducer(Producer):
    put_product: Callable[..., Any]
    new_sku: Callable[[], str]

    def product(self, *, kind: str = "physical", stock: int | None = None) -> str:
        sku = self.new_sku()
        body: dict[str, Any] = {"name": "Blu-ray box set", "kind": kind, "price": PRICE.model_dump()}
        if stock is not None:
            body["stock"] = stock
        assert self.put_product(sku, body).status_code == 201
        return sku

    def deliver(self, subscription: str, data: EventData, order_id: str) -> None:
        event = new_event(data, producer="shop.orders", correlation_id=order_id)
        assert deliver_to_subscription(self.app, SERVICE, subscription, eventbridge_body(event)) == {"batchItemFailures": []}


@pytest.fixture
def producer(catalog_app: ModuleType, aws: Any, put_product: Callable[..., Any], new_sku: Callable[[], str]) -> CatalogProducer:
    return CatalogProducer(catalog_app, aws, put_product, new_sku)


def order_placed(order_id: str, lines: list[tuple[str, str, int]]) -> OrderPlacedV1:
    """lines are (sku, kind, quantity)."""
    return OrderPlacedV1(
        order_id=order_id,
        customer_email="ann@example.com",
        lines=[OrderLine(sku=sku, name="Blu-ray box set", kind=kind, quantity=q, unit_price=PRICE) for sku, kind, q in lines],
        total=Money(amount=sum(q for _, _, q in lines) * PRICE.amount, currency=PRICE.currency),
        shipping_address="1 Main St",
    )


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


def an_order_asks_for_more_than_the_stock(producer: CatalogProducer) -> list[dict[str, Any]]:
    return producer.events_about(reserve_an_order(producer, in_stock=1, ordered=2))


def a_reservation_is_released_after_a_declined_payment(producer: CatalogProducer) -> list[dict[str, Any]]:
    order_id = reserve_an_order(producer, in_stock=5, ordered=2)
    declined = PaymentFailedV1(
        order_id=order_id, amount=Money(amount=5399, currency="EUR"), customer_email="ann@example.com", reason="card_declined"
    )
    producer.deliver("release-stock", declined, order_id)
    return producer.events_about(order_id)


def not_produced_yet(producer: Any) -> list[dict[str, Any]]:
    pytest.xfail("catalog publishes no ProductUpdated or ProductRetired on this branch yet (issue 11: a product's life)")


class TestCatalogAsProducer(ProducerContractTests):
    SERVICE = SERVICE
    # Provider state (as consumers name it) -> drives catalog's real code into it; returns the details
    # catalog published there.
    PROVIDER_STATES = {
        "a staff member published a new product": a_new_product_is_published,
        "an order's physical lines were reserved": an_order_is_reserved,
        "an order asked for more units than are in stock": an_order_asks_for_more_than_the_stock,
        "an order's reservation was released after its payment was declined": a_reservation_is_released_after_a_declined_payment,
        # orders.product-view's declarations, for the product's life to drive when catalog publishes these events.
        "a staff member changed a published product's price": not_produced_yet,
        "a staff member retired a published product": not_produced_yet,
    }


def test_catalog_has_consumers_to_satisfy() -> None:
    assert {d.event_type for d in DECLARATIONS} == {
        "ProductPublished",
        "ProductUpdated",
        "ProductRetired",
        "StockReserved",
        "StockRejected",
        "StockReleased",
    }


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
        ]
    }
