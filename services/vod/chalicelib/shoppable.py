"""Shoppable video: products placed on a video's timeline, and the timeline a player shows.

Staff place products on a video (`put_staff_markers`: the whole list, start and end in seconds); a
live show's pins land in the same items with source "live_pin" and a staff PUT never touches them.
The timeline (`timeline`) gives each marker, in time order, the product's current name, price and
stock from vod's own read model of catalog's events (`update_product_view`), so a player's request
calls no other service.

Plain Python over two ports (`ShoppableReads`, `ShoppableWork`); the DynamoDB adapter is
chalicelib.shoppable_store.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from shop_contracts.events import (
    SKU_PATTERN,
    ProductPublishedV1,
    ProductRetiredV1,
    ProductUpdatedV1,
    StockLevelChangedV1,
)
from shop_eventing.envelope import DomainEvent
from shop_eventing.outbox import MAX_TRANSACTION_ITEMS, TransactionalWork, TransactionCancelled, WriteConflict

log = logging.getLogger(__name__)

MAX_MARKERS = 200
# Marker items sort by start: the sort key pads the start in ms to this many digits (115 days).
START_DIGITS = 10
MAX_START_MS = 10**START_DIGITS - 1
# At most this many units on hand is "low": a player may say "only 3 left".
LOW_STOCK = 5
# Products whose units are counted; the others (video rentals and purchases) are always available.
STOCK_TRACKED = frozenset({"physical_good", "live_ticket"})

MarkerSource = Literal["staff", "live_pin"]
Availability = Literal["in_stock", "low", "sold_out", "available", "unknown"]


# -- markers -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Marker:
    marker_id: str
    sku: str
    start_ms: int
    end_ms: int
    source: MarkerSource
    # The staff list a staff marker belongs to (StaffMarkers.generation); None for a live pin.
    generation: str | None = None


@dataclass(frozen=True)
class StaffMarkers:
    """The staff list's head: its version (the ETag; 0 before the first PUT) and the generation its
    markers carry. A staff marker of another generation is a leftover of a replaced or lost PUT."""

    version: int = 0
    generation: str | None = None


@dataclass(frozen=True)
class VideoMarkers:
    """Everything under a video's partition a timeline needs: the video, the staff list's head, every marker."""

    video: dict[str, Any] | None
    staff: StaffMarkers
    markers: list[Marker]

    def visible(self) -> list[Marker]:
        """Live pins and the current staff list, in time order (then by id, so the order is stable)."""
        shown = [m for m in self.markers if m.source != "staff" or m.generation == self.staff.generation]
        return sorted(shown, key=lambda m: (m.start_ms, m.end_ms, m.marker_id))

    def leftovers(self) -> list[Marker]:
        return [m for m in self.markers if m.source == "staff" and m.generation != self.staff.generation]


@dataclass(frozen=True)
class MarkerInput:
    sku: str
    start_s: float
    end_s: float


class MarkersInvalid(Exception):
    """Markers the video cannot hold; `fields` name each problem (markers[2].end_s: ...)."""

    def __init__(self, fields: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{f['field']}: {f['problem']}" for f in fields))
        self.fields = fields


def to_ms(seconds: float) -> int:
    return round(seconds * 1000)


def duration_ms(video: Mapping[str, Any]) -> int | None:
    outputs = video.get("outputs") or {}
    value = outputs.get("duration_ms")
    return int(value) if value is not None else None


def check_markers(markers: Sequence[MarkerInput], video_duration_ms: int | None) -> None:
    """0 <= start < end, end within the video when its duration is known, a catalog SKU, at most MAX_MARKERS."""
    problems: list[dict[str, str]] = []
    if len(markers) > MAX_MARKERS:
        problems.append({"field": "markers", "problem": f"at most {MAX_MARKERS} markers"})
    for index, marker in enumerate(markers):
        field = f"markers[{index}]"
        start, end = to_ms(marker.start_s), to_ms(marker.end_s)
        if not re.fullmatch(SKU_PATTERN, marker.sku):
            problems.append({"field": f"{field}.sku", "problem": "not a SKU"})
        if start < 0:
            problems.append({"field": f"{field}.start_s", "problem": "must be 0 or more"})
        if start > MAX_START_MS:
            problems.append({"field": f"{field}.start_s", "problem": f"must be at most {MAX_START_MS / 1000} s"})
        if end <= start:
            problems.append({"field": f"{field}.end_s", "problem": "must be after start_s (by 1 ms at least)"})
        elif video_duration_ms is not None and end > video_duration_ms:
            problems.append({"field": f"{field}.end_s", "problem": f"after the video's end ({video_duration_ms / 1000} s)"})
    if problems:
        raise MarkersInvalid(problems)


def new_marker_id() -> str:
    return f"mk_{uuid.uuid4().hex[:16]}"


# -- the product read model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductView:
    """What vod knows of a catalog product: its details at `revision` (None: never published to vod's
    knowledge) and its units on hand at `stock_version` (None: no level seen)."""

    sku: str
    name: str | None = None
    product_type: str | None = None
    price_amount: int | None = None
    currency: str | None = None
    revision: int | None = None
    retired: bool = False
    on_hand: int | None = None
    stock_version: int | None = None

    @property
    def known(self) -> bool:
        return self.name is not None and self.price_amount is not None

    @property
    def stock_tracked(self) -> bool:
        return self.product_type in STOCK_TRACKED

    @property
    def availability(self) -> Availability:
        if not self.stock_tracked:
            return "available" if self.known else "unknown"
        if self.on_hand is None:
            return "unknown"
        if self.on_hand <= 0:
            return "sold_out"
        return "low" if self.on_hand <= LOW_STOCK else "in_stock"

    @property
    def purchasable(self) -> bool:
        """Worth a "buy" button: on sale and not known to be sold out. Orders decides for real."""
        return self.known and not self.retired and self.availability != "sold_out"


class ProductViewNotNewer(WriteConflict):
    """vod already holds this product revision or a newer one (deliveries come out of order)."""


class StockLevelNotNewer(WriteConflict):
    """vod already holds this stock_version of the product or a newer one."""


class StaffMarkersMoved(WriteConflict):
    """The staff's markers were replaced since they were read: the If-Match is stale."""


