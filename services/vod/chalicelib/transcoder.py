"""The transcoder port, and the one completion signal both adapters give: MediaConvert's
"MediaConvert Job State Change" event as EventBridge delivers it (the ffmpeg adapter emits the very
same shape, so completion and failure go through one parser and one use case)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

JOB_STATE_CHANGE = "MediaConvert Job State Change"
MEDIACONVERT_SOURCE = "aws.mediaconvert"
FINAL_STATES = ("COMPLETE", "ERROR")


@dataclass(frozen=True)
class TranscodeJob:
    """One attempt at transcoding a video: its source, where the outputs go, and the id that makes a
    repeated start the same job."""

    video_id: str
    attempt: int
    job_id: str
    bucket: str
    source_key: str
    output_prefix: str
    stage: str

    def user_metadata(self) -> dict[str, str]:
        """Echoed back in the job's state-change events: which video and attempt they are about."""
        return {"video_id": self.video_id, "attempt": str(self.attempt), "shop_job_id": self.job_id, "shop_stage": self.stage}


class Transcoder(Protocol):
    def start(self, job: TranscodeJob) -> str:
        """Start the job (or find it started, for the same job_id); returns the transcoder's job id.
        Raises `JobRefused` when the source cannot be transcoded at all."""
        ...


class JobRefused(Exception):
    """The transcoder refused the job at once (e.g. the source does not probe as a video)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class RenditionOutput:
    width: int
    height: int
    playlist_key: str


@dataclass(frozen=True)
class JobOutcome:
    """A job's final state as its state-change event tells it."""

    video_id: str
    attempt: int
    job_id: str
    status: str  # COMPLETE or ERROR
    bucket: str | None = None
    master_playlist_key: str | None = None
    renditions: list[RenditionOutput] = field(default_factory=list)
    poster_key: str | None = None
    storyboard_sprite_key: str | None = None
    storyboard_vtt_key: str | None = None
    duration_ms: int | None = None
    error_code: str | None = None
    error_message: str | None = None


class NotAJobEvent(ValueError):
    """The record is not a final state change of one of this stage's jobs."""


def _s3_key(url: str) -> tuple[str, str]:
    if not url.startswith("s3://"):
        raise NotAJobEvent(f"output path {url!r} is not an s3:// URL")
    bucket, _, key = url[len("s3://") :].partition("/")
    return bucket, key


def parse_job_state_change(event: dict[str, Any], stage: str) -> JobOutcome | None:
    """The outcome an EventBridge job state-change event reports; None for an intermediate state
    (PROGRESSING, STATUS_UPDATE) or another stage's job. Raises NotAJobEvent for anything else."""
    if event.get("detail-type") != JOB_STATE_CHANGE or event.get("source") != MEDIACONVERT_SOURCE:
        raise NotAJobEvent(f"not a job state change: {event.get('source')!r} {event.get('detail-type')!r}")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise NotAJobEvent("the event has no detail")
    metadata = detail.get("userMetadata") or {}
    if metadata.get("shop_stage") != stage:
        return None
    status = detail.get("status")
    if status not in FINAL_STATES:
        return None
    try:
        video_id, attempt, job_id = str(metadata["video_id"]), int(metadata["attempt"]), str(detail["jobId"])
    except (KeyError, ValueError) as error:
        raise NotAJobEvent(f"the job's userMetadata lacks {error}") from None
    if status == "ERROR":
        return JobOutcome(
            video_id,
            attempt,
            job_id,
            "ERROR",
            error_code=str(detail.get("errorCode", "unknown")),
            error_message=str(detail.get("errorMessage", "the transcoder gave no message"))[:2000],
        )
    return _completed(video_id, attempt, job_id, detail)


def _completed(video_id: str, attempt: int, job_id: str, detail: dict[str, Any]) -> JobOutcome:
    bucket = master = poster = sprite = vtt = None
    renditions: list[RenditionOutput] = []
    duration: int | None = None
    for group in detail.get("outputGroupDetails", []):
        if group.get("type") == "HLS_GROUP":
            [playlist] = group.get("playlistFilePaths", [None])
            if not playlist:
                raise NotAJobEvent("the HLS group names no master playlist")
            bucket, master = _s3_key(playlist)
            for output in group.get("outputDetails", []):
                video = output.get("videoDetails", {})
                paths = output.get("outputFilePaths", [])
                # Without a picture size it is no rendition (the trick-play images, should MediaConvert list them).
                if not paths or "widthInPx" not in video or "heightInPx" not in video:
                    continue
                renditions.append(RenditionOutput(int(video["widthInPx"]), int(video["heightInPx"]), _s3_key(paths[0])[1]))
                duration = duration or output.get("durationInMs")
        elif group.get("type") == "FILE_GROUP":
            for output in group.get("outputDetails", []):
                for path in output.get("outputFilePaths", []):
                    key = _s3_key(path)[1]
                    name = key.rsplit("/", 1)[-1]
                    # MediaConvert names a capture <source name><NameModifier>.<sequence>.jpg.
                    if name.endswith(".vtt"):
                        vtt = key
                    elif "poster" in name:
                        poster = key
                    elif "storyboard" in name and sprite is None:
                        sprite = key
    if master is None or not renditions:
        raise NotAJobEvent("a COMPLETE job without an HLS output group")
    return JobOutcome(
        video_id,
        attempt,
        job_id,
        "COMPLETE",
        bucket=bucket,
        master_playlist_key=master,
        renditions=renditions,
        poster_key=poster,
        storyboard_sprite_key=sprite,
        storyboard_vtt_key=vtt,
        duration_ms=int(duration) if duration is not None else None,
    )


def job_state_change(
    job: TranscodeJob, status: str, *, detail: dict[str, Any], account: str = "000000000000", region: str = "us-east-1"
) -> dict[str, Any]:
    """An EventBridge `MediaConvert Job State Change` event for `job` (what the ffmpeg adapter emits)."""
    now = datetime.now(UTC)
    return {
        "version": "0",
        "id": f"{job.job_id}-{status}",
        "detail-type": JOB_STATE_CHANGE,
        "source": MEDIACONVERT_SOURCE,
        "account": account,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:mediaconvert:{region}:{account}:jobs/{job.job_id}"],
        "detail": {
            "timestamp": int(now.timestamp() * 1000),
            "accountId": account,
            "queue": f"arn:aws:mediaconvert:{region}:{account}:queues/Default",
            "jobId": job.job_id,
            "status": status,
            "userMetadata": job.user_metadata(),
            **detail,
        },
    }


def put_entry(event: dict[str, Any]) -> dict[str, str]:
    """`event` as a PutEvents entry on the default bus, where MediaConvert's own events arrive."""
    return {"Source": event["source"], "DetailType": event["detail-type"], "Detail": json.dumps(event["detail"])}
