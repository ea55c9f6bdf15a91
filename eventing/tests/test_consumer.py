"""Subscriber: SQS batch in, `batchItemFailures` out, poison to the DLQ, effects once per event_id.

Every test gets a fresh in-process moto server with a small topology provisioned on it: a producer
publishing Ping (v1 and v3) and a consumer with two subscriptions that accept Ping v1 only.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from shop_devstack.testing import embedded_aws, eventbridge_body, lambda_sqs_event, raw_eventbridge_body
from shop_eventing.consumer import DEAD_LETTER_REASON, Handler, Subscriber, failure_record_key
from shop_eventing.envelope import DomainEvent, EventData, EventRegistry, new_event
from shop_eventing.outbox import AlreadyProcessed, UnitOfWork, from_dynamodb, processed_marker_key, to_dynamodb
from shop_eventing.topology import EventRef, Naming, ServiceSpec, Subscription, Topology
from shop_infra.provision import Provisioned, provision
from shop_infra.resources import LocalOverrides

registry = EventRegistry()


@registry.register("Ping", 1)
class PingV1(EventData):
    n: int


@registry.register("Ping", 3)
class PingV3(EventData):
    """Registered and published, but the consumer's subscriptions accept v1 only."""

    n: int


PRODUCER = ServiceSpec(name="producer", publishes=(EventRef("Ping", (1, 3)),))
CONSUMER = ServiceSpec(
    name="consumer",
    subscriptions=(
        Subscription(name="pings", events=(EventRef("Ping"),), max_receive_count=2),
        Subscription(name="audit", events=(EventRef("Ping"),), max_receive_count=2),
    ),
)
TOPOLOGY = Topology(services=(PRODUCER, CONSUMER))
SUBSCRIBER_ID = "consumer.pings"
SOURCE = "shop.producer"


