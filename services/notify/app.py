"""notify: tells people and systems outside the shop what happened to an order.

Three subscriptions, each with its own queue and DLQ, so one failing never holds up another:
- `order-emails`: one e-mail per customer-visible event and recipient, in the customer's language
  (chalicelib/emails.py), sent at most once and, short of a crash between SES and its record, exactly
  once (chalicelib/once.py);
- `crm-sync`: the order's record in the CRM, a kintone app (chalicelib/crm.py, kintone.py);
- `sales-ledger`: the daily JSON Lines sales ledger in notify's bucket (chalicelib/ledger.py).

Each handler's effects are guarded by its own records keyed on the event (the e-mail's send record,
the ledger's entry) or are idempotent by themselves (the CRM upsert of a merged view), so none needs
powertools' idempotency record in front (decision 0013).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache

from botocore.config import Config
from chalice.app import Chalice

from chalicelib.domain import Crm, Outcome, SendKey, book, email_for, send_once, sync_order
from chalicelib.kintone import KintoneCrm
from chalicelib.mailer import SesMailer
from chalicelib.repository import DynamoLedgerEntries, DynamoOrderViews, DynamoSendRecords, S3LedgerObjects, now_ms
from shop_contracts import REGISTRY, TOPOLOGY
from shop_eventing.envelope import DomainEvent
from shop_eventing.http import use_one_error_shape
from shop_eventing.openapi import Health, operation, serve_openapi
from shop_eventing.runtime import ServiceRuntime

app = Chalice(app_name="shop-notify")
use_one_error_shape(app)
serve_openapi(app, title="shop notify API", version="1", description="E-mails to customers (no API beyond its health).")
runtime = ServiceRuntime(TOPOLOGY, "notify", REGISTRY)
# botocore must not resend on its own: a resend after a lost answer could send an e-mail twice.
ses = runtime.session.client("ses", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
mailer = SesMailer(ses, os.environ.get("SHOP_MAIL_SENDER", "shop@example.com"))
send_records = DynamoSendRecords(runtime.dynamodb, runtime.table_name)
order_views = DynamoOrderViews(runtime.dynamodb, runtime.table_name)
ledger_entries = DynamoLedgerEntries(runtime.dynamodb, runtime.table_name)
# The bucket's name follows the stage like every other resource (shop_infra.resources names it alike).
ledger_bucket = os.environ.get("SHOP_LEDGER_BUCKET") or f"{runtime.naming.prefix}-{runtime.naming.stage}-notify-ledger"
ledger_objects = S3LedgerObjects(runtime.session.client("s3"), ledger_bucket)
clock: Callable[[], int] = now_ms
# A claim on an e-mail lasts as long as any attempt can: the function's timeout is capped at this.
EMAIL_LEASE_MS = TOPOLOGY.service("notify").subscription("order-emails").visibility_timeout_seconds * 1000


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
    outcome, message_id = send_once(
        email,
        SendKey(event.event_id, email.to),
        event_type=event.event_type,
        records=send_records,
        mailer=mailer,
        now_ms=clock(),
        lease_ms=EMAIL_LEASE_MS,
    )
    extra = {"outcome": str(outcome), "ses_message_id": message_id, "locale": email.locale, "subscriber": subscriber}
    if outcome is Outcome.UNCONFIRMED:
        # For an operator: SES may or may not have sent it, and notify will not try again.
        runtime.logger.error("e-mail unconfirmed: not resent", extra={**extra, "metric": "EmailUnconfirmed"})
    else:
        runtime.logger.info("e-mail handled", extra=extra)


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

send_order_emails = runtime.consume(app, "send_order_emails", email_subscriber)
sync_crm = runtime.consume(app, "sync_crm", crm_subscriber)
book_sales_ledger = runtime.consume(app, "book_sales_ledger", ledger_subscriber)
