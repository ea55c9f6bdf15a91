"""Who may see which orders: every orders route but the storefront needs a token from the shop's
issuer, and a customer sees only their own orders (tokens minted by the test issuer's keys)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from shop_devstack.oidc_issuer import DEMO_USERS
from shop_devstack.testing import bearer

ADDRESS = "1 Main St, Springfield"


def order_body(sku: str) -> str:
    return json.dumps(
        {
            "customer_email": "ada@example.com",
            "payment_token": "tok_visa",
            "shipping_address": ADDRESS,
            "lines": [{"sku": sku, "quantity": 1}],
        }
    )


def place(client: Any, sku: str, headers: dict[str, str] | None = None) -> Any:
    return client.http.post(
        "/orders",
        body=order_body(sku),
        headers={"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex, **(headers or {})},
    )


def refused(response: Any, *, error: str | None = "invalid_token") -> dict[str, Any]:
    assert response.status_code == 401, response.body
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    if error:
        assert f'error="{error}"' in challenge
    else:
        assert "error=" not in challenge  # no token at all: RFC 6750 says no error code
    body = json.loads(response.body)
    assert set(body) == {"error"} and body["error"]["code"] == "unauthorized"
    return dict(body["error"])


@pytest.fixture
def sku(publish_product: Any) -> str:
    return str(publish_product(amount=900).data.sku)


def test_without_a_token_every_order_route_is_401_with_a_bearer_challenge(client, sku):
    order_id = json.loads(place(client, sku).body)["order_id"]
    for method, path in (("GET", f"/orders/{order_id}"), ("GET", "/orders"), ("POST", "/orders")):
        response = client.http.anonymous.request(method, path, headers={"Content-Type": "application/json"}, body=order_body(sku))
        refused(response, error=None)


def test_the_storefront_health_and_document_stay_public(client):
    for path in ("/products", "/health", "/openapi.json"):
        assert client.http.anonymous.get(path).status_code == 200, path


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "Basic YWRhOnNlY3JldA==", "Bearer "],
    ids=["garbage", "alg-none", "basic", "empty"],
)
def test_a_bad_authorization_is_401(client, authorization):
    response = client.http.get("/orders", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert json.loads(response.body)["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


def test_an_expired_token_is_refused(client, issuer):
    # Past the 60 s leeway: minted with exp in the past, no waiting.
    past = int(time.time()) - 3600
    error = refused(client.http.get("/orders", headers=bearer(issuer, "ada", iat=past - 60, nbf=past - 60, exp=past)))
    assert "expired" in error["message"]


def test_a_token_not_valid_yet_is_refused(client, issuer):
    future = int(time.time()) + 3600
    refused(client.http.get("/orders", headers=bearer(issuer, "ada", nbf=future)))


def test_a_token_for_another_audience_is_refused(client, issuer):
    error = refused(client.http.get("/orders", headers=bearer(issuer, "ada", aud="someone-elses-api")))
    assert "audience" in error["message"]


def test_a_token_from_another_issuer_is_refused(client, issuer):
    refused(client.http.get("/orders", headers=bearer(issuer, "ada", iss="https://evil.example")))


def test_the_order_belongs_to_whoever_signed_in(client, sku, orders_app):
    order_id = json.loads(place(client, sku).body)["order_id"]
    assert orders_app.repository.order(order_id).customer_id == DEMO_USERS["ada"].sub
    assert client.http.get(f"/orders/{order_id}").status_code == 200


def test_another_customers_order_is_404_like_a_missing_one(client, sku, issuer):
    order_id = json.loads(place(client, sku).body)["order_id"]
    theirs = client.http.get(f"/orders/{order_id}", headers=bearer(issuer, "grace"))
    missing = client.http.get(f"/orders/{uuid.uuid4()}", headers=bearer(issuer, "grace"))
    assert (theirs.status_code, missing.status_code) == (404, 404)
    assert json.loads(theirs.body)["error"]["code"] == "not_found"


def test_the_same_idempotency_key_from_another_customer_is_another_order(client, sku, issuer):
    key = {"Idempotency-Key": f"shared-{uuid.uuid4().hex}"}
    ada = place(client, sku, key)
    grace = place(client, sku, {**key, **bearer(issuer, "grace")})
    assert (ada.status_code, grace.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in grace.headers
    assert json.loads(ada.body)["order_id"] != json.loads(grace.body)["order_id"]


def test_get_orders_lists_only_the_callers_orders_newest_first_in_pages(client, sku, issuer):
    # A customer of their own, so that other tests' orders do not count.
    sub = str(uuid.uuid4())
    mine = bearer(issuer, "ada", sub=sub)
    placed = [json.loads(place(client, sku, mine).body)["order_id"] for _ in range(5)]
    place(client, sku, bearer(issuer, "grace"))

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = json.loads(client.http.get(f"/orders{query}", headers=mine).body)
        assert len(page["orders"]) <= 2
        seen += [order["order_id"] for order in page["orders"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(placed))
    assert pages == 3


def test_a_cursor_is_no_way_into_another_customers_list(client, sku, issuer):
    mine = bearer(issuer, "ada", sub=str(uuid.uuid4()))
    for _ in range(2):
        place(client, sku, mine)
    cursor = json.loads(client.http.get("/orders?limit=1", headers=mine).body)["next_cursor"]
    assert cursor
    response = client.http.get(f"/orders?limit=1&cursor={cursor}", headers=bearer(issuer, "grace"))
    assert response.status_code == 400
    assert json.loads(response.body)["error"]["fields"][0]["field"] == "cursor"


@pytest.mark.parametrize("cursor", ["bm90LWpzb24", "e30", "Zm9v"])
def test_a_made_up_cursor_is_a_400_naming_it(client, cursor):
    response = client.http.get(f"/orders?cursor={cursor}")
    assert response.status_code == 400
    assert json.loads(response.body)["error"]["fields"][0]["field"] == "cursor"
