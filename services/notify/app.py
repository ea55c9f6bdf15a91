"""notify: e-mails to customers, one per order outcome.

SES takes no idempotency key, so the send is the only effect inside the subscriber's idempotent
step (powertools, keyed on the event_id): a repeated delivery finds the step done and sends nothing.
"""

from __future__ import annotations

import os

from chalice.app import Chalice

from chalicelib.emails import email_for
from chalicelib.mailer import SesMailer
from shop_contracts import REGISTRY, TOPOLOGY
from shop_eventing.envelope import DomainEvent
from shop_eventing.http import use_one_error_shape
from shop_eventing.openapi import Health, operation, serve_openapi
from shop_eventing.runtime import ServiceRuntime

app = Chalice(app_name="shop-notify")
use_one_error_shape(app)
serve_openapi(app, title="shop notify API", version="1", description="E-mails to customers (no API beyond its health).")
runtime = ServiceRuntime(TOPOLOGY, "notify", REGISTRY)
mailer = SesMailer(runtime.session.client("ses"), os.environ.get("SHOP_MAIL_SENDER", "shop@example.com"))


@app.route("/health")
@operation("Liveness", responses={200: Health})
def health() -> dict[str, str]:
    return {"status": "ok", "service": "notify"}


def _send(event: DomainEvent, subscriber: str) -> None:
    message_id = mailer.send(email_for(event.data))
    runtime.logger.info("e-mail sent", extra={"ses_message_id": message_id, "subscriber": subscriber})


email_subscriber = runtime.subscriber("order-emails", {"PaymentCaptured": _send, "PaymentFailed": _send})


send_order_emails = runtime.consume(app, "send_order_emails", email_subscriber)
