"""A local fake of Amazon IVS (low-latency channels) for the embedded stack: IVS's own REST API for what
vod calls, a real live HLS stream per broadcasting channel, IVS's EventBridge events and IVS's recordings.

The embedded stack runs it as its own process (``python -m shop_devstack.live_channel``) and points
vod's boto3 at it with AWS_ENDPOINT_URL_IVS, so vod's IVS adapter (services/vod/chalicelib/ivs.py) is
the one that runs on AWS. Tests may start it in-process with ``LiveChannelServer``.

IVS's API (rest-json, as botocore's ``ivs`` model describes it; errors as IVS answers them, with
``x-amzn-ErrorType`` and ``exceptionMessage``):

* ``POST /CreateChannel``                 {name, authorized, recordingConfigurationArn, tags, ...} →
  {channel: {arn, ingestEndpoint, playbackUrl, ...}, streamKey: {value, ...}}
* ``POST /GetChannel``                    {arn}
* ``POST /PutMetadata``                   {channelArn, metadata}: 204; at most 1 KB (ValidationException)
  and 5 calls a second per channel (ThrottlingException, 429); ChannelNotBroadcasting when it is not live.
* ``POST /ImportPlaybackKeyPair``         {publicKeyMaterial (PEM, EC P-384), name}: the key that private
  channels' playback tokens are verified with.
* ``POST /CreateRecordingConfiguration``  {destinationConfiguration: {s3: {bucketName}}, name}

The broadcaster's side (on AWS, OBS or ffmpeg pushing RTMPS to the ingest endpoint with the stream key):

* ``POST /admin/channels/<id>/broadcast``  starts real ffmpeg encoding a test picture and tone in real
  time (``-re``) into HLS (1-second segments, a sliding window of six) in a temporary directory; once the
  first segment is there it puts IVS's "Stream Start" on the default event bus.
* ``DELETE /admin/channels/<id>/broadcast`` stops it: "Stream End", then the recording (a VOD HLS of the
  whole broadcast and a thumbnail, in IVS's layout under the recording configuration's bucket) and
  "Recording End".
* ``GET /admin/channels/<id>``  the channel, its state and the timed metadata it received.

Viewers: ``GET /playback/<id>/master.m3u8?token=<JWT>``. A private channel's playlist plays only with a
valid token (ES384, verified with an imported public key; ``aws:channel-arn`` must name the channel;
``exp`` in the future). Every media playlist and segment URI is rewritten to carry the token, and each
of them is checked as well, so no part of the stream plays without it. CORS headers let a browser play it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import boto3
import jwt
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from shop_devstack.fake_server import FakeServer, serve_until_stopped
from shop_devstack.lifecycle import die_with_parent

__all__ = ["LiveChannelServer", "LiveChannels", "main"]

logger = logging.getLogger("shop_devstack.live_channel")

ACCOUNT: Final = "123456789012"  # moto's default account
METADATA_MAX_BYTES: Final = 1024
METADATA_CALLS_PER_SECOND: Final = 5
SEGMENT_SECONDS: Final = 1
LIVE_WINDOW_SEGMENTS: Final = 6
RECORDING_SEGMENT_SECONDS: Final = 2
# The test picture's size and rate, and the name IVS gives such a rendition in a recording.
WIDTH, HEIGHT, FPS = 640, 360, 30
RENDITION: Final = f"{HEIGHT}p{FPS}"
FIRST_SEGMENT_TIMEOUT_SECONDS: Final = 60


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status=status, headers=headers, content_type="application/json")


class IvsError(Exception):
    """An IVS API error as IVS answers it."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    def response(self) -> Response:
        return _json(self.status, {"exceptionMessage": str(self)}, {"x-amzn-ErrorType": self.code})


@dataclass
class _Channel:
    id: str
    arn: str
    name: str
    authorized: bool
    recording_configuration_arn: str
    stream_key: str
    tags: dict[str, str]
    state: str = "OFFLINE"  # OFFLINE, STARTING, LIVE, STOPPING
    stream_id: str | None = None
    started_at: datetime | None = None
    workdir: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    metadata: list[dict[str, Any]] = field(default_factory=list)
    metadata_calls: deque[float] = field(default_factory=deque)
    recordings: list[str] = field(default_factory=list)


