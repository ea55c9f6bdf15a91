"""The staff product API over chalice's test client, against a real (in-process) moto server."""

from __future__ import annotations

import json
from typing import Any

import pytest


def product_body(*, kind: str = "physical", amount: int = 2500, currency: str = "USD", stock: int | None = 10) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "Blu-ray box set", "kind": kind, "price": {"amount": amount, "currency": currency}}
    if stock is not None:
        body["stock"] = stock
    return body


def error_of(response: Any) -> dict[str, Any]:
    assert response.headers["Content-Type"] == "application/json"
    body = json.loads(response.body)
    assert set(body) == {"error"}
    return dict(body["error"])


def field_names(error: dict[str, Any]) -> list[str]:
    return [f["field"] for f in error.get("fields", [])]


# -- create, update, read --------------------------------------------------------------------------


def test_put_creates_then_updates_with_a_growing_revision(put_product, client, new_sku):
    sku = new_sku()

    created = put_product(sku, product_body(amount=2500, stock=10))
    updated = put_product(sku, product_body(amount=2200, stock=8))

    assert created.status_code == 201
    assert json.loads(created.body) == {
        "sku": sku,
        "name": "Blu-ray box set",
        "kind": "physical",
        "product_type": "physical_good",
        "status": "published",
        "price": {"amount": 2500, "currency": "USD"},
        "access": None,
        "stock": 10,
        "availability": "in_stock",
        "revision": 1,
    }
    assert created.headers["ETag"] == '"1"'
    assert updated.status_code == 200
    assert json.loads(updated.body)["revision"] == 2
    fetched = client.http.get(f"/products/{sku}")
    assert fetched.status_code == 200
    # The storefront's view: availability, and the count kept for older clients.
    assert json.loads(fetched.body) == {
        "sku": sku,
        "name": "Blu-ray box set",
        "kind": "physical",
        "product_type": "physical_good",
        "price": {"amount": 2200, "currency": "USD"},
        "access": None,
        "availability": "in_stock",
        "stock": 8,
        "revision": 2,
    }


def test_update_without_stock_keeps_the_stock_on_hand(put_product, client, new_sku):
    sku = new_sku()
    put_product(sku, product_body(stock=6))

    put_product(sku, product_body(amount=999, stock=None))

    product = json.loads(client.http.get(f"/products/{sku}").body)
    assert (product["stock"], product["price"]["amount"], product["revision"]) == (6, 999, 2)


def test_digital_product_has_no_stock(put_product, client, new_sku):
    sku = new_sku()

    created = put_product(sku, product_body(kind="digital", amount=1500, currency="JPY", stock=None))

    assert created.status_code == 201
    # Without a product_type, a digital product is a video purchase whose video is not named yet.
    assert json.loads(client.http.get(f"/products/{sku}").body) == {
        "sku": sku,
        "name": "Blu-ray box set",
        "kind": "digital",
        "product_type": "video_purchase",
        "price": {"amount": 1500, "currency": "JPY"},
        "access": {"video_id": None, "live_show_id": None, "rental_hours": None},
        "availability": None,
        "stock": None,
        "revision": 1,
    }


def test_get_unknown_product_is_a_404_json(client, new_sku):
    sku = new_sku()

    response = client.http.get(f"/products/{sku}")

    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "not_found"
    assert sku in error["message"]


def test_health(client):
    response = client.http.get("/health")

    assert response.status_code == 200
    assert json.loads(response.body) == {"status": "ok", "service": "catalog"}


# -- the outbox ------------------------------------------------------------------------------------


def test_a_put_publishes_a_new_product_and_updates_a_published_one_with_its_revision(put_product, aws, new_sku):
    sku = new_sku()

    put_product(sku, product_body(amount=2500, stock=10))
    put_product(sku, product_body(amount=2100, stock=None))

    items = aws.outbox(correlation_id=f"product:{sku}")
    assert [item["event_type"] for item in items] == ["ProductPublished", "ProductUpdated"]
    public = {"sku": sku, "name": "Blu-ray box set", "kind": "physical", "product_type": "physical_good", "access": None}
    assert [item["detail"]["data"] for item in items] == [
        {**public, "price": {"amount": 2500, "currency": "USD"}, "revision": 1},
        {**public, "price": {"amount": 2100, "currency": "USD"}, "revision": 2},
    ]
    for item, event_type in zip(items, ["ProductPublished", "ProductUpdated"], strict=True):
        metadata = item["detail"]["metadata"]
        assert item["pk"] == f"OUTBOX#{item['event_id']}"
        assert item["source"] == "shop.catalog"
        assert metadata["event_id"] == item["event_id"]
        assert (metadata["event_type"], metadata["schema_version"], metadata["producer"]) == (event_type, 1, "shop.catalog")
    assert len({item["event_id"] for item in items}) == 2


