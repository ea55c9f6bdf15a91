"""vod's rules, free of I/O: a video's states, the HLS ladder a source gets, where outputs go, and
the access a paid order line grants."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

# -- videos and their states -------------------------------------------------------------------


class VideoState(StrEnum):
    CREATED = "CREATED"  # the video exists; its source has not arrived
    UPLOADED = "UPLOADED"  # the source is in the bucket; VideoUploaded is published
    TRANSCODING = "TRANSCODING"  # a job runs for the current attempt
    READY = "READY"  # outputs are in the bucket; VideoReady is published
    FAILED = "FAILED"  # the attempt failed; VideoFailed carries the details; staff may retry


# Which state each step may start from: everything else is refused, so a repeated or late signal
# never moves a video backwards.
TRANSITIONS: dict[str, frozenset[VideoState]] = {
    "complete_upload": frozenset({VideoState.CREATED}),
    "start_transcode": frozenset({VideoState.UPLOADED}),
    "finish_transcode": frozenset({VideoState.TRANSCODING}),
    "retry": frozenset({VideoState.FAILED}),
}


class StepRefused(Exception):
    """A step asked of a video in a state that does not allow it."""

    def __init__(self, step: str, state: VideoState) -> None:
        allowed = ", ".join(sorted(TRANSITIONS[step]))
        super().__init__(f"cannot {step.replace('_', ' ')} a video that is {state} (only when {allowed})")
        self.step = step
        self.state = state


def check_step(step: str, state: VideoState) -> None:
    if state not in TRANSITIONS[step]:
        raise StepRefused(step, state)


def new_video_id() -> str:
    return f"vid_{uuid.uuid4().hex[:20]}"


def source_key(video_id: str) -> str:
    return f"sources/{video_id}/source"


def output_prefix(video_id: str, attempt: int) -> str:
    """Each attempt writes under its own prefix: a retry never mixes its files with a failed one's."""
    return f"outputs/{video_id}/a{attempt}/"


def caption_key(video_id: str, language: str) -> str:
    return f"captions/{video_id}/{language}.vtt"


def job_id(video_id: str, attempt: int) -> str:
    """Deterministic per attempt: MediaConvert's ClientRequestToken, so a repeated start is one job."""
    return f"{video_id}-a{attempt}"


# -- probing and the ladder --------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """What a source holds, as displayed (a rotation of ±90° already swapped into width/height)."""

    width: int
    height: int
    duration_ms: int
    has_audio: bool


class UnusableSource(ValueError):
    """The source is not a video the shop can transcode; the message says why."""


@dataclass(frozen=True)
class Rung:
    name: str
    width: int
    height: int
    video_kbps: int


