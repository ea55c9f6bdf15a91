"""Sign-in on the embedded shop, end to end: customers sign in at the real local issuer (code flow with
PKCE, over HTTP), place and read their own orders; others are refused with the documented errors;
the issuer's keys rotate under the running services."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import jwt

from shop_devstack.oidc_issuer import AUDIENCE
from shop_devstack.signin import refresh, sign_in


def issuer_admin(shop: Any, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(f"{shop.stack.issuer_url}{path}", data=json.dumps(body or {}).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.load(response))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_unauthorized(reply: Any, *, error: str | None = "invalid_token") -> None:
    assert reply.status == 401, reply.body
    assert reply.body["error"]["code"] == "unauthorized"
    assert set(reply.body) == {"error"}
    assert reply.headers["www-authenticate"].startswith("Bearer ")
    if error:
        assert f'error="{error}"' in reply.headers["www-authenticate"]


def test_a_customer_signs_in_places_an_order_and_reads_it_and_nobody_else_can(shop):
    sku = shop.new_product(stock=5)
    ada = sign_in("ada", issuer_url=shop.stack.issuer_url)
    assert ada["token_type"].lower() == "bearer"

    placed = shop.place_order([(sku, 1)], user="ada")
    assert placed.status == 201, placed.body
    order_id = placed.body["order_id"]
    assert shop.settled_order(order_id)["status"] == "SHIPMENT_REQUESTED"
    mine = shop.call("orders", "GET", "/orders?limit=100", user="ada").body["orders"]
    assert order_id in [order["order_id"] for order in mine]

    # grace: signed in, but it is not her order; it is as absent as a missing one.
    theirs = shop.call("orders", "GET", f"/orders/{order_id}", user="grace")
    assert (theirs.status, theirs.body["error"]["code"]) == (404, "not_found")
    assert order_id not in [o["order_id"] for o in shop.call("orders", "GET", "/orders?limit=100", user="grace").body["orders"]]

    # The warehouse sees the shipment; the customer does not (it is a warehouse/staff route).
    assert shop.call("fulfillment", "GET", f"/orders/{order_id}/shipment", user="wes").status == 200
    assert shop.call("fulfillment", "GET", f"/orders/{order_id}/shipment", user="ada").status == 403


def test_without_a_token_the_apis_refuse_with_a_bearer_challenge(shop):
    assert_unauthorized(shop.call("orders", "GET", "/orders", user=None), error=None)
    assert_unauthorized(shop.call("catalog", "PUT", "/products/NOPE-1", {"name": "x"}, user=None), error=None)
    assert_unauthorized(shop.call("orders", "GET", "/orders", headers=bearer("not.a.token")))
    # The storefront and the service documents stay public.
    assert shop.call("orders", "GET", "/products", user=None).status == 200
    assert shop.call("catalog", "GET", "/openapi.json", user=None).status == 200


def test_a_customer_calling_a_staff_route_is_403(shop):
    product = {"name": "Sneaky", "kind": "digital", "price": {"amount": 1, "currency": "USD"}}
    reply = shop.call("catalog", "PUT", "/products/SNEAKY-1", product, user="ada")
    assert reply.status == 403
    assert reply.body["error"]["code"] == "forbidden"
    assert shop.call("catalog", "GET", "/products/SNEAKY-1", user=None).status == 404


def test_an_expired_token_and_one_for_another_audience_are_refused(shop):
    past = int(time.time()) - 3600
    expired = issuer_admin(shop, "/admin/tokens", {"username": "ada", "iat": past, "nbf": past, "exp": past + 60})["access_token"]
    reply = shop.call("orders", "GET", "/orders", headers=bearer(expired))
    assert_unauthorized(reply)
    assert "expired" in reply.body["error"]["message"]

    elsewhere = issuer_admin(shop, "/admin/tokens", {"username": "ada", "aud": f"not-{AUDIENCE}"})["access_token"]
    assert_unauthorized(shop.call("orders", "GET", "/orders", headers=bearer(elsewhere)))


def test_a_refreshed_token_works_and_a_used_refresh_token_does_not(shop):
    first = sign_in("grace", issuer_url=shop.stack.issuer_url)
    renewed = refresh(first["refresh_token"], shop.stack.issuer_url)
    assert shop.call("orders", "GET", "/orders", headers=bearer(renewed["access_token"])).status == 200
    try:
        refresh(first["refresh_token"], shop.stack.issuer_url)
    except Exception as error:  # SignInFailed: invalid_grant
        assert "invalid_grant" in str(error)
    else:
        raise AssertionError("a refresh token was accepted twice")


def test_keys_rotate_under_the_running_services(shop):
    before = sign_in("ada", issuer_url=shop.stack.issuer_url)["access_token"]
    assert shop.call("orders", "GET", "/orders", headers=bearer(before)).status == 200

    kids = issuer_admin(shop, "/admin/rotate")
    after = sign_in("ada", issuer_url=shop.stack.issuer_url)["access_token"]
    # The new key signs; the services know it already (it was published as "next").
    assert (jwt.get_unverified_header(before)["kid"], jwt.get_unverified_header(after)["kid"]) == (
        kids["previous"],
        kids["current"],
    )
    assert shop.call("orders", "GET", "/orders", headers=bearer(after)).status == 200
    # Tokens of the previous key stay good until it is retired.
    assert shop.call("orders", "GET", "/orders", headers=bearer(before)).status == 200
    # The same customer whichever key signed: her orders are still hers.
    assert (
        shop.call("orders", "GET", "/orders?limit=1", headers=bearer(after)).body
        == shop.call("orders", "GET", "/orders?limit=1", headers=bearer(before)).body
    )
