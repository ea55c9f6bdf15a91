"""Amazon IVS as vod's live channel: the channel port's adapter, IVS's EventBridge events, its
playback tokens and its recordings' layout.

On the embedded stack the same adapter talks to the fake IVS (shop_devstack.live_channel), which
speaks IVS's REST API: boto3 finds it through AWS_ENDPOINT_URL_IVS, which the stack sets, so nothing
here knows where it runs.

- A show's channel is private (`authorized`): its playback URL plays only with a token, a JWT signed
  ES384 with the private key of the stage's playback key pair, whose public key was imported into
  IVS once per stage (ImportPlaybackKeyPair; docs/deploy.md). Claims as IVS documents them:
  `aws:channel-arn`, `aws:access-control-allow-origin`, `aws:viewer-id`, `exp`.
- Every channel records to the media bucket through the stage's recording configuration
  (VOD_IVS_RECORDING_CONFIGURATION_ARN); IVS writes each recording under
  `ivs/v1/<account>/<channel id>/<y>/<m>/<d>/<h>/<mi>/<recording id>/` with `media/hls/master.m3u8`,
  `media/thumbnails/thumb<N>.jpg` and `events/recording-ended.json`, which names the renditions.
- Pins also go into the stream as timed metadata (PutMetadata): at most 1 KB each and 5 calls per
  second per channel. The push channel is what viewers rely on, so a throttled call is dropped, not
  retried.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import jwt
from botocore.exceptions import ClientError

from chalicelib.live import show_of_channel

IVS_SOURCE = "aws.ivs"
STREAM_STATE_CHANGE = "IVS Stream State Change"
RECORDING_STATE_CHANGE = "IVS Recording State Change"
STREAM_SIGNALS = {"Stream Start": "stream_start", "Stream End": "stream_end"}
RECORDING_END = "Recording End"
METADATA_MAX_BYTES = 1024
METADATA_CALLS_PER_SECOND = 5
PLAYBACK_TOKEN_ALGORITHM = "ES384"


@dataclass(frozen=True)
class Channel:
    arn: str
    name: str
    ingest_endpoint: str
    playback_url: str
    stream_key: str


class LiveChannels(Protocol):
    """The channel port: where a show is broadcast to and watched from."""

    def create(self, name: str, tags: dict[str, str]) -> Channel: ...

    def put_metadata(self, channel_arn: str, metadata: str) -> bool:
        """Insert timed metadata into the live stream; False when it was dropped (throttled)."""
        ...


class MetadataTooLarge(ValueError):
    pass


class IvsChannels:
    """IVS through its boto3 client (`session.client("ivs")`)."""

    def __init__(
        self,
        client: Any,
        recording_configuration_arn: str | None,
        *,
        calls_per_second: int = METADATA_CALLS_PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._clock = clock
        self._recording = recording_configuration_arn
        self._per_second = calls_per_second
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def create_channel_request(self, name: str, tags: dict[str, str]) -> dict[str, Any]:
        request: dict[str, Any] = {
            "name": name,
            "latencyMode": "LOW",
            "type": "STANDARD",
            "authorized": True,
            "tags": tags,
        }
        if self._recording:
            request["recordingConfigurationArn"] = self._recording
        return request

    def create(self, name: str, tags: dict[str, str]) -> Channel:
        answer = self._client.create_channel(**self.create_channel_request(name, tags))
        channel, key = answer["channel"], answer["streamKey"]
        return Channel(
            arn=channel["arn"],
            name=channel.get("name", name),
            ingest_endpoint=channel["ingestEndpoint"],
            playback_url=channel["playbackUrl"],
            stream_key=key["value"],
        )

    def put_metadata(self, channel_arn: str, metadata: str) -> bool:
        if len(metadata.encode()) > METADATA_MAX_BYTES:
            raise MetadataTooLarge(f"IVS takes at most {METADATA_MAX_BYTES} bytes of metadata")
        if not self._take_call(channel_arn):
            return False
        try:
            self._client.put_metadata(channelArn=channel_arn, metadata=metadata)
        except ClientError as error:
            # Throttled, or the channel stopped meanwhile: viewers have the pin through the push channel.
            if error.response.get("Error", {}).get("Code") in {"ThrottlingException", "ChannelNotBroadcasting"}:
                return False
            raise
        return True

    def _take_call(self, channel_arn: str) -> bool:
        """Spends one of this process's calls for the channel in the last second, if one is left, so a
        burst of pins does not earn throttling errors (other processes are covered by the catch)."""
        now = self._clock()
        with self._lock:
            calls = self._calls.setdefault(channel_arn, deque())
            while calls and now - calls[0] >= 1.0:
                calls.popleft()
            if len(calls) >= self._per_second:
                return False
            calls.append(now)
            return True


def pin_metadata(kind: str, sku: str, sequence: int) -> str:
    """The timed metadata of a pin or unpin: compact JSON, far below IVS's 1 KB (a sku is ≤ 64 chars)."""
    return json.dumps({"type": kind, "sku": sku, "seq": sequence}, separators=(",", ":"))


# -- playback tokens ------------------------------------------------------------------------------


