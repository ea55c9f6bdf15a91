"""vod end to end: a paid order's video lines become entitlements the customer sees at GET /me/videos.

The catalog on this branch sells no video products yet (product types come with issue 11), so the test
plays orders' part on the bus: it puts the PaymentCaptured v1 orders publishes for a paid rental on the
shop's bus with orders' source; EventBridge's rule, vod's queue, the dispatcher and vod's handler do the rest."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shop_contracts.events import Money, OrderLine, PaymentCapturedV1, VideoAccess
from shop_devstack.oidc_issuer import DEMO_USERS
from shop_devstack.testing import eventually
from shop_eventing.envelope import new_event


def publish_as_orders(shop: Any, data: PaymentCapturedV1, now: datetime) -> str:
    event = new_event(data, producer="shop.orders", correlation_id=data.order_id, now=now)
    entry = {
        "EventBusName": shop.stack.naming.bus,
        "Source": "shop.orders",
        "DetailType": "PaymentCaptured",
        "Detail": json.dumps(event.to_detail()),
    }
    response = shop.stack.client("events").put_events(Entries=[entry])
    assert response["FailedEntryCount"] == 0
    return event.event_id


def test_a_paid_rental_is_granted_with_its_expiry_and_listed_for_the_customer(shop):
    order_id = f"ord-{uuid.uuid4().hex[:12]}"
    video_id = f"vid_{uuid.uuid4().hex[:20]}"
    paid_at = datetime.now(UTC).replace(microsecond=0)
    data = PaymentCapturedV1(
        order_id=order_id,
        payment_id="ch_e2e",
        amount=Money(amount=399, currency="EUR"),
        customer_email="ada@example.com",
        customer_id=DEMO_USERS["ada"].sub,
        lines=[
            OrderLine(
                sku="FILM-RENT-48",
                name="48-hour rental",
                kind="digital",
                quantity=1,
                unit_price=Money(amount=399, currency="EUR"),
                access=VideoAccess(product_type="video_rental", video_id=video_id, rental_hours=48),
            )
        ],
    )

    publish_as_orders(shop, data, paid_at)

    def granted() -> dict[str, Any] | None:
        mine = shop.call("vod", "GET", "/me/videos", user="ada").body["entitlements"]
        return next((e for e in mine if e["order_id"] == order_id), None)

    entitlement = eventually(granted, timeout=30, what=f"ada's entitlement from {order_id}")
    assert entitlement["video_id"] == video_id
    assert entitlement["expires_at"] == (paid_at + timedelta(hours=48)).isoformat()
    assert entitlement["active"] is True
    others = shop.call("vod", "GET", "/me/videos", user="grace").body["entitlements"]
    assert all(e["order_id"] != order_id for e in others)
