"""A message that fails until its cause is fixed: the CRM is down, so notify's crm-sync handler raises
on every receive and SQS moves the order's PaymentCaptured to the DLQ. `shop dlq list` shows the DLQ,
`shop dlq show` says why (the handler's exception, from its failure record), and after the CRM is back
`shop dlq redrive` puts it back on the queue, where it is handled once."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from shop_devstack.crm_kintone import DEFAULT_APP_ID, DEFAULT_TOKEN
from shop_devstack.testing import eventually, raw_eventbridge_body
from shop_ops import dlq, reconcile
from tests.ops_e2e import shop_command, target_of

SUBSCRIBER = "notify.crm-sync"


def crm_outage(shop, requests: int) -> None:
    response = shop.http.request("POST", f"{shop.stack.crm_url}/admin/outage", body=json.dumps({"requests": requests}))
    assert response.status == 200, response.data


def crm_records(shop, order_id: str) -> list[dict]:
    query = quote(f'order_id = "{order_id}"')
    response = shop.http.request(
        "GET",
        f"{shop.stack.crm_url}/k/v1/records.json?app={DEFAULT_APP_ID}&query={query}",
        headers={"X-Cybozu-API-Token": DEFAULT_TOKEN},
    )
    return list(json.loads(response.data)["records"])


def test_a_dead_letter_shows_its_reason_and_is_handled_once_after_the_fix_and_a_redrive(shop):
    started = datetime.now(UTC) - timedelta(seconds=1)
    target = target_of(shop)
    crm_outage(shop, 100_000)
    try:
        sku = shop.new_product(stock=3)
        placed = shop.place_order([(sku, 1)], email=f"dlq-{uuid.uuid4().hex[:8]}@example.com")
        order_id = shop.settled_order(placed.body["order_id"])["order_id"]

        def ours() -> list[dlq.DeadLetter]:
            return [letter for letter in dlq.show(target, SUBSCRIBER, limit=50) if letter.correlation_id == order_id]

        [letter] = eventually(ours, timeout=90, what="the order's PaymentCaptured in crm-sync's DLQ")
    finally:
        crm_outage(shop, 0)
    assert letter.event_type == "PaymentCaptured"
    assert letter.reason_from == "failure record"
    assert letter.reason is not None and letter.reason.startswith("CrmUnavailable: CRM answered 503")
    assert letter.receive_count == 5, "the subscription's max receive count"

    listed = shop_command(shop, "dlq", "list")
    assert listed.exit_code == 0, listed.output
    assert any(SUBSCRIBER in line and "shop-local-notify-crm-sync-dlq" in line for line in listed.output.splitlines())
    shown = shop_command(shop, "dlq", "show", SUBSCRIBER, "--limit", "50")
    assert "the handler raised" in shown.output and "CrmUnavailable: CRM answered 503" in shown.output
    assert order_id in shown.output

    assert crm_records(shop, order_id) == []
    redriven = shop_command(shop, "dlq", "redrive", SUBSCRIBER)
    assert redriven.exit_code == 0, redriven.output
    assert "moved" in redriven.output

    eventually(lambda: crm_records(shop, order_id), what="the CRM record after the redrive")
    eventually(lambda: not ours(), what="the dead letter to leave the DLQ")
    assert len(crm_records(shop, order_id)) == 1
    findings = reconcile.reconcile(target, since=started, correlation_id=order_id, settle=timedelta(0))
    assert [m.subscriber for m in findings.missed] == []


def test_a_poison_message_shows_the_reason_the_consumer_gave_it(shop):
    metadata = {
        "event_id": str(uuid.uuid4()),
        "event_type": "ProductRetired",
        "schema_version": 7,
        "occurred_at": datetime.now(UTC).isoformat(),
        "producer": "shop.catalog",
        "correlation_id": "product:POISON",
    }
    detail = {"metadata": metadata, "data": {"sku": "POISON", "revision": 1}}
    sqs = shop.stack.client("sqs")
    queue = sqs.get_queue_url(QueueName=shop.stack.naming.queue("orders", "product-view"))["QueueUrl"]
    sqs.send_message(
        QueueUrl=queue, MessageBody=raw_eventbridge_body(detail, detail_type="ProductRetired", source="shop.catalog")
    )
    event_id = detail["metadata"]["event_id"]

    def found() -> list[dlq.DeadLetter]:
        return [letter for letter in dlq.show(target_of(shop), "orders.product-view", limit=50) if letter.event_id == event_id]

    [letter] = eventually(found, what="the poison message in product-view's DLQ")
    assert (letter.reason, letter.reason_from) == ("unknown event ProductRetired v7", "attribute")
