"""What the stream source asks of the embedded AWS: an idle poll is one GetRecords on the iterator kept
from the last read (no DescribeStream, no GetShardIterator), an idle stream is polled less and less
often, and a refused iterator or a failed batch falls back to the checkpoint without losing or
repeating a record. Every DynamoDB request holds the embedded AWS's one lock (decision 0011).

Counted through a client that records its calls, and through a stop event that records the waits:
nothing here depends on timing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from shop_devstack.dispatcher import DynamoDbStreamSource
from shop_devstack.testing import embedded_aws


@pytest.fixture(scope="module")
def aws() -> Iterator[None]:
    with embedded_aws():
        yield


class RecordingStreams:
    """A DynamoDB Streams client that records the operations called; `refuse_next_kept` makes the next
    GetRecords on an iterator not just handed out by GetShardIterator fail as an expired one."""

    def __init__(self) -> None:
        self._client = boto3.client("dynamodbstreams")
        self.calls: list[str] = []
        self.refuse_next_kept = False
        self._fresh: set[str] = set()

    def describe_stream(self, **kwargs: Any) -> Any:
        self.calls.append("DescribeStream")
        return self._client.describe_stream(**kwargs)

    def get_shard_iterator(self, **kwargs: Any) -> Any:
        self.calls.append("GetShardIterator")
        response = self._client.get_shard_iterator(**kwargs)
        self._fresh.add(response["ShardIterator"])
        return response

    def get_records(self, **kwargs: Any) -> Any:
        self.calls.append("GetRecords")
        if self.refuse_next_kept and kwargs["ShardIterator"] not in self._fresh:
            self.refuse_next_kept = False
            raise ClientError({"Error": {"Code": "ExpiredIteratorException", "Message": "expired"}}, "GetRecords")
        return self._client.get_records(**kwargs)

    def take(self) -> list[str]:
        calls, self.calls = self.calls, []
        return calls


def stream_table(create_table: Callable[..., str]) -> tuple[Any, str, str]:
    dynamodb = boto3.client("dynamodb")
    table = create_table(dynamodb, "polls", stream=True)
    return dynamodb, table, dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]


def put(dynamodb: Any, table: str, key: str) -> None:
    dynamodb.put_item(TableName=table, Item={"pk": {"S": key}})


def test_an_idle_poll_is_one_get_records_on_the_kept_iterator(aws: None, create_table: Callable[..., str]) -> None:
    dynamodb, table, arn = stream_table(create_table)
    streams, seen = RecordingStreams(), []
    source = DynamoDbStreamSource(
        streams=streams,
        stream_arn=arn,
        handler=lambda event, context: seen.extend(r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]),
        function_name="relay",
        stop=threading.Event(),
    )
    put(dynamodb, table, "a")

    assert source.poll_once() == 1
    assert streams.take() == ["DescribeStream", "GetShardIterator", "GetRecords"]
    for _ in range(3):
        assert source.poll_once() == 0
    assert streams.take() == ["GetRecords"] * 3

    put(dynamodb, table, "b")
    assert source.poll_once() == 1
    assert streams.take() == ["GetRecords"]
    assert seen == ["a", "b"]


def test_a_refused_iterator_and_a_failed_batch_resume_after_the_checkpoint(aws: None, create_table: Callable[..., str]) -> None:
    dynamodb, table, arn = stream_table(create_table)
    streams, seen, failing = RecordingStreams(), [], [False]

    def relay(event: dict[str, Any], context: Any) -> None:
        if failing[0]:
            failing[0] = False
            raise RuntimeError("relay failed")
        seen.extend(r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"])

    source = DynamoDbStreamSource(streams=streams, stream_arn=arn, handler=relay, function_name="relay", stop=threading.Event())
    put(dynamodb, table, "a")
    assert source.poll_once() == 1

    put(dynamodb, table, "b")
    streams.refuse_next_kept = True
    streams.take()
    assert source.poll_once() == 1
    assert streams.take() == ["GetRecords", "GetShardIterator", "GetRecords"]

    put(dynamodb, table, "c")
    failing[0] = True
    source._stop_event.set()  # the retry pause after a failure returns at once
    assert source.poll_once() == 0
    assert source.poll_once() == 1
    assert streams.take() == ["GetRecords", "GetShardIterator", "GetRecords"]
    assert seen == ["a", "b", "c"]


class CountedStop(threading.Event):
    """A stop event whose waits return at once, recorded; `on_wait(n)` runs at the n-th wait, and the
    source is stopped after `waits` waits."""

    def __init__(self, waits: int, on_wait: Callable[[int], None]) -> None:
        super().__init__()
        self.timeouts: list[float] = []
        self._waits = waits
        self._on_wait = on_wait

    def wait(self, timeout: float | None = None) -> bool:
        self.timeouts.append(float(timeout or 0))
        self._on_wait(len(self.timeouts))
        if len(self.timeouts) >= self._waits:
            self.set()
        return self.is_set()


def test_an_idle_stream_is_polled_less_often_and_fast_again_on_records(aws: None, create_table: Callable[..., str]) -> None:
    dynamodb, table, arn = stream_table(create_table)
    seen: list[str] = []
    stop = CountedStop(waits=8, on_wait=lambda n: put(dynamodb, table, "late") if n == 5 else None)
    source = DynamoDbStreamSource(
        streams=RecordingStreams(),
        stream_arn=arn,
        handler=lambda event, context: seen.extend(r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]),
        function_name="relay",
        poll_interval=0.1,
        max_poll_interval=0.5,
        stop=stop,
    )

    source.run()

    assert stop.timeouts == [0.1, 0.2, 0.4, 0.5, 0.5, 0.1, 0.2, 0.4]
    assert seen == ["late"]
