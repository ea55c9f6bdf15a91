"""notify's consumer contracts, consumer side: every example it declares (consumer-contracts/) goes
through the Lambda function the app registers for that subscription and sends its e-mail.

A declaration whose example the real handler cannot use would let a producer pass a check against
expectations notify does not actually have; these tests keep the two honest."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from chalicelib.emails import format_money
from shop_contracts.consumer_contracts import ConsumerContract, consumed_by, discover
from shop_contracts.events import Money
from shop_devstack.testing import deliver_example

SERVICE = "notify"
REPO_ROOT = Path(__file__).resolve().parents[3]
DECLARATIONS = consumed_by(discover(REPO_ROOT), SERVICE)


def to_a_new_customer(aws: Any, example: dict[str, Any]) -> dict[str, Any]:
    """The example with its own event_id, order and recipient, so its e-mail is the only one sent to them."""
    detail = copy.deepcopy(example)
    order_id = f"ord-{uuid.uuid4().hex[:12]}"
    detail["metadata"].update(event_id=str(uuid.uuid4()), correlation_id=order_id)
    detail["data"].update(order_id=order_id, customer_email=f"buyer-{uuid.uuid4().hex[:10]}@example.com")
    return detail


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


@dataclass(frozen=True)
class Scenario:
    """What the handler needs before the example arrives, and the effect it must have had."""

    arrange: Callable[[Any, dict[str, Any]], dict[str, Any]]
    effect: Callable[[Any, dict[str, Any]], None]


SCENARIOS: dict[str, Scenario] = {
    "notify.order-emails:PaymentCaptured.v1": Scenario(to_a_new_customer, confirmation_was_sent),
    "notify.order-emails:PaymentFailed.v1": Scenario(to_a_new_customer, failure_notice_was_sent),
}


def test_every_scenario_belongs_to_a_declaration() -> None:
    assert sorted(SCENARIOS) == sorted(d.id for d in DECLARATIONS)


@pytest.mark.parametrize("declaration", DECLARATIONS, ids=lambda d: d.id)
def test_the_subscription_handles_its_declared_example(declaration: ConsumerContract, notify_app: ModuleType, aws: Any) -> None:
    scenario = SCENARIOS.get(declaration.id)
    if scenario is None:
        pytest.fail(f"{declaration.location}: no scenario for {declaration.id} in {__name__}.SCENARIOS")
    detail = scenario.arrange(aws, declaration.example)
    response = deliver_example(notify_app, SERVICE, declaration.subscription, detail)

    assert response == {"batchItemFailures": []}
    # notify keeps no processed-marker (SES is its only effect): the one e-mail proves the event was applied,
    # since an unusable event is parked in the DLQ without a batch failure.
    scenario.effect(aws, detail)
