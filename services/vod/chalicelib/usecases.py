"""vod use cases: a video's way from upload to ready (or failed, and retried), and the access paid
orders grant. Ports (table, media store, transcoder) come in as arguments."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from chalicelib.domain import (
    CAPTIONS_MAX_BYTES,
    LINE_GRANTED,
    PaidLine,
    StepRefused,
    VideoState,
    caption_key,
    check_step,
    check_webvtt,
    job_id,
    new_video_id,
    output_prefix,
    plan_grants,
    plan_revoke,
    revoke_scope,
    source_key,
    still_grantable,
)
from chalicelib.playback import MediaFiles, publish_subtitles
from chalicelib.repository import EntitlementExists, OrderAccessMoved, VideoMoved
from chalicelib.storage import MediaStore
from chalicelib.transcoder import JobOutcome, JobRefused, TranscodeJob, Transcoder
from chalicelib.trick_play import write_storyboard
from shop_contracts.events import (
    EntitlementGrantedV1,
    EntitlementRevokedV1,
    OrderCancelledV1,
    PaymentCapturedV1,
    PaymentRefundedV1,
    Rendition,
    VideoFailedV1,
    VideoOutputs,
    VideoReadyV1,
    VideoSource,
    VideoUploadedV1,
)
from shop_eventing.envelope import DomainEvent, EventData, new_event
from shop_eventing.outbox import TransactionalWork

SOURCE = "shop.vod"


class Videos(Protocol):
    """The vod table as the use cases read it (chalicelib.repository.VodRepository)."""

    def video(self, video_id: str) -> dict[str, Any] | None: ...

    def entitlements(self, customer_id: str, subject: str | None = None) -> list[dict[str, Any]]: ...

    def order_access(self, order_id: str) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]: ...


class VodWork(TransactionalWork, Protocol):
    def add_video(self, video: dict[str, Any]) -> None: ...

    def move_video(self, video_id: str, *, from_states: Any, attempt: int, changes: dict[str, Any], remove: Any = ()) -> None: ...

    def add_entitlement(self, grant: Any, caused_by: str) -> None: ...

    def claim_order_for_grants(self, order_id: str) -> None: ...

    def add_granted_line(self, grant: Any) -> None: ...

    def revoke_whole_order(self, order_id: str, *, seen_version: int | None, revoked_at: str, caused_by: str) -> None: ...

    def revoke_line(self, order_id: str, sku: str, entitlement: dict[str, str], *, revoked_at: str, caused_by: str) -> None: ...

    def tombstone_line(self, order_id: str, sku: str, *, revoked_at: str, caused_by: str) -> None: ...


NewUnitOfWork = Callable[[], VodWork]


class VideoNotFound(Exception):
    pass


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _event(data: EventData, video_id: str, cause: DomainEvent | None = None) -> DomainEvent:
    if cause is not None:
        return cause.caused(data, producer=SOURCE)
    return new_event(data, producer=SOURCE, correlation_id=video_id)


def _video(repository: Videos, video_id: str) -> dict[str, Any]:
    video = repository.video(video_id)
    if video is None:
        raise VideoNotFound(video_id)
    return video


# -- ingest --------------------------------------------------------------------------------------


def create_video(
    title: str,
    content_type: str,
    created_by: str,
    new_uow: NewUnitOfWork,
    store: MediaStore,
    notify_email: str | None = None,
) -> dict[str, Any]:
    """A new video waiting for its source; returns it with a presigned PUT for the source. `notify_email`:
    whom notify tells the transcode's outcome (the uploader names it: access tokens carry no e-mail)."""
    video_id = new_video_id()
    now = _now()
    video: dict[str, Any] = {
        "video_id": video_id,
        "title": title,
        "state": str(VideoState.CREATED),
        "attempt": 0,
        "content_type": content_type,
        "source_key": source_key(video_id),
        "created_by": created_by,
        "created_at": now,
        "updated_at": now,
        "captions": {},
    }
    if notify_email:
        video["notify_email"] = notify_email
    uow = new_uow()
    uow.add_video(video)
    uow.commit()
    return {**video, "upload_url": store.presigned_put(source_key(video_id), content_type)}


def start_multipart(video_id: str, repository: Videos, store: MediaStore) -> dict[str, Any]:
    video = _video(repository, video_id)
    check_step("complete_upload", VideoState(video["state"]))
    return {"upload_id": store.start_multipart(video["source_key"], video["content_type"])}


