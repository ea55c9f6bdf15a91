"""The floor: how many orders a second the embedded AWS itself serves when it is asked only for the
AWS calls one physical order cannot do without, one after the other, with no framework, no HTTP API,
no powertools and no pollers in between.

Every throughput the bench reports is also given as a fraction of this rate, measured in the same
run on the same moto server, so the ratio holds however busy the machine is.

One physical order (FLOOR_CALLS below, 32 calls): the order's transaction, then for each event the
relay's PutEvents and the marking of its outbox items, and for each delivery a subscriber's receive,
its transaction (state, outbox item, processed marker) and its delete:

  orders      TransactWriteItems (order, idempotency key, OrderPlaced v1 + v2 outbox items)
  relay       PutEvents (2 entries), UpdateItem x2 (mark published)
  catalog     ReceiveMessage, TransactWriteItems (stock, reservation, outbox, marker), DeleteMessageBatch
  relay       PutEvents, UpdateItem
  fulfillment ReceiveMessage, TransactWriteItems (address, marker), DeleteMessageBatch  (x2: v1 and v2)
  orders      ReceiveMessage, GetItem (the order), TransactWriteItems (timeline, outbox, marker), DeleteMessageBatch
  relay       PutEvents, UpdateItem
  fulfillment ReceiveMessage, TransactWriteItems (shipment, outbox, marker), DeleteMessageBatch
  relay       PutEvents, UpdateItem
  notify      ReceiveMessage, SendEmail, DeleteMessageBatch
  orders      ReceiveMessage, TransactWriteItems (timeline, marker), DeleteMessageBatch

Left out on purpose: stream reads (GetRecords) and empty receives, which depend on how often a poller
asks rather than on the order, and powertools' idempotency records (two writes per delivery), which
the processed marker inside each transaction makes redundant for correctness.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

FLOOR_CALLS = 32
PREFIX = "bench-floor"
# Which queues each event type reaches (the shop's subscriptions, one queue each).
ROUTES = {
    "OrderPlaced.v1": ["reserve-stock", "delivery-addresses"],
    "OrderPlaced.v2": ["delivery-addresses"],
    "StockReserved": ["charge-payment"],
    "PaymentCaptured": ["request-shipment", "order-emails"],
    "ShipmentRequested": ["order-history"],
}


class Floor:
    def __init__(self, session: Any, endpoint: str, sender: str) -> None:
        self.ddb = session.client("dynamodb", endpoint_url=endpoint)
        self.events = session.client("events", endpoint_url=endpoint)
        self.sqs = session.client("sqs", endpoint_url=endpoint)
        self.ses = session.client("ses", endpoint_url=endpoint)
        self.sender = sender
        self.table = f"{PREFIX}-table"
        self.bus = f"{PREFIX}-bus"
        self.queues: dict[str, str] = {}

    def provision(self) -> None:
        self.ddb.create_table(
            TableName=self.table,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.events.create_event_bus(Name=self.bus)
        for queue in sorted({q for targets in ROUTES.values() for q in targets}):
            url = self.sqs.create_queue(QueueName=f"{PREFIX}-{queue}")["QueueUrl"]
            self.queues[queue] = url
        for detail_type, targets in ROUTES.items():
            rule = f"{PREFIX}-{detail_type.replace('.', '-')}"
            self.events.put_rule(
                Name=rule,
                EventBusName=self.bus,
                EventPattern=json.dumps({"source": ["bench.floor"], "detail-type": [detail_type]}),
            )
            self.events.put_targets(
                Rule=rule,
                EventBusName=self.bus,
                Targets=[{"Id": q, "Arn": self._queue_arn(q)} for q in targets],
            )
        self.ddb.put_item(TableName=self.table, Item={"pk": {"S": "PRODUCT#P"}, "sk": {"S": "P"}, "stock": {"N": "100000000"}})

    def _queue_arn(self, queue: str) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queues[queue], AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    # -- one order ---------------------------------------------------------------------------------
    def _put(self, pk: str, sk: str, **extra: str) -> dict[str, Any]:
        item = {"pk": {"S": pk}, "sk": {"S": sk}, **{k: {"S": v} for k, v in extra.items()}}
        return {"Put": {"TableName": self.table, "Item": item}}

    def _transact(self, *items: dict[str, Any]) -> None:
        self.ddb.transact_write_items(TransactItems=list(items))

    def _publish(self, order: str, *detail_types: str) -> None:
        detail = json.dumps({"metadata": {"event_id": uuid.uuid4().hex}, "data": {"order_id": order, "pad": "x" * 600}})
        self.events.put_events(
            Entries=[{"Source": "bench.floor", "DetailType": t, "Detail": detail, "EventBusName": self.bus} for t in detail_types]
        )
        for detail_type in detail_types:
            self.ddb.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"ORDER#{order}"}, "sk": {"S": f"OUTBOX#{detail_type}"}},
                UpdateExpression="SET published_at = :now",
                ExpressionAttributeValues={":now": {"S": "now"}},
            )

    def _consume(self, queue: str, work: Any) -> None:
        url = self.queues[queue]
        messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1).get("Messages", [])
        if not messages:
            raise RuntimeError(f"floor: nothing arrived on {queue}")
        work()
        self.sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "0", "ReceiptHandle": messages[0]["ReceiptHandle"]}])

    def one_order(self) -> None:
        order = uuid.uuid4().hex
        o = f"ORDER#{order}"
        body = "y" * 400  # about the size of an order item or an event in the outbox
        self._transact(
            self._put(o, "ORDER", body=body),
            self._put(f"IDEMPOTENCY#{order}", "KEY"),
            self._put(o, "OUTBOX#OrderPlaced.v1", body=body),
            self._put(o, "OUTBOX#OrderPlaced.v2", body=body),
        )
        self._publish(order, "OrderPlaced.v1", "OrderPlaced.v2")
        stock_update = {
            "Update": {
                "TableName": self.table,
                "Key": {"pk": {"S": "PRODUCT#P"}, "sk": {"S": "P"}},
                "UpdateExpression": "SET stock = stock - :one",
                "ConditionExpression": "stock >= :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        }
        self._consume(
            "reserve-stock",
            lambda: self._transact(
                stock_update,
                self._put(o, "RESERVATION"),
                self._put(o, "OUTBOX#StockReserved", body=body),
                self._put(o, "PROCESSED#reserve-stock"),
            ),
        )
        self._publish(order, "StockReserved")
        for version in ("v1", "v2"):
            self._consume(
                "delivery-addresses",
                lambda v=version: self._transact(self._put(o, "ADDRESS", body=body), self._put(o, f"PROCESSED#addresses-{v}")),
            )

        def charge() -> None:
            self.ddb.get_item(TableName=self.table, Key={"pk": {"S": o}, "sk": {"S": "ORDER"}})
            self._transact(
                self._put(o, "TIMELINE#PaymentCaptured"),
                self._put(o, "OUTBOX#PaymentCaptured", body=body),
                self._put(o, "PROCESSED#charge-payment"),
            )

        self._consume("charge-payment", charge)
        self._publish(order, "PaymentCaptured")
        self._consume(
            "request-shipment",
            lambda: self._transact(
                self._put(f"SHIPMENT#{order}", "SHIPMENT", body=body),
                self._put(o, "OUTBOX#ShipmentRequested", body=body),
                self._put(o, "PROCESSED#request-shipment"),
            ),
        )
        self._publish(order, "ShipmentRequested")
        self._consume(
            "order-emails",
            lambda: self.ses.send_email(
                Source=self.sender,
                Destination={"ToAddresses": ["floor@example.com"]},
                Message={"Subject": {"Data": "Your order"}, "Body": {"Text": {"Data": body}}},
            ),
        )
        self._consume(
            "order-history",
            lambda: self._transact(self._put(o, "TIMELINE#ShipmentRequested"), self._put(o, "PROCESSED#order-history")),
        )

    def measure(self, seconds: float, warm_up_orders: int = 3) -> dict[str, Any]:
        for _ in range(warm_up_orders):
            self.one_order()
        done = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            self.one_order()
            done += 1
        elapsed = time.perf_counter() - start
        return {
            "orders": done,
            "seconds": round(elapsed, 3),
            "orders_per_second": round(done / elapsed, 3),
            "calls_per_order": FLOOR_CALLS,
            "calls_per_second": round(done * FLOOR_CALLS / elapsed, 1),
            "calls": "see bench/floor.py: TransactWriteItems x7, PutEvents x4, UpdateItem x5, ReceiveMessage x7, "
            "DeleteMessageBatch x7, GetItem x1, SendEmail x1",
        }
