"""Live shows' use cases: schedule a show with its channel, follow its stream (IVS's signals), let
ticket holders watch, let staff pin products, turn the recording into a video with the pins as
markers, and announce a show shortly before it starts. Ports come in as arguments."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import ClientError

from chalicelib.domain import VideoState
from chalicelib.ivs import Channel, LiveChannels, LiveSignal, Recording, pin_metadata
from chalicelib.live import (
    LiveState,
    PinChange,
    channel_name,
    markers_from_pins,
    new_live_show_id,
    new_pin_id,
    next_state,
    offset_ms,
    plan_pin,
    plan_unpin,
    recording_video_id,
    starting_soon,
)
from chalicelib.live_repository import LiveShowMoved
from chalicelib.repository import VideoExists
from shop_contracts.events import (
    LiveShowEndedV1,
    LiveShowStartedV1,
    LiveShowStartingSoonV1,
    PinnedProduct,
    ProductPinnedV1,
    ProductUnpinnedV1,
    Rendition,
    VideoOutputs,
    VideoReadyV1,
)
from shop_eventing.envelope import EventData, new_event
from shop_eventing.outbox import TransactionalWork

SOURCE = "shop.vod"
# Two staff members pinning at once: the loser reads the show again, at most this many times.
PIN_ATTEMPTS = 3


class LiveShows(Protocol):
    """The vod table as these use cases read it (chalicelib.live_repository.LiveRepository, and the
    entitlements of chalicelib.repository.VodRepository)."""

    def live_show(self, live_show_id: str) -> dict[str, Any] | None: ...

    def live_shows(
        self, limit: int, cursor: dict[str, Any] | None = None, *, starting_from: str | None = None, until: str | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]: ...

    def pin_history(self, live_show_id: str) -> list[PinChange]: ...

    def put_markers(self, video_id: str, live_show_id: str, markers: list[Any]) -> None: ...


class Entitlements(Protocol):
    def entitlements(self, customer_id: str, subject: str | None = None) -> list[dict[str, Any]]: ...


class LiveWork(TransactionalWork, Protocol):
    def add_live_show(self, show: dict[str, Any]) -> None: ...

    def move_live_show(
        self, live_show_id: str, *, from_states: Any, changes: dict[str, Any], unless: str | None = None
    ) -> None: ...

    def change_pin(
        self, live_show_id: str, change: PinChange, *, seen_sequence: int, current_pin: dict[str, Any] | None, at: str
    ) -> None: ...

    def add_video(self, video: dict[str, Any]) -> None: ...


NewLiveWork = Callable[[], LiveWork]
# (channel ARN, playback URL, viewer) → the URL with a token, and when the token expires.
SignPlayback = Callable[[str, str, str], tuple[str, datetime]]


class LiveShowNotFound(Exception):
    pass


class NotEntitled(Exception):
    """The caller holds no active ticket to the show: `code` is not_entitled, or access_revoked when
    every ticket they had was taken back."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class NotLive(Exception):
    pass


class PinConflict(Exception):
    """Others kept changing the show's pin while this change tried to commit."""


class SignalTooEarly(Exception):
    """An IVS signal arrived before the one it follows (events are best effort and unordered): the
    queue delivers it again later."""


def _now() -> datetime:
    return datetime.now(UTC)


def _event(data: EventData, live_show_id: str, now: datetime | None = None) -> Any:
    return new_event(data, producer=SOURCE, correlation_id=live_show_id, now=now)


def _show(repository: LiveShows, live_show_id: str) -> dict[str, Any]:
    show = repository.live_show(live_show_id)
    if show is None:
        raise LiveShowNotFound(live_show_id)
    return show


# -- scheduling ----------------------------------------------------------------------------------