class FakeContext:
    """What powertools reads from a Lambda context."""

    function_name = "consumer-t-on_ping"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class Aws:
    naming: Naming
    provisioned: Provisioned
    sqs: Any
    dynamodb: Any

    @property
    def table(self) -> str:
        return str(self.naming.table("consumer"))

    def queue_url(self, subscription: str = "pings") -> str:
        return self.provisioned.queue_urls[("consumer", subscription)]

    def dlq_url(self, subscription: str = "pings") -> str:
        return self.provisioned.dlq_urls[("consumer", subscription)]

    def queue_arn(self, subscription: str = "pings") -> str:
        url = self.queue_url(subscription)
        return str(self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    def drain(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message in a queue (received and deleted), with its message attributes."""
        found: list[dict[str, Any]] = []
        for _ in range(20):
            batch = self.sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                return found
            found.extend(batch)
            for message in batch:
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        raise AssertionError(f"{queue_url} did not drain")

    def idempotency_records(self) -> list[dict[str, Any]]:
        items = self.dynamodb.scan(TableName=self.table)["Items"]
        return [item for item in items if item["pk"]["S"].startswith("IDEMPOTENCY#")]


@pytest.fixture
def aws() -> Iterator[Aws]:
    with embedded_aws():
        # A stage of its own: moto's backends are process-wide, so a new server still holds what
        # earlier tests in this process made (see devstack/tests/test_dispatcher.py).
        naming = Naming(stage=f"t{uuid.uuid4().hex[:8]}")
        provisioned = provision(TOPOLOGY, naming, overrides=LocalOverrides(visibility_timeout_seconds=1))
        yield Aws(naming=naming, provisioned=provisioned, sqs=boto3.client("sqs"), dynamodb=boto3.client("dynamodb"))


def ping(n: int, *, event_id: str | None = None) -> DomainEvent:
    return new_event(PingV1(n=n), producer=SOURCE, correlation_id="c-1", event_id=event_id)


def raw_ping_body(detail: object, *, detail_type: str = "Ping") -> str:
    """The EventBridge envelope of a Ping around any detail, valid or not."""
    return raw_eventbridge_body(detail, detail_type=detail_type, source=SOURCE)


class Recorder:
    """A handler that records what it applied, and can be told to fail for some events."""

    def __init__(self, fail: Callable[[DomainEvent], bool] = lambda _: False) -> None:
        self.calls: list[tuple[str, int, str]] = []
        self.applied: list[int] = []
        self._fail = fail

    def __call__(self, event: DomainEvent, subscriber_id: str) -> None:
        assert isinstance(event.data, PingV1)
        self.calls.append((event.event_id, event.data.n, subscriber_id))
        if self._fail(event):
            raise RuntimeError(f"handler failed on n={event.data.n}")
        self.applied.append(event.data.n)


def subscriber(aws: Aws, handler: Callable[[DomainEvent, str], None], subscription: str = "pings", **options: Any) -> Subscriber:
    return Subscriber(
        service=CONSUMER, subscription=subscription, registry=registry, naming=aws.naming, handlers={"Ping": handler}, **options
    )


def test_handlers_must_match_the_subscriptions_declared_event_types(aws: Aws) -> None:
    with pytest.raises(ValueError, match=r"consumer\.pings declares \['Ping'\] but handles \['Pong'\]"):
        Subscriber(service=CONSUMER, subscription="pings", registry=registry, naming=aws.naming, handlers={"Pong": Recorder()})


def test_a_failing_record_is_reported_alone_and_its_neighbours_are_handled_once(aws: Aws) -> None:
    handler = Recorder(fail=lambda event: event.data.n == 2)  # type: ignore[attr-defined]
    events = [ping(1), ping(2), ping(3)]
    batch = lambda_sqs_event(*map(eventbridge_body, events), queue_arn=aws.queue_arn())
    records = batch["Records"]
    assert len({r["messageId"] for r in records}) == 3

    response = subscriber(aws, handler).handle(batch, FakeContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": records[1]["messageId"]}]}
    assert handler.applied == [1, 3]
    assert handler.calls == [(e.event_id, e.data.n, SUBSCRIBER_ID) for e in events]  # type: ignore[attr-defined]
    assert aws.drain(aws.dlq_url()) == [], "a handler failure is retried by SQS, not dead-lettered"


def test_a_batch_where_every_record_fails_raises_so_the_whole_batch_is_retried(aws: Aws) -> None:
    handler = Recorder(fail=lambda _: True)
    batch = lambda_sqs_event(eventbridge_body(ping(1)), queue_arn=aws.queue_arn())

    with pytest.raises(BatchProcessingError):
        subscriber(aws, handler).handle(batch, FakeContext())

    assert len(handler.calls) == 1
    assert handler.applied == []
    assert aws.idempotency_records() == [], "the failed attempt left no idempotency record behind"


def test_poison_records_go_to_the_dlq_with_their_reason_and_the_batch_goes_on(aws: Aws) -> None:
    handler = Recorder()
    good = ping(7)
    unknown_type = {**ping(1).to_detail()}
    unknown_type["metadata"] = {**unknown_type["metadata"], "event_type": "Pong"}
    unregistered_version = {**ping(1).to_detail()}
    unregistered_version["metadata"] = {**unregistered_version["metadata"], "schema_version": 2}
    not_accepted = new_event(PingV3(n=1), producer=SOURCE, correlation_id="c-1")
    bad_data = {**ping(1).to_detail(), "data": {"n": "x"}}
    no_event_id = {**ping(1).to_detail()}
    no_event_id["metadata"] = {k: v for k, v in no_event_id["metadata"].items() if k != "event_id"}
    poison = {
        "not json": "body is not JSON",
        json.dumps({"version": "0", "id": "e-1", "detail-type": "Ping", "source": SOURCE}): (
            "body is not an EventBridge event with a detail object"
        ),
        json.dumps([1, 2]): "body is not an EventBridge event with a detail object",
        raw_ping_body("a string"): "body is not an EventBridge event with a detail object",
        raw_ping_body(unknown_type, detail_type="Pong"): "unknown event Pong v1",
        raw_ping_body(unregistered_version): "unknown event Ping v2",
        eventbridge_body(not_accepted): "consumer.pings does not accept Ping v3",
        raw_ping_body(bad_data): "Ping v1 data: n: Input should be a valid integer",
        raw_ping_body(no_event_id): "metadata: event_id: Field required",
    }
    bodies = list(poison)
    batch = lambda_sqs_event(*bodies[:4], eventbridge_body(good), *bodies[4:], queue_arn=aws.queue_arn())

    response = subscriber(aws, handler).handle(batch, FakeContext())

    assert response == {"batchItemFailures": []}
    assert handler.calls == [(good.event_id, 7, SUBSCRIBER_ID)]
    dead = {m["Body"]: m["MessageAttributes"] for m in aws.drain(aws.dlq_url())}
    assert set(dead) == set(poison), "every poison record is in the DLQ exactly as it arrived"
    message_ids = {r["body"]: r["messageId"] for r in batch["Records"]}
    for body, expected_reason in poison.items():
        attributes = dead[body]
        reason = attributes[DEAD_LETTER_REASON]
        assert reason["DataType"] == "String"
        assert reason["StringValue"].startswith(expected_reason), (body, reason["StringValue"])
        assert attributes["shop-subscriber"]["StringValue"] == SUBSCRIBER_ID
        assert attributes["shop-original-message-id"]["StringValue"] == message_ids[body]
    assert aws.drain(aws.dlq_url("audit")) == [], "only the receiving subscription's DLQ gets its poison"
    assert [i["sk"]["S"].split("#")[0] for i in aws.idempotency_records()] == [SUBSCRIBER_ID]


def dead_letter_reasons(aws: Aws, subscription: str = "pings") -> dict[str, str]:
    """Body -> reason of every record in the subscription's DLQ (drained)."""
    return {m["Body"]: m["MessageAttributes"][DEAD_LETTER_REASON]["StringValue"] for m in aws.drain(aws.dlq_url(subscription))}


def test_an_envelope_that_contradicts_its_detail_is_dead_lettered_not_handled(aws: Aws) -> None:
    handler = Recorder()
    good = ping(1)
    routed_as_pong = raw_eventbridge_body(ping(2).to_detail(), detail_type="Pong", source=SOURCE)
    # Checked before the contract: the mismatch is the reason even when the detail is broken too.
    broken_and_routed_as_pong = raw_eventbridge_body(
        {**ping(3).to_detail(), "data": {"n": "x"}}, detail_type="Pong", source=SOURCE
    )
    from_an_intruder = raw_eventbridge_body(ping(4).to_detail(), detail_type="Ping", source="shop.intruder")
    batch = lambda_sqs_event(
        routed_as_pong, eventbridge_body(good), broken_and_routed_as_pong, from_an_intruder, queue_arn=aws.queue_arn()
    )

    response = subscriber(aws, handler).handle(batch, FakeContext())

    assert response == {"batchItemFailures": []}
    assert handler.applied == [1]
    assert dead_letter_reasons(aws) == {
        routed_as_pong: "detail-type 'Pong' disagrees with detail.metadata.event_type 'Ping'",
        broken_and_routed_as_pong: "detail-type 'Pong' disagrees with detail.metadata.event_type 'Ping'",
        from_an_intruder: "source 'shop.intruder' is not Ping's producer 'shop.producer'",
    }


def test_with_the_topology_the_source_must_be_the_event_types_producer_there(aws: Aws) -> None:
    # Envelope and metadata agree with each other, but the topology says Ping comes from shop.producer.
    impostor = new_event(PingV1(n=5), producer="shop.consumer", correlation_id="c-1")
    impostor_body = eventbridge_body(impostor)
    batch = lambda_sqs_event(impostor_body, eventbridge_body(ping(6)), queue_arn=aws.queue_arn())
    handler = Recorder()
    with_topology = subscriber(aws, handler, topology=TOPOLOGY)

    assert with_topology.handle(batch, FakeContext()) == {"batchItemFailures": []}

    assert handler.applied == [6]
    assert dead_letter_reasons(aws) == {impostor_body: "source 'shop.consumer' is not Ping's producer 'shop.producer'"}


def test_without_the_topology_an_envelope_agreeing_with_its_metadata_is_handled(aws: Aws) -> None:
    """The fallback check compares the envelope with the detail only: it stops contradictions, while
    which service may publish an event type is the topology's to say (and, on AWS, its rules')."""
    handler = Recorder()
    other_producer = new_event(PingV1(n=8), producer="shop.consumer", correlation_id="c-1")

    response = subscriber(aws, handler).handle(
        lambda_sqs_event(eventbridge_body(other_producer), queue_arn=aws.queue_arn()), FakeContext()
    )

    assert response == {"batchItemFailures": []}
    assert handler.applied == [8]
    assert aws.drain(aws.dlq_url()) == []


def test_the_same_event_redelivered_with_new_sqs_and_eventbridge_ids_is_applied_once(aws: Aws) -> None:
    handler = Recorder()
    first = ping(1)
    arn = aws.queue_arn()
    body_a = eventbridge_body(first)
    body_b = eventbridge_body(first)  # a replay or redrive: new EventBridge id
    assert json.loads(body_a)["id"] != json.loads(body_b)["id"]

    assert subscriber(aws, handler).handle(lambda_sqs_event(body_a, queue_arn=arn), FakeContext()) == {"batchItemFailures": []}
    # A second process (a fresh Subscriber) gets the copy under a different messageId.
    again = subscriber(aws, handler).handle(lambda_sqs_event(body_b, queue_arn=arn), FakeContext())

    assert again == {"batchItemFailures": []}
    assert handler.calls == [(first.event_id, 1, SUBSCRIBER_ID)]
    records = aws.idempotency_records()
    assert len(records) == 1
    assert records[0]["pk"]["S"] == f"IDEMPOTENCY#{SUBSCRIBER_ID}"
    assert records[0]["sk"]["S"].startswith(f"{SUBSCRIBER_ID}#"), "keyed on the stable subscriber id, not the module"
    assert records[0]["status"]["S"] == "COMPLETED"
    assert json.loads(records[0]["data"]["S"]) == {"status": "applied"}
    assert "expires_at" in records[0], "the record expires through the table's TTL attribute"

    second = ping(2)
    subscriber(aws, handler).handle(lambda_sqs_event(eventbridge_body(second), queue_arn=arn), FakeContext())

    assert handler.calls == [(first.event_id, 1, SUBSCRIBER_ID), (second.event_id, 2, SUBSCRIBER_ID)]
    assert len(aws.idempotency_records()) == 2


def test_the_same_event_twice_in_one_batch_is_applied_once(aws: Aws) -> None:
    handler = Recorder()
    event = ping(5)
    batch = lambda_sqs_event(eventbridge_body(event), eventbridge_body(event), queue_arn=aws.queue_arn())

    response = subscriber(aws, handler).handle(batch, FakeContext())

    assert response == {"batchItemFailures": []}
    assert handler.applied == [5]


def test_each_subscription_applies_the_same_event_once_on_its_own(aws: Aws) -> None:
    pings, audit = Recorder(), Recorder()
    event = ping(4)

    for handler, name in ((pings, "pings"), (audit, "audit")):
        for _ in range(2):
            batch = lambda_sqs_event(eventbridge_body(event), queue_arn=aws.queue_arn(name))
            assert subscriber(aws, handler, name).handle(batch, FakeContext()) == {"batchItemFailures": []}

    assert pings.calls == [(event.event_id, 4, "consumer.pings")]
    assert audit.calls == [(event.event_id, 4, "consumer.audit")]
    assert sorted(i["pk"]["S"] for i in aws.idempotency_records()) == ["IDEMPOTENCY#consumer.audit", "IDEMPOTENCY#consumer.pings"]


def test_a_handler_that_failed_runs_again_on_the_retry_and_applies_once(aws: Aws) -> None:
    failures = Counter[str]()

    def fail_once(event: DomainEvent) -> bool:
        failures[event.event_id] += 1
        return failures[event.event_id] == 1 and event.data.n == 1  # type: ignore[attr-defined]

    handler = Recorder(fail=fail_once)
    flaky, steady = ping(1), ping(2)
    arn = aws.queue_arn()
    batch = lambda_sqs_event(eventbridge_body(flaky), eventbridge_body(steady), queue_arn=arn)
    flaky_record = batch["Records"][0]
    consumer = subscriber(aws, handler)

    first = consumer.handle(batch, FakeContext())

    assert first == {"batchItemFailures": [{"itemIdentifier": flaky_record["messageId"]}]}
    assert handler.applied == [2]
    assert [i["data"]["S"] for i in aws.idempotency_records()] == [json.dumps({"status": "applied"})], (
        "the failed attempt's in-progress record was removed; only the steady event's record is left"
    )

    # SQS delivers the same message again after the visibility timeout: same messageId, receive count 2.
    retry = {
        **flaky_record,
        "receiptHandle": "handle-2",
        "attributes": {**flaky_record["attributes"], "ApproximateReceiveCount": "2"},
    }
    assert consumer.handle({"Records": [retry]}, FakeContext()) == {"batchItemFailures": []}
    assert handler.applied == [2, 1]
    assert [c[0] for c in handler.calls] == [flaky.event_id, steady.event_id, flaky.event_id]

    # A third copy (say, a duplicate delivery) changes nothing.
    assert consumer.handle(lambda_sqs_event(eventbridge_body(flaky), queue_arn=arn), FakeContext()) == {"batchItemFailures": []}
    assert handler.applied == [2, 1]
    assert len(handler.calls) == 3
    assert {i["status"]["S"] for i in aws.idempotency_records()} == {"COMPLETED"}


def test_a_handler_raising_already_processed_counts_as_success(aws: Aws) -> None:
    calls: list[str] = []

    def duplicate(event: DomainEvent, subscriber_id: str) -> None:
        calls.append(event.event_id)
        raise AlreadyProcessed()

    event = ping(1)
    batch = lambda_sqs_event(eventbridge_body(event), queue_arn=aws.queue_arn())

    assert subscriber(aws, duplicate).handle(batch, FakeContext()) == {"batchItemFailures": []}
    assert calls == [event.event_id]
    assert aws.drain(aws.dlq_url()) == []
    [stored] = aws.idempotency_records()
    assert json.loads(stored["data"]["S"]) == {"status": "duplicate"}


def counting_handler(aws: Aws, calls: list[str]) -> Handler:
    """A handler whose one effect, adding each Ping's n to a counter, commits with its processed-marker;
    it records every run in `calls`, so a test sees whether a repeat ran the handler again."""

    def count_ping(event: DomainEvent, subscriber_id: str) -> None:
        calls.append(event.event_id)
        assert isinstance(event.data, PingV1)
        uow = UnitOfWork(aws.dynamodb, aws.table, source="shop.consumer")
        uow.update({"pk": "COUNTER", "sk": "pings"}, "ADD #total :n", names={"#total": "total"}, values={":n": event.data.n})
        uow.mark_processed(subscriber_id, event)
        uow.commit()

    return count_ping


def test_the_processed_marker_holds_when_the_idempotency_record_was_lost(aws: Aws) -> None:
    """The process died after the handler's commit but before powertools saved its result."""
    ddb = aws.dynamodb
    calls: list[str] = []
    count_ping = counting_handler(aws, calls)

    event = ping(5)
    arn = aws.queue_arn()
    assert subscriber(aws, count_ping).handle(lambda_sqs_event(eventbridge_body(event), queue_arn=arn), FakeContext()) == {
        "batchItemFailures": []
    }
    marker = ddb.get_item(
        TableName=aws.table, Key={k: {"S": v} for k, v in processed_marker_key(SUBSCRIBER_ID, event.event_id).items()}
    )
    assert marker["Item"]["event_type"]["S"] == "Ping"
    [lost] = aws.idempotency_records()
    ddb.delete_item(TableName=aws.table, Key={"pk": lost["pk"], "sk": lost["sk"]})

    again = subscriber(aws, count_ping).handle(lambda_sqs_event(eventbridge_body(event), queue_arn=arn), FakeContext())

    assert again == {"batchItemFailures": []}
    assert calls == [event.event_id, event.event_id], "the handler ran again: powertools had no record"
    counter = ddb.get_item(TableName=aws.table, Key={"pk": {"S": "COUNTER"}, "sk": {"S": "pings"}})["Item"]
    assert counter["total"]["N"] == "5", "the effect committed once"
    [stored] = aws.idempotency_records()
    assert stored["status"]["S"] == "COMPLETED"
    assert json.loads(stored["data"]["S"]) == {"status": "duplicate"}
    assert aws.drain(aws.dlq_url()) == []


def test_a_subscriber_deduplicated_by_its_marker_applies_a_redelivery_once_without_powertools_records(aws: Aws) -> None:
    """Its handlers commit every effect with the processed-marker, so the marker alone de-duplicates:
    a repeat (in the same batch, or later from a fresh process) runs the handler, whose commit finds
    the marker and changes nothing; no idempotency record is written for it (decision 0012)."""
    ddb = aws.dynamodb
    calls: list[str] = []
    count_ping = counting_handler(aws, calls)

    def marker_only() -> Subscriber:
        return subscriber(aws, count_ping, deduplicated_by_marker=True)

    event, arn = ping(5), aws.queue_arn()
    twice = lambda_sqs_event(eventbridge_body(event), eventbridge_body(event), queue_arn=arn)
    assert marker_only().handle(twice, FakeContext()) == {"batchItemFailures": []}
    again = marker_only().handle(lambda_sqs_event(eventbridge_body(event), queue_arn=arn), FakeContext())

    assert again == {"batchItemFailures": []}
    assert calls == [event.event_id] * 3, "the handler ran each time; its commit found the marker"
    counter = ddb.get_item(TableName=aws.table, Key={"pk": {"S": "COUNTER"}, "sk": {"S": "pings"}})["Item"]
    assert counter["total"]["N"] == "5", "the effect committed once"
    assert aws.idempotency_records() == []
    assert aws.drain(aws.dlq_url()) == []


def test_a_failing_handler_leaves_its_reason_and_receive_count_where_operators_find_it(aws: Aws) -> None:
    """SQS moves a record whose handler keeps raising to the DLQ without saying why: the failure record
    in the subscriber's table keeps the last exception (read by `shop dlq show` and `shop trace`)."""
    broken, fine = ping(1), ping(2)
    handler = Recorder(fail=lambda event: event.event_id == broken.event_id)
    batch = lambda_sqs_event(eventbridge_body(broken), eventbridge_body(fine), queue_arn=aws.queue_arn())
    batch["Records"][0]["attributes"]["ApproximateReceiveCount"] = "4"

    subscriber(aws, handler).handle(batch, FakeContext())

    def failure(event: DomainEvent) -> dict[str, Any] | None:
        key = to_dynamodb(failure_record_key(SUBSCRIBER_ID, event.event_id))
        item = aws.dynamodb.get_item(TableName=aws.table, Key=key, ConsistentRead=True).get("Item")
        return from_dynamodb(item) if item else None

    record = failure(broken)
    assert record is not None
    assert record["reason"] == "RuntimeError: handler failed on n=1"
    assert (record["receive_count"], record["message_id"], record["event_type"]) == (4, batch["Records"][0]["messageId"], "Ping")
    assert failure(fine) is None


def test_a_subscriber_marking_after_its_handler_leaves_the_marker_a_marking_handler_would(aws: Aws) -> None:
    """notify's handlers guard their effects with their own records: the subscriber writes the
    processed-marker after them, so reconciliation reads every subscriber alike; a failing handler
    leaves none."""
    handled, broken = ping(1), ping(2)
    handler = Recorder(fail=lambda event: event.event_id == broken.event_id)
    batch = lambda_sqs_event(eventbridge_body(handled), eventbridge_body(broken), queue_arn=aws.queue_arn())

    subscriber(aws, handler, deduplicated_by_marker=True, marks_after_handler=True).handle(batch, FakeContext())

    def marker(event: DomainEvent) -> bool:
        key = to_dynamodb(processed_marker_key(SUBSCRIBER_ID, event.event_id))
        return "Item" in aws.dynamodb.get_item(TableName=aws.table, Key=key, ConsistentRead=True)

    assert handler.applied == [1]
    assert (marker(handled), marker(broken)) == (True, False)


def metric_lines(out: str) -> list[dict[str, Any]]:
    """The EMF lines among a run's stdout (the logger's JSON lines are there too)."""
    found = []
    for text in out.splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict) and "_aws" in line:
            found.append(line)
    return found


def counts(line: dict[str, Any]) -> dict[str, float]:
    names = [metric["Name"] for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    return {name: sum(line[name]) for name in names}


def test_each_batch_writes_what_it_handled_skipped_failed_and_dead_lettered_per_subscriber(
    aws: Aws, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "shop")
    handler = Recorder(fail=lambda event: event.data.n == 2)  # type: ignore[attr-defined]
    first, failing = ping(1), ping(2)
    arn = aws.queue_arn()
    consumer = subscriber(aws, handler)
    capsys.readouterr()

    consumer.handle(
        lambda_sqs_event(eventbridge_body(first), eventbridge_body(failing), "not json", queue_arn=arn), FakeContext()
    )
    # `first` redelivered: powertools' record answers for it, the handler does not run again.
    consumer.handle(lambda_sqs_event(eventbridge_body(first), eventbridge_body(ping(3)), queue_arn=arn), FakeContext())

    lines = metric_lines(capsys.readouterr().out)
    assert [counts(line) for line in lines] == [
        {"EventsHandled": 1, "DuplicatesSkipped": 0, "EventsFailed": 1, "EventsDeadLettered": 1},
        {"EventsHandled": 1, "DuplicatesSkipped": 1, "EventsFailed": 0, "EventsDeadLettered": 0},
    ]
    for line in lines:
        assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "shop"
        assert sorted(line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) == ["service", "subscriber"]
        assert (line["service"], line["subscriber"]) == ("shop.consumer", SUBSCRIBER_ID)


def test_a_repeat_the_processed_marker_stops_counts_as_a_skipped_duplicate(
    aws: Aws, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "shop")

    def duplicate(event: DomainEvent, subscriber_id: str) -> None:
        raise AlreadyProcessed()

    capsys.readouterr()
    subscriber(aws, duplicate).handle(lambda_sqs_event(eventbridge_body(ping(1)), queue_arn=aws.queue_arn()), FakeContext())

    [line] = metric_lines(capsys.readouterr().out)
    assert counts(line) == {"EventsHandled": 0, "DuplicatesSkipped": 1, "EventsFailed": 0, "EventsDeadLettered": 0}


def test_a_batch_that_fails_whole_still_writes_its_metrics(
    aws: Aws, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "shop")
    capsys.readouterr()

    with pytest.raises(BatchProcessingError):
        subscriber(aws, Recorder(fail=lambda _: True)).handle(
            lambda_sqs_event(eventbridge_body(ping(1)), queue_arn=aws.queue_arn()), FakeContext()
        )

    [line] = metric_lines(capsys.readouterr().out)
    assert counts(line)["EventsFailed"] == 1
