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

from chalicelib import usecases
from chalicelib.domain import VideoState
from chalicelib.transcoder import JobOutcome, RenditionOutput
from shop_contracts.events import Money, OrderCancelledV1, OrderLine, PaymentCapturedV1, VideoAccess
from shop_devstack.contract_testing import Producer, ProducerContractTests, declarations_produced_by
from shop_devstack.dispatcher import scheduled_event
from shop_devstack.testing import LOCAL_NAMING, deliver_to_subscription, eventbridge_body, lambda_sqs_event
from shop_eventing.envelope import new_event

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


def _rental() -> OrderLine:
    access = VideoAccess(product_type="video_rental", video_id=f"vid_{uuid.uuid4().hex[:20]}", rental_hours=48)
    return OrderLine(
        sku="FILM-RENT",
        name="48-hour rental",
        kind="digital",
        quantity=1,
        unit_price=Money(amount=399, currency="EUR"),
        access=access,
    )


def _ticket() -> OrderLine:
    access = VideoAccess(product_type="live_ticket", live_show_id=f"show-{uuid.uuid4().hex[:8]}")
    return OrderLine(
        sku="LIVE-1", name="Live show", kind="digital", quantity=1, unit_price=Money(amount=3000, currency="EUR"), access=access
    )


def _paid(producer: VodProducer, line: OrderLine) -> PaymentCapturedV1:
    """orders' PaymentCaptured for an order of one digital line, handed to grant-access as SQS would."""
    order_id = f"ord-{uuid.uuid4().hex[:12]}"
    paid = PaymentCapturedV1(
        order_id=order_id,
        payment_id="ch_contract",
        amount=line.unit_price,
        customer_email="ann@example.com",
        lines=[line],
        customer_id="ann-sub",
    )
    event = new_event(paid, producer="shop.orders", correlation_id=order_id)
    assert deliver_to_subscription(producer.app, SERVICE, "grant-access", eventbridge_body(event)) == {"batchItemFailures": []}
    return paid


def _revoked(producer: VodProducer, line: OrderLine) -> list[dict[str, Any]]:
    paid = _paid(producer, line)
    cancelled = OrderCancelledV1(
        order_id=paid.order_id,
        cancelled_by="customer",
        reason="changed my mind",
        customer_email=paid.customer_email,
        customer_id=paid.customer_id,
        lines=paid.lines,
        total=paid.amount,
        payment_id=paid.payment_id,
    )
    event = new_event(cancelled, producer="shop.orders", correlation_id=paid.order_id)
    assert deliver_to_subscription(producer.app, SERVICE, "revoke-access", eventbridge_body(event)) == {"batchItemFailures": []}
    return [d for d in producer.events_about(paid.order_id) if d["metadata"]["event_type"] == "EntitlementRevoked"]


def a_paid_rental_is_granted(producer: VodProducer) -> list[dict[str, Any]]:
    return producer.events_about(_paid(producer, _rental()).order_id)


def a_paid_ticket_is_granted(producer: VodProducer) -> list[dict[str, Any]]:
    return producer.events_about(_paid(producer, _ticket()).order_id)


def a_granted_rental_is_revoked(producer: VodProducer) -> list[dict[str, Any]]:
    return _revoked(producer, _rental())


def a_granted_ticket_is_revoked(producer: VodProducer) -> list[dict[str, Any]]:
    return _revoked(producer, _ticket())


def _transcoding(producer: VodProducer) -> dict[str, Any]:
    """A video staff created (naming whom to tell) and uploaded, its transcode under way: the job's outcome
    is handed to vod's real use case as the job-events subscriber hands it."""
    created = json.loads(
        producer.client.http.post(
            "/videos",
            headers={"Content-Type": "application/json"},
            body=json.dumps({"title": "Contract", "notify_email": "sam@example.com"}),
        ).body
    )
    video_id = created["video_id"]
    uow = producer.app.unit_of_work()
    uow.move_video(
        video_id,
        from_states={VideoState.CREATED},
        attempt=0,
        changes={"state": "TRANSCODING", "attempt": 1, "uploaded_by": "sam-sub"},
    )
    uow.commit()
    return dict(created)


def a_transcode_completed(producer: VodProducer) -> list[dict[str, Any]]:
    video_id = _transcoding(producer)["video_id"]
    prefix = f"outputs/{video_id}/a1"
    outcome = JobOutcome(
        video_id=video_id,
        attempt=1,
        job_id=f"{video_id}-a1",
        status="COMPLETE",
        bucket="shop-local-vod-media",
        master_playlist_key=f"{prefix}/master.m3u8",
        renditions=[RenditionOutput(320, 180, f"{prefix}/180p/index.m3u8"), RenditionOutput(160, 90, f"{prefix}/90p/index.m3u8")],
        duration_ms=2000,
    )
    assert usecases.finish_transcode(outcome, producer.app.repository, producer.app.unit_of_work) == "COMPLETE"
    return producer.events_about(video_id)


def a_transcode_failed(producer: VodProducer) -> list[dict[str, Any]]:
    video_id = _transcoding(producer)["video_id"]
    outcome = JobOutcome(
        video_id=video_id, attempt=1, job_id=f"{video_id}-a1", status="ERROR", error_code="1010", error_message="bad input"
    )
    assert usecases.finish_transcode(outcome, producer.app.repository, producer.app.unit_of_work) == "ERROR"
    return producer.events_about(video_id)


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
        "a paid order's video rental line was granted": a_paid_rental_is_granted,
        "a paid order's live ticket line was granted": a_paid_ticket_is_granted,
        "a cancelled order's granted video rental was revoked": a_granted_rental_is_revoked,
        "a cancelled order's granted live ticket was revoked": a_granted_ticket_is_revoked,
        "a video whose uploader named an e-mail address was transcoded": a_transcode_completed,
        "a video whose uploader named an e-mail address failed to transcode": a_transcode_failed,
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
    assert {d.event_type for d in DECLARATIONS} == {
        "VideoUploaded",
        "VideoReady",
        "VideoFailed",
        "EntitlementGranted",
        "EntitlementRevoked",
        "LiveShowStartingSoon",
        "ProductPinned",
        "ProductUnpinned",
    }
