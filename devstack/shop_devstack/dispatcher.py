"""Plays Lambda's event-source mappings against moto, which cannot run functions itself.

SqsEventSource: long-polls one queue, calls the handler with the real Lambda SQS event shape, deletes
only the records the handler did not report in `batchItemFailures` (a raised error fails the whole
batch, as on Lambda). Failed records are left alone, so the queue's visibility timeout and its DLQ
redrive policy decide what happens next, exactly as on AWS.

DynamoDbStreamSource: reads every shard of a table's stream from TRIM_HORIZON and calls the handler
with the real Lambda DynamoDB stream event shape; a raised error re-delivers the same records. It
keeps its shard iterators between polls and polls an idle stream less often (decision 0011).

ScheduledSource: calls a scheduled function (chalice's `@app.schedule`) at a fixed interval.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

log = logging.getLogger("shop.dispatcher")

LambdaHandler = Callable[[dict[str, Any], Any], Any]
# Marks the second copy a duplicate-delivery drill sends, so the copy is not copied again.
DUPLICATE_ATTRIBUTE = "shop-duplicate-delivery"


class LambdaContext:
    """The parts of Lambda's context object our handlers and powertools read."""

    def __init__(self, function_name: str, timeout_seconds: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class SourceStats:
    invocations: int = 0
    records: int = 0
    failed_records: int = 0
    duplicates_sent: int = 0
    errors: list[str] = field(default_factory=list)


def sqs_lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                # Lambda's event is JSON: binary attributes arrive base64-encoded.
                "binaryValue": base64.b64encode(value["BinaryValue"]).decode() if "BinaryValue" in value else None,
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class _EventSource(threading.Thread):
    """What every event source played here shares: a daemon thread named `<kind>:<function>` that
    invokes one function's handler until `stop` is set, counting what it did in `stats`."""

    def __init__(self, kind: str, *, handler: LambdaHandler, function_name: str, region: str, stop: threading.Event) -> None:
        super().__init__(name=f"{kind}:{function_name}", daemon=True)
        self._handler = handler
        self._function_name = function_name
        self._region = region
        # Not `_stop`: threading.Thread has a method of that name, which join() calls.
        self._stop_event = stop
        self.stats = SourceStats()


class SqsEventSource(_EventSource):
    def __init__(
        self,
        *,
        sqs: Any,
        queue_url: str,
        handler: LambdaHandler,
        function_name: str,
        batch_size: int,
        timeout_seconds: float = 30,
        duplicate_every_message: bool | int | Callable[[], int] = False,
        paused: Callable[[str], bool] = lambda queue_name: False,
        stop: threading.Event,
    ) -> None:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn", "VisibilityTimeout"])["Attributes"]
        self._queue_arn = attributes["QueueArn"]
        super().__init__("sqs", handler=handler, function_name=function_name, region=self._queue_arn.split(":")[3], stop=stop)
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_name = queue_url.rsplit("/", 1)[-1]
        # The drills' switch for a subscriber that is down (its event source disabled): nothing is handled.
        self._paused = paused
        self._batch_size = batch_size
        # As on AWS (deploy/templates.py), the function's timeout is capped at its queue's visibility
        # timeout: a crashed invocation's powertools in-progress record (which expires with the function's
        # remaining time) must have expired by the time SQS delivers the message again, or every
        # redelivery finds the record "in progress" until the message is in the DLQ.
        self._timeout = min(timeout_seconds, float(attributes.get("VisibilityTimeout", timeout_seconds)))
        # A switch rather than a flag: one running shop can turn the drill on for a test and off after.
        # Its value is how many more copies of each handled message to send (True: one).
        if callable(duplicate_every_message):
            self._copies: Callable[[], int] = duplicate_every_message
        else:
            self._copies = lambda: int(duplicate_every_message)

    def run(self) -> None:
        while not self._stop_event.is_set():
            if self._paused(self._queue_name):
                self._stop_event.wait(0.1)
                continue
            try:
                self.poll_once(wait_seconds=1)
            except Exception as error:  # keep polling: the next receive may work
                log.exception("event source %s failed", self._function_name)
                self.stats.errors.append(repr(error))
                self._stop_event.wait(1)

    def poll_once(self, wait_seconds: int = 0) -> int:
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=min(self._batch_size, 10),
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        if self._paused(self._queue_name):
            # Paused while this receive waited: the messages go back untouched (as if never received).
            self._sqs.change_message_visibility_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for i, m in enumerate(messages)
                ],
            )
            return 0
        event = {"Records": [sqs_lambda_record(m, self._queue_arn, self._region) for m in messages]}
        self.stats.invocations += 1
        self.stats.records += len(messages)
        try:
            response = self._handler(event, LambdaContext(self._function_name, self._timeout))
            failed = _batch_item_failures(response, {m["MessageId"] for m in messages})
        except Exception:
            log.exception("%s raised: the whole batch returns to the queue", self._function_name)
            failed = {m["MessageId"] for m in messages}
        self.stats.failed_records += len(failed)
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        copies = self._copies()
        if copies:
            self._send_duplicates(done, copies)
        return len(messages)

    def _send_duplicates(self, delivered: list[dict[str, Any]], copies: int) -> None:
        """The at-least-once drill: every message that was handled is delivered `copies` more times."""
        for message in delivered:
            if DUPLICATE_ATTRIBUTE in message.get("MessageAttributes", {}):
                continue
            attributes = dict(message.get("MessageAttributes", {}))
            attributes[DUPLICATE_ATTRIBUTE] = {"DataType": "String", "StringValue": message["MessageId"]}
            for _ in range(copies):
                self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=message["Body"], MessageAttributes=attributes)
                self.stats.duplicates_sent += 1
            log.info("duplicate delivery drill: re-sent %s (%d more) to %s", message["MessageId"], copies, self._function_name)