def presign_parts(
    video_id: str, upload_id: str, part_numbers: list[int], repository: Videos, store: MediaStore
) -> dict[str, Any]:
    video = _video(repository, video_id)
    check_step("complete_upload", VideoState(video["state"]))
    return {"parts": [{"part_number": n, "url": store.presigned_part(video["source_key"], upload_id, n)} for n in part_numbers]}


def complete_upload(
    video_id: str,
    uploaded_by: str,
    repository: Videos,
    new_uow: NewUnitOfWork,
    store: MediaStore,
    multipart: tuple[str, list[tuple[int, str]]] | None = None,
) -> dict[str, Any]:
    """The client says the source is up (after its PUT, or with the parts of a multipart upload).
    The object must be in the bucket (HEAD); then the video is UPLOADED and VideoUploaded published,
    once: a repeated call finds the video moved on and changes nothing."""
    video = _video(repository, video_id)
    if video["state"] != VideoState.CREATED:
        return video
    if multipart is not None:
        upload_id, parts = multipart
        store.complete_multipart(video["source_key"], upload_id, parts)
    stored = store.head(video["source_key"])
    uow = new_uow()
    uow.move_video(
        video_id,
        from_states={VideoState.CREATED},
        attempt=0,
        changes={
            "state": str(VideoState.UPLOADED),
            "attempt": 1,
            "size_bytes": stored.size_bytes,
            "uploaded_by": uploaded_by,
            "updated_at": _now(),
        },
    )
    uow.add_event(
        _event(
            VideoUploadedV1(
                video_id=video_id,
                source=VideoSource(bucket=store.bucket, key=stored.key, size_bytes=stored.size_bytes),
                attempt=1,
                uploaded_by=uploaded_by,
                **_told(video),
            ),
            video_id,
        )
    )
    with contextlib.suppress(VideoMoved):  # a concurrent call completed it: one VideoUploaded
        uow.commit()
    return _video(repository, video_id)


def retry(video_id: str, requested_by: str, repository: Videos, new_uow: NewUnitOfWork, bucket: str) -> dict[str, Any]:
    """Staff retry a failed video: a new attempt, announced like the upload (VideoUploaded)."""
    video = _video(repository, video_id)
    check_step("retry", VideoState(video["state"]))
    attempt = int(video["attempt"]) + 1
    uow = new_uow()
    uow.move_video(
        video_id,
        from_states={VideoState.FAILED},
        attempt=int(video["attempt"]),
        changes={"state": str(VideoState.UPLOADED), "attempt": attempt, "updated_at": _now()},
        remove=("error", "job_id", "job_started"),
    )
    uow.add_event(
        _event(
            VideoUploadedV1(
                video_id=video_id,
                source=VideoSource(bucket=bucket, key=video["source_key"], size_bytes=video.get("size_bytes")),
                attempt=attempt,
                uploaded_by=requested_by,
                **_told(video),
            ),
            video_id,
        )
    )
    try:
        uow.commit()
    except VideoMoved:
        raise StepRefused("retry", VideoState(_video(repository, video_id)["state"])) from None
    return _video(repository, video_id)


def attach_captions(
    video_id: str, language: str, text: str, repository: Videos, new_uow: NewUnitOfWork, store: MediaStore
) -> dict[str, Any]:
    video = _video(repository, video_id)
    if len(text.encode()) > CAPTIONS_MAX_BYTES:
        raise ValueError(f"captions are larger than {CAPTIONS_MAX_BYTES} bytes")
    check_webvtt(text)
    key = caption_key(video_id, language)
    store.put_text(key, text, "text/vtt")
    uow = new_uow()
    uow.move_video(
        video_id,
        from_states=set(VideoState),
        attempt=int(video["attempt"]),
        changes={"captions": {**video.get("captions", {}), language: key}, "updated_at": _now()},
    )
    try:
        uow.commit()
    except VideoMoved:
        # The video moved on meanwhile (a new attempt): the captions file is stored; record it again.
        return attach_captions(video_id, language, text, repository, new_uow, store)
    # Read after the commit: a transcode finishing meanwhile publishes from its own read after its
    # commit, so whichever reads last sees both and the master ends up with every language.
    video = _video(repository, video_id)
    publish_subtitles(video, store)
    return video


# -- transcoding ---------------------------------------------------------------------------------