def create_live_show(
    title: str,
    starts_at: datetime,
    description: str | None,
    created_by: str,
    new_uow: NewLiveWork,
    channels: LiveChannels,
    stage: str,
) -> dict[str, Any]:
    """A SCHEDULED show with its own private channel. The channel is made first: a show without one
    could never go live (a failed write leaves an unused channel, which costs nothing while idle)."""
    live_show_id = new_live_show_id()
    channel: Channel = channels.create(
        channel_name(stage, live_show_id), {"shop:stage": stage, "shop:live_show_id": live_show_id}
    )
    now = _now().isoformat()
    show: dict[str, Any] = {
        "live_show_id": live_show_id,
        "title": title,
        "description": description,
        "starts_at": starts_at.astimezone(UTC).isoformat(),
        "state": str(LiveState.SCHEDULED),
        "sequence": 0,
        "channel": {
            "arn": channel.arn,
            "name": channel.name,
            "ingest_endpoint": channel.ingest_endpoint,
            "stream_key": channel.stream_key,
            "playback_url": channel.playback_url,
        },
        "created_by": created_by,
        "created_at": now,
        "updated_at": now,
    }
    uow = new_uow()
    uow.add_live_show(show)
    uow.commit()
    return show


# -- watching --------------------------------------------------------------------------------------


def playback(
    live_show_id: str, customer_id: str, repository: LiveShows, entitlements: Entitlements, sign: SignPlayback
) -> dict[str, Any]:
    """The show's playback URL with a short-lived token, for a customer holding an active ticket while
    the show is LIVE."""
    show = _show(repository, live_show_id)
    tickets = entitlements.entitlements(customer_id, f"LIVE#{live_show_id}")
    if not any(ticket.get("status") == "ACTIVE" for ticket in tickets):
        if tickets:
            raise NotEntitled("access_revoked", "your ticket to this show was cancelled or refunded")
        raise NotEntitled("not_entitled", "a ticket to this show is needed to watch it")
    if show["state"] != LiveState.LIVE:
        raise NotLive(f"the show is {show['state']}, not LIVE")
    url, expires = sign(show["channel"]["arn"], show["channel"]["playback_url"], customer_id)
    return {"live_show_id": live_show_id, "playback_url": url, "expires_at": expires.isoformat()}


# -- pins --------------------------------------------------------------------------------------------


def pin_product(
    live_show_id: str,
    sku: str,
    pinned_by: str,
    repository: LiveShows,
    new_uow: NewLiveWork,
    channels: LiveChannels,
    product: Callable[[str], PinnedProduct | None] = lambda sku: None,
) -> dict[str, Any]:
    """Pin `sku` (replacing whatever is pinned): ProductPinned, the show's current pin, and the stream's
    timed metadata. Refused unless the show is LIVE."""
    for _ in range(PIN_ATTEMPTS):
        show = _show(repository, live_show_id)
        sequence = plan_pin(LiveState(show["state"]), int(show["sequence"]))
        now = _now()
        offset = offset_ms(datetime.fromisoformat(show["started_at"]) if show.get("started_at") else None, now)
        change = PinChange(sequence, "pin", new_pin_id(), sku, offset)
        pinned = product(sku) or PinnedProduct(sku=sku)
        current = {
            "pin_id": change.pin_id,
            "sku": sku,
            "sequence": sequence,
            "pinned_at": now.isoformat(),
            "offset_ms": offset,
            "name": pinned.name,
            "price": pinned.price.model_dump() if pinned.price else None,
        }
        uow = new_uow()
        uow.change_pin(live_show_id, change, seen_sequence=int(show["sequence"]), current_pin=current, at=now.isoformat())
        uow.add_event(
            _event(
                ProductPinnedV1(
                    live_show_id=live_show_id,
                    pin_id=change.pin_id,
                    sequence=sequence,
                    product=pinned,
                    pinned_at=now.isoformat(),
                    offset_ms=offset,
                    pinned_by=pinned_by,
                ),
                live_show_id,
                now,
            )
        )
        try:
            uow.commit()
        except LiveShowMoved:
            continue
        _timed_metadata(channels, show, pin_metadata("pin", sku, sequence))
        return _show(repository, live_show_id)
    raise PinConflict(f"the pin of {live_show_id} kept changing; try again")