def playback_token(
    private_key_pem: str, channel_arn: str, *, viewer_id: str, origin: str, now: datetime, ttl: timedelta
) -> tuple[str, datetime]:
    """A private channel's playback token, and when it expires. IVS checks it when the player fetches
    the playlist; a player that keeps playing needs no new one, so the expiry can be short."""
    expires = now + ttl
    claims = {
        "aws:channel-arn": channel_arn,
        "aws:access-control-allow-origin": origin,
        "aws:viewer-id": viewer_id[:40],
        "exp": int(expires.timestamp()),
    }
    return jwt.encode(claims, private_key_pem, algorithm=PLAYBACK_TOKEN_ALGORITHM), expires


def with_token(playback_url: str, token: str) -> str:
    return f"{playback_url}{'&' if '?' in playback_url else '?'}token={token}"


# -- IVS's events, as EventBridge delivers them ------------------------------------------------------


class NotALiveEvent(ValueError):
    """The record is not an IVS stream or recording state change vod understands."""


@dataclass(frozen=True)
class LiveSignal:
    """What an IVS event tells about one of this stage's shows."""

    kind: str  # stream_start, stream_end, recording_end
    live_show_id: str
    channel_arn: str
    at: datetime
    stream_id: str | None = None
    recording_bucket: str | None = None
    recording_prefix: str | None = None
    recording_duration_ms: int | None = None
    event_id: str | None = None


def parse_live_event(event: dict[str, Any], stage: str) -> LiveSignal | None:
    """The signal an IVS event gives; None for what vod does not act on (Session Created, Recording
    Start, another stage's channel). Raises NotALiveEvent for anything that is not an IVS event."""
    if event.get("source") != IVS_SOURCE or event.get("detail-type") not in (STREAM_STATE_CHANGE, RECORDING_STATE_CHANGE):
        raise NotALiveEvent(f"not an IVS state change: {event.get('source')!r} {event.get('detail-type')!r}")
    detail = event.get("detail")
    resources = event.get("resources")
    if not isinstance(detail, dict) or not isinstance(resources, list) or not resources:
        raise NotALiveEvent("the event has no detail or names no channel")
    show = show_of_channel(stage, str(detail.get("channel_name", "")))
    if show is None:
        return None
    try:
        at = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
        if at.tzinfo is None:
            raise ValueError
    except (KeyError, ValueError):
        raise NotALiveEvent(f"the event's time {event.get('time')!r} is not ISO 8601 UTC") from None
    channel_arn, event_id = str(resources[0]), event.get("id")
    stream_id = detail.get("stream_id")
    if event["detail-type"] == STREAM_STATE_CHANGE:
        kind = STREAM_SIGNALS.get(str(detail.get("event_name")))
        if kind is None:
            return None
        return LiveSignal(kind, show, channel_arn, at, stream_id=stream_id, event_id=event_id)
    if detail.get("recording_status") != RECORDING_END:
        return None
    bucket, prefix = detail.get("recording_s3_bucket_name"), detail.get("recording_s3_key_prefix")
    if not bucket or not prefix:
        raise NotALiveEvent("a Recording End without recording_s3_bucket_name / recording_s3_key_prefix")
    duration = detail.get("recording_duration_ms")
    return LiveSignal(
        "recording_end",
        show,
        channel_arn,
        at,
        stream_id=stream_id,
        recording_bucket=str(bucket),
        recording_prefix=str(prefix).rstrip("/"),
        recording_duration_ms=int(duration) if duration is not None else None,
        event_id=event_id,
    )


# -- recordings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordingRendition:
    width: int
    height: int
    playlist_key: str


@dataclass(frozen=True)
class Recording:
    bucket: str
    master_playlist_key: str
    renditions: list[RecordingRendition]
    poster_key: str | None
    duration_ms: int | None


def recording_from_metadata(bucket: str, prefix: str, ended: dict[str, Any]) -> Recording:
    """A recording's outputs from its `events/recording-ended.json` (IVS's metadata file)."""
    try:
        hls = ended["media"]["hls"]
        hls_path = f"{prefix}/{hls['path']}"
        renditions = [
            RecordingRendition(int(r["resolution_width"]), int(r["resolution_height"]), f"{hls_path}/{r['path']}/{r['playlist']}")
            for r in hls["renditions"]
        ]
        master = f"{hls_path}/{hls['playlist']}"
    except (KeyError, TypeError, ValueError) as error:
        raise NotALiveEvent(f"recording-ended.json lacks {error}") from None
    if not renditions:
        raise NotALiveEvent("recording-ended.json names no rendition")
    thumbnails = ended.get("media", {}).get("thumbnails")
    poster = f"{prefix}/{thumbnails['path']}/thumb0.jpg" if isinstance(thumbnails, dict) and thumbnails.get("path") else None
    duration = hls.get("duration_ms")
    return Recording(bucket, master, renditions, poster, int(duration) if duration is not None else None)


def read_recording(s3: Any, bucket: str, prefix: str) -> Recording:
    body = s3.get_object(Bucket=bucket, Key=f"{prefix}/events/recording-ended.json")["Body"].read()
    return recording_from_metadata(bucket, prefix, json.loads(body))
