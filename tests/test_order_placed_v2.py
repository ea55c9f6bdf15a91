"""OrderPlaced v2 (structured address) is published beside v1 during the migration: catalog stays on
v1, fulfillment.delivery-addresses takes both majors and reads them as v2 through the upcaster."""

from __future__ import annotations

from boto3.dynamodb.conditions import Attr

from shop_devstack.testing import eventually
from shop_eventing.topology import Naming

ADDRESS = {
    "recipient": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}


def published(shop, order_id: str) -> list[tuple[str, int]]:
    """The OrderPlaced events in the orders service's outbox (its event log) for one order."""
    dynamodb = shop.stack.session().resource("dynamodb", endpoint_url=shop.stack.endpoint)
    table = dynamodb.Table(Naming(stage="local").table("orders"))
    items = table.scan(FilterExpression=Attr("event_type").eq("OrderPlaced") & Attr("correlation_id").eq(order_id))["Items"]
    return sorted((item["event_type"], int(item["schema_version"])) for item in items)


def test_structured_address_reaches_the_shipment_and_both_majors_are_published(shop):
    sku = shop.new_product(stock=3)

    placed = shop.call(
        "orders",
        "POST",
        "/orders",
        {
            "customer_email": "ada@example.com",
            "payment_token": "tok_visa",
            "shipping_address": ADDRESS,
            "lines": [{"sku": sku, "quantity": 1}],
        },
        {"Idempotency-Key": f"v2-{sku}"},
    )

    assert placed.status == 201, placed.body
    assert placed.body["shipping_address"] == "Ada Lovelace, 12 St James's Square, SW1Y 4JH London, GB"
    order = shop.settled_order(placed.body["order_id"])
    assert order["status"] == "SHIPMENT_REQUESTED"  # catalog, a v1 consumer, reserved the stock
    assert published(shop, order["order_id"]) == [("OrderPlaced", 1), ("OrderPlaced", 2)]
    assert [e["event_type"] for e in order["timeline"]].count("OrderPlaced") == 1
    shipment = shop.call("fulfillment", "GET", f"/orders/{order['order_id']}/shipment").body
    # The shipment shows every field of the address, a prefecture and a phone included (none here).
    assert shipment["delivery_address"] == {**ADDRESS, "line2": None, "region": None, "phone": None}
    assert shipment["address"] == "Ada Lovelace, 12 St James's Square, SW1Y 4JH London, GB"
    assert shop.stock(sku) == 2


def test_legacy_text_address_still_works_and_is_read_as_a_v2_address(shop):
    sku = shop.new_product()

    placed = shop.place_order([(sku, 1)], address="7 Elm Row, Edinburgh")

    order = shop.settled_order(placed.body["order_id"])
    assert order["status"] == "SHIPMENT_REQUESTED"
    shipment = eventually(
        lambda: shop.call("fulfillment", "GET", f"/orders/{order['order_id']}/shipment").body, what="the shipment"
    )
    assert shipment["delivery_address"]["line1"] == "7 Elm Row, Edinburgh"
    assert shipment["delivery_address"]["country"] is None


def test_a_bad_structured_address_is_a_400_naming_its_field(shop):
    sku = shop.new_product()

    reply = shop.call(
        "orders",
        "POST",
        "/orders",
        {
            "customer_email": "x@example.com",
            "payment_token": "tok_visa",
            "shipping_address": {"city": "Paris", "country": "france"},
            "lines": [{"sku": sku, "quantity": 1}],
        },
        {"Idempotency-Key": f"bad-address-{sku}"},
    )

    assert reply.status == 400
    assert sorted(f["field"] for f in reply.body["error"]["fields"]) == ["shipping_address.country", "shipping_address.line1"]
