"""The vod table: videos and entitlements. Keys live here only.

VIDEO#<video_id> / VIDEO                          a video, its state, its outputs (gsi1: VIDEOS by creation)
CUSTOMER#<customer_id> / ENT#VIDEO#<id>#<ent_id>   an entitlement, queried by (customer, video)
CUSTOMER#<customer_id> / ENT#LIVE#<id>#<ent_id>    ... or by (customer, live show)
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from chalicelib.domain import Grant, VideoState
from shop_eventing.outbox import ITEM_TYPE, UnitOfWork, WriteConflict, from_dynamodb, to_dynamodb

VIDEOS_INDEX = "gsi1"
VIDEOS_PARTITION = "VIDEOS"


class VideoExists(WriteConflict):
    """A video with this id exists already."""


class VideoMoved(WriteConflict):
    """The video is no longer in the state (or attempt) the step started from: someone else moved it."""


class EntitlementExists(WriteConflict):
    """The order line's entitlement was granted already."""


def video_key(video_id: str) -> dict[str, str]:
    return {"pk": f"VIDEO#{video_id}", "sk": "VIDEO"}


def entitlement_key(grant: Grant) -> dict[str, str]:
    return {"pk": f"CUSTOMER#{grant.customer_id}", "sk": f"ENT#{grant.subject}#{grant.entitlement_id}"}


_INTERNAL = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", ITEM_TYPE})


def _public(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key not in _INTERNAL}


class VodRepository:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def video(self, video_id: str) -> dict[str, Any] | None:
        item = self._client.get_item(TableName=self._table, Key=to_dynamodb(video_key(video_id)), ConsistentRead=True).get("Item")
        return _public(from_dynamodb(item)) if item else None

    def videos(self, limit: int, cursor: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Videos, newest first, a page at a time; the cursor is DynamoDB's LastEvaluatedKey."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": VIDEOS_INDEX,
            "KeyConditionExpression": "gsi1pk = :videos",
            "ExpressionAttributeValues": {":videos": {"S": VIDEOS_PARTITION}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            request["ExclusiveStartKey"] = to_dynamodb(cursor)
        page = self._client.query(**request)
        last = page.get("LastEvaluatedKey")
        return [_public(from_dynamodb(item)) for item in page["Items"]], (from_dynamodb(last) if last else None)

    def entitlements(self, customer_id: str, subject: str | None = None) -> list[dict[str, Any]]:
        """A customer's entitlements; with `subject` (VIDEO#<id> or LIVE#<id>) only those opening it."""
        prefix = f"ENT#{subject}#" if subject else "ENT#"
        items: list[dict[str, Any]] = []
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :customer AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=to_dynamodb({":customer": f"CUSTOMER#{customer_id}", ":prefix": prefix}),
            ConsistentRead=True,
        ):
            items += [_public(from_dynamodb(item)) for item in page["Items"]]
        return items


class VodUnitOfWork(UnitOfWork):
    """One transaction on the vod table: the use cases' writes, events and processed-marker."""

    def add_video(self, video: Mapping[str, Any]) -> None:
        self.put(
            {
                **video_key(video["video_id"]),
                ITEM_TYPE: "video",
                "gsi1pk": VIDEOS_PARTITION,
                "gsi1sk": f"{video['created_at']}#{video['video_id']}",
                **video,
            },
            condition="attribute_not_exists(pk)",
            conflict=VideoExists,
        )

    def move_video(
        self,
        video_id: str,
        *,
        from_states: Collection[VideoState],
        attempt: int,
        changes: Mapping[str, Any],
        remove: Collection[str] = (),
    ) -> None:
        """Set `changes` on the video if it is in one of `from_states` at `attempt`; else VideoMoved."""
        names = {"#state": "state", "#attempt": "attempt"}
        values: dict[str, Any] = {":attempt": attempt}
        for index, state in enumerate(sorted(from_states)):
            values[f":from{index}"] = str(state)
        sets = []
        for index, (field, value) in enumerate(changes.items()):
            names[f"#f{index}"] = field
            values[f":v{index}"] = value
            sets.append(f"#f{index} = :v{index}")
        expression = "SET " + ", ".join(sets)
        if remove:
            removed = []
            for index, field in enumerate(remove):
                names[f"#r{index}"] = field
                removed.append(f"#r{index}")
            expression += " REMOVE " + ", ".join(removed)
        allowed = ", ".join(f":from{index}" for index in range(len(from_states)))
        self.update(
            video_key(video_id),
            expression,
            condition=f"attribute_exists(pk) AND #state IN ({allowed}) AND #attempt = :attempt",
            conflict=VideoMoved,
            names=names,
            values=values,
        )

    def add_entitlement(self, grant: Grant, caused_by: str) -> None:
        self.put(
            {
                **entitlement_key(grant),
                ITEM_TYPE: "entitlement",
                "gsi1pk": f"ORDER#{grant.order_id}",
                "gsi1sk": f"ENT#{grant.sku}",
                "entitlement_id": grant.entitlement_id,
                "customer_id": grant.customer_id,
                "order_id": grant.order_id,
                "sku": grant.sku,
                "product_type": grant.product_type,
                "video_id": grant.video_id,
                "live_show_id": grant.live_show_id,
                "granted_at": grant.granted_at.isoformat(),
                "expires_at_iso": grant.expires_at.isoformat() if grant.expires_at else None,
                "status": "ACTIVE",
                "granted_by_event": caused_by,
            },
            condition="attribute_not_exists(pk)",
            conflict=EntitlementExists,
        )
