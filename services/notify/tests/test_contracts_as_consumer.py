"""notify's consumer contracts, consumer side: every example it declares (consumer-contracts/) goes
through the Lambda function the app registers for that subscription and has its effect: the e-mail,
the CRM record, the ledger lines. Why: see shop_devstack.contract_testing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest

from chalicelib.emails import format_money
from chalicelib.ledger import business_day, object_key
from chalicelib.reminders import Announcement, Contact, TicketHolder
from chalicelib.repository import DynamoShowRoster
from shop_contracts.events import Money
from shop_devstack.contract_testing import (
    Consumer,
    ConsumerContractTests,
    Scenario,
    as_new_event,
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


def email_saying(*texts_of: Any) -> Any:
    """An effect: the one e-mail names the order in its subject, and its body holds each text taken from the data."""

    def effect(aws: Any, detail: dict[str, Any]) -> None:
        email = the_email(aws, detail)
        data = detail["data"]
        assert data["order_id"] in email["subject"]
        for text_of in texts_of:
            assert text_of(data) in email["body"], text_of(data)

    return effect


def money(field: str) -> Any:
    def text(data: dict[str, Any]) -> str:
        return format_money(Money.model_validate(data[field]), data.get("locale") or "ja")

    return text


def crm_record_says(status: str) -> Any:
    def effect(aws: Any, detail: dict[str, Any]) -> None:
        [record] = aws.crm.crm.records(order_id=detail["data"]["order_id"])
        assert record["status"] == status
        assert record["customer_email"] == detail["data"]["customer_email"]
        assert record["last_event_type"] == detail["metadata"]["event_type"]

    return effect


def ledger_has_the_event(kind: str, lines: int) -> Any:
    def effect(aws: Any, detail: dict[str, Any]) -> None:
        day = business_day(datetime.fromisoformat(detail["metadata"]["occurred_at"].replace("Z", "+00:00")))
        body = boto3.client("s3").get_object(Bucket="shop-local-notify-ledger", Key=object_key(day))["Body"].read()
        mine = [row for row in map(json.loads, body.decode().splitlines()) if row["event_id"] == detail["metadata"]["event_id"]]
        assert [row["type"] for row in mine] == [kind] * lines
        assert {row["order_id"] for row in mine} == {detail["data"]["order_id"]}

    return effect


def about_a_new_order(aws: Any, example: dict[str, Any]) -> dict[str, Any]:
    return as_new_event_about_a_new_order(example)


# -- the uploader's and the ticket holders' e-mails ---------------------------------------------------


def new_address(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}@example.com"


def to_a_new_uploader(aws: Any, example: dict[str, Any]) -> dict[str, Any]:
    video_id = f"vid_{uuid.uuid4().hex[:20]}"
    return as_new_event(example, video_id, video_id=video_id, uploaded_by_email=new_address("uploader"))


def uploader_told(*texts_of: Any) -> Any:
    def effect(aws: Any, detail: dict[str, Any]) -> None:
        data = detail["data"]
        [email] = aws.sent_emails(data["uploaded_by_email"])
        assert data["title"] in email["subject"]
        for text_of in texts_of:
            assert text_of(data) in email["body"], text_of(data)

    return effect


def roster(aws: Any) -> DynamoShowRoster:
    return DynamoShowRoster(boto3.client("dynamodb"), aws.table)


SOON = datetime.now(UTC) + timedelta(hours=1)
# Whom each arranged event is about, by its event_id (the event itself names an order or a show).
RECIPIENT: dict[str, str] = {}


def announced(aws: Any, show: str) -> None:
    roster(aws).keep_announcement(
        Announcement(show, str(uuid.uuid4()), datetime.now(UTC).isoformat(), "Live in Tokyo", SOON.isoformat(), None)
    )


def a_ticket_of_a_new_order(aws: Any, example: dict[str, Any], *, contact: bool, holder: bool, announce: bool) -> dict[str, Any]:
    """The example about an order and a show of their own, with what notify already holds about them."""
    order_id, show = f"ord-{uuid.uuid4().hex[:12]}", f"show-{uuid.uuid4().hex[:8]}"
    email = new_address("holder")
    if contact:
        roster(aws).keep_contact(Contact(order_id, email, "en"))
    if holder:
        roster(aws).keep_holder(TicketHolder(show, order_id, "LIVE-TOKYO", "granted"))
    if announce:
        announced(aws, show)
    detail = as_new_event(example, order_id, order_id=order_id)
    data = detail["data"]
    if "lines" in data:  # PaymentCaptured: its ticket line names the show, the order its buyer
        data["customer_email"] = email
        for line in data["lines"]:
            if line.get("access"):
                line["access"]["live_show_id"] = show
    else:
        data["live_show_id"] = show
    RECIPIENT[detail["metadata"]["event_id"]] = email
    return detail


def payment_of_a_granted_ticket(aws: Any, example: dict[str, Any]) -> dict[str, Any]:
    return a_ticket_of_a_new_order(aws, example, contact=False, holder=True, announce=True)


def grant_of_a_paid_ticket(aws: Any, example: dict[str, Any]) -> dict[str, Any]:
    return a_ticket_of_a_new_order(aws, example, contact=True, holder=False, announce=True)


def revocation_of_a_held_ticket(aws: Any, example: dict[str, Any]) -> dict[str, Any]:
    return a_ticket_of_a_new_order(aws, example, contact=True, holder=True, announce=False)


def announcement_of_a_show_with_a_holder(aws: Any, example: dict[str, Any]) -> dict[str, Any]:
    order_id, show = f"ord-{uuid.uuid4().hex[:12]}", f"show-{uuid.uuid4().hex[:8]}"
    email = new_address("holder")
    roster(aws).keep_contact(Contact(order_id, email, "en"))
    roster(aws).keep_holder(TicketHolder(show, order_id, "LIVE-TOKYO", "granted"))
    detail = as_new_event(example, show, live_show_id=show, starts_at=SOON.isoformat())
    detail["metadata"]["occurred_at"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    RECIPIENT[detail["metadata"]["event_id"]] = email
    return detail


def the_holder_was_reminded(aws: Any, detail: dict[str, Any]) -> None:
    [email] = aws.sent_emails(RECIPIENT[detail["metadata"]["event_id"]])
    assert email["subject"] == '"Live in Tokyo" starts soon'


def the_holder_was_taken_off(aws: Any, detail: dict[str, Any]) -> None:
    data = detail["data"]
    held = roster(aws).holder(data["live_show_id"], data["order_id"], data["sku"])
    assert held is not None and held.status == "revoked"


@pytest.fixture
def consumer(notify_app: ModuleType, aws: Any) -> Consumer[Any]:
    # notify keeps no processed-marker (its effects are an e-mail, a CRM record and a ledger object, each
    # with its own record): the effect proves the event was applied, since an unusable event is parked in
    # the DLQ without a batch failure.
    return Consumer(aws, notify_app, markers_in=None)


class TestNotifyAsConsumer(ConsumerContractTests):
    SERVICE = SERVICE
    SCENARIOS = {
        "notify.order-emails:PaymentCaptured.v1": Scenario(
            to_a_new_customer, email_saying(money("amount"), lambda d: d["lines"][0]["name"])
        ),
        "notify.order-emails:PaymentFailed.v1": Scenario(to_a_new_customer, email_saying(lambda d: d["reason"])),
        "notify.order-emails:ShipmentDispatched.v1": Scenario(
            to_a_new_customer, email_saying(lambda d: d["tracking_number"], lambda d: d["tracking_url"])
        ),
        "notify.order-emails:ShipmentDelivered.v1": Scenario(to_a_new_customer, email_saying(lambda d: d["tracking_number"])),
        "notify.order-emails:OrderCancelled.v1": Scenario(to_a_new_customer, email_saying(lambda d: d["reason"], money("total"))),
        "notify.order-emails:PaymentRefunded.v1": Scenario(
            to_a_new_customer, email_saying(money("amount"), lambda d: d["reason"])
        ),
        "notify.crm-sync:PaymentCaptured.v1": Scenario(about_a_new_order, crm_record_says("paid")),
        "notify.crm-sync:OrderCancelled.v1": Scenario(about_a_new_order, crm_record_says("cancelled")),
        "notify.crm-sync:PaymentRefunded.v1": Scenario(about_a_new_order, crm_record_says("refunded")),
        "notify.crm-sync:ShipmentDispatched.v1": Scenario(about_a_new_order, crm_record_says("shipped")),
        "notify.crm-sync:ShipmentDelivered.v1": Scenario(about_a_new_order, crm_record_says("delivered")),
        "notify.sales-ledger:PaymentCaptured.v1": Scenario(about_a_new_order, ledger_has_the_event("sale", 2)),
        "notify.sales-ledger:PaymentRefunded.v1": Scenario(about_a_new_order, ledger_has_the_event("refund", 1)),
        "notify.video-emails:VideoReady.v1": Scenario(
            to_a_new_uploader, uploader_told(lambda d: d["video_id"], lambda d: "720p")
        ),
        "notify.video-emails:VideoFailed.v1": Scenario(
            to_a_new_uploader, uploader_told(lambda d: d["error_code"], lambda d: d["error_message"])
        ),
        "notify.show-reminders:PaymentCaptured.v1": Scenario(payment_of_a_granted_ticket, the_holder_was_reminded),
        "notify.show-reminders:EntitlementGranted.v1": Scenario(grant_of_a_paid_ticket, the_holder_was_reminded),
        "notify.show-reminders:EntitlementRevoked.v1": Scenario(revocation_of_a_held_ticket, the_holder_was_taken_off),
        "notify.show-reminders:LiveShowStartingSoon.v1": Scenario(announcement_of_a_show_with_a_holder, the_holder_was_reminded),
    }
