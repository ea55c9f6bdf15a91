"""GET /ops/status: the staff console's view of vod's own queues, DLQs and outbox (shop_eventing.ops_api)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shop_contracts import TOPOLOGY
from shop_devstack.testing import bearer


def test_staff_see_each_of_its_subscriptions_and_its_outbox(client: Any, issuer: Any) -> None:
    response = client.http.get("/ops/status", headers=bearer(issuer, "sam"))

    assert response.status_code == 200, response.body
    body = json.loads(response.body)
    assert body["service"] == "vod"
    assert [s["subscriber"] for s in body["subscriptions"]] == [f"vod.{s.name}" for s in TOPOLOGY.service("vod").subscriptions]
    assert body["outbox"]["pending"] >= 0


@pytest.mark.parametrize("user", ["ada", "wes"])
def test_a_customer_or_the_warehouse_is_refused(client: Any, issuer: Any, user: str) -> None:
    response = client.http.get("/ops/status", headers=bearer(issuer, user))

    assert response.status_code == 403
    assert json.loads(response.body)["error"]["code"] == "forbidden"
