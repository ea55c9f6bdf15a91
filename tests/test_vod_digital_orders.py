"""Digital goods end to end, on the embedded shop: a rental bought through the real flow (staff's catalog,
the customer's POST /orders, stock, payment, vod's grant) shows its line delivered and the order
delivered; a cancel takes the access back (EntitlementRevoked) and the line shows revoked; a mixed
order is delivered when its parcel and its digital line are. The uploader of a video (real ffmpeg) gets
one "ready" e-mail even when every message is delivered twice; a live show's announcement, put on the
bus as vod publishes it, mails each ticket holder once, a duplicate nobody twice, a revoked holder never."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import urllib3

from shop_contracts.events import LiveShowStartingSoonV1
from shop_devstack.testing import eventually
from shop_eventing.envelope import DomainEvent, new_event
from tests.fulfillment_e2e import JP_ADDRESS, Fulfillment

STAFF = "sam"
WAREHOUSE = "wes"


def staff(shop: Any, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    return shop.call("catalog", method, path, body, headers, user=STAFF)


def on_sale(shop: Any, product_type: str, access: dict[str, Any], *, amount: int = 399, stock: int | None = None) -> str:
    """A digital product staff create and publish; returned once the storefront sells it."""
    sku = f"{product_type.upper().replace('_', '-')}-{uuid.uuid4().hex[:8].upper()}"
    body: dict[str, Any] = {
        "sku": sku,
        "name": f"{product_type} {sku}",
        "product_type": product_type,
        "price": {"amount": amount, "currency": "USD"},
        "access": access,
    }
    if stock is not None:
        body["stock"] = stock
    created = staff(shop, "POST", "/staff/products", body)
    assert created.status == 201, created.body
    published = staff(shop, "POST", f"/staff/products/{sku}/publish", headers={"If-Match": '"1"'})
    assert published.status == 200, published.body
    eventually(lambda: shop.storefront_has(sku), what=f"{sku} in the orders service's catalog view")
    return sku


def rental(shop: Any) -> str:
    return on_sale(shop, "video_rental", {"video_id": f"vid_{uuid.uuid4().hex[:20]}", "rental_hours": 48})


def ticket(shop: Any, show: str) -> str:
    return on_sale(shop, "live_ticket", {"live_show_id": show}, amount=3000, stock=10)


def placed(shop: Any, lines: list[tuple[str, int]], *, email: str, address: Any = None, user: str = "ada") -> str:
    reply = shop.place_order(lines, email=email, address=address, user=user)
    assert reply.status == 201, reply.body
    return str(reply.body["order_id"])


def delivery_of(order: dict[str, Any], sku: str) -> dict[str, Any] | None:
    return next(line["delivery"] for line in order["lines"] if line["sku"] == sku)


def order_where(shop: Any, order_id: str, condition: Any, what: str, user: str = "ada") -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        order = shop.order(order_id, user=user)
        return order if condition(order) else None

    return eventually(probe, timeout=60, what=f"order {order_id}: {what}")


def new_email(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}@example.com"


# -- orders shows digital lines as delivered ---------------------------------------------------------


def test_a_rental_bought_through_the_shop_is_delivered_and_a_cancel_revokes_it(shop):
    sku = rental(shop)
    order_id = placed(shop, [(sku, 1)], email=new_email("renter"))

    order = order_where(shop, order_id, lambda o: o["status"] == "DELIVERED", "delivered")

    assert (order["payment_status"], order["fulfillment_status"]) == ("captured", "delivered")
    line = delivery_of(order, sku)
    assert line is not None and line["status"] == "delivered" and line["expires_at"]
    assert [e["event_type"] for e in order["timeline"]][-1] == "EntitlementGranted"
    granted = [e for e in shop.call("vod", "GET", "/me/videos").body["entitlements"] if e["order_id"] == order_id]
    assert [(e["sku"], e["active"], e["entitlement_id"]) for e in granted] == [(sku, True, line["entitlement_id"])]

    cancelled = shop.call("orders", "POST", f"/orders/{order_id}/cancel", {"reason": "wrong film"})
    assert cancelled.status == 200, cancelled.body

    order = order_where(shop, order_id, lambda o: delivery_of(o, sku)["status"] == "revoked", "the rental revoked")
    assert (order["status"], order["fulfillment_status"]) == ("CANCELLED", "cancelled")
    assert delivery_of(order, sku)["revoke_reason"] == "order_cancelled"
    order = order_where(shop, order_id, lambda o: o["payment_status"] == "refunded", "refunded")
    revoked = [e for e in shop.call("vod", "GET", "/me/videos").body["entitlements"] if e["order_id"] == order_id]
    assert [(e["status"], e["active"]) for e in revoked] == [("REVOKED", False)]
    staff_view = shop.call("orders", "GET", f"/staff/orders/{order_id}", user=STAFF).body
    assert delivery_of(staff_view, sku)["status"] == "revoked"


def test_a_mixed_order_is_delivered_when_its_parcel_and_its_rental_are(shop):
    box, film = shop.new_product(stock=5, amount=1500, currency="USD"), rental(shop)
    order_id = placed(shop, [(box, 1), (film, 1)], email=new_email("mixed"), address=JP_ADDRESS)

    order = order_where(
        shop,
        order_id,
        lambda o: o["status"] == "SHIPMENT_REQUESTED" and delivery_of(o, film)["status"] == "delivered",
        "the shipment requested and the rental delivered",
    )
    assert order["fulfillment_status"] == "not_fulfilled"  # the parcel has not left: the parcel decides
    assert delivery_of(order, box) is None

    fulfillment = Fulfillment(shop)
    eventually(lambda: (fulfillment.shipment(order_id).get("delivery_address") or {}).get("region"), what="the address")
    fulfillment.pick_and_pack(order_id)
    logistics_id = fulfillment.shipment_reaches(order_id, "INSTRUCTED")["logistics_shipment_id"]
    for status in ("picking", "packed", "shipped", "delivered"):
        fulfillment.advance(logistics_id, status)

    order = order_where(shop, order_id, lambda o: o["status"] == "DELIVERED", "delivered")
    assert order["fulfillment_status"] == "delivered"
    assert delivery_of(order, film)["status"] == "delivered"


# -- notify: the uploader and the ticket holders ------------------------------------------------------


def clip(path: Path) -> bytes:
    import subprocess

    import imageio_ffmpeg

    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"]
    command += ["-i", "testsrc=size=320x180:rate=25:duration=2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    subprocess.run([*command, str(path)], check=True, capture_output=True)
    return path.read_bytes()


def queue_drained(shop: Any, service: str, subscription: str) -> bool:
    sqs = shop.stack.client("sqs")
    url = sqs.get_queue_url(QueueName=shop.stack.naming.queue(service, subscription))["QueueUrl"]
    counts = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return not any(int(value) for value in counts.values())


def copies_sent(shop: Any, function: str) -> int:
    """How many messages the duplicate-delivery drill has re-sent to one of notify's functions so far."""
    messages = (str(record.get("message", "")) for record in shop.log_records("notify"))
    return sum("duplicate delivery drill: re-sent" in message and message.endswith(f"-{function}") for message in messages)


