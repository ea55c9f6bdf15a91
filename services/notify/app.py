"""notify: tells people and systems outside the shop what happened to an order.

Five subscriptions, each with its own queue and DLQ, so one failing never holds up another:
- `order-emails`: one e-mail per customer-visible event and recipient, in the customer's language
  (chalicelib/emails.py), sent at most once and, short of a crash between SES and its record, exactly
  once (chalicelib/once.py);
- `crm-sync`: the order's record in the CRM, a kintone app (chalicelib/crm.py, kintone.py);
- `sales-ledger`: the daily JSON Lines sales ledger in notify's bucket (chalicelib/ledger.py);
- `video-emails`: the uploader's e-mail when their video is ready or failed to transcode;
- `show-reminders`: 'the show starts soon' to every ticket holder of a live show (chalicelib/reminders.py).

Each handler's effects are guarded by its own records keyed on the event (the e-mail's send record,
the ledger's entry) or are idempotent by themselves (the CRM upsert of a merged view), so none needs
powertools' idempotency record in front (decision 0013).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache

from botocore.config import Config
from chalice.app import Chalice

from chalicelib.domain import Crm, Email, Outcome, SendKey, book, email_for, send_once, sync_order
from chalicelib.emails import video_email
from chalicelib.kintone import KintoneCrm
from chalicelib.mailer import SesMailer
from chalicelib.reminders import on_announced, on_entitlement, on_payment_captured
from chalicelib.repository import (
    DynamoLedgerEntries,
    DynamoOrderViews,
    DynamoSendRecords,
    DynamoShowRoster,
    S3LedgerObjects,
    now_ms,
)
from shop_contracts import REGISTRY, TOPOLOGY
from shop_contracts.events import (
    EntitlementGrantedV1,
    EntitlementRevokedV1,
    PaymentCapturedV1,
    VideoFailedV1,
    VideoReadyV1,
)
from shop_eventing.auth import SignIn
from shop_eventing.consumer import time_left_ms
from shop_eventing.envelope import DomainEvent
from shop_eventing.http import use_one_error_shape
from shop_eventing.openapi import Health, operation, serve_openapi
from shop_eventing.ops_api import serve_ops_status
from shop_eventing.runtime import ServiceRuntime

app = Chalice(app_name="shop-notify")
use_one_error_shape(app)
serve_openapi(
    app,
    title="shop notify API",
    version="1",
    description="E-mails to customers; its API is its health and the staff's operations view.",
)
runtime = ServiceRuntime(TOPOLOGY, "notify", REGISTRY)
runtime.trace(app)
# The staff console's operations view: this service's queues, DLQs and outbox, measured as `shop status` does.
sign_in = SignIn.from_environment()
serve_ops_status(app, runtime, sign_in, groups={"staff"})
# botocore must not resend on its own: a resend after a lost answer could send an e-mail twice.
ses = runtime.session.client("ses", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
mailer = SesMailer(ses, os.environ.get("SHOP_MAIL_SENDER", "shop@example.com"))
send_records = DynamoSendRecords(runtime.dynamodb, runtime.table_name)
order_views = DynamoOrderViews(runtime.dynamodb, runtime.table_name)
ledger_entries = DynamoLedgerEntries(runtime.dynamodb, runtime.table_name)
show_roster = DynamoShowRoster(runtime.dynamodb, runtime.table_name)
# The bucket's name follows the stage like every other resource (shop_infra.resources names it alike).
ledger_bucket = os.environ.get("SHOP_LEDGER_BUCKET") or f"{runtime.naming.prefix}-{runtime.naming.stage}-notify-ledger"
ledger_objects = S3LedgerObjects(runtime.session.client("s3"), ledger_bucket)
clock: Callable[[], int] = now_ms


def lease_ms(subscription: str) -> int:
    """A claim on an e-mail lasts as long as this attempt can: the invocation's remaining time (the
    function's timeout is capped at its queue's visibility timeout, so the claim is over before SQS
    delivers the message again). Outside an invocation, the subscription's visibility timeout.

    Not the topology's value alone: a queue may have a shorter visibility timeout than the topology
    says (the embedded stack's 3 s), and a claim outliving the redeliveries would send the message to
    the DLQ as "in progress" on every receive."""
    configured = TOPOLOGY.service("notify").subscription(subscription).visibility_timeout_seconds * 1000
    left = time_left_ms()
    return configured if left is None else min(configured, left)


@cache
def crm_client() -> Crm:
    """The CRM's API (read at first use): SHOP_CRM_URL, SHOP_CRM_APP_ID, and the API token from the SSM
    SecureString named by SHOP_CRM_API_TOKEN_PARAMETER (on AWS) or SHOP_CRM_API_TOKEN (the local fake's)."""
    missing = [name for name in ("SHOP_CRM_URL", "SHOP_CRM_APP_ID") if not os.environ.get(name)]
    parameter = os.environ.get("SHOP_CRM_API_TOKEN_PARAMETER")
    token = os.environ.get("SHOP_CRM_API_TOKEN")
    if not token and not parameter:
        missing.append("SHOP_CRM_API_TOKEN_PARAMETER")
    if missing:
        raise RuntimeError(f"the CRM is not configured: {', '.join(missing)} unset")
    if not token:
        found = runtime.session.client("ssm").get_parameter(Name=parameter, WithDecryption=True)
        token = str(found["Parameter"]["Value"])
    return KintoneCrm(os.environ["SHOP_CRM_URL"], token, os.environ["SHOP_CRM_APP_ID"])


@app.route("/health")
@operation("Liveness", responses={200: Health})
def health() -> dict[str, str]:
    return {"status": "ok", "service": "notify"}


def _send(event: DomainEvent, subscriber: str) -> None:
    email = email_for(event.data)
    _mail(email, SendKey(event.event_id, email.to), event.event_type, subscriber, lease_ms("order-emails"))


def _mail(email: Email, key: SendKey, event_type: str, subscriber: str, lease: int) -> None:
    """Send once under `key` (the event whose e-mail it is, and the recipient), and say what happened."""
    outcome, message_id = send_once(
        email, key, event_type=event_type, records=send_records, mailer=mailer, now_ms=clock(), lease_ms=lease
    )
    extra = {"outcome": str(outcome), "ses_message_id": message_id, "locale": email.locale, "subscriber": subscriber}
    if outcome is Outcome.UNCONFIRMED:
        # For an operator: SES may or may not have sent it, and notify will not try again.
        runtime.logger.error("e-mail unconfirmed: not resent", extra={**extra, "metric": "EmailUnconfirmed"})
    else:
        runtime.logger.info("e-mail handled", extra=extra)


def _video_email(event: DomainEvent, subscriber: str) -> None:
    data = event.data
    assert isinstance(data, VideoReadyV1 | VideoFailedV1)
    email = video_email(data)
    if email is None:
        # A live show's recording, or an uploader who named no address: nobody to tell.
        runtime.logger.info("no uploader e-mail to send", extra={"video_id": data.video_id, "subscriber": subscriber})
        return
    _mail(email, SendKey(event.event_id, email.to), event.event_type, subscriber, lease_ms("video-emails"))


def _show_reminders(event: DomainEvent, subscriber: str) -> None:
    def send(email: Email, key: SendKey) -> None:
        _mail(email, key, "LiveShowStartingSoon", subscriber, lease_ms("show-reminders"))

    now = datetime.fromtimestamp(clock() / 1000, UTC)
    data = event.data
    if isinstance(data, PaymentCapturedV1):
        due = on_payment_captured(data, show_roster, send, now)
    elif isinstance(data, EntitlementGrantedV1 | EntitlementRevokedV1):
        due = on_entitlement(data, show_roster, send, now)
    else:
        due = on_announced(event, show_roster, send, now)
    runtime.logger.info("show reminders handled", extra={"event_type": event.event_type, "reminders_due": due})


def _sync_crm(event: DomainEvent, subscriber: str) -> None:
    view = sync_order(event, order_views, crm_client())
    runtime.logger.info("CRM record upserted", extra={"order_id": view.order_id, "status": view.status})


def _book(event: DomainEvent, subscriber: str) -> None:
    day, new = book(event, ledger_entries, ledger_objects)
    runtime.logger.info("ledger booked", extra={"day": day.isoformat(), "newly_recorded": new})


EMAIL_EVENTS = (
    "PaymentCaptured",
    "PaymentFailed",
    "ShipmentDispatched",
    "ShipmentDelivered",
    "OrderCancelled",
    "PaymentRefunded",
)
CRM_EVENTS = ("PaymentCaptured", "OrderCancelled", "PaymentRefunded", "ShipmentDispatched", "ShipmentDelivered")

# Their own records guard each effect; the marker written after each handler is what `shop reconcile`
# and `shop trace` read to tell a handled event from a missed one, as for every other subscriber.
email_subscriber = runtime.subscriber(
    "order-emails", dict.fromkeys(EMAIL_EVENTS, _send), deduplicated_by_marker=True, marks_after_handler=True
)
crm_subscriber = runtime.subscriber(
    "crm-sync", dict.fromkeys(CRM_EVENTS, _sync_crm), deduplicated_by_marker=True, marks_after_handler=True
)
ledger_subscriber = runtime.subscriber(
    "sales-ledger", {"PaymentCaptured": _book, "PaymentRefunded": _book}, deduplicated_by_marker=True, marks_after_handler=True
)

video_email_subscriber = runtime.subscriber(
    "video-emails",
    {"VideoReady": _video_email, "VideoFailed": _video_email},
    deduplicated_by_marker=True,
    marks_after_handler=True,
)
SHOW_REMINDER_EVENTS = ("PaymentCaptured", "EntitlementGranted", "EntitlementRevoked", "LiveShowStartingSoon")
show_reminder_subscriber = runtime.subscriber(
    "show-reminders", dict.fromkeys(SHOW_REMINDER_EVENTS, _show_reminders), deduplicated_by_marker=True, marks_after_handler=True
)

send_order_emails = runtime.consume(app, "send_order_emails", email_subscriber)
send_video_emails = runtime.consume(app, "send_video_emails", video_email_subscriber)
send_show_reminders = runtime.consume(app, "send_show_reminders", show_reminder_subscriber)
sync_crm = runtime.consume(app, "sync_crm", crm_subscriber)
book_sales_ledger = runtime.consume(app, "book_sales_ledger", ledger_subscriber)
