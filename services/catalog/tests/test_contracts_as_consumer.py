"""catalog's consumer contracts, consumer side: every example it declares (consumer-contracts/) goes
through the Lambda function the app registers for that subscription and has its effect. Why: see
shop_devstack.contract_testing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from shop_contracts.events import Money, OrderLine, OrderPlacedV1
from shop_devstack.contract_testing import (
    Consumer,
    ConsumerContractTests,
    Scenario,
    as_new_event_about_a_new_order,
)
from shop_devstack.testing import deliver_to_subscription, eventbridge_body
from shop_eventing.envelope import new_event

SERVICE = "catalog"
SPARE_UNITS = 3


@dataclass
class Catalog:
    app: ModuleType
    aws: Any
    put_product: Callable[..., Any]
    new_sku: Callable[[], str]

    def product(self, *, kind: str, stock: int | None) -> str:
        sku = self.new_sku()
        body: dict[str, Any] = {"name": f"Product {sku}", "kind": kind, "price": {"amount": 2500, "currency": "EUR"}}
        if stock is not None:
            body["stock"] = stock
        assert self.put_product(sku, body).status_code == 201
        return sku

    def stock(self, sku: str) -> int | None:
        product = self.app.repository.product(sku)
        assert product is not None
        return int(product.stock) if product.stock is not None else None

    def published(self, order_id: str, event_type: str) -> list[dict[str, Any]]:
        return [item["detail"] for item in self.aws.outbox(correlation_id=order_id, event_type=event_type)]


@pytest.fixture
def catalog(catalog_app: ModuleType, aws: Any, put_product: Callable[..., Any], new_sku: Callable[[], str]) -> Catalog:
    return Catalog(catalog_app, aws, put_product, new_sku)


def order_for_products_in_stock(catalog: Catalog, example: dict[str, Any]) -> dict[str, Any]:
    """The example's lines become products of their kind, each physical one with a few units to spare."""
    detail = as_new_event_about_a_new_order(example)
    for line in detail["data"]["lines"]:
        physical = line["kind"] == "physical"
        line["sku"] = catalog.product(kind=line["kind"], stock=line["quantity"] + SPARE_UNITS if physical else None)
    return detail


def stock_was_reserved(catalog: Catalog, detail: dict[str, Any]) -> None:
    physical = [line for line in detail["data"]["lines"] if line["kind"] == "physical"]
    assert [catalog.stock(line["sku"]) for line in physical] == [SPARE_UNITS] * len(physical)
    [reserved] = catalog.published(detail["data"]["order_id"], "StockReserved")
    assert sorted(reserved["data"]["lines"], key=lambda line: line["sku"]) == sorted(
        ({"sku": line["sku"], "quantity": line["quantity"]} for line in physical), key=lambda line: line["sku"]
    )
    assert reserved["metadata"]["causation_id"] == detail["metadata"]["event_id"]


RESERVED_UNITS = 2


def failed_payment_for_a_reserved_order(catalog: Catalog, example: dict[str, Any]) -> dict[str, Any]:
    detail = as_new_event_about_a_new_order(example)
    order_id = detail["data"]["order_id"]
    sku = catalog.product(kind="physical", stock=RESERVED_UNITS + SPARE_UNITS)
    price = Money(amount=2500, currency="EUR")
    placed = OrderPlacedV1(
        order_id=order_id,
        customer_email="ann@example.com",
        lines=[OrderLine(sku=sku, name=f"Product {sku}", kind="physical", quantity=RESERVED_UNITS, unit_price=price)],
        total=Money(amount=RESERVED_UNITS * price.amount, currency="EUR"),
        shipping_address="1 Main St",
    )
    reserving = eventbridge_body(new_event(placed, producer="shop.orders", correlation_id=order_id))
    assert deliver_to_subscription(catalog.app, SERVICE, "reserve-stock", reserving) == {"batchItemFailures": []}
    assert catalog.stock(sku) == SPARE_UNITS
    return detail


def stock_was_released(catalog: Catalog, detail: dict[str, Any]) -> None:
    [released] = catalog.published(detail["data"]["order_id"], "StockReleased")
    [line] = released["data"]["lines"]
    assert line["quantity"] == RESERVED_UNITS
    assert catalog.stock(line["sku"]) == RESERVED_UNITS + SPARE_UNITS
    assert released["metadata"]["causation_id"] == detail["metadata"]["event_id"]


def cancelled_order_whose_stock_was_reserved(catalog: Catalog, example: dict[str, Any]) -> dict[str, Any]:
    """The example's order, its lines made products of the shop (a live ticket with seats for one), reserved."""
    detail = as_new_event_about_a_new_order(example)
    order_id = detail["data"]["order_id"]
    price = Money(amount=2500, currency="EUR")
    lines = []
    for line in detail["data"]["lines"]:
        ticket = (line.get("access") or {}).get("product_type") == "live_ticket"
        body: dict[str, Any] = {"name": line["name"], "kind": line["kind"], "price": price.model_dump()}
        body |= {"stock": line["quantity"] + SPARE_UNITS}
        if ticket:
            body |= {"product_type": "live_ticket", "access": {"live_show_id": line["access"]["live_show_id"]}}
        line["sku"] = catalog.new_sku()
        assert catalog.put_product(line["sku"], body).status_code == 201
        lines.append(
            OrderLine(sku=line["sku"], name=line["name"], kind=line["kind"], quantity=line["quantity"], unit_price=price)
        )
    placed = OrderPlacedV1(
        order_id=order_id,
        customer_email="ann@example.com",
        lines=lines,
        total=Money(amount=sum(line.quantity for line in lines) * price.amount, currency="EUR"),
        shipping_address="1 Main St",
    )
    reserving = eventbridge_body(new_event(placed, producer="shop.orders", correlation_id=order_id))
    assert deliver_to_subscription(catalog.app, SERVICE, "reserve-stock", reserving) == {"batchItemFailures": []}
    assert [catalog.stock(line.sku) for line in lines] == [SPARE_UNITS] * len(lines)
    return detail


def stock_was_released_for_the_cancellation(catalog: Catalog, detail: dict[str, Any]) -> None:
    [released] = catalog.published(detail["data"]["order_id"], "StockReleased")
    assert released["data"]["reason"] == "order_cancelled"
    assert sorted(line["sku"] for line in released["data"]["lines"]) == sorted(line["sku"] for line in detail["data"]["lines"])
    for line in detail["data"]["lines"]:
        assert catalog.stock(line["sku"]) == line["quantity"] + SPARE_UNITS
    assert released["metadata"]["causation_id"] == detail["metadata"]["event_id"]


@pytest.fixture
def consumer(catalog: Catalog) -> Consumer[Catalog]:
    return Consumer(catalog, catalog.app, markers_in=catalog.aws)


class TestCatalogAsConsumer(ConsumerContractTests):
    SERVICE = SERVICE
    SCENARIOS = {
        "catalog.reserve-stock:OrderPlaced.v1": Scenario(order_for_products_in_stock, stock_was_reserved),
        "catalog.release-stock:PaymentFailed.v1": Scenario(failed_payment_for_a_reserved_order, stock_was_released),
        "catalog.release-stock:OrderCancelled.v1": Scenario(
            cancelled_order_whose_stock_was_reserved, stock_was_released_for_the_cancellation
        ),
    }