def _batch_item_failures(response: Any, message_ids: set[str]) -> set[str]:
    """Lambda's reading of a partial batch response: a malformed one fails the whole batch."""
    if response is None:
        return set()
    if not isinstance(response, dict):
        return set(message_ids)
    failures = response.get("batchItemFailures")
    if failures is None:  # absent or null: complete success, as Lambda reads it
        return set()
    if not isinstance(failures, list):
        return set(message_ids)
    failed = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in message_ids:
            return set(message_ids)
        failed.add(identifier)
    return failed


class DynamoDbStreamSource(_EventSource):
    """Reads a table's stream as Lambda's event-source mapping does: batches of up to `batch_size`
    records per shard, the checkpoint advanced only after the handler succeeded, the same records again
    after it raised.

    It keeps each shard's iterator between polls (the `NextShardIterator` of the last read) and
    describes the stream only when it has no shard list, so a poll of an idle stream is one GetRecords;
    and it polls an idle stream less often, from `poll_interval` doubling up to `max_poll_interval`, fast
    again as soon as records come. Every DynamoDB request holds the embedded AWS's one lock, and
    describing, asking for an iterator and reading every 0.1 s, for every table, kept moto busy while
    the shop idled (decision 0011). An iterator stays valid locally: a cancelled transaction is rolled
    back in place and leaves no record in the shard (decision 0009).
    """

    def __init__(
        self,
        *,
        streams: Any,
        stream_arn: str,
        handler: LambdaHandler,
        function_name: str,
        batch_size: int = 100,
        poll_interval: float = 0.1,
        max_poll_interval: float = 0.5,
        stop: threading.Event,
    ) -> None:
        super().__init__("stream", handler=handler, function_name=function_name, region=stream_arn.split(":")[3], stop=stop)
        self._streams = streams
        self._arn = stream_arn
        self._batch_size = batch_size
        self._interval = poll_interval
        self._max_interval = max(poll_interval, max_poll_interval)
        self._checkpoints: dict[str, str] = {}  # shard id -> last delivered sequence number
        self._iterators: dict[str, str] = {}  # shard id -> where the next read starts
        self._shards: list[str] | None = None  # None: describe the stream on the next poll

    def run(self) -> None:
        wait = self._interval
        while not self._stop_event.is_set():
            try:
                delivered = self.poll_once()
            except Exception as error:
                log.exception("stream source %s failed", self._function_name)
                self.stats.errors.append(repr(error))
                self._forget_positions()
                delivered = 0
            if delivered:
                wait = self._interval
                continue
            self._stop_event.wait(wait)
            wait = min(wait * 2, self._max_interval)

    def poll_once(self) -> int:
        delivered = 0
        for shard_id in self._shard_ids():
            response = self._read(shard_id)
            records = response.get("Records", [])
            next_iterator = response.get("NextShardIterator")
            if not records:
                self._keep(shard_id, next_iterator)
                continue
            event = {"Records": [self._lambda_record(r) for r in records]}
            self.stats.invocations += 1
            self.stats.records += len(records)
            try:
                self._handler(event, LambdaContext(self._function_name, 60))
            except Exception:
                # As Lambda does: the shard does not advance; the same records come again, read
                # from an iterator after the checkpoint.
                self.stats.failed_records += len(records)
                self._iterators.pop(shard_id, None)
                log.exception("%s raised: retrying the same stream records", self._function_name)
                self._stop_event.wait(0.5)
                continue
            self._checkpoints[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
            self._keep(shard_id, next_iterator)
            delivered += len(records)
        return delivered

    def _read(self, shard_id: str) -> dict[str, Any]:
        kept = self._iterators.pop(shard_id, None)
        if kept is not None:
            try:
                return dict(self._streams.get_records(ShardIterator=kept, Limit=self._batch_size))
            except ClientError as error:  # expired or trimmed (or the server forgot it): from the checkpoint
                log.info("stream source %s: iterator refused (%s), reading after the checkpoint", self._function_name, error)
        return dict(self._streams.get_records(ShardIterator=self._iterator(shard_id), Limit=self._batch_size))

    def _keep(self, shard_id: str, next_iterator: str | None) -> None:
        if next_iterator:
            self._iterators[shard_id] = next_iterator
        else:  # the shard is closed: its children show up when the stream is described again
            self._shards = None

    def _forget_positions(self) -> None:
        self._iterators.clear()
        self._shards = None

    def _shard_ids(self) -> list[str]:
        if self._shards is None:
            shards = self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]
            self._shards = [shard["ShardId"] for shard in shards]
        return self._shards

    def _iterator(self, shard_id: str) -> str:
        """An iterator after the last delivered record (TRIM_HORIZON before the first delivery): the
        checkpoint is what Lambda's event-source mapping keeps. It was once asked for on every poll,
        because moto's rollback orphaned open iterators (decision 0006); now only at the start, after a
        failed batch and when a kept iterator is refused (decisions 0009, 0011)."""
        checkpoint = self._checkpoints.get(shard_id)
        if checkpoint is None:
            position: dict[str, str] = {"ShardIteratorType": "TRIM_HORIZON"}
        else:
            position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": checkpoint}
        return str(self._streams.get_shard_iterator(StreamArn=self._arn, ShardId=shard_id, **position)["ShardIterator"])

    def _lambda_record(self, record: dict[str, Any]) -> dict[str, Any]:
        dynamodb = dict(record["dynamodb"])
        created = dynamodb.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            dynamodb["ApproximateCreationDateTime"] = created.timestamp()
        return {
            "eventID": record["eventID"],
            "eventName": record["eventName"],
            "eventVersion": record.get("eventVersion", "1.1"),
            "eventSource": "aws:dynamodb",
            "awsRegion": record.get("awsRegion", self._region),
            "dynamodb": dynamodb,
            "eventSourceARN": self._arn,
        }


def scheduled_event(region: str, rule_arn: str, now: datetime) -> dict[str, Any]:
    """The event EventBridge Scheduler's rate/cron rule hands a function."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


class ScheduledSource(_EventSource):
    """Invokes a scheduled function every `interval` seconds (locally much shorter than on AWS, so a
    sweep can be watched); an error is logged and the next tick comes anyway, as with a rule."""

    def __init__(
        self, *, handler: LambdaHandler, function_name: str, interval: float, region: str, stop: threading.Event
    ) -> None:
        super().__init__("schedule", handler=handler, function_name=function_name, region=region, stop=stop)
        self._interval = interval

    def run(self) -> None:
        while not self._stop_event.wait(self._interval):
            self.tick()

    def tick(self) -> None:
        rule_arn = f"arn:aws:events:{self._region}:123456789012:rule/{self._function_name}"
        self.stats.invocations += 1
        try:
            self._handler(scheduled_event(self._region, rule_arn, datetime.now(UTC)), LambdaContext(self._function_name, 60))
        except Exception as error:
            log.exception("%s raised on its schedule", self._function_name)
            self.stats.errors.append(repr(error))
