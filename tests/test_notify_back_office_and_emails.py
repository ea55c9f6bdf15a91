"""notify end to end, on the embedded shop: a paid order's confirmation e-mail, CRM record and ledger
lines through the real flow; the later events of that order (shipped, delivered, cancelled, refunded)
published onto the bus as their producers publish them; the CRM down for a while, then caught up with
one record per order while mail and ledger went on; a replayed and twice-delivered event that sends
nothing twice.

Every event is about an order the shop really holds: a PaymentCaptured for an order orders does not
know would make fulfillment plan a parcel whose ShipmentRequested orders then cannot place (its DLQ)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from boto3.dynamodb.conditions import Attr

from shop_contracts.events import (
    Money,
    OrderCancelledV1,
    PaymentRefundedV1,
    ShipmentDeliveredV1,
    ShipmentDispatchedV1,
)
from shop_devstack.crm_kintone import DEFAULT_APP_ID, DEFAULT_TOKEN
from shop_devstack.testing import eventually
from shop_eventing.envelope import DomainEvent, EventData, new_event

LEDGER_BUCKET = "shop-local-notify-ledger"
JST = timedelta(hours=9)


def publish_detail(shop, source: str, detail: dict[str, Any]) -> None:
    """Put an event on the shop's bus exactly as a producer's relay does (source, detail-type, detail)."""
    entry = {
        "Source": source,
        "DetailType": detail["metadata"]["event_type"],
        "Detail": json.dumps(detail),
        "EventBusName": shop.stack.naming.bus,
    }
    response = shop.stack.client("events").put_events(Entries=[entry])
    assert response["FailedEntryCount"] == 0, response


def publish(shop, data: EventData, producer: str) -> DomainEvent:
    event = new_event(data, producer=producer, correlation_id=data.order_id)  # type: ignore[attr-defined]
    publish_detail(shop, producer, event.to_detail())
    return event


def paid_order(shop, email: str, *, quantity: int = 1, amount: int = 1250, currency: str = "USD") -> str:
    sku = shop.new_product(stock=10, amount=amount, currency=currency)
    placed = shop.place_order([(sku, quantity)], email=email)
    assert placed.status == 201, placed.body
    order = shop.settled_order(placed.body["order_id"])
    assert order["status"] == "SHIPMENT_REQUESTED", order
    return str(order["order_id"])


def published_by_orders(shop, order_id: str, event_type: str) -> dict[str, Any]:
    """The detail orders published for the order (its outbox is its event log, which replays read)."""
    table = shop.stack.session().resource("dynamodb", endpoint_url=shop.stack.endpoint).Table(shop.stack.naming.table("orders"))
    items = table.scan(FilterExpression=Attr("event_type").eq(event_type) & Attr("correlation_id").eq(order_id))["Items"]
    [item] = items
    return dict(json.loads(item["detail"]))


def crm_records(shop, order_id: str) -> list[dict[str, str]]:
    query = quote(f'order_id = "{order_id}"')
    response = shop.http.request(
        "GET",
        f"{shop.stack.crm_url}/k/v1/records.json?app={DEFAULT_APP_ID}&query={query}",
        headers={"X-Cybozu-API-Token": DEFAULT_TOKEN},
    )
    assert response.status == 200, response.data
    return [{code: cell["value"] for code, cell in record.items()} for record in json.loads(response.data)["records"]]


def crm_says(shop, order_id: str, status: str) -> dict[str, str] | None:
    records = crm_records(shop, order_id)
    return records[0] if len(records) == 1 and records[0]["status"] == status else None


def crm_outage(shop, requests: int) -> None:
    response = shop.http.request("POST", f"{shop.stack.crm_url}/admin/outage", body=json.dumps({"requests": requests}))
    assert response.status == 200, response.data


def ledger_rows(shop, order_id: str, moment: datetime) -> list[dict[str, Any]]:
    """The order's lines in the ledger of the business day (Japan's date) of `moment`."""
    day = (moment.astimezone(UTC) + JST).strftime("%Y/%m/%d")
    s3 = shop.stack.client("s3")
    try:
        body = s3.get_object(Bucket=LEDGER_BUCKET, Key=f"ledger/{day}/sales.jsonl")["Body"].read()
    except s3.exceptions.NoSuchKey:
        return []
    return [row for row in map(json.loads, body.decode().splitlines()) if row["order_id"] == order_id]


def occurred_at(detail: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(detail["metadata"]["occurred_at"].replace("Z", "+00:00"))


def dead_letters(shop, subscription: str) -> int:
    sqs = shop.stack.client("sqs")
    url = sqs.get_queue_url(QueueName=shop.stack.naming.dlq("notify", subscription))["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def notify_queues_drained(shop) -> bool:
    sqs = shop.stack.client("sqs")
    for subscription in ("order-emails", "crm-sync", "sales-ledger"):
        url = sqs.get_queue_url(QueueName=shop.stack.naming.queue("notify", subscription))["QueueUrl"]
        counts = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        if any(int(value) for value in counts.values()):
            return False
    return True


NOTIFY_FUNCTIONS = ("send_order_emails", "sync_crm", "book_sales_ledger")


def copies_sent(shop, function: str) -> int:
    """How many messages the duplicate-delivery drill has re-sent to one of notify's functions so far."""
    messages = (str(record.get("message", "")) for record in shop.log_records("notify"))
    return sum("duplicate delivery drill: re-sent" in message and message.endswith(f"-{function}") for message in messages)


