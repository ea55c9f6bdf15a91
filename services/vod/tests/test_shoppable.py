"""Shoppable video over chalice's test client against a real (in-process) moto server: staff place
products on a video's timeline (If-Match, validation, live pins kept, lists bigger than a transaction),
vod keeps its product read model from catalog's events (the highest revision and stock_version win),
and a player's timeline shows each product's price and stock now."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib import shoppable
from chalicelib.domain import new_video_id, source_key
from chalicelib.repository import VodUnitOfWork
from chalicelib.shoppable_store import ShoppableRepository
from shop_contracts.events import (
    Money,
    ProductPublishedV1,
    ProductRetiredV1,
    ProductUpdatedV1,
    StockLevelChangedV1,
)
from shop_devstack.testing import bearer, deliver_to_subscription, eventbridge_body
from shop_eventing.envelope import DomainEvent, EventData, new_event
from shop_eventing.outbox import to_dynamodb

JSON = {"Content-Type": "application/json"}
USD = Money(amount=2500, currency="USD")


def a_video(aws: Any, *, state: str = "READY", duration_ms: int | None = 60_000) -> str:
    video_id = new_video_id()
    now = datetime.now(UTC).isoformat()
    video: dict[str, Any] = {
        "video_id": video_id,
        "title": "Shoppable",
        "state": state,
        "attempt": 1,
        "content_type": "video/mp4",
        "source_key": source_key(video_id),
        "created_by": "sam",
        "created_at": now,
        "updated_at": now,
        "captions": {},
    }
    if duration_ms is not None:
        video["outputs"] = {
            "bucket": "b",
            "master_playlist_key": "m.m3u8",
            "renditions": [{"name": "180p", "width": 320, "height": 180, "bitrate_kbps": 400, "playlist_key": "p.m3u8"}],
            "duration_ms": duration_ms,
        }
    uow = VodUnitOfWork(aws.dynamodb, aws.table, "shop.vod")
    uow.add_video(video)
    uow.commit()
    return video_id


def sku() -> str:
    return f"SKU-{uuid.uuid4().hex[:12].upper()}"


def catalog_event(data: EventData) -> DomainEvent:
    return new_event(data, producer="shop.catalog", correlation_id=f"product:{getattr(data, 'sku', '')}")


def deliver(vod_app: Any, *events: DomainEvent) -> None:
    for event in events:
        assert deliver_to_subscription(vod_app, "vod", "product-view", eventbridge_body(event)) == {"batchItemFailures": []}


def published(code: str, *, revision: int = 1, amount: int = 2500, product_type: str = "physical_good") -> DomainEvent:
    kind = "physical" if product_type == "physical_good" else "digital"
    return catalog_event(
        ProductPublishedV1(
            sku=code,
            name=f"Product {code}",
            kind=kind,
            price=Money(amount=amount, currency="USD"),
            revision=revision,
            product_type=product_type,  # type: ignore[arg-type]
        )
    )


def updated(code: str, *, revision: int, amount: int) -> DomainEvent:
    return catalog_event(
        ProductUpdatedV1(
            sku=code,
            name=f"Product {code} v{revision}",
            kind="physical",
            product_type="physical_good",
            price=Money(amount=amount, currency="USD"),
            revision=revision,
        )
    )


def level(code: str, on_hand: int, version: int) -> DomainEvent:
    return catalog_event(StockLevelChangedV1(sku=code, on_hand=on_hand, stock_version=version))


def retired(code: str, revision: int) -> DomainEvent:
    return catalog_event(ProductRetiredV1(sku=code, revision=revision))


class Staff:
    def __init__(self, client: Any) -> None:
        self.http = client.http

    def put(self, video_id: str, markers: list[dict[str, Any]], version: int | str | None = 0) -> Any:
        headers = {**JSON} | (
            {"If-Match": f'"{version}"' if isinstance(version, int) else version} if version is not None else {}
        )
        return self.http.put(f"/videos/{video_id}/markers", headers=headers, body=json.dumps({"markers": markers}))

    def get(self, video_id: str) -> Any:
        return self.http.get(f"/videos/{video_id}/markers")


@pytest.fixture
def staff(client: Any) -> Staff:
    return Staff(client)


def body(response: Any) -> dict[str, Any]:
    return dict(json.loads(response.body))


def fields(response: Any) -> list[str]:
    return [f["field"] for f in body(response)["error"].get("fields", [])]


def timeline(client: Any, issuer: Any, video_id: str, user: str = "ada") -> Any:
    return client.http.anonymous.get(f"/videos/{video_id}/timeline", headers=bearer(issuer, user))


# -- staff markers ------------------------------------------------------------------------------------


def test_staff_place_products_on_the_timeline_in_time_order_with_an_etag(staff, aws):
    video_id = a_video(aws)
    empty = staff.get(video_id)
    assert (empty.status_code, empty.headers["ETag"], body(empty)["markers"]) == (200, '"0"', [])

    put = staff.put(video_id, [{"sku": "B-1", "start_s": 30, "end_s": 40.5}, {"sku": "A-1", "start_s": 2.25, "end_s": 9}])

    assert put.status_code == 200, put.body
    assert put.headers["ETag"] == '"1"'
    read = body(staff.get(video_id))
    assert read["version"] == 1
    assert [(m["sku"], m["start_s"], m["end_s"], m["source"]) for m in read["markers"]] == [
        ("A-1", 2.25, 9.0, "staff"),
        ("B-1", 30.0, 40.5, "staff"),
    ]
    sort_keys = [i["sk"] for i in ShoppableItems(aws).markers(video_id)]
    assert sort_keys[0].startswith("MARKER#0000002250#mk_") and sort_keys[1].startswith("MARKER#0000030000#")


class ShoppableItems:
    def __init__(self, aws: Any) -> None:
        self.aws = aws

    def markers(self, video_id: str) -> list[dict[str, Any]]:
        from shop_eventing.outbox import from_dynamodb

        found = self.aws.dynamodb.query(
            TableName=self.aws.table,
            KeyConditionExpression="pk = :video AND begins_with(sk, :marker)",
            ExpressionAttributeValues=to_dynamodb({":video": f"VIDEO#{video_id}", ":marker": "MARKER#"}),
            ConsistentRead=True,
        )
        return [from_dynamodb(item) for item in found["Items"]]


def test_a_put_replaces_the_staffs_markers_and_keeps_a_live_shows_pins(staff, aws):
    video_id = a_video(aws)
    pin = {"pk": f"VIDEO#{video_id}", "sk": "MARKER#0000005000#pin_1", "item_type": "video_marker", "video_id": video_id}
    pin |= {"marker_id": "pin_1", "sku": "PINNED-1", "start_ms": 5000, "end_ms": 15000, "source": "live_pin"}
    aws.dynamodb.put_item(TableName=aws.table, Item=to_dynamodb(pin))
    assert staff.put(video_id, [{"sku": "OLD-1", "start_s": 1, "end_s": 2}]).status_code == 200

    again = staff.put(video_id, [{"sku": "NEW-1", "start_s": 10, "end_s": 20}], version=1)

    assert again.status_code == 200, again.body
    assert [(m["sku"], m["source"]) for m in body(again)["markers"]] == [("PINNED-1", "live_pin"), ("NEW-1", "staff")]
    assert sorted(i["sku"] for i in ShoppableItems(aws).markers(video_id)) == ["NEW-1", "PINNED-1"], "OLD-1 is deleted"


def test_a_stale_or_missing_if_match_changes_nothing(staff, aws):
    video_id = a_video(aws)
    assert staff.put(video_id, [{"sku": "A-1", "start_s": 1, "end_s": 2}]).status_code == 200

    stale = staff.put(video_id, [{"sku": "B-1", "start_s": 1, "end_s": 2}], version=0)
    missing = staff.put(video_id, [{"sku": "B-1", "start_s": 1, "end_s": 2}], version=None)

    assert (stale.status_code, body(stale)["error"]["code"], fields(stale)) == (409, "stale_markers", ["If-Match"])
    assert (missing.status_code, fields(missing)) == (400, ["If-Match"])
    assert [m["sku"] for m in body(staff.get(video_id))["markers"]] == ["A-1"]


def test_of_two_puts_from_the_same_version_one_wins_the_other_is_stale(vod_app, aws):
    """The race itself: the loser read version 0 before the winner committed; the head's condition refuses it."""
    video_id = a_video(aws)
    repository = ShoppableRepository(aws.dynamodb, aws.table)
    before = repository.video_markers(video_id)

    class SeenBefore:
        def video_markers(self, _: str) -> shoppable.VideoMarkers:
            return before

        def product_views(self, skus: Any) -> dict[str, shoppable.ProductView]:
            return {}

    wanted = [shoppable.MarkerInput("A-1", 1, 2)]
    shoppable.put_staff_markers(video_id, 0, wanted, "sam", repository, vod_app.shoppable_work)

    with pytest.raises(shoppable.StaleMarkers):
        shoppable.put_staff_markers(
            video_id, 0, [shoppable.MarkerInput("B-1", 1, 2)], "sam", SeenBefore(), vod_app.shoppable_work
        )
    assert [m.sku for m in repository.video_markers(video_id).visible()] == ["A-1"]


