"""vod's table for shoppable video: markers on a video's timeline and the product read model. Keys
live here only (chalicelib.repository has the rest of the table's).

VIDEO#<video_id> / MARKER#<start_ms, 10 digits>#<marker_id>   a product on the video's timeline: sku,
                                                              start_ms, end_ms, source (staff | live_pin)
VIDEO#<video_id> / MARKERS                                    the staff list's head: version (ETag), generation
PRODUCT#<sku> / PRODUCT                                       the product as catalog's events tell it: details at
                                                              `revision`, units on hand at `stock_version`

Markers share the video's partition, so one query reads the video, the head and every marker in time
order. The head is its own item, not attributes of the video item, so the video's state machine and
the markers never contend for one item.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.shoppable import (
    START_DIGITS,
    Marker,
    ProductView,
    ProductViewNotNewer,
    StaffMarkers,
    StaffMarkersMoved,
    StockLevelNotNewer,
    VideoMarkers,
)
from shop_eventing.outbox import ITEM_TYPE, UnitOfWork, from_dynamodb, to_dynamodb

MARKER_PREFIX = "MARKER#"
STAFF_HEAD = "MARKERS"
# BatchGetItem reads at most this many keys per call.
BATCH_GET_MAX = 100


def video_partition(video_id: str) -> str:
    return f"VIDEO#{video_id}"


def marker_key(video_id: str, marker: Marker) -> dict[str, str]:
    return {"pk": video_partition(video_id), "sk": f"{MARKER_PREFIX}{marker.start_ms:0{START_DIGITS}d}#{marker.marker_id}"}


def staff_head_key(video_id: str) -> dict[str, str]:
    return {"pk": video_partition(video_id), "sk": STAFF_HEAD}


def product_view_key(sku: str) -> dict[str, str]:
    return {"pk": f"PRODUCT#{sku}", "sk": "PRODUCT"}


def _marker(item: dict[str, Any]) -> Marker:
    return Marker(
        marker_id=str(item.get("marker_id") or item["sk"].rsplit("#", 1)[-1]),
        sku=item["sku"],
        start_ms=int(item["start_ms"]),
        end_ms=int(item["end_ms"]),
        source="live_pin" if item.get("source") == "live_pin" else "staff",
        generation=item.get("generation"),
    )


def _product_view(item: dict[str, Any]) -> ProductView:
    def number(name: str) -> int | None:
        return None if item.get(name) is None else int(item[name])

    return ProductView(
        sku=item["sku"],
        name=item.get("name"),
        product_type=item.get("product_type"),
        price_amount=number("price_amount"),
        currency=item.get("currency"),
        revision=number("revision"),
        retired=bool(item.get("retired", False)),
        on_hand=number("on_hand"),
        stock_version=number("stock_version"),
    )


class ShoppableRepository:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def video_markers(self, video_id: str) -> VideoMarkers:
        """The video, the staff list's head and every marker: one (paginated) query of the video's partition."""
        video: dict[str, Any] | None = None
        head = StaffMarkers()
        markers: list[Marker] = []
        for page in self._client.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :video",
            ExpressionAttributeValues={":video": {"S": video_partition(video_id)}},
            ConsistentRead=True,
        ):
            for raw in page["Items"]:
                item = from_dynamodb(raw)
                if item["sk"] == "VIDEO":
                    video = {k: v for k, v in item.items() if k not in ("pk", "sk", "gsi1pk", "gsi1sk", ITEM_TYPE)}
                elif item["sk"] == STAFF_HEAD:
                    head = StaffMarkers(version=int(item["version"]), generation=item.get("generation"))
                elif item["sk"].startswith(MARKER_PREFIX):
                    markers.append(_marker(item))
        return VideoMarkers(video, head, markers)

    def product_views(self, skus: Iterable[str]) -> dict[str, ProductView]:
        wanted = sorted(set(skus))
        views: dict[str, ProductView] = {}
        for start in range(0, len(wanted), BATCH_GET_MAX):
            keys = [to_dynamodb(product_view_key(sku)) for sku in wanted[start : start + BATCH_GET_MAX]]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                answer = self._client.batch_get_item(RequestItems=request)
                for raw in answer["Responses"].get(self._table, []):
                    view = _product_view(from_dynamodb(raw))
                    views[view.sku] = view
                # DynamoDB may leave keys unread under load; ask again for exactly those.
                request = answer.get("UnprocessedKeys") or {}
        return views


class ShoppableUnitOfWork(UnitOfWork):
    """One transaction on vod's table: markers, the staff list's head, the product view, processed-markers."""

    def save_product_details(self, view: ProductView) -> None:
        self.update(
            product_view_key(view.sku),
            "SET #type = :type, sku = :sku, #name = :name, product_type = :product_type, price_amount = :amount, "
            "currency = :currency, revision = :revision, retired = :false",
            # Deliveries may come out of order: never let an older revision overwrite a newer one.
            condition="attribute_not_exists(revision) OR revision < :revision",
            conflict=ProductViewNotNewer,
            names={"#type": ITEM_TYPE, "#name": "name"},
            values={
                ":type": "product_view",
                ":sku": view.sku,
                ":name": view.name,
                ":product_type": view.product_type,
                ":amount": view.price_amount,
                ":currency": view.currency,
                ":revision": view.revision,
                ":false": False,
            },
        )

    def retire_product(self, sku: str, revision: int) -> None:
        """Retired at `revision`, keeping the name and price it had for display; a retirement before
        the publication leaves a tombstone the older publication cannot overwrite."""
        self.update(
            product_view_key(sku),
            "SET #type = :type, sku = :sku, revision = :revision, retired = :true",
            condition="attribute_not_exists(revision) OR revision < :revision",
            conflict=ProductViewNotNewer,
            names={"#type": ITEM_TYPE},
            values={":type": "product_view", ":sku": sku, ":revision": revision, ":true": True},
        )

    def save_stock_level(self, sku: str, on_hand: int, stock_version: int) -> None:
        self.update(
            product_view_key(sku),
            "SET #type = :type, sku = :sku, on_hand = :on_hand, stock_version = :version",
            condition="attribute_not_exists(stock_version) OR stock_version < :version",
            conflict=StockLevelNotNewer,
            names={"#type": ITEM_TYPE},
            values={":type": "product_view", ":sku": sku, ":on_hand": on_hand, ":version": stock_version},
        )

    def put_marker(self, video_id: str, marker: Marker) -> None:
        self.put(
            {
                **marker_key(video_id, marker),
                ITEM_TYPE: "video_marker",
                "video_id": video_id,
                "marker_id": marker.marker_id,
                "sku": marker.sku,
                "start_ms": marker.start_ms,
                "end_ms": marker.end_ms,
                "source": marker.source,
                "generation": marker.generation,
            }
        )

    def delete_marker(self, video_id: str, marker: Marker) -> None:
        self.delete(marker_key(video_id, marker))

    def replace_staff_head(self, video_id: str, *, seen: StaffMarkers, version: int, generation: str, by: str) -> None:
        """The staff list moves to `version` and `generation`, if it is still at `seen` (else StaffMarkersMoved)."""
        values: dict[str, Any] = {":type": "video_markers", ":version": version, ":generation": generation, ":by": by}
        if seen.version == 0:
            condition = "attribute_not_exists(pk)"
        else:
            condition = "version = :seen"
            values[":seen"] = seen.version
        self.update(
            staff_head_key(video_id),
            "SET #type = :type, version = :version, generation = :generation, updated_by = :by",
            condition=condition,
            conflict=StaffMarkersMoved,
            names={"#type": ITEM_TYPE},
            values=values,
        )
