"""The transactional outbox: state change and outgoing events commit in one TransactWriteItems.

A use case collects its writes in a `UnitOfWork`, stages the events it publishes (`add_event`) and,
when it handles a consumed event, a processed-marker (`mark_processed`) that makes the whole effect
happen once per (subscriber, event_id) even if the same event arrives again after a crash or a replay.
The stream relay (`shop_eventing.relay`) later moves the outbox items onto EventBridge; the sweeper
publishes any the relay missed.

Every conditional write names the `WriteConflict` subclass that its failed condition means, so a use case
catches a typed exception instead of guessing which write of the transaction failed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from shop_eventing.envelope import DomainEvent

# Every item the shop stores names its type in this attribute, so one table can hold several types
# (a product's `kind`, physical or digital, is a product field and something else entirely).
ITEM_TYPE = "item_type"
OUTBOX_ITEM_TYPE = "outbox"
PROCESSED_ITEM_TYPE = "processed"
# A sparse index holds the outbox items not yet published, oldest first: the relay removes an item
# from it when it marks the item published, and the sweeper (shop_eventing.relay) publishes whatever
# stays there too long, e.g. because its stream record expired (24 h) while the relay was failing.
PENDING_INDEX = "outbox-pending"
PENDING_PARTITION = "OUTBOX-PENDING"
# Outbox items stay as the producer's event log (replay reads them) for this long.
OUTBOX_RETENTION = timedelta(days=90)
MAX_TRANSACTION_ITEMS = 100

# Lambda puts the invocation's X-Ray trace header here. An outbox item keeps the header of the
# invocation that wrote it, and the relay hands it to PutEvents (TraceHeader), so the events a request
# causes, and the subscribers they reach through SQS, join that request's trace instead of starting
# their own at the relay's invocation.
TRACE_HEADER_ENV = "_X_AMZN_TRACE_ID"

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


def outbox_item(event: DomainEvent, source: str, trace_header: str | None = None) -> dict[str, Any]:
    """`trace_header`: the writing invocation's X-Ray header (read from Lambda's environment when not given)."""
    occurred_at = event.metadata.occurred_at
    trace = trace_header if trace_header is not None else os.environ.get(TRACE_HEADER_ENV)
    return {
        "pk": f"OUTBOX#{event.event_id}",
        "sk": "OUTBOX",
        ITEM_TYPE: OUTBOX_ITEM_TYPE,
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
        **({"trace_header": trace} if trace else {}),
    }


def processed_marker_key(subscriber: str, event_id: str) -> dict[str, str]:
    return {"pk": f"PROCESSED#{subscriber}", "sk": event_id}


class TransactionCancelled(Exception):
    """DynamoDB cancelled the transaction; `reasons` pairs each operation that failed with its code.

    Raised as such when no declared condition failed (e.g. `TransactionConflict`: another transaction
    was writing the same item), otherwise as the failed condition's `WriteConflict` subclass."""

    def __init__(self, reasons: Sequence[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{operation}: {code}" for operation, code in reasons) or "transaction cancelled")
        self.reasons = list(reasons)


class WriteConflict(TransactionCancelled):
    """A conditional write's condition failed. Define one subclass per condition, next to the code
    that writes it, and pass it as `conflict=` to `UnitOfWork.put`/`update`; `commit` raises it."""

    def __init__(self, reasons: Sequence[tuple[str, str]], conflicts: Sequence[type[WriteConflict]] = ()) -> None:
        super().__init__(reasons)
        # Every conflict of the transaction, in the order the writes were staged (this one first).
        self.conflicts = tuple(conflicts) or (type(self),)


class EventAlreadyInOutbox(WriteConflict):
    """An event with this event_id is in the outbox already: the same event was committed before."""


class AlreadyProcessed(Exception):
    """The subscriber already applied this event: the commit was a duplicate and changed nothing."""


@dataclass(frozen=True)
class _Operation:
    description: str  # e.g. "Put ORDER#o-1", for error messages
    request: dict[str, Any]
    # What a failed condition of this operation means; None for an unconditional write.
    conflict: type[WriteConflict] | type[AlreadyProcessed] | None


class TransactionalWork(Protocol):
    """What every service's unit-of-work port offers its use cases besides its own writes (`UnitOfWork`
    implements it): stage the events to publish and the processed-marker, then `commit` everything
    staged at once or raise the typed conflict of the write that could not be made."""

    def add_event(self, event: DomainEvent) -> None: ...

    def mark_processed(self, subscriber: str, event: DomainEvent) -> None: ...

    def commit(self) -> None: ...


class UnitOfWork:
    """Collects writes to one table and commits them atomically, outbox and processed-marker included."""

    def __init__(self, client: Any, table_name: str, source: str) -> None:
        self._client = client
        self._table = table_name
        self._source = source
        self._operations: list[_Operation] = []
        # The events this unit of work puts in the outbox; they reach the bus only after `commit`.
        self.staged_events: list[DomainEvent] = []

    def put(
        self,
        item: Mapping[str, Any],
        *,
        condition: str | None = None,
        conflict: type[WriteConflict] | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        """Stage a put; with a `condition`, `conflict` is what `commit` raises when it fails."""
        request: dict[str, Any] = {"TableName": self._table, "Item": to_dynamodb(item)}
        self._add(f"Put {item.get('pk')}", {"Put": request}, condition=condition, conflict=conflict, names=names, values=values)

    def update(
        self,
        key: Mapping[str, str],
        expression: str,
        *,
        condition: str | None = None,
        conflict: type[WriteConflict] | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        """Stage an update; with a `condition`, `conflict` is what `commit` raises when it fails."""
        request = {"TableName": self._table, "Key": to_dynamodb(key), "UpdateExpression": expression}
        self._add(
            f"Update {key.get('pk')}", {"Update": request}, condition=condition, conflict=conflict, names=names, values=values
        )

    def delete(
        self,
        key: Mapping[str, str],
        *,
        condition: str | None = None,
        conflict: type[WriteConflict] | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        """Stage a delete; with a `condition`, `conflict` is what `commit` raises when it fails."""
        request = {"TableName": self._table, "Key": to_dynamodb(key)}
        self._add(
            f"Delete {key.get('pk')}", {"Delete": request}, condition=condition, conflict=conflict, names=names, values=values
        )

    def add_event(self, event: DomainEvent) -> None:
        """Stage `event` in the outbox: it is published after, and only if, `commit` succeeds."""
        self.put(outbox_item(event, self._source), condition="attribute_not_exists(pk)", conflict=EventAlreadyInOutbox)
        self.staged_events.append(event)

    def mark_processed(self, subscriber: str, event: DomainEvent) -> None:
        marker = {
            **processed_marker_key(subscriber, event.event_id),
            ITEM_TYPE: PROCESSED_ITEM_TYPE,
            "event_type": event.event_type,
            "processed_at": datetime.now(UTC).isoformat(),
        }
        request = {"TableName": self._table, "Item": to_dynamodb(marker)}
        self._add(f"Put {marker['pk']}", {"Put": request}, condition="attribute_not_exists(pk)", conflict=AlreadyProcessed)

    def _add(
        self,
        description: str,
        operation: dict[str, dict[str, Any]],
        *,
        condition: str | None,
        conflict: type[WriteConflict] | type[AlreadyProcessed] | None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        if bool(condition) != (conflict is not None):
            # A condition without a declared conflict would fail as an anonymous cancellation that
            # the use case cannot tell apart from any other; a conflict without a condition never happens.
            raise TypeError(f"{description}: a conditional write names its conflict, and only a conditional write does")
        [request] = operation.values()
        if condition:
            request["ConditionExpression"] = condition
        if names:
            request["ExpressionAttributeNames"] = dict(names)
        if values:
            request["ExpressionAttributeValues"] = to_dynamodb(values)
        if len(self._operations) >= MAX_TRANSACTION_ITEMS:
            raise ValueError(f"a transaction holds at most {MAX_TRANSACTION_ITEMS} items")
        self._operations.append(_Operation(description, operation, conflict))

    def commit(self) -> None:
        """Write everything at once, or raise and write nothing.

        Raises `AlreadyProcessed` if the processed-marker exists (whatever else failed: the event was
        handled before); else the `WriteConflict` subclass of the first staged write whose condition
        failed (all of them in `.conflicts`), so a use case stages first the write whose conflict
        decides what it does next; else `TransactionCancelled` for any other cancellation."""
        if not self._operations:
            return
        try:
            self._client.transact_write_items(TransactItems=[op.request for op in self._operations])
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []
            # DynamoDB answers one reason per operation, in order; "None" for those that did not fail.
            failed = [
                (op, reason.get("Code", ""))
                for op, reason in zip(self._operations, reasons, strict=False)
                if reason.get("Code") not in (None, "", "None")
            ]
            described = [(op.description, code) for op, code in failed]
            conflicts = [op.conflict for op, code in failed if code == "ConditionalCheckFailed" and op.conflict]
            if AlreadyProcessed in conflicts:
                raise AlreadyProcessed() from None
            declared = [conflict for conflict in conflicts if issubclass(conflict, WriteConflict)]
            if declared:
                raise declared[0](described, declared) from None
            raise TransactionCancelled(described) from None
