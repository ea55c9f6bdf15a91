"""Catalog test fixtures.

Domain tests use none of these and never touch AWS. The integration tests share one in-process moto
server per session, provisioned from the topology *before* `app` is imported (app.py builds its boto3
clients at import); each test uses its own SKUs and order ids, so tests do not see each other's data.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest


@dataclass
class Aws:
    endpoint: str
    table: str
    dynamodb: Any

    def outbox(self, **match: object) -> list[dict[str, Any]]:
        """Every outbox item of the catalog table whose attributes equal `match`, oldest first."""
        from shop_devstack.testing import outbox_items

        return outbox_items(self.dynamodb, self.table, **match)


@pytest.fixture(scope="session")
def aws() -> Iterator[Aws]:
    import boto3

    from shop_devstack.testing import LOCAL_NAMING, provisioned_service

    with provisioned_service("catalog") as (endpoint, _):
        yield Aws(endpoint=endpoint, table=LOCAL_NAMING.table("catalog"), dynamodb=boto3.client("dynamodb"))


@pytest.fixture(scope="session")
def catalog_app(aws: Aws) -> ModuleType:
    import app

    return app


@pytest.fixture(scope="session")
def issuer() -> Iterator[Any]:
    """The shop's local OIDC issuer, in-process; its keys mint the tests' tokens."""
    from shop_devstack.testing import local_issuer

    with local_issuer() as server:
        yield server


@pytest.fixture
def client(catalog_app: ModuleType, issuer: Any) -> Iterator[Any]:
    """Signed in as sam by default; `client.http.anonymous` sends no token."""
    from chalice.test import Client

    from shop_devstack.testing import SignedInClient, SignedInHttp, bearer

    with Client(catalog_app.app) as test_client:
        yield SignedInClient(SignedInHttp(test_client.http, bearer(issuer, "sam")))


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
