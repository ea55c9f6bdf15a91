"""vod: videos and live shows — upload, transcode, access, protected playback, shoppable timelines,
live shows with pinned products and the push channel that brings the pins to viewers.

Staff create a video and upload its source through a presigned S3 PUT (or multipart), then say it is
complete; VideoUploaded starts one transcode job (ffmpeg locally, MediaConvert on AWS), whose state
change makes the video READY or FAILED. PaymentCaptured grants the access a paid line sells;
OrderCancelled and PaymentRefunded revoke it. Playback signs CloudFront cookies for an entitled viewer;
a video's timeline shows the products placed on it with their price and stock now (product-view keeps
catalog's products). A live show runs on an IVS channel; staff pin products, push-pins sends each pin to
the show's viewers over the WebSocket API, and the recording becomes a video with the pins as markers.
The same WebSocket API brings customers their own orders' status changes (push-orders).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from chalice.app import Chalice, CloudWatchEvent, Rate, SQSEvent, WebsocketEvent

from chalicelib import live_usecases, playback, push, usecases
from chalicelib.api_models import (
    CaptionPath,
    CompleteUploadRequest,
    CreatedVideoResponse,
    CreateVideoRequest,
    EntitlementList,
    EntitlementResponse,
    ListVideosQuery,
    MultipartStarted,
    PlaybackResponse,
    PresignedParts,
    PresignPartsRequest,
    VideoList,
    VideoPath,
    VideoResponse,
)
from chalicelib.domain import StepRefused
from chalicelib.ivs import (
    IvsChannels,
    LiveChannels,
    LiveSignal,
    NotALiveEvent,
    parse_live_event,
    playback_token,
    read_recording,
    with_token,
)
from chalicelib.live import PinRefused
from chalicelib.live_api_models import (
    CreateLiveShowRequest,
    ListLiveShowsQuery,
    LivePlaybackResponse,
    LiveShowList,
    LiveShowPath,
    LiveShowResponse,
    PinRequest,
)
from chalicelib.live_repository import LiveRepository, LiveUnitOfWork
from chalicelib.media_signing import CookieSigner, SigningNotConfigured, signer_from_environment
from chalicelib.outside_events import OutsideEvents
from chalicelib.push_store import ApiGatewayConnections, DynamoPushStore
from chalicelib.repository import VodRepository, VodUnitOfWork
from chalicelib.storage import S3MediaStore, UploadNotFound, UploadRejected
from chalicelib.transcoder import JobOutcome, NotAJobEvent, Transcoder, parse_job_state_change
from shop_contracts import REGISTRY, TOPOLOGY
from shop_contracts.events import Money, PinnedProduct
from shop_eventing.auth import SignIn, Unauthorized, current_caller
from shop_eventing.envelope import DomainEvent
from shop_eventing.http import (
    MAX_BODY_BYTES,
    ApiError,
    Conflict,
    NotFound,
    PayloadTooLarge,
    RequestInvalid,
    Unprocessable,
    current_request,
    error_body,
    json_api,
    json_response,
    parse_body,
    parse_params,
    use_one_error_shape,
)
from shop_eventing.openapi import Health, operation, serve_openapi
from shop_eventing.ops_api import serve_ops_status
from shop_eventing.runtime import ServiceRuntime

app = Chalice(app_name="shop-vod")
use_one_error_shape(app)
serve_openapi(
    app,
    title="shop vod API",
    version="1",
    description="Videos: presigned upload, transcoding to HLS, captions; the access customers bought.",
)
runtime = ServiceRuntime(TOPOLOGY, "vod", REGISTRY)
runtime.trace(app)
repository = VodRepository(runtime.dynamodb, runtime.table_name)
sign_in = SignIn.from_environment()
STAFF = frozenset({"staff"})
# The staff console's operations view: this service's queues, DLQs and outbox, measured as `shop status` does.
serve_ops_status(app, runtime, sign_in, groups=STAFF)
# The media bucket: sources, outputs and captions (shop_infra.resources.vod_resources names it alike).
MEDIA_BUCKET = os.environ.get("VOD_MEDIA_BUCKET") or f"{runtime.naming.prefix}-{runtime.naming.stage}-vod-media"
# Where the transcoder's job state changes arrive (MediaConvert's events, via a rule on the default bus).
JOB_EVENTS_QUEUE = runtime.naming.queue("vod", "transcode-jobs")


def unit_of_work() -> VodUnitOfWork:
    return VodUnitOfWork(runtime.dynamodb, runtime.table_name, runtime.service.source)


@cache
def media_store() -> S3MediaStore:
    return S3MediaStore(runtime.session.client("s3"), MEDIA_BUCKET)


@cache
def transcoder() -> Transcoder:
    """ffmpeg on the embedded stack (VOD_TRANSCODER=ffmpeg), MediaConvert on AWS."""
    if os.environ.get("VOD_TRANSCODER") == "ffmpeg":
        from chalicelib.ffmpeg_transcoder import FfmpegTranscoder  # noqa: PLC0415 - dev-only: needs the ffmpeg wheel

        return FfmpegTranscoder()
    from chalicelib.mediaconvert import MediaConvertTranscoder  # noqa: PLC0415 - only the adapter in use is loaded

    return MediaConvertTranscoder.from_environment(runtime.session)


def video_body(video: dict[str, Any]) -> VideoResponse:
    return VideoResponse.model_validate(video)


@app.route("/health")
@operation("Liveness", responses={200: Health})
def health() -> dict[str, str]:
    return {"status": "ok", "service": "vod"}


# -- staff: videos -----------------------------------------------------------------------------------


@app.route("/videos", methods=["POST"])
@operation(
    "Create a video and get a presigned PUT for its source",
    body=CreateVideoRequest,
    responses={201: CreatedVideoResponse},
    description="PUT the file to upload_url with the same Content-Type, then POST /videos/{video_id}/upload/complete. "
    "Large files: POST /videos/{video_id}/multipart instead.",
)
@json_api
@sign_in.required(app, groups=STAFF)
def create_video() -> Any:
    request = parse_body(app.current_request.raw_body if app.current_request else None, CreateVideoRequest)
    video = usecases.create_video(
        request.title, request.content_type, current_caller().sub, unit_of_work, media_store(), request.notify_email
    )
    return json_response(CreatedVideoResponse.model_validate(video), 201, {"Location": f"/videos/{video['video_id']}"})


@app.route("/videos", methods=["GET"])
@operation("Videos, newest first", query=ListVideosQuery, responses={200: VideoList}, description="Pass next_cursor as ?cursor=.")
@json_api
@sign_in.required(app, groups=STAFF)
def list_videos() -> Any:
    query = parse_params(app.current_request.query_params or {} if app.current_request else {}, ListVideosQuery)
    try:
        after = json.loads(base64.urlsafe_b64decode(query.cursor + "=" * (-len(query.cursor) % 4))) if query.cursor else None
        if after is not None and (not isinstance(after, dict) or set(after) != {"pk", "sk", "gsi1pk", "gsi1sk"}):
            raise ValueError
        videos, last = repository.videos(query.limit, after)
    except ValueError:
        raise RequestInvalid.field("cursor", "not a cursor from this API") from None
    cursor = base64.urlsafe_b64encode(json.dumps(last).encode()).decode().rstrip("=") if last else None
    return json_response(VideoList(videos=[video_body(video) for video in videos], next_cursor=cursor))


@app.route("/videos/{video_id}", methods=["GET"])
@operation("A video: its state, error and outputs", path=VideoPath, responses={200: VideoResponse}, errors={404})
@json_api
@sign_in.required(app, groups=STAFF)
def get_video(video_id: str) -> Any:
    parse_params({"video_id": video_id}, VideoPath)
    video = repository.video(video_id)
    if video is None:
        raise NotFound(f"no video {video_id}")
    return json_response(video_body(video))


@app.route("/videos/{video_id}/multipart", methods=["POST"])
@operation("Start a multipart upload of the source", path=VideoPath, responses={201: MultipartStarted}, errors={404, 409})
@json_api
@sign_in.required(app, groups=STAFF)
def start_multipart(video_id: str) -> Any:
    parse_params({"video_id": video_id}, VideoPath)
    try:
        started = usecases.start_multipart(video_id, repository, media_store())
    except usecases.VideoNotFound:
        raise NotFound(f"no video {video_id}") from None
    except StepRefused as refused:
        raise Conflict(str(refused), code="invalid_state") from None
    return json_response(MultipartStarted.model_validate(started), 201)


@app.route("/videos/{video_id}/multipart/parts", methods=["POST"])
@operation(
    "Presigned PUTs for parts of a multipart upload",
    path=VideoPath,
    body=PresignPartsRequest,
    responses={200: PresignedParts},
    errors={404, 409},
)
@json_api
@sign_in.required(app, groups=STAFF)
def presign_parts(video_id: str) -> Any:
    parse_params({"video_id": video_id}, VideoPath)
    request = parse_body(app.current_request.raw_body if app.current_request else None, PresignPartsRequest)
    try:
        parts = usecases.presign_parts(video_id, request.upload_id, request.part_numbers, repository, media_store())
    except usecases.VideoNotFound:
        raise NotFound(f"no video {video_id}") from None
    except StepRefused as refused:
        raise Conflict(str(refused), code="invalid_state") from None
    return json_response(PresignedParts.model_validate(parts))


@app.route("/videos/{video_id}/upload/complete", methods=["POST"])
@operation(
    "The source is uploaded: check it is there and start transcoding",
    path=VideoPath,
    body=CompleteUploadRequest,
    responses={200: VideoResponse},
    errors={404, 422},
    description="Repeating it changes nothing (one VideoUploaded, one transcode job). 422 when the object is not in the "
    "bucket or S3 refuses the parts.",
)
@json_api
@sign_in.required(app, groups=STAFF)
def complete_upload(video_id: str) -> Any:
    parse_params({"video_id": video_id}, VideoPath)
    raw = app.current_request.raw_body if app.current_request else None
    request = parse_body(raw, CompleteUploadRequest) if raw else CompleteUploadRequest()
    multipart = (
        (request.multipart.upload_id, [(part.part_number, part.etag) for part in request.multipart.parts])
        if request.multipart
        else None
    )
    try:
        video = usecases.complete_upload(video_id, current_caller().sub, repository, unit_of_work, media_store(), multipart)
    except usecases.VideoNotFound:
        raise NotFound(f"no video {video_id}") from None
    except (UploadNotFound, UploadRejected) as missing:
        raise Unprocessable(
            str(missing), code="upload_incomplete", fields=[{"field": "source", "problem": str(missing)}]
        ) from None
    return json_response(video_body(video))


@app.route("/videos/{video_id}/retry", methods=["POST"])
@operation("Retry a failed video's transcode", path=VideoPath, responses={200: VideoResponse}, errors={404, 409})
@json_api
@sign_in.required(app, groups=STAFF)
def retry_video(video_id: str) -> Any:
    parse_params({"video_id": video_id}, VideoPath)
    try:
        video = usecases.retry(video_id, current_caller().sub, repository, unit_of_work, MEDIA_BUCKET)
    except usecases.VideoNotFound:
        raise NotFound(f"no video {video_id}") from None
    except StepRefused as refused:
        raise Conflict(str(refused), code="invalid_state") from None
    return json_response(video_body(video))


@app.route("/videos/{video_id}/captions/{language}", methods=["PUT"], content_types=["text/vtt", "text/plain"])
@operation(
    "Attach WebVTT captions in one language",
    path=CaptionPath,
    responses={200: VideoResponse},
    errors={404, 413, 415},
    description="The body is the WebVTT file itself (Content-Type: text/vtt), at most 64 KiB; anything else is a 400 saying why.",
)
@json_api
@sign_in.required(app, groups=STAFF)
def put_captions(video_id: str, language: str) -> Any:
    parse_params({"video_id": video_id, "language": language}, CaptionPath)
    raw = app.current_request.raw_body if app.current_request else b""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else (raw or "")
    except UnicodeDecodeError:
        raise RequestInvalid.field("body", "WebVTT is UTF-8 text") from None
    if len(raw or b"") > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"captions are at most {MAX_BODY_BYTES} bytes")
    try:
        video = usecases.attach_captions(video_id, language, text, repository, unit_of_work, media_store())
    except usecases.VideoNotFound:
        raise NotFound(f"no video {video_id}") from None
    except ValueError as invalid:
        raise RequestInvalid.field("body", str(invalid)) from None
    return json_response(video_body(video))


# -- customers: what they may watch ------------------------------------------------------------------


@app.route("/me/videos", methods=["GET"])
@operation("The videos and live shows the caller bought access to", responses={200: EntitlementList})
@json_api
@sign_in.required(app)
def my_videos() -> Any:
    # Playback's clock, drill included: the list must never call active what playback refuses.
    entitlements = usecases.my_entitlements(current_caller().sub, repository, playback_now())
    return json_response(EntitlementList(entitlements=[EntitlementResponse.model_validate(e) for e in entitlements]))


# -- customers: protected playback -------------------------------------------------------------------

# How long the signed cookies open a stream: short, because CloudFront cannot take them back.
PLAYBACK_TTL = timedelta(seconds=int(os.environ.get("VOD_PLAYBACK_TTL_SECONDS") or playback.DEFAULT_TTL_SECONDS))
# AWS: Secure, SameSite=None, optionally a parent Domain; the embedded stack serves http on 127.0.0.1.
MEDIA_COOKIES = playback.CookieSettings(
    secure=os.environ.get("VOD_MEDIA_COOKIE_SECURE", "true") != "false",
    domain=os.environ.get("VOD_MEDIA_COOKIE_DOMAIN") or None,
)


class PlaybackForbidden(ApiError):
    """Signed in, but not allowed to watch this video now (not the group refusal of shop_eventing.auth)."""

    status = 403


def _secure_parameter(name: str) -> str:
    return str(runtime.session.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])


@cache
def cookie_signer() -> CookieSigner:
    return signer_from_environment(os.environ, _secure_parameter)


def media_base_url() -> str:
    url = os.environ.get("VOD_MEDIA_BASE_URL", "")
    if not url:
        raise SigningNotConfigured("VOD_MEDIA_BASE_URL (the media domain: CloudFront's, or the local media edge) is unset")
    return url


def playback_now() -> datetime:
    """Now, for rentals and cookies. The embedded stack's clock drill (VOD_CLOCK_OFFSET_FILE, which only
    the stack sets, shared with its media edge) moves it forward so a test can outlive a rental."""
    now = datetime.now(UTC)
    drill = os.environ.get("VOD_CLOCK_OFFSET_FILE")
    if drill:
        with contextlib.suppress(FileNotFoundError):  # no file: the drill is off
            now += timedelta(seconds=float(Path(drill).read_text() or 0))
    return now


@app.route("/videos/{video_id}/playback", methods=["POST"])
@operation(
    "Start watching: signed cookies for the video's HLS stream",
    path=VideoPath,
    responses={200: PlaybackResponse},
    errors={403, 404, 409},
    description="For a customer with an active entitlement to the video (staff: any video). 403 not_entitled, "
    "rental_expired or access_revoked; 409 not_ready. The cookies (also in Set-Cookie, Path=/outputs/<video_id>/) open "
    "every file of the stream at master_url until expires_at: at most VOD_PLAYBACK_TTL_SECONDS, never past a rental's end.",
)
@json_api
@sign_in.required(app)
def play_video(video_id: str) -> Any:
    parse_params({"video_id": video_id}, VideoPath)
    caller = current_caller()
    now = playback_now()
    try:
        started = playback.start_playback(
            video_id,
            playback.Viewer(caller.sub, staff=caller.in_any(STAFF)),
            repository,
            cookie_signer(),
            media_base_url=media_base_url(),
            ttl=PLAYBACK_TTL,
            now=now,
        )
    except playback.VideoNotFound:
        raise NotFound(f"no video {video_id}") from None
    except playback.PlaybackRefused as refused:
        raise PlaybackForbidden(refused.message, code=refused.code) from None
    except playback.NotReady as not_ready:
        raise Conflict(str(not_ready), code="not_ready") from None
    cookies = playback.set_cookie_headers(
        started.cookies, path=started.cookie_path, expires=started.expires_at, now=now, settings=MEDIA_COOKIES
    )
    entitlement = started.entitlement or {}
    body = PlaybackResponse.model_validate(
        {
            "master_url": started.master_url,
            "expires_at": started.expires_at.isoformat(),
            "cookies": started.cookies,
            "play_count": entitlement.get("play_count"),
            "first_played_at": entitlement.get("first_played_at"),
            "markers": [entry.as_dict() for entry in shoppable.timeline(video_id, shoppable_repository)],
        }
    )
    return json_response(body, 200, {"Set-Cookie": cookies, "Cache-Control": "no-store"})


# -- shoppable video: products on a video's timeline (chalicelib.shoppable) --------------------------

from chalicelib import shoppable  # noqa: E402 - kept with its routes, one block to merge
from chalicelib.shoppable_api import (  # noqa: E402
    MarkerResponse,
    MarkersIfMatch,
    MarkersPath,
    MarkersResponse,
    PutMarkersRequest,
    TimelineResponse,
)
from chalicelib.shoppable_store import ShoppableRepository, ShoppableUnitOfWork  # noqa: E402

shoppable_repository = ShoppableRepository(runtime.dynamodb, runtime.table_name)


def shoppable_work() -> ShoppableUnitOfWork:
    return ShoppableUnitOfWork(runtime.dynamodb, runtime.table_name, runtime.service.source)


def _markers_response(video_id: str, staff: shoppable.StaffMarkers, markers: list[shoppable.Marker]) -> Any:
    listed = [
        MarkerResponse(marker_id=m.marker_id, sku=m.sku, start_s=m.start_ms / 1000, end_s=m.end_ms / 1000, source=m.source)
        for m in markers
    ]
    body = MarkersResponse(video_id=video_id, version=staff.version, markers=listed)
    return json_response(body, 200, {"ETag": f'"{staff.version}"'})


@app.route("/videos/{video_id}/markers", methods=["GET"])
@operation(
    "The products placed on a video's timeline",
    path=MarkersPath,
    responses={200: MarkersResponse},
    errors={404},
    description="The staff's markers and a live show's pins, in time order; the ETag is the staff list's version.",
)
@json_api
@sign_in.required(app, groups=STAFF)
def get_markers(video_id: str) -> Any:
    parse_params({"video_id": video_id}, MarkersPath)
    try:
        staff, markers = shoppable.staff_markers(video_id, shoppable_repository)
    except shoppable.VideoNotFound:
        raise NotFound(f"no video {video_id}") from None
    return _markers_response(video_id, staff, markers)


@app.route("/videos/{video_id}/markers", methods=["PUT"])
@operation(
    "Place products on a video's timeline",
    path=MarkersPath,
    headers=MarkersIfMatch,
    body=PutMarkersRequest,
    responses={200: MarkersResponse},
    errors={404, 409},
    description="The whole list of the staff's markers (a live show's pins stay): 0 <= start_s < end_s, end_s within the "
    'video once its duration is known, at most 200. If-Match names the version it is based on ("0" before the first '
    "PUT); another is a 409 (stale_markers).",
)
@json_api
@sign_in.required(app, groups=STAFF)
def put_markers(video_id: str) -> Any:
    request = current_request(app)
    parse_params({"video_id": video_id}, MarkersPath)
    if_match = parse_params(request.headers, MarkersIfMatch).if_match
    body = parse_body(request.raw_body, PutMarkersRequest)
    wanted = [shoppable.MarkerInput(sku=m.sku, start_s=m.start_s, end_s=m.end_s) for m in body.markers]
    try:
        staff, markers = shoppable.put_staff_markers(
            video_id,
            int(if_match.removeprefix("W/").strip('"')),
            wanted,
            current_caller().sub,
            shoppable_repository,
            shoppable_work,
        )
    except shoppable.VideoNotFound:
        raise NotFound(f"no video {video_id}") from None
    except shoppable.StaleMarkers as stale:
        raise Conflict(str(stale), fields=[{"field": "If-Match", "problem": str(stale)}], code="stale_markers") from None
    except shoppable.MarkersInvalid as invalid:
        raise RequestInvalid(str(invalid), fields=invalid.fields) from None
    return _markers_response(video_id, staff, markers)


@app.route("/videos/{video_id}/timeline", methods=["GET"])
@operation(
    "A ready video's products in time order, with their price and stock now",
    path=MarkersPath,
    responses={200: TimelineResponse},
    errors={404},
    description="For a player: each marker with the product's current name, price and stock, and whether to offer it "
    "(purchasable). Any signed-in viewer; a video that is not READY is a 404. Buying goes through POST /orders.",
)
@json_api
@sign_in.required(app)
def get_timeline(video_id: str) -> Any:
    parse_params({"video_id": video_id}, MarkersPath)
    try:
        entries = shoppable.timeline(video_id, shoppable_repository)
    except (shoppable.VideoNotFound, shoppable.VideoNotReady):
        raise NotFound(f"no video {video_id} ready to play") from None
    return json_response(TimelineResponse.model_validate({"video_id": video_id, "markers": [e.as_dict() for e in entries]}))


def _update_product_view(event: DomainEvent, subscriber: str) -> None:
    shoppable.update_product_view(event, subscriber, shoppable_work)


# Every effect is in the transaction that writes the processed-marker: the marker alone de-duplicates.
product_view_subscriber = runtime.subscriber(
    "product-view",
    {
        "ProductPublished": _update_product_view,
        "ProductUpdated": _update_product_view,
        "ProductRetired": _update_product_view,
        "StockLevelChanged": _update_product_view,
    },
    deduplicated_by_marker=True,
)
update_product_view = runtime.consume(app, "update_product_view", product_view_subscriber)

# -- end of shoppable video ---------------------------------------------------------------------------


# -- events ------------------------------------------------------------------------------------------


def _start_transcode(event: DomainEvent, subscriber: str) -> None:
    usecases.start_transcode(event, subscriber, repository, unit_of_work, transcoder(), runtime.naming.stage)


def _grant_access(event: DomainEvent, subscriber: str) -> None:
    usecases.grant_access(event, subscriber, repository, unit_of_work)


def _revoke_access(event: DomainEvent, subscriber: str) -> None:
    usecases.revoke_access(event, subscriber, repository, unit_of_work)


# Every effect but the job's start is in the transaction that writes the processed-marker; the start
# itself is made idempotent by the job's id (usecases.start_transcode), so the marker suffices.
transcode_subscriber = runtime.subscriber("transcode", {"VideoUploaded": _start_transcode}, deduplicated_by_marker=True)
access_subscriber = runtime.subscriber("grant-access", {"PaymentCaptured": _grant_access}, deduplicated_by_marker=True)

start_transcode = runtime.consume(app, "start_transcode", transcode_subscriber)
grant_access = runtime.consume(app, "grant_access", access_subscriber)
revoke_subscriber = runtime.subscriber(
    "revoke-access", {"OrderCancelled": _revoke_access, "PaymentRefunded": _revoke_access}, deduplicated_by_marker=True
)
revoke_access = runtime.consume(app, "revoke_access", revoke_subscriber)

job_events = OutsideEvents[JobOutcome](
    kind="job state change",
    stage=runtime.naming.stage,
    dlq_name=runtime.naming.dlq("vod", "transcode-jobs"),
    session=runtime.session,
    logger=runtime.logger,
    # None: an intermediate state (PROGRESSING, STATUS_UPDATE) or another stage's job.
    parse=parse_job_state_change,
    act=lambda outcome: usecases.finish_transcode(outcome, repository, unit_of_work, media_store()),
    describe=lambda outcome: {"video_id": outcome.video_id, "job_id": outcome.job_id},
    invalid=NotAJobEvent,
)


@app.on_sqs_message(queue=JOB_EVENTS_QUEUE, batch_size=10, name="transcode_job_events")
def transcode_job_events(event: SQSEvent) -> dict[str, Any]:
    return job_events.handle(event.to_dict(), event.context)


# -- live shows ----------------------------------------------------------------------------------------
# Paid live shows (services/vod/README.md#live-shows): staff schedule a show (its IVS channel is made
# with it), IVS's stream and recording events move it SCHEDULED → LIVE → ENDED → RECORDED, ticket
# holders get a tokened playback URL while it is LIVE, staff pin products during it, and the recording
# becomes a video whose markers are the pins.

live_repository = LiveRepository(runtime.dynamodb, runtime.table_name)
# Where IVS's state changes arrive: a rule on the default bus for this stage's channels.
LIVE_EVENTS_QUEUE = runtime.naming.queue("vod", "live-events")
# How long a playback token opens the playlist: a playing viewer keeps playing after it; a new one asks again.
PLAYBACK_TOKEN_TTL = timedelta(seconds=int(os.environ.get("VOD_PLAYBACK_TOKEN_SECONDS", "600")))
# Who may play the stream in a browser (the token's aws:access-control-allow-origin); the storefront's origin on AWS.
PLAYBACK_ORIGIN = os.environ.get("VOD_PLAYBACK_ORIGIN", "*")
# "The show starts soon" goes out this long before the start.
ANNOUNCE_WINDOW = timedelta(minutes=int(os.environ.get("VOD_LIVE_ANNOUNCE_MINUTES", "15")))


class TicketRequired(ApiError):
    """A signed-in customer without an active ticket (not the 403 of a missing group: no WWW-Authenticate)."""

    status = 403
    code = "not_entitled"


def live_unit_of_work() -> LiveUnitOfWork:
    return LiveUnitOfWork(runtime.dynamodb, runtime.table_name, runtime.service.source)


@cache
def live_channels() -> LiveChannels:
    """IVS; on the embedded stack its fake, which boto3 reaches through AWS_ENDPOINT_URL_IVS."""
    return IvsChannels(runtime.session.client("ivs"), os.environ.get("VOD_IVS_RECORDING_CONFIGURATION_ARN"))


@cache
def playback_private_key() -> str:
    """The playback key pair's private key (PEM): an SSM SecureString on AWS, the stack's own locally."""
    parameter = os.environ.get("VOD_PLAYBACK_PRIVATE_KEY_PARAMETER")
    if parameter:
        found = runtime.session.client("ssm").get_parameter(Name=parameter, WithDecryption=True)
        return str(found["Parameter"]["Value"])
    return os.environ["VOD_PLAYBACK_PRIVATE_KEY"]


def sign_playback(channel_arn: str, playback_url: str, viewer_id: str) -> tuple[str, datetime]:
    token, expires = playback_token(
        playback_private_key(),
        channel_arn,
        viewer_id=viewer_id,
        origin=PLAYBACK_ORIGIN,
        now=datetime.now(UTC),
        ttl=PLAYBACK_TOKEN_TTL,
    )
    return with_token(playback_url, token), expires


def live_show_body(show: dict[str, Any]) -> LiveShowResponse:
    """Everyone signed in sees the show and its pin; the channel (stream key included) is for staff."""
    staff = current_caller().in_any(STAFF)
    return LiveShowResponse.model_validate({**show, "channel": show.get("channel") if staff else None})


def _live_show_path(live_show_id: str) -> str:
    return parse_params({"live_show_id": live_show_id}, LiveShowPath).live_show_id


@app.route("/live-shows", methods=["POST"])
@operation(
    "Schedule a live show (with its private IVS channel)",
    body=CreateLiveShowRequest,
    responses={201: LiveShowResponse},
    description="The answer names the channel's ingest endpoint and stream key: broadcast there (RTMPS) to go live.",
)
@json_api
@sign_in.required(app, groups=STAFF)
def create_live_show() -> Any:
    request = parse_body(app.current_request.raw_body if app.current_request else None, CreateLiveShowRequest)
    show = live_usecases.create_live_show(
        request.title,
        datetime.fromisoformat(request.starts_at),
        request.description,
        current_caller().sub,
        live_unit_of_work,
        live_channels(),
        runtime.naming.stage,
    )
    return json_response(live_show_body(show), 201, {"Location": f"/live-shows/{show['live_show_id']}"})


@app.route("/live-shows", methods=["GET"])
@operation("Live shows by their start, earliest first", query=ListLiveShowsQuery, responses={200: LiveShowList})
@json_api
@sign_in.required(app)
def list_live_shows() -> Any:
    query = parse_params(app.current_request.query_params or {} if app.current_request else {}, ListLiveShowsQuery)
    try:
        after = json.loads(base64.urlsafe_b64decode(query.cursor + "=" * (-len(query.cursor) % 4))) if query.cursor else None
        if after is not None and (not isinstance(after, dict) or set(after) != {"pk", "sk", "gsi1pk", "gsi1sk"}):
            raise ValueError
        shows, last = live_repository.live_shows(query.limit, after)
    except ValueError:
        raise RequestInvalid.field("cursor", "not a cursor from this API") from None
    cursor = base64.urlsafe_b64encode(json.dumps(last).encode()).decode().rstrip("=") if last else None
    return json_response(LiveShowList(live_shows=[live_show_body(show) for show in shows], next_cursor=cursor))


@app.route("/live-shows/{live_show_id}", methods=["GET"])
@operation(
    "A live show: schedule, state and the product pinned now", path=LiveShowPath, responses={200: LiveShowResponse}, errors={404}
)
@json_api
@sign_in.required(app)
def get_live_show(live_show_id: str) -> Any:
    show = live_repository.live_show(_live_show_path(live_show_id))
    if show is None:
        raise NotFound(f"no live show {live_show_id}")
    return json_response(live_show_body(show))


@app.route("/live-shows/{live_show_id}/playback", methods=["POST"])
@operation(
    "Watch a live show: its playback URL with a short-lived token",
    path=LiveShowPath,
    responses={200: LivePlaybackResponse},
    errors={403, 404, 409},
    description="Needs an active ticket (403 not_entitled, or access_revoked once cancelled or refunded) and a LIVE show "
    "(409 not_live).",
)
@json_api
@sign_in.required(app)
def live_show_playback(live_show_id: str) -> Any:
    try:
        answer = live_usecases.playback(
            _live_show_path(live_show_id), current_caller().sub, live_repository, repository, sign_playback
        )
    except live_usecases.LiveShowNotFound:
        raise NotFound(f"no live show {live_show_id}") from None
    except live_usecases.NotEntitled as refused:
        raise TicketRequired(str(refused), code=refused.code) from None
    except live_usecases.NotLive as not_live:
        raise Conflict(str(not_live), code="not_live") from None
    return json_response(LivePlaybackResponse.model_validate(answer))


def pinned_product(sku: str) -> PinnedProduct | None:
    """The pin carries the product as vod's read model of catalog knows it now (shoppable's product-view),
    so a viewer's card shows its name and price without asking catalog; unknown to vod: the SKU alone."""
    view = shoppable_repository.product_views([sku]).get(sku)
    if view is None or not view.known or view.price_amount is None or view.currency is None:
        return None
    return PinnedProduct(sku=sku, name=view.name, price=Money(amount=view.price_amount, currency=view.currency))


