"""The vod HTTP API's models: what the views validate and answer, and what its OpenAPI document says."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.shoppable_api import TimelineMarker
from shop_contracts.events import VideoOutputs
from shop_eventing.http import Text

VIDEO_ID_PATTERN = r"^vid_[0-9a-f]{20}$"
# Source files a browser or camera produces; the transcoder probes what really is inside.
VideoContentType = Literal["video/mp4", "video/quicktime", "video/x-matroska", "video/webm", "application/octet-stream"]
# BCP 47 language tags as captions use them: "en", "ja", "pt-BR", "zh-Hant".
LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
# A source is at most this many parts (each up to S3's 5 GiB), so that a completion fits a request body (64 KiB).
MAX_PARTS = 64


class VideoPath(BaseModel):
    video_id: Text = Field(min_length=1, max_length=64)


class CaptionPath(BaseModel):
    video_id: Text = Field(min_length=1, max_length=64)
    language: str = Field(min_length=2, max_length=35, pattern=LANGUAGE_PATTERN)


# An address SES takes as one recipient: no spaces, control characters or RFC 5322 specials (with them
# the mailer reads another address, and SES refuses the mail after the video was transcoded).
_ADDRESS_PART = r"[^@\s\x00-\x1f\x7f-\x9f()<>,;:\\\"\[\]]+"
EMAIL_PATTERN = rf"^{_ADDRESS_PART}@{_ADDRESS_PART}\.{_ADDRESS_PART}$"


class CreateVideoRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    title: Text = Field(min_length=1, max_length=200)
    content_type: VideoContentType = "video/mp4"
    notify_email: str | None = Field(
        default=None,
        pattern=EMAIL_PATTERN,
        max_length=254,
        description="Where notify writes when the video is ready or its transcode failed; none: nobody is written to. "
        "The shop's access tokens carry no e-mail address (Cognito's do not), so the uploader names it here.",
    )


class PresignPartsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    upload_id: Text = Field(min_length=1, max_length=1024)
    part_numbers: list[Annotated[int, Field(ge=1, le=10_000)]] = Field(min_length=1, max_length=MAX_PARTS)


class CompletedPart(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    part_number: int = Field(ge=1, le=10_000)
    etag: Text = Field(min_length=1, max_length=64, description="The ETag header S3 answered the part's PUT with.")


class MultipartCompletion(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    upload_id: Text = Field(min_length=1, max_length=1024)
    parts: list[CompletedPart] = Field(min_length=1, max_length=MAX_PARTS)


class CompleteUploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    multipart: MultipartCompletion | None = Field(default=None, description="Only for a multipart upload.")


class ListVideosQuery(BaseModel):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: Text | None = Field(default=None, max_length=1024)


class VideoError(BaseModel):
    code: str
    message: str
    attempt: int


class VideoResponse(BaseModel):
    video_id: str
    title: str
    state: Literal["CREATED", "UPLOADED", "TRANSCODING", "READY", "FAILED"]
    attempt: int = Field(description="0 until uploaded; 1 for the upload's transcode, +1 per retry.")
    content_type: str
    source_key: str
    size_bytes: int | None = None
    job_id: str | None = None
    error: VideoError | None = Field(default=None, description="Why the last attempt failed (state FAILED).")
    outputs: VideoOutputs | None = Field(default=None, description="S3 keys of what the transcode made (state READY).")
    captions: dict[str, str] = Field(default_factory=dict, description="Language → S3 key of its WebVTT file.")
    notify_email: str | None = Field(default=None, description="Who is told the transcode's outcome by e-mail.")
    live_show_id: str | None = Field(
        default=None, description="The live show this video is the recording of; null for an uploaded video."
    )
    created_at: str
    updated_at: str


class CreatedVideoResponse(VideoResponse):
    upload_url: str = Field(description="Presigned PUT for the source (an hour); send the same Content-Type.")


class MultipartStarted(BaseModel):
    upload_id: str


class PresignedPart(BaseModel):
    part_number: int
    url: str


class PresignedParts(BaseModel):
    parts: list[PresignedPart]


class VideoList(BaseModel):
    videos: list[VideoResponse]
    next_cursor: str | None = None


class EntitlementResponse(BaseModel):
    entitlement_id: str
    order_id: str
    sku: str
    product_type: Literal["video_rental", "video_purchase", "live_ticket"]
    video_id: str | None = None
    live_show_id: str | None = None
    granted_at: str
    expires_at: str | None = Field(default=None, description="Rentals: purchase time + rental hours; None: no expiry.")
    status: str
    active: bool = Field(description="Whether it opens its video or show now.")


class EntitlementList(BaseModel):
    entitlements: list[EntitlementResponse]


# -- playback ------------------------------------------------------------------------------------


class PlaybackResponse(BaseModel):
    master_url: str = Field(description="The HLS master playlist on the media domain (CloudFront; the media edge locally).")
    expires_at: str = Field(description="When the cookies stop opening the stream: a few minutes, never past a rental's end.")
    cookies: dict[str, str] = Field(
        description="CloudFront-Policy, CloudFront-Signature and CloudFront-Key-Pair-Id, also set with Set-Cookie "
        "(Path=/outputs/<video_id>/); a native player sends them as a Cookie header."
    )
    play_count: int | None = Field(
        default=None, description="The caller's playback starts on this entitlement, this one included (none for staff)."
    )
    first_played_at: str | None = None
    markers: list[TimelineMarker] = Field(
        default_factory=list,
        description="The video's shoppable timeline as GET /videos/{id}/timeline answers it: each product's price and "
        "stock now, so a player shows a buy button at the right moment without a second call.",
    )