def test_a_big_put_that_loses_the_race_deletes_what_it_wrote(vod_app, aws):
    video_id = a_video(aws, duration_ms=3_600_000)
    repository = ShoppableRepository(aws.dynamodb, aws.table)
    before = repository.video_markers(video_id)

    class SeenBefore:
        def video_markers(self, _: str) -> shoppable.VideoMarkers:
            return before

        def product_views(self, skus: Any) -> dict[str, shoppable.ProductView]:
            return {}

    winner = [shoppable.MarkerInput("A-1", 1, 2)]
    loser = [shoppable.MarkerInput(f"B-{n}", n, n + 1) for n in range(150)]
    shoppable.put_staff_markers(video_id, 0, winner, "sam", repository, vod_app.shoppable_work)

    with pytest.raises(shoppable.StaleMarkers):
        shoppable.put_staff_markers(video_id, 0, loser, "sam", SeenBefore(), vod_app.shoppable_work)
    assert [i["sku"] for i in ShoppableItems(aws).markers(video_id)] == ["A-1"]


@pytest.mark.parametrize(
    ("markers", "field"),
    [
        ([{"sku": "A-1", "start_s": 5, "end_s": 5}], "markers[0].end_s"),
        ([{"sku": "A-1", "start_s": 5, "end_s": 4}], "markers[0].end_s"),
        ([{"sku": "A-1", "start_s": 1, "end_s": 2}, {"sku": "A-1", "start_s": 50, "end_s": 61}], "markers[1].end_s"),
        ([{"sku": "A-1", "start_s": -1, "end_s": 2}], "markers[0].start_s"),
        ([{"sku": "not a sku", "start_s": 1, "end_s": 2}], "markers[0].sku"),
        ([{"sku": "A-1", "start_s": "1", "end_s": 2}], "markers[0].start_s"),
        ([{"sku": "A-1", "start_s": 1, "end_s": 2, "price": 3}], "markers[0].price"),
        ([{"sku": "A-1", "start_s": 1, "end_s": 2}] * 201, "markers"),
    ],
)
def test_markers_the_video_cannot_hold_are_a_400_naming_the_field(staff, aws, markers, field):
    video_id = a_video(aws, duration_ms=60_000)

    refused = staff.put(video_id, markers)

    assert refused.status_code == 400, refused.body
    assert field in fields(refused)
    assert body(staff.get(video_id))["version"] == 0


