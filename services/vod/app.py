"""vod: videos — upload, transcode, access (playback and live come later).

Staff create a video and upload its source through a presigned S3 PUT (or multipart), then say it is
complete; VideoUploaded starts one transcode job (ffmpeg locally, MediaConvert on AWS), whose state
change makes the video READY or FAILED. PaymentCaptured grants the access a paid line sells;
OrderCancelled and PaymentRefunded revoke it.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from functools import cache
from typing import Any

from chalice.app import Chalice, SQSEvent, WebsocketEvent

from chalicelib import push, usecases
from chalicelib.api_models import (
    CaptionPath,
    CompleteUploadRequest,
    CreatedVideoResponse,
    CreateVideoRequest,
    EntitlementList,
    EntitlementResponse,
    ListVideosQuery,
    MultipartStarted,
    PresignedParts,
    PresignPartsRequest,
    VideoList,
    VideoPath,
    VideoResponse,
)
from chalicelib.domain import StepRefused
from chalicelib.job_events import JobEvents
from chalicelib.push_store import ApiGatewayConnections, DynamoPushStore
from chalicelib.repository import VodRepository, VodUnitOfWork
from chalicelib.storage import S3MediaStore, UploadNotFound, UploadRejected
from chalicelib.transcoder import Transcoder
from shop_contracts import REGISTRY, TOPOLOGY
from shop_eventing.auth import SignIn, Unauthorized, current_caller
from shop_eventing.envelope import DomainEvent
from shop_eventing.http import (
    MAX_BODY_BYTES,
    Conflict,
    NotFound,
    PayloadTooLarge,
    RequestInvalid,
    Unprocessable,
    error_body,
    json_api,
    json_response,
    parse_body,
    parse_params,
    use_one_error_shape,
)
from shop_eventing.openapi import Health, operation, serve_openapi
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
repository = VodRepository(runtime.dynamodb, runtime.table_name)
sign_in = SignIn.from_environment()
STAFF = frozenset({"staff"})
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
    video = usecases.create_video(request.title, request.content_type, current_caller().sub, unit_of_work, media_store())
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
    entitlements = usecases.my_entitlements(current_caller().sub, repository, datetime.now(UTC))
    return json_response(EntitlementList(entitlements=[EntitlementResponse.model_validate(e) for e in entitlements]))


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

job_events = JobEvents(
    stage=runtime.naming.stage,
    dlq_name=runtime.naming.dlq("vod", "transcode-jobs"),
    session=runtime.session,
    logger=runtime.logger,
    finish=lambda outcome: usecases.finish_transcode(outcome, repository, unit_of_work),
)


@app.on_sqs_message(queue=JOB_EVENTS_QUEUE, batch_size=10, name="transcode_job_events")
def transcode_job_events(event: SQSEvent) -> dict[str, Any]:
    return job_events.handle(event.to_dict(), event.context)


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


# Posting to connections is outside any transaction: powertools' idempotency (by event_id) stops a
# repeat after success, the current pin's sequence a late or repeated change, and the processed-marker
# is written with the note that the change went out to everyone (push.fan_out).
push_subscriber = runtime.subscriber("push-pins", {"ProductPinned": _push_pin, "ProductUnpinned": _push_pin})
push_pins = runtime.consume(app, "push_pins", push_subscriber)
