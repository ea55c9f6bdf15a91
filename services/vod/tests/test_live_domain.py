"""Live shows' rules without I/O: the states a signal may move a show between, the pin sequence, and
the markers a recording gets from the show's pins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.live import (
    LiveState,
    Marker,
    PinChange,
    PinRefused,
    channel_name,
    markers_from_pins,
    next_state,
    offset_ms,
    plan_pin,
    plan_unpin,
    recording_video_id,
    show_of_channel,
    starting_soon,
)

S, L, E, R = LiveState.SCHEDULED, LiveState.LIVE, LiveState.ENDED, LiveState.RECORDED


@pytest.mark.parametrize(
    ("signal", "moves"),
    [
        ("stream_start", {S: L}),
        ("stream_end", {L: E}),
        # A lost or late Stream End: the recording's end closes a LIVE show too.
        ("recording_end", {L: R, E: R}),
    ],
)
def test_each_signal_moves_a_show_only_forward_and_only_once(signal, moves):
    for state in LiveState:
        assert next_state(signal, state) == moves.get(state), (signal, state)


def test_a_repeated_signal_finds_the_show_moved_on():
    state = S
    for signal in ("stream_start", "stream_end", "recording_end"):
        moved = next_state(signal, state)
        assert moved is not None
        assert next_state(signal, moved) is None  # the same signal again
        state = moved
    assert state == R
    assert next_state("stream_start", R) is None  # never backwards


def test_pins_take_the_next_sequence_and_only_while_live():
    assert plan_pin(L, 0) == 1
    assert plan_pin(L, 7) == 8
    for state in (S, E, R):
        with pytest.raises(PinRefused) as refused:
            plan_pin(state, 3)
        assert refused.value.code == "not_live"


def test_an_unpin_needs_a_pin_and_shares_the_sequence():
    assert plan_unpin(L, 2, {"pin_id": "pin_1", "sku": "A"}) == 3
    with pytest.raises(PinRefused) as refused:
        plan_unpin(L, 2, None)
    assert refused.value.code == "nothing_pinned"
    with pytest.raises(PinRefused) as refused:
        plan_unpin(E, 2, {"pin_id": "pin_1"})
    assert refused.value.code == "not_live"


def pin(sequence: int, sku: str, at: int | None, pin_id: str | None = None) -> PinChange:
    return PinChange(sequence, "pin", pin_id or f"pin_{sequence}", sku, at)


def unpin(sequence: int, pin_id: str, sku: str, at: int) -> PinChange:
    return PinChange(sequence, "unpin", pin_id, sku, at)


def test_a_pin_lasts_until_its_unpin():
    assert markers_from_pins([pin(1, "A", 1000), unpin(2, "pin_1", "A", 5000)], 60_000) == [Marker("pin_1", "A", 1000, 5000)]


def test_a_pin_replaced_by_another_ends_where_the_next_begins():
    history = [pin(1, "A", 1000), pin(2, "B", 4000), unpin(3, "pin_2", "B", 9000)]
    assert markers_from_pins(history, 60_000) == [Marker("pin_1", "A", 1000, 4000), Marker("pin_2", "B", 4000, 9000)]


def test_a_pin_still_up_when_the_show_ended_lasts_to_the_end_and_is_clipped_to_it():
    assert markers_from_pins([pin(1, "A", 1000), pin(2, "B", 50_000)], 30_000) == [Marker("pin_1", "A", 1000, 30_000)]
    assert markers_from_pins([pin(1, "A", 1000)], 30_000) == [Marker("pin_1", "A", 1000, 30_000)]


def test_the_history_is_read_in_sequence_order_and_empty_or_offsetless_pins_make_no_marker():
    history = [unpin(4, "pin_3", "C", 8000), pin(3, "C", 8000), pin(2, "B", 2000), pin(1, "A", None)]
    assert markers_from_pins(history, 60_000) == [Marker("pin_2", "B", 2000, 8000)]
    assert markers_from_pins([], 60_000) == []


def test_the_channel_name_leads_back_to_the_show_of_its_stage_only():
    name = channel_name("dev", "live_abc")
    assert name == "shop-dev-live_abc"
    assert show_of_channel("dev", name) == "live_abc"
    assert show_of_channel("prod", name) is None
    assert show_of_channel("dev", "shop-dev-") is None


def test_offsets_count_from_the_streams_start():
    start = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert offset_ms(start, start + timedelta(seconds=61, milliseconds=5)) == 61_005
    assert offset_ms(None, start) is None
    assert offset_ms(start, start - timedelta(seconds=1)) == 0


def test_a_show_is_announced_within_the_window_or_when_late_but_not_a_day_late():
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    window = timedelta(minutes=15)
    assert starting_soon(now + timedelta(minutes=14), now, window)
    assert starting_soon(now - timedelta(minutes=5), now, window)
    assert not starting_soon(now + timedelta(minutes=16), now, window)
    assert not starting_soon(now - timedelta(days=2), now, window)


def test_the_recordings_video_id_derives_from_the_show():
    assert recording_video_id("live_1") == recording_video_id("live_1") != recording_video_id("live_2")
    assert recording_video_id("live_1").startswith("vid_") and len(recording_video_id("live_1")) == 24
