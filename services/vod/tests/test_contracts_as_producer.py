"""vod's consumer contracts, producer side: for every consumer's declaration about an event vod
publishes, vod's real code is driven into the declared provider state and the event it writes to its
outbox must give that consumer every field it relies on (shop_devstack.contract_testing says how)."""

from __future__ import annotations

import json
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest

from shop_devstack.contract_testing import Producer, ProducerContractTests, declarations_produced_by
from shop_devstack.dispatcher import scheduled_event
from shop_devstack.testing import LOCAL_NAMING, lambda_sqs_event

SERVICE = "vod"
DECLARATIONS = declarations_produced_by(SERVICE)


@dataclass
class VodProducer(Producer):
    client: Any = None
    ivs: Any = None


@pytest.fixture
def producer(vod_app: ModuleType, aws: Any, client: Any, ivs: Any) -> VodProducer:
    return VodProducer(vod_app, aws, client, ivs)


def staff_complete_an_upload(producer: VodProducer) -> list[dict[str, Any]]:
    created = json.loads(
        producer.client.http.post(
            "/videos", headers={"Content-Type": "application/json"}, body=json.dumps({"title": "Contract"})
        ).body
    )
    request = urllib.request.Request(
        created["upload_url"], data=b"any bytes", method="PUT", headers={"Content-Type": "video/mp4"}
    )
    with urllib.request.urlopen(request):
        pass
    response = producer.client.http.post(
        f"/videos/{created['video_id']}/upload/complete", headers={"Content-Type": "application/json"}, body="{}"
    )
    assert response.status_code == 200, response.body
    return producer.events_about(created["video_id"])


# -- live shows: staff schedule through the API, IVS's events arrive through the live-events handler ----------


def _schedule(producer: VodProducer, starts_in: timedelta = timedelta(days=2)) -> dict[str, Any]:
    body = json.dumps({"title": "Contract live", "starts_at": (datetime.now(UTC) + starts_in).isoformat()})
    response = producer.client.http.post("/live-shows", headers={"Content-Type": "application/json"}, body=body)
    assert response.status_code == 201, response.body
    return dict(json.loads(response.body))


def _ivs(producer: VodProducer, show: dict[str, Any], detail_type: str, detail: dict[str, Any]) -> None:
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.ivs",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [show["channel"]["arn"]],
        "detail": {"channel_name": show["channel"]["name"], "stream_id": "st-contract", **detail},
    }
    queue_arn = f"arn:aws:sqs:us-east-1:123456789012:{LOCAL_NAMING.queue('vod', 'live-events')}"
    answer = producer.app.live_channel_events(lambda_sqs_event(json.dumps(event), queue_arn=queue_arn), None)
    assert answer == {"batchItemFailures": []}


def _live(producer: VodProducer) -> dict[str, Any]:
    show = _schedule(producer)
    _ivs(producer, show, "IVS Stream State Change", {"event_name": "Stream Start"})
    return show


def _pin(producer: VodProducer, show: dict[str, Any], sku: str) -> None:
    body = json.dumps({"sku": sku})
    path = f"/live-shows/{show['live_show_id']}/pin"
    response = producer.client.http.put(path, headers={"Content-Type": "application/json"}, body=body)
    assert response.status_code == 200, response.body


def a_show_within_its_announcement_window(producer: VodProducer) -> list[dict[str, Any]]:
    show = _schedule(producer, timedelta(minutes=5))
    producer.app.announce_live_shows(scheduled_event("us-east-1", "arn:aws:events:us-east-1:1:rule/r", datetime.now(UTC)), None)
    return producer.events_about(show["live_show_id"])


def a_shows_stream_started(producer: VodProducer) -> list[dict[str, Any]]:
    return producer.events_about(_live(producer)["live_show_id"])


def a_shows_stream_ended(producer: VodProducer) -> list[dict[str, Any]]:
    show = _live(producer)
    _ivs(producer, show, "IVS Stream State Change", {"event_name": "Stream End"})
    return producer.events_about(show["live_show_id"])


def staff_pin_a_product(producer: VodProducer) -> list[dict[str, Any]]:
    show = _live(producer)
    _pin(producer, show, "MUG-1")
    return producer.events_about(show["live_show_id"])


def staff_unpin_the_pinned_product(producer: VodProducer) -> list[dict[str, Any]]:
    show = _live(producer)
    _pin(producer, show, "MUG-1")
    response = producer.client.http.delete(f"/live-shows/{show['live_show_id']}/pin")
    assert response.status_code == 200, response.body
    return producer.events_about(show["live_show_id"])


def a_shows_recording_became_a_video(producer: VodProducer) -> list[dict[str, Any]]:
    show = _live(producer)
    _pin(producer, show, "MUG-1")
    prefix = f"ivs/v1/123456789012/{show['channel']['arn'].rsplit('/', 1)[1]}/2026/12/1/10/0/contract{uuid.uuid4().hex[:6]}"
    rendition = {"path": "360p30", "playlist": "playlist.m3u8", "resolution_width": 640, "resolution_height": 360}
    ended = {
        "media": {"hls": {"duration_ms": 600_000, "path": "media/hls", "playlist": "master.m3u8", "renditions": [rendition]}}
    }
    bucket = producer.ivs["bucket"]
    boto3.client("s3").put_object(Bucket=bucket, Key=f"{prefix}/events/recording-ended.json", Body=json.dumps(ended).encode())
    recording = {"recording_status": "Recording End", "recording_s3_bucket_name": bucket, "recording_s3_key_prefix": prefix}
    _ivs(producer, show, "IVS Recording State Change", recording)
    return producer.events_about(show["live_show_id"])


class TestVodAsProducer(ProducerContractTests):
    SERVICE = SERVICE
    PROVIDER_STATES = {
        "staff completed the upload of a video's source": staff_complete_an_upload,
        # Live shows (README.md#live-shows); consumers name these states in their declarations.
        "a scheduled live show is within its announcement window": a_show_within_its_announcement_window,
        "a live show's stream started": a_shows_stream_started,
        "a live show's stream ended": a_shows_stream_ended,
        "staff pinned a product during a live show": staff_pin_a_product,
        "staff unpinned the product pinned during a live show": staff_unpin_the_pinned_product,
        "a live show's recording became a video with the pins as markers": a_shows_recording_became_a_video,
    }


@pytest.mark.parametrize(
    ("state", "event_type"),
    [
        ("a scheduled live show is within its announcement window", "LiveShowStartingSoon"),
        ("a live show's stream started", "LiveShowStarted"),
        ("a live show's stream ended", "LiveShowEnded"),
        ("staff pinned a product during a live show", "ProductPinned"),
        ("staff unpinned the product pinned during a live show", "ProductUnpinned"),
        ("a live show's recording became a video with the pins as markers", "VideoReady"),
    ],
)
def test_each_live_provider_state_publishes_its_event(producer: VodProducer, state: str, event_type: str) -> None:
    """The live shows' provider states, ready for the consumers to come (notify, the push channel)."""
    published = TestVodAsProducer.PROVIDER_STATES[state](producer)
    assert event_type in [detail["metadata"]["event_type"] for detail in published]


def test_vod_has_consumers_to_satisfy() -> None:
    assert {d.event_type for d in DECLARATIONS} == {"VideoUploaded"}
