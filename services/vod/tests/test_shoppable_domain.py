"""Shoppable video's rules as plain Python (no AWS): which markers a video can hold, what a product's
availability is, which markers a timeline shows and how it composes them with the products."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from chalicelib.shoppable import (
    MAX_MARKERS,
    Marker,
    MarkerInput,
    MarkersInvalid,
    ProductView,
    StaffMarkers,
    VideoMarkers,
    VideoNotFound,
    VideoNotReady,
    check_markers,
    timeline,
)


def problems(markers: list[MarkerInput], duration_ms: int | None = 60_000) -> list[tuple[str, str]]:
    try:
        check_markers(markers, duration_ms)
    except MarkersInvalid as invalid:
        return [(f["field"], f["problem"]) for f in invalid.fields]
    return []


def test_markers_within_the_video_are_fine_and_may_overlap():
    assert problems([MarkerInput("A-1", 0, 60), MarkerInput("B-2", 0.001, 59.999), MarkerInput("A-1", 10, 20)]) == []


@pytest.mark.parametrize(
    ("marker", "field", "problem"),
    [
        (MarkerInput("A-1", 5, 5), "markers[0].end_s", "must be after start_s (by 1 ms at least)"),
        (MarkerInput("A-1", 5, 5.0004), "markers[0].end_s", "must be after start_s (by 1 ms at least)"),
        (MarkerInput("A-1", 9, 3), "markers[0].end_s", "must be after start_s (by 1 ms at least)"),
        (MarkerInput("A-1", -0.5, 3), "markers[0].start_s", "must be 0 or more"),
        (MarkerInput("A-1", 1, 60.001), "markers[0].end_s", "after the video's end (60.0 s)"),
        (MarkerInput("two words", 1, 2), "markers[0].sku", "not a SKU"),
        (MarkerInput("A-1", 10_000_000, 10_000_001), "markers[0].start_s", "must be at most 9999999.999 s"),
    ],
)
def test_a_marker_the_video_cannot_hold_names_its_field(marker, field, problem):
    assert (field, problem) in problems([marker])


def test_without_a_known_duration_any_end_will_do():
    assert problems([MarkerInput("A-1", 1, 7_200)], duration_ms=None) == []


def test_at_most_200_markers():
    assert problems([MarkerInput("A-1", 1, 2)] * MAX_MARKERS) == []
    assert problems([MarkerInput("A-1", 1, 2)] * (MAX_MARKERS + 1)) == [("markers", "at most 200 markers")]


@pytest.mark.parametrize(
    ("view", "availability", "purchasable"),
    [
        (ProductView("A", "Tee", "physical_good", 100, "USD", 1, on_hand=6, stock_version=1), "in_stock", True),
        (ProductView("A", "Tee", "physical_good", 100, "USD", 1, on_hand=5, stock_version=1), "low", True),
        (ProductView("A", "Tee", "physical_good", 100, "USD", 1, on_hand=1, stock_version=1), "low", True),
        (ProductView("A", "Tee", "physical_good", 100, "USD", 1, on_hand=0, stock_version=1), "sold_out", False),
        (ProductView("A", "Tee", "physical_good", 100, "USD", 1), "unknown", True),
        (ProductView("A", "Seat", "live_ticket", 100, "USD", 1, on_hand=0, stock_version=3), "sold_out", False),
        (ProductView("A", "Film", "video_rental", 100, "USD", 1), "available", True),
        (ProductView("A", "Film", "video_purchase", 100, "USD", 1, retired=True), "available", False),
        (ProductView("A", "Tee", "physical_good", 100, "USD", 2, retired=True, on_hand=9, stock_version=2), "in_stock", False),
        (ProductView("A", on_hand=9, stock_version=2), "unknown", False),
        (ProductView("A", revision=4, retired=True), "unknown", False),
    ],
)
def test_availability_and_purchasable(view, availability, purchasable):
    assert (view.availability, view.purchasable) == (availability, purchasable)


def marker(marker_id: str, sku: str, start_ms: int, *, source: str = "staff", generation: str | None = "g2") -> Marker:
    return Marker(marker_id, sku, start_ms, start_ms + 1000, source, generation)  # type: ignore[arg-type]


def test_only_the_current_staff_generation_and_live_pins_are_shown_in_time_order():
    found = VideoMarkers(
        {"state": "READY"},
        StaffMarkers(version=2, generation="g2"),
        [
            marker("m3", "C", 3000),
            marker("p1", "PIN", 2000, source="live_pin", generation=None),
            marker("m1", "A", 1000),
            marker("old", "X", 500, generation="g1"),
            marker("lost", "Y", 700, generation="never-committed"),
        ],
    )

    assert [m.marker_id for m in found.visible()] == ["m1", "p1", "m3"]
    assert sorted(m.marker_id for m in found.leftovers()) == ["lost", "old"]


class Reads:
    def __init__(self, found: VideoMarkers, views: dict[str, ProductView]) -> None:
        self.found = found
        self.views = views
        self.asked: list[set[str]] = []

    def video_markers(self, video_id: str) -> VideoMarkers:
        return self.found

    def product_views(self, skus: Iterable[str]) -> dict[str, ProductView]:
        self.asked.append(set(skus))
        return {sku: view for sku, view in self.views.items() if sku in self.asked[-1]}


def test_the_timeline_composes_each_marker_with_its_product_and_reads_each_product_once():
    found = VideoMarkers(
        {"state": "READY"},
        StaffMarkers(1, "g2"),
        [marker("b", "TEE", 9000), marker("a", "TEE", 1000), marker("c", "GHOST", 5000)],
    )
    tee = ProductView("TEE", "Tee", "physical_good", 2500, "USD", 3, on_hand=2, stock_version=8)
    reads = Reads(found, {"TEE": tee})

    entries = [e.as_dict() for e in timeline("vid_1", reads)]

    assert reads.asked == [{"TEE", "GHOST"}]
    assert [(e["marker_id"], e["start_s"], e["end_s"]) for e in entries] == [("a", 1.0, 2.0), ("c", 5.0, 6.0), ("b", 9.0, 10.0)]
    first: dict[str, Any] = entries[0]
    assert first["product"] == {
        "name": "Tee",
        "product_type": "physical_good",
        "price": {"amount": 2500, "currency": "USD"},
        "retired": False,
    }
    assert (first["stock"], first["purchasable"]) == ({"on_hand": 2, "availability": "low"}, True)
    assert (entries[1]["product"], entries[1]["stock"], entries[1]["purchasable"]) == (
        None,
        {"on_hand": None, "availability": "unknown"},
        False,
    )


def test_the_timeline_is_for_a_ready_video():
    with pytest.raises(VideoNotReady):
        timeline("vid_1", Reads(VideoMarkers({"state": "TRANSCODING"}, StaffMarkers(), []), {}))
    with pytest.raises(VideoNotFound):
        timeline("vid_1", Reads(VideoMarkers(None, StaffMarkers(), []), {}))