def test_the_uploader_is_told_once_that_the_video_is_ready_even_when_every_message_comes_twice(shop, tmp_path):
    uploader = new_email("uploader")
    created = shop.call("vod", "POST", "/videos", {"title": "Making of", "notify_email": uploader}, user=STAFF)
    assert created.status == 201, created.body
    video_id = created.body["video_id"]
    put = urllib3.request(
        "PUT", created.body["upload_url"], body=clip(tmp_path / "clip.mp4"), headers={"Content-Type": "video/mp4"}
    )
    assert put.status == 200

    before = copies_sent(shop, "send_video_emails")
    with shop.stack.duplicate_deliveries():
        completed = shop.call("vod", "POST", f"/videos/{video_id}/upload/complete", {}, user=STAFF)
        assert completed.status == 200, completed.body
        [mail] = eventually(lambda: shop.emails_to(uploader), timeout=120, interval=0.5, what="the 'ready' e-mail")
        eventually(lambda: copies_sent(shop, "send_video_emails") > before, timeout=30, what="the e-mail's duplicate delivery")
        eventually(lambda: queue_drained(shop, "notify", "video-emails"), what="video-emails to drain, copies included")

    assert shop.call("vod", "GET", f"/videos/{video_id}", user=STAFF).body["state"] == "READY"
    assert mail["subject"] == "動画「Making of」の準備ができました"  # no locale on the video: the shop's default
    assert video_id in mail["body"]
    assert len(shop.emails_to(uploader)) == 1


