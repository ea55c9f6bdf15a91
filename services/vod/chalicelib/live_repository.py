"""Live shows in the vod table. Keys live here only (the videos' are in chalicelib.repository).

LIVE#<live_show_id> / SHOW                       a show: state, schedule, channel, current pin, sequence
                                                 (gsi1: LIVE_SHOWS by starts_at, for listing and announcing)
LIVE#<live_show_id> / PIN#<sequence, 10 digits>  each pin and unpin, in order: the recording's markers
VIDEO#<video_id> / MARKER#<start_ms, 10 digits>#<marker_id>
                                                 a timeline marker of a video (source live_pin here; the
                                                 shoppable markers API writes source staff alike)
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from chalicelib.live import LiveState, Marker, PinChange
from chalicelib.repository import VIDEOS_INDEX, VodUnitOfWork
from shop_eventing.outbox import ITEM_TYPE, WriteConflict, from_dynamodb, to_dynamodb

LIVE_SHOWS_PARTITION = "LIVE_SHOWS"
_INTERNAL = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", ITEM_TYPE})


class LiveShowExists(WriteConflict):
    """A show with this id exists already."""


class LiveShowMoved(WriteConflict):
    """The show is no longer in the state (or at the pin sequence) the step read: someone else moved it."""


def live_show_key(live_show_id: str) -> dict[str, str]:
    return {"pk": f"LIVE#{live_show_id}", "sk": "SHOW"}


def pin_change_key(live_show_id: str, sequence: int) -> dict[str, str]:
    return {"pk": f"LIVE#{live_show_id}", "sk": f"PIN#{sequence:010d}"}


def marker_key(video_id: str, start_ms: int, marker_id: str) -> dict[str, str]:
    return {"pk": f"VIDEO#{video_id}", "sk": f"MARKER#{start_ms:010d}#{marker_id}"}


def _public(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key not in _INTERNAL}


class LiveRepository:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def live_show(self, live_show_id: str) -> dict[str, Any] | None:
        item = self._client.get_item(
            TableName=self._table, Key=to_dynamodb(live_show_key(live_show_id)), ConsistentRead=True
        ).get("Item")
        return _public(from_dynamodb(item)) if item else None

    def live_shows(
        self, limit: int, cursor: dict[str, Any] | None = None, *, starting_from: str | None = None, until: str | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Shows by their start, earliest first (optionally those starting in [starting_from, until]);
        the cursor is DynamoDB's LastEvaluatedKey."""
        condition = "gsi1pk = :shows"
        values: dict[str, Any] = {":shows": LIVE_SHOWS_PARTITION}
        if starting_from is not None and until is not None:
            condition += " AND gsi1sk BETWEEN :from AND :until"
            values |= {":from": starting_from, ":until": f"{until}#~"}
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": VIDEOS_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": to_dynamodb(values),
            "Limit": limit,
        }
        if cursor:
            request["ExclusiveStartKey"] = to_dynamodb(cursor)
        page = self._client.query(**request)
        last = page.get("LastEvaluatedKey")
        return [_public(from_dynamodb(item)) for item in page["Items"]], (from_dynamodb(last) if last else None)

    def pin_history(self, live_show_id: str) -> list[PinChange]:
        changes = []
        for page in self._client.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :show AND begins_with(sk, :pins)",
            ExpressionAttributeValues=to_dynamodb({":show": f"LIVE#{live_show_id}", ":pins": "PIN#"}),
            ConsistentRead=True,
        ):
            for raw in page["Items"]:
                item = from_dynamodb(raw)
                changes.append(PinChange(item["sequence"], item["action"], item["pin_id"], item["sku"], item.get("offset_ms")))
        return changes

    def markers(self, video_id: str) -> list[dict[str, Any]]:
        found = []
        for page in self._client.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :video AND begins_with(sk, :markers)",
            ExpressionAttributeValues=to_dynamodb({":video": f"VIDEO#{video_id}", ":markers": "MARKER#"}),
            ConsistentRead=True,
        ):
            found += [_public(from_dynamodb(item)) for item in page["Items"]]
        return found

    def put_markers(self, video_id: str, live_show_id: str, markers: list[Marker]) -> None:
        """The recording's markers, written before its video: the keys derive from the pins, so writing
        them again after a crash writes the same items."""
        for marker in markers:
            item = {
                **marker_key(video_id, marker.start_ms, marker.marker_id),
                ITEM_TYPE: "marker",
                "marker_id": marker.marker_id,
                "video_id": video_id,
                "sku": marker.sku,
                "start_ms": marker.start_ms,
                "end_ms": marker.end_ms,
                "source": "live_pin",
                "live_show_id": live_show_id,
            }
            self._client.put_item(TableName=self._table, Item=to_dynamodb(item))


