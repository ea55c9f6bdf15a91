"""Concurrent retries of one order: 8 parallel POST /orders with one Idempotency-Key, 10 times.

Every caller must get the one stored order, and nothing may be published for a losing request's
order: it was never stored, so catalog would reserve stock for it that no one ever releases, and its
payment step would fail until the event reached the DLQ. That happened while the embedded DynamoDB let
a stream reader see a cancelled transaction's writes (decision 0009). So after the race the shop is
left to settle, and then the stock must be the initial stock minus the units of the real orders, and
every DLQ must be empty.
"""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import urllib3

from shop_contracts import TOPOLOGY
from shop_devstack.testing import eventually
from shop_eventing.topology import Naming

NAMING = Naming(stage="local")
ROUNDS = 10
CALLERS = 8
INITIAL_STOCK = 15


def race(http: urllib3.PoolManager, url: str, body: dict[str, Any], key: str, token: str) -> list[tuple[int, Any]]:
    """CALLERS identical requests released at the same moment; returns each (status, parsed body)."""
    start = threading.Barrier(CALLERS)

    def call(_: int) -> tuple[int, Any]:
        start.wait()
        response = http.request(
            "POST",
            url,
            body=json.dumps(body),
            headers={"Content-Type": "application/json", "Idempotency-Key": key, "Authorization": f"Bearer {token}"},
        )
        return response.status, json.loads(response.data)

    with ThreadPoolExecutor(max_workers=CALLERS) as pool:
        return list(pool.map(call, range(CALLERS)))


def queue_depths(sqs: Any, names: list[str]) -> dict[str, int]:
    """Messages waiting or in flight, per queue (moto's counts are exact)."""
    depths = {}
    for name in names:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        depths[name] = int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
    return depths


def test_concurrent_retries_of_one_order_publish_only_the_stored_order(shop):
    sku = shop.new_product(stock=INITIAL_STOCK, amount=700)
    http = urllib3.PoolManager(maxsize=CALLERS, timeout=urllib3.Timeout(connect=2, read=60), retries=False)
    url = f"{shop.stack.service_urls['orders']}/orders"
    body = {
        "customer_email": f"racer-{uuid.uuid4().hex[:8]}@example.com",
        "payment_token": "tok_visa",
        "shipping_address": "1 Main St, Springfield",
        "lines": [{"sku": sku, "quantity": 1}],
    }

    order_ids = []
    for _ in range(ROUNDS):
        replies = race(http, url, body, key=uuid.uuid4().hex, token=shop.token("ada"))
        assert {status for status, _ in replies} == {201}, replies
        ids = {reply["order_id"] for _, reply in replies}
        assert len(ids) == 1, f"callers with one Idempotency-Key got different orders: {ids}"
        order_ids += ids

    stored = [shop.order(order_id) for order_id in order_ids]  # each is stored (GET answers 200)
    assert len({order["order_id"] for order in stored}) == ROUNDS
    for order_id in order_ids:
        shop.settled_order(order_id, wanting={"SHIPMENT_REQUESTED"}, timeout=120)
    # A phantom order's events would still be in flight here (its payment step retrying until the
    # DLQ): wait until every subscription queue of the shop is empty, then look at the outcome.
    queues = [NAMING.queue(s.name, sub.name) for s in TOPOLOGY.services for sub in s.subscriptions]
    dlqs = [NAMING.dlq(s.name, sub.name) for s in TOPOLOGY.services for sub in s.subscriptions]
    sqs = shop.stack.client("sqs")
    eventually(lambda: not any(queue_depths(sqs, queues).values()), timeout=120, what="every subscription queue to drain")

    units_of_real_orders = sum(line["quantity"] for order in stored for line in order["lines"])
    assert units_of_real_orders == ROUNDS
    assert shop.stock(sku) == INITIAL_STOCK - units_of_real_orders
    assert {name: depth for name, depth in queue_depths(sqs, dlqs).items() if depth} == {}
