"""GET /ops/status: the staff console's view of notify's own queues and DLQs (shop_eventing.ops_api)."""

from __future__ import annotations

import json
from typing import Any

from shop_contracts import TOPOLOGY
from shop_devstack.testing import bearer, signed_in_client


def test_staff_see_each_of_notifys_subscriptions_and_no_outbox(notify_app: Any, issuer: Any) -> None:
    with signed_in_client(notify_app.app, issuer, "sam") as client:
        response = client.http.get("/ops/status")

    assert response.status_code == 200, response.body
    body = json.loads(response.body)
    assert [s["subscriber"] for s in body["subscriptions"]] == [
        f"notify.{s.name}" for s in TOPOLOGY.service("notify").subscriptions
    ]
    assert body["outbox"] is None, "notify publishes nothing"


def test_a_customer_is_refused(notify_app: Any, issuer: Any) -> None:
    with signed_in_client(notify_app.app, issuer, "ada") as client:
        response = client.http.get("/ops/status", headers=bearer(issuer, "ada"))

    assert response.status_code == 403
    assert json.loads(response.body)["error"]["code"] == "forbidden"
