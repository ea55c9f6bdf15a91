"""The transactional outbox: state change and outgoing events commit in one TransactWriteItems.

A use case collects its writes in a `UnitOfWork`, adds the events it publishes (`publish`) and, when it
handles a consumed event, a processed-marker (`mark_processed`) that makes the whole effect happen
once per (subscriber, event_id) even if the same event arrives again after a crash or a replay.
The stream relay (`shop_eventing.relay`) later moves the outbox items onto EventBridge; the sweeper
publishes any the relay missed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from shop_eventing.envelope import DomainEvent

OUTBOX_KIND = "outbox"
# A sparse index holds the outbox items not yet published, oldest first: the relay removes an item
# from it when it marks the item published, and the sweeper (shop_eventing.relay) publishes whatever
# stays there too long, e.g. because its stream record expired (24 h) while the relay was failing.
PENDING_INDEX = "outbox-pending"
PENDING_PARTITION = "OUTBOX-PENDING"
# Outbox items stay as the producer's event log (replay reads them) for this long.
OUTBOX_RETENTION = timedelta(days=90)
MAX_TRANSACTION_ITEMS = 100

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_dynamodb(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}


def from_dynamodb(image: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in image.items()}


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; the shop stores only integers (money is minor units)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def outbox_item(event: DomainEvent, source: str) -> dict[str, Any]:
    occurred_at = event.metadata.occurred_at
    return {
        "pk": f"OUTBOX#{event.event_id}",
        "sk": "OUTBOX",
        "kind": OUTBOX_KIND,
        "source": source,
        "event_type": event.event_type,
        "schema_version": event.metadata.schema_version,
        "event_id": event.event_id,
        "correlation_id": event.metadata.correlation_id,
        "occurred_at": occurred_at.isoformat(),
        "detail": json.dumps(event.to_detail(), separators=(",", ":"), sort_keys=True),
        # Index by type and time so a replay can pick "OrderPlaced between t1 and t2" from this log.
        "gsi1pk": f"OUTBOX#{event.event_type}",
        "gsi1sk": f"{occurred_at.isoformat()}#{event.event_id}",
        "expires_at": int((occurred_at + OUTBOX_RETENTION).timestamp()),
        "pending_pk": PENDING_PARTITION,
        "pending_sk": f"{occurred_at.isoformat()}#{event.event_id}",
    }


def processed_marker_key(subscriber: str, event_id: str) -> dict[str, str]:
    return {"pk": f"PROCESSED#{subscriber}", "sk": event_id}


class TransactionCancelled(Exception):
    """A condition in the transaction failed. `failed` names the labels of the operations that failed."""

    def __init__(self, failed: list[tuple[str, str]]) -> None:
        super().__init__(", ".join(f"{label}: {code}" for label, code in failed) or "transaction cancelled")
        self.failed = failed

    def failed_labels(self) -> set[str]:
        return {label for label, code in self.failed if code == "ConditionalCheckFailed"}


class AlreadyProcessed(Exception):
    """The subscriber already applied this event: the commit was a duplicate and changed nothing."""


@dataclass(frozen=True)
class _Operation:
    label: str
    request: dict[str, Any]


class UnitOfWork:
    """Collects writes to one table and commits them atomically, outbox and processed-marker included."""

    def __init__(self, client: Any, table_name: str, source: str) -> None:
        self._client = client
        self._table = table_name
        self._source = source
        self._operations: list[_Operation] = []
        self.published: list[DomainEvent] = []

    def put(
        self,
        item: Mapping[str, Any],
        *,
        label: str,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        request: dict[str, Any] = {"TableName": self._table, "Item": to_dynamodb(item)}
        self._add("Put", label, request, condition, names, values)

    def update(
        self,
        key: Mapping[str, str],
        expression: str,
        *,
        label: str,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        request = {"TableName": self._table, "Key": to_dynamodb(key), "UpdateExpression": expression}
        self._add("Update", label, request, condition, names, values)

    def publish(self, event: DomainEvent) -> None:
        self.put(outbox_item(event, self._source), label=f"outbox:{event.event_id}", condition="attribute_not_exists(pk)")
        self.published.append(event)

    def mark_processed(self, subscriber: str, event: DomainEvent) -> None:
        marker = {
            **processed_marker_key(subscriber, event.event_id),
            "kind": "processed",
            "event_type": event.event_type,
            "processed_at": datetime.now(UTC).isoformat(),
        }
        self.put(marker, label="processed-marker", condition="attribute_not_exists(pk)")

    def _add(
        self,
        verb: str,
        label: str,
        request: dict[str, Any],
        condition: str | None,
        names: Mapping[str, str] | None,
        values: Mapping[str, Any] | None,
    ) -> None:
        if condition:
            request["ConditionExpression"] = condition
        if names:
            request["ExpressionAttributeNames"] = dict(names)
        if values:
            request["ExpressionAttributeValues"] = to_dynamodb(values)
        if len(self._operations) >= MAX_TRANSACTION_ITEMS:
            raise ValueError(f"a transaction holds at most {MAX_TRANSACTION_ITEMS} items")
        self._operations.append(_Operation(label, {verb: request}))

    def commit(self) -> None:
        if not self._operations:
            return
        try:
            self._client.transact_write_items(TransactItems=[op.request for op in self._operations])
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []
            failed = [
                (op.label, reason.get("Code", ""))
                for op, reason in zip(self._operations, reasons, strict=False)
                if reason.get("Code") not in (None, "", "None")
            ]
            if ("processed-marker", "ConditionalCheckFailed") in failed:
                raise AlreadyProcessed() from None
            raise TransactionCancelled(failed) from None
