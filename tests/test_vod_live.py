"""A paid live show end to end on the embedded stack: staff schedule the show in vod and sell its ticket
in catalog, a customer buys it through orders, the broadcaster goes live on the fake IVS (real ffmpeg
encoding in real time), the ticket holder watches the live HLS with their token while another customer is
refused, staff pin and unpin products (the events reach the shop's bus; a late joiner reads the current
pin), and the stream's end turns the recording into a READY video carrying the pins as markers."""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import urllib3

from shop_devstack.testing import eventually, outbox_items
from shop_eventing.outbox import from_dynamodb, to_dynamodb

STAFF = "sam"


def ffmpeg() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def vod(shop: Any, method: str, path: str, body: Any = None, *, user: str = STAFF) -> Any:
    return shop.call("vod", method, path, body, user=user)


def broadcast(shop: Any, channel_arn: str, method: str) -> None:
    """What OBS pushing RTMPS to the ingest endpoint does on AWS: go live (POST) or stop (DELETE)."""
    answer = urllib3.request(method, f"{shop.stack.live_channel_url}/admin/channels/{channel_arn.rsplit('/', 1)[1]}/broadcast")
    assert answer.status == 202, answer.data


def sell_ticket(shop: Any, live_show_id: str) -> str:
    sku = f"LIVE-{uuid.uuid4().hex[:10].upper()}"
    product = {
        "sku": sku,
        "name": "Live from the studio",
        "product_type": "live_ticket",
        "price": {"amount": 1500, "currency": "USD"},
        "access": {"live_show_id": live_show_id},
        "stock": 50,
    }
    assert shop.call("catalog", "POST", "/staff/products", product, user=STAFF).status == 201
    published = shop.call("catalog", "POST", f"/staff/products/{sku}/publish", headers={"If-Match": '"1"'}, user=STAFF)
    assert published.status == 200, published.body
    eventually(lambda: shop.storefront_has(sku), what=f"{sku} in the storefront")
    return sku


