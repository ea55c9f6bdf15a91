"""Selling access: PaymentCaptured grants an entitlement per line that sells a video or a live show,
once, whatever is delivered twice; the customer sees theirs, with a rental's expiry, at GET /me/videos.

Taking it back: OrderCancelled revokes all of an order's entitlements, PaymentRefunded the refunded
lines' (all when fully refunded); each once, and a payment arriving after its revoke grants nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from shop_contracts.events import Money, OrderCancelledV1, OrderLine, PaymentCapturedV1, PaymentRefundedV1, VideoAccess
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


# -- revoking ------------------------------------------------------------------------------------

CANCELLED_AT = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
OK = {"batchItemFailures": []}


def cancelled(payment: DomainEvent) -> DomainEvent:
    data = payment.data
    assert data is not None
    order = data.model_dump()
    event = OrderCancelledV1(
        order_id=order["order_id"],
        cancelled_by="customer",
        reason="changed my mind",
        customer_email=order["customer_email"],
        customer_id=order["customer_id"],
        lines=order["lines"],
        total=order["amount"],
        payment_id=order["payment_id"],
    )
    return new_event(event, producer="shop.orders", correlation_id=order["order_id"], now=CANCELLED_AT)


def refunded(payment: DomainEvent, skus: list[str], *, fully: bool) -> DomainEvent:
    order = payment.data.model_dump()  # type: ignore[union-attr]
    event = PaymentRefundedV1(
        order_id=order["order_id"],
        refund_id=f"re_{uuid.uuid4().hex[:10]}",
        payment_id=order["payment_id"],
        amount=Money(amount=399, currency="EUR"),
        refunded_total=Money(amount=399, currency="EUR"),
        fully_refunded=fully,
        reason="the stream would not play",
        initiated_by="staff",
        skus=skus,
        customer_email=order["customer_email"],
        customer_id=order["customer_id"],
    )
    return new_event(event, producer="shop.orders", correlation_id=order["order_id"], now=CANCELLED_AT)


def revoked(aws, order_id: str) -> list[dict]:
    return [i["detail"]["data"] for i in aws.outbox(correlation_id=order_id) if i["event_type"] == "EntitlementRevoked"]


def buy(video: str) -> VideoAccess:
    return VideoAccess(product_type="video_purchase", video_id=video)


def a_video() -> str:
    return f"vid_{uuid.uuid4().hex[:20]}"


def test_a_cancellation_after_the_grant_revokes_every_entitlement_of_the_order(client, issuer, vod_app, aws):
    video, show = a_video(), f"show-{uuid.uuid4().hex[:8]}"
    payment = paid(
        "grace",
        [
            line("MUG-1", None),
            line("FILM-BUY", buy(video)),
            line("SHOW-1", VideoAccess(product_type="live_ticket", live_show_id=show)),
        ],
    )
    order_id = payment.data.order_id  # type: ignore[union-attr]
    assert deliver_to_subscription(vod_app, "vod", "grant-access", eventbridge_body(payment)) == OK
    assert {e["sku"]: e["active"] for e in my_videos(client, issuer, "grace") if e["order_id"] == order_id} == {
        "FILM-BUY": True,
        "SHOW-1": True,
    }

    cancel = cancelled(payment)
    assert deliver_to_subscription(vod_app, "vod", "revoke-access", eventbridge_body(cancel)) == OK

    events = revoked(aws, order_id)
    assert sorted((e["sku"], e["reason"], e["customer_id"], e["video_id"], e["live_show_id"]) for e in events) == [
        ("FILM-BUY", "order_cancelled", DEMO_USERS["grace"].sub, video, None),
        ("SHOW-1", "order_cancelled", DEMO_USERS["grace"].sub, None, show),
    ]
    assert {e["entitlement_id"] for e in events} == {e["entitlement_id"] for e in granted(aws, order_id)}
    assert {e["revoked_at"] for e in events} == {CANCELLED_AT.isoformat()}
    mine = {e["sku"]: e for e in my_videos(client, issuer, "grace") if e["order_id"] == order_id}
    assert {sku: (e["status"], e["active"]) for sku, e in mine.items()} == {
        "FILM-BUY": ("REVOKED", False),
        "SHOW-1": ("REVOKED", False),
    }
    assert aws.processed("vod.revoke-access", cancel.event_id)


def test_a_cancellation_delivered_twice_and_a_full_refund_after_it_revoke_once(vod_app, aws):
    payment = paid("grace", [line("FILM-BUY", buy(a_video()))])
    order_id = payment.data.order_id  # type: ignore[union-attr]
    deliver_to_subscription(vod_app, "vod", "grant-access", eventbridge_body(payment))
    cancel = cancelled(payment)

    assert deliver_to_subscription(vod_app, "vod", "revoke-access", eventbridge_body(cancel), eventbridge_body(cancel)) == OK
    deliver_to_subscription(vod_app, "vod", "revoke-access", eventbridge_body(cancel))
    refund = refunded(payment, ["FILM-BUY"], fully=True)
    assert deliver_to_subscription(vod_app, "vod", "revoke-access", eventbridge_body(refund)) == OK

    assert [e["sku"] for e in revoked(aws, order_id)] == ["FILM-BUY"]
    assert aws.processed("vod.revoke-access", refund.event_id)


def test_a_cancellation_before_the_payment_arrives_makes_the_late_grant_grant_nothing(client, issuer, vod_app, aws):
    payment = paid("grace", [line("FILM-BUY", buy(a_video())), line("FILM-RENT", rental(a_video()))])
    order_id = payment.data.order_id  # type: ignore[union-attr]

    assert deliver_to_subscription(vod_app, "vod", "revoke-access", eventbridge_body(cancelled(payment))) == OK
    assert deliver_to_subscription(vod_app, "vod", "grant-access", eventbridge_body(payment)) == OK

    assert granted(aws, order_id) == []
    assert revoked(aws, order_id) == []  # nothing was granted, so nothing is taken back
    assert [e for e in my_videos(client, issuer, "grace") if e["order_id"] == order_id] == []
    assert aws.processed("vod.grant-access", payment.event_id)


def test_a_partial_refund_revokes_only_the_sku_it_names(client, issuer, vod_app, aws):
    payment = paid("grace", [line("FILM-BUY", buy(a_video())), line("FILM-RENT", rental(a_video()))])
    order_id = payment.data.order_id  # type: ignore[union-attr]
    deliver_to_subscription(vod_app, "vod", "grant-access", eventbridge_body(payment))

    refund = refunded(payment, ["FILM-RENT"], fully=False)
    assert deliver_to_subscription(vod_app, "vod", "revoke-access", eventbridge_body(refund)) == OK

    assert [(e["sku"], e["reason"]) for e in revoked(aws, order_id)] == [("FILM-RENT", "refunded")]
    mine = {e["sku"]: e["status"] for e in my_videos(client, issuer, "grace") if e["order_id"] == order_id}
    assert mine == {"FILM-BUY": "ACTIVE", "FILM-RENT": "REVOKED"}


def test_a_partial_refund_before_the_payment_tombstones_only_its_sku(client, issuer, vod_app, aws):
    payment = paid("grace", [line("FILM-BUY", buy(a_video())), line("FILM-RENT", rental(a_video()))])
    order_id = payment.data.order_id  # type: ignore[union-attr]

    deliver_to_subscription(vod_app, "vod", "revoke-access", eventbridge_body(refunded(payment, ["FILM-RENT"], fully=False)))
    assert deliver_to_subscription(vod_app, "vod", "grant-access", eventbridge_body(payment)) == OK

    assert [e["sku"] for e in granted(aws, order_id)] == ["FILM-BUY"]
    assert {e["sku"] for e in my_videos(client, issuer, "grace") if e["order_id"] == order_id} == {"FILM-BUY"}
