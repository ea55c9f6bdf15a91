"""The fault drills' botocore hooks (shop_devstack.faults), on real clients of an in-process embedded AWS:
an error botocore retries as it would AWS's, a 5xx whose write was applied, a PutEvents that rejects
some entries, rules that match one request and not another, and firings counted across the stack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from shop_devstack.faults import Fault, FaultBoard, FaultHooks

PingStack = Any


def hooked(board: FaultBoard, service_name: str, *, service: str = "orders", **config: Any) -> Any:
    client = boto3.client(service_name, config=Config(**config)) if config else boto3.client(service_name)
    FaultHooks(board, service).register(client.meta.events)
    return client


def put(client: Any, table: str, pk: str) -> None:
    client.put_item(
        TableName=table,
        Item={"pk": {"S": pk}, "sk": {"S": "x"}},
        ConditionExpression="attribute_not_exists(pk)",
    )


def test_a_throttled_write_is_retried_by_botocore_and_lands_once(ping_stack: PingStack, tmp_path: Path) -> None:
    board = FaultBoard(tmp_path)
    board.add(
        Fault(
            name="throttle",
            operation="dynamodb.PutItem",
            action="error",
            match=("order-1",),
            times=2,
            code="ProvisionedThroughputExceededException",
            status=400,
        )
    )
    dynamodb = hooked(board, "dynamodb")

    put(dynamodb, ping_stack.table, "order-2")  # not matched: no firing
    assert board.fired("throttle") == 0
    put(dynamodb, ping_stack.table, "order-1")
    assert board.fired("throttle") == 2
    # Used up: the rule fires no more, in this process or another one reading the same directory.
    put(dynamodb, ping_stack.table, "order-10")
    assert board.fired("throttle") == 2
    assert "Item" in dynamodb.get_item(TableName=ping_stack.table, Key={"pk": {"S": "order-1"}, "sk": {"S": "x"}})


def test_without_retries_the_error_reaches_the_caller(ping_stack: PingStack, tmp_path: Path) -> None:
    board = FaultBoard(tmp_path)
    board.add(Fault(name="down", operation="dynamodb.PutItem", action="error", times=None, code="InternalServerError"))
    dynamodb = hooked(board, "dynamodb", retries={"total_max_attempts": 1, "mode": "standard"})
    with pytest.raises(ClientError) as raised:
        put(dynamodb, ping_stack.table, "order-3")
    assert raised.value.response["Error"]["Code"] == "InternalServerError"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    board.remove("down")
    put(dynamodb, ping_stack.table, "order-3")  # nothing was written: the request never left


def test_a_5xx_whose_write_was_applied_meets_its_own_write_on_the_retry(ping_stack: PingStack, tmp_path: Path) -> None:
    board = FaultBoard(tmp_path)
    board.add(Fault(name="applied", operation="dynamodb.PutItem", action="error_after_applied", code="InternalServerError"))
    dynamodb = hooked(board, "dynamodb")
    with pytest.raises(ClientError) as raised:
        put(dynamodb, ping_stack.table, "order-4")
    assert raised.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert board.fired("applied") == 1


def test_put_events_reports_the_rejected_entries_and_puts_the_others(ping_stack: PingStack, tmp_path: Path) -> None:
    board = FaultBoard(tmp_path)
    board.add(Fault(name="reject", operation="events.PutEvents", action="reject_entries", match=("order-5",), times=3))
    events = hooked(board, "events")
    bus = ping_stack.naming.bus

    def entry(order: str) -> dict[str, Any]:
        return {"Source": "shop.producer", "DetailType": "Ping", "Detail": json.dumps({"order": order}), "EventBusName": bus}

    answer = events.put_events(Entries=[entry("order-6"), entry("order-5"), entry("order-7"), entry("order-5")])
    assert answer["FailedEntryCount"] == 2
    assert [e.get("ErrorCode") for e in answer["Entries"]] == [None, "InternalFailure", None, "InternalFailure"]
    assert all("EventId" in answer["Entries"][i] for i in (0, 2))
    # Every entry rejected: nothing is sent, each is reported failed.
    answer = events.put_events(Entries=[entry("order-5")])
    assert answer["FailedEntryCount"] == 1 and answer["Entries"][0]["ErrorCode"] == "InternalFailure"
    answer = events.put_events(Entries=[entry("order-5")])
    assert answer["FailedEntryCount"] == 0
    assert board.fired("reject") == 3


def test_a_rule_fires_only_in_its_own_service(ping_stack: PingStack, tmp_path: Path) -> None:
    board = FaultBoard(tmp_path)
    board.add(Fault(name="catalog-only", operation="dynamodb.PutItem", action="error", service="catalog", times=None))
    put(hooked(board, "dynamodb", service="orders"), ping_stack.table, "order-8")
    assert board.fired("catalog-only") == 0
    with pytest.raises(ValueError, match="unknown fault action"):
        Fault(name="x", operation="dynamodb.PutItem", action="explode")
