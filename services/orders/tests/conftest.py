"""Orders test fixtures.

Domain tests use none of these and never touch AWS. The integration tests share one in-process moto
server and one fake payment gateway per session; both exist, and the topology is provisioned, *before*
`app` is imported (app.py builds its boto3 clients and its gateway at import). Each test uses its own
SKUs, Idempotency-Keys and orders, so tests do not see each other's data.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from unittest import mock

import pytest

from shop_devstack.testing import ServiceTable

PRODUCT_VIEW = "orders.product-view"


@dataclass
class Aws(ServiceTable):
    gateway: Any  # the session's PaymentGatewayServer, which app.gateway talks to


@pytest.fixture(scope="session")
def aws() -> Iterator[Aws]:
    from shop_devstack.payment_gateway import PaymentGatewayServer
    from shop_devstack.testing import service_table

    with (
        service_table("orders") as table,
        PaymentGatewayServer(port=0) as gateway,
        mock.patch.dict(os.environ, {"PAYMENT_GATEWAY_URL": gateway.url}),
    ):
        yield Aws(endpoint=table.endpoint, table=table.table, dynamodb=table.dynamodb, gateway=gateway)


@pytest.fixture(scope="session")
def orders_app(aws: Aws) -> ModuleType:
    import app

    return app


@pytest.fixture
def client(orders_app: ModuleType, issuer: Any) -> Iterator[Any]:
    """Signed in as ada by default; `client.http.anonymous` sends no token."""
    from shop_devstack.testing import signed_in_client

    with signed_in_client(orders_app.app, issuer, "ada") as signed_in:
        yield signed_in


@pytest.fixture
def publish_product(orders_app: ModuleType) -> Callable[..., Any]:
    """Feed the orders service's catalog view a ProductPublished v1, as its subscriber would; returns the event."""
    from chalicelib import usecases
    from shop_contracts.events import Money, ProductPublishedV1
    from shop_eventing.envelope import new_event

    def publish(
        sku: str | None = None,
        *,
        kind: str = "physical",
        amount: int = 1200,
        currency: str = "USD",
        revision: int = 1,
        name: str | None = None,
    ) -> Any:
        sku = sku or f"SKU-{uuid.uuid4().hex[:12].upper()}"
        data = ProductPublishedV1(
            sku=sku,
            name=name or f"Product {sku}",
            kind=kind,
            price=Money(amount=amount, currency=currency),
            revision=revision,
        )
        event = new_event(data, producer="shop.catalog", correlation_id=f"product:{sku}")
        usecases.update_product_view(event, PRODUCT_VIEW, orders_app.unit_of_work)
        return event

    return publish


@pytest.fixture
def post_order(client: Any) -> Callable[..., Any]:
    """POST /orders with a JSON body (a dict) or a raw string; `key=None` sends no Idempotency-Key."""

    def post(body: Any, key: str | None = "new") -> Any:
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = uuid.uuid4().hex if key == "new" else key
        raw = body if isinstance(body, str) else json.dumps(body)
        return client.http.post("/orders", body=raw, headers=headers)

    return post
