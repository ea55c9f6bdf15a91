"""notify's consumer contracts, consumer side: every example it declares (consumer-contracts/) goes
through the Lambda function the app registers for that subscription and sends its e-mail. Why: see
shop_devstack.contract_testing."""

from __future__ import annotations

import uuid
from types import ModuleType
from typing import Any

import pytest

from chalicelib.emails import format_money
from shop_contracts.events import Money
from shop_devstack.contract_testing import (
    Consumer,
    ConsumerContractTests,
    Scenario,
    as_new_event_about_a_new_order,
)

SERVICE = "notify"


def to_a_new_customer(aws: Any, example: dict[str, Any]) -> dict[str, Any]:
    """The example with its own event_id, order and recipient, so its e-mail is the only one sent to them."""
    return as_new_event_about_a_new_order(example, customer_email=f"buyer-{uuid.uuid4().hex[:10]}@example.com")


def the_email(aws: Any, detail: dict[str, Any]) -> dict[str, Any]:
    to = detail["data"]["customer_email"]
    emails = aws.sent_emails(to)
    assert len(emails) == 1, f"{len(emails)} e-mails to {to}, expected one; if none, its DLQ reason is in the log above"
    return dict(emails[0])


def confirmation_was_sent(aws: Any, detail: dict[str, Any]) -> None:
    email = the_email(aws, detail)
    paid = detail["data"]
    assert email["subject"] == f"Your order {paid['order_id']} is confirmed"
    assert format_money(Money.model_validate(paid["amount"])) in email["body"]
    for line in paid["lines"]:
        assert f"{line['quantity']} x {line['name']}" in email["body"]


def failure_notice_was_sent(aws: Any, detail: dict[str, Any]) -> None:
    email = the_email(aws, detail)
    assert email["subject"] == f"We could not take payment for order {detail['data']['order_id']}"
    assert detail["data"]["reason"] in email["body"]


@pytest.fixture
def consumer(notify_app: ModuleType, aws: Any) -> Consumer[Any]:
    # notify keeps no processed-marker (SES is its only effect): the one e-mail proves the event was applied,
    # since an unusable event is parked in the DLQ without a batch failure.
    return Consumer(aws, notify_app, markers_in=None)


class TestNotifyAsConsumer(ConsumerContractTests):
    SERVICE = SERVICE
    SCENARIOS = {
        "notify.order-emails:PaymentCaptured.v1": Scenario(to_a_new_customer, confirmation_was_sent),
        "notify.order-emails:PaymentFailed.v1": Scenario(to_a_new_customer, failure_notice_was_sent),
    }
