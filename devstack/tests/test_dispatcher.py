"""The local event-source mappings: SQS polling with partial batch responses, DynamoDB stream reading.

Queues come from `provision` (fixture `ping_stack` in conftest.py) with a 1 s visibility timeout and
a DLQ after 2 receives, so retries and redrives happen for real in moto.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from shop_devstack.dispatcher import (
    DUPLICATE_ATTRIBUTE,
    DynamoDbStreamSource,
    LambdaContext,
    SqsEventSource,
    _batch_item_failures,
    sqs_lambda_record,
)
from shop_devstack.testing import eventbridge_body, eventually
from shop_eventing.consumer import DEAD_LETTER_REASON, Subscriber
from shop_eventing.envelope import DomainEvent, EventData, EventRegistry, new_event

# The `ping_stack` fixture (devstack/tests/conftest.py) yields a conftest.PingStack; pytest's
# importlib mode does not let a test module import its conftest.
PingStack = Any

registry = EventRegistry()


@registry.register("Ping", 1)
class PingV1(EventData):
    n: int


def ping(n: int) -> DomainEvent:
    return new_event(PingV1(n=n), producer="shop.producer", correlation_id="c-1")


def send(stack: PingStack, *bodies: str, attributes: dict[str, Any] | None = None) -> dict[str, str]:
    """Send each body; returns body -> MessageId."""
    return {
        body: stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=body, MessageAttributes=attributes or {})["MessageId"]
        for body in bodies
    }


def source_for(stack: PingStack, handler: Any, **options: Any) -> SqsEventSource:
    return SqsEventSource(
        sqs=stack.sqs,
        queue_url=stack.queue_url,
        handler=handler,
        function_name="consumer-t-on_ping",
        batch_size=options.pop("batch_size", 10),
        stop=options.pop("stop", threading.Event()),
        **options,
    )


def test_sqs_lambda_record_has_the_shape_lambda_delivers(ping_stack: PingStack) -> None:
    body = eventbridge_body(ping(1))
    message_id = send(
        ping_stack,
        body,
        attributes={
            "trace": {"DataType": "String", "StringValue": "t-1"},
            "attempt": {"DataType": "Number", "StringValue": "3"},
        },
    )[body]
    [message] = ping_stack.sqs.receive_message(
        QueueUrl=ping_stack.queue_url, AttributeNames=["All"], MessageAttributeNames=["All"]
    )["Messages"]

    record = sqs_lambda_record(message, ping_stack.queue_arn, "us-east-1")

    assert set(record) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["messageId"] == message_id
    assert record["receiptHandle"] == message["ReceiptHandle"]
    assert record["body"] == body
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
    assert record["messageAttributes"]["trace"]["stringValue"] == "t-1"
    assert record["messageAttributes"]["trace"]["dataType"] == "String"
    assert record["messageAttributes"]["attempt"]["stringValue"] == "3"
    assert record["messageAttributes"]["attempt"]["dataType"] == "Number"
    assert record["messageAttributes"]["trace"]["stringListValues"] == []
    assert record["messageAttributes"]["trace"]["binaryListValues"] == []
    assert record["md5OfBody"] == hashlib.md5(body.encode()).hexdigest()  # noqa: S324
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == f"arn:aws:sqs:us-east-1:123456789012:{ping_stack.naming.queue('consumer', 'pings')}"
    assert record["awsRegion"] == "us-east-1"


def test_sqs_lambda_record_computes_the_body_md5_when_sqs_gave_none() -> None:
    message = {"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": "hello"}

    record = sqs_lambda_record(message, "arn:aws:sqs:eu-west-1:123456789012:q", "eu-west-1")

    assert record["md5OfBody"] == "5d41402abc4b2a76b9719d911017c592"
    assert record["attributes"] == {}
    assert record["messageAttributes"] == {}
    assert record["awsRegion"] == "eu-west-1"


def test_a_binary_message_attribute_arrives_base64_encoded_as_on_lambda(ping_stack: PingStack) -> None:
    send(ping_stack, "with a blob", attributes={"blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01raw"}})
    [message] = ping_stack.sqs.receive_message(QueueUrl=ping_stack.queue_url, MessageAttributeNames=["All"])["Messages"]

    record = sqs_lambda_record(message, ping_stack.queue_arn, "us-east-1")

    assert record["messageAttributes"]["blob"]["dataType"] == "Binary"
    assert record["messageAttributes"]["blob"]["binaryValue"] == base64.b64encode(b"\x00\x01raw").decode()
    json.dumps(record)


def test_poll_once_deletes_only_the_records_that_succeeded(ping_stack: PingStack) -> None:
    bodies = [eventbridge_body(ping(n)) for n in (1, 2, 3)]
    ids = send(ping_stack, *bodies)
    failing = ids[bodies[1]]
    batches: list[list[dict[str, Any]]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        batches.append(event["Records"])
        if len(batches) == 1:
            return {"batchItemFailures": [{"itemIdentifier": failing}]}
        return {"batchItemFailures": []}

    source = source_for(ping_stack, handler)

    assert source.poll_once() == 3
    assert [r["messageId"] for r in batches[0]] == [ids[b] for b in bodies]
    # Visible or still in flight: with a 1 s visibility timeout the failure may already be visible
    # again, so only the sum is certain.
    assert sum(ping_stack.depth()) == 1, "the two successes were deleted; the failure is kept for a retry"

    assert eventually(lambda: source.poll_once(wait_seconds=1), timeout=15, what="the failed message to come back") == 1
    [retried] = batches[1]
    assert retried["messageId"] == failing
    assert retried["body"] == bodies[1]
    assert retried["attributes"]["ApproximateReceiveCount"] == "2"
    assert ping_stack.depth() == (0, 0)
    assert (source.stats.invocations, source.stats.records, source.stats.failed_records) == (2, 4, 1)


def test_a_handler_that_raises_returns_the_whole_batch_until_the_redrive_policy_moves_it_to_the_dlq(
    ping_stack: PingStack,
) -> None:
    bodies = [eventbridge_body(ping(n)) for n in (1, 2)]
    send(ping_stack, *bodies)
    seen: Counter[str] = Counter()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.update(r["body"] for r in event["Records"])
        raise RuntimeError("boom")

    source = source_for(ping_stack, handler)

    assert source.poll_once() == 2
    assert sum(ping_stack.depth()) == 2, "nothing was deleted (visible again or still in flight)"

    def moved_to_the_dlq() -> bool:
        if ping_stack.depth(ping_stack.dlq_url)[0] == 2:
            return True
        source.poll_once(wait_seconds=1)
        return False

    eventually(moved_to_the_dlq, timeout=30, what="the messages to reach the DLQ")

    assert seen == dict.fromkeys(bodies, ping_stack.max_receive_count)
    assert ping_stack.depth() == (0, 0)
    dead = ping_stack.sqs.receive_message(QueueUrl=ping_stack.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in dead) == sorted(bodies)
    assert source.stats.failed_records == 2 * ping_stack.max_receive_count


@pytest.mark.parametrize(
    ("response", "failed"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "c"}]}, {"a", "c"}),
        ("ok", {"a", "b", "c"}),
        (["a"], {"a", "b", "c"}),
        ({"batchItemFailures": "a"}, {"a", "b", "c"}),
        ({"batchItemFailures": [{"itemIdentifier": "z"}]}, {"a", "b", "c"}),
        ({"batchItemFailures": [{"itemIdentifier": "b"}, {"itemIdentifier": "z"}]}, {"a", "b", "c"}),
        ({"batchItemFailures": [{}]}, {"a", "b", "c"}),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"a", "b", "c"}),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, {"a", "b", "c"}),
        ({"batchItemFailures": [{"messageId": "b"}]}, {"a", "b", "c"}),
        ({"batchItemFailures": ["b"]}, {"a", "b", "c"}),
    ],
)
def test_batch_item_failures_reads_the_response_as_lambda_does(response: Any, failed: set[str]) -> None:
    assert _batch_item_failures(response, {"a", "b", "c"}) == failed


def test_a_null_batch_item_failures_list_is_a_complete_success() -> None:
    assert _batch_item_failures({"batchItemFailures": None}, {"a", "b"}) == set()


def test_the_duplicate_delivery_drill_sends_every_handled_message_once_more(ping_stack: PingStack) -> None:
    bodies = [eventbridge_body(ping(n)) for n in (1, 2, 3)]
    ids = send(ping_stack, *bodies, attributes={"trace": {"DataType": "String", "StringValue": "t-1"}})
    deliveries: list[dict[str, Any]] = []
    failed_once: set[str] = set()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        deliveries.extend(event["Records"])
        # The second message fails its first delivery: only a handled message is copied.
        failures = [r for r in event["Records"] if r["body"] == bodies[1] and r["body"] not in failed_once]
        failed_once.update(r["body"] for r in failures)
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in failures]}

    source = source_for(ping_stack, handler, duplicate_every_message=True)
    for _ in range(15):
        if len(deliveries) >= 7 and ping_stack.depth() == (0, 0):
            break
        source.poll_once(wait_seconds=1)
    else:
        raise AssertionError(f"the queue never drained: {len(deliveries)} deliveries")

    assert Counter(r["body"] for r in deliveries) == {bodies[0]: 2, bodies[1]: 3, bodies[2]: 2}
    for body in bodies:
        originals = [r for r in deliveries if r["body"] == body and DUPLICATE_ATTRIBUTE not in r["messageAttributes"]]
        copies = [r for r in deliveries if r["body"] == body and DUPLICATE_ATTRIBUTE in r["messageAttributes"]]
        assert {r["messageId"] for r in originals} == {ids[body]}
        assert len(copies) == 1, "a copy is not copied again"
        [copy] = copies
        assert copy["messageId"] != ids[body]
        assert copy["messageAttributes"][DUPLICATE_ATTRIBUTE]["stringValue"] == ids[body]
        assert copy["messageAttributes"]["trace"]["stringValue"] == "t-1", "the copy keeps the original's attributes"
    assert source.stats.duplicates_sent == 3


def test_the_function_timeout_is_capped_at_the_queues_visibility_timeout_as_on_aws(ping_stack: PingStack) -> None:
    remaining: list[int] = []
    source = source_for(ping_stack, lambda event, context: remaining.append(context.get_remaining_time_in_millis()))
    send(ping_stack, eventbridge_body(ping(1)))
    assert source.poll_once(wait_seconds=1) == 1
    # The ping queue's visibility timeout is 1 s; the source's own default (30 s) would outlive it.
    assert 0 < remaining[0] <= 1000


def test_the_drill_sends_as_many_copies_as_it_is_told_and_never_copies_a_copy(ping_stack: PingStack) -> None:
    body = eventbridge_body(ping(1))
    [original] = send(ping_stack, body).values()
    deliveries: list[dict[str, Any]] = []
    source = source_for(ping_stack, lambda event, context: deliveries.extend(event["Records"]), duplicate_every_message=lambda: 2)
    for _ in range(15):
        if len(deliveries) >= 3 and ping_stack.depth() == (0, 0):
            break
        source.poll_once(wait_seconds=1)
    else:
        raise AssertionError(f"the queue never drained: {len(deliveries)} deliveries")
    assert [r["body"] for r in deliveries] == [body] * 3, "the message, then two copies"
    assert [r["messageAttributes"].get(DUPLICATE_ATTRIBUTE, {}).get("stringValue") for r in deliveries[1:]] == [original] * 2
    assert source.stats.duplicates_sent == 2


def test_a_paused_source_hands_nothing_to_its_function_and_leaves_the_messages_visible(ping_stack: PingStack) -> None:
    paused = {"on": True}
    deliveries: list[dict[str, Any]] = []
    source = source_for(
        ping_stack,
        lambda event, context: deliveries.extend(event["Records"]),
        paused=lambda queue_name: paused["on"] and queue_name == ping_stack.queue_url.rsplit("/", 1)[1],
    )
    send(ping_stack, *(eventbridge_body(ping(n)) for n in range(3)))
    # Received while paused (a receive that was waiting when the pause began): put back at once.
    assert source.poll_once(wait_seconds=1) == 0
    assert deliveries == []
    assert ping_stack.depth() == (3, 0)
    paused["on"] = False
    assert source.poll_once(wait_seconds=1) == 3
    assert len(deliveries) == 3


def test_the_drill_through_a_real_subscriber_applies_each_event_once(ping_stack: PingStack) -> None:
    """EventBridge rule -> queue -> dispatcher -> Subscriber, with every message delivered twice."""
    applied: list[tuple[str, int]] = []

    def on_ping(event: DomainEvent, subscriber_id: str) -> None:
        assert isinstance(event.data, PingV1)
        applied.append((subscriber_id, event.data.n))

    subscriber = Subscriber(
        service=ping_stack.topology.service("consumer"),
        subscription="pings",
        registry=registry,
        naming=ping_stack.naming,
        handlers={"Ping": on_ping},
    )
    events = boto3.client("events")
    entries = [
        {
            "EventBusName": ping_stack.naming.bus,
            "Source": "shop.producer",
            "DetailType": "Ping",
            "Detail": json.dumps(ping(n).to_detail()),
        }
        for n in (1, 2)
    ]
    assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
    send(ping_stack, "not json")
    source = source_for(ping_stack, subscriber.handle, duplicate_every_message=True)

    for _ in range(15):
        source.poll_once(wait_seconds=1)
        if ping_stack.depth() == (0, 0) and source.stats.duplicates_sent == 3:
            break
    else:
        raise AssertionError("the queue never drained")

    assert sorted(applied) == [("consumer.pings", 1), ("consumer.pings", 2)]
    assert source.stats.records == 6, "two events and the poison message, each delivered twice"
    dead = ping_stack.sqs.receive_message(QueueUrl=ping_stack.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])[
        "Messages"
    ]
    assert [(m["Body"], m["MessageAttributes"][DEAD_LETTER_REASON]["StringValue"]) for m in dead] == [
        ("not json", "body is not JSON"),
        ("not json", "body is not JSON"),
    ]


def test_the_source_thread_polls_until_stopped(ping_stack: PingStack) -> None:
    bodies = [eventbridge_body(ping(n)) for n in (1, 2)]
    seen: list[str] = []
    stop = threading.Event()

    def handler(event: dict[str, Any], context: Any) -> None:
        assert isinstance(context, LambdaContext)
        assert context.function_name == "consumer-t-on_ping"
        seen.extend(r["body"] for r in event["Records"])

    source = source_for(ping_stack, handler, stop=stop)
    source.start()
    try:
        send(ping_stack, *bodies)
        eventually(lambda: len(seen) >= 2, timeout=15, what="both messages to be handled")
    finally:
        stop.set()
    source.join(timeout=15)
    assert not source.is_alive()

    assert sorted(seen) == sorted(bodies)
    assert ping_stack.depth() == (0, 0)
    assert source.stats.errors == []


def stream_source_for(stack: PingStack, handler: Any, *, stop: threading.Event) -> DynamoDbStreamSource:
    return DynamoDbStreamSource(
        streams=stack.streams, stream_arn=stack.stream_arn, handler=handler, function_name="consumer-t-relay", stop=stop
    )


@pytest.mark.parametrize("make_source", [source_for, stream_source_for], ids=["sqs", "stream"])
def test_the_source_thread_can_be_joined_after_stop(ping_stack: PingStack, make_source: Callable[..., threading.Thread]) -> None:
    stop = threading.Event()
    source = make_source(ping_stack, lambda event, context: None, stop=stop)
    source.start()
    stop.set()
    eventually(lambda: source not in threading.enumerate(), timeout=15, what="the thread to end")

    source.join(timeout=5)

    assert not source.is_alive()


def test_the_stream_source_delivers_lambda_records_and_retries_the_same_ones_after_a_failure(ping_stack: PingStack) -> None:
    ddb = ping_stack.dynamodb
    for n in range(3):
        ddb.put_item(TableName=ping_stack.table, Item={"pk": {"S": f"ITEM#{n}"}, "sk": {"S": "A"}, "n": {"N": str(n)}})
    batches: list[list[dict[str, Any]]] = []

    def relay(event: dict[str, Any], context: Any) -> None:
        batches.append(event["Records"])
        if len(batches) == 1:
            raise RuntimeError("relay failed")

    source = stream_source_for(ping_stack, relay, stop=threading.Event())

    assert source.poll_once() == 0, "the handler raised: nothing counts as delivered"
    assert source.poll_once() == 3
    assert batches[1] == batches[0], "the same records came again"
    records = batches[1]
    assert [r["dynamodb"]["NewImage"]["pk"]["S"] for r in records] == ["ITEM#0", "ITEM#1", "ITEM#2"]
    for record in records:
        assert record["eventName"] == "INSERT"
        assert record["eventSource"] == "aws:dynamodb"
        assert record["eventSourceARN"] == ping_stack.stream_arn
        assert record["awsRegion"] == "us-east-1"
        assert record["eventID"]
        created = record["dynamodb"]["ApproximateCreationDateTime"]
        assert isinstance(created, float | int)
        assert abs(created - time.time()) < 3600, "epoch seconds, as Lambda delivers them"
        assert record["dynamodb"]["Keys"] == {"pk": record["dynamodb"]["NewImage"]["pk"], "sk": {"S": "A"}}
    assert [r["dynamodb"]["NewImage"]["n"] for r in records] == [{"N": "0"}, {"N": "1"}, {"N": "2"}]
    json.dumps({"Records": records})  # the event is plain JSON, as Lambda's is

    assert source.poll_once() == 0
    assert len(batches) == 2, "nothing new: the handler is not called"

    ddb.put_item(TableName=ping_stack.table, Item={"pk": {"S": "ITEM#1"}, "sk": {"S": "A"}, "n": {"N": "10"}})
    assert source.poll_once() == 1
    [modified] = batches[2]
    assert modified["eventName"] == "MODIFY"
    assert modified["dynamodb"]["OldImage"]["n"] == {"N": "1"}
    assert modified["dynamodb"]["NewImage"]["n"] == {"N": "10"}
    assert (source.stats.invocations, source.stats.records, source.stats.failed_records) == (3, 7, 3)


def test_lambda_context_counts_down_from_its_timeout() -> None:
    context = LambdaContext("consumer-t-on_ping", timeout_seconds=30)

    first = context.get_remaining_time_in_millis()

    assert 0 < first <= 30_000
    eventually(lambda: context.get_remaining_time_in_millis() < first, timeout=5, interval=0.01, what="time to pass")
    assert context.function_name == "consumer-t-on_ping"
    assert context.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:consumer-t-on_ping"
    assert context.aws_request_id != LambdaContext("consumer-t-on_ping", 30).aws_request_id
    assert LambdaContext("expired", timeout_seconds=0).get_remaining_time_in_millis() == 0


def test_a_scheduled_source_hands_chalice_the_event_of_a_rate_rule() -> None:
    from chalice.app import Chalice, CloudWatchEvent, Rate

    from shop_devstack.dispatcher import ScheduledSource

    app = Chalice(app_name="scheduled")
    seen: list[CloudWatchEvent] = []

    @app.schedule(Rate(5, unit=Rate.MINUTES))
    def every_five_minutes(event: CloudWatchEvent) -> None:
        seen.append(event)

    source = ScheduledSource(
        handler=every_five_minutes,
        function_name="scheduled-dev-every_five_minutes",
        interval=60,
        region="us-east-1",
        stop=threading.Event(),
    )
    source.tick()

    (event,) = seen
    assert (event.detail_type, event.source, event.region, event.detail) == ("Scheduled Event", "aws.events", "us-east-1", {})
    assert event.resources == ["arn:aws:events:us-east-1:123456789012:rule/scheduled-dev-every_five_minutes"]
    assert source.stats.invocations == 1 and source.stats.errors == []


def test_a_scheduled_source_keeps_ticking_after_an_error_until_stopped() -> None:
    from shop_devstack.dispatcher import ScheduledSource

    calls: list[int] = []
    stop = threading.Event()

    def flaky(event: dict[str, Any], context: Any) -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("first tick fails")
        if len(calls) == 3:
            stop.set()

    source = ScheduledSource(handler=flaky, function_name="f", interval=0.01, region="us-east-1", stop=stop)
    source.start()
    source.join(timeout=10)

    assert not source.is_alive()
    assert calls == [0, 1, 2]
    assert source.stats.errors == ["RuntimeError('first tick fails')"]
