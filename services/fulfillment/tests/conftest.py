"""Fulfillment test fixtures.

Domain tests use none of these and never touch AWS. The integration tests share one in-process moto
server per session, provisioned from the topology *before* `app` is imported (app.py builds its boto3
clients at import); each test uses its own order ids, so tests do not see each other's data.
"""

from __future__ import annotations

from collections.abc import Iterator
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
        """Every outbox item of the fulfillment table whose attributes equal `match`, oldest first."""
        from shop_devstack.testing import outbox_items

        return outbox_items(self.dynamodb, self.table, **match)

    def item(self, pk: str, sk: str) -> dict[str, Any] | None:
        from shop_eventing.outbox import from_dynamodb, to_dynamodb

        found = self.dynamodb.get_item(TableName=self.table, Key=to_dynamodb({"pk": pk, "sk": sk}), ConsistentRead=True)
        return from_dynamodb(found["Item"]) if "Item" in found else None


@pytest.fixture(scope="session")
def aws() -> Iterator[Aws]:
    import boto3

    from shop_devstack.testing import LOCAL_NAMING, provisioned_service

    with provisioned_service("fulfillment") as (endpoint, _):
        yield Aws(endpoint=endpoint, table=LOCAL_NAMING.table("fulfillment"), dynamodb=boto3.client("dynamodb"))


@pytest.fixture(scope="session")
def fulfillment_app(aws: Aws) -> ModuleType:
    import app

    return app


@pytest.fixture(scope="session")
def issuer() -> Iterator[Any]:
    """The shop's local OIDC issuer, in-process; its keys mint the tests' tokens."""
    from shop_devstack.testing import local_issuer

    with local_issuer() as server:
        yield server


@pytest.fixture
def client(fulfillment_app: ModuleType, issuer: Any) -> Iterator[Any]:
    """Signed in as wes by default; `client.http.anonymous` sends no token."""
    from chalice.test import Client

    from shop_devstack.testing import SignedInClient, SignedInHttp, bearer

    with Client(fulfillment_app.app) as test_client:
        yield SignedInClient(SignedInHttp(test_client.http, bearer(issuer, "wes")))