# -- ports --------------------------------------------------------------------------------------------


class ShoppableReads(Protocol):
    """vod's table as the timeline reads it (chalicelib.shoppable_store.ShoppableRepository)."""

    def video_markers(self, video_id: str) -> VideoMarkers: ...

    def product_views(self, skus: Iterable[str]) -> dict[str, ProductView]: ...


class ShoppableWork(TransactionalWork, Protocol):
    """Writes of one transaction on vod's table (chalicelib.shoppable_store.ShoppableUnitOfWork)."""

    def save_product_details(self, view: ProductView) -> None: ...

    def retire_product(self, sku: str, revision: int) -> None: ...

    def save_stock_level(self, sku: str, on_hand: int, stock_version: int) -> None: ...

    def put_marker(self, video_id: str, marker: Marker) -> None: ...

    def delete_marker(self, video_id: str, marker: Marker) -> None: ...

    def replace_staff_head(self, video_id: str, *, seen: StaffMarkers, version: int, generation: str, by: str) -> None: ...


NewWork = Callable[[], ShoppableWork]


class VideoNotFound(Exception):
    pass


class VideoNotReady(Exception):
    """The timeline is for a video a player can play."""


class StaleMarkers(Exception):
    def __init__(self, expected: int, current: int | None) -> None:
        now = f"they are at version {current}" if current is not None else "they changed meanwhile"
        super().__init__(f"the staff's markers are not at version {expected}; {now}")
        self.current = current


# -- use cases: staff markers ---------------------------------------------------------------------------


def staff_markers(video_id: str, reads: ShoppableReads) -> tuple[StaffMarkers, list[Marker]]:
    """The version of the staff's list and every marker shown (live pins included)."""
    found = reads.video_markers(video_id)
    if found.video is None:
        raise VideoNotFound(video_id)
    return found.staff, found.visible()


def put_staff_markers(
    video_id: str, expected_version: int, markers: Sequence[MarkerInput], by: str, reads: ShoppableReads, new_work: NewWork
) -> tuple[StaffMarkers, list[Marker]]:
    """Replace the staff's markers of a video (live pins stay) if they are still at `expected_version`.

    One transaction when it holds the head, the old staff markers and the new ones (up to 100 items).
    A bigger list is written in steps whose commit point is the head: the new markers are written
    first under a new generation nobody reads, the head then moves to that generation at the expected
    version (a conditional write, the only one that decides), and the old ones are deleted after. A PUT
    that fails half-way leaves markers of a generation the head never named: invisible, and deleted by
    the next PUT."""
    found = reads.video_markers(video_id)
    if found.video is None:
        raise VideoNotFound(video_id)
    if found.staff.version != expected_version:
        raise StaleMarkers(expected_version, found.staff.version)
    check_markers(markers, duration_ms(found.video))
    generation = uuid.uuid4().hex
    new = [
        Marker(new_marker_id(), m.sku, to_ms(m.start_s), to_ms(m.end_s), "staff", generation)
        for m in sorted(markers, key=lambda m: (to_ms(m.start_s), to_ms(m.end_s), m.sku))
    ]
    old = [m for m in found.markers if m.source == "staff"]
    head = StaffMarkers(version=expected_version + 1, generation=generation)
    if 1 + len(old) + len(new) <= MAX_TRANSACTION_ITEMS:
        work = new_work()
        work.replace_staff_head(video_id, seen=found.staff, version=head.version, generation=generation, by=by)
        for marker in old:
            work.delete_marker(video_id, marker)
        for marker in new:
            work.put_marker(video_id, marker)
        _commit_head(work, expected_version)
    else:
        try:
            _in_transactions(new_work, video_id, put=new)
        except TransactionCancelled:
            raise StaleMarkers(expected_version, None) from None  # what got written is invisible: no generation names it
        work = new_work()
        work.replace_staff_head(video_id, seen=found.staff, version=head.version, generation=generation, by=by)
        try:
            _commit_head(work, expected_version)
        except StaleMarkers:
            _in_transactions(new_work, video_id, delete=new)
            raise
        try:
            _in_transactions(new_work, video_id, delete=old)
        except TransactionCancelled:
            # The PUT is done (the head names the new generation); the old markers are invisible
            # leftovers that the next PUT deletes.
            log.warning("old staff markers of video %s left for the next PUT to delete", video_id)
    live = [m for m in found.markers if m.source != "staff"]
    return head, VideoMarkers(found.video, head, live + new).visible()


