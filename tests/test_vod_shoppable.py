"""Shoppable video end to end: staff place products on a READY video's timeline (a clip uploaded and
transcoded by real ffmpeg), and the timeline a player reads shows each product's name, price and stock
as catalog's events tell vod: an order placed through POST /orders reserves units and the timeline's
stock drops (catalog's StockLevelChanged, from its table's change stream), a staff price change shows,
a retired product is no longer purchasable, and a stale or repeated event changes nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

from shop_contracts.events import Money, ProductUpdatedV1, StockLevelChangedV1
from shop_devstack.testing import eventually
from shop_eventing.envelope import EventData, new_event
from tests.test_vod_ingest import clip, settled, upload

STAFF = "sam"


def entry(shop: Any, video_id: str, sku: str) -> dict[str, Any]:
    reply = shop.call("vod", "GET", f"/videos/{video_id}/timeline", user="grace")
    assert reply.status == 200, reply.body
    return next(e for e in reply.body["markers"] if e["sku"] == sku)


def once(shop: Any, video_id: str, sku: str, what: str, holds: Any) -> dict[str, Any]:
    """The sku's timeline entry once `holds(entry)`: catalog's events reach vod through the bus."""

    def probe() -> dict[str, Any] | None:
        found = entry(shop, video_id, sku)
        return found if holds(found) else None

    return eventually(probe, timeout=60, what=what)


def publish_as_catalog(shop: Any, data: EventData, *, event_id: str | None = None) -> str:
    event = new_event(data, producer="shop.catalog", correlation_id=f"product:{getattr(data, 'sku', '')}", event_id=event_id)
    entry = {
        "EventBusName": shop.stack.naming.bus,
        "Source": "shop.catalog",
        "DetailType": event.event_type,
        "Detail": json.dumps(event.to_detail()),
    }
    assert shop.stack.client("events").put_events(Entries=[entry])["FailedEntryCount"] == 0
    return event.event_id


def handled_by_vod(shop: Any, event_id: str, times: int = 1) -> None:
    def seen() -> bool:
        records = shop.log_records("vod")
        return sum(1 for r in records if r.get("event_id") == event_id and r.get("message") in HANDLED) >= times

    eventually(seen, timeout=30, what=f"vod to handle {event_id} {times}x")


HANDLED = {"event handled", "duplicate delivery: already applied"}


def test_a_players_timeline_follows_stock_price_and_retirement(shop, tmp_path):
    tee = shop.new_product(stock=10, amount=2500)
    film = shop.new_product(kind="digital", amount=399)
    video = settled(shop, upload(shop, clip(tmp_path / "shoppable.mp4", 320, 180))["video_id"])
    assert video["state"] == "READY", video
    video_id = video["video_id"]

    put = shop.call(
        "vod",
        "PUT",
        f"/videos/{video_id}/markers",
        {"markers": [{"sku": tee, "start_s": 0.5, "end_s": 1.5}, {"sku": film, "start_s": 0, "end_s": 1}]},
        {"If-Match": '"0"'},
        user=STAFF,
    )
    assert put.status == 200, put.body
    assert put.headers["etag"] == '"1"'

    shown = once(shop, video_id, tee, "the tee on the timeline with its stock", lambda e: e["stock"]["on_hand"] == 10)
    assert shown["product"] == {
        "name": f"Test product {tee}",
        "product_type": "physical_good",
        "price": {"amount": 2500, "currency": "USD"},
        "retired": False,
    }
    assert (shown["start_s"], shown["end_s"], shown["stock"]["availability"], shown["purchasable"]) == (
        0.5,
        1.5,
        "in_stock",
        True,
    )
    timeline = shop.call("vod", "GET", f"/videos/{video_id}/timeline", user="grace").body["markers"]
    assert [e["sku"] for e in timeline] == [film, tee], "in time order"
    digital = once(shop, video_id, film, "the film on the timeline", lambda e: e["product"] is not None)
    assert (digital["stock"], digital["purchasable"]) == ({"on_hand": None, "availability": "available"}, True)

    # Buying goes through the normal orders API; the reservation moves the stock the timeline shows.
    placed = shop.place_order([(tee, 2)])
    assert placed.status == 201, placed.body
    once(shop, video_id, tee, "the tee's stock to drop to 8", lambda e: e["stock"]["on_hand"] == 8)

    revised = shop.call(
        "catalog",
        "PATCH",
        f"/staff/products/{tee}",
        {"price": {"amount": 1999, "currency": "USD"}},
        {"If-Match": '"1"'},
        user=STAFF,
    )
    assert revised.status == 200, revised.body
    once(shop, video_id, tee, "the tee's new price", lambda e: e["product"]["price"]["amount"] == 1999)

    # Late and repeated events: an older stock level and an older revision, each delivered twice.
    stale_level = str(uuid.uuid4())
    stale_revision = str(uuid.uuid4())
    for _ in range(2):
        publish_as_catalog(shop, StockLevelChangedV1(sku=tee, on_hand=999, stock_version=1), event_id=stale_level)
        old = ProductUpdatedV1(
            sku=tee,
            name="Old name",
            kind="physical",
            product_type="physical_good",
            price=Money(amount=1, currency="USD"),
            revision=1,
        )
        publish_as_catalog(shop, old, event_id=stale_revision)
    handled_by_vod(shop, stale_level, times=2)
    handled_by_vod(shop, stale_revision, times=2)
    unchanged = entry(shop, video_id, tee)
    assert (unchanged["stock"]["on_hand"], unchanged["product"]["price"]["amount"]) == (8, 1999)
    assert unchanged["product"]["name"] == f"Test product {tee}"

    retired = shop.call("catalog", "POST", f"/staff/products/{tee}/retire", user=STAFF)
    assert retired.status == 200, retired.body
    gone = once(shop, video_id, tee, "the tee retired", lambda e: e["product"]["retired"])
    assert gone["purchasable"] is False


def test_staff_markers_need_the_current_version_and_a_ready_video_for_the_timeline(shop):
    created = shop.call("vod", "POST", "/videos", {"title": "Not uploaded yet"}, user=STAFF)
    assert created.status == 201, created.body
    video_id = created.body["video_id"]
    path = f"/videos/{video_id}/markers"

    first = shop.call(
        "vod", "PUT", path, {"markers": [{"sku": "ANY-1", "start_s": 1, "end_s": 2}]}, {"If-Match": '"0"'}, user=STAFF
    )
    stale = shop.call("vod", "PUT", path, {"markers": []}, {"If-Match": '"0"'}, user=STAFF)

    assert first.status == 200, first.body
    assert (stale.status, stale.body["error"]["code"]) == (409, "stale_markers")
    assert shop.call("vod", "GET", path, user="ada").status == 403
    assert shop.call("vod", "GET", f"/videos/{video_id}/timeline", user="ada").status == 404
