"""A malformed or unknown-version event, or one whose EventBridge envelope contradicts its detail, goes
to its subscription's DLQ with the reason; its batch neighbours are processed. Sent straight to a
real subscription queue of the running shop."""

from __future__ import annotations

import uuid

from shop_contracts.events import Money, ProductPublishedV1
from shop_devstack.testing import eventbridge_body, eventually, raw_eventbridge_body
from shop_eventing.consumer import DEAD_LETTER_REASON
from shop_eventing.envelope import new_event
from shop_eventing.topology import Naming

NAMING = Naming(stage="local")


def drain_dead_letters(sqs, url: str) -> list[dict]:
    received = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=1)
        messages = batch.get("Messages", [])
        if not messages:
            return received
        received += messages
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_poison_messages_go_to_the_dlq_with_their_reason_and_the_batch_goes_on(shop):
    sqs = shop.stack.client("sqs")
    queue = sqs.get_queue_url(QueueName=NAMING.queue("orders", "product-view"))["QueueUrl"]
    dlq = sqs.get_queue_url(QueueName=NAMING.dlq("orders", "product-view"))["QueueUrl"]
    sku = f"POISON-NEIGHBOUR-{uuid.uuid4().hex[:6].upper()}"
    good = new_event(
        ProductPublishedV1(sku=sku, name="Survivor", kind="digital", price=Money(amount=100, currency="EUR"), revision=1),
        producer="shop.catalog",
        correlation_id=f"product:{sku}",
    )
    future = good.to_detail()
    future["metadata"] = {**future["metadata"], "schema_version": 9, "event_id": str(uuid.uuid4())}
    broken_data = good.to_detail()
    broken_data["metadata"] = {**broken_data["metadata"], "event_id": str(uuid.uuid4())}
    broken_data["data"] = {**broken_data["data"], "price": {"amount": "a lot", "currency": "EUR"}}
    misrouted = good.to_detail()
    misrouted["metadata"] = {**misrouted["metadata"], "event_id": str(uuid.uuid4())}
    forged = good.to_detail()
    forged["metadata"] = {**forged["metadata"], "event_id": str(uuid.uuid4())}

    sent = sqs.send_message_batch(
        QueueUrl=queue,
        Entries=[
            {"Id": "not-json", "MessageBody": "{this is not json"},
            {"Id": "good", "MessageBody": eventbridge_body(good)},
            {
                "Id": "unknown-version",
                "MessageBody": raw_eventbridge_body(future, detail_type="ProductPublished", source="shop.catalog"),
            },
            {
                "Id": "breaks-contract",
                "MessageBody": raw_eventbridge_body(broken_data, detail_type="ProductPublished", source="shop.catalog"),
            },
            {
                "Id": "detail-type-disagrees",
                "MessageBody": raw_eventbridge_body(misrouted, detail_type="StockReserved", source="shop.catalog"),
            },
            {
                "Id": "not-the-producer",
                "MessageBody": raw_eventbridge_body(forged, detail_type="ProductPublished", source="shop.orders"),
            },
        ],
    )

    sent_ids = {entry["MessageId"] for entry in sent["Successful"]}

    def ours(message: dict) -> bool:
        return message["MessageAttributes"]["shop-original-message-id"]["StringValue"] in sent_ids

    eventually(lambda: shop.storefront_has(sku), what="the valid neighbour to be applied")
    dead: list[dict] = []
    eventually(lambda: dead.extend(filter(ours, drain_dead_letters(sqs, dlq))) or len(dead) >= 5, what="five dead letters")
    reasons = sorted(m["MessageAttributes"][DEAD_LETTER_REASON]["StringValue"] for m in dead)
    assert reasons == [
        "ProductPublished v1 data: price.amount: Input should be a valid integer",
        "body is not JSON",
        "detail-type 'StockReserved' disagrees with detail.metadata.event_type 'ProductPublished'",
        "source 'shop.orders' is not ProductPublished's producer 'shop.catalog'",
        "unknown event ProductPublished v9",
    ]

    def logged_dead_letters() -> list[str]:
        # This test's own messages only: the log is shared by the whole session.
        logged = [
            record["reason"]
            for record in shop.log_records("orders")
            if record.get("message") == "invalid event sent to the DLQ" and record.get("message_id") in sent_ids
        ]
        return sorted(logged) if len(logged) >= 5 else []

    assert eventually(logged_dead_letters, what="the five dead letters in the orders log") == reasons