def test_a_rejected_put_writes_nothing(put_product, client, aws, new_sku):
    sku = new_sku()

    response = put_product(sku, product_body(amount=-1))

    assert response.status_code == 400
    assert client.http.get(f"/products/{sku}").status_code == 404
    assert aws.outbox(correlation_id=f"product:{sku}") == []


# -- bad input: a 400 naming the field --------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(product_body(amount=-1), "price.amount", id="negative-price"),
        pytest.param(product_body(currency="usd"), "price.currency", id="lowercase-currency"),
        pytest.param(product_body(currency="US"), "price.currency", id="two-letter-currency"),
        pytest.param({**product_body(), "kind": "vinyl"}, "kind", id="unknown-kind"),
        pytest.param(product_body(stock=-3), "stock", id="negative-stock"),
        pytest.param({**product_body(), "name": ""}, "name", id="empty-name"),
        pytest.param({"kind": "physical", "price": {"amount": 1, "currency": "USD"}}, "name", id="missing-name"),
        pytest.param({"name": "x", "kind": "physical"}, "price", id="missing-price"),
        pytest.param({**product_body(), "price": {"amount": 12.5, "currency": "USD"}}, "price.amount", id="fractional-price"),
        pytest.param({**product_body(), "colour": "red"}, "colour", id="unknown-field"),
    ],
)
def test_bad_body_is_a_400_naming_the_field(put_product, client, new_sku, body, field):
    sku = new_sku()

    response = put_product(sku, body)

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert field in field_names(error)
    assert all(set(f) == {"field", "problem"} and f["problem"] for f in error["fields"])
    assert client.http.get(f"/products/{sku}").status_code == 404


def test_several_bad_fields_are_all_named(put_product, new_sku):
    response = put_product(new_sku(), {"name": "x", "kind": "vinyl", "price": {"amount": -1, "currency": "usd"}})

    assert response.status_code == 400
    assert sorted(field_names(error_of(response))) == ["kind", "price.amount", "price.currency"]


def test_stock_on_a_digital_product_is_a_400(put_product, client, new_sku):
    sku = new_sku()

    response = put_product(sku, product_body(kind="digital", stock=3))

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert "stock applies to physical goods and live tickets only" in error["message"]
    assert client.http.get(f"/products/{sku}").status_code == 404


def test_stock_on_a_digital_product_names_the_stock_field(put_product, new_sku):
    response = put_product(new_sku(), product_body(kind="digital", stock=3))

    assert field_names(error_of(response)) == ["stock"]


@pytest.mark.parametrize(
    "raw", ["{not json", "", "[1, 2]", '"a string"', "null"], ids=["broken", "empty", "array", "string", "null"]
)
def test_body_that_is_not_a_json_object_is_malformed_json(put_product, client, new_sku, raw):
    sku = new_sku()

    response = put_product(sku, raw)

    assert response.status_code == 400
    assert error_of(response)["code"] == "malformed_json"
    assert client.http.get(f"/products/{sku}").status_code == 404


def test_sku_longer_than_64_characters_is_a_400_naming_sku(put_product):
    response = put_product("A" * 65, product_body())

    assert response.status_code == 400
    assert field_names(error_of(response)) == ["sku"]


@pytest.mark.parametrize("sku", ["-LEADING-DASH", "HAS~TILDE"])
def test_sku_the_event_contract_refuses_is_a_400_naming_sku(put_product, sku):
    response = put_product(sku, product_body())

    assert response.status_code == 400
    assert field_names(error_of(response)) == ["sku"]


def test_sku_the_event_contract_refuses_is_never_stored(put_product, client, aws):
    sku = "-LEADING-DASH-2"

    put_product(sku, product_body())

    assert client.http.get(f"/products/{sku}").status_code == 404
    assert aws.outbox(correlation_id=f"product:{sku}") == []


def test_a_concurrent_change_to_the_same_product_is_a_409_and_writes_nothing(
    put_product, client, aws, catalog_app, new_sku, monkeypatch
):
    sku = new_sku()
    put_product(sku, product_body(amount=2500, stock=10))
    stale = catalog_app.repository.product(sku)
    put_product(sku, product_body(amount=2600, stock=10))  # someone else's change: revision 2
    # Our request read the product before that change landed.
    monkeypatch.setattr(catalog_app.repository, "product", lambda _sku: stale)

    response = put_product(sku, product_body(amount=9999, stock=1))

    monkeypatch.undo()
    assert response.status_code == 409
    assert error_of(response)["code"] == "conflict"
    current = json.loads(client.http.get(f"/products/{sku}").body)
    assert (current["price"]["amount"], current["stock"], current["revision"]) == (2600, 10, 2)
    assert [item["detail"]["data"]["revision"] for item in aws.outbox(correlation_id=f"product:{sku}")] == [1, 2]
