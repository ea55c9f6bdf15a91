"""The staff console's operations view: each service's GET /ops/status shows what `shop status` shows
for it. A poison message lands in fulfillment's cancel-shipment DLQ; staff see the DLQ's depth and its
oldest message's age through the API, the same depth the operator's command reads; a customer is refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from shop_devstack.testing import eventually, raw_eventbridge_body
from shop_ops import status
from tests.ops_e2e import target_of

SERVICE, SUBSCRIPTION = "fulfillment", "cancel-shipment"


def cancel_shipment(shop: Any, *, user: str = "sam") -> dict[str, Any]:
    reply = shop.call(SERVICE, "GET", "/ops/status", user=user)
    assert reply.status == 200, reply.body
    [found] = [s for s in reply.body["subscriptions"] if s["subscription"] == SUBSCRIPTION]
    return dict(found)


def poison(shop: Any) -> str:
    """An OrderCancelled in a major nobody publishes: the consumer sends it straight to the DLQ."""
    metadata = {
        "event_id": str(uuid.uuid4()),
        "event_type": "OrderCancelled",
        "schema_version": 9,
        "occurred_at": datetime.now(UTC).isoformat(),
        "producer": "shop.orders",
        "correlation_id": f"ops-status-{uuid.uuid4().hex[:8]}",
    }
    sqs = shop.stack.client("sqs")
    queue = sqs.get_queue_url(QueueName=shop.stack.naming.queue(SERVICE, SUBSCRIPTION))["QueueUrl"]
    body = raw_eventbridge_body({"metadata": metadata, "data": {}}, detail_type="OrderCancelled", source="shop.orders")
    sqs.send_message(QueueUrl=queue, MessageBody=body)
    return metadata["event_id"]


def remove_dead_letter(shop: Any, event_id: str) -> None:
    """Take our poison out of the DLQ again (later tests expect the shop's DLQs empty); others stay."""
    sqs = shop.stack.client("sqs")
    dlq = sqs.get_queue_url(QueueName=shop.stack.naming.dlq(SERVICE, SUBSCRIPTION))["QueueUrl"]

    def removed() -> bool:
        messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        for message in messages:
            if event_id in message["Body"]:
                sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
                return True
            sqs.change_message_visibility(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        return False

    eventually(removed, what="our poison message out of the DLQ")


def test_staff_see_a_filled_dlq_in_the_services_ops_status_and_customers_are_refused(shop):
    before = cancel_shipment(shop)["dlq_depth"]

    event_id = poison(shop)
    try:
        staff_see_it(shop, before)
    finally:
        remove_dead_letter(shop, event_id)
    assert cancel_shipment(shop)["dlq_depth"] == before

    refused = shop.call(SERVICE, "GET", "/ops/status", user="ada")
    assert refused.status == 403
    assert refused.body["error"]["code"] == "forbidden"
    assert shop.call(SERVICE, "GET", "/ops/status", user=None).status == 401


def staff_see_it(shop: Any, before: int) -> None:
    def grown() -> dict[str, Any] | None:
        found = cancel_shipment(shop)
        return found if found["dlq_depth"] > before else None

    after = eventually(grown, timeout=60, what="the poison message in cancel-shipment's DLQ, as GET /ops/status reports it")
    assert after["dlq"] == shop.stack.naming.dlq(SERVICE, SUBSCRIPTION)
    assert after["dlq_depth"] == before + 1
    assert after["dlq_oldest_age_seconds"] is not None and after["dlq_oldest_age_seconds"] >= 0
    [measured] = [
        s
        for service in status.status(target_of(shop))
        if service.service == SERVICE
        for s in service.subscriptions
        if s.subscription == SUBSCRIPTION
    ]
    assert measured.dlq.total == after["dlq_depth"], "the API and `shop status` measure alike"

    whole = shop.call(SERVICE, "GET", "/ops/status", user="sam").body
    assert (whole["service"], whole["age_source"]) == (SERVICE, "dlq_peek")
    assert whole["outbox"] is not None and whole["outbox"]["pending"] >= 0
