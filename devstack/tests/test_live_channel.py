"""The fake IVS alone: IVS's API as botocore's ivs client calls it, a real live HLS stream from ffmpeg
that plays only with a valid playback token (on every playlist and segment), IVS's events on the
default bus, and the recording in IVS's layout when the broadcast ends."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import imageio_ffmpeg
import jwt
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shop_devstack.live_channel import LiveChannelServer
from shop_devstack.testing import embedded_aws, eventually

BUCKET = "shop-live-test-media"


class FrozenClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pem_pair() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP384R1())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private.decode(), public.decode()


def token(private_pem: str, channel_arn: str, *, expires_in: timedelta = timedelta(minutes=5)) -> str:
    claims = {
        "aws:channel-arn": channel_arn,
        "aws:access-control-allow-origin": "https://shop.example",
        "exp": int((datetime.now(UTC) + expires_in).timestamp()),
    }
    return jwt.encode(claims, private_pem, algorithm="ES384")


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def ivs_world() -> Iterator[dict[str, Any]]:
    with embedded_aws():
        session = boto3.Session()
        session.client("s3").create_bucket(Bucket=BUCKET)
        # IVS's events, caught as vod's rule on the default bus would catch them.
        sqs, events = session.client("sqs"), session.client("events")
        queue = sqs.create_queue(QueueName=f"ivs-events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="ivs-test", EventPattern=json.dumps({"source": ["aws.ivs"]}))
        events.put_targets(Rule="ivs-test", Targets=[{"Id": "q", "Arn": queue_arn}])
        clock = FrozenClock()
        with LiveChannelServer(ffmpeg=imageio_ffmpeg.get_ffmpeg_exe(), session=session, clock=clock) as server:
            ivs = session.client("ivs", endpoint_url=server.url)
            private, public = pem_pair()
            ivs.import_playback_key_pair(publicKeyMaterial=public, name="test")
            recording = ivs.create_recording_configuration(destinationConfiguration={"s3": {"bucketName": BUCKET}})
            yield {
                "server": server,
                "ivs": ivs,
                "private": private,
                "recording": recording["recordingConfiguration"]["arn"],
                "sqs": sqs,
                "queue": queue,
                "s3": session.client("s3"),
                "clock": clock,
                "seen": [],
            }


def ivs_events(world: dict[str, Any], channel_arn: str) -> list[dict[str, Any]]:
    """Every IVS event about the channel so far (kept across calls: receiving deletes them)."""
    sqs = world["sqs"]
    for message in sqs.receive_message(QueueUrl=world["queue"], MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
        world["seen"].append(json.loads(message["Body"]))
        sqs.delete_message(QueueUrl=world["queue"], ReceiptHandle=message["ReceiptHandle"])
    return [e for e in world["seen"] if e["resources"] == [channel_arn]]


def test_a_private_channel_streams_live_hls_only_with_a_token_and_is_recorded(ivs_world, tmp_path):  # noqa: PLR0915 - one broadcast, start to recording
    ivs, server = ivs_world["ivs"], ivs_world["server"]
    created = ivs.create_channel(name="shop-test-live_1", authorized=True, recordingConfigurationArn=ivs_world["recording"])
    channel, key = created["channel"], created["streamKey"]
    assert channel["arn"].startswith("arn:aws:ivs:us-east-1:123456789012:channel/")
    assert key["value"].startswith("sk_") and channel["ingestEndpoint"]
    channel_id = channel["arn"].rsplit("/", 1)[1]
    master = channel["playbackUrl"]

    request = urllib.request.Request(f"{server.url}/admin/channels/{channel_id}/broadcast", method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 202
    started = eventually(
        lambda: [e for e in ivs_events(ivs_world, channel["arn"]) if e["detail"].get("event_name") == "Stream Start"],
        timeout=60,
        what="Stream Start",
    )
    assert started[0]["detail-type"] == "IVS Stream State Change"
    assert started[0]["detail"]["channel_name"] == "shop-test-live_1"

    good = token(ivs_world["private"], channel["arn"])
    other_private, _ = pem_pair()
    assert get(master)[0] == 403  # no token
    assert get(f"{master}?token={token(other_private, channel['arn'])}")[0] == 403  # a key IVS does not know
    assert get(f"{master}?token={token(ivs_world['private'], channel['arn'] + 'x')}")[0] == 403  # another channel's
    assert get(f"{master}?token={token(ivs_world['private'], channel['arn'], expires_in=timedelta(minutes=-1))}")[0] == 403

    status, headers, body = get(f"{master}?token={good}")
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "https://shop.example"
    [media] = [line for line in body.decode().splitlines() if not line.startswith("#") and line]
    assert media == f"index.m3u8?token={good}"
    base = master.rsplit("/", 1)[0]
    media_playlist = get(f"{base}/{media}")[2].decode()
    segments = [line for line in media_playlist.splitlines() if line and not line.startswith("#")]
    assert segments and all(line.endswith(f"?token={good}") for line in segments)
    assert get(f"{base}/{segments[0].split('?')[0]}")[0] == 403  # a segment without the token
    assert get(f"{base}/{segments[0]}")[0] == 200

    # A real player (ffmpeg) reads the live stream through the token for three seconds.
    out = tmp_path / "watched.ts"
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-i",
            f"{master}?token={good}",
            "-t",
            "3",
            "-c",
            "copy",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert out.stat().st_size > 10_000

    # Timed metadata: at most 1 KB, at most five calls a second.
    with pytest.raises(ClientError, match="ValidationException"):
        ivs.put_metadata(channelArn=channel["arn"], metadata="x" * 1025)
    for n in range(5):
        ivs.put_metadata(channelArn=channel["arn"], metadata=json.dumps({"type": "pin", "seq": n}))
    with pytest.raises(ClientError) as throttled:
        ivs.put_metadata(channelArn=channel["arn"], metadata="{}")
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    ivs_world["clock"].now += 1.0
    ivs.put_metadata(channelArn=channel["arn"], metadata="{}")

    request = urllib.request.Request(f"{server.url}/admin/channels/{channel_id}/broadcast", method="DELETE")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 202
    recorded = eventually(
        lambda: [e for e in ivs_events(ivs_world, channel["arn"]) if e["detail"].get("recording_status") == "Recording End"],
        timeout=60,
        what="Recording End",
    )
    kinds = [e["detail"].get("event_name") or e["detail"]["recording_status"] for e in ivs_events(ivs_world, channel["arn"])]
    assert kinds == ["Stream Start", "Stream End", "Recording End"]
    detail = recorded[0]["detail"]
    prefix = detail["recording_s3_key_prefix"]
    assert detail["recording_s3_bucket_name"] == BUCKET
    assert prefix.startswith(f"ivs/v1/123456789012/{channel_id}/")
    s3 = ivs_world["s3"]
    ended = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{prefix}/events/recording-ended.json")["Body"].read())
    [rendition] = ended["media"]["hls"]["renditions"]
    playlist = (
        s3.get_object(Bucket=BUCKET, Key=f"{prefix}/media/hls/{rendition['path']}/{rendition['playlist']}")["Body"]
        .read()
        .decode()
    )
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in playlist and playlist.rstrip().endswith("#EXT-X-ENDLIST")
    recorded_segments = [line for line in playlist.splitlines() if line.endswith(".ts")]
    assert recorded_segments
    for segment in recorded_segments:
        s3.head_object(Bucket=BUCKET, Key=f"{prefix}/media/hls/{rendition['path']}/{segment}")
    assert ended["media"]["hls"]["duration_ms"] == detail["recording_duration_ms"] > 3000
    assert s3.head_object(Bucket=BUCKET, Key=f"{prefix}/media/thumbnails/thumb0.jpg")["ContentLength"] > 0
    assert get(f"{master}?token={good}")[0] == 404  # offline now


def test_put_metadata_on_a_channel_that_is_not_live_is_refused(ivs_world):
    ivs = ivs_world["ivs"]
    arn = ivs.create_channel(name="idle", authorized=True)["channel"]["arn"]
    with pytest.raises(ClientError) as refused:
        ivs.put_metadata(channelArn=arn, metadata="{}")
    assert refused.value.response["Error"]["Code"] == "ChannelNotBroadcasting"
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        ivs.put_metadata(channelArn=arn + "0", metadata="{}")