@app.route("/live-shows/{live_show_id}/pin", methods=["PUT"])
@operation(
    "Pin a product for the show's viewers (replacing the pinned one)",
    path=LiveShowPath,
    body=PinRequest,
    responses={200: LiveShowResponse},
    errors={404, 409},
    description="Only while LIVE (409 not_live). Publishes ProductPinned; viewers get it through the push channel.",
)
@json_api
@sign_in.required(app, groups=STAFF)
def pin_product(live_show_id: str) -> Any:
    show_id = _live_show_path(live_show_id)
    request = parse_body(app.current_request.raw_body if app.current_request else None, PinRequest)
    try:
        show = live_usecases.pin_product(
            show_id,
            request.sku,
            current_caller().sub,
            live_repository,
            live_unit_of_work,
            live_channels(),
            product=pinned_product,
        )
    except live_usecases.LiveShowNotFound:
        raise NotFound(f"no live show {live_show_id}") from None
    except PinRefused as refused:
        raise Conflict(str(refused), code=refused.code) from None
    except live_usecases.PinConflict as conflict:
        raise Conflict(str(conflict), code="pin_conflict") from None
    return json_response(live_show_body(show))


@app.route("/live-shows/{live_show_id}/pin", methods=["DELETE"])
@operation(
    "Unpin the pinned product",
    path=LiveShowPath,
    responses={200: LiveShowResponse},
    errors={404, 409},
    description="Only while LIVE with a pin (409 not_live, nothing_pinned). Publishes ProductUnpinned.",
)
@json_api
@sign_in.required(app, groups=STAFF)
def unpin_product(live_show_id: str) -> Any:
    show_id = _live_show_path(live_show_id)
    try:
        show = live_usecases.unpin_product(show_id, live_repository, live_unit_of_work, live_channels())
    except live_usecases.LiveShowNotFound:
        raise NotFound(f"no live show {live_show_id}") from None
    except PinRefused as refused:
        raise Conflict(str(refused), code=refused.code) from None
    except live_usecases.PinConflict as conflict:
        raise Conflict(str(conflict), code="pin_conflict") from None
    return json_response(live_show_body(show))