def new_email(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}@example.com"


# -- through the real flow ----------------------------------------------------------------------------


def test_a_paid_order_gets_its_confirmation_its_crm_record_and_its_ledger_lines(shop):
    email = new_email("notify")
    order_id = paid_order(shop, email, quantity=2, amount=1250, currency="USD")

    [mail] = eventually(lambda: shop.emails_to(email), what="the confirmation e-mail")
    # The order carries no locale: the shop's default, Japanese.
    assert mail["subject"] == f"ご注文を承りました（注文番号 {order_id}）"
    assert "<strong>$25.00</strong>" in mail["body"]
    record = eventually(lambda: crm_says(shop, order_id, "paid"), what="the order's CRM record")
    assert (record["paid_amount"], record["currency"], record["customer_email"]) == ("2500", "USD", email)
    paid = published_by_orders(shop, order_id, "PaymentCaptured")
    rows = eventually(lambda: ledger_rows(shop, order_id, occurred_at(paid)), what="the order's ledger lines")
    assert [(row["type"], row["quantity"], row["unit_price"], row["amount"], row["currency"]) for row in rows] == [
        ("sale", 2, 1250, 2500, "USD")
    ]
    assert rows[0]["event_id"] == paid["metadata"]["event_id"]


# -- the later events, published as their producers publish them -------------------------------------


def test_shipped_and_delivered_mail_the_customer_in_their_language_and_move_the_crm_record(shop):
    email = new_email("later")
    order_id = paid_order(shop, email, amount=1200, currency="JPY")
    eventually(lambda: shop.emails_to(email), what="the confirmation")
    eventually(lambda: crm_says(shop, order_id, "paid"), what="the CRM record")

    publish(
        shop,
        ShipmentDispatchedV1(
            shipment_id="shp_e2e",
            order_id=order_id,
            carrier="yamato",
            tracking_number="4912-0000-0001",
            tracking_url="https://track.example/4912-0000-0001",
            customer_email=email,
            locale="en",
        ),
        "shop.fulfillment",
    )
    eventually(lambda: len(shop.emails_to(email)) == 2, what="the shipping notice")
    publish(
        shop,
        ShipmentDeliveredV1(
            shipment_id="shp_e2e",
            order_id=order_id,
            carrier="yamato",
            tracking_number="4912-0000-0001",
            customer_email=email,
            locale="ja",
        ),
        "shop.fulfillment",
    )

    mails = eventually(lambda: (found := shop.emails_to(email)) and len(found) == 3 and found, what="three e-mails")
    assert [mail["subject"] for mail in mails] == [
        f"ご注文を承りました（注文番号 {order_id}）",
        f"Your order {order_id} has shipped",
        f"ご注文の商品をお届けしました（注文番号 {order_id}）",
    ]
    assert "<strong>1,200円</strong>" in mails[0]["body"]
    assert '<a href="https://track.example/4912-0000-0001">Track your parcel</a>' in mails[1]["body"]
    record = eventually(lambda: crm_says(shop, order_id, "delivered"), what="the CRM record to say delivered")
    assert (record["tracking_number"], record["carrier"], record["paid_amount"]) == ("4912-0000-0001", "yamato", "1200")


