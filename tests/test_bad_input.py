"""Bad input gets a 4xx with a JSON body naming the problem, through the real HTTP servers."""

from __future__ import annotations

import pytest
from boto3.dynamodb.conditions import Attr

from shop_eventing.topology import Naming


@pytest.fixture(scope="module")
def sku(shop):
    return shop.new_product()


def valid_order(sku: str) -> dict:
    return {
        "customer_email": "careful@example.com",
        "payment_token": "tok_visa",
        "shipping_address": "2 High St",
        "lines": [{"sku": sku, "quantity": 1}],
    }


def post_order(shop, body, key="bad-input"):
    return shop.call("orders", "POST", "/orders", body, {"Idempotency-Key": key})


def fields(reply) -> list[str]:
    return [f["field"] for f in reply.body["error"].get("fields", [])]


def test_malformed_json_is_a_400_naming_the_problem(shop):
    reply = post_order(shop, '{"lines": [')
    assert reply.status == 400
    assert reply.body["error"]["code"] == "malformed_json"
    assert "not valid JSON" in reply.body["error"]["message"]


def test_a_json_array_is_not_an_order(shop):
    reply = post_order(shop, "[]")
    assert reply.status == 400
    assert reply.body["error"]["code"] == "malformed_json"


def test_unknown_sku_is_a_400_naming_the_line(shop, sku):
    body = valid_order(sku)
    body["lines"].append({"sku": "NO-SUCH-THING", "quantity": 1})
    reply = post_order(shop, body, key="bad-sku")
    assert reply.status == 400
    assert fields(reply) == ["lines[1].sku"]
    assert "NO-SUCH-THING" in reply.body["error"]["message"]


@pytest.mark.parametrize("quantity", [0, -3, 1.5, "two", 101])
def test_bad_quantity_is_a_400_naming_the_field(shop, sku, quantity):
    body = valid_order(sku)
    body["lines"][0]["quantity"] = quantity
    reply = post_order(shop, body, key=f"bad-quantity-{quantity}")
    assert reply.status == 400
    assert fields(reply) == ["lines[0].quantity"]


@pytest.mark.parametrize("missing", ["customer_email", "payment_token", "lines"])
def test_missing_field_is_a_400_naming_it(shop, sku, missing):
    body = valid_order(sku)
    del body[missing]
    reply = post_order(shop, body, key=f"missing-{missing}")
    assert reply.status == 400
    assert fields(reply) == [missing]


def test_missing_idempotency_key_is_a_400_naming_the_header(shop, sku):
    reply = shop.call("orders", "POST", "/orders", valid_order(sku))
    assert reply.status == 400
    assert fields(reply) == ["Idempotency-Key"]


def test_physical_goods_need_an_address(shop, sku):
    body = valid_order(sku)
    body["shipping_address"] = None
    reply = post_order(shop, body, key="no-address")
    assert reply.status == 400
    assert fields(reply) == ["shipping_address"]


def test_unknown_order_is_a_404_json(shop):
    reply = shop.call("orders", "GET", "/orders/does-not-exist")
    assert reply.status == 404
    assert reply.body["error"]["code"] == "not_found"


def test_bad_product_is_a_400_naming_the_field(shop):
    reply = shop.call(
        "catalog", "PUT", "/products/BAD-1", {"name": "x", "kind": "physical", "price": {"amount": -1, "currency": "usd"}}
    )
    assert reply.status == 400
    assert sorted(fields(reply)) == ["price.amount", "price.currency"]


def _placed_orders(shop) -> int:
    """OrderPlaced events in the orders service's outbox (its event log)."""
    dynamodb = shop.stack.session().resource("dynamodb", endpoint_url=shop.stack.endpoint)
    table = dynamodb.Table(Naming(stage="local").table("orders"))
    return len(table.scan(FilterExpression=Attr("event_type").eq("OrderPlaced"))["Items"])


def test_rejected_requests_store_and_publish_nothing(shop, sku):
    before = _placed_orders(shop)
    for body in ({"lines": "nope"}, '{"oops"', {**valid_order(sku), "lines": [{"sku": "NOPE", "quantity": 1}]}):
        assert post_order(shop, body, key="publishes-nothing").status == 400
    assert _placed_orders(shop) == before
