"""vod end to end: staff upload a source through a presigned PUT, the embedded stack transcodes it with
real ffmpeg in the background and the video becomes READY with its HLS ladder, poster and storyboard
in the media bucket; a corrupt source FAILS with the reason and staff retry it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import urllib3

from shop_devstack.testing import eventually

BUCKET = "shop-local-vod-media"


def ffmpeg() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def clip(path: Path, width: int, height: int) -> bytes:
    command = [
        ffmpeg(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc=size={width}x{height}:rate=25:duration=2",
    ]
    command += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(command, check=True, capture_output=True)
    return path.read_bytes()


def upload(shop: Any, source: bytes) -> dict[str, Any]:
    created = shop.call("vod", "POST", "/videos", {"title": "E2E film"}, user="sam")
    assert created.status == 201, created.body
    put = urllib3.request("PUT", created.body["upload_url"], body=source, headers={"Content-Type": "video/mp4"})
    assert put.status == 200
    completed = shop.call("vod", "POST", f"/videos/{created.body['video_id']}/upload/complete", {}, user="sam")
    assert completed.status == 200, completed.body
    return dict(completed.body)


def settled(shop: Any, video_id: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        video = shop.call("vod", "GET", f"/videos/{video_id}", user="sam").body
        return video if video["state"] in ("READY", "FAILED") else None

    return eventually(probe, timeout=120, interval=0.5, what=f"video {video_id} to be transcoded")


def s3_text(shop: Any, key: str) -> str:
    return str(shop.stack.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read().decode())


@pytest.mark.parametrize(("width", "height"), [(320, 180), (180, 320)])
def test_an_uploaded_clip_becomes_a_ready_hls_ladder(shop, tmp_path, width, height):
    uploaded = upload(shop, clip(tmp_path / "clip.mp4", width, height))
    assert uploaded["state"] == "UPLOADED"

    video = settled(shop, uploaded["video_id"])

    assert video["state"] == "READY", video
    outputs = video["outputs"]
    assert len(outputs["renditions"]) >= 2
    assert (outputs["renditions"][0]["width"], outputs["renditions"][0]["height"]) == (width, height)
    master = s3_text(shop, outputs["master_playlist_key"])
    assert len(re.findall(r"#EXT-X-STREAM-INF", master)) == len(outputs["renditions"])
    s3 = shop.stack.client("s3")
    for key in (outputs["poster_key"], outputs["storyboard_sprite_key"], outputs["storyboard_vtt_key"]):
        assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] > 0
    playlist = s3_text(shop, outputs["renditions"][-1]["playlist_key"])
    assert "#EXT-X-ENDLIST" in playlist


def test_a_corrupt_upload_fails_with_details_and_a_retry_succeeds(shop, tmp_path):
    uploaded = upload(shop, os.urandom(2048))

    failed = settled(shop, uploaded["video_id"])

    assert failed["state"] == "FAILED"
    assert failed["error"]["code"] == "probe_failed" and failed["error"]["message"]
    source = clip(tmp_path / "good.mp4", 320, 180)
    shop.stack.client("s3").put_object(Bucket=BUCKET, Key=failed["source_key"], Body=source)
    retried = shop.call("vod", "POST", f"/videos/{failed['video_id']}/retry", user="sam")
    assert retried.status == 200, retried.body
    video = settled(shop, failed["video_id"])
    assert (video["state"], video["attempt"]) == ("READY", 2)


def test_completing_the_upload_twice_transcodes_once(shop, tmp_path):
    uploaded = upload(shop, clip(tmp_path / "twice.mp4", 320, 180))
    again = shop.call("vod", "POST", f"/videos/{uploaded['video_id']}/upload/complete", {}, user="sam")
    assert again.status == 200

    video = settled(shop, uploaded["video_id"])

    assert (video["state"], video["attempt"]) == ("READY", 1)
    # The handler logs its outcome just after the commit that made the video READY: wait for the line.
    ready = eventually(
        lambda: [
            r for r in shop.log_records("vod") if r.get("video_id") == uploaded["video_id"] and r.get("result") == "COMPLETE"
        ],
        what="the job state change's log line",
    )
    assert len(ready) == 1