# Short-side pixels and bitrates of the rungs offered; a source gets those at or below its short side.
LADDER: tuple[tuple[int, int], ...] = ((1080, 5000), (720, 2800), (480, 1200), (360, 700))
MIN_RENDITIONS = 2
SMALLEST_SHORT_SIDE = 16


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def _rung(short: float, probe: Probe, kbps: int) -> Rung:
    """A rung with about `short` pixels on the source's short side, the long side keeping the aspect
    ratio; even sizes (H.264 with 4:2:0 needs them), never above the source's own."""
    landscape = probe.width >= probe.height
    source_short, source_long = (probe.height, probe.width) if landscape else (probe.width, probe.height)
    short_px = min(_even(short), source_short // 2 * 2)
    long_px = min(_even(source_long * short / source_short), source_long // 2 * 2)
    width, height = (long_px, short_px) if landscape else (short_px, long_px)
    return Rung(f"{short_px}p", width, height, kbps)


def choose_ladder(probe: Probe) -> list[Rung]:
    """The HLS renditions for a source: the standard rungs at or below its short side (never upscaled,
    aspect kept, portrait by its width), at least two; a source below the smallest rung gets its own
    size and half of it."""
    if probe.width < SMALLEST_SHORT_SIDE or probe.height < SMALLEST_SHORT_SIDE:
        raise UnusableSource(f"the picture is {probe.width}x{probe.height}, too small to transcode")
    short = min(probe.width, probe.height)
    rungs = [_rung(size, probe, kbps) for size, kbps in LADDER if size <= short]
    if len(rungs) < MIN_RENDITIONS:
        # A small source: its own size on top (never above it), then halves until there are enough.
        own = _rung(short, probe, _kbps_for(short))
        if not rungs or rungs[0].name != own.name:
            rungs.insert(0, own)
        lower = min(rung.width if probe.width < probe.height else rung.height for rung in rungs) / 2
        while len(rungs) < MIN_RENDITIONS:
            rungs.append(_rung(lower, probe, _kbps_for(lower)))
            lower /= 2
    return rungs


def _kbps_for(short: float) -> int:
    """Roughly 700 kb/s at 360 lines, scaled with the picture's area, at least 100."""
    return max(100, int(700 * (short / 360) ** 2))


# -- the storyboard (timeline previews) ----------------------------------------------------------

STORYBOARD_MAX_THUMBNAILS = 100
STORYBOARD_COLUMNS = 10
THUMBNAIL_LONG_SIDE = 160


@dataclass(frozen=True)
class Storyboard:
    interval_s: int
    count: int
    columns: int
    rows: int
    thumb_width: int
    thumb_height: int


def plan_storyboard(probe: Probe) -> Storyboard:
    """One sprite of thumbnails every `interval_s` seconds, at most STORYBOARD_MAX_THUMBNAILS."""
    seconds = max(1, math.ceil(probe.duration_ms / 1000))
    interval = max(1, math.ceil(seconds / STORYBOARD_MAX_THUMBNAILS))
    count = max(1, math.ceil(seconds / interval))
    columns = min(STORYBOARD_COLUMNS, count)
    scale = THUMBNAIL_LONG_SIDE / max(probe.width, probe.height)
    width, height = _even(probe.width * scale), _even(probe.height * scale)
    return Storyboard(interval, count, columns, math.ceil(count / columns), width, height)


def vtt_timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def storyboard_vtt(board: Storyboard, sprite_name: str, duration_ms: int) -> str:
    """The WebVTT thumbnails track: one cue per thumbnail, pointing into the sprite with #xywh."""
    lines = ["WEBVTT", ""]
    end_of_video = duration_ms / 1000
    for index in range(board.count):
        start = index * board.interval_s
        end = min(start + board.interval_s, end_of_video) if index == board.count - 1 else start + board.interval_s
        x = (index % board.columns) * board.thumb_width
        y = (index // board.columns) * board.thumb_height
        lines += [
            f"{vtt_timestamp(start)} --> {vtt_timestamp(max(end, start + 0.001))}",
            f"{sprite_name}#xywh={x},{y},{board.thumb_width},{board.thumb_height}",
            "",
        ]
    return "\n".join(lines)


# -- captions ------------------------------------------------------------------------------------

CAPTIONS_MAX_BYTES = 64 * 1024  # an API request's body limit


def check_webvtt(text: str) -> None:
    """WebVTT starts with the WEBVTT signature (optionally after a BOM) and holds a cue timing line."""
    body = text.removeprefix("\ufeff")
    first = body.split("\n", 1)[0].rstrip("\r")
    if not (first == "WEBVTT" or first.startswith(("WEBVTT ", "WEBVTT\t"))):
        raise ValueError("not WebVTT: the file must start with the line WEBVTT")
    if "-->" not in body:
        raise ValueError("not WebVTT: no cue (a line with a '-->' timing)")


# -- entitlements --------------------------------------------------------------------------------

_ENTITLEMENT_NAMESPACE = uuid.UUID("0b6f8f5e-4d2a-4c61-9a0e-7c3d1e5f9b24")
DIGITAL_ACCESS = frozenset({"video_rental", "video_purchase", "live_ticket"})


@dataclass(frozen=True)
class Grant:
    entitlement_id: str
    customer_id: str
    order_id: str
    sku: str
    product_type: str
    video_id: str | None
    live_show_id: str | None
    granted_at: datetime
    expires_at: datetime | None

    @property
    def subject(self) -> str:
        """What it opens: VIDEO#<id> or LIVE#<id> (the key entitlements are looked up by, with the customer)."""
        return f"VIDEO#{self.video_id}" if self.video_id else f"LIVE#{self.live_show_id}"


@dataclass(frozen=True)
class PaidLine:
    sku: str
    product_type: str | None
    video_id: str | None
    live_show_id: str | None
    rental_hours: int | None


def entitlement_id(order_id: str, sku: str) -> str:
    """One entitlement per (order, line): a repeated or replayed PaymentCaptured names the same one."""
    return f"ent_{uuid.uuid5(_ENTITLEMENT_NAMESPACE, f'{order_id}/{sku}').hex[:20]}"


def plan_grants(order_id: str, customer_id: str | None, lines: list[PaidLine], paid_at: datetime) -> list[Grant]:
    """The access a paid order gives: one grant per line selling a video or a live show.

    A rental's clock starts at purchase (`paid_at`): its expiry is known when it is granted, needs no
    playback, and is the same on every replay of the payment."""
    grants = []
    for line in lines:
        if line.product_type not in DIGITAL_ACCESS:
            continue
        if not customer_id:
            raise ValueError(f"order {order_id} sells access ({line.sku}) but names no customer")
        if line.product_type == "live_ticket" and not line.live_show_id:
            raise ValueError(f"order {order_id}: live ticket {line.sku} names no live show")
        if line.product_type != "live_ticket" and not line.video_id:
            raise ValueError(f"order {order_id}: {line.product_type} {line.sku} names no video")
        expires = None
        if line.product_type == "video_rental":
            if not line.rental_hours:
                raise ValueError(f"order {order_id}: rental {line.sku} has no rental_hours")
            expires = paid_at + timedelta(hours=line.rental_hours)
        grants.append(
            Grant(
                entitlement_id=entitlement_id(order_id, line.sku),
                customer_id=customer_id,
                order_id=order_id,
                sku=line.sku,
                product_type=line.product_type,
                video_id=line.video_id if line.product_type != "live_ticket" else None,
                live_show_id=line.live_show_id if line.product_type == "live_ticket" else None,
                granted_at=paid_at,
                expires_at=expires,
            )
        )
    return grants


def is_active(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is None or now < expires_at


# -- revoking ------------------------------------------------------------------------------------

# An order line's access, as vod keeps it per (order, sku): GRANTED by grant-access, REVOKED by
# revoke-access. A REVOKED line that was never GRANTED is a tombstone: a late grant skips it.
LINE_GRANTED = "GRANTED"
LINE_REVOKED = "REVOKED"


@dataclass(frozen=True)
class RevokePlan:
    """What one OrderCancelled / PaymentRefunded takes back.

    `revoke`: the skus whose GRANTED access ends now (EntitlementRevoked each); `tombstone`: skus not
    granted yet, marked so their grant never happens; `whole_order`: the order itself is marked, so no
    line of it is granted any more (a cancellation, a full refund)."""

    revoke: tuple[str, ...]
    tombstone: tuple[str, ...]
    whole_order: bool


def revoke_scope(*, cancelled: bool, fully_refunded: bool, skus: list[str]) -> frozenset[str] | None:
    """The skus an event takes back; None for all of the order's (a cancellation or a full refund)."""
    if cancelled or fully_refunded:
        return None
    return frozenset(skus)


def plan_revoke(scope: frozenset[str] | None, lines: dict[str, str]) -> RevokePlan:
    """`lines`: the order's known lines, sku -> LINE_GRANTED or LINE_REVOKED. Revokes each GRANTED
    line in scope; a line in scope that vod has not seen is tombstoned; a REVOKED one is left as it is
    (a second cancellation or refund revokes nothing twice)."""
    wanted = set(lines) if scope is None else set(scope)
    revoke = tuple(sorted(sku for sku in wanted if lines.get(sku) == LINE_GRANTED))
    tombstone = () if scope is None else tuple(sorted(sku for sku in wanted if sku not in lines))
    return RevokePlan(revoke=revoke, tombstone=tombstone, whole_order=scope is None)


def still_grantable(grants: list[Grant], *, order_revoked: bool, lines: dict[str, str]) -> list[Grant]:
    """The grants a payment may still make: none on a revoked order, none for a line vod knows already
    (granted before, or tombstoned by a revoke that came first)."""
    if order_revoked:
        return []
    return [grant for grant in grants if grant.sku not in lines]
