"""notify's three subscriptions through their Lambda entries (the Subscribers), with moto's SES, its
table and its bucket, and the fake CRM (shop_devstack.crm_kintone) on a thread."""

from __future__ import annotations

import json
import random
import threading
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from notify_events import cancelled, captured, delivered, dispatched, failed, new_order_id, recipient, refunded

from chalicelib.ledger import business_day, object_key
from chalicelib.once import SendKey
from shop_contracts.events import StockReservedV1
from shop_devstack.dispatcher import LambdaContext
from shop_devstack.testing import eventbridge_body, lambda_sqs_event, subscription_queue_arn
from shop_eventing.envelope import new_event


@pytest.fixture
def deliver(notify_app: ModuleType) -> Any:
    """Hand a batch to a subscriber the way Lambda's SQS event source would."""

    def handle(*bodies: str, subscription: str = "order-emails") -> dict[str, Any]:
        subscriber = {
            "order-emails": notify_app.email_subscriber,
            "crm-sync": notify_app.crm_subscriber,
            "sales-ledger": notify_app.ledger_subscriber,
        }[subscription]
        context = LambdaContext(f"shop-local-notify-{subscription}", timeout_seconds=30)
        event = lambda_sqs_event(*bodies, queue_arn=subscription_queue_arn("notify", subscription))
        return dict(subscriber.handle(event, context))

    return handle


