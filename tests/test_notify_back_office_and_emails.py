"""notify end to end, on the embedded shop: a paid order's confirmation e-mail, CRM record and ledger
lines through the real flow; the later events of an order (shipped, delivered, cancelled, refunded)
published onto the bus as their producers publish them; the CRM down for a while, then caught up with
one record per order; a duplicate delivery that sends nothing twice."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shop_contracts.events import (
    Money,
    OrderCancelledV1,
    OrderLine,
    PaymentCapturedV1,
    PaymentRefundedV1,
    ShipmentDeliveredV1,
    ShipmentDispatchedV1,
)
from shop_devstack.crm_kintone import DEFAULT_APP_ID, DEFAULT_TOKEN
from shop_devstack.testing import eventually
from shop_eventing.envelope import DomainEvent, EventData, new_event

LEDGER_BUCKET = "shop-local-notify-ledger"
JST_OFFSET_HOURS = 9


def publish(shop, *events: DomainEvent) -> None:
    """Put events on the shop's bus exactly as a producer's relay does (source, detail-type, detail)."""
    entries = [
        {
            "Source": event.metadata.producer,
            "DetailType": event.event_type,
            "Detail": json.dumps(event.to_detail()),
            "EventBusName": shop.stack.naming.bus,
        }
        for event in events
    ]
    response = shop.stack.client("events").put_events(Entries=entries)
    assert response["FailedEntryCount"] == 0, response


def event(data: EventData, producer: str) -> DomainEvent:
    return new_event(data, producer=producer, correlation_id=data.order_id)  # type: ignore[attr-defined]


def crm(shop, method: str, path: str, body: Any = None) -> Any:
    headers = {"Content-Type": "application/json", "X-Cybozu-API-Token": DEFAULT_TOKEN}
    response = shop.http.request(
        method, f"{shop.stack.crm_url}{path}", body=json.dumps(body) if body is not None else None, headers=headers
    )
    assert response.status == 200, response.data
    return json.loads(response.data)


def crm_records(shop, order_id: str) -> list[dict[str, str]]:
    query = f'order_id = "{order_id}"'
    found = crm(shop, "GET", f"/k/v1/records.json?app={DEFAULT_APP_ID}&query={query.replace(' ', '%20').replace('"', '%22')}")
    return [{code: cell["value"] for code, cell in record.items()} for record in found["records"]]


def ledger_rows(shop, order_id: str, day: str) -> list[dict[str, Any]]:
    s3 = shop.stack.client("s3")
    try:
        body = s3.get_object(Bucket=LEDGER_BUCKET, Key=f"ledger/{day}/sales.jsonl")["Body"].read()
    except s3.exceptions.NoSuchKey:
        return []
    return [row for row in map(json.loads, body.decode().splitlines()) if row["order_id"] == order_id]


def business_day(moment: datetime) -> str:
    """The ledger's day of a moment, as notify files it (Japan's date), written as the object key's path."""
    return (moment.astimezone(UTC) + timedelta(hours=JST_OFFSET_HOURS)).strftime("%Y/%m/%d")


