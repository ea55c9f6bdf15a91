"""The order flow end to end: HTTP in, events through EventBridge and SQS, state and e-mail out."""

from __future__ import annotations

from shop_devstack.testing import eventually


def event_types(order: dict) -> list[str]:
    return [entry["event_type"] for entry in order["timeline"]]


def test_happy_path_reaches_shipment_requested_with_one_charge_and_one_email(shop):
    sku = shop.new_product(stock=5, amount=2500)
    email = "happy@example.com"

    placed = shop.place_order([(sku, 2)], email=email)

    assert placed.status == 201, placed.body
    assert placed.body["status"] == "PENDING"
    assert placed.body["total"] == {"amount": 5000, "currency": "USD"}
    assert placed.headers["location"] == f"/orders/{placed.body['order_id']}"
    order = shop.settled_order(placed.body["order_id"])
    assert order["status"] == "SHIPMENT_REQUESTED"
    assert event_types(order) == ["OrderPlaced", "StockReserved", "PaymentCaptured", "ShipmentRequested"]
    assert shop.stock(sku) == 3
    charges = shop.charges_for(order["order_id"])
    assert [c["amount"] for c in charges] == [5000]
    assert order["payment_id"] == charges[0]["id"]
    shipment = shop.call("fulfillment", "GET", f"/orders/{order['order_id']}/shipment")
    assert shipment.status == 200
    assert shipment.body["lines"] == [{"sku": sku, "quantity": 2}]
    assert shipment.body["address"] == "1 Main St, Springfield"
    mails = eventually(lambda: shop.emails_to(email), what="the confirmation e-mail")
    assert len(mails) == 1
    assert order["order_id"] in mails[0]["subject"]
    assert "$50.00" in mails[0]["body"]


def test_digital_only_order_is_paid_without_a_shipment(shop):
    sku = shop.new_product(kind="digital", amount=399)

    placed = shop.place_order([(sku, 1)], address=None)

    assert placed.status == 201, placed.body
    order = shop.settled_order(placed.body["order_id"], wanting={"PAID"})
    assert event_types(order) == ["OrderPlaced", "StockReserved", "PaymentCaptured"]
    assert shop.call("fulfillment", "GET", f"/orders/{order['order_id']}/shipment").status == 404


def test_out_of_stock_rejects_the_order_without_charging(shop):
    sku = shop.new_product(stock=1)
    email = "too-many@example.com"

    placed = shop.place_order([(sku, 2)], email=email)

    order = shop.settled_order(placed.body["order_id"])
    assert order["status"] == "REJECTED"
    assert event_types(order) == ["OrderPlaced", "StockRejected"]
    assert "out_of_stock" in order["timeline"][1]["summary"]
    assert shop.stock(sku) == 1
    assert shop.charges_for(order["order_id"]) == []
    assert shop.emails_to(email) == []


def test_last_units_go_to_exactly_as_many_orders_as_there_is_stock(shop):
    sku = shop.new_product(stock=3)

    order_ids = [shop.place_order([(sku, 1)]).body["order_id"] for _ in range(5)]

    statuses = sorted(shop.settled_order(order_id)["status"] for order_id in order_ids)
    assert statuses == ["REJECTED", "REJECTED", "SHIPMENT_REQUESTED", "SHIPMENT_REQUESTED", "SHIPMENT_REQUESTED"]
    assert shop.stock(sku) == 0


def test_declined_payment_fails_the_order_releases_stock_and_tells_the_customer(shop):
    sku = shop.new_product(stock=4)
    email = "declined@example.com"

    placed = shop.place_order([(sku, 3)], token="tok_chargeDeclined", email=email)

    order = shop.settled_order(placed.body["order_id"])
    assert order["status"] == "PAYMENT_FAILED"
    assert "card_declined" in order["timeline"][2]["summary"]

    def released_order():
        current = shop.order(order["order_id"])
        return current if "StockReleased" in event_types(current) else None

    released = eventually(released_order, what="the reserved stock to be released")
    assert event_types(released) == ["OrderPlaced", "StockReserved", "PaymentFailed", "StockReleased"]
    assert shop.stock(sku) == 4
    assert shop.call("fulfillment", "GET", f"/orders/{order['order_id']}/shipment").status == 404
    mails = eventually(lambda: shop.emails_to(email), what="the payment-failed e-mail")
    assert len(mails) == 1
    # No locale on the order: the shop's default, Japanese (notify's README).
    assert mails[0]["subject"] == f"お支払いを完了できませんでした（注文番号 {order['order_id']}）"


def test_gateway_outage_is_retried_through_sqs_and_charges_once(shop):
    sku = shop.new_product()

    # tok_flaky: the gateway answers 503 to the first attempt of each idempotency key.
    placed = shop.place_order([(sku, 1)], token="tok_flaky")

    order = shop.settled_order(placed.body["order_id"])
    assert order["status"] == "SHIPMENT_REQUESTED"
    assert len(shop.charges_for(order["order_id"])) == 1

    def retried_after_the_outage() -> list[dict]:
        return [
            record
            for record in shop.log_records("orders")
            if record.get("correlation_id") == order["order_id"]
            and record.get("message") == "handler failed; the record will be retried"
            and "payment gateway answered 503" in record.get("exception", "")
        ]

    # The log is written by another thread as the service prints it: wait for this order's line.
    eventually(retried_after_the_outage, what="the orders log to show this order's charge retried after a 503")


def test_same_idempotency_key_returns_the_same_order_and_places_it_once(shop):
    sku = shop.new_product(stock=10)

    first = shop.place_order([(sku, 1)], key="retry-key-1", email="twice@example.com")
    second = shop.place_order([(sku, 1)], key="retry-key-1", email="twice@example.com")

    assert first.status == second.status == 201
    assert second.body["order_id"] == first.body["order_id"]
    assert second.headers.get("idempotent-replayed") == "true"
    shop.settled_order(first.body["order_id"])
    assert shop.stock(sku) == 9
    assert len(shop.charges_for(first.body["order_id"])) == 1


def test_reusing_an_idempotency_key_for_another_order_is_refused(shop):
    sku = shop.new_product()
    shop.place_order([(sku, 1)], key="reused-key", email="one@example.com")

    reply = shop.place_order([(sku, 2)], key="reused-key", email="one@example.com")

    assert reply.status == 422
    assert reply.body["error"]["code"] == "idempotency_key_reused"