@pytest.fixture
def dead_letters(notify_app: ModuleType) -> Any:
    """Drain a subscription's DLQ and return its messages (body, reason)."""
    sqs = notify_app.runtime.session.client("sqs")

    def drain(subscription: str = "order-emails") -> list[tuple[str, str]]:
        url = sqs.get_queue_url(QueueName=f"shop-local-notify-{subscription}-dlq")["QueueUrl"]
        found = []
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
                "Messages", []
            )
            if not messages:
                return found
            for message in messages:
                found.append((message["Body"], message["MessageAttributes"]["shop-dead-letter-reason"]["StringValue"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    drain()
    return drain


@pytest.fixture
def ses_requests(notify_app: ModuleType) -> Any:
    """The parameters of every SendEmail notify's SES client makes during the test (moto keeps only one body)."""
    seen: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(params)

    events = notify_app.ses.meta.events
    events.register("provide-client-params.ses.SendEmail", record)
    yield seen
    events.unregister("provide-client-params.ses.SendEmail", record)


# -- e-mail --------------------------------------------------------------------------------------------


def test_a_confirmation_is_sent_once_with_a_text_and_an_html_part_in_the_customers_language(deliver, aws, ses_requests):
    to, order_id = recipient(), new_order_id()

    assert deliver(eventbridge_body(captured(order_id, to, locale="en", currency="JPY", unit=1200))) == {"batchItemFailures": []}

    [email] = aws.sent_emails(to)
    assert email["source"] == "shop@example.com"
    assert email["subject"] == f"Your order {order_id} is confirmed"
    assert "<strong>¥2,900</strong>" in email["body"]  # moto keeps the HTML part
    [request] = [r for r in ses_requests if r["Destination"]["ToAddresses"] == [to]]
    body = request["Message"]["Body"]
    assert "We received your payment of ¥2,900" in body["Text"]["Data"]
    assert body["Html"]["Data"].startswith("<!DOCTYPE html>")
    assert body["Text"]["Charset"] == body["Html"]["Charset"] == "UTF-8"


@pytest.mark.parametrize(
    ("build", "subject"),
    [
        (lambda order, to: failed(order, to, locale="ja"), "お支払いを完了できませんでした（注文番号 {order}）"),
        (
            lambda order, to: dispatched(order, to, locale="ja", url="https://track.example/1"),
            "ご注文の商品を発送しました（注文番号 {order}）",
        ),
        (lambda order, to: delivered(order, to, locale="en"), "Your order {order} was delivered"),
        (cancelled, "ご注文をキャンセルしました（注文番号 {order}）"),
        (lambda order, to: refunded(order, to, locale="en"), "Your refund for order {order}"),
    ],
)
def test_every_customer_visible_event_sends_its_email(deliver, aws, build, subject):
    to, order_id = recipient(), new_order_id()

    deliver(eventbridge_body(build(order_id, to)))

    [email] = aws.sent_emails(to)
    assert email["subject"] == subject.format(order=order_id)


def test_the_same_event_delivered_twice_replayed_or_twice_in_a_batch_sends_one_email(deliver, aws):
    to = recipient()
    event = captured(new_order_id(), to)

    first = deliver(eventbridge_body(event), eventbridge_body(event))
    again = deliver(eventbridge_body(event))
    replayed = deliver(eventbridge_body(event, envelope_id="a-new-envelope-for-the-replay"))

    assert first == again == replayed == {"batchItemFailures": []}
    assert len(aws.sent_emails(to)) == 1


def test_the_send_is_recorded_with_ses_message_id(deliver, aws, notify_app):
    to = recipient()
    event = captured(new_order_id(), to)

    deliver(eventbridge_body(event))

    record = notify_app.send_records.record(SendKey(event.event_id, to))
    assert record["status"] == "sent"
    assert record["message_id"] and record["event_type"] == "PaymentCaptured"


def test_two_different_events_for_one_customer_send_two_emails(deliver, aws):
    to = recipient()

    deliver(eventbridge_body(captured(new_order_id(), to)), eventbridge_body(captured(new_order_id(), to)))

    assert len(aws.sent_emails(to)) == 2


def test_a_send_ses_refuses_is_retried_and_then_sent_exactly_once(deliver, aws, notify_app, monkeypatch):
    """SES refuses (unverified sender): the claim is released, the record retried, and the retry sends one e-mail."""
    to = recipient()
    body = eventbridge_body(captured(new_order_id(), to))
    monkeypatch.setattr(notify_app.mailer, "_sender", "nobody@unverified.example")

    with pytest.raises(BatchProcessingError):  # every record failed: the batch goes back, as a raised Lambda error does
        deliver(body)
    assert aws.sent_emails(to) == []
    monkeypatch.undo()

    assert deliver(body) == {"batchItemFailures": []}
    assert len(aws.sent_emails(to)) == 1


def test_the_crash_window_between_ses_and_its_record_leaves_one_email_and_an_unconfirmed_record(
    deliver, aws, notify_app, monkeypatch
):
    """The injected failure comes after SES accepted the e-mail and before the record says `sent`, as a
    crash there would. What remains, asserted: the customer has the e-mail once; notify's record says
    `unconfirmed`; no later delivery sends it again."""
    to = recipient()
    event = captured(new_order_id(), to)
    body = eventbridge_body(event)
    now = 1_900_000_000_000
    monkeypatch.setattr(notify_app, "clock", lambda: now)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("process died between SES and the record")

    monkeypatch.setattr(notify_app.send_records, "mark_sent", crash)
    with pytest.raises(BatchProcessingError):
        deliver(body)
    monkeypatch.undo()
    assert len(aws.sent_emails(to)) == 1
    key = SendKey(event.event_id, to)
    assert notify_app.send_records.record(key)["status"] == "sending"

    # SQS redelivers after the visibility timeout; the lease (that timeout) is over by then.
    monkeypatch.setattr(notify_app, "clock", lambda: now + notify_app.lease_ms("order-emails") + 1)
    assert deliver(body) == {"batchItemFailures": []}
    assert deliver(eventbridge_body(event, envelope_id="redriven")) == {"batchItemFailures": []}

    record = notify_app.send_records.record(key)
    assert record["status"] == "unconfirmed"
    assert "died" in record["reason"]
    assert len(aws.sent_emails(to)) == 1


def test_a_claim_lasts_no_longer_than_the_invocation_that_made_it(deliver, aws, notify_app, monkeypatch):
    """A queue whose visibility timeout (and so its function's timeout) is shorter than the topology's
    (the embedded stack's 3 s): the claim of an attempt that died ends with that attempt's time, so the
    redelivery settles it instead of finding it in progress until the message is dead-lettered."""
    to = recipient()
    event = captured(new_order_id(), to)
    body = eventbridge_body(event)
    now = 1_900_000_000_000
    monkeypatch.setattr(notify_app, "clock", lambda: now)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("process died between SES and the record")

    monkeypatch.setattr(notify_app.send_records, "mark_sent", crash)
    short = LambdaContext("shop-local-notify-order-emails", timeout_seconds=3)
    with pytest.raises(BatchProcessingError):
        notify_app.email_subscriber.handle(
            lambda_sqs_event(body, queue_arn=subscription_queue_arn("notify", "order-emails")), short
        )
    monkeypatch.undo()
    key = SendKey(event.event_id, to)
    assert now < int(notify_app.send_records.record(key)["lease_until_ms"]) <= now + 3000

    monkeypatch.setattr(notify_app, "clock", lambda: now + 3001)
    assert deliver(body) == {"batchItemFailures": []}
    assert notify_app.send_records.record(key)["status"] == "unconfirmed"
    assert len(aws.sent_emails(to)) == 1


def test_a_delivery_that_finds_a_live_claim_sends_nothing_and_comes_back_later(deliver, aws, notify_app, monkeypatch):
    to = recipient()
    event = captured(new_order_id(), to)
    monkeypatch.setattr(notify_app, "clock", lambda: 1_900_000_000_000)
    notify_app.send_records.claim(SendKey(event.event_id, to), "another-delivery", 1_900_000_000_000, 1_900_000_030_000, "x")

    result = deliver(eventbridge_body(event), eventbridge_body(captured(new_order_id(), recipient())))

    assert len(result["batchItemFailures"]) == 1
    assert aws.sent_emails(to) == []


def test_an_unreadable_record_goes_to_the_dlq_and_its_neighbour_is_sent(deliver, aws, dead_letters):
    to = recipient()

    result = deliver("this is not json", eventbridge_body(captured(new_order_id(), to)))

    assert result == {"batchItemFailures": []}
    assert len(aws.sent_emails(to)) == 1
    assert dead_letters() == [("this is not json", "body is not JSON")]


def test_an_event_the_subscription_does_not_take_goes_to_the_dlq(deliver, aws, dead_letters):
    order_id = new_order_id()
    body = eventbridge_body(
        new_event(StockReservedV1(order_id=order_id, lines=[]), producer="shop.catalog", correlation_id=order_id)
    )

    assert deliver(body) == {"batchItemFailures": []}
    [(parked, reason)] = dead_letters()
    assert parked == body
    assert reason == "notify.order-emails does not accept StockReserved v1"


def test_an_event_breaking_its_contract_goes_to_the_dlq_without_an_email(deliver, aws, dead_letters):
    to = recipient()
    envelope = json.loads(eventbridge_body(captured(new_order_id(), to)))
    envelope["detail"]["data"]["amount"]["amount"] = -5

    assert deliver(json.dumps(envelope)) == {"batchItemFailures": []}
    assert aws.sent_emails(to) == []
    [(_, reason)] = dead_letters()
    assert reason.startswith("PaymentCaptured v1 data: amount.amount")


# -- CRM -----------------------------------------------------------------------------------------------


def crm_records(aws: Any, order_id: str) -> list[dict[str, str]]:
    return list(aws.crm.crm.records(order_id=order_id))


def test_the_crm_gets_one_record_per_order_that_follows_its_events(deliver, aws):
    order_id = new_order_id()

    deliver(eventbridge_body(captured(order_id, currency="JPY", unit=1200)), subscription="crm-sync")
    deliver(eventbridge_body(dispatched(order_id)), subscription="crm-sync")

    [record] = crm_records(aws, order_id)
    assert record["status"] == "shipped"
    assert (record["paid_amount"], record["currency"], record["tracking_number"]) == ("2900", "JPY", "4912-3456-7890")
    assert record["customer_email"] == "ada@example.com"
    assert record["$revision"] == "2"


def test_a_stale_event_does_not_overwrite_the_crms_newer_state(deliver, aws):
    order_id = new_order_id()

    deliver(eventbridge_body(delivered(order_id, minutes=120)), subscription="crm-sync")
    deliver(eventbridge_body(captured(order_id, minutes=0)), subscription="crm-sync")
    deliver(eventbridge_body(dispatched(order_id, minutes=60)), subscription="crm-sync")

    [record] = crm_records(aws, order_id)
    assert (record["status"], record["last_event_type"], record["paid_amount"]) == ("delivered", "ShipmentDelivered", "2500")


def test_crm_down_fails_the_message_and_the_retry_catches_up_without_a_duplicate_record(deliver, aws):
    order_id = new_order_id()
    body = eventbridge_body(captured(order_id))
    aws.crm.crm.outage(requests=2)

    for _ in range(2):  # SQS would redeliver after each visibility timeout
        with pytest.raises(BatchProcessingError):
            deliver(body, subscription="crm-sync")
    assert crm_records(aws, order_id) == []

    assert deliver(body, subscription="crm-sync") == {"batchItemFailures": []}
    assert deliver(body, subscription="crm-sync") == {"batchItemFailures": []}  # and a duplicate after that

    [record] = crm_records(aws, order_id)
    assert record["status"] == "paid"


def test_a_crm_failure_fails_only_its_record_in_the_batch(deliver, aws):
    first, second = new_order_id(), new_order_id()
    aws.crm.crm.outage(requests=1)

    result = deliver(eventbridge_body(captured(first)), eventbridge_body(captured(second)), subscription="crm-sync")

    assert len(result["batchItemFailures"]) == 1
    assert crm_records(aws, first) == []
    assert len(crm_records(aws, second)) == 1


def test_on_aws_the_crm_token_comes_from_its_ssm_parameter(deliver, aws, notify_app, monkeypatch):
    name = "/shop/local/notify/crm-api-token"
    boto3.client("ssm").put_parameter(Name=name, Value=aws.crm.crm.token, Type="SecureString", Overwrite=True)
    monkeypatch.delenv("SHOP_CRM_API_TOKEN")
    monkeypatch.setenv("SHOP_CRM_API_TOKEN_PARAMETER", name)
    notify_app.crm_client.cache_clear()
    order_id = new_order_id()
    try:
        assert deliver(eventbridge_body(captured(order_id)), subscription="crm-sync") == {"batchItemFailures": []}
    finally:
        notify_app.crm_client.cache_clear()

    assert len(crm_records(aws, order_id)) == 1


def test_without_the_crms_settings_the_message_fails_and_waits_for_them(deliver, aws, notify_app, monkeypatch):
    monkeypatch.delenv("SHOP_CRM_URL")
    notify_app.crm_client.cache_clear()
    order_id = new_order_id()
    try:
        with pytest.raises(BatchProcessingError):
            deliver(eventbridge_body(captured(order_id)), subscription="crm-sync")
    finally:
        notify_app.crm_client.cache_clear()

    assert crm_records(aws, order_id) == []


# -- sales ledger --------------------------------------------------------------------------------------


def a_day_of_its_own() -> int:
    """Minutes after T0 that put the test's events on a business day no other test uses."""
    return random.randrange(1, 20_000) * 24 * 60


def ledger_object(aws: Any, event: Any) -> list[dict[str, Any]]:
    s3 = boto3.client("s3")
    body = s3.get_object(Bucket="shop-local-notify-ledger", Key=object_key(business_day(event.metadata.occurred_at)))[
        "Body"
    ].read()
    return [json.loads(line) for line in body.decode().splitlines()]


def test_a_sale_and_its_refund_are_lines_of_the_days_object_once_however_often_delivered(deliver, aws):
    day = a_day_of_its_own()
    order_id = new_order_id()
    sale, refund = captured(order_id, minutes=day), refunded(order_id, amount=500, total=500, full=False, minutes=day + 1)

    deliver(eventbridge_body(sale), eventbridge_body(sale), subscription="sales-ledger")
    deliver(eventbridge_body(refund), subscription="sales-ledger")
    deliver(eventbridge_body(sale, envelope_id="replayed"), subscription="sales-ledger")

    lines = ledger_object(aws, sale)
    assert [(line["type"], line.get("sku"), line["amount"], line["event_id"]) for line in lines] == [
        ("sale", "BOX", 2000, sale.event_id),
        ("sale", "FILM", 500, sale.event_id),
        ("refund", None, 500, refund.event_id),
    ]


def test_concurrent_deliveries_for_one_day_all_end_up_in_its_object(deliver, aws):
    day = a_day_of_its_own()
    events = [captured(new_order_id(), minutes=day + n) for n in range(6)]
    errors: list[BaseException] = []

    def book(event: Any) -> None:
        try:
            assert deliver(eventbridge_body(event), subscription="sales-ledger") == {"batchItemFailures": []}
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=book, args=(event,)) for event in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    lines = ledger_object(aws, events[0])
    assert sorted({line["event_id"] for line in lines}) == sorted(event.event_id for event in events)
    assert len(lines) == 2 * len(events)


# -- the rest ------------------------------------------------------------------------------------------


def test_health(notify_app):
    from chalice.test import Client

    with Client(notify_app.app) as client:
        response = client.http.get("/health")

    assert response.status_code == 200
    assert json.loads(response.body) == {"status": "ok", "service": "notify"}


def test_every_subscriber_leaves_the_processed_marker_that_reconcile_reads(notify_app: ModuleType) -> None:
    """notify's handlers guard their effects with their own records, so no marker is written unless the
    subscriber is told to write it after the handler: without it `shop reconcile` would report every
    event a notify subscription handled as missed (video-emails and show-reminders once did)."""
    from shop_contracts import TOPOLOGY
    from shop_eventing.consumer import Subscriber

    subscribers = [value for value in vars(notify_app).values() if isinstance(value, Subscriber)]
    assert sorted(s.id for s in subscribers) == sorted(f"notify.{s.name}" for s in TOPOLOGY.service("notify").subscriptions)
    assert [s.id for s in subscribers if not s._marks_after_handler] == []
