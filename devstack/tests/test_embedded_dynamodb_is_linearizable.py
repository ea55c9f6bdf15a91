"""Regression: moto rolls back a cancelled transaction by restoring a copy of the table taken before
it ran, which undid a write another request committed meanwhile (the catalog's never-oversell test
lost a reservation in CI). The embedded AWS serves DynamoDB requests one at a time.

The interleaving is forced rather than hoped for: the embedded AWS runs in this process, so the test
holds the transaction between its snapshot and its rollback and sends a write in that window.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.models import DynamoDBBackend

from shop_devstack.testing import embedded_aws

# Long enough for an unserialized write to land; with serialization the write waits this long.
WINDOW_SECONDS = 1.0


def test_a_cancelled_transaction_never_undoes_a_concurrent_write(
    monkeypatch: pytest.MonkeyPatch, create_table: Callable[..., str]
) -> None:
    transaction_paused = threading.Event()
    write_answered = threading.Event()
    original_get_item = DynamoDBBackend.get_item

    def get_item_pausing_on_the_doomed_check(self: DynamoDBBackend, table_name: str, keys: dict[str, Any], *args: Any):
        if keys == {"pk": {"S": "taken"}} and not transaction_paused.is_set():
            transaction_paused.set()  # the snapshot is taken, the rollback is still to come
            write_answered.wait(WINDOW_SECONDS)
        return original_get_item(self, table_name, keys, *args)

    monkeypatch.setattr(DynamoDBBackend, "get_item", get_item_pausing_on_the_doomed_check)

    with embedded_aws():
        dynamodb = boto3.client("dynamodb")
        table = create_table(dynamodb, "linear")
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "taken"}})

        def doomed_transaction() -> None:
            with contextlib.suppress(ClientError):
                boto3.client("dynamodb").transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": table, "Item": {"pk": {"S": "scratch"}}}},
                        {
                            "ConditionCheck": {
                                "TableName": table,
                                "Key": {"pk": {"S": "taken"}},
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                    ]
                )

        transaction = threading.Thread(target=doomed_transaction)
        transaction.start()
        assert transaction_paused.wait(10), "the transaction never reached its condition check"
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "concurrent"}})
        write_answered.set()
        transaction.join(timeout=10)

        stored = {item["pk"]["S"] for item in dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]}
        assert stored == {"taken", "concurrent"}
