"""Regression: a cancelled TransactWriteItems must leave no record in the table's stream.

moto applies a transaction's items one by one, each write appending a stream record, and rolls a
cancelled one back by putting a deep copy of the table in place of the one it wrote to. A shard
iterator opened before the transaction kept reading the replaced shard: it returned the cancelled
transaction's writes, and then skipped the committed records that reused their sequence numbers.
Found as an OrderPlaced published for an order that was never stored (8 concurrent POST /orders with
one Idempotency-Key: the losers' order and outbox Puts come before their failing idempotency Put).

Here the same happens in sequence: an iterator is opened (the relay's stream source asks for one,
then reads it, in two requests), a transaction whose FIRST item, an outbox-like Put, succeeds and
whose second item's condition fails is cancelled, one item is committed, then the iterator is read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from shop_devstack.testing import embedded_aws


@pytest.fixture(scope="module")
def aws() -> Iterator[None]:
    with embedded_aws():
        yield


def new_table(dynamodb: Any, create_table: Callable[..., str]) -> tuple[str, str]:
    """A table with a NEW_IMAGE stream and one committed item, "taken"; returns (name, stream ARN)."""
    table = create_table(dynamodb, "stream", stream=True)
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "taken"}})
    return table, dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]


def open_iterator(streams: Any, arn: str) -> str:
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    return str(streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"])


def read(streams: Any, iterator: str) -> list[tuple[str, str, str]]:
    """(event name, key, sequence number) of every record the iterator returns."""
    records = streams.get_records(ShardIterator=iterator)["Records"]
    return [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"], r["dynamodb"]["SequenceNumber"]) for r in records]


def cancelled_transaction(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> list[str]:
    """Run a transaction that must be cancelled; returns its cancellation reason codes."""
    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(TransactItems=items)
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    return [reason["Code"] for reason in cancelled.value.response["CancellationReasons"]]


def put_new(table: str, key: str) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": {"pk": {"S": key}}, "ConditionExpression": "attribute_not_exists(pk)"}}


def test_an_iterator_opened_before_a_cancelled_transaction_sees_none_of_its_writes(
    aws: None, create_table: Callable[..., str]
) -> None:
    dynamodb, streams = boto3.client("dynamodb"), boto3.client("dynamodbstreams")
    table, arn = new_table(dynamodb, create_table)
    iterator = open_iterator(streams, arn)

    reasons = cancelled_transaction(dynamodb, table, [put_new(table, "OUTBOX#cancelled"), put_new(table, "taken")])
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "committed-after"}})

    assert reasons == ["None", "ConditionalCheckFailed"]  # the first item's write did happen inside moto
    records = read(streams, iterator)
    assert [key for _, key, _ in records] == ["taken", "committed-after"]
    assert len({sequence for _, _, sequence in records}) == 2
    assert "Item" not in dynamodb.get_item(TableName=table, Key={"pk": {"S": "OUTBOX#cancelled"}}, ConsistentRead=True)


def test_a_cancelled_transaction_undoes_its_update_and_delete_in_the_table_and_the_stream(
    aws: None, create_table: Callable[..., str]
) -> None:
    dynamodb, streams = boto3.client("dynamodb"), boto3.client("dynamodbstreams")
    table, arn = new_table(dynamodb, create_table)
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "counter"}, "n": {"N": "1"}})
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "doomed"}})
    iterator = open_iterator(streams, arn)

    cancelled_transaction(
        dynamodb,
        table,
        [
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": "counter"}},
                    "UpdateExpression": "SET n = n + :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
            {"Delete": {"TableName": table, "Key": {"pk": {"S": "doomed"}}}},
            put_new(table, "taken"),
        ],
    )

    assert [(name, key) for name, key, _ in read(streams, iterator)] == [
        ("INSERT", "taken"),
        ("INSERT", "counter"),
        ("INSERT", "doomed"),
    ]
    counter = dynamodb.get_item(TableName=table, Key={"pk": {"S": "counter"}}, ConsistentRead=True)["Item"]
    assert counter["n"] == {"N": "1"}
    assert "Item" in dynamodb.get_item(TableName=table, Key={"pk": {"S": "doomed"}}, ConsistentRead=True)


def test_a_committed_transaction_still_reaches_the_stream(aws: None, create_table: Callable[..., str]) -> None:
    dynamodb, streams = boto3.client("dynamodb"), boto3.client("dynamodbstreams")
    table, arn = new_table(dynamodb, create_table)
    iterator = open_iterator(streams, arn)

    dynamodb.transact_write_items(TransactItems=[put_new(table, "OUTBOX#committed"), put_new(table, "order")])

    assert [key for _, key, _ in read(streams, iterator)] == ["taken", "OUTBOX#committed", "order"]