def _commit_head(work: ShoppableWork, expected_version: int) -> None:
    try:
        work.commit()
    except TransactionCancelled:
        # StaffMarkersMoved, or (on AWS) another transaction writing the same items at that moment:
        # either way the list is changing under us, and the answer is to read it again.
        raise StaleMarkers(expected_version, None) from None


def _in_transactions(new_work: NewWork, video_id: str, *, put: Sequence[Marker] = (), delete: Sequence[Marker] = ()) -> None:
    """Put or delete markers, a transaction per hundred (none of these writes is conditional)."""
    writes = [(marker, True) for marker in put] + [(marker, False) for marker in delete]
    for start in range(0, len(writes), MAX_TRANSACTION_ITEMS):
        work = new_work()
        for marker, is_put in writes[start : start + MAX_TRANSACTION_ITEMS]:
            if is_put:
                work.put_marker(video_id, marker)
            else:
                work.delete_marker(video_id, marker)
        work.commit()


# -- use case: the product read model ---------------------------------------------------------------


def update_product_view(event: DomainEvent, subscriber: str, new_work: NewWork) -> None:
    """Product events share one revision and stock levels have their own stock_version: the view keeps
    the highest of each (conditional writes), so a late, older or repeated event changes nothing."""
    data = event.data
    work = new_work()
    if isinstance(data, ProductPublishedV1 | ProductUpdatedV1):
        work.save_product_details(
            ProductView(
                sku=data.sku,
                name=data.name,
                product_type=data.product_type or ("physical_good" if data.kind == "physical" else "video_purchase"),
                price_amount=data.price.amount,
                currency=data.price.currency,
                revision=data.revision,
            )
        )
    elif isinstance(data, ProductRetiredV1):
        work.retire_product(data.sku, data.revision)
    else:
        assert isinstance(data, StockLevelChangedV1)
        work.save_stock_level(data.sku, data.on_hand, data.stock_version)
    work.mark_processed(subscriber, event)
    try:
        work.commit()
    except (ProductViewNotNewer, StockLevelNotNewer):
        # vod holds a newer state already: remember the event was seen, change nothing.
        seen = new_work()
        seen.mark_processed(subscriber, event)
        seen.commit()


# -- the timeline -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    marker: Marker
    product: ProductView

    def as_dict(self) -> dict[str, Any]:
        product = self.product
        return {
            "marker_id": self.marker.marker_id,
            "sku": self.marker.sku,
            "start_s": self.marker.start_ms / 1000,
            "end_s": self.marker.end_ms / 1000,
            "source": self.marker.source,
            "product": {
                "name": product.name,
                "product_type": product.product_type,
                "price": {"amount": product.price_amount, "currency": product.currency},
                "retired": product.retired,
            }
            if product.known
            else None,
            "stock": {"on_hand": product.on_hand if product.stock_tracked else None, "availability": product.availability},
            "purchasable": product.purchasable,
        }


def timeline(video_id: str, reads: ShoppableReads) -> list[TimelineEntry]:
    """The markers of a READY video in time order, each with its product as vod knows it now (an
    unknown product: not purchasable). Two reads: the video's partition, then the products."""
    found = reads.video_markers(video_id)
    if found.video is None:
        raise VideoNotFound(video_id)
    if found.video.get("state") != "READY":
        raise VideoNotReady(video_id)
    shown = found.visible()
    products = reads.product_views({m.sku for m in shown})
    return [TimelineEntry(marker, products.get(marker.sku) or ProductView(sku=marker.sku)) for marker in shown]