def start_transcode(
    event: DomainEvent, subscriber: str, repository: Videos, new_uow: NewUnitOfWork, transcoder: Transcoder, stage: str
) -> None:
    """On VideoUploaded: start one transcode job for the attempt.

    The video moves UPLOADED → TRANSCODING under a condition, so of two deliveries only one gets
    there; the job is then started (its id derives from the attempt, so a start repeated after a crash
    is the same job) and `job_started` recorded with the processed-marker. A delivery that finds the
    job started does nothing."""
    uploaded = event.data
    assert isinstance(uploaded, VideoUploadedV1)
    video_id, attempt = uploaded.video_id, uploaded.attempt
    video = repository.video(video_id)
    if video is None:
        raise VideoNotFound(video_id)
    the_job_id = job_id(video_id, attempt)
    if video["state"] == VideoState.UPLOADED and int(video["attempt"]) == attempt:
        uow = new_uow()
        uow.move_video(
            video_id,
            from_states={VideoState.UPLOADED},
            attempt=attempt,
            changes={"state": str(VideoState.TRANSCODING), "job_id": the_job_id, "job_started": False, "updated_at": _now()},
        )
        with contextlib.suppress(VideoMoved):  # another delivery got there first
            uow.commit()
        video = _video(repository, video_id)
    if not (video["state"] == VideoState.TRANSCODING and int(video["attempt"]) == attempt and not video.get("job_started")):
        _note_seen(new_uow, subscriber, event)
        return
    job = TranscodeJob(
        video_id=video_id,
        attempt=attempt,
        job_id=the_job_id,
        bucket=uploaded.source.bucket,
        source_key=uploaded.source.key,
        output_prefix=output_prefix(video_id, attempt),
        stage=stage,
    )
    uow = new_uow()
    uow.mark_processed(subscriber, event)
    try:
        transcoder.start(job)
    except JobRefused as refused:
        _fail(uow, video, video_id, attempt, the_job_id, refused.code, refused.message, cause=event)
    else:
        uow.move_video(
            video_id, from_states={VideoState.TRANSCODING}, attempt=attempt, changes={"job_started": True, "updated_at": _now()}
        )
    try:
        uow.commit()
    except VideoMoved:
        _note_seen(new_uow, subscriber, event)


def finish_transcode(outcome: JobOutcome, repository: Videos, new_uow: NewUnitOfWork, files: MediaFiles | None = None) -> str:
    """A job's final state: the video becomes READY (VideoReady) or FAILED (VideoFailed) if it is still
    transcoding that attempt; a repeated or stale state change changes nothing. Returns what happened.
    A READY video's captions attached before (`files`: the media bucket) go into its master playlist, and
    a job that tiled thumbnails without writing a WebVTT track (MediaConvert's trick play) gets one."""
    video = repository.video(outcome.video_id)
    if video is None:
        return "unknown video"
    if video["state"] != VideoState.TRANSCODING or int(video["attempt"]) != outcome.attempt:
        if files is not None and outcome.status == "COMPLETE" and video["state"] == VideoState.READY:
            # A redelivery: the first delivery may have failed between its commit and the captions.
            publish_subtitles(video, files)
        return f"ignored: the video is {video['state']} at attempt {video['attempt']}"
    uow = new_uow()
    missing_storyboard = None
    if outcome.status == "COMPLETE":
        assert outcome.bucket and outcome.master_playlist_key
        sprite, vtt, renditions = outcome.storyboard_sprite_key, outcome.storyboard_vtt_key, outcome.renditions
        if vtt is None and files is not None:
            # MediaConvert tiles the thumbnails but writes no track: vod writes it before VideoReady names it.
            try:
                written = write_storyboard(outcome.master_playlist_key, files)
            except ValueError as unreadable:
                # The storyboard is a nicety: an image playlist vod cannot read must not keep the video from
                # playing, and no retry would read it better. S3's errors are not caught: those are retried.
                written, missing_storyboard = None, str(unreadable)
            if written is not None:
                sprite, vtt = written.sprite_key, written.vtt_key
                renditions = [r for r in renditions if r.playlist_key != written.playlist_key]
        outputs = VideoOutputs(
            bucket=outcome.bucket,
            master_playlist_key=outcome.master_playlist_key,
            renditions=[
                Rendition(name=f"{min(r.width, r.height)}p", width=r.width, height=r.height, playlist_key=r.playlist_key)
                for r in renditions
            ],
            poster_key=outcome.poster_key,
            storyboard_sprite_key=sprite,
            storyboard_vtt_key=vtt,
            duration_ms=outcome.duration_ms,
        )
        uow.move_video(
            outcome.video_id,
            from_states={VideoState.TRANSCODING},
            attempt=outcome.attempt,
            changes={"state": str(VideoState.READY), "outputs": outputs.model_dump(mode="json"), "updated_at": _now()},
        )
        uow.add_event(
            _event(
                VideoReadyV1(
                    video_id=outcome.video_id,
                    attempt=outcome.attempt,
                    job_id=outcome.job_id,
                    outputs=outputs,
                    uploaded_by=_uploader(video),
                    **_told(video),
                ),
                outcome.video_id,
            )
        )
    else:
        _fail(
            uow,
            video,
            outcome.video_id,
            outcome.attempt,
            outcome.job_id,
            outcome.error_code or "unknown",
            outcome.error_message or "the transcoder gave no message",
        )
    try:
        uow.commit()
    except VideoMoved:
        return "ignored: the video moved meanwhile"
    if outcome.status == "COMPLETE" and files is not None:
        publish_subtitles(_video(repository, outcome.video_id), files)
    return outcome.status if missing_storyboard is None else f"{outcome.status} without a storyboard: {missing_storyboard}"


