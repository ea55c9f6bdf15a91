"""Ingest to ready against the embedded AWS, with the real ffmpeg of the pinned wheel: staff create a
video, PUT the source to its presigned URL (or in parts), complete the upload; VideoUploaded starts one
job in a background process, whose MediaConvert-shaped state change reaches the job-events queue
through the rule on the default bus, and the video becomes READY (or FAILED, and retried)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import imageio_ffmpeg
import pytest

from shop_devstack.testing import (
    LOCAL_NAMING,
    bearer,
    deliver_to_subscription,
    eventually,
    lambda_sqs_event,
    raw_eventbridge_body,
)

BUCKET = "shop-local-vod-media"
JSON = {"Content-Type": "application/json"}


# -- the clips the tests make ----------------------------------------------------------------------


def make_clip(path: Path, width: int, height: int, *, seconds: int = 2, audio: bool = True) -> bytes:
    """A tiny test pattern (with a tone when `audio`), encoded by the wheel's ffmpeg."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    command += ["-f", "lavfi", "-i", f"testsrc=size={width}x{height}:rate=25:duration={seconds}"]
    if audio:
        command += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac", "-shortest"]
    command += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(command, check=True, capture_output=True)
    return path.read_bytes()


@pytest.fixture(scope="module")
def landscape(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_clip(tmp_path_factory.mktemp("clips") / "landscape.mp4", 320, 180)


@pytest.fixture(scope="module")
def portrait(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_clip(tmp_path_factory.mktemp("clips") / "portrait.mp4", 180, 320, audio=False)


# -- steps -----------------------------------------------------------------------------------------


def put(url: str, body: bytes, content_type: str | None = "video/mp4") -> dict[str, str]:
    request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": content_type} if content_type else {})
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
        return dict(response.headers)


def create_video(client: Any, title: str = "A film", **more: str) -> dict[str, Any]:
    response = client.http.post("/videos", headers=JSON, body=json.dumps({"title": title, **more}))
    assert response.status_code == 201, response.body
    return dict(json.loads(response.body))


def complete(client: Any, video_id: str, body: dict[str, Any] | None = None) -> Any:
    return client.http.post(f"/videos/{video_id}/upload/complete", headers=JSON, body=json.dumps(body or {}))


def get_video(client: Any, video_id: str) -> dict[str, Any]:
    response = client.http.get(f"/videos/{video_id}")
    assert response.status_code == 200, response.body
    return dict(json.loads(response.body))


def outbox_events(aws: Any, video_id: str, event_type: str) -> list[dict[str, Any]]:
    return [item["detail"] for item in aws.outbox(correlation_id=video_id) if item["event_type"] == event_type]


def deliver_uploaded(vod_app: ModuleType, detail: dict[str, Any], times: int = 1) -> None:
    body = raw_eventbridge_body(detail, detail_type="VideoUploaded", source="shop.vod")
    response = deliver_to_subscription(vod_app, "vod", "transcode", *([body] * times))
    assert response == {"batchItemFailures": []}


def job_events_queue() -> str:
    return str(boto3.client("sqs").get_queue_url(QueueName=LOCAL_NAMING.queue("vod", "transcode-jobs"))["QueueUrl"])


def run_job_and_deliver_its_outcome(vod_app: ModuleType, video_id: str) -> dict[str, Any]:
    """Wait for the background ffmpeg jobs, then take their state changes off the job-events queue (where
    the rule on the default bus put them) and hand them to vod's function, as Lambda would."""
    vod_app.transcoder().wait()
    sqs = boto3.client("sqs")
    url = job_events_queue()

    def about_this_video() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        mine = [m for m in messages if json.loads(m["Body"])["detail"]["userMetadata"]["video_id"] == video_id]
        for message in messages:
            if message not in mine:  # another test's: back to the queue at once
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        return mine

    messages = eventually(about_this_video, timeout=30, what=f"the job state change of {video_id}")
    event = lambda_sqs_event(
        *(m["Body"] for m in messages),
        queue_arn=f"arn:aws:sqs:us-east-1:123456789012:{LOCAL_NAMING.queue('vod', 'transcode-jobs')}",
    )
    assert vod_app.transcode_job_events(event, None) == {"batchItemFailures": []}
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return dict(json.loads(messages[0]["Body"]))


def s3_text(key: str) -> str:
    return str(boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read().decode())


def s3_exists(key: str) -> bool:
    return "Contents" in boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=key, MaxKeys=1)


def upload_and_transcode(client: Any, vod_app: ModuleType, aws: Any, clip: bytes) -> dict[str, Any]:
    created = create_video(client)
    put(created["upload_url"], clip)
    completed = complete(client, created["video_id"])
    assert completed.status_code == 200, completed.body
    [uploaded] = outbox_events(aws, created["video_id"], "VideoUploaded")
    deliver_uploaded(vod_app, uploaded)
    assert get_video(client, created["video_id"])["state"] == "TRANSCODING"
    run_job_and_deliver_its_outcome(vod_app, created["video_id"])
    return get_video(client, created["video_id"])


# -- tests -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("clip", "sizes"), [("landscape", [(320, 180), (160, 90)]), ("portrait", [(180, 320), (90, 160)])])
def test_an_upload_becomes_a_ready_hls_ladder_with_poster_and_storyboard(client, vod_app, aws, clip, sizes, request):
    video = upload_and_transcode(client, vod_app, aws, request.getfixturevalue(clip))

    assert video["state"] == "READY", video
    outputs = video["outputs"]
    assert [(r["width"], r["height"]) for r in outputs["renditions"]] == sizes
    master = s3_text(outputs["master_playlist_key"])
    resolutions = re.findall(r"RESOLUTION=(\d+)x(\d+)", master)
    assert sorted((int(w), int(h)) for w, h in resolutions) == sorted(sizes)
    for rendition in outputs["renditions"]:
        playlist = s3_text(rendition["playlist_key"])
        assert "#EXT-X-ENDLIST" in playlist
        segments = [line for line in playlist.splitlines() if line.endswith(".ts")]
        assert segments, playlist
        folder = rendition["playlist_key"].rsplit("/", 1)[0]
        assert all(s3_exists(f"{folder}/{segment}") for segment in segments)
    poster = boto3.client("s3").get_object(Bucket=BUCKET, Key=outputs["poster_key"])
    assert poster["ContentType"] == "image/jpeg" and poster["Body"].read()[:2] == b"\xff\xd8"
    assert s3_exists(outputs["storyboard_sprite_key"])
    vtt = s3_text(outputs["storyboard_vtt_key"])
    assert vtt.startswith("WEBVTT") and "storyboard.jpg#xywh=0,0," in vtt
    assert 1900 <= outputs["duration_ms"] <= 2100
    [ready] = outbox_events(aws, video["video_id"], "VideoReady")
    assert ready["data"]["outputs"] == outputs
    # Nobody named an address: notify has nobody to tell.
    assert (ready["data"]["title"], ready["data"]["uploaded_by_email"]) == ("A film", None)


def test_a_corrupt_upload_fails_with_the_reason_and_staff_can_retry(client, vod_app, aws, landscape):
    created = create_video(client, "Corrupt at first", notify_email="uploader@example.com")
    assert created["notify_email"] == "uploader@example.com"
    put(created["upload_url"], os.urandom(4096))
    assert complete(client, created["video_id"]).status_code == 200
    [uploaded] = outbox_events(aws, created["video_id"], "VideoUploaded")
    deliver_uploaded(vod_app, uploaded)
    run_job_and_deliver_its_outcome(vod_app, created["video_id"])

    failed = get_video(client, created["video_id"])
    assert failed["state"] == "FAILED"
    assert failed["error"]["code"] == "probe_failed"
    assert "no video stream found" in failed["error"]["message"]
    [event] = outbox_events(aws, created["video_id"], "VideoFailed")
    assert (event["data"]["error_code"], event["data"]["attempt"]) == ("probe_failed", 1)
    # Whom notify tells, from the video: the uploader (sam, who completed the upload) at the address named.
    told = ("Corrupt at first", uploaded["data"]["uploaded_by"], "uploader@example.com")
    assert (uploaded["data"]["title"], uploaded["data"]["uploaded_by"], uploaded["data"]["uploaded_by_email"]) == told
    assert (event["data"]["title"], event["data"]["uploaded_by"], event["data"]["uploaded_by_email"]) == told

    # Staff replace the source and retry: a second attempt, under its own output prefix.
    put(created["upload_url"], landscape)
    retried = client.http.post(f"/videos/{created['video_id']}/retry")
    assert retried.status_code == 200, retried.body
    assert (json.loads(retried.body)["state"], json.loads(retried.body)["attempt"]) == ("UPLOADED", 2)
    second = [e for e in outbox_events(aws, created["video_id"], "VideoUploaded") if e["data"]["attempt"] == 2]
    deliver_uploaded(vod_app, second[0])
    run_job_and_deliver_its_outcome(vod_app, created["video_id"])

    video = get_video(client, created["video_id"])
    assert video["state"] == "READY" and video.get("error") is None
    [ready] = outbox_events(aws, created["video_id"], "VideoReady")
    assert (ready["data"]["title"], ready["data"]["uploaded_by"], ready["data"]["uploaded_by_email"]) == told
    assert second[0]["data"]["uploaded_by_email"] == "uploader@example.com"
    assert video["outputs"]["master_playlist_key"].startswith(f"outputs/{created['video_id']}/a2/")


def test_a_retry_is_refused_unless_the_video_failed(client, vod_app, aws, landscape):
    created = create_video(client)

    response = client.http.post(f"/videos/{created['video_id']}/retry")

    assert response.status_code == 409
    assert json.loads(response.body)["error"]["code"] == "invalid_state"


def test_a_duplicated_upload_event_starts_one_job(client, vod_app, aws, landscape, monkeypatch):
    started: list[str] = []
    real_start = vod_app.transcoder().start
    monkeypatch.setattr(vod_app.transcoder(), "start", lambda job: started.append(job.job_id) or real_start(job))
    created = create_video(client)
    put(created["upload_url"], landscape)
    complete(client, created["video_id"])
    assert complete(client, created["video_id"]).status_code == 200  # the client says it twice: still one event
    [uploaded] = outbox_events(aws, created["video_id"], "VideoUploaded")

    deliver_uploaded(vod_app, uploaded, times=2)  # one batch holding the same event twice
    deliver_uploaded(vod_app, uploaded)  # and once more later

    assert started == [f"{created['video_id']}-a1"]
    outcome = run_job_and_deliver_its_outcome(vod_app, created["video_id"])
    # The same state change delivered again changes nothing and publishes nothing more.
    body = json.dumps(outcome)
    event = lambda_sqs_event(body, queue_arn=f"arn:aws:sqs:us-east-1:123456789012:{LOCAL_NAMING.queue('vod', 'transcode-jobs')}")
    assert vod_app.transcode_job_events(event, None) == {"batchItemFailures": []}
    assert get_video(client, created["video_id"])["state"] == "READY"
    assert len(outbox_events(aws, created["video_id"], "VideoReady")) == 1


def test_completing_before_the_source_is_there_is_a_422(client):
    created = create_video(client)

    response = complete(client, created["video_id"])

    assert response.status_code == 422
    assert json.loads(response.body)["error"]["code"] == "upload_incomplete"
    assert get_video(client, created["video_id"])["state"] == "CREATED"
    assert get_video(client, created["video_id"])["live_show_id"] is None, "an upload is no show's recording"


def test_a_multipart_upload_is_completed_with_its_parts(client, aws, landscape):
    created = create_video(client)
    started = client.http.post(f"/videos/{created['video_id']}/multipart")
    assert started.status_code == 201
    upload_id = json.loads(started.body)["upload_id"]
    # S3 wants every part but the last to be at least 5 MiB: the clip pads the first part.
    first = landscape + b"\0" * (5 * 1024 * 1024)
    presigned = client.http.post(
        f"/videos/{created['video_id']}/multipart/parts",
        headers=JSON,
        body=json.dumps({"upload_id": upload_id, "part_numbers": [1, 2]}),
    )
    assert presigned.status_code == 200, presigned.body
    urls = {p["part_number"]: p["url"] for p in json.loads(presigned.body)["parts"]}
    etags = {
        1: put(urls[1], first, "application/octet-stream")["ETag"],
        2: put(urls[2], b"tail", "application/octet-stream")["ETag"],
    }

    response = complete(
        client,
        created["video_id"],
        {"multipart": {"upload_id": upload_id, "parts": [{"part_number": n, "etag": etag} for n, etag in etags.items()]}},
    )

    assert response.status_code == 200, response.body
    video = json.loads(response.body)
    assert (video["state"], video["size_bytes"]) == ("UPLOADED", len(first) + 4)
    [uploaded] = outbox_events(aws, created["video_id"], "VideoUploaded")
    assert uploaded["data"]["source"] == {"bucket": BUCKET, "key": video["source_key"], "size_bytes": len(first) + 4}


def test_a_multipart_completion_with_a_wrong_etag_is_a_422(client, landscape):
    created = create_video(client)
    upload_id = json.loads(client.http.post(f"/videos/{created['video_id']}/multipart").body)["upload_id"]

    response = complete(
        client, created["video_id"], {"multipart": {"upload_id": upload_id, "parts": [{"part_number": 1, "etag": '"nope"'}]}}
    )

    assert response.status_code == 422, response.body


def test_captions_are_stored_per_language_and_must_be_webvtt(client):
    created = create_video(client)
    vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nこんにちは\n"

    stored = client.http.put(
        f"/videos/{created['video_id']}/captions/ja", headers={"Content-Type": "text/vtt"}, body=vtt.encode()
    )
    refused = client.http.put(
        f"/videos/{created['video_id']}/captions/en",
        headers={"Content-Type": "text/vtt"},
        body=b"1\n00:00:00,000 --> 00:00:01,000\nHi\n",
    )

    assert stored.status_code == 200, stored.body
    assert json.loads(stored.body)["captions"] == {"ja": f"captions/{created['video_id']}/ja.vtt"}
    assert s3_text(f"captions/{created['video_id']}/ja.vtt") == vtt
    assert refused.status_code == 400
    assert json.loads(refused.body)["error"]["fields"] == [
        {"field": "body", "problem": "not WebVTT: the file must start with the line WEBVTT"}
    ]


def test_videos_are_for_staff_only(client, issuer):
    created = create_video(client)

    assert client.http.anonymous.get(f"/videos/{created['video_id']}").status_code == 401
    assert client.http.get(f"/videos/{created['video_id']}", headers=bearer(issuer, "ada")).status_code == 403
    assert (
        client.http.post("/videos", headers={**JSON, **bearer(issuer, "ada")}, body=json.dumps({"title": "x"})).status_code == 403
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [({"title": ""}, "title"), ({"title": "A film", "notify_email": "Sam <sam@example.com>"}, "notify_email")],
)
def test_bad_input_is_a_400_naming_the_field(client, body, field):
    response = client.http.post("/videos", headers=JSON, body=json.dumps(body))

    assert response.status_code == 400
    assert json.loads(response.body)["error"]["fields"][0]["field"] == field


def test_an_unknown_video_is_a_404(client):
    assert client.http.get("/videos/vid_00000000000000000000").status_code == 404
    assert complete(client, "vid_00000000000000000000").status_code == 404
    assert client.http.post("/videos/vid_00000000000000000000/retry").status_code == 404


def test_videos_are_listed_newest_first_page_by_page(client):
    ids = [create_video(client, f"Film {n}")["video_id"] for n in range(3)]

    first = json.loads(client.http.get("/videos?limit=2").body)
    second = json.loads(client.http.get(f"/videos?limit=2&cursor={first['next_cursor']}").body)

    listed = [v["video_id"] for v in first["videos"] + second["videos"]]
    assert listed[:3] == list(reversed(ids))
    assert client.http.get("/videos?cursor=garbage").status_code == 400


def test_a_malformed_job_event_is_parked_in_the_dlq(vod_app):
    sqs = boto3.client("sqs")
    dlq = sqs.get_queue_url(QueueName=LOCAL_NAMING.dlq("vod", "transcode-jobs"))["QueueUrl"]
    event = lambda_sqs_event(
        "not json",
        json.dumps({"source": "aws.s3", "detail-type": "Object Created", "detail": {}}),
        queue_arn="arn:aws:sqs:us-east-1:123456789012:q",
    )

    assert vod_app.transcode_job_events(event, None) == {"batchItemFailures": []}

    parked = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages", [])
    reasons = sorted(m["MessageAttributes"]["shop-dead-letter-reason"]["StringValue"] for m in parked)
    assert len(reasons) == 2
    assert any("not a job state change" in reason for reason in reasons)
