"""The vod table: videos and entitlements. Keys live here only.

VIDEO#<video_id> / VIDEO                          a video, its state, its outputs (gsi1: VIDEOS by creation)
CUSTOMER#<customer_id> / ENT#VIDEO#<id>#<ent_id>   an entitlement, queried by (customer, video)
CUSTOMER#<customer_id> / ENT#LIVE#<id>#<ent_id>    ... or by (customer, live show)
ORDER#<order_id> / ACCESS                          the order's grant version; `revoked_all` once cancelled or fully refunded
ORDER#<order_id> / LINE#<sku>                      a line's access: GRANTED (with its entitlement's key) or REVOKED
                                                   (a tombstone when it was never granted)
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from chalicelib.domain import LINE_GRANTED, LINE_REVOKED, Grant, VideoState
from chalicelib.playback import EntitlementChanged
from shop_eventing.outbox import ITEM_TYPE, UnitOfWork, WriteConflict, from_dynamodb, to_dynamodb

VIDEOS_INDEX = "gsi1"
VIDEOS_PARTITION = "VIDEOS"


class VideoExists(WriteConflict):
    """A video with this id exists already."""


class VideoMoved(WriteConflict):
    """The video is no longer in the state (or attempt) the step started from: someone else moved it."""


class EntitlementExists(WriteConflict):
    """The order line's entitlement was granted already."""


class OrderAccessMoved(WriteConflict):
    """The order's access changed since it was read (a grant or a revoke committed in between): read again."""


def order_access_key(order_id: str) -> dict[str, str]:
    return {"pk": f"ORDER#{order_id}", "sk": "ACCESS"}


def order_line_key(order_id: str, sku: str) -> dict[str, str]:
    return {"pk": f"ORDER#{order_id}", "sk": f"LINE#{sku}"}


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

    def record_playback(self, customer_id: str, video_id: str, entitlement_id: str, at: str) -> dict[str, Any]:
        """A playback start on an ACTIVE entitlement: `first_played_at` only the first time (if_not_exists
        inside the one conditional update, so two first plays at once cannot both set it), then
        `last_played_at` and `play_count`. Returns the entitlement as it is now; raises
        EntitlementChanged if it was revoked meanwhile."""
        key = {"pk": f"CUSTOMER#{customer_id}", "sk": f"ENT#VIDEO#{video_id}#{entitlement_id}"}
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key=to_dynamodb(key),
                UpdateExpression="SET first_played_at = if_not_exists(first_played_at, :at), last_played_at = :at, "
                "play_count = if_not_exists(play_count, :zero) + :one",
                ConditionExpression="attribute_exists(pk) AND #status = :active",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_dynamodb({":at": at, ":zero": 0, ":one": 1, ":active": "ACTIVE"}),
                ReturnValues="ALL_NEW",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            raise EntitlementChanged(entitlement_id) from None
        return _public(from_dynamodb(answer["Attributes"]))

    def order_access(self, order_id: str) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
        """The order's ACCESS item (None before its first grant or revoke) and its lines by sku."""
        access: dict[str, Any] | None = None
        lines: dict[str, dict[str, Any]] = {}
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :order",
            ExpressionAttributeValues=to_dynamodb({":order": f"ORDER#{order_id}"}),
            ConsistentRead=True,
        ):
            for raw in page["Items"]:
                item = from_dynamodb(raw)
                if item["sk"] == "ACCESS":
                    access = item
                elif item["sk"].startswith("LINE#"):
                    lines[item["sku"]] = item
        return access, lines


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

    def claim_order_for_grants(self, order_id: str) -> None:
        """Bumps the order's version, unless the order was revoked as a whole (OrderAccessMoved)."""
        self.update(
            order_access_key(order_id),
            "SET #version = if_not_exists(#version, :zero) + :one",
            condition="attribute_not_exists(revoked_all)",
            conflict=OrderAccessMoved,
            names={"#version": "version"},
            values={":zero": 0, ":one": 1},
        )

    def add_granted_line(self, grant: Grant) -> None:
        """The line's access, pointing at its entitlement; OrderAccessMoved if the line is known already."""
        self.put(
            {
                **order_line_key(grant.order_id, grant.sku),
                ITEM_TYPE: "order_line_access",
                "order_id": grant.order_id,
                "sku": grant.sku,
                "state": LINE_GRANTED,
                "entitlement_pk": entitlement_key(grant)["pk"],
                "entitlement_sk": entitlement_key(grant)["sk"],
                "entitlement_id": grant.entitlement_id,
                "customer_id": grant.customer_id,
                "product_type": grant.product_type,
                "video_id": grant.video_id,
                "live_show_id": grant.live_show_id,
            },
            condition="attribute_not_exists(pk)",
            conflict=OrderAccessMoved,
        )

    def revoke_whole_order(self, order_id: str, *, seen_version: int | None, revoked_at: str, caused_by: str) -> None:
        """Marks the order revoked; OrderAccessMoved if a grant committed since `seen_version` was read."""
        values: dict[str, Any] = {":true": True, ":at": revoked_at, ":cause": caused_by}
        if seen_version is None:
            condition = "attribute_not_exists(pk)"
        else:
            condition = "#version = :seen"
            values[":seen"] = seen_version
        self.update(
            order_access_key(order_id),
            "SET revoked_all = :true, revoked_at = :at, revoked_by_event = :cause",
            condition=condition,
            conflict=OrderAccessMoved,
            names={"#version": "version"} if seen_version is not None else None,
            values=values,
        )

    def revoke_line(self, order_id: str, sku: str, entitlement: Mapping[str, str], *, revoked_at: str, caused_by: str) -> None:
        """A GRANTED line and its entitlement become REVOKED (OrderAccessMoved if the line moved meanwhile)."""
        self.update(
            order_line_key(order_id, sku),
            "SET #state = :revoked, revoked_at = :at, revoked_by_event = :cause",
            condition="#state = :granted",
            conflict=OrderAccessMoved,
            names={"#state": "state"},
            values={":revoked": LINE_REVOKED, ":granted": LINE_GRANTED, ":at": revoked_at, ":cause": caused_by},
        )
        self.update(
            entitlement,
            "SET #status = :revoked, revoked_at = :at, revoked_by_event = :cause",
            condition="attribute_exists(pk)",
            conflict=OrderAccessMoved,
            names={"#status": "status"},
            values={":revoked": "REVOKED", ":at": revoked_at, ":cause": caused_by},
        )

    def tombstone_line(self, order_id: str, sku: str, *, revoked_at: str, caused_by: str) -> None:
        """A line revoked before it was granted: its grant, when it comes, grants nothing."""
        self.put(
            {
                **order_line_key(order_id, sku),
                ITEM_TYPE: "order_line_access",
                "order_id": order_id,
                "sku": sku,
                "state": LINE_REVOKED,
                "revoked_at": revoked_at,
                "revoked_by_event": caused_by,
            },
            condition="attribute_not_exists(pk)",
            conflict=OrderAccessMoved,
        )
