"""Selling access: PaymentCaptured grants an entitlement per line that sells a video or a live show,
once, whatever is delivered twice; the customer sees theirs, with a rental's expiry, at GET /me/videos."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from shop_contracts.events import Money, OrderLine, PaymentCapturedV1, VideoAccess
from shop_devstack.oidc_issuer import DEMO_USERS
from shop_devstack.testing import bearer, deliver_to_subscription, eventbridge_body
from shop_eventing.envelope import DomainEvent, new_event

PAID_AT = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
EUR = Money(amount=399, currency="EUR")


def paid(customer: str, lines: list[OrderLine], *, at: datetime = PAID_AT) -> DomainEvent:
    order_id = f"ord-{uuid.uuid4().hex[:12]}"
    data = PaymentCapturedV1(
        order_id=order_id,
        payment_id="ch_test",
        amount=Money(amount=399 * len(lines), currency="EUR"),
        customer_email=f"{customer}@example.com",
        lines=lines,
        customer_id=DEMO_USERS[customer].sub,
    )
    return new_event(data, producer="shop.orders", correlation_id=order_id, now=at)


def line(sku: str, access: VideoAccess | None) -> OrderLine:
    return OrderLine(sku=sku, name=sku, kind="digital" if access else "physical", quantity=1, unit_price=EUR, access=access)


def rental(video_id: str, hours: int = 48) -> VideoAccess:
    return VideoAccess(product_type="video_rental", video_id=video_id, rental_hours=hours)


def my_videos(client, issuer, user: str) -> list[dict]:
    response = client.http.get("/me/videos", headers=bearer(issuer, user))
    assert response.status_code == 200, response.body
    return list(json.loads(response.body)["entitlements"])


def granted(aws, order_id: str) -> list[dict]:
    return [i["detail"]["data"] for i in aws.outbox(correlation_id=order_id) if i["event_type"] == "EntitlementGranted"]


def test_a_paid_rental_and_purchase_are_granted_and_listed_with_the_rentals_expiry(client, issuer, vod_app, aws):
    video = f"vid_{uuid.uuid4().hex[:20]}"
    show = f"show-{uuid.uuid4().hex[:8]}"
    event = paid(
        "grace",
        [
            line("MUG-1", None),
            line("FILM-RENT", rental(video, 48)),
            line("FILM-BUY", VideoAccess(product_type="video_purchase", video_id=video)),
            line("SHOW-1", VideoAccess(product_type="live_ticket", live_show_id=show)),
        ],
    )

    assert deliver_to_subscription(vod_app, "vod", "grant-access", eventbridge_body(event)) == {"batchItemFailures": []}

    events = granted(aws, event.data.order_id)  # type: ignore[attr-defined]
    assert sorted((e["sku"], e["expires_at"]) for e in events) == [
        ("FILM-BUY", None),
        ("FILM-RENT", (PAID_AT + timedelta(hours=48)).isoformat()),
        ("SHOW-1", None),
    ]
    assert {e["order_id"] for e in events} == {event.data.order_id}  # type: ignore[attr-defined]
    mine = {e["sku"]: e for e in my_videos(client, issuer, "grace") if e["order_id"] == event.data.order_id}  # type: ignore[attr-defined]
    assert set(mine) == {"FILM-RENT", "FILM-BUY", "SHOW-1"}
    assert mine["FILM-RENT"]["expires_at"] == (PAID_AT + timedelta(hours=48)).isoformat()
    assert mine["FILM-RENT"]["active"] is False  # 48 hours from 2025-06-01 are long over
    assert (mine["FILM-BUY"]["video_id"], mine["FILM-BUY"]["active"]) == (video, True)
    assert (mine["SHOW-1"]["live_show_id"], mine["SHOW-1"]["video_id"]) == (show, None)
    assert all(e["order_id"] != event.data.order_id for e in my_videos(client, issuer, "ada"))  # type: ignore[attr-defined]


def test_a_rental_paid_now_is_active(client, issuer, vod_app, aws):
    event = paid("grace", [line("FILM-NOW", rental(f"vid_{uuid.uuid4().hex[:20]}", 1))], at=datetime.now(UTC))

    deliver_to_subscription(vod_app, "vod", "grant-access", eventbridge_body(event))

    [mine] = [e for e in my_videos(client, issuer, "grace") if e["order_id"] == event.data.order_id]  # type: ignore[attr-defined]
    assert mine["active"] is True


def test_a_payment_delivered_twice_grants_once(vod_app, aws):
    event = paid("grace", [line("FILM-TWICE", rental(f"vid_{uuid.uuid4().hex[:20]}"))])

    assert deliver_to_subscription(vod_app, "vod", "grant-access", eventbridge_body(event), eventbridge_body(event)) == {
        "batchItemFailures": []
    }
    deliver_to_subscription(vod_app, "vod", "grant-access", eventbridge_body(event))

    assert len(granted(aws, event.data.order_id)) == 1  # type: ignore[attr-defined]


def test_a_replayed_payment_with_a_new_event_id_still_grants_once(vod_app, aws):
    """A second PaymentCaptured for the same order (another event_id) names the same entitlement."""
    first = paid("grace", [line("FILM-AGAIN", rental(f"vid_{uuid.uuid4().hex[:20]}"))])
    again = new_event(first.data, producer="shop.orders", correlation_id=first.metadata.correlation_id, now=PAID_AT)

    deliver_to_subscription(vod_app, "vod", "grant-access", eventbridge_body(first))
    assert deliver_to_subscription(vod_app, "vod", "grant-access", eventbridge_body(again)) == {"batchItemFailures": []}

    assert len(granted(aws, first.data.order_id)) == 1  # type: ignore[attr-defined]
    assert aws.processed("vod.grant-access", again.event_id)


def test_an_order_of_physical_goods_grants_nothing(vod_app, aws):
    event = paid("grace", [line("MUG-1", None)])

    assert deliver_to_subscription(vod_app, "vod", "grant-access", eventbridge_body(event)) == {"batchItemFailures": []}

    assert granted(aws, event.data.order_id) == []  # type: ignore[attr-defined]
    assert aws.processed("vod.grant-access", event.event_id)


def test_my_videos_needs_a_token(client):
    assert client.http.anonymous.get("/me/videos").status_code == 401