def test_a_video_whose_duration_is_not_known_yet_takes_any_end(staff, aws):
    video_id = a_video(aws, state="CREATED", duration_ms=None)

    assert staff.put(video_id, [{"sku": "A-1", "start_s": 1, "end_s": 7200}]).status_code == 200


def test_a_list_bigger_than_a_transaction_is_replaced_whole(staff, aws):
    video_id = a_video(aws, duration_ms=3_600_000)
    first = [{"sku": f"A-{n}", "start_s": n, "end_s": n + 5} for n in range(150)]
    second = [{"sku": f"B-{n}", "start_s": n * 2, "end_s": n * 2 + 1} for n in range(200)]
    assert staff.put(video_id, first).status_code == 200

    replaced = staff.put(video_id, second, version=1)

    assert replaced.status_code == 200, replaced.body
    shown = body(staff.get(video_id))["markers"]
    assert [m["sku"] for m in shown] == [f"B-{n}" for n in range(200)]
    assert len(ShoppableItems(aws).markers(video_id)) == 200, "the 150 old markers are gone"


def test_markers_of_an_unknown_video_are_a_404(staff):
    assert staff.get(new_video_id()).status_code == 404
    assert staff.put(new_video_id(), []).status_code == 404


def test_markers_are_the_staffs(client, issuer, aws):
    video_id = a_video(aws)
    as_customer = client.http.anonymous.get(f"/videos/{video_id}/markers", headers=bearer(issuer, "ada"))
    assert as_customer.status_code == 403
    assert client.http.anonymous.get(f"/videos/{video_id}/markers").status_code == 401


# -- the product read model ---------------------------------------------------------------------------


def view(aws: Any, code: str) -> dict[str, Any]:
    item = aws.item(f"PRODUCT#{code}", "PRODUCT")
    assert item is not None
    return item


