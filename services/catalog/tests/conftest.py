"""Catalog test fixtures.

Domain tests use none of these and never touch AWS. The integration tests share one in-process moto
server per session, provisioned from the topology *before* `app` is imported (app.py builds its boto3
clients at import); each test uses its own SKUs and order ids, so tests do not see each other's data.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest


@pytest.fixture(scope="session")
def aws() -> Iterator[Any]:
    """The catalog table on the session's embedded AWS (shop_devstack.testing.ServiceTable)."""
    from shop_devstack.testing import service_table

    with service_table("catalog") as table:
        yield table


@pytest.fixture(scope="session")
def catalog_app(aws: Any) -> ModuleType:
    import app

    return app


@pytest.fixture
def client(catalog_app: ModuleType, issuer: Any) -> Iterator[Any]:
    """Signed in as sam by default; `client.http.anonymous` sends no token."""
    from shop_devstack.testing import signed_in_client

    with signed_in_client(catalog_app.app, issuer, "sam") as signed_in:
        yield signed_in


@pytest.fixture
def new_sku() -> Callable[[], str]:
    return lambda: f"SKU-{uuid.uuid4().hex[:12].upper()}"


@pytest.fixture
def put_product(client: Any) -> Callable[..., Any]:
    """PUT /products/{sku} with a JSON body (a dict) or a raw string body."""

    def put(sku: str, body: Any) -> Any:
        raw = body if isinstance(body, str) else json.dumps(body)
        return client.http.put(f"/products/{sku}", body=raw, headers={"Content-Type": "application/json"})

    return put


@pytest.fixture
def stream_records(aws: Any) -> Callable[[str], list[dict[str, Any]]]:
    """Every record of the catalog table's stream about the product `sku`, in the shape Lambda (and the
    dispatcher) hands the relay, oldest first: what the relay's change feed reads."""
    return lambda sku: aws.stream_records(f"PRODUCT#{sku}")
