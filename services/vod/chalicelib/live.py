"""Live shows' rules, free of I/O: a show's states, the pins staff make during it, and the timeline
markers its recording gets from them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

# -- shows and their states ------------------------------------------------------------------


class LiveState(StrEnum):
    SCHEDULED = "SCHEDULED"  # created, with its channel; nobody broadcasts yet
    LIVE = "LIVE"  # the channel's stream started; ticket holders may watch, staff may pin
    ENDED = "ENDED"  # the stream ended; the recording is being written
    RECORDED = "RECORDED"  # the recording is a READY video carrying the pins as markers


# Which states each signal may move a show from. Anything else is refused, so a repeated or late
# signal never moves a show twice or backwards. A recording's end also closes a show still LIVE:
# IVS delivers its events best effort, so "Stream End" may be lost or come after the recording.
LIVE_TRANSITIONS: dict[str, frozenset[LiveState]] = {
    "stream_start": frozenset({LiveState.SCHEDULED}),
    "stream_end": frozenset({LiveState.LIVE}),
    "recording_end": frozenset({LiveState.LIVE, LiveState.ENDED}),
}
TARGET: dict[str, LiveState] = {
    "stream_start": LiveState.LIVE,
    "stream_end": LiveState.ENDED,
    "recording_end": LiveState.RECORDED,
}


def next_state(signal: str, state: LiveState) -> LiveState | None:
    """The state `signal` moves a show in `state` to; None when it must not move it."""
    return TARGET[signal] if state in LIVE_TRANSITIONS[signal] else None


def new_live_show_id() -> str:
    return f"live_{uuid.uuid4().hex[:20]}"


def channel_name(stage: str, live_show_id: str) -> str:
    """The IVS channel's name: the stage prefix lets one rule on the default bus pick this stage's
    channels' events, and the name leads back to the show."""
    return f"shop-{stage}-{live_show_id}"


def show_of_channel(stage: str, name: str) -> str | None:
    prefix = f"shop-{stage}-"
    return name[len(prefix) :] if name.startswith(prefix) and len(name) > len(prefix) else None


def starting_soon(starts_at: datetime, now: datetime, window: timedelta) -> bool:
    """Whether a show starting at `starts_at` is announced now: within `window` of its start, or late
    (still scheduled after its start time), but not a day late."""
    return now - timedelta(days=1) <= starts_at <= now + window


def offset_ms(started_at: datetime | None, at: datetime) -> int | None:
    """Milliseconds since the stream started (where the recording's timeline starts); None before it."""
    if started_at is None:
        return None
    return max(0, int((at - started_at).total_seconds() * 1000))


# -- pins ------------------------------------------------------------------------------------------


class PinRefused(Exception):
    """A pin or unpin asked of a show that does not allow it: `code` says why (not_live, nothing_pinned)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class PinChange:
    """One pin or unpin of a show, as its history keeps it: `sequence` grows by one per change, shared
    by pins and unpins, so readers keep the highest and two concurrent changes cannot share one."""

    sequence: int
    action: str  # "pin" or "unpin"
    pin_id: str
    sku: str
    offset_ms: int | None


def plan_pin(state: LiveState, sequence: int) -> int:
    """The sequence a new pin takes; pinning while another product is pinned replaces it."""
    if state != LiveState.LIVE:
        raise PinRefused("not_live", f"products are pinned while the show is LIVE; it is {state}")
    return sequence + 1


def plan_unpin(state: LiveState, sequence: int, current_pin: dict[str, object] | None) -> int:
    if state != LiveState.LIVE:
        raise PinRefused("not_live", f"products are unpinned while the show is LIVE; it is {state}")
    if not current_pin:
        raise PinRefused("nothing_pinned", "no product is pinned")
    return sequence + 1


def new_pin_id() -> str:
    return f"pin_{uuid.uuid4().hex[:20]}"


# -- the recording's markers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Marker:
    """A stretch of the recording's timeline during which a product was pinned."""

    marker_id: str
    sku: str
    start_ms: int
    end_ms: int


def markers_from_pins(history: list[PinChange], end_ms: int) -> list[Marker]:
    """Each pin becomes a marker from its offset to the next change (a pin replacing it, or its unpin),
    or to `end_ms` (the recording's end) when nothing followed it. A pin without an offset, or one
    whose stretch is empty once clipped to the recording, makes none."""
    ordered = sorted(history, key=lambda change: change.sequence)
    markers = []
    for index, change in enumerate(ordered):
        if change.action != "pin" or change.offset_ms is None:
            continue
        following = next((c.offset_ms for c in ordered[index + 1 :] if c.offset_ms is not None), None)
        end = min(end_ms, following if following is not None else end_ms)
        start = min(change.offset_ms, end_ms)
        if end > start:
            markers.append(Marker(marker_id=change.pin_id, sku=change.sku, start_ms=start, end_ms=end))
    return markers


def recording_video_id(live_show_id: str) -> str:
    """The recording's video id derives from the show: a repeated "Recording End" names the same video
    (the shape of every video id, vid_ + 20 hex digits)."""
    return f"vid_{uuid.uuid5(uuid.NAMESPACE_URL, f'shop-live/{live_show_id}').hex[:20]}"