@cache
def recordings_s3() -> Any:
    return runtime.session.client("s3")


live_events = OutsideEvents[LiveSignal](
    kind="live event",
    stage=runtime.naming.stage,
    dlq_name=runtime.naming.dlq("vod", "live-events"),
    session=runtime.session,
    logger=runtime.logger,
    # None: a state vod does not act on, or another stage's channel.
    parse=parse_live_event,
    act=lambda signal: live_usecases.on_live_signal(
        signal,
        live_repository,
        live_unit_of_work,
        lambda bucket, prefix: read_recording(recordings_s3(), bucket, prefix),
    ),
    describe=lambda signal: {"live_show_id": signal.live_show_id, "signal": signal.kind, "correlation_id": signal.live_show_id},
    invalid=NotALiveEvent,
)


@app.on_sqs_message(queue=LIVE_EVENTS_QUEUE, batch_size=10, name="live_channel_events")
def live_channel_events(event: SQSEvent) -> dict[str, Any]:
    return live_events.handle(event.to_dict(), event.context)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="announce_live_shows")
def announce_live_shows(event: CloudWatchEvent) -> None:
    """LiveShowStartingSoon for the shows starting within ANNOUNCE_WINDOW (once each)."""
    announced = live_usecases.announce_starting_soon(live_repository, live_unit_of_work, datetime.now(UTC), ANNOUNCE_WINDOW)
    if announced:
        runtime.logger.info("live shows announced", extra={"live_show_ids": announced})