def test_a_cancelled_and_refunded_order_is_mailed_twice_recorded_and_booked_as_a_refund(shop):
    email = new_email("refund")
    order_id = paid_order(shop, email, amount=800, currency="JPY")
    paid = published_by_orders(shop, order_id, "PaymentCaptured")
    eventually(lambda: shop.emails_to(email), what="the confirmation")

    publish(
        shop,
        OrderCancelledV1(
            order_id=order_id,
            cancelled_by="customer",
            reason="<script>alert(1)</script>",
            customer_email=email,
            locale="ja",
            lines=[*(line for line in paid["data"]["lines"])],
            total=Money(amount=800, currency="JPY"),
            payment_id=paid["data"]["payment_id"],
        ),
        "shop.orders",
    )
    eventually(lambda: len(shop.emails_to(email)) == 2, what="the cancellation e-mail")
    refund = publish(
        shop,
        PaymentRefundedV1(
            order_id=order_id,
            refund_id="re_e2e",
            payment_id=paid["data"]["payment_id"],
            amount=Money(amount=800, currency="JPY"),
            refunded_total=Money(amount=800, currency="JPY"),
            fully_refunded=True,
            reason="cancelled",
            initiated_by="customer_cancellation",
            customer_email=email,
            locale="en",
        ),
        "shop.orders",
    )

    mails = eventually(lambda: (found := shop.emails_to(email)) and len(found) == 3 and found, what="three e-mails")
    assert [mail["subject"] for mail in mails[1:]] == [
        f"ご注文をキャンセルしました（注文番号 {order_id}）",
        f"Your refund for order {order_id}",
    ]
    assert "<script>" not in mails[1]["body"] and "&lt;script&gt;alert(1)&lt;/script&gt;" in mails[1]["body"]
    assert "<strong>¥800</strong>" in mails[2]["body"]

    def refund_booked() -> list[dict[str, Any]]:
        return [row for row in ledger_rows(shop, order_id, refund.metadata.occurred_at) if row["type"] == "refund"]

    [row] = eventually(refund_booked, what="the refund's ledger line")
    assert (row["amount"], row["currency"], row["refund_id"], row["event_id"]) == (800, "JPY", "re_e2e", refund.event_id)
    record = eventually(lambda: crm_says(shop, order_id, "refunded"), what="the CRM record to say refunded")
    assert record["refunded_amount"] == "800"


# -- the CRM down, the rest going on ------------------------------------------------------------------


def test_crm_down_for_a_while_then_caught_up_with_one_record_per_order_while_mail_and_ledger_went_on(shop):
    emails = [new_email("crm-down") for _ in range(3)]
    crm_outage(shop, 100_000)
    try:
        orders = [paid_order(shop, email, amount=500, currency="EUR") for email in emails]
        # The customers' e-mails and the ledger do not wait for the CRM.
        for email in emails:
            eventually(lambda email=email: shop.emails_to(email), what=f"the e-mail to {email}")
        for order_id in orders:
            paid = published_by_orders(shop, order_id, "PaymentCaptured")
            eventually(lambda order_id=order_id, paid=paid: ledger_rows(shop, order_id, occurred_at(paid)), what="the ledger")
        failures = eventually(
            lambda: [r for r in shop.log_records("notify") if r.get("correlation_id") in orders and r.get("level") == "ERROR"],
            what="the CRM sync's failures in notify's log",
        )
        assert {r["message"] for r in failures} == {"handler failed; the record will be retried"}
    finally:
        # The CRM is back, before the messages' receives run out (they would wait in the DLQ).
        crm_outage(shop, 0)

    for order_id, email in zip(orders, emails, strict=True):
        record = eventually(lambda order_id=order_id: crm_says(shop, order_id, "paid"), what=f"the CRM record of {order_id}")
        assert (record["paid_amount"], record["currency"], record["customer_email"]) == ("500", "EUR", email)
        assert len(crm_records(shop, order_id)) == 1
        assert len(shop.emails_to(email)) == 1
    assert dead_letters(shop, "crm-sync") == 0


# -- a duplicate delivery ------------------------------------------------------------------------------


def test_a_replayed_and_twice_delivered_payment_sends_one_email_keeps_one_record_and_books_once(shop):
    email = new_email("twice")
    order_id = paid_order(shop, email, quantity=3, amount=100, currency="USD")
    paid = published_by_orders(shop, order_id, "PaymentCaptured")
    eventually(
        lambda: shop.emails_to(email) and crm_records(shop, order_id) and ledger_rows(shop, order_id, occurred_at(paid)),
        what="the e-mail, the CRM record and the ledger lines",
    )

    before = {function: copies_sent(shop, function) for function in NOTIFY_FUNCTIONS}
    with shop.stack.duplicate_deliveries():
        publish_detail(shop, "shop.orders", paid)  # a replay: the same event_id in a new envelope, delivered twice
        for function in NOTIFY_FUNCTIONS:
            eventually(lambda function=function: copies_sent(shop, function) > before[function], what=f"{function}'s copy")
        eventually(lambda: notify_queues_drained(shop), what="notify's queues to drain, copies included")

    assert len(shop.emails_to(email)) == 1
    assert len(crm_records(shop, order_id)) == 1
    assert [row["quantity"] for row in ledger_rows(shop, order_id, occurred_at(paid))] == [3]
