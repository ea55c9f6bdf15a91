"""Only staff create and revise products; anyone may read one (tokens minted by the test issuer)."""

from __future__ import annotations

import json
from typing import Any

from shop_devstack.testing import bearer

PRODUCT = {"name": "Poster", "kind": "physical", "price": {"amount": 1500, "currency": "USD"}, "stock": 3}


def put(client: Any, sku: str, headers: dict[str, str] | None = None, *, anonymous: bool = False) -> Any:
    http = client.http.anonymous if anonymous else client.http
    return http.put(f"/products/{sku}", body=json.dumps(PRODUCT), headers={"Content-Type": "application/json", **(headers or {})})


def test_staff_create_products(client, new_sku):
    assert put(client, new_sku()).status_code == 201  # the client signs in as sam (staff)


def test_a_customer_is_403_in_the_one_error_shape(client, issuer, new_sku):
    sku = new_sku()
    response = put(client, sku, bearer(issuer, "ada"))
    assert response.status_code == 403
    assert json.loads(response.body)["error"]["code"] == "forbidden"
    assert "staff" in json.loads(response.body)["error"]["message"]
    # Nothing was written.
    assert client.http.anonymous.get(f"/products/{sku}").status_code == 404


def test_the_warehouse_is_not_staff_either(client, issuer, new_sku):
    assert put(client, new_sku(), bearer(issuer, "wes")).status_code == 403


def test_groups_come_from_the_verified_token_only(client, issuer, new_sku):
    # A customer cannot make themselves staff with a header; only the signed claim counts.
    response = put(client, new_sku(), {**bearer(issuer, "ada"), "X-Groups": "staff", "cognito:groups": "staff"})
    assert response.status_code == 403


def test_without_a_token_it_is_401(client, new_sku):
    response = put(client, new_sku(), anonymous=True)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert json.loads(response.body)["error"]["code"] == "unauthorized"


def test_reading_a_product_stays_public(client, new_sku):
    sku = new_sku()
    put(client, sku)
    assert client.http.anonymous.get(f"/products/{sku}").status_code == 200