relay_outbox, sweep_outbox = runtime.publish_outbox(app)


# -- the push channel: a WebSocket API whose viewers get a live show's pins as they happen -------------
# (chalicelib/push.py has the protocol; API Gateway's WebSocket API on AWS, shop_devstack.websocket_gateway locally)

app.experimental_feature_flags.update(["WEBSOCKETS"])
# Chalice configures its own management client per WebSocket event; the handlers post through
# push_connections() instead, whose endpoint the SQS fan-out knows too (it has no WebSocket event).
app.websocket_api.session = runtime.session
push_store = DynamoPushStore(runtime.dynamodb, runtime.table_name, runtime.service.source)


@cache
def push_connections() -> ApiGatewayConnections:
    """API Gateway's management API of the WebSocket stage: VOD_PUSH_ENDPOINT, https://<api-id>.execute-api.
    <region>.amazonaws.com/<stage> on AWS (the merge template sets it), the local gateway on the embedded stack."""

    def client() -> Any:
        endpoint = os.environ.get("VOD_PUSH_ENDPOINT")
        if not endpoint:
            raise RuntimeError("the push channel is not configured: set VOD_PUSH_ENDPOINT to the WebSocket stage's URL")
        return runtime.session.client("apigatewaymanagementapi", endpoint_url=endpoint)

    return ApiGatewayConnections(client)


