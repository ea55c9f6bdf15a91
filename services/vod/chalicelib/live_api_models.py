"""The live shows' part of the vod HTTP API: what its views validate and answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shop_contracts.events import SKU_MAX_LENGTH, SKU_PATTERN, Money
from shop_eventing.http import Text

LiveStateName = Literal["SCHEDULED", "LIVE", "ENDED", "RECORDED"]


def _aware_instant(value: str) -> str:
    """An ISO 8601 date and time with its zone (strict models take JSON strings, not datetimes)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("not an ISO 8601 date and time") from None
    if parsed.tzinfo is None:
        raise ValueError("name the time zone (Z or an offset such as +09:00)")
    try:
        parsed.astimezone(UTC)  # the show is kept in UTC: year 1 at +01:00 has no UTC instant
    except OverflowError:
        raise ValueError("out of range") from None
    return value


Instant = Annotated[str, AfterValidator(_aware_instant), Field(max_length=40, json_schema_extra={"format": "date-time"})]


class LiveShowPath(BaseModel):
    live_show_id: Text = Field(min_length=1, max_length=64)


class CreateLiveShowRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    title: Text = Field(min_length=1, max_length=200)
    starts_at: Instant = Field(description="ISO 8601 with a time zone, e.g. 2026-12-01T19:00:00+09:00.")
    description: Text | None = Field(default=None, max_length=2000)


class PinRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    sku: str = Field(min_length=1, max_length=SKU_MAX_LENGTH, pattern=SKU_PATTERN)


class ListLiveShowsQuery(BaseModel):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: Text | None = Field(default=None, max_length=1024)


class CurrentPin(BaseModel):
    pin_id: str
    sku: str
    sequence: int
    pinned_at: str
    offset_ms: int | None = None
    name: str | None = None
    price: Money | None = None


class ChannelDetails(BaseModel):
    """Where the broadcaster sends the stream (staff only): on AWS OBS or ffmpeg push RTMPS to
    rtmps://<ingest_endpoint>:443/app/ with the stream key."""

    arn: str
    name: str
    ingest_endpoint: str
    stream_key: str
    playback_url: str = Field(description="Plays only with a token (POST /live-shows/{id}/playback).")


class LiveShowResponse(BaseModel):
    live_show_id: str
    title: str
    description: str | None = None
    starts_at: str
    state: LiveStateName
    started_at: str | None = None
    ended_at: str | None = None
    current_pin: CurrentPin | None = Field(default=None, description="What is pinned now (a late joiner shows it).")
    sequence: int = Field(description="Of the last pin or unpin; push messages with a lower one are stale.")
    video_id: str | None = Field(default=None, description="The recording, once RECORDED.")
    channel: ChannelDetails | None = Field(default=None, description="Staff only.")


class LiveShowList(BaseModel):
    live_shows: list[LiveShowResponse]
    next_cursor: str | None = None


class LivePlaybackResponse(BaseModel):
    live_show_id: str
    playback_url: str = Field(description="The channel's playlist with the viewer's token (?token=).")
    expires_at: str = Field(description="The token is checked when the player loads the playlist; ask again after this.")
