"""The storefront API (POST /orders, GET /orders/{id}, GET /products) and the catalog view behind it,
over chalice's test client against a real (in-process) moto server."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest

from chalicelib import usecases
from chalicelib.api_models import PlaceOrderRequest
from shop_devstack.oidc_issuer import DEMO_USERS
from shop_eventing.outbox import AlreadyProcessed

ADDRESS = "1 Main St, Springfield"


def order_request(*lines: tuple[str, int], email: str = "buyer@example.com", address: str | None = ADDRESS) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_email": email,
        "payment_token": "tok_visa",
        "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
    }
    if address is not None:
        body["shipping_address"] = address
    return body


def body_of(response: Any) -> dict[str, Any]:
    assert response.headers["Content-Type"] == "application/json"
    return dict(json.loads(response.body))


def error_of(response: Any) -> dict[str, Any]:
    body = body_of(response)
    assert set(body) == {"error"}
    return dict(body["error"])


def field_names(error: dict[str, Any]) -> list[str]:
    return [f["field"] for f in error.get("fields", [])]


# -- the catalog view ------------------------------------------------------------------------------


def test_product_published_fills_the_storefront(publish_product, client):
    sku = publish_product(kind="digital", amount=1500, currency="JPY", name="Anime season").data.sku

    products = body_of(client.http.get("/products"))["products"]

    assert {"sku": sku, "name": "Anime season", "kind": "digital", "price": {"amount": 1500, "currency": "JPY"}} in products


def test_a_newer_revision_replaces_the_view(publish_product, orders_app):
    sku = publish_product(amount=1000, revision=1).data.sku

    publish_product(sku, amount=1300, revision=2)

    view = orders_app.repository.product_views([sku])[sku]
    assert (view.price_amount, view.revision) == (1300, 2)


def test_an_older_revision_arriving_late_does_not_overwrite(publish_product, orders_app, aws):
    sku = publish_product(amount=1300, revision=3, name="Current").data.sku

    stale = publish_product(sku, amount=900, revision=2, name="Old")

    view = orders_app.repository.product_views([sku])[sku]
    assert (view.name, view.price_amount, view.revision) == ("Current", 1300, 3)
    # The stale event is still marked as seen: its redelivery is a plain duplicate.
    assert aws.processed("orders.product-view", stale.event_id)
    with pytest.raises(AlreadyProcessed):
        usecases.update_product_view(stale, "orders.product-view", orders_app.unit_of_work)


def test_the_same_revision_again_changes_nothing(publish_product, orders_app):
    sku = publish_product(amount=1300, revision=2, name="First").data.sku

    publish_product(sku, amount=5, revision=2, name="Second")

    view = orders_app.repository.product_views([sku])[sku]
    assert (view.name, view.price_amount) == ("First", 1300)


def test_the_same_product_published_event_twice_is_already_processed(publish_product, orders_app):
    event = publish_product(amount=1000)

    with pytest.raises(AlreadyProcessed):
        usecases.update_product_view(event, "orders.product-view", orders_app.unit_of_work)


# -- POST /orders: the happy path ------------------------------------------------------------------


def test_place_order_is_201_pending_with_a_location(publish_product, post_order, client, aws):
    box = publish_product(amount=2500).data.sku
    film = publish_product(kind="digital", amount=399).data.sku

    response = post_order(order_request((box, 2), (film, 1), email="ada@example.com"))

    assert response.status_code == 201
    order = body_of(response)
    order_id = order["order_id"]
    assert response.headers["Location"] == f"/orders/{order_id}"
    assert "Idempotent-Replayed" not in response.headers
    assert order["status"] == "PENDING"
    assert order["customer_email"] == "ada@example.com"
    assert order["shipping_address"] == ADDRESS
    assert order["payment_id"] is None
    assert order["lines"] == [
        {
            "sku": box,
            "name": f"Product {box}",
            "kind": "physical",
            "quantity": 2,
            "unit_price": 2500,
            "access": None,
            "delivery": None,
        },
        # A digital product without access (catalog's legacy kind): vod delivers nothing, so no delivery to show.
        {
            "sku": film,
            "name": f"Product {film}",
            "kind": "digital",
            "quantity": 1,
            "unit_price": 399,
            "access": None,
            "delivery": None,
        },
    ]
    assert (order["payment_status"], order["fulfillment_status"], order["locale"]) == ("pending", "not_fulfilled", "ja")
    assert (order["refunded"], order["tracking"], order["cancellation"]) == ({"amount": 0, "currency": "USD"}, None, None)
    assert order["total"] == {"amount": 2 * 2500 + 399, "currency": "USD"}
    assert [entry["event_type"] for entry in order["timeline"]] == ["OrderPlaced"]
    assert "payment_token" not in order

    fetched = client.http.get(f"/orders/{order_id}")
    assert fetched.status_code == 200
    assert body_of(fetched) == order


def test_place_order_publishes_one_order_placed(publish_product, post_order, aws):
    box = publish_product(amount=2500).data.sku

    order = body_of(post_order(order_request((box, 3))))

    # One event per major during the v1 → v2 migration; same order, own event_ids.
    [placed] = aws.outbox(correlation_id=order["order_id"], schema_version=1)
    [placed_v2] = aws.outbox(correlation_id=order["order_id"], schema_version=2)
    assert placed_v2["event_type"] == "OrderPlaced"
    assert placed_v2["event_id"] != placed["event_id"]
    assert placed_v2["detail"]["data"]["shipping_address"]["line1"] == placed["detail"]["data"]["shipping_address"]
    assert placed_v2["detail"]["data"]["lines"] == placed["detail"]["data"]["lines"]
    assert placed["event_type"] == "OrderPlaced"
    assert placed["event_id"] == order["timeline"][0]["event_id"]
    assert placed["detail"]["data"] == {
        "order_id": order["order_id"],
        "customer_email": "buyer@example.com",
        "lines": [
            {
                "sku": box,
                "name": f"Product {box}",
                "kind": "physical",
                "quantity": 3,
                "unit_price": {"amount": 2500, "currency": "USD"},
                "access": None,
            }
        ],
        "total": {"amount": 7500, "currency": "USD"},
        "shipping_address": ADDRESS,
        # Whose order: the signed-in customer's sub (the client fixture signs in as ada).
        "customer_id": DEMO_USERS["ada"].sub,
        # Neither the body nor Accept-Language named one: the shop's default.
        "locale": "ja",
    }
    metadata = placed["detail"]["metadata"]
    assert (metadata["producer"], metadata["correlation_id"], metadata["causation_id"]) == (
        "shop.orders",
        order["order_id"],
        None,
    )


def test_prices_come_from_the_catalog_view_at_order_time(publish_product, post_order, client):
    sku = publish_product(amount=1000, revision=1).data.sku
    before = body_of(post_order(order_request((sku, 2))))

    publish_product(sku, amount=1500, revision=2)
    after = body_of(post_order(order_request((sku, 2))))

    assert before["total"] == {"amount": 2000, "currency": "USD"}
    assert after["total"] == {"amount": 3000, "currency": "USD"}
    # An order keeps the price it was placed at.
    assert body_of(client.http.get(f"/orders/{before['order_id']}"))["total"]["amount"] == 2000


def test_a_price_sent_by_the_client_is_refused(publish_product, post_order):
    sku = publish_product(amount=1000).data.sku
    body = order_request((sku, 1))
    body["lines"][0]["unit_price"] = 1

    response = post_order(body)

    assert response.status_code == 400
    assert field_names(error_of(response)) == ["lines[0].unit_price"]


def test_digital_only_order_needs_no_address(publish_product, post_order):
    film = publish_product(kind="digital", amount=399).data.sku

    response = post_order(order_request((film, 1), address=None))

    assert response.status_code == 201
    assert body_of(response)["shipping_address"] is None


# -- Idempotency-Key ------------------------------------------------------------------------------


def test_same_key_and_body_replays_the_same_order(publish_product, post_order, aws):
    sku = publish_product(amount=1000).data.sku
    key = f"key-{uuid.uuid4().hex}"
    body = order_request((sku, 1))

    first = post_order(body, key=key)
    second = post_order(body, key=key)

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert body_of(second)["order_id"] == body_of(first)["order_id"]
    assert second.headers["Location"] == first.headers["Location"]
    assert body_of(second) == body_of(first)
    assert len(aws.outbox(event_type="OrderPlaced", schema_version=1, correlation_id=body_of(first)["order_id"])) == 1
    placed_for_sku = [
        item["detail"]["data"]["order_id"]
        for item in aws.outbox(event_type="OrderPlaced", schema_version=1)
        if item["detail"]["data"]["lines"][0]["sku"] == sku
    ]
    assert placed_for_sku == [body_of(first)["order_id"]]


def test_same_key_with_the_body_keys_reordered_is_still_a_replay(publish_product, post_order):
    sku = publish_product(amount=1000).data.sku
    key = f"key-{uuid.uuid4().hex}"
    body = order_request((sku, 1))

    first = post_order(body, key=key)
    second = post_order(json.dumps(dict(reversed(list(body.items())))), key=key)

    assert second.status_code == 201
    assert body_of(second)["order_id"] == body_of(first)["order_id"]


def test_same_key_with_a_different_body_is_422(publish_product, post_order, aws):
    sku = publish_product(amount=1000).data.sku
    key = f"key-{uuid.uuid4().hex}"
    first = post_order(order_request((sku, 1)), key=key)

    response = post_order(order_request((sku, 2)), key=key)

    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "idempotency_key_reused"
    assert field_names(error) == ["Idempotency-Key"]
    assert len(aws.outbox(event_type="OrderPlaced", schema_version=1, correlation_id=body_of(first)["order_id"])) == 1


def test_concurrent_requests_with_one_key_make_one_order(publish_product, orders_app, aws):
    sku = publish_product(amount=1000).data.sku
    key = f"key-{uuid.uuid4().hex}"
    request = PlaceOrderRequest.model_validate(order_request((sku, 1)))
    start = threading.Barrier(6)
    results: list[tuple[str, bool]] = []
    errors: list[BaseException] = []

    def place() -> None:
        start.wait()
        try:
            order, replayed = usecases.place(request, key, DEMO_USERS["ada"].sub, orders_app.repository, orders_app.unit_of_work)
            results.append((order.order_id, replayed))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=place) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len({order_id for order_id, _ in results}) == 1
    assert sorted(replayed for _, replayed in results) == [False] + [True] * 5
    placed = [
        item
        for item in aws.outbox(event_type="OrderPlaced", schema_version=1)
        if item["detail"]["data"]["lines"][0]["sku"] == sku
    ]
    assert len(placed) == 1


@pytest.mark.parametrize("key", [None, "", "   "], ids=["missing", "empty", "blank"])
def test_missing_idempotency_key_is_a_400_naming_it(publish_product, post_order, key):
    sku = publish_product(amount=1000).data.sku

    response = post_order(order_request((sku, 1)), key=key)

    assert response.status_code == 400
    assert field_names(error_of(response)) == ["Idempotency-Key"]


def test_idempotency_key_over_255_characters_is_a_400(publish_product, post_order):
    sku = publish_product(amount=1000).data.sku

    response = post_order(order_request((sku, 1)), key="k" * 256)

    assert response.status_code == 400
    assert field_names(error_of(response)) == ["Idempotency-Key"]


# -- bad input: a 400 naming the field, never a 500 -------------------------------------------------


@pytest.fixture
def box(publish_product) -> str:
    return str(publish_product(amount=1000).data.sku)


def without(body: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != field}


BAD_BODIES = [
    pytest.param(lambda sku: order_request(("NO-SUCH-SKU", 1)), "lines[0].sku", id="unknown-sku"),
    pytest.param(lambda sku: order_request((sku, 1), ("NO-SUCH-SKU", 1)), "lines[1].sku", id="unknown-second-sku"),
    pytest.param(lambda sku: order_request((sku, 0)), "lines[0].quantity", id="quantity-0"),
    pytest.param(lambda sku: order_request((sku, -1)), "lines[0].quantity", id="quantity-minus-1"),
    pytest.param(lambda sku: order_request((sku, 101)), "lines[0].quantity", id="quantity-101"),
    pytest.param(lambda sku: without(order_request((sku, 1)), "customer_email"), "customer_email", id="missing-email"),
    pytest.param(lambda sku: order_request((sku, 1), email="not-an-email"), "customer_email", id="bad-email"),
    pytest.param(lambda sku: without(order_request((sku, 1)), "payment_token"), "payment_token", id="missing-token"),
    pytest.param(lambda sku: order_request(), "lines", id="empty-lines"),
    pytest.param(lambda sku: without(order_request((sku, 1)), "lines"), "lines", id="missing-lines"),
    pytest.param(lambda sku: {**order_request((sku, 1)), "lines": "BOX"}, "lines", id="lines-not-a-list"),
    pytest.param(lambda sku: {**order_request((sku, 1)), "coupon": "FREE"}, "coupon", id="extra-field"),
    pytest.param(lambda sku: order_request((sku, 1), address=None), "shipping_address", id="physical-without-address"),
    pytest.param(lambda sku: order_request((sku, 1), address="  "), "shipping_address", id="physical-blank-address"),
    pytest.param(
        lambda sku: {**order_request(), "lines": [{"sku": sku, "quantity": 1.5}]}, "lines[0].quantity", id="fractional-qty"
    ),
    pytest.param(lambda sku: {**order_request(), "lines": [{"quantity": 1}]}, "lines[0].sku", id="line-without-sku"),
]


@pytest.mark.parametrize(("make_body", "field"), BAD_BODIES)
def test_bad_order_is_a_400_naming_the_field(box, post_order, aws, make_body, field):
    response = post_order(make_body(box))

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert field in field_names(error)
    assert all(f["problem"] for f in error["fields"])


def test_a_refused_order_writes_nothing(box, post_order, aws):
    before = len(aws.outbox(event_type="OrderPlaced", schema_version=1))

    post_order(order_request((box, 0)))
    post_order(order_request(("NO-SUCH-SKU", 1)))

    assert len(aws.outbox(event_type="OrderPlaced", schema_version=1)) == before


def test_mixed_currencies_are_a_400_naming_lines(publish_product, post_order):
    usd = publish_product(kind="digital", amount=1000, currency="USD").data.sku
    jpy = publish_product(kind="digital", amount=1500, currency="JPY").data.sku

    response = post_order(order_request((usd, 1), (jpy, 1)))

    assert response.status_code == 400
    assert field_names(error_of(response)) == ["lines"]


@pytest.mark.parametrize("raw", ["{not json", "", "[]", "42", "null"], ids=["broken", "empty", "array", "number", "null"])
def test_body_that_is_not_a_json_object_is_malformed_json(post_order, raw):
    response = post_order(raw)

    assert response.status_code == 400
    assert error_of(response)["code"] == "malformed_json"


def test_a_refused_key_can_be_used_again_once_the_request_is_fixed(box, post_order):
    key = f"key-{uuid.uuid4().hex}"
    refused = post_order(order_request((box, 0)), key=key)

    accepted = post_order(order_request((box, 1)), key=key)

    assert refused.status_code == 400
    assert accepted.status_code == 201
    assert "Idempotent-Replayed" not in accepted.headers


# -- GET /orders/{id} ------------------------------------------------------------------------------


def test_unknown_order_is_a_404_json(client):
    response = client.http.get(f"/orders/{uuid.uuid4()}")

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_health(client):
    response = client.http.get("/health")

    assert response.status_code == 200
    assert json.loads(response.body) == {"status": "ok", "service": "orders"}


ODD_BODIES = [
    '{"customer_email": 5, "payment_token": "tok_visa", "lines": [{"sku": "A", "quantity": 1}]}',
    '{"customer_email": "a@b.co", "payment_token": "tok_visa", "lines": [null]}',
    '{"customer_email": "a@b.co", "payment_token": "tok_visa", "lines": [[]]}',
    '{"customer_email": "a@b.co", "payment_token": "tok_visa", "lines": [{"sku": "A", "quantity": 1e400}]}',
    '{"customer_email": "a@b.co", "payment_token": "tok_visa", "lines": [{"sku": "A", "quantity": 100000000000000000000}]}',
    '{"customer_email": "a@b.co", "payment_token": "tok_visa", "lines": [{"sku": "", "quantity": 1}]}',
    '{"customer_email": "a@b.co", "payment_token": "", "lines": [{"sku": "A", "quantity": 1}]}',
    '{"customer_email": "a@b.co", "payment_token": "tok_visa", "shipping_address": 5, "lines": [{"sku": "A", "quantity": 1}]}',
    '{"customer_email": "a@b.co", "payment_token": "tok_visa", "lines": [{"sku": "A", "quantity": NaN}]}',
    '{"customer_email": "a@b.co", "payment_token": "tok_visa", "lines": {"sku": "A", "quantity": 1}}',
    '{"customer_email": "' + "a" * 300 + '@b.co", "payment_token": "tok_visa", "lines": [{"sku": "A", "quantity": 1}]}',
    '{"lines": ' + "[" * 200 + "]" * 200 + "}",
]


@pytest.mark.parametrize("raw", ODD_BODIES, ids=range(len(ODD_BODIES)))
def test_odd_bodies_are_400_never_500(post_order, raw):
    response = post_order(raw)

    assert response.status_code == 400, response.body
    assert error_of(response)["code"] in {"invalid_request", "malformed_json"}


@pytest.mark.parametrize("email", ["ann(x)@example.com", "Ann <ann@example.com>", "a,b@example.com", 'a"b@example.com'])
def test_an_address_the_mailer_would_read_otherwise_is_a_400(publish_product, post_order, email):
    # Found by the fuzzer: such an order was taken, and its confirmation e-mail ended in notify's DLQ.
    sku = publish_product().data.sku
    response = post_order(order_request((sku, 1), email=email))
    assert response.status_code == 400
    assert field_names(error_of(response)) == ["customer_email"]
