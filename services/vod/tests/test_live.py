"""Live shows through vod's API and handlers, against the embedded AWS and the fake IVS
(shop_devstack.live_channel, which speaks IVS's API; vod's IVS adapter reaches it through
AWS_ENDPOINT_URL_IVS as on the embedded stack). IVS's stream and recording events are handed to vod's
live-events handler in the shape EventBridge delivers them, so no broadcast runs here (the fake's own
tests and tests/test_vod_live.py run real ones)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import jwt

from shop_contracts.events import (
    Money,
    OrderCancelledV1,
    OrderLine,
    PaymentCapturedV1,
    ProductPublishedV1,
    VideoAccess,
)
from shop_devstack.dispatcher import scheduled_event
from shop_devstack.oidc_issuer import DEMO_USERS
from shop_devstack.testing import LOCAL_NAMING, bearer, deliver_to_subscription, eventbridge_body, lambda_sqs_event
from shop_eventing.envelope import new_event

BUCKET = LOCAL_NAMING.prefix + "-local-vod-media"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:123456789012:{LOCAL_NAMING.queue('vod', 'live-events')}"
OK = {"batchItemFailures": []}


def create_show(client, starts_at: datetime | None = None, title: str = "Live in Tokyo") -> dict[str, Any]:
    body = {"title": title, "starts_at": (starts_at or datetime.now(UTC) + timedelta(days=3)).isoformat()}
    response = client.http.post("/live-shows", body=json.dumps(body), headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.body
    return dict(json.loads(response.body))


def ivs_event(show: dict[str, Any], detail_type: str, detail: dict[str, Any], at: datetime) -> str:
    """An IVS event as EventBridge delivers it to the live-events queue."""
    return json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": "aws.ivs",
            "account": "123456789012",
            "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "us-east-1",
            "resources": [show["channel"]["arn"]],
            "detail": {"channel_name": show["channel"]["name"], "stream_id": "st-test", **detail},
        }
    )


def stream(show: dict[str, Any], name: str, at: datetime) -> str:
    return ivs_event(show, "IVS Stream State Change", {"event_name": name}, at)


def deliver(vod_app, *bodies: str) -> dict[str, Any]:
    return dict(vod_app.live_channel_events(lambda_sqs_event(*bodies, queue_arn=QUEUE_ARN), None))


def show_as(client, show_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = client.http.get(f"/live-shows/{show_id}", headers=headers)
    assert response.status_code == 200, response.body
    return dict(json.loads(response.body))


def published(aws, show_id: str, event_type: str) -> list[dict[str, Any]]:
    return [item["detail"]["data"] for item in aws.outbox(correlation_id=show_id, event_type=event_type)]


def go_live(vod_app, show: dict[str, Any], at: datetime) -> None:
    assert deliver(vod_app, stream(show, "Stream Start", at)) == OK


def ticket(vod_app, customer: str, show_id: str) -> PaymentCapturedV1:
    order_id = f"ord-{uuid.uuid4().hex[:12]}"
    data = PaymentCapturedV1(
        order_id=order_id,
        payment_id="ch_live",
        amount=Money(amount=3000, currency="USD"),
        customer_email=f"{customer}@example.com",
        customer_id=DEMO_USERS[customer].sub,
        lines=[
            OrderLine(
                sku=f"LIVE-{show_id[-6:].upper()}",
                name="ticket",
                kind="digital",
                quantity=1,
                unit_price=Money(amount=3000, currency="USD"),
                access=VideoAccess(product_type="live_ticket", live_show_id=show_id),
            )
        ],
    )
    event = new_event(data, producer="shop.orders", correlation_id=order_id)
    assert deliver_to_subscription(vod_app, "vod", "grant-access", eventbridge_body(event)) == OK
    return data


def test_staff_schedule_a_show_with_a_private_channel_and_customers_see_it_without_the_channel(client, issuer, ivs):
    show = create_show(client, datetime(2030, 12, 1, 19, 0, tzinfo=UTC), "Winter collection live")

    assert (show["state"], show["sequence"], show["current_pin"]) == ("SCHEDULED", 0, None)
    assert show["starts_at"] == "2030-12-01T19:00:00+00:00"
    channel = show["channel"]
    assert channel["arn"].startswith("arn:aws:ivs:") and channel["stream_key"].startswith("sk_")
    assert channel["name"] == f"shop-local-{show['live_show_id']}"
    created = ivs["server"].channels._channels[channel["arn"].rsplit("/", 1)[1]]
    assert created.authorized and created.recording_configuration_arn  # private, recorded

    customer = show_as(client, show["live_show_id"], bearer(issuer, "ada"))
    assert customer["channel"] is None and customer["title"] == "Winter collection live"
    listed = json.loads(client.http.get("/live-shows?limit=100", headers=bearer(issuer, "ada")).body)["live_shows"]
    assert any(s["live_show_id"] == show["live_show_id"] and s["channel"] is None for s in listed)


def test_only_staff_schedule_and_bad_input_is_a_400_naming_the_field(client, issuer, ivs):
    body = json.dumps({"title": "x", "starts_at": "2030-12-01T19:00:00+09:00"})
    assert client.http.post("/live-shows", body=body, headers=bearer(issuer, "ada")).status_code == 403
    naive = client.http.post("/live-shows", body=json.dumps({"title": "x", "starts_at": "2030-12-01T19:00:00"}))
    assert naive.status_code == 400
    assert json.loads(naive.body)["error"]["fields"][0]["field"] == "starts_at"
    no_utc_instant = client.http.post("/live-shows", body=json.dumps({"title": "x", "starts_at": "0001-01-01T00:00:00+01:00"}))
    assert no_utc_instant.status_code == 400
    assert client.http.get("/live-shows/live_nope").status_code == 404
    assert client.http.anonymous.get("/live-shows").status_code == 401


def test_the_stream_moves_the_show_live_then_ended_once_each(client, vod_app, aws, ivs):
    show = create_show(client)
    show_id = show["live_show_id"]
    at = datetime.now(UTC).replace(microsecond=0)

    # IVS's events come unordered: an end before the start is retried (the queue redelivers it).
    early = deliver(vod_app, stream(show, "Stream End", at))
    assert len(early["batchItemFailures"]) == 1
    assert show_as(client, show_id)["state"] == "SCHEDULED"

    assert deliver(vod_app, stream(show, "Stream Start", at), stream(show, "Stream Start", at)) == OK
    live = show_as(client, show_id)
    assert (live["state"], live["started_at"]) == ("LIVE", at.isoformat())
    assert published(aws, show_id, "LiveShowStarted") == [{"live_show_id": show_id, "started_at": at.isoformat()}]

    assert deliver(vod_app, stream(show, "Stream End", at + timedelta(minutes=30))) == OK
    assert deliver(vod_app, stream(show, "Stream Start", at + timedelta(minutes=31))) == OK  # late: never backwards
    assert show_as(client, show_id)["state"] == "ENDED"
    assert len(published(aws, show_id, "LiveShowEnded")) == 1
    assert len(published(aws, show_id, "LiveShowStarted")) == 1


def test_only_ticket_holders_watch_and_only_while_live(client, issuer, vod_app, aws, ivs):
    show = create_show(client)
    show_id = show["live_show_id"]
    path = f"/live-shows/{show_id}/playback"

    refused = client.http.post(path, headers=bearer(issuer, "ada"))
    assert (refused.status_code, json.loads(refused.body)["error"]["code"]) == (403, "not_entitled")
    paid = ticket(vod_app, "ada", show_id)
    not_live = client.http.post(path, headers=bearer(issuer, "ada"))
    assert (not_live.status_code, json.loads(not_live.body)["error"]["code"]) == (409, "not_live")

    go_live(vod_app, show, datetime.now(UTC))
    answer = client.http.post(path, headers=bearer(issuer, "ada"))
    assert answer.status_code == 200, answer.body
    watch = json.loads(answer.body)
    assert watch["playback_url"].startswith(show["channel"]["playback_url"] + "?token=")
    claims = jwt.decode(watch["playback_url"].split("?token=", 1)[1], ivs["public"], algorithms=["ES384"])
    assert claims["aws:channel-arn"] == show["channel"]["arn"]
    assert claims["aws:viewer-id"] == DEMO_USERS["ada"].sub
    assert claims["exp"] == int(datetime.fromisoformat(watch["expires_at"]).timestamp())
    assert client.http.post(path, headers=bearer(issuer, "grace")).status_code == 403

    # The order is cancelled: the ticket is revoked, and so is the way in.
    cancelled = OrderCancelledV1(
        order_id=paid.order_id,
        cancelled_by="customer",
        reason="cannot come",
        customer_email="ada@example.com",
        customer_id=DEMO_USERS["ada"].sub,
        lines=paid.lines,
        total=paid.amount,
    )
    event = new_event(cancelled, producer="shop.orders", correlation_id=paid.order_id)
    assert deliver_to_subscription(vod_app, "vod", "revoke-access", eventbridge_body(event)) == OK
    revoked = client.http.post(path, headers=bearer(issuer, "ada"))
    assert (revoked.status_code, json.loads(revoked.body)["error"]["code"]) == (403, "access_revoked")
    assert client.http.post("/live-shows/live_nope/playback", headers=bearer(issuer, "ada")).status_code == 404


def test_pins_replace_each_other_carry_a_growing_sequence_and_late_joiners_read_the_current_one(
    client, issuer, vod_app, aws, ivs
):
    show = create_show(client)
    show_id = show["live_show_id"]
    pin_path = f"/live-shows/{show_id}/pin"
    json_body = {"Content-Type": "application/json"}

    refused = client.http.put(pin_path, body=json.dumps({"sku": "MUG-1"}), headers=json_body)
    assert (refused.status_code, json.loads(refused.body)["error"]["code"]) == (409, "not_live")
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    go_live(vod_app, show, started)

    first = client.http.put(pin_path, body=json.dumps({"sku": "MUG-1"}), headers=json_body)
    assert first.status_code == 200, first.body
    second = json.loads(client.http.put(pin_path, body=json.dumps({"sku": "TSHIRT-BLUE-M"}), headers=json_body).body)
    assert (second["sequence"], second["current_pin"]["sku"], second["current_pin"]["sequence"]) == (2, "TSHIRT-BLUE-M", 2)
    joiner = show_as(client, show_id, bearer(issuer, "grace"))
    assert joiner["current_pin"] == second["current_pin"]
    assert joiner["current_pin"]["offset_ms"] >= 120_000

    unpinned = client.http.delete(pin_path)
    assert (unpinned.status_code, json.loads(unpinned.body)["current_pin"]) == (200, None)
    nothing = client.http.delete(pin_path)
    assert (nothing.status_code, json.loads(nothing.body)["error"]["code"]) == (409, "nothing_pinned")
    assert client.http.put(pin_path, body=json.dumps({"sku": "MUG-1"}), headers=bearer(issuer, "ada")).status_code == 403
    assert client.http.put(pin_path, body=json.dumps({"sku": "bad sku!"}), headers=json_body).status_code == 400

    pins = published(aws, show_id, "ProductPinned")
    unpins = published(aws, show_id, "ProductUnpinned")
    assert [(p["sequence"], p["product"]["sku"]) for p in pins] == [(1, "MUG-1"), (2, "TSHIRT-BLUE-M")]
    assert [(u["sequence"], u["sku"], u["pin_id"]) for u in unpins] == [(3, "TSHIRT-BLUE-M", pins[1]["pin_id"])]
    assert pins[0]["pinned_by"] == DEMO_USERS["sam"].sub
    assert all(p["offset_ms"] >= 120_000 for p in pins)


def test_a_pin_carries_the_products_name_and_price_as_vod_knows_them_and_the_sku_alone_otherwise(client, vod_app, aws, ivs):
    known, unknown = f"MUG-{uuid.uuid4().hex[:8].upper()}", f"CAP-{uuid.uuid4().hex[:8].upper()}"
    price = Money(amount=1800, currency="JPY")
    catalog = ProductPublishedV1(sku=known, name="Tokyo mug", kind="physical", price=price, revision=1)
    event = new_event(catalog, producer="shop.catalog", correlation_id=f"product:{known}")
    assert deliver_to_subscription(vod_app, "vod", "product-view", eventbridge_body(event)) == OK
    show = create_show(client)
    go_live(vod_app, show, datetime.now(UTC))
    pin_path = f"/live-shows/{show['live_show_id']}/pin"

    for sku in (known, unknown):
        pinned = client.http.put(pin_path, body=json.dumps({"sku": sku}), headers={"Content-Type": "application/json"})
        assert pinned.status_code == 200, pinned.body

    products = [p["product"] for p in published(aws, show["live_show_id"], "ProductPinned")]
    assert products == [
        {"sku": known, "name": "Tokyo mug", "price": {"amount": 1800, "currency": "JPY"}},
        {"sku": unknown, "name": None, "price": None},
    ]


def test_two_pins_racing_take_two_sequences(client, vod_app, aws, ivs):
    """The second reads the show before the first commits: its conditional write fails, it reads again
    and takes the next sequence instead of sharing one."""
    from chalicelib import live_usecases

    show = create_show(client)
    show_id = show["live_show_id"]
    go_live(vod_app, show, datetime.now(UTC))
    stale = vod_app.live_repository.live_show(show_id)
    live_usecases.pin_product(
        show_id, "MUG-1", "sam", vod_app.live_repository, vod_app.live_unit_of_work, vod_app.live_channels()
    )

    class StaleOnce:
        def __init__(self) -> None:
            self.reads = 0

        def live_show(self, live_show_id: str) -> dict[str, Any] | None:
            self.reads += 1
            return stale if self.reads == 1 else vod_app.live_repository.live_show(live_show_id)

    racing = StaleOnce()
    answer = live_usecases.pin_product(
        show_id, "TSHIRT-BLUE-M", "sam", racing, vod_app.live_unit_of_work, vod_app.live_channels()
    )  # type: ignore[arg-type]

    assert racing.reads == 3  # stale, again after the refused write, and the answer
    assert answer["current_pin"]["sku"] == "TSHIRT-BLUE-M" and answer["sequence"] == 2
    assert [p["sequence"] for p in published(aws, show_id, "ProductPinned")] == [1, 2]
    assert [c.sequence for c in vod_app.live_repository.pin_history(show_id)] == [1, 2]


def put_recording(show: dict[str, Any], duration_ms: int) -> str:
    """What IVS leaves in the bucket for a recording (its metadata file is what vod reads)."""
    prefix = f"ivs/v1/123456789012/{show['channel']['arn'].rsplit('/', 1)[1]}/2026/12/1/10/0/rec{uuid.uuid4().hex[:8]}"
    ended = {
        "version": "v1",
        "recording_status": "RECORDING_ENDED",
        "media": {
            "hls": {
                "duration_ms": duration_ms,
                "path": "media/hls",
                "playlist": "master.m3u8",
                "renditions": [
                    {"path": "360p30", "playlist": "playlist.m3u8", "resolution_width": 640, "resolution_height": 360}
                ],
            },
            "thumbnails": {"path": "media/thumbnails", "resolution_width": 640, "resolution_height": 360},
        },
    }
    boto3.client("s3").put_object(Bucket=BUCKET, Key=f"{prefix}/events/recording-ended.json", Body=json.dumps(ended).encode())
    return prefix


def recording_end(show: dict[str, Any], prefix: str, at: datetime, duration_ms: int) -> str:
    detail = {
        "recording_status": "Recording End",
        "recording_status_reason": "",
        "recording_s3_bucket_name": BUCKET,
        "recording_s3_key_prefix": prefix,
        "recording_duration_ms": duration_ms,
    }
    return ivs_event(show, "IVS Recording State Change", detail, at)


def test_the_recording_becomes_a_ready_video_whose_markers_are_the_pins(client, vod_app, aws, ivs):
    show = create_show(client, title="Spring sale live")
    show_id = show["live_show_id"]
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    go_live(vod_app, show, started)
    json_body = {"Content-Type": "application/json"}
    for sku in ("MUG-1", "TSHIRT-BLUE-M"):
        assert client.http.put(f"/live-shows/{show_id}/pin", body=json.dumps({"sku": sku}), headers=json_body).status_code == 200
    assert client.http.delete(f"/live-shows/{show_id}/pin").status_code == 200
    assert (
        client.http.put(f"/live-shows/{show_id}/pin", body=json.dumps({"sku": "POSTER-A2"}), headers=json_body).status_code == 200
    )
    history = vod_app.live_repository.pin_history(show_id)
    assert [(c.action, c.sku) for c in history] == [
        ("pin", "MUG-1"),
        ("pin", "TSHIRT-BLUE-M"),
        ("unpin", "TSHIRT-BLUE-M"),
        ("pin", "POSTER-A2"),
    ]
    end = datetime.now(UTC) + timedelta(seconds=30)
    duration = int((end - started).total_seconds() * 1000)
    prefix = put_recording(show, duration)
    assert deliver(vod_app, stream(show, "Stream End", end)) == OK

    body = recording_end(show, prefix, end, duration)
    assert deliver(vod_app, body, body) == OK  # delivered twice: one video, one VideoReady

    recorded = show_as(client, show_id)
    assert recorded["state"] == "RECORDED"
    video = json.loads(client.http.get(f"/videos/{recorded['video_id']}").body)
    assert (video["state"], video["title"], video["live_show_id"]) == ("READY", "Spring sale live", show_id)
    listed = json.loads(client.http.get("/videos?limit=100").body)["videos"]
    assert [v["live_show_id"] for v in listed if v["video_id"] == recorded["video_id"]] == [show_id]
    assert video["outputs"]["master_playlist_key"] == f"{prefix}/media/hls/master.m3u8"
    assert video["outputs"]["renditions"] == [
        {"name": "360p", "width": 640, "height": 360, "playlist_key": f"{prefix}/media/hls/360p30/playlist.m3u8"}
    ]
    assert video["outputs"]["poster_key"] == f"{prefix}/media/thumbnails/thumb0.jpg"
    [ready] = published(aws, show_id, "VideoReady")
    assert (ready["video_id"], ready["live_show_id"], ready["title"]) == (recorded["video_id"], show_id, "Spring sale live")
    assert aws.item(f"VIDEO#{recorded['video_id']}", "VIDEO")["live_show_id"] == show_id

    markers = vod_app.live_repository.markers(recorded["video_id"])
    offsets = [c.offset_ms for c in history]
    assert [(m["sku"], m["start_ms"], m["end_ms"], m["source"]) for m in markers] == [
        ("MUG-1", offsets[0], offsets[1], "live_pin"),
        ("TSHIRT-BLUE-M", offsets[1], offsets[2], "live_pin"),
        ("POSTER-A2", offsets[3], duration, "live_pin"),  # still pinned when the show ended
    ]
    first = markers[0]
    assert aws.item(f"VIDEO#{recorded['video_id']}", f"MARKER#{first['start_ms']:010d}#{first['marker_id']}") is not None
    assert first["marker_id"] == history[0].pin_id


def test_a_recording_of_a_show_whose_stream_end_was_lost_ends_and_records_it(client, vod_app, aws, ivs):
    show = create_show(client)
    show_id = show["live_show_id"]
    go_live(vod_app, show, datetime.now(UTC) - timedelta(minutes=1))
    prefix = put_recording(show, 60_000)

    assert deliver(vod_app, recording_end(show, prefix, datetime.now(UTC), 60_000)) == OK

    assert show_as(client, show_id)["state"] == "RECORDED"
    assert len(published(aws, show_id, "LiveShowEnded")) == 1
    assert vod_app.live_repository.markers(show_as(client, show_id)["video_id"]) == []


def test_shows_starting_soon_are_announced_once(client, vod_app, aws, ivs):
    soon = create_show(client, datetime.now(UTC) + timedelta(minutes=10), "Soon")
    later = create_show(client, datetime.now(UTC) + timedelta(hours=2), "Later")

    for _ in range(2):  # the schedule's function, as EventBridge's rate rule calls it, twice
        vod_app.announce_live_shows(scheduled_event("us-east-1", "arn:aws:events:us-east-1:1:rule/r", datetime.now(UTC)), None)

    [announced] = published(aws, soon["live_show_id"], "LiveShowStartingSoon")
    assert (announced["title"], announced["starts_at"]) == ("Soon", soon["starts_at"])
    assert published(aws, later["live_show_id"], "LiveShowStartingSoon") == []


def test_a_malformed_live_event_is_parked_in_the_dlq(vod_app, ivs):
    sqs = boto3.client("sqs")
    dlq = sqs.get_queue_url(QueueName=LOCAL_NAMING.dlq("vod", "live-events"))["QueueUrl"]
    assert deliver(vod_app, "not json", json.dumps({"source": "aws.s3", "detail-type": "Object Created", "detail": {}})) == OK

    parked = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages", [])
    reasons = sorted(m["MessageAttributes"]["shop-dead-letter-reason"]["StringValue"] for m in parked)
    assert len(reasons) == 2
    assert any("not an IVS state change" in reason for reason in reasons)
