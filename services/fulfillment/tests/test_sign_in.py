"""A shipment is for the warehouse and staff only (tokens minted by the test issuer)."""

from __future__ import annotations

import json
import uuid

import pytest

from shop_devstack.testing import bearer


@pytest.mark.parametrize("user", ["wes", "sam"])
def test_the_warehouse_and_staff_may_look(client, issuer, user):
    # No such shipment, but the caller got past the door: 404, not 401/403.
    response = client.http.get(f"/orders/{uuid.uuid4()}/shipment", headers=bearer(issuer, user))
    assert response.status_code == 404


@pytest.mark.parametrize("user", ["ada", "grace"])
def test_customers_are_403(client, issuer, user):
    response = client.http.get(f"/orders/{uuid.uuid4()}/shipment", headers=bearer(issuer, user))
    assert response.status_code == 403
    assert json.loads(response.body)["error"]["code"] == "forbidden"


def test_without_a_token_it_is_401(client):
    response = client.http.anonymous.get(f"/orders/{uuid.uuid4()}/shipment")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