def test_the_view_keeps_the_highest_revision_and_stock_version(vod_app, aws):
    code = sku()

    deliver(vod_app, published(code, revision=2, amount=2000), updated(code, revision=1, amount=1))
    deliver(vod_app, level(code, 7, 5), level(code, 9, 3), level(code, 7, 5))

    kept = view(aws, code)
    assert (kept["revision"], kept["price_amount"], kept["on_hand"], kept["stock_version"]) == (2, 2000, 7, 5)
    deliver(vod_app, updated(code, revision=3, amount=1800), level(code, 6, 6))
    kept = view(aws, code)
    assert (kept["revision"], kept["price_amount"], kept["on_hand"], kept["stock_version"]) == (3, 1800, 6, 6)


def test_a_retirement_keeps_the_details_and_an_older_publication_does_not_undo_it(vod_app, aws):
    code = sku()

    deliver(vod_app, retired(code, 3), published(code, revision=2))
    tombstone = view(aws, code)
    assert (tombstone["revision"], tombstone["retired"], tombstone.get("name")) == (3, True, None)

    other = sku()
    deliver(vod_app, published(other, revision=1), retired(other, 2))
    kept = view(aws, other)
    assert (kept["name"], kept["retired"]) == (f"Product {other}", True)
    deliver(vod_app, published(other, revision=3))
    assert view(aws, other)["retired"] is False, "published again"


def test_an_event_delivered_twice_is_applied_once(vod_app, aws):
    code = sku()
    event = level(code, 4, 2)
    deliver(vod_app, event)
    aws.dynamodb.update_item(
        TableName=aws.table,
        Key=to_dynamodb({"pk": f"PRODUCT#{code}", "sk": "PRODUCT"}),
        UpdateExpression="SET stock_version = :one",
        ExpressionAttributeValues=to_dynamodb({":one": 1}),
    )

    deliver(vod_app, event)

    assert view(aws, code)["stock_version"] == 1, "the processed-marker stopped the repeat"
    assert aws.processed("vod.product-view", event.event_id)


# -- the timeline -------------------------------------------------------------------------------------


def test_the_timeline_shows_each_products_price_and_stock_now(client, issuer, staff, vod_app, aws):
    video_id = a_video(aws)
    low, plenty, gone, film, old, unknown = sku(), sku(), sku(), sku(), sku(), sku()
    deliver(vod_app, published(low), level(low, 3, 4), published(plenty, amount=999), level(plenty, 40, 1))
    deliver(vod_app, published(gone), level(gone, 0, 9), published(film, product_type="video_rental", amount=399))
    deliver(vod_app, published(old), level(old, 5, 2), retired(old, 2))
    placed = [(low, 1), (plenty, 2), (gone, 3), (film, 4), (old, 5), (unknown, 6)]
    assert staff.put(video_id, [{"sku": s, "start_s": t, "end_s": t + 10} for s, t in reversed(placed)]).status_code == 200

    answer = timeline(client, issuer, video_id)

    assert answer.status_code == 200, answer.body
    entries = body(answer)["markers"]
    assert [e["sku"] for e in entries] == [s for s, _ in placed]
    shown = {e["sku"]: (e["stock"]["on_hand"], e["stock"]["availability"], e["purchasable"]) for e in entries}
    assert shown == {
        low: (3, "low", True),
        plenty: (40, "in_stock", True),
        gone: (0, "sold_out", False),
        film: (None, "available", True),
        old: (5, "low", False),
        unknown: (None, "unknown", False),
    }
    by_sku = {e["sku"]: e for e in entries}
    assert by_sku[plenty]["product"] == {
        "name": f"Product {plenty}",
        "product_type": "physical_good",
        "price": {"amount": 999, "currency": "USD"},
        "retired": False,
    }
    assert by_sku[old]["product"]["retired"] is True
    assert by_sku[unknown]["product"] is None
    assert (by_sku[low]["start_s"], by_sku[low]["end_s"]) == (1.0, 11.0)


def test_the_timeline_is_for_a_ready_video_and_a_signed_in_viewer(client, issuer, aws):
    not_ready = a_video(aws, state="TRANSCODING", duration_ms=None)

    assert timeline(client, issuer, not_ready).status_code == 404
    assert timeline(client, issuer, new_video_id()).status_code == 404
    assert client.http.anonymous.get(f"/videos/{a_video(aws)}/timeline").status_code == 401
    assert timeline(client, issuer, a_video(aws), user="grace").status_code == 200
