"""vod's rules without any I/O: the ladder a source gets, the storyboard, state steps, captions, grants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain import (
    LINE_GRANTED,
    LINE_REVOKED,
    Grant,
    PaidLine,
    Probe,
    RevokePlan,
    StepRefused,
    UnusableSource,
    VideoState,
    check_step,
    check_webvtt,
    choose_ladder,
    entitlement_id,
    is_active,
    plan_grants,
    plan_revoke,
    plan_storyboard,
    revoke_scope,
    still_grantable,
    storyboard_vtt,
)


def ladder(width: int, height: int) -> list[tuple[str, int, int]]:
    return [(rung.name, rung.width, rung.height) for rung in choose_ladder(Probe(width, height, 10_000, True))]


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        # Full HD landscape: every standard rung, none above the source.
        (1920, 1080, [("1080p", 1920, 1080), ("720p", 1280, 720), ("480p", 854, 480), ("360p", 640, 360)]),
        # 4K still tops out at 1080p.
        (3840, 2160, [("1080p", 1920, 1080), ("720p", 1280, 720), ("480p", 854, 480), ("360p", 640, 360)]),
        # 720p: never upscaled to 1080.
        (1280, 720, [("720p", 1280, 720), ("480p", 854, 480), ("360p", 640, 360)]),
        # Portrait phone video: the rungs count its width, the height keeps the aspect ratio.
        (1080, 1920, [("1080p", 1080, 1920), ("720p", 720, 1280), ("480p", 480, 854), ("360p", 360, 640)]),
        (720, 1280, [("720p", 720, 1280), ("480p", 480, 854), ("360p", 360, 640)]),
        # Square.
        (1080, 1080, [("1080p", 1080, 1080), ("720p", 720, 720), ("480p", 480, 480), ("360p", 360, 360)]),
        # Cinemascope keeps its 2.39:1.
        (1920, 804, [("720p", 1720, 720), ("480p", 1146, 480), ("360p", 860, 360)]),
        # Between rungs: one standard rung below, so the source's own size joins it.
        (711, 400, [("400p", 710, 400), ("360p", 640, 360)]),
        # Exactly the lowest rung: it and half of it.
        (640, 360, [("360p", 640, 360), ("180p", 320, 180)]),
        # Tiny sources: their own size and a lower one, even dimensions, never upscaled.
        (320, 180, [("180p", 320, 180), ("90p", 160, 90)]),
        (180, 320, [("180p", 180, 320), ("90p", 90, 160)]),
        (161, 91, [("90p", 160, 90), ("44p", 80, 44)]),
    ],
)
def test_the_ladder_follows_the_sources_size(width, height, expected):
    assert ladder(width, height) == expected


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (1080, 1920), (320, 180), (180, 320), (711, 400), (161, 91)])
def test_every_ladder_has_two_renditions_with_even_sizes_no_larger_than_the_source(width, height):
    rungs = choose_ladder(Probe(width, height, 5000, False))

    assert len(rungs) >= 2
    for rung in rungs:
        assert rung.width % 2 == 0 and rung.height % 2 == 0
        assert rung.width <= width and rung.height <= height
        assert (rung.width > rung.height) == (width > height)


def test_a_picture_too_small_is_unusable():
    with pytest.raises(UnusableSource, match="8x8"):
        choose_ladder(Probe(8, 8, 1000, False))


def test_the_storyboard_covers_the_video_with_at_most_a_hundred_thumbnails():
    short = plan_storyboard(Probe(320, 180, 3000, False))
    long = plan_storyboard(Probe(1920, 1080, 2 * 3600 * 1000, True))

    assert (short.interval_s, short.count, short.columns, short.rows) == (1, 3, 3, 1)
    assert (short.thumb_width, short.thumb_height) == (160, 90)
    assert long.count <= 100 and long.count * long.interval_s >= 7200
    assert (long.columns, long.rows) == (10, 10)


def test_a_portrait_storyboard_keeps_its_aspect():
    board = plan_storyboard(Probe(180, 320, 2500, False))

    assert (board.thumb_width, board.thumb_height) == (90, 160)


def test_the_storyboard_track_points_each_cue_into_the_sprite():
    board = plan_storyboard(Probe(320, 180, 2500, False))
    vtt = storyboard_vtt(board, "storyboard.jpg", 2500)

    assert vtt.splitlines()[:7] == [
        "WEBVTT",
        "",
        "00:00:00.000 --> 00:00:01.000",
        "storyboard.jpg#xywh=0,0,160,90",
        "",
        "00:00:01.000 --> 00:00:02.000",
        "storyboard.jpg#xywh=160,0,160,90",
    ]
    assert "00:00:02.000 --> 00:00:02.500" in vtt
    check_webvtt(vtt)


def test_a_storyboard_wraps_into_rows():
    board = plan_storyboard(Probe(320, 180, 25_000, False))
    vtt = storyboard_vtt(board, "s.jpg", 25_000)

    assert (board.columns, board.rows) == (10, 3)
    assert "s.jpg#xywh=0,90,160,90" in vtt  # the 11th thumbnail starts the second row


@pytest.mark.parametrize(
    ("step", "allowed"),
    [
        ("complete_upload", {VideoState.CREATED}),
        ("start_transcode", {VideoState.UPLOADED}),
        ("finish_transcode", {VideoState.TRANSCODING}),
        ("retry", {VideoState.FAILED}),
    ],
)
def test_each_step_starts_only_from_its_states(step, allowed):
    for state in VideoState:
        if state in allowed:
            check_step(step, state)
        else:
            with pytest.raises(StepRefused, match=str(state)):
                check_step(step, state)


@pytest.mark.parametrize(
    "text",
    ["WEBVTT\n\n00:00.000 --> 00:01.000\nHello\n", "\ufeffWEBVTT - English\r\n\r\n00:00:00.000 --> 00:00:01.000\r\nHi\r\n"],
)
def test_webvtt_is_accepted(text):
    check_webvtt(text)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1\n00:00:00,000 --> 00:00:01,000\nHello\n", "must start with the line WEBVTT"),  # SubRip
        ("WEBVTTX\n\n00:00.000 --> 00:01.000\nx\n", "must start"),
        ("WEBVTT\n\nno cues here\n", "no cue"),
        ("", "must start"),
    ],
)
def test_anything_else_is_not_webvtt(text, problem):
    with pytest.raises(ValueError, match=problem):
        check_webvtt(text)


PAID_AT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_a_paid_order_grants_one_entitlement_per_video_or_show_line():
    lines = [
        PaidLine("MUG", None, None, None, None),
        PaidLine("FILM-RENT", "video_rental", "vid_1", None, 48),
        PaidLine("FILM-BUY", "video_purchase", "vid_2", None, None),
        PaidLine("SHOW-TICKET", "live_ticket", None, "show_9", None),
    ]
    grants = plan_grants("ord-1", "cust-1", lines, PAID_AT)

    assert [(g.sku, g.subject, g.expires_at) for g in grants] == [
        ("FILM-RENT", "VIDEO#vid_1", PAID_AT + timedelta(hours=48)),
        ("FILM-BUY", "VIDEO#vid_2", None),
        ("SHOW-TICKET", "LIVE#show_9", None),
    ]
    assert {g.customer_id for g in grants} == {"cust-1"}


def test_the_rental_clock_starts_at_purchase():
    [grant] = plan_grants("ord-1", "cust-1", [PaidLine("R", "video_rental", "vid_1", None, 24)], PAID_AT)

    assert grant.granted_at == PAID_AT
    assert is_active(grant.expires_at, PAID_AT + timedelta(hours=23, minutes=59))
    assert not is_active(grant.expires_at, PAID_AT + timedelta(hours=24))


def test_entitlement_ids_derive_from_the_order_line():
    assert entitlement_id("ord-1", "FILM") == entitlement_id("ord-1", "FILM")
    assert entitlement_id("ord-1", "FILM") != entitlement_id("ord-2", "FILM")
    assert entitlement_id("ord-1", "FILM") != entitlement_id("ord-1", "FILM2")


def test_an_order_without_access_lines_grants_nothing_even_without_a_customer():
    assert plan_grants("ord-1", None, [PaidLine("MUG", None, None, None, None)], PAID_AT) == []


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (PaidLine("R", "video_rental", "vid_1", None, None), "no rental_hours"),
        (PaidLine("B", "video_purchase", None, None, None), "names no video"),
        (PaidLine("T", "live_ticket", None, None, None), "names no live show"),
    ],
)
def test_an_access_line_missing_what_it_opens_is_refused(line, problem):
    with pytest.raises(ValueError, match=problem):
        plan_grants("ord-1", "cust-1", [line], PAID_AT)


def test_access_without_a_customer_is_refused():
    with pytest.raises(ValueError, match="names no customer"):
        plan_grants("ord-1", None, [PaidLine("B", "video_purchase", "vid_1", None, None)], PAID_AT)


# -- revoking ------------------------------------------------------------------------------------


def test_a_cancellation_or_full_refund_takes_back_the_whole_order_and_a_partial_refund_its_skus():
    assert revoke_scope(cancelled=True, fully_refunded=False, skus=[]) is None
    assert revoke_scope(cancelled=False, fully_refunded=True, skus=["A"]) is None
    assert revoke_scope(cancelled=False, fully_refunded=False, skus=["A", "B"]) == frozenset({"A", "B"})


def test_revoking_the_whole_order_revokes_its_granted_lines_and_marks_the_order():
    plan = plan_revoke(None, {"RENT": LINE_GRANTED, "BUY": LINE_GRANTED, "OLD": LINE_REVOKED})

    assert plan == RevokePlan(revoke=("BUY", "RENT"), tombstone=(), whole_order=True)


def test_a_partial_refund_revokes_its_granted_skus_and_tombstones_those_not_granted_yet():
    plan = plan_revoke(frozenset({"RENT", "LATE", "GONE"}), {"RENT": LINE_GRANTED, "BUY": LINE_GRANTED, "GONE": LINE_REVOKED})

    assert plan == RevokePlan(revoke=("RENT",), tombstone=("LATE",), whole_order=False)


def _grant(sku: str) -> Grant:
    return Grant(entitlement_id(ORDER, sku), "cus", ORDER, sku, "video_purchase", "vid_1", None, PAID, None)


ORDER = "ord-1"
PAID = datetime(2025, 6, 1, tzinfo=UTC)


def test_a_grant_skips_tombstoned_and_already_granted_lines_and_a_revoked_order_grants_nothing():
    grants = [_grant("A"), _grant("B"), _grant("C")]

    assert [g.sku for g in still_grantable(grants, order_revoked=False, lines={"A": LINE_REVOKED, "B": LINE_GRANTED})] == ["C"]
    assert still_grantable(grants, order_revoked=True, lines={}) == []