def _told(video: dict[str, Any]) -> dict[str, Any]:
    """What the video's events say for notify's e-mail to the uploader: the title and where to write."""
    return {"title": video.get("title"), "uploaded_by_email": video.get("notify_email")}


def _uploader(video: dict[str, Any]) -> str | None:
    # Videos from before the upload's completer was kept name their creator.
    uploader: str | None = video.get("uploaded_by") or video.get("created_by")
    return uploader


def _fail(
    uow: VodWork,
    video: dict[str, Any],
    video_id: str,
    attempt: int,
    the_job_id: str | None,
    code: str,
    message: str,
    cause: DomainEvent | None = None,
) -> None:
    uow.move_video(
        video_id,
        from_states={VideoState.TRANSCODING},
        attempt=attempt,
        changes={
            "state": str(VideoState.FAILED),
            "error": {"code": code, "message": message[:2000], "attempt": attempt},
            "updated_at": _now(),
        },
    )
    uow.add_event(
        _event(
            VideoFailedV1(
                video_id=video_id,
                attempt=attempt,
                job_id=the_job_id,
                error_code=code,
                error_message=message[:2000],
                uploaded_by=_uploader(video),
                **_told(video),
            ),
            video_id,
            cause,
        )
    )


# -- access --------------------------------------------------------------------------------------


# A grant and a revoke of the same order may commit between another's read and write; the loser
# reads again (its conditions see the winner's writes), at most this many times before SQS retries.
ORDER_ACCESS_ATTEMPTS = 3


def grant_access(event: DomainEvent, subscriber: str, repository: Videos, new_uow: NewUnitOfWork) -> None:
    """On PaymentCaptured: one entitlement per line that sells a video or a live show
    (EntitlementGranted each); an order without such lines only marks the event processed.

    A line revoked before its payment arrived (a tombstone), or an order revoked as a whole, grants
    nothing: the transaction re-checks both, so a revoke committing meanwhile wins."""
    paid = event.data
    assert isinstance(paid, PaymentCapturedV1)
    lines = [
        PaidLine(
            sku=line.sku,
            product_type=line.access.product_type if line.access else None,
            video_id=line.access.video_id if line.access else None,
            live_show_id=line.access.live_show_id if line.access else None,
            rental_hours=line.access.rental_hours if line.access else None,
        )
        for line in paid.lines
    ]
    planned = plan_grants(paid.order_id, paid.customer_id, lines, event.metadata.occurred_at)
    for attempt in range(1, ORDER_ACCESS_ATTEMPTS + 1):
        access, known = repository.order_access(paid.order_id) if planned else (None, {})
        grants = still_grantable(
            planned,
            order_revoked=bool(access and access.get("revoked_all")),
            lines={sku: item["state"] for sku, item in known.items()},
        )
        uow = new_uow()
        uow.mark_processed(subscriber, event)
        if grants:
            uow.claim_order_for_grants(paid.order_id)
        for grant in grants:
            uow.add_granted_line(grant)
            uow.add_entitlement(grant, caused_by=event.event_id)
            uow.add_event(
                event.caused(
                    EntitlementGrantedV1(
                        entitlement_id=grant.entitlement_id,
                        customer_id=grant.customer_id,
                        order_id=grant.order_id,
                        sku=grant.sku,
                        product_type=grant.product_type,  # type: ignore[arg-type]  # checked by plan_grants
                        video_id=grant.video_id,
                        live_show_id=grant.live_show_id,
                        granted_at=grant.granted_at.isoformat(),
                        expires_at=grant.expires_at.isoformat() if grant.expires_at else None,
                    ),
                    producer=SOURCE,
                )
            )
        try:
            uow.commit()
            return
        except EntitlementExists:
            # Granted before this order kept its lines' access (ORDER#/LINE#): nothing to add.
            _note_seen(new_uow, subscriber, event)
            return
        except OrderAccessMoved:
            if attempt == ORDER_ACCESS_ATTEMPTS:
                raise


