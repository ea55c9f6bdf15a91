"""Regression: a transaction on the embedded DynamoDB must cost what it touches, not the table's size.

moto 5.2.5 deep-copied every table a TransactWriteItems touched (every item and every stream record)
to be able to roll it back, so every order the shop took cost more than the one before (decision
0011). The cost is counted, not timed: `copy.deepcopy` is spied on (its recursive calls go through the
module's global too, so the count grows with everything copied) while the same transactions run
against a small and a large table, straight on moto's backend in this process.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto.dynamodb.exceptions import TransactionCanceledException
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table

from shop_devstack.testing import ACCOUNT_ID, REGION, embedded_aws

NEW = "attribute_not_exists(pk)"


@pytest.fixture(scope="module")
def aws() -> Iterator[None]:
    with embedded_aws():
        yield


def filled_table(create_table: Callable[..., str], size: int) -> str:
    dynamodb = boto3.client("dynamodb")
    table = create_table(dynamodb, "cost", stream=True)
    for start in range(0, size, 25):
        keys = range(start, min(start + 25, size))
        requests = [{"PutRequest": {"Item": {"pk": {"S": f"old-{n}"}, "n": {"N": "1"}}}} for n in keys]
        dynamodb.batch_write_item(RequestItems={table: requests})
    return table


def an_order(table: str, *, doomed: bool) -> list[dict[str, Any]]:
    """A state update, an outbox-like Put and a marker; with `doomed`, a last item whose condition fails."""
    items: list[dict[str, Any]] = [
        {
            "Update": {
                "TableName": table,
                "Key": {"pk": {"S": "old-3"}},
                "UpdateExpression": "SET n = n + :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
        {"Put": {"TableName": table, "Item": {"pk": {"S": f"OUTBOX#{doomed}"}}}},
        {"Put": {"TableName": table, "Item": {"pk": {"S": f"MARKER#{doomed}"}}, "ConditionExpression": NEW}},
    ]
    if doomed:
        items.append({"ConditionCheck": {"TableName": table, "Key": {"pk": {"S": "old-0"}}, "ConditionExpression": NEW}})
    return items


def deep_copies(monkeypatch: pytest.MonkeyPatch, table: str) -> tuple[int, list[str]]:
    """Runs one committed and one cancelled transaction on `table`; returns how many objects
    `copy.deepcopy` copied meanwhile, and the cancellation reasons."""
    backend = dynamodb_backends[ACCOUNT_ID][REGION]
    copied: list[Any] = []
    original = copy.deepcopy

    def counting(value: Any, *args: Any, **kwargs: Any) -> Any:
        copied.append(value)
        return original(value, *args, **kwargs)

    monkeypatch.setattr(copy, "deepcopy", counting)
    try:
        backend.transact_write_items(an_order(table, doomed=False))
        with pytest.raises(TransactionCanceledException) as cancelled:
            backend.transact_write_items(an_order(table, doomed=True))
    finally:
        monkeypatch.setattr(copy, "deepcopy", original)
    assert not any(isinstance(value, Table) for value in copied), "a whole table was copied"
    reasons = json.loads(cancelled.value.description)["CancellationReasons"]
    return len(copied), [reason["Code"] for reason in reasons]


def test_a_transaction_copies_as_much_on_a_large_table_as_on_a_small_one(
    aws: None, monkeypatch: pytest.MonkeyPatch, create_table: Callable[..., str]
) -> None:
    small, large = filled_table(create_table, 5), filled_table(create_table, 400)

    small_copies, small_reasons = deep_copies(monkeypatch, small)
    large_copies, large_reasons = deep_copies(monkeypatch, large)

    assert small_copies == large_copies
    assert small_reasons == large_reasons == ["None", "None", "None", "ConditionalCheckFailed"]


def test_the_cancelled_transaction_left_nothing_but_the_committed_one(
    aws: None, monkeypatch: pytest.MonkeyPatch, create_table: Callable[..., str]
) -> None:
    table = filled_table(create_table, 30)
    dynamodb, streams = boto3.client("dynamodb"), boto3.client("dynamodbstreams")
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

    deep_copies(monkeypatch, table)

    keys = {item["pk"]["S"] for item in dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]}
    assert keys == {f"old-{n}" for n in range(30)} | {"OUTBOX#False", "MARKER#False"}
    counter = dynamodb.get_item(TableName=table, Key={"pk": {"S": "old-3"}}, ConsistentRead=True)["Item"]
    assert counter["n"] == {"N": "2"}  # the committed Update, not the cancelled one
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in records[30:]] == [
        ("MODIFY", "old-3"),
        ("INSERT", "OUTBOX#False"),
        ("INSERT", "MARKER#False"),
    ]


def test_a_cancelled_write_to_a_new_partition_leaves_no_empty_partition(aws: None) -> None:
    """moto's get_item adds an empty partition for a new hash key of a table with a range key (the
    shop's tables have one): the journal sees the table before that, and the rollback removes it."""
    dynamodb = boto3.client("dynamodb")
    table = f"ranged-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "taken"}, "sk": {"S": "A"}})
    backend = dynamodb_backends[ACCOUNT_ID][REGION]
    taken = {"pk": {"S": "taken"}, "sk": {"S": "A"}}

    with pytest.raises(TransactionCanceledException):
        backend.transact_write_items(
            [
                {"Put": {"TableName": table, "Item": {"pk": {"S": "ORDER#new"}, "sk": {"S": "A"}}}},
                {"ConditionCheck": {"TableName": table, "Key": taken, "ConditionExpression": NEW}},
            ]
        )

    assert [key.value for key in backend.tables[table].items] == ["taken"]
    assert len(backend.tables[table].stream_shard.items) == 1