@app.on_ws_connect(name="push_connect")
def push_connect(event: WebsocketEvent) -> dict[str, Any]:
    """Browsers cannot set headers on a WebSocket: the access token comes as ?token=. A refusal is the
    handshake's answer (API Gateway passes the status on), so the client never gets a connection."""
    token = (event.to_dict().get("queryStringParameters") or {}).get("token")
    try:
        if not token:
            raise Unauthorized("connect with ?token=<access token>", error=None)
        caller = sign_in.verifier.verify(token)
    except Unauthorized as refused:
        return {
            "statusCode": refused.status,
            "headers": {"Content-Type": "application/json", **refused.headers},
            "body": json.dumps(error_body(refused.code, str(refused))),
        }
    push.connect(event.connection_id, caller.sub, caller.groups, push_store, datetime.now(UTC))
    return {"statusCode": 200}


@app.on_ws_message(name="push_message")
def push_message(event: WebsocketEvent) -> dict[str, Any]:
    body = event.to_dict().get("body")
    push.on_message(event.connection_id, body, push_store, repository, push_connections(), datetime.now(UTC))
    return {"statusCode": 200}


@app.on_ws_disconnect(name="push_disconnect")
def push_disconnect(event: WebsocketEvent) -> dict[str, Any]:
    push.disconnect(event.connection_id, push_store)
    return {"statusCode": 200}