def revoke_access(event: DomainEvent, subscriber: str, repository: Videos, new_uow: NewUnitOfWork) -> None:
    """On OrderCancelled (all of the order) or PaymentRefunded (its `skus`, or all when
    `fully_refunded`): each granted entitlement in scope becomes REVOKED (EntitlementRevoked each).
    What is not granted yet is tombstoned (the order as a whole, or the named lines), so a
    PaymentCaptured arriving later grants none of it."""
    data = event.data
    if isinstance(data, OrderCancelledV1):
        scope = revoke_scope(cancelled=True, fully_refunded=False, skus=[])
        reason = "order_cancelled"
    else:
        assert isinstance(data, PaymentRefundedV1)
        scope = revoke_scope(cancelled=False, fully_refunded=data.fully_refunded, skus=data.skus)
        reason = "refunded"
    order_id = data.order_id
    revoked_at = event.metadata.occurred_at.isoformat()
    for attempt in range(1, ORDER_ACCESS_ATTEMPTS + 1):
        access, known = repository.order_access(order_id)
        plan = plan_revoke(scope, {sku: item["state"] for sku, item in known.items()})
        uow = new_uow()
        uow.mark_processed(subscriber, event)
        if plan.whole_order and not (access and access.get("revoked_all")):
            uow.revoke_whole_order(
                order_id, seen_version=access.get("version") if access else None, revoked_at=revoked_at, caused_by=event.event_id
            )
        for sku in plan.tombstone:
            uow.tombstone_line(order_id, sku, revoked_at=revoked_at, caused_by=event.event_id)
        for sku in plan.revoke:
            line = known[sku]
            assert line["state"] == LINE_GRANTED
            entitlement = {"pk": line["entitlement_pk"], "sk": line["entitlement_sk"]}
            uow.revoke_line(order_id, sku, entitlement, revoked_at=revoked_at, caused_by=event.event_id)
            uow.add_event(
                event.caused(
                    EntitlementRevokedV1(
                        entitlement_id=line["entitlement_id"],
                        customer_id=line["customer_id"],
                        order_id=order_id,
                        sku=sku,
                        product_type=line["product_type"],
                        video_id=line.get("video_id"),
                        live_show_id=line.get("live_show_id"),
                        reason=reason,  # type: ignore[arg-type]  # one of the two literals above
                        revoked_at=revoked_at,
                    ),
                    producer=SOURCE,
                )
            )
        try:
            uow.commit()
            return
        except OrderAccessMoved:
            if attempt == ORDER_ACCESS_ATTEMPTS:
                raise


def my_entitlements(customer_id: str, repository: Videos, now: datetime) -> list[dict[str, Any]]:
    """A customer's entitlements, each with whether it is active now (rentals expire)."""
    found = []
    for item in repository.entitlements(customer_id):
        expires = item.get("expires_at_iso")
        active = item.get("status") == "ACTIVE" and (expires is None or now < datetime.fromisoformat(expires))
        found.append({**{k: v for k, v in item.items() if k != "expires_at_iso"}, "expires_at": expires, "active": active})
    return sorted(found, key=lambda item: (item["granted_at"], item["entitlement_id"]), reverse=True)


def _note_seen(new_uow: NewUnitOfWork, subscriber: str, event: DomainEvent) -> None:
    seen = new_uow()
    seen.mark_processed(subscriber, event)
    seen.commit()
