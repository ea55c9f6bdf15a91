"""Regression: moto rolls a cancelled transaction back by swapping in a deep copy of the table, which
orphaned the stream poller's open iterator; from then on the outbox relay received nothing (found
when a subscriber's conditional write first lost a race: the order stalled at PAID). The embedded AWS
now puts the live table back after moto's rollback (decision 0009), so old iterators keep working too;
this test still holds the stream source to delivering everything once, in order, across a cancellation."""

from __future__ import annotations

import threading
from collections.abc import Callable

import boto3
import pytest
from botocore.exceptions import ClientError

from shop_devstack.dispatcher import DynamoDbStreamSource
from shop_devstack.testing import embedded_aws


def test_stream_source_keeps_delivering_after_a_cancelled_transaction(create_table: Callable[..., str]) -> None:
    with embedded_aws():
        dynamodb = boto3.client("dynamodb")
        table = create_table(dynamodb, "stream", stream=True)
        arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        seen: list[str] = []
        source = DynamoDbStreamSource(
            streams=boto3.client("dynamodbstreams"),
            stream_arn=arn,
            handler=lambda event, context: seen.extend(r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]),
            function_name="relay",
            stop=threading.Event(),
        )
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "first"}})
        source.poll_once()

        with pytest.raises(ClientError, match="TransactionCanceled"):
            dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": table,
                            "Item": {"pk": {"S": "first"}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                ]
            )
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "after-the-cancelled-one"}})
        source.poll_once()
        source.poll_once()

        assert seen == ["first", "after-the-cancelled-one"]