def unpin_product(live_show_id: str, repository: LiveShows, new_uow: NewLiveWork, channels: LiveChannels) -> dict[str, Any]:
    """Unpin the pinned product: ProductUnpinned, no current pin. Refused unless LIVE with a pin."""
    for _ in range(PIN_ATTEMPTS):
        show = _show(repository, live_show_id)
        current = show.get("current_pin")
        sequence = plan_unpin(LiveState(show["state"]), int(show["sequence"]), current)
        assert current is not None
        now = _now()
        offset = offset_ms(datetime.fromisoformat(show["started_at"]) if show.get("started_at") else None, now)
        change = PinChange(sequence, "unpin", current["pin_id"], current["sku"], offset)
        uow = new_uow()
        uow.change_pin(live_show_id, change, seen_sequence=int(show["sequence"]), current_pin=None, at=now.isoformat())
        uow.add_event(
            _event(
                ProductUnpinnedV1(
                    live_show_id=live_show_id,
                    pin_id=change.pin_id,
                    sequence=sequence,
                    sku=change.sku,
                    unpinned_at=now.isoformat(),
                    offset_ms=offset,
                ),
                live_show_id,
                now,
            )
        )
        try:
            uow.commit()
        except LiveShowMoved:
            continue
        _timed_metadata(channels, show, pin_metadata("unpin", change.sku, sequence))
        return _show(repository, live_show_id)
    raise PinConflict(f"the pin of {live_show_id} kept changing; try again")


def _timed_metadata(channels: LiveChannels, show: dict[str, Any], metadata: str) -> None:
    """The pin in the stream itself, best effort: it is committed and on its way to viewers through
    the push channel already, so a refused call must not fail the request (staff would pin again)."""
    with contextlib.suppress(ClientError):
        channels.put_metadata(show["channel"]["arn"], metadata)


# -- the stream's signals ------------------------------------------------------------------------


def on_live_signal(
    signal: LiveSignal, repository: LiveShows, new_uow: NewLiveWork, read_recording: Callable[[str, str], Recording]
) -> str:
    """A show moves on an IVS signal, each by a conditional write: a repeated or late signal changes
    nothing. Returns what happened (for the log)."""
    show = repository.live_show(signal.live_show_id)
    if show is None:
        return "unknown show"
    if show["channel"]["arn"] != signal.channel_arn:
        return "ignored: another channel"
    state = LiveState(show["state"])
    if next_state(signal.kind, state) is None:
        if state == LiveState.SCHEDULED and signal.kind != "stream_start":
            raise SignalTooEarly(f"{signal.kind} for {signal.live_show_id} before its stream started")
        return f"ignored: the show is {state}"
    if signal.kind == "stream_start":
        return _started(show, signal, new_uow)
    if signal.kind == "stream_end":
        return _ended(show, signal, new_uow)
    return _recorded(show, signal, repository, new_uow, read_recording)


def _started(show: dict[str, Any], signal: LiveSignal, new_uow: NewLiveWork) -> str:
    uow = new_uow()
    uow.move_live_show(
        signal.live_show_id,
        from_states={LiveState.SCHEDULED},
        changes={
            "state": str(LiveState.LIVE),
            "started_at": signal.at.isoformat(),
            "stream_id": signal.stream_id,
            "updated_at": _now().isoformat(),
        },
    )
    uow.add_event(
        _event(LiveShowStartedV1(live_show_id=signal.live_show_id, started_at=signal.at.isoformat()), signal.live_show_id)
    )
    try:
        uow.commit()
    except LiveShowMoved:
        return "ignored: the show moved meanwhile"
    return str(LiveState.LIVE)


def _ended(show: dict[str, Any], signal: LiveSignal, new_uow: NewLiveWork) -> str:
    uow = new_uow()
    uow.move_live_show(
        signal.live_show_id,
        from_states={LiveState.LIVE},
        changes={"state": str(LiveState.ENDED), "ended_at": signal.at.isoformat(), "updated_at": _now().isoformat()},
    )
    uow.add_event(_event(LiveShowEndedV1(live_show_id=signal.live_show_id, ended_at=signal.at.isoformat()), signal.live_show_id))
    try:
        uow.commit()
    except LiveShowMoved:
        return "ignored: the show moved meanwhile"
    return str(LiveState.ENDED)