def announce(shop: Any, show: str, *, starts_in: timedelta = timedelta(minutes=30)) -> DomainEvent:
    """LiveShowStartingSoon on the shop's bus, as vod's relay puts it."""
    data = LiveShowStartingSoonV1(
        live_show_id=show,
        title="Live in Tokyo",
        starts_at=(datetime.now(UTC) + starts_in).isoformat(),
        watch_url=f"https://shop.example/live/{show}",
    )
    event = new_event(data, producer="shop.vod", correlation_id=show)
    return publish(shop, event)


REMINDER = "まもなく「Live in Tokyo」が始まります"  # the orders carry no locale: the shop's default, Japanese


def reminders_to(shop: Any, email: str) -> list[dict[str, Any]]:
    """The show's reminders to `email` (the buyer's order e-mails go to the same address)."""
    return [mail for mail in shop.emails_to(email) if mail["subject"] == REMINDER]


def publish(shop: Any, event: DomainEvent) -> DomainEvent:
    entry = {
        "EventBusName": shop.stack.naming.bus,
        "Source": "shop.vod",
        "DetailType": event.event_type,
        "Detail": json.dumps(event.to_detail()),
    }
    assert shop.stack.client("events").put_events(Entries=[entry])["FailedEntryCount"] == 0
    return event


def test_each_ticket_holder_is_told_once_the_show_starts_soon_and_a_revoked_one_never(shop):
    show = f"show-{uuid.uuid4().hex[:8]}"
    sku = ticket(shop, show)
    ada, grace, quitter = new_email("ada"), new_email("grace"), new_email("quitter")
    holders = {ada: "ada", grace: "grace"}
    orders = [(placed(shop, [(sku, 1)], email=email, user=user), user) for email, user in holders.items()]
    cancelled = placed(shop, [(sku, 1)], email=quitter)
    for order_id, user in [*orders, (cancelled, "ada")]:
        order_where(shop, order_id, lambda o: o["status"] == "DELIVERED", "the ticket granted", user=user)
    assert shop.call("orders", "POST", f"/orders/{cancelled}/cancel", {"reason": "cannot come"}).status == 200
    order_where(shop, cancelled, lambda o: delivery_of(o, sku)["status"] == "revoked", "the ticket revoked")

    soon = announce(shop, show)
    for email in holders:
        [mail] = eventually(lambda email=email: reminders_to(shop, email), timeout=60, what=f"the reminder to {email}")
        assert f"https://shop.example/live/{show}" in mail["body"]

    before = copies_sent(shop, "send_show_reminders")
    with shop.stack.duplicate_deliveries():
        publish(shop, soon)  # a replay: the same event_id in a new envelope, delivered twice
        eventually(lambda: copies_sent(shop, "send_show_reminders") > before, timeout=30, what="the duplicate delivery")
        eventually(lambda: queue_drained(shop, "notify", "show-reminders"), what="show-reminders to drain")

    assert {email: len(reminders_to(shop, email)) for email in (ada, grace, quitter)} == {ada: 1, grace: 1, quitter: 0}


def test_a_ticket_bought_after_the_announcement_still_gets_the_reminder(shop):
    show = f"show-{uuid.uuid4().hex[:8]}"
    sku = ticket(shop, show)
    announce(shop, show)
    eventually(lambda: queue_drained(shop, "notify", "show-reminders"), what="the announcement handled")

    late = new_email("late")
    order_where(shop, placed(shop, [(sku, 1)], email=late), lambda o: o["status"] == "DELIVERED", "the ticket granted")

    [mail] = eventually(lambda: reminders_to(shop, late), timeout=60, what="the late buyer's reminder")
    assert "Live in Tokyo" in mail["body"]
