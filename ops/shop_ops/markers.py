"""What subscribers record per event in their own tables: the processed-marker
(`PROCESSED#<subscriber>` / event_id, written with the effect, or after the handler for notify's)
and the failure record of the handler's last exception (`FAILURE#<subscriber>` / event_id)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shop_eventing.consumer import failure_record_key
from shop_eventing.outbox import from_dynamodb, processed_marker_key, to_dynamodb
from shop_ops.target import Target

BATCH_GET_LIMIT = 100
Pair = tuple[str, str]  # (subscriber, event_id)


def processed(target: Target, pairs: Iterable[Pair]) -> dict[Pair, dict[str, Any]]:
    """The processed-markers that exist among (subscriber, event_id) pairs."""
    return _read(target, pairs, "PROCESSED#", processed_marker_key)


def failures(target: Target, pairs: Iterable[Pair]) -> dict[Pair, dict[str, Any]]:
    """The failure records that exist among (subscriber, event_id) pairs."""
    return _read(target, pairs, "FAILURE#", failure_record_key)


def _read(target: Target, pairs: Iterable[Pair], prefix: str, key: Any) -> dict[Pair, dict[str, Any]]:
    by_table: dict[str, list[Pair]] = {}
    for subscriber, event_id in dict.fromkeys(pairs):
        service = subscriber.partition(".")[0]
        by_table.setdefault(target.naming.table(service), []).append((subscriber, event_id))
    dynamodb = target.client("dynamodb")
    found: dict[Pair, dict[str, Any]] = {}
    for table, wanted in by_table.items():
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            keys = [to_dynamodb(key(subscriber, event_id)) for subscriber, event_id in wanted[start : start + BATCH_GET_LIMIT]]
            request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = dynamodb.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(table, []):
                    record = from_dynamodb(item)
                    found[(record["pk"].removeprefix(prefix), record["sk"])] = record
                request = response.get("UnprocessedKeys") or {}
    return found