class LiveChannels:
    """The fake's state and its WSGI app."""

    def __init__(
        self,
        *,
        ffmpeg: str,
        region: str = "us-east-1",
        session: boto3.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ffmpeg = ffmpeg
        self._clock = clock
        self.region = region
        self.base_url = ""
        self._session = session or boto3.Session(region_name=region)
        self._lock = threading.Lock()
        self._channels: dict[str, _Channel] = {}
        self._public_keys: dict[str, str] = {}  # key pair ARN -> PEM
        self._recording_configurations: dict[str, str] = {}  # ARN -> bucket
        self.url_map = Map(
            [
                Rule("/health", endpoint="health", methods=["GET"]),
                Rule("/CreateChannel", endpoint="create_channel", methods=["POST"]),
                Rule("/GetChannel", endpoint="get_channel", methods=["POST"]),
                Rule("/PutMetadata", endpoint="put_metadata", methods=["POST"]),
                Rule("/ImportPlaybackKeyPair", endpoint="import_key_pair", methods=["POST"]),
                Rule("/CreateRecordingConfiguration", endpoint="create_recording_configuration", methods=["POST"]),
                Rule("/admin/channels/<channel_id>", endpoint="admin_channel", methods=["GET"]),
                Rule("/admin/channels/<channel_id>/broadcast", endpoint="admin_broadcast", methods=["POST", "DELETE"]),
                Rule("/playback/<channel_id>/<name>", endpoint="playback", methods=["GET", "OPTIONS"]),
            ]
        )

    # -- WSGI --------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return self.dispatch(Request(environ))(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        try:
            endpoint, values = self.url_map.bind_to_environ(request.environ).match()
        except HTTPException as error:
            return _json(error.code or 404, {"error": {"code": "not_found", "message": error.description}})
        try:
            answer: Response = getattr(self, f"on_{endpoint}")(request, **values)
        except IvsError as error:
            return error.response()
        return answer

    def _body(self, request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            raise IvsError(400, "ValidationException", "the body is not JSON") from None
        if not isinstance(body, dict):
            raise IvsError(400, "ValidationException", "the body is not a JSON object")
        return body

    def on_health(self, request: Request) -> Response:
        return _json(200, {"status": "ok"})

    # -- IVS's API ---------------------------------------------------------------------------------
    def on_create_channel(self, request: Request) -> Response:
        body = self._body(request)
        recording = str(body.get("recordingConfigurationArn") or "")
        with self._lock:
            if recording and recording not in self._recording_configurations:
                raise IvsError(404, "ResourceNotFoundException", f"recording configuration {recording} not found")
            channel_id = secrets.token_hex(6)
            channel = _Channel(
                id=channel_id,
                arn=f"arn:aws:ivs:{self.region}:{ACCOUNT}:channel/{channel_id}",
                name=str(body.get("name", "")),
                authorized=bool(body.get("authorized", False)),
                recording_configuration_arn=recording,
                stream_key=f"sk_{self.region}_{secrets.token_urlsafe(24)}",
                tags=dict(body.get("tags") or {}),
            )
            self._channels[channel_id] = channel
        return _json(200, {"channel": self._channel_view(channel), "streamKey": self._stream_key_view(channel)})

    def on_get_channel(self, request: Request) -> Response:
        return _json(200, {"channel": self._channel_view(self._by_arn(str(self._body(request).get("arn", ""))))})

    def on_put_metadata(self, request: Request) -> Response:
        body = self._body(request)
        channel = self._by_arn(str(body.get("channelArn", "")))
        metadata = str(body.get("metadata", ""))
        if not metadata or len(metadata.encode()) > METADATA_MAX_BYTES:
            raise IvsError(400, "ValidationException", f"metadata must be 1 to {METADATA_MAX_BYTES} bytes")
        now = self._clock()
        with self._lock:
            if channel.state != "LIVE":
                raise IvsError(409, "ChannelNotBroadcasting", "the channel is not broadcasting")
            while channel.metadata_calls and now - channel.metadata_calls[0] >= 1.0:
                channel.metadata_calls.popleft()
            if len(channel.metadata_calls) >= METADATA_CALLS_PER_SECOND:
                raise IvsError(429, "ThrottlingException", f"at most {METADATA_CALLS_PER_SECOND} PutMetadata calls a second")
            channel.metadata_calls.append(now)
            channel.metadata.append({"metadata": metadata, "at": datetime.now(UTC).isoformat()})
        return Response(status=204)

    def on_import_key_pair(self, request: Request) -> Response:
        body = self._body(request)
        pem = str(body.get("publicKeyMaterial", ""))
        try:
            jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA384).prepare_key(pem)
        except (ValueError, jwt.InvalidKeyError):
            raise IvsError(400, "ValidationException", "publicKeyMaterial is not a PEM EC public key") from None
        arn = f"arn:aws:ivs:{self.region}:{ACCOUNT}:playback-key/{secrets.token_hex(6)}"
        with self._lock:
            self._public_keys[arn] = pem
        return _json(200, {"keyPair": {"arn": arn, "name": body.get("name", ""), "fingerprint": uuid.uuid4().hex, "tags": {}}})

    def on_create_recording_configuration(self, request: Request) -> Response:
        body = self._body(request)
        bucket = body.get("destinationConfiguration", {}).get("s3", {}).get("bucketName")
        if not bucket:
            raise IvsError(400, "ValidationException", "destinationConfiguration.s3.bucketName is required")
        arn = f"arn:aws:ivs:{self.region}:{ACCOUNT}:recording-configuration/{secrets.token_hex(6)}"
        with self._lock:
            self._recording_configurations[arn] = str(bucket)
        configuration = {
            "arn": arn,
            "name": body.get("name", ""),
            "state": "ACTIVE",
            "destinationConfiguration": {"s3": {"bucketName": bucket}},
        }
        return _json(200, {"recordingConfiguration": configuration})

    def _by_arn(self, arn: str) -> _Channel:
        channel = self._channels.get(arn.rsplit("/", 1)[-1])
        if channel is None or channel.arn != arn:
            raise IvsError(404, "ResourceNotFoundException", f"channel {arn} not found")
        return channel

    def _channel_view(self, channel: _Channel) -> dict[str, Any]:
        return {
            "arn": channel.arn,
            "name": channel.name,
            "latencyMode": "LOW",
            "type": "STANDARD",
            "authorized": channel.authorized,
            "recordingConfigurationArn": channel.recording_configuration_arn,
            "ingestEndpoint": self.base_url.removeprefix("http://"),
            "playbackUrl": f"{self.base_url}/playback/{channel.id}/master.m3u8",
            "tags": channel.tags,
        }

    def _stream_key_view(self, channel: _Channel) -> dict[str, Any]:
        arn = f"arn:aws:ivs:{self.region}:{ACCOUNT}:stream-key/{channel.id}"
        return {"arn": arn, "value": channel.stream_key, "channelArn": channel.arn, "tags": {}}

    # -- the broadcaster ---------------------------------------------------------------------------
    def on_admin_channel(self, request: Request, channel_id: str) -> Response:
        channel = self._channel(channel_id)
        with self._lock:
            view = {
                **self._channel_view(channel),
                "state": channel.state,
                "stream_id": channel.stream_id,
                "metadata": list(channel.metadata),
                "recordings": list(channel.recordings),
            }
        return _json(200, view)

    def on_admin_broadcast(self, request: Request, channel_id: str) -> Response:
        channel = self._channel(channel_id)
        if request.method == "POST":
            with self._lock:
                if channel.state != "OFFLINE":
                    return _json(409, {"error": {"code": "already_broadcasting", "message": f"the channel is {channel.state}"}})
                channel.state = "STARTING"
            threading.Thread(target=self._broadcast, args=(channel,), name=f"broadcast:{channel_id}", daemon=True).start()
            return _json(202, {"state": "STARTING"})
        with self._lock:
            if channel.state != "LIVE":
                return _json(409, {"error": {"code": "not_broadcasting", "message": f"the channel is {channel.state}"}})
            channel.state = "STOPPING"
        threading.Thread(target=self._end, args=(channel,), name=f"end:{channel_id}", daemon=True).start()
        return _json(202, {"state": "STOPPING"})

    def _channel(self, channel_id: str) -> _Channel:
        channel = self._channels.get(channel_id)
        if channel is None:
            raise NotFound(f"no channel {channel_id}")
        return channel

    def ffmpeg_command(self) -> list[str]:
        """One real-time encode, two HLS outputs through the tee muxer: the live window viewers play
        (old segments deleted) and the whole broadcast for the recording. Paths are relative to the
        channel's working directory, so the tee's option syntax needs no escaping."""
        live = (
            f"[f=hls:hls_time={SEGMENT_SECONDS}:hls_list_size={LIVE_WINDOW_SEGMENTS}"
            ":hls_flags=delete_segments+independent_segments:hls_segment_filename=live/seg_%05d.ts]live/index.m3u8"
        )
        recording = (
            f"[f=hls:hls_time={RECORDING_SEGMENT_SECONDS}:hls_list_size=0:hls_playlist_type=event"
            ":hls_segment_filename=recording/%d.ts]recording/playlist.m3u8"
        )
        return [
            self.ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-pix_fmt",
            "yuv420p",
            # A key frame every second: every segment starts with one.
            "-g",
            str(FPS * SEGMENT_SECONDS),
            "-keyint_min",
            str(FPS * SEGMENT_SECONDS),
            "-sc_threshold",
            "0",
            "-b:v",
            "600k",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-f",
            "tee",
            f"{live}|{recording}",
        ]

    def _broadcast(self, channel: _Channel) -> None:
        workdir = Path(tempfile.mkdtemp(prefix=f"shop-live-{channel.id}-"))
        (workdir / "live").mkdir()
        (workdir / "recording").mkdir()
        process = subprocess.Popen(
            self.ffmpeg_command(), cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        with self._lock:
            channel.workdir, channel.process = workdir, process
        deadline = time.monotonic() + FIRST_SEGMENT_TIMEOUT_SECONDS
        playlist = workdir / "live" / "index.m3u8"
        # IVS says "Stream Start" once segments are available to viewers.
        while not (playlist.exists() and ".ts" in playlist.read_text()):
            if process.poll() is not None or time.monotonic() > deadline:
                error = process.stderr.read().decode(errors="replace") if process.stderr else ""
                logger.error("ffmpeg did not start streaming channel %s: %s", channel.id, error[-2000:])
                self._stop_process(channel)
                with self._lock:
                    channel.state = "OFFLINE"
                return
            time.sleep(0.1)
        with self._lock:
            channel.state = "LIVE"
            channel.stream_id = f"st-{secrets.token_hex(12)}"
            channel.started_at = datetime.now(UTC)
        self._put_event(channel, "IVS Stream State Change", {"event_name": "Stream Start"})
        logger.info("channel %s is live (stream %s)", channel.id, channel.stream_id)

    def _stop_process(self, channel: _Channel) -> None:
        process = channel.process
        if process is None or process.poll() is not None:
            return
        # SIGINT: ffmpeg finishes its segments and closes the recording's playlist (#EXT-X-ENDLIST).
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _end(self, channel: _Channel) -> None:
        self._stop_process(channel)
        ended_at = datetime.now(UTC)
        self._put_event(channel, "IVS Stream State Change", {"event_name": "Stream End"})
        try:
            if channel.recording_configuration_arn:
                self._record(channel, ended_at)
        except Exception:
            logger.exception("recording channel %s failed", channel.id)
        finally:
            with self._lock:
                workdir, channel.workdir, channel.process = channel.workdir, None, None
                channel.state = "OFFLINE"
            if workdir:
                shutil.rmtree(workdir, ignore_errors=True)

    def _record(self, channel: _Channel, ended_at: datetime) -> None:
        """The broadcast as IVS records it: media/hls/master.m3u8 and its rendition's VOD playlist and
        segments, media/thumbnails/thumb0.jpg, events/recording-{started,ended}.json; then "Recording End"."""
        assert channel.workdir and channel.started_at
        bucket = self._recording_configurations[channel.recording_configuration_arn]
        started = channel.started_at
        prefix = (
            f"ivs/v1/{ACCOUNT}/{channel.id}/{started.year}/{started.month}/{started.day}/{started.hour}/{started.minute}/"
            f"{secrets.token_urlsafe(9).replace('-', 'x').replace('_', 'y')}"
        )
        source = channel.workdir / "recording"
        playlist = (source / "playlist.m3u8").read_text().replace("#EXT-X-PLAYLIST-TYPE:EVENT", "#EXT-X-PLAYLIST-TYPE:VOD")
        if "#EXT-X-ENDLIST" not in playlist:
            playlist += "#EXT-X-ENDLIST\n"
        duration_ms = int(
            sum(float(line.split(":", 1)[1].rstrip(",")) for line in playlist.splitlines() if line.startswith("#EXTINF:")) * 1000
        )
        thumbnail = channel.workdir / "thumb0.jpg"
        subprocess.run(
            [
                self.ffmpeg,
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-i",
                str(source / "0.ts"),
                "-frames:v",
                "1",
                str(thumbnail),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        s3 = self._session.client("s3")
        hls = f"{prefix}/media/hls"
        for segment in sorted(source.glob("*.ts")):
            s3.upload_file(str(segment), bucket, f"{hls}/{RENDITION}/{segment.name}", ExtraArgs={"ContentType": "video/MP2T"})
        s3.put_object(
            Bucket=bucket, Key=f"{hls}/{RENDITION}/playlist.m3u8", Body=playlist.encode(), ContentType="application/x-mpegURL"
        )
        master = (
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n"
            f'#EXT-X-STREAM-INF:BANDWIDTH=700000,RESOLUTION={WIDTH}x{HEIGHT},FRAME-RATE={FPS}.000,CODECS="avc1.42c01e,mp4a.40.2"\n'
            f"{RENDITION}/playlist.m3u8\n"
        )
        s3.put_object(Bucket=bucket, Key=f"{hls}/master.m3u8", Body=master.encode(), ContentType="application/x-mpegURL")
        s3.upload_file(str(thumbnail), bucket, f"{prefix}/media/thumbnails/thumb0.jpg", ExtraArgs={"ContentType": "image/jpeg"})
        common = {"version": "v1", "channel_arn": channel.arn, "recording_started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ")}
        started_json = {**common, "recording_status": "RECORDING_STARTED", "media": {"hls": {}, "thumbnails": {}}}
        ended_json = {
            **common,
            "recording_ended_at": ended_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "recording_status": "RECORDING_ENDED",
            "media": {
                "hls": {
                    "duration_ms": duration_ms,
                    "path": "media/hls",
                    "playlist": "master.m3u8",
                    "renditions": [
                        {"path": RENDITION, "playlist": "playlist.m3u8", "resolution_width": WIDTH, "resolution_height": HEIGHT}
                    ],
                },
                "thumbnails": {"path": "media/thumbnails", "resolution_width": WIDTH, "resolution_height": HEIGHT},
            },
        }
        for name, document in (("recording-started.json", started_json), ("recording-ended.json", ended_json)):
            s3.put_object(
                Bucket=bucket, Key=f"{prefix}/events/{name}", Body=json.dumps(document).encode(), ContentType="application/json"
            )
        with self._lock:
            channel.recordings.append(prefix)
        self._put_event(
            channel,
            "IVS Recording State Change",
            {
                "recording_status": "Recording End",
                "recording_status_reason": "",
                "recording_s3_bucket_name": bucket,
                "recording_s3_key_prefix": prefix,
                "recording_duration_ms": duration_ms,
                "recording_session_id": prefix.rsplit("/", 1)[-1],
                "recording_session_stream_ids": [channel.stream_id],
            },
        )
        logger.info("channel %s recorded to s3://%s/%s", channel.id, bucket, prefix)

    def _put_event(self, channel: _Channel, detail_type: str, detail: dict[str, Any]) -> None:
        """IVS's event on the default bus, where IVS puts its own."""
        entry = {
            "Source": "aws.ivs",
            "DetailType": detail_type,
            "Resources": [channel.arn],
            "Detail": json.dumps({"channel_name": channel.name, "stream_id": channel.stream_id, **detail}),
        }
        answer = self._session.client("events").put_events(Entries=[entry])
        if answer.get("FailedEntryCount"):
            logger.error("putting %s for channel %s failed: %s", detail_type, channel.id, answer["Entries"])

    def stop_all(self) -> None:
        for channel in list(self._channels.values()):
            self._stop_process(channel)
            if channel.workdir:
                shutil.rmtree(channel.workdir, ignore_errors=True)

    # -- viewers -------------------------------------------------------------------------------------
    def on_playback(self, request: Request, channel_id: str, name: str) -> Response:  # noqa: PLR0911 - one answer per way to fail
        channel = self._channel(channel_id)
        if request.method == "OPTIONS":
            return Response(status=204, headers=_cors("*"))
        token = request.args.get("token", "")
        origin = "*"
        if channel.authorized:
            claims = self._verify(channel, token)
            if claims is None:
                return _json(403, {"error": {"code": "forbidden", "message": "a valid playback token is needed"}}, _cors("*"))
            origin = str(claims.get("aws:access-control-allow-origin", "*"))
        with self._lock:
            workdir = channel.workdir if channel.state == "LIVE" else None
        if workdir is None:
            return _json(404, {"error": {"code": "not_found", "message": "the channel is offline"}}, _cors(origin))
        suffix = f"?token={token}" if channel.authorized else ""
        if name == "master.m3u8":
            master = (
                "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n"
                f'#EXT-X-STREAM-INF:BANDWIDTH=700000,RESOLUTION={WIDTH}x{HEIGHT},FRAME-RATE={FPS}.000,CODECS="avc1.42c01e,mp4a.40.2"\n'
                f"index.m3u8{suffix}\n"
            )
            return Response(master, headers=_cors(origin), content_type="application/vnd.apple.mpegurl")
        path = workdir / "live" / name
        if name != path.name or not path.is_file():
            return _json(404, {"error": {"code": "not_found", "message": f"no {name}"}}, _cors(origin))
        if name.endswith(".m3u8"):
            lines = [
                line if line.startswith("#") or not line.strip() else f"{line}{suffix}" for line in path.read_text().splitlines()
            ]
            return Response("\n".join(lines) + "\n", headers=_cors(origin), content_type="application/vnd.apple.mpegurl")
        return Response(path.read_bytes(), headers=_cors(origin), content_type="video/MP2T")

    def _verify(self, channel: _Channel, token: str) -> dict[str, Any] | None:
        with self._lock:
            keys = list(self._public_keys.values())
        for key in keys:
            try:
                claims: dict[str, Any] = jwt.decode(token, key, algorithms=["ES384"], options={"require": ["exp"]})
            except jwt.InvalidTokenError:
                continue
            return claims if claims.get("aws:channel-arn") == channel.arn else None
        return None


def _cors(origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "GET, OPTIONS",
        "Access-Control-Allow-Headers": "*",
    }


class LiveChannelServer(FakeServer):
    """The fake IVS on werkzeug's threaded server; `url` is valid at once."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ffmpeg: str,
        session: boto3.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channels = LiveChannels(ffmpeg=ffmpeg, session=session, clock=clock)
        super().__init__("live-channel", self.channels, host, port)
        self.channels.base_url = self.url

    def _before_stop(self) -> None:
        self.channels.stop_all()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shop_devstack.live_channel", description="Serve the fake IVS until SIGTERM.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    die_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    server = LiveChannelServer(args.host, args.port, ffmpeg=os.environ["VOD_FFMPEG"])
    serve_until_stopped(server)


if __name__ == "__main__":
    main()
