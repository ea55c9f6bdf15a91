"""Fulfillment test fixtures.

Domain tests use none of these and never touch AWS. The integration tests share one in-process moto
server per session, provisioned from the topology *before* `app` is imported (app.py builds its boto3
clients at import); each test uses its own order ids, so tests do not see each other's data.
"""

from __future__ import annotations

import json
import os
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

    def outbox(self, **match: str) -> list[dict[str, Any]]:
        """Every outbox item of the fulfillment table whose attributes equal `match`, oldest first."""
        from shop_eventing.outbox import from_dynamodb

        items: list[dict[str, Any]] = []
        for page in self.dynamodb.get_paginator("scan").paginate(
            TableName=self.table,
            FilterExpression="begins_with(pk, :outbox)",
            ExpressionAttributeValues={":outbox": {"S": "OUTBOX#"}},
            ConsistentRead=True,
        ):
            items += [from_dynamodb(item) for item in page["Items"]]
        found = [item for item in items if all(item.get(k) == v for k, v in match.items())]
        for item in found:
            item["detail"] = json.loads(item["detail"])
        return sorted(found, key=lambda item: (item["occurred_at"], item["event_id"]))

    def item(self, pk: str, sk: str) -> dict[str, Any] | None:
        from shop_eventing.outbox import from_dynamodb, to_dynamodb

        found = self.dynamodb.get_item(TableName=self.table, Key=to_dynamodb({"pk": pk, "sk": sk}), ConsistentRead=True)
        return from_dynamodb(found["Item"]) if "Item" in found else None


@pytest.fixture(scope="session")
def aws() -> Iterator[Aws]:
    import boto3

    from shop_contracts import TOPOLOGY
    from shop_devstack.testing import embedded_aws
    from shop_eventing.provision import provision
    from shop_eventing.topology import Naming

    saved = {k: os.environ.get(k) for k in ("SHOP_STAGE", "SHOP_TABLE_STREAM_ARN")}
    with embedded_aws() as endpoint:
        naming = Naming(stage="local")
        provisioned = provision(TOPOLOGY, naming)
        os.environ["SHOP_STAGE"] = "local"
        os.environ["SHOP_TABLE_STREAM_ARN"] = provisioned.table_stream_arns["fulfillment"]
        try:
            yield Aws(endpoint=endpoint, table=naming.table("fulfillment"), dynamodb=boto3.client("dynamodb"))
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@pytest.fixture(scope="session")
def fulfillment_app(aws: Aws) -> ModuleType:
    import app

    return app


@pytest.fixture
def client(fulfillment_app: ModuleType) -> Iterator[Any]:
    from chalice.test import Client

    with Client(fulfillment_app.app) as test_client:
        yield test_client