class LiveUnitOfWork(VodUnitOfWork):
    """vod's transaction, with the writes of live shows."""

    def add_live_show(self, show: Mapping[str, Any]) -> None:
        self.put(
            {
                **live_show_key(show["live_show_id"]),
                ITEM_TYPE: "live_show",
                "gsi1pk": LIVE_SHOWS_PARTITION,
                "gsi1sk": f"{show['starts_at']}#{show['live_show_id']}",
                **show,
            },
            condition="attribute_not_exists(pk)",
            conflict=LiveShowExists,
        )

    def move_live_show(
        self, live_show_id: str, *, from_states: Collection[LiveState], changes: Mapping[str, Any], unless: str | None = None
    ) -> None:
        """Set `changes` if the show is in one of `from_states` (and has no attribute `unless`); else LiveShowMoved."""
        names = {"#state": "state"}
        values: dict[str, Any] = {}
        for index, state in enumerate(sorted(from_states)):
            values[f":from{index}"] = str(state)
        sets = []
        for index, (field, value) in enumerate(changes.items()):
            names[f"#f{index}"] = field
            values[f":v{index}"] = value
            sets.append(f"#f{index} = :v{index}")
        allowed = ", ".join(f":from{index}" for index in range(len(from_states)))
        condition = f"attribute_exists(pk) AND #state IN ({allowed})"
        if unless:
            names["#unless"] = unless
            condition += " AND attribute_not_exists(#unless)"
        self.update(
            live_show_key(live_show_id),
            "SET " + ", ".join(sets),
            condition=condition,
            conflict=LiveShowMoved,
            names=names,
            values=values,
        )

    def change_pin(
        self, live_show_id: str, change: PinChange, *, seen_sequence: int, current_pin: Mapping[str, Any] | None, at: str
    ) -> None:
        """The show's current pin and sequence move on from `seen_sequence`, only while LIVE: of two
        concurrent changes one commits, the other reads again. The change joins the show's history."""
        pin_expression = "current_pin = :pin" if current_pin is not None else ""
        expression = "SET #sequence = :next, updated_at = :at" + (f", {pin_expression}" if pin_expression else "")
        if current_pin is None:
            expression += " REMOVE current_pin"
        values: dict[str, Any] = {":next": change.sequence, ":seen": seen_sequence, ":live": str(LiveState.LIVE), ":at": at}
        if current_pin is not None:
            values[":pin"] = dict(current_pin)
        self.update(
            live_show_key(live_show_id),
            expression,
            condition="#state = :live AND #sequence = :seen",
            conflict=LiveShowMoved,
            names={"#state": "state", "#sequence": "sequence"},
            values=values,
        )
        self.put(
            {
                **pin_change_key(live_show_id, change.sequence),
                ITEM_TYPE: "pin_change",
                "live_show_id": live_show_id,
                "sequence": change.sequence,
                "action": change.action,
                "pin_id": change.pin_id,
                "sku": change.sku,
                "offset_ms": change.offset_ms,
                "at": at,
            },
            condition="attribute_not_exists(pk)",
            conflict=LiveShowMoved,
        )