def _push_pin(event: DomainEvent, subscriber: str) -> None:
    result = push.fan_out(event, subscriber, push_store, push_connections(), datetime.now(UTC))
    runtime.logger.info(
        "pin pushed", extra={"outcome": result.outcome, "sent": result.sent, "gone": len(result.gone), "event_id": event.event_id}
    )


def _push_order_status(event: DomainEvent, subscriber: str) -> None:
    result = push.fan_out(event, subscriber, push_store, push_connections(), datetime.now(UTC))
    runtime.logger.info(
        "order status pushed",
        extra={"outcome": result.outcome, "sent": result.sent, "gone": len(result.gone), "event_id": event.event_id},
    )


# Posting to connections is outside any transaction: powertools' idempotency (by event_id) stops a
# repeat after success, the current pin's sequence (an order's status_version) a late or repeated
# change, and the processed-marker is written with the note that the change went out to everyone
# (push.fan_out).
push_subscriber = runtime.subscriber("push-pins", {"ProductPinned": _push_pin, "ProductUnpinned": _push_pin})
push_pins = runtime.consume(app, "push_pins", push_subscriber)
# A customer's own order statuses, to the connections that watch them (watchOrders): a queue of their own,
# so a burst of orders never delays a live show's pins, nor the other way round.
push_orders_subscriber = runtime.subscriber("push-orders", {"OrderStatusChanged": _push_order_status})
push_orders = runtime.consume(app, "push_orders", push_orders_subscriber)