def _recorded(
    show: dict[str, Any],
    signal: LiveSignal,
    repository: LiveShows,
    new_uow: NewLiveWork,
    read_recording: Callable[[str, str], Recording],
) -> str:
    """The recording becomes a READY video of the show (VideoReady with live_show_id) whose markers are
    the show's pins, and the show RECORDED; a show still LIVE (its Stream End lost or late) ends too."""
    assert signal.recording_bucket and signal.recording_prefix
    recording = read_recording(signal.recording_bucket, signal.recording_prefix)
    live_show_id = signal.live_show_id
    video_id = recording_video_id(live_show_id)
    started = datetime.fromisoformat(show["started_at"]) if show.get("started_at") else signal.at
    ended_at = show.get("ended_at") or signal.at.isoformat()
    end_ms = recording.duration_ms or signal.recording_duration_ms or offset_ms(started, datetime.fromisoformat(ended_at)) or 0
    repository.put_markers(video_id, live_show_id, markers_from_pins(repository.pin_history(live_show_id), end_ms))
    outputs = VideoOutputs(
        bucket=recording.bucket,
        master_playlist_key=recording.master_playlist_key,
        renditions=[
            Rendition(name=f"{min(r.width, r.height)}p", width=r.width, height=r.height, playlist_key=r.playlist_key)
            for r in recording.renditions
        ],
        poster_key=recording.poster_key,
        duration_ms=end_ms,
    )
    now = _now().isoformat()
    job_id = f"ivs-{signal.stream_id or live_show_id}"
    uow = new_uow()
    uow.move_live_show(
        live_show_id,
        from_states={LiveState.LIVE, LiveState.ENDED},
        changes={"state": str(LiveState.RECORDED), "ended_at": ended_at, "video_id": video_id, "updated_at": now},
    )
    uow.add_video(
        {
            "video_id": video_id,
            "title": show["title"],
            "state": str(VideoState.READY),
            "attempt": 1,
            "content_type": "application/vnd.apple.mpegurl",
            "source_key": recording.master_playlist_key,
            "job_id": job_id,
            "outputs": outputs.model_dump(mode="json"),
            "live_show_id": live_show_id,
            "created_by": show["created_by"],
            "created_at": now,
            "updated_at": now,
            "captions": {},
        }
    )
    if show["state"] == LiveState.LIVE:
        uow.add_event(_event(LiveShowEndedV1(live_show_id=live_show_id, ended_at=ended_at), live_show_id))
    uow.add_event(
        _event(
            VideoReadyV1(
                video_id=video_id,
                attempt=1,
                job_id=job_id,
                outputs=outputs,
                title=show["title"],
                uploaded_by=show["created_by"],
                live_show_id=live_show_id,
            ),
            live_show_id,
        )
    )
    try:
        uow.commit()
    except (LiveShowMoved, VideoExists):
        return "ignored: recorded meanwhile"
    return str(LiveState.RECORDED)


# -- "the show starts soon" -------------------------------------------------------------------------


def announce_starting_soon(repository: LiveShows, new_uow: NewLiveWork, now: datetime, window: timedelta) -> list[str]:
    """LiveShowStartingSoon once per SCHEDULED show starting within `window` (a flag set under a
    condition in the event's transaction: two runs at once announce it once). Returns the shows announced."""
    announced = []
    cursor = None
    while True:
        shows, cursor = repository.live_shows(
            100, cursor, starting_from=(now - timedelta(days=1)).isoformat(), until=(now + window).isoformat()
        )
        for show in shows:
            starts_at = datetime.fromisoformat(show["starts_at"])
            if show["state"] != LiveState.SCHEDULED or show.get("starting_soon_at") or not starting_soon(starts_at, now, window):
                continue
            uow = new_uow()
            uow.move_live_show(
                show["live_show_id"],
                from_states={LiveState.SCHEDULED},
                changes={"starting_soon_at": now.isoformat()},
                unless="starting_soon_at",
            )
            uow.add_event(
                _event(
                    LiveShowStartingSoonV1(live_show_id=show["live_show_id"], title=show["title"], starts_at=show["starts_at"]),
                    show["live_show_id"],
                )
            )
            with contextlib.suppress(LiveShowMoved):  # announced by another run, or it went live meanwhile
                uow.commit()
                announced.append(show["live_show_id"])
        if cursor is None:
            return announced
