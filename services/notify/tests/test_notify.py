"""The order e-mails through the Lambda entry (the Subscriber), with moto's SES as the mail server:
one e-mail per order outcome however often the event arrives."""

from __future__ import annotations

import json
import uuid
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from shop_contracts.events import Money, OrderLine, PaymentCapturedV1, PaymentFailedV1, StockReservedV1
from shop_devstack.dispatcher import LambdaContext
from shop_devstack.testing import eventbridge_body, lambda_sqs_event, subscription_queue_arn
from shop_eventing.envelope import DomainEvent, EventData, new_event

QUEUE_ARN = subscription_queue_arn("notify", "order-emails")


def recipient() -> str:
    return f"buyer-{uuid.uuid4().hex[:10]}@example.com"


def orders_event(data: EventData, order_id: str) -> DomainEvent:
    return new_event(data, producer="shop.orders", correlation_id=order_id)


def payment_captured(to: str, amount: int = 2500, currency: str = "USD") -> DomainEvent:
    order_id = f"ord-{uuid.uuid4().hex[:10]}"
    data = PaymentCapturedV1(
        order_id=order_id,
        payment_id="ch_1",
        amount=Money(amount=amount, currency=currency),
        customer_email=to,
        lines=[
            OrderLine(
                sku="BOX", name="Blu-ray box", kind="physical", quantity=1, unit_price=Money(amount=amount, currency=currency)
            )
        ],
        shipping_address="1 Main St",
    )
    return orders_event(data, order_id)


def payment_failed(to: str) -> DomainEvent:
    order_id = f"ord-{uuid.uuid4().hex[:10]}"
    data = PaymentFailedV1(order_id=order_id, amount=Money(amount=700, currency="USD"), customer_email=to, reason="card_declined")
    return orders_event(data, order_id)


@pytest.fixture
def deliver(notify_app: ModuleType) -> Any:
    """Hand a batch to the subscriber the way Lambda's SQS event source would."""

    def handle(*bodies: str) -> dict[str, Any]:
        context = LambdaContext("shop-local-notify-order-emails", timeout_seconds=30)
        return dict(notify_app.email_subscriber.handle(lambda_sqs_event(*bodies, queue_arn=QUEUE_ARN), context))

    return handle


@pytest.fixture
def dead_letters(notify_app: ModuleType) -> Any:
    """Drain the subscription's DLQ and return its messages (body, reason)."""
    sqs = notify_app.runtime.session.client("sqs")
    url = sqs.get_queue_url(QueueName="shop-local-notify-order-emails-dlq")["QueueUrl"]

    def drain() -> list[tuple[str, str]]:
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


def test_payment_captured_sends_one_confirmation(deliver, aws):
    to = recipient()
    event = payment_captured(to, amount=2500)

    result = deliver(eventbridge_body(event))

    assert result == {"batchItemFailures": []}
    [email] = aws.sent_emails(to)
    assert email["source"] == "shop@example.com"
    assert email["destinations"]["ToAddresses"] == [to]
    assert email["subject"] == f"Your order {event.data.order_id} is confirmed"
    assert "25.00 USD" in email["body"]


def test_the_same_event_delivered_twice_sends_one_email(deliver, aws):
    to = recipient()
    event = payment_captured(to)

    first = deliver(eventbridge_body(event))
    second = deliver(eventbridge_body(event))

    assert first == second == {"batchItemFailures": []}
    assert len(aws.sent_emails(to)) == 1


def test_the_same_event_twice_in_one_batch_sends_one_email(deliver, aws):
    to = recipient()
    event = payment_captured(to)

    result = deliver(eventbridge_body(event), eventbridge_body(event))

    assert result == {"batchItemFailures": []}
    assert len(aws.sent_emails(to)) == 1


def test_two_different_events_for_one_customer_send_two_emails(deliver, aws):
    to = recipient()

    deliver(eventbridge_body(payment_captured(to)), eventbridge_body(payment_captured(to)))

    assert len(aws.sent_emails(to)) == 2


def test_payment_failed_sends_one_failure_email(deliver, aws):
    to = recipient()
    event = payment_failed(to)

    deliver(eventbridge_body(event))
    deliver(eventbridge_body(event))

    [email] = aws.sent_emails(to)
    assert email["subject"] == f"We could not take payment for order {event.data.order_id}"
    assert "card_declined" in email["body"]


def test_a_yen_payment_is_written_without_minor_units(deliver, aws):
    to = recipient()

    deliver(eventbridge_body(payment_captured(to, amount=1500, currency="JPY")))

    [email] = aws.sent_emails(to)
    assert "1500 JPY" in email["body"]


def test_a_failed_send_is_retried_and_then_sends_exactly_once(deliver, aws, notify_app, monkeypatch):
    """SES refuses (unverified sender): the record is reported for retry, and the retry sends one e-mail."""
    to = recipient()
    event = payment_captured(to)
    monkeypatch.setattr(notify_app.mailer, "_sender", "nobody@unverified.example")
    body = eventbridge_body(event)

    # Every record failed: the whole batch goes back to the queue, as a raised Lambda error does.
    with pytest.raises(BatchProcessingError):
        deliver(body)

    assert aws.sent_emails(to) == []
    monkeypatch.undo()

    retried = deliver(body)

    assert retried == {"batchItemFailures": []}
    assert len(aws.sent_emails(to)) == 1


def test_an_unreadable_record_goes_to_the_dlq_and_its_neighbour_is_sent(deliver, aws, dead_letters):
    to = recipient()

    result = deliver("this is not json", eventbridge_body(payment_captured(to)))

    assert result == {"batchItemFailures": []}
    assert len(aws.sent_emails(to)) == 1
    assert dead_letters() == [("this is not json", "body is not JSON")]


def test_an_event_the_subscription_does_not_take_goes_to_the_dlq(deliver, aws, dead_letters):
    order_id = f"ord-{uuid.uuid4().hex[:10]}"
    body = eventbridge_body(orders_event(StockReservedV1(order_id=order_id, lines=[]), order_id))

    result = deliver(body)

    assert result == {"batchItemFailures": []}
    [(parked, reason)] = dead_letters()
    assert parked == body
    assert reason == "notify.order-emails does not accept StockReserved v1"


def test_an_event_breaking_its_contract_goes_to_the_dlq_without_an_email(deliver, aws, dead_letters):
    to = recipient()
    envelope = json.loads(eventbridge_body(payment_captured(to)))
    envelope["detail"]["data"]["amount"]["amount"] = -5
    body = json.dumps(envelope)

    result = deliver(body)

    assert result == {"batchItemFailures": []}
    assert aws.sent_emails(to) == []
    [(_, reason)] = dead_letters()
    assert reason.startswith("PaymentCaptured v1 data: amount.amount")


def test_health(notify_app):
    from chalice.test import Client

    with Client(notify_app.app) as client:
        response = client.http.get("/health")

    assert response.status_code == 200
    assert json.loads(response.body) == {"status": "ok", "service": "notify"}
