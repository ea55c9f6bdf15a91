"""StockLevelChanged from the catalog table's change stream: every write that changes a product's stock
bumps its stock_version (in the same update, inside the use case's transaction), and the relay announces
each new level once, with an event_id derived from (sku, stock_version). Against a real (in-process)
moto server: its DynamoDB stream gives the records a Lambda event source would."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

import pytest

from chalicelib import stock_levels
from shop_contracts.consumer_contracts import committed_schema, schema_errors
from shop_contracts.events import Money, OrderLine, OrderPlacedV1, PaymentFailedV1
from shop_devstack.testing import deliver_to_subscription, eventbridge_body
from shop_eventing.envelope import EventData, new_event
from shop_eventing.relay import stream_change

JSON = {"Content-Type": "application/json"}


class Bus:
    """Takes every PutEvents entry (the relay's bus port)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def put_events(self, entries: Sequence[Mapping[str, Any]]) -> list[str | None]:
        self.entries += [dict(entry) for entry in entries]
        return [None] * len(entries)

    def levels(self, sku: str) -> list[dict[str, Any]]:
        details = [json.loads(e["Detail"]) for e in self.entries if e["DetailType"] == "StockLevelChanged"]
        return [d for d in details if d["data"]["sku"] == sku]


class Catalog:
    def __init__(self, app: ModuleType, aws: Any, client: Any, stream_records: Callable[[str], list[dict[str, Any]]]) -> None:
        self.app = app
        self.aws = aws
        self.http = client.http
        self.stream_records = stream_records

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
        raw = "" if body is None else json.dumps(body)
        response = self.http.request(method, path, headers={**JSON, **(headers or {})}, body=raw)
        assert response.status_code in (200, 201), response.body
        return dict(json.loads(response.body))

    def stock_version(self, sku: str) -> int | None:
        item = self.aws.item(f"PRODUCT#{sku}", "PRODUCT")
        assert item is not None
        return None if item.get("stock_version") is None else int(item["stock_version"])

    def deliver(self, subscription: str, data: EventData, order_id: str) -> None:
        event = new_event(data, producer="shop.orders", correlation_id=order_id)
        assert deliver_to_subscription(self.app, "catalog", subscription, eventbridge_body(event)) == {"batchItemFailures": []}

    def order(self, sku: str, quantity: int) -> str:
        order_id = f"ord-{uuid.uuid4().hex[:12]}"
        line = OrderLine(sku=sku, name="Tee", kind="physical", quantity=quantity, unit_price=Money(amount=1200, currency="USD"))
        placed = OrderPlacedV1(
            order_id=order_id,
            customer_email="ann@example.com",
            lines=[line],
            total=Money(amount=1200 * quantity, currency="USD"),
            shipping_address="1 Main St",
        )
        self.deliver("reserve-stock", placed, order_id)
        return order_id

    def decline(self, order_id: str) -> None:
        failed = PaymentFailedV1(
            order_id=order_id, amount=Money(amount=1200, currency="USD"), customer_email="ann@example.com", reason="card_declined"
        )
        self.deliver("release-stock", failed, order_id)

    def relay(self, records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> Bus:
        """The app's own relay (its change feed included) over `records`, onto a bus that takes everything."""
        bus = Bus()
        monkeypatch.setattr(self.app.runtime.relay, "_bus", bus)
        self.app.runtime.relay.handle({"Records": records})
        return bus


@pytest.fixture
def catalog(catalog_app: ModuleType, aws: Any, client: Any, stream_records: Callable[[str], list[dict[str, Any]]]) -> Catalog:
    return Catalog(catalog_app, aws, client, stream_records)


def new_sku() -> str:
    return f"SKU-{uuid.uuid4().hex[:12].upper()}"


def test_every_write_that_changes_stock_bumps_stock_version_and_no_other_does(catalog):
    sku = new_sku()
    draft = {"sku": sku, "name": "Tee", "product_type": "physical_good", "price": {"amount": 1200, "currency": "USD"}}
    catalog.call("POST", "/staff/products", draft | {"stock": 10})
    assert catalog.stock_version(sku) == 1, "created with stock"
    catalog.call("POST", f"/staff/products/{sku}/publish")
    catalog.call("PATCH", f"/staff/products/{sku}", {"name": "Blue tee"}, {"If-Match": '"2"'})
    assert catalog.stock_version(sku) == 1, "publishing and renaming leave the stock alone"

    order_id = catalog.order(sku, 3)
    assert catalog.stock_version(sku) == 2, "an order took units"
    catalog.decline(order_id)
    assert catalog.stock_version(sku) == 3, "the declined order's units came back"
    catalog.call("POST", f"/staff/products/{sku}/stock-adjustments", {"delta": -2, "reason": "damaged"}, {"Idempotency-Key": sku})
    assert catalog.stock_version(sku) == 4, "a staff adjustment"
    legacy = {"name": "Blue tee", "kind": "physical", "price": {"amount": 1300, "currency": "USD"}}
    catalog.call("PUT", f"/products/{sku}", legacy | {"stock": 20})
    assert catalog.stock_version(sku) == 5, "the legacy PUT with stock"
    catalog.call("PUT", f"/products/{sku}", legacy)
    catalog.call("POST", f"/staff/products/{sku}/retire")
    assert catalog.stock_version(sku) == 5, "a legacy PUT without stock and a retirement leave it"
    assert catalog.call("GET", f"/staff/products/{sku}")["stock"] == 20


def test_a_product_without_stock_has_no_stock_version(catalog):
    sku = new_sku()
    catalog.call("PUT", f"/products/{sku}", {"name": "Film", "kind": "digital", "price": {"amount": 900, "currency": "USD"}})

    assert catalog.stock_version(sku) is None
    assert stock_levels.stock_level_changes(stream_change(catalog.stream_records(sku)[0])) == []


def test_the_relay_announces_each_level_once_in_order_and_only_stock_changes(catalog, monkeypatch):
    sku = new_sku()
    legacy = {"name": "Tee", "kind": "physical", "price": {"amount": 1200, "currency": "USD"}}
    catalog.call("PUT", f"/products/{sku}", legacy | {"stock": 5})
    catalog.call("PATCH", f"/staff/products/{sku}", {"price": {"amount": 999, "currency": "USD"}}, {"If-Match": '"1"'})
    order_id = catalog.order(sku, 2)
    catalog.decline(order_id)
    catalog.call("POST", f"/staff/products/{sku}/retire")

    records = catalog.stream_records(sku)
    bus = catalog.relay(records, monkeypatch)

    levels = bus.levels(sku)
    assert [(d["data"]["stock_version"], d["data"]["on_hand"]) for d in levels] == [(1, 5), (2, 3), (3, 5)]
    assert [d["metadata"]["event_id"] for d in levels] == [stock_levels.stock_level_event_id(sku, v) for v in (1, 2, 3)]
    assert {d["metadata"]["correlation_id"] for d in levels} == {f"product:{sku}"}
    assert len(records) == 5, "create, price, take, return, retire: two writes announced nothing"
    for detail in levels:
        assert schema_errors(committed_schema("StockLevelChanged", 1), detail) == []


def test_a_redelivered_stream_record_publishes_the_same_event(catalog, monkeypatch):
    sku = new_sku()
    catalog.call(
        "PUT", f"/products/{sku}", {"name": "Tee", "kind": "physical", "price": {"amount": 1, "currency": "USD"}, "stock": 4}
    )
    catalog.order(sku, 1)
    records = catalog.stream_records(sku)

    first = catalog.relay(records, monkeypatch).levels(sku)
    again = catalog.relay(records[-1:], monkeypatch).levels(sku)

    assert again == first[-1:]
    assert again[0]["data"] == {"sku": sku, "on_hand": 3, "stock_version": 2}


def test_the_feed_reads_a_write_that_did_not_move_the_version_as_no_change(catalog):
    sku = new_sku()
    catalog.call(
        "PUT", f"/products/{sku}", {"name": "Tee", "kind": "physical", "price": {"amount": 1, "currency": "USD"}, "stock": 4}
    )
    catalog.call("PUT", f"/products/{sku}", {"name": "Tee 2", "kind": "physical", "price": {"amount": 1, "currency": "USD"}})

    created, renamed = (stream_change(record) for record in catalog.stream_records(sku))

    assert [e.data for e in stock_levels.stock_level_changes(created)] != []
    assert renamed.new["name"] == "Tee 2"
    assert stock_levels.stock_level_changes(renamed) == []
