"""What the fulfillment end-to-end tests share: an order paid through the real flow with a Japanese
address, the warehouse's API (signed in as wes), the fake 3PL's admin endpoints, fulfillment's event
log (its outbox) and its carrier-list bucket, and events put on the bus as their producer would."""

from __future__ import annotations

import json
import uuid
from typing import Any

from shop_devstack.testing import eventually, outbox_items
from shop_eventing.envelope import DomainEvent

WAREHOUSE = "wes"
JP_ADDRESS = {
    "recipient": "山田 花子",
    "line1": "千代田1-1",
    "line2": "グランドハイツ101",
    "city": "千代田区",
    "postal_code": "100-0001",
    "country": "JP",
    "region": "東京都",
    "phone": "03-1234-5678",
}


class Fulfillment:
    """The running shop as the warehouse, the 3PL and an operator reading fulfillment's log see it."""

    def __init__(self, shop: Any) -> None:
        self.shop = shop
        self.stack = shop.stack

    # -- orders --------------------------------------------------------------------------------
    def paid_physical_order(self, *, quantity: int = 1) -> str:
        """A physical product ordered and paid through orders, catalog and the gateway; its shipment requested."""
        sku = self.shop.new_product(stock=5, amount=1500, currency="JPY")
        placed = self.shop.place_order([(sku, quantity)], address=JP_ADDRESS)
        assert placed.status == 201, placed.body
        order_id = str(placed.body["order_id"])
        self.shop.settled_order(order_id, wanting={"SHIPMENT_REQUESTED"})
        # The structured address reaches fulfillment through OrderPlaced v2, on its own queue.
        eventually(lambda: (self.shipment(order_id).get("delivery_address") or {}).get("region"), what="the structured address")
        return order_id

    # -- the warehouse ---------------------------------------------------------------------------
    def call(self, method: str, path: str, body: Any = None) -> Any:
        return self.shop.call("fulfillment", method, path, body, user=WAREHOUSE)

    def shipment(self, order_id: str) -> dict[str, Any]:
        reply = self.call("GET", f"/orders/{order_id}/shipment")
        assert reply.status == 200, reply.body
        return dict(reply.body)

    def shipment_reaches(self, order_id: str, status: str, timeout: float = 40) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            shipment = self.shipment(order_id)
            return shipment if shipment["status"] == status else None

        return eventually(probe, timeout=timeout, what=f"the shipment of {order_id} to be {status}")

    def pick_and_pack(self, order_id: str, handoff: str = "logistics_service") -> dict[str, Any]:
        picked = self.call("POST", f"/orders/{order_id}/shipment/picked")
        assert picked.status == 200, picked.body
        packed = self.call("POST", f"/orders/{order_id}/shipment/packed", {"handoff": handoff})
        assert packed.status == 200, packed.body
        return dict(packed.body)

    # -- the 3PL -----------------------------------------------------------------------------------
    def admin(self, path: str, body: Any = None) -> Any:
        method = "GET" if body is None else "POST"
        response = self.shop.http.request(
            method, f"{self.stack.logistics_url}{path}", body=json.dumps(body) if body is not None else None
        )
        return json.loads(response.data)

    def faults(self, **faults: Any) -> None:
        self.admin("/admin/faults", faults)

    def at_3pl(self, shipment_id: str) -> list[dict[str, Any]]:
        return [s for s in self.admin("/admin/shipments")["shipments"] if s["identifier"] == shipment_id]

    def advance(self, logistics_id: str, status: str, **options: Any) -> list[dict[str, Any]]:
        """Move the 3PL's shipment on; it calls fulfillment's webhook. Returns the notifications and their answers."""
        answer = self.admin(f"/admin/shipments/{logistics_id}/advance", {"status": status, **options})
        assert "notifications" in answer, answer
        return list(answer["notifications"])

    def notify(self, logistics_id: str, status: str, **options: Any) -> dict[str, Any]:
        [sent] = self.admin(f"/admin/shipments/{logistics_id}/notify", {"status": status, **options})["notifications"]
        return dict(sent)

    # -- fulfillment's event log, bucket and log ---------------------------------------------------
    def published(self, order_id: str, event_type: str) -> list[dict[str, Any]]:
        table = self.stack.naming.table("fulfillment")
        items = outbox_items(self.stack.client("dynamodb"), table, correlation_id=order_id, event_type=event_type)
        return [item["detail"] for item in items]

    def carrier_list(self, day: str) -> bytes:
        bucket = self.stack.naming.bucket("fulfillment", "carrier-lists")
        return bytes(self.stack.client("s3").get_object(Bucket=bucket, Key=f"yamato-b2/{day}.csv")["Body"].read())

    def retries_logged(self, order_id: str, subscription_event: str) -> int:
        return sum(
            1
            for record in self.shop.log_records("fulfillment")
            if record.get("correlation_id") == order_id
            and record.get("event_type") == subscription_event
            and record.get("message") == "handler failed; the record will be retried"
        )

    # -- the bus ------------------------------------------------------------------------------------
    def publish(self, event: DomainEvent) -> None:
        """Put `event` on the shop's bus under its producer's source, as the producer's relay does."""
        answer = self.stack.client("events").put_events(
            Entries=[
                {
                    "Source": event.metadata.producer,
                    "DetailType": event.event_type,
                    "Detail": json.dumps(event.to_detail()),
                    "EventBusName": self.stack.naming.bus,
                }
            ]
        )
        assert answer["FailedEntryCount"] == 0, answer


def new_order_id() -> str:
    return f"ord-{uuid.uuid4().hex[:12]}"