class BusTap:
    """A rule on the shop's bus for one show's pin events, into a queue of the test's own: what any
    subscriber (the push channel) would receive."""

    def __init__(self, shop: Any, live_show_id: str) -> None:
        self.sqs, self.events = shop.stack.client("sqs"), shop.stack.client("events")
        self.bus = shop.stack.naming.bus
        self.name = f"test-live-{uuid.uuid4().hex[:8]}"
        self.queue = self.sqs.create_queue(QueueName=self.name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        pattern = {
            "source": ["shop.vod"],
            "detail-type": ["ProductPinned", "ProductUnpinned"],
            "detail": {"data": {"live_show_id": [live_show_id]}},
        }
        self.events.put_rule(Name=self.name, EventBusName=self.bus, EventPattern=json.dumps(pattern))
        self.events.put_targets(Rule=self.name, EventBusName=self.bus, Targets=[{"Id": "tap", "Arn": arn}])
        self.received: list[dict[str, Any]] = []

    def drain(self) -> list[dict[str, Any]]:
        for message in self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            self.received.append(json.loads(message["Body"]))
            self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
        return self.received

    def close(self) -> None:
        self.events.remove_targets(Rule=self.name, EventBusName=self.bus, Ids=["tap"])
        self.events.delete_rule(Name=self.name, EventBusName=self.bus)
        self.sqs.delete_queue(QueueUrl=self.queue)


def vod_outbox(shop: Any, live_show_id: str) -> list[dict[str, Any]]:
    """The events vod published about the show (its outbox is its event log)."""
    return outbox_items(shop.stack.client("dynamodb"), shop.stack.naming.table("vod"), correlation_id=live_show_id)


def markers(shop: Any, video_id: str) -> list[dict[str, Any]]:
    page = shop.stack.client("dynamodb").query(
        TableName=shop.stack.naming.table("vod"),
        KeyConditionExpression="pk = :video AND begins_with(sk, :markers)",
        ExpressionAttributeValues=to_dynamodb({":video": f"VIDEO#{video_id}", ":markers": "MARKER#"}),
        ConsistentRead=True,
    )
    return [from_dynamodb(item) for item in page["Items"]]


def test_a_paid_live_show_from_ticket_to_recording_with_its_pins(shop, tmp_path: Path):  # noqa: PLR0915 - one show, start to end
    created = vod(
        shop, "POST", "/live-shows", {"title": "Studio live", "starts_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat()}
    )
    assert created.status == 201, created.body
    show = created.body
    show_id, channel = show["live_show_id"], show["channel"]
    assert show["state"] == "SCHEDULED"

    # The ticket is a catalog product; ada buys it through the order flow and vod grants the entitlement.
    sku = sell_ticket(shop, show_id)
    placed = shop.place_order([(sku, 1)], address=None, user="ada")
    assert placed.status == 201, placed.body
    assert shop.settled_order(placed.body["order_id"], wanting={"PAID", "DELIVERED"})["status"] in {"PAID", "DELIVERED"}
    eventually(
        lambda: any(e.get("live_show_id") == show_id for e in vod(shop, "GET", "/me/videos", user="ada").body["entitlements"]),
        timeout=30,
        what="ada's ticket in vod",
    )
    # Announced to ticket holders once it is within the window (vod's schedule; every 30 s locally).
    eventually(
        lambda: [i for i in vod_outbox(shop, show_id) if i["event_type"] == "LiveShowStartingSoon"],
        timeout=90,
        interval=1,
        what="LiveShowStartingSoon",
    )
    not_live = vod(shop, "POST", f"/live-shows/{show_id}/playback", user="ada")
    assert (not_live.status, not_live.body["error"]["code"]) == (409, "not_live")

    tap = BusTap(shop, show_id)
    try:
        broadcast(shop, channel["arn"], "POST")
        eventually(
            lambda: vod(shop, "GET", f"/live-shows/{show_id}").body["state"] == "LIVE", timeout=90, interval=0.5, what="LIVE"
        )

        # The ticket holder watches: a real player reads a few seconds of the live HLS with the token.
        watch = vod(shop, "POST", f"/live-shows/{show_id}/playback", user="ada")
        assert watch.status == 200, watch.body
        watched = tmp_path / "watched.ts"
        command = [
            ffmpeg(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-i",
            watch.body["playback_url"],
            "-t",
            "3",
            "-c",
            "copy",
        ]
        subprocess.run([*command, str(watched)], check=True, capture_output=True, timeout=120)
        assert watched.stat().st_size > 10_000
        untokened = urllib3.request("GET", watch.body["playback_url"].split("?")[0])
        assert untokened.status == 403
        refused = vod(shop, "POST", f"/live-shows/{show_id}/playback", user="grace")
        assert (refused.status, refused.body["error"]["code"]) == (403, "not_entitled")

        # Staff pin, pin another (it replaces the first), unpin, and pin once more until the end.
        for step, path_sku in (("PUT", "MUG-1"), ("PUT", "TSHIRT-BLUE-M"), ("DELETE", None), ("PUT", "POSTER-A2")):
            answer = vod(shop, step, f"/live-shows/{show_id}/pin", {"sku": path_sku} if path_sku else None)
            assert answer.status == 200, answer.body
            if step == "PUT":
                late_joiner = vod(shop, "GET", f"/live-shows/{show_id}", user="grace").body
                assert late_joiner["current_pin"]["sku"] == path_sku and late_joiner["channel"] is None
        on_bus = eventually(lambda: len(tap.drain()) >= 4 and tap.received, timeout=30, what="the pin events on the bus")
        seen = sorted((e["detail"]["data"]["sequence"], e["detail-type"]) for e in on_bus)
        assert seen == [(1, "ProductPinned"), (2, "ProductPinned"), (3, "ProductUnpinned"), (4, "ProductPinned")]
        timed = urllib3.request("GET", f"{shop.stack.live_channel_url}/admin/channels/{channel['arn'].rsplit('/', 1)[1]}")
        assert [json.loads(m["metadata"])["seq"] for m in json.loads(timed.data)["metadata"]] == [1, 2, 3, 4]

        broadcast(shop, channel["arn"], "DELETE")
    finally:
        tap.close()

    recorded = eventually(
        lambda: (s := vod(shop, "GET", f"/live-shows/{show_id}").body)["state"] == "RECORDED" and s,
        timeout=120,
        interval=0.5,
        what="the show RECORDED",
    )
    video = vod(shop, "GET", f"/videos/{recorded['video_id']}").body
    assert (video["state"], video["title"]) == ("READY", "Studio live")
    s3 = shop.stack.client("s3")
    bucket = video["outputs"]["bucket"]
    playlist = s3.get_object(Bucket=bucket, Key=video["outputs"]["renditions"][0]["playlist_key"])["Body"].read().decode()
    assert playlist.rstrip().endswith("#EXT-X-ENDLIST")
    pins = [(m["sku"], m["source"]) for m in sorted(markers(shop, recorded["video_id"]), key=lambda m: m["start_ms"])]
    assert pins == [("MUG-1", "live_pin"), ("TSHIRT-BLUE-M", "live_pin"), ("POSTER-A2", "live_pin")]
    assert all(m["end_ms"] > m["start_ms"] for m in markers(shop, recorded["video_id"]))
    assert {e["event_type"] for e in vod_outbox(shop, show_id)} >= {"LiveShowStarted", "LiveShowEnded", "VideoReady"}