def dead_letters(shop, subscription: str) -> int:
    sqs = shop.stack.client("sqs")
    url = sqs.get_queue_url(QueueName=shop.stack.naming.dlq("notify", subscription))["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


# -- through the real flow ----------------------------------------------------------------------------


def test_a_paid_order_gets_its_confirmation_its_crm_record_and_its_ledger_lines(shop):
    sku = shop.new_product(stock=5, amount=1250, currency="USD")
    email = f"notify-{uuid.uuid4().hex[:8]}@example.com"

    placed = shop.place_order([(sku, 2)], email=email)
    order = shop.settled_order(placed.body["order_id"])
    order_id = order["order_id"]

    [mail] = eventually(lambda: shop.emails_to(email), what="the confirmation e-mail")
    # The order carries no locale: the shop's default, Japanese.
    assert mail["subject"] == f"ご注文を承りました（注文番号 {order_id}）"
    assert "<strong>$25.00</strong>" in mail["body"]
    [record] = eventually(lambda: crm_records(shop, order_id), what="the order's CRM record")
    assert (record["status"], record["paid_amount"], record["currency"], record["customer_email"]) == (
        "paid",
        "2500",
        "USD",
        email,
    )
    paid_at = datetime.fromisoformat(record["last_event_at"].replace("Z", "+00:00"))
    rows = eventually(lambda: ledger_rows(shop, order_id, business_day(paid_at)), what="the order's ledger lines")
    assert [(row["type"], row["sku"], row["quantity"], row["amount"], row["currency"]) for row in rows] == [
        ("sale", sku, 2, 2500, "USD")
    ]


# -- the later events, published as their producers publish them -------------------------------------


def test_each_later_event_of_an_order_mails_the_customer_in_their_language_and_updates_the_crm(shop):
    order_id, email = f"ord-{uuid.uuid4().hex[:10]}", f"later-{uuid.uuid4().hex[:8]}@example.com"
    line = OrderLine(
        sku="BOX-1", name="Blu-ray <b>box</b>", kind="physical", quantity=1, unit_price=Money(amount=1200, currency="JPY")
    )
    paid = event(
        PaymentCapturedV1(
            order_id=order_id,
            payment_id="ch_e2e",
            amount=Money(amount=1200, currency="JPY"),
            customer_email=email,
            lines=[line],
            locale="en",
        ),
        "shop.orders",
    )
    shipped = event(
        ShipmentDispatchedV1(
            shipment_id="shp_e2e",
            order_id=order_id,
            carrier="yamato",
            tracking_number="4912-0000-0001",
            tracking_url="https://track.example/4912-0000-0001",
            customer_email=email,
            locale="ja",
        ),
        "shop.fulfillment",
    )
    arrived = event(
        ShipmentDeliveredV1(
            shipment_id="shp_e2e", order_id=order_id, carrier="yamato", tracking_number="4912-0000-0001", customer_email=email
        ),
        "shop.fulfillment",
    )
    publish(shop, paid)
    eventually(lambda: len(shop.emails_to(email)) == 1, what="the confirmation")
    publish(shop, shipped)
    eventually(lambda: len(shop.emails_to(email)) == 2, what="the shipping notice")
    publish(shop, arrived)

    mails = eventually(lambda: (found := shop.emails_to(email)) and len(found) == 3 and found, what="three e-mails")
    subjects = [mail["subject"] for mail in mails]
    assert subjects == [
        f"Your order {order_id} is confirmed",
        f"ご注文の商品を発送しました（注文番号 {order_id}）",
        f"ご注文の商品をお届けしました（注文番号 {order_id}）",
    ]
    assert "Blu-ray &lt;b&gt;box&lt;/b&gt;" in mails[0]["body"]
    assert "¥1,200" in mails[0]["body"]
    assert '<a href="https://track.example/4912-0000-0001">' in mails[1]["body"]

    def delivered_in_crm() -> dict[str, str] | None:
        records = crm_records(shop, order_id)
        return records[0] if len(records) == 1 and records[0]["status"] == "delivered" else None

    record = eventually(delivered_in_crm, what="the CRM record to say delivered")
    assert (record["tracking_number"], record["carrier"], record["paid_amount"]) == ("4912-0000-0001", "yamato", "1200")


def test_a_cancelled_and_refunded_order_is_mailed_twice_recorded_and_booked_as_a_refund(shop):
    order_id, email = f"ord-{uuid.uuid4().hex[:10]}", f"refund-{uuid.uuid4().hex[:8]}@example.com"
    line = OrderLine(sku="FILM-1", name="Film", kind="digital", quantity=1, unit_price=Money(amount=800, currency="JPY"))
    cancelled = event(
        OrderCancelledV1(
            order_id=order_id,
            cancelled_by="customer",
            reason="<script>alert(1)</script>",
            customer_email=email,
            locale="ja",
            lines=[line],
            total=Money(amount=800, currency="JPY"),
            payment_id="ch_e2e",
        ),
        "shop.orders",
    )
    refund = event(
        PaymentRefundedV1(
            order_id=order_id,
            refund_id="re_e2e",
            payment_id="ch_e2e",
            amount=Money(amount=800, currency="JPY"),
            refunded_total=Money(amount=800, currency="JPY"),
            fully_refunded=True,
            reason="cancelled",
            initiated_by="customer_cancellation",
            skus=["FILM-1"],
            customer_email=email,
            locale="ja",
        ),
        "shop.orders",
    )
    publish(shop, cancelled)
    eventually(lambda: shop.emails_to(email), what="the cancellation e-mail")
    publish(shop, refund)

    mails = eventually(lambda: (found := shop.emails_to(email)) and len(found) == 2 and found, what="two e-mails")
    assert [mail["subject"] for mail in mails] == [
        f"ご注文をキャンセルしました（注文番号 {order_id}）",
        f"返金のお知らせ（注文番号 {order_id}）",
    ]
    assert "<script>" not in mails[0]["body"] and "&lt;script&gt;" in mails[0]["body"]
    assert "800円" in mails[1]["body"]
    [row] = eventually(
        lambda: ledger_rows(shop, order_id, business_day(refund.metadata.occurred_at)), what="the refund's ledger line"
    )
    assert (row["type"], row["amount"], row["currency"], row["refund_id"], row["skus"]) == (
        "refund",
        800,
        "JPY",
        "re_e2e",
        ["FILM-1"],
    )

    def refunded_in_crm() -> dict[str, str] | None:
        records = crm_records(shop, order_id)
        return records[0] if len(records) == 1 and records[0]["status"] == "refunded" else None

    assert eventually(refunded_in_crm, what="the CRM record to say refunded")["refunded_amount"] == "800"


# -- the CRM down, the rest going on ------------------------------------------------------------------


def test_crm_down_for_a_while_then_caught_up_with_one_record_per_order_while_mail_and_ledger_went_on(shop):
    orders = [f"ord-{uuid.uuid4().hex[:10]}" for _ in range(3)]
    emails = {order_id: f"crm-down-{uuid.uuid4().hex[:8]}@example.com" for order_id in orders}
    events = [
        event(
            PaymentCapturedV1(
                order_id=order_id,
                payment_id="ch_e2e",
                amount=Money(amount=500, currency="EUR"),
                customer_email=emails[order_id],
                lines=[
                    OrderLine(sku="MUG", name="Mug", kind="physical", quantity=1, unit_price=Money(amount=500, currency="EUR"))
                ],
                locale="en",
            ),
            "shop.orders",
        )
        for order_id in orders
    ]
    refused_before = crm(shop, "GET", f"/k/v1/records.json?app={DEFAULT_APP_ID}&query=")  # the CRM answers: it is up
    assert "records" in refused_before
    status = shop.http.request("POST", f"{shop.stack.crm_url}/admin/outage", body=json.dumps({"requests": 100_000})).status
    assert status == 200
    try:
        publish(shop, *events)
        # The customers' e-mails and the ledger do not wait for the CRM.
        for order_id in orders:
            eventually(lambda order_id=order_id: shop.emails_to(emails[order_id]), what=f"the e-mail of {order_id}")
        for sale in events:
            day = business_day(sale.metadata.occurred_at)
            order_id = sale.data.order_id  # type: ignore[attr-defined]
            eventually(lambda order_id=order_id, day=day: ledger_rows(shop, order_id, day), what=f"the ledger of {order_id}")
        notify_log_has_crm_failures = eventually(
            lambda: [r for r in shop.log_records("notify") if r.get("correlation_id") in orders and r.get("level") == "ERROR"],
            what="the CRM sync's failures in notify's log",
        )
        assert notify_log_has_crm_failures
    finally:
        # The CRM is back (before the messages' receives run out: they would be parked in the DLQ).
        shop.http.request("POST", f"{shop.stack.crm_url}/admin/outage", body=json.dumps({"requests": 0}))

    for order_id in orders:
        eventually(lambda order_id=order_id: crm_records(shop, order_id), what=f"the CRM record of {order_id}")
    for order_id in orders:
        [record] = crm_records(shop, order_id)
        assert (record["status"], record["paid_amount"], record["customer_email"]) == ("paid", "500", emails[order_id])
        assert len(shop.emails_to(emails[order_id])) == 1
    assert dead_letters(shop, "crm-sync") == 0


# -- a duplicate delivery ------------------------------------------------------------------------------


def test_the_same_event_published_twice_sends_one_email_keeps_one_record_and_books_once(shop):
    order_id, email = f"ord-{uuid.uuid4().hex[:10]}", f"twice-{uuid.uuid4().hex[:8]}@example.com"
    sale = event(
        PaymentCapturedV1(
            order_id=order_id,
            payment_id="ch_e2e",
            amount=Money(amount=300, currency="USD"),
            customer_email=email,
            lines=[OrderLine(sku="PIN", name="Pin", kind="physical", quantity=3, unit_price=Money(amount=100, currency="USD"))],
        ),
        "shop.orders",
    )
    day = business_day(sale.metadata.occurred_at)

    publish(shop, sale)
    eventually(
        lambda: shop.emails_to(email) and crm_records(shop, order_id) and ledger_rows(shop, order_id, day), what="all three"
    )
    publish(shop, sale)  # a replay: the same event_id in a new envelope
    with shop.stack.duplicate_deliveries():
        publish(shop, sale)  # and delivered twice more by SQS
        # Drained: every subscription has seen the copies (its queue holds nothing in flight).
        eventually(lambda: notify_queues_drained(shop), what="notify's queues to drain")

    assert len(shop.emails_to(email)) == 1
    assert len(crm_records(shop, order_id)) == 1
    assert [row["quantity"] for row in ledger_rows(shop, order_id, day)] == [3]


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
