"""At-least-once delivery, made real: every SQS message of every subscription is delivered twice,
and the order still produces one charge, one shipment, one e-mail and one timeline entry per event."""

from __future__ import annotations

from shop_contracts import TOPOLOGY
from shop_devstack.testing import eventually


def queues_drained(stack) -> bool:
    sqs = stack.client("sqs")
    naming = stack.naming
    for service, subscription in TOPOLOGY.subscriptions():
        url = sqs.get_queue_url(QueueName=naming.queue(service.name, subscription.name))["QueueUrl"]
        counts = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        if any(int(v) for v in counts.values()):
            return False
    return True


def test_every_message_twice_still_one_charge_one_shipment_one_email(shop):
    sku = shop.new_product(stock=2)
    email = "echo@example.com"

    with shop.stack.duplicate_deliveries():
        placed = shop.place_order([(sku, 1)], email=email)
        order = shop.settled_order(placed.body["order_id"])
        # Wait for the second copies of every message to be handled too, not just the first ones.
        eventually(lambda: queues_drained(shop.stack), what="every duplicate to be consumed")
    order = shop.order(order["order_id"])
    types = [entry["event_type"] for entry in order["timeline"]]
    assert types == ["OrderPlaced", "StockReserved", "PaymentCaptured", "ShipmentRequested"]
    assert shop.stock(sku) == 1
    assert len(shop.charges_for(order["order_id"])) == 1
    assert shop.call("fulfillment", "GET", f"/orders/{order['order_id']}/shipment").status == 200
    assert len(shop.emails_to(email)) == 1
    # The drill really ran: each service that consumed an event saw it re-sent.
    for service in ("catalog", "orders", "fulfillment", "notify"):
        assert "duplicate delivery drill: re-sent" in shop.log(service), service
