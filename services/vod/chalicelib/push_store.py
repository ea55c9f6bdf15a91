"""The push channel's adapters: its items in the vod table, and API Gateway's management API.

PUSH#CONN#<connection_id> / CONNECTION         who holds the connection (sub, staff), the topics it watches, a version
PUSH#TOPIC#<topic> / WATCHER#<connection_id>   one per connection watching the topic: the fan-out's one query
PUSH#TOPIC#<topic> / CURRENT                   the topic's latest change (highest sequence): the late joiner's answer
PUSH#TOPIC#<topic> / CURRENT#<subject>         the latest change about one subject of the topic (highest sequence):
                                               an order's on its customer's orders topic (its status_version)

Every item has `expires_at` (the table's TTL): a connection's lives as long as API Gateway lets a
connection live, so one whose $disconnect never came goes by itself.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.push import Connection, ConnectionGone, ConnectionMoved, CurrentChange, NotConnected
from shop_eventing.envelope import DomainEvent
from shop_eventing.outbox import (
    ITEM_TYPE,
    AlreadyProcessed,
    TransactionCancelled,
    UnitOfWork,
    WriteConflict,
    from_dynamodb,
    to_dynamodb,
)


class _ConnectionChanged(WriteConflict):
    """The connection's version is not the one read."""


class _NewerChange(WriteConflict):
    """The topic's current change is another event's (a higher sequence) by now."""


def connection_key(connection_id: str) -> dict[str, str]:
    return {"pk": f"PUSH#CONN#{connection_id}", "sk": "CONNECTION"}


def watcher_key(topic: str, connection_id: str) -> dict[str, str]:
    return {"pk": f"PUSH#TOPIC#{topic}", "sk": f"WATCHER#{connection_id}"}


def current_key(topic: str, subject: str | None = None) -> dict[str, str]:
    return {"pk": f"PUSH#TOPIC#{topic}", "sk": "CURRENT" if subject is None else f"CURRENT#{subject}"}


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


class DynamoPushStore:
    """`chalicelib.push.PushStore` on the vod table."""

    def __init__(self, client: Any, table_name: str, source: str) -> None:
        self._client = client
        self._table = table_name
        self._source = source

    def add_connection(self, connection: Connection, *, connected_at: datetime, expires_at: datetime) -> None:
        # API Gateway never reuses a connection id, so a plain put: a retried $connect writes the same.
        self._client.put_item(
            TableName=self._table,
            Item=to_dynamodb(
                {
                    **connection_key(connection.connection_id),
                    ITEM_TYPE: "push_connection",
                    "connection_id": connection.connection_id,
                    "sub": connection.sub,
                    "staff": connection.staff,
                    "topics": list(connection.topics),
                    "version": connection.version,
                    "connected_at": connected_at.isoformat(),
                    "expires_at": _epoch(expires_at),
                }
            ),
        )

    def connection(self, connection_id: str) -> Connection | None:
        found = self._client.get_item(TableName=self._table, Key=to_dynamodb(connection_key(connection_id)), ConsistentRead=True)
        if "Item" not in found:
            return None
        item = from_dynamodb(found["Item"])
        return Connection(
            connection_id=connection_id,
            sub=str(item["sub"]),
            staff=bool(item["staff"]),
            topics=tuple(item.get("topics") or ()),
            version=int(item["version"]),
        )

    def set_topics(self, connection: Connection, topics: Sequence[str], *, expires_at: datetime) -> None:
        uow = UnitOfWork(self._client, self._table, self._source)
        uow.update(
            connection_key(connection.connection_id),
            "SET topics = :topics, version = :next",
            condition="version = :seen",
            conflict=_ConnectionChanged,
            values={":topics": list(topics), ":next": connection.version + 1, ":seen": connection.version},
        )
        for topic in set(topics) - set(connection.topics):
            uow.put(
                {
                    **watcher_key(topic, connection.connection_id),
                    ITEM_TYPE: "push_watcher",
                    "connection_id": connection.connection_id,
                    "sub": connection.sub,
                    "expires_at": _epoch(expires_at),
                }
            )
        for topic in set(connection.topics) - set(topics):
            uow.delete(watcher_key(topic, connection.connection_id))
        self._commit(uow, connection.connection_id)

    def remove_connection(self, connection: Connection) -> None:
        uow = UnitOfWork(self._client, self._table, self._source)
        uow.delete(
            connection_key(connection.connection_id),
            condition="version = :seen",
            conflict=_ConnectionChanged,
            values={":seen": connection.version},
        )
        for topic in connection.topics:
            uow.delete(watcher_key(topic, connection.connection_id))
        self._commit(uow, connection.connection_id)

    def watchers(self, topic: str) -> list[str]:
        found: list[str] = []
        for page in self._client.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :topic AND begins_with(sk, :watcher)",
            ExpressionAttributeValues=to_dynamodb({":topic": f"PUSH#TOPIC#{topic}", ":watcher": "WATCHER#"}),
            ProjectionExpression="connection_id",
        ):
            found += [str(from_dynamodb(item)["connection_id"]) for item in page["Items"]]
        return found

    def forget_watcher(self, topic: str, connection_id: str) -> None:
        self._client.delete_item(TableName=self._table, Key=to_dynamodb(watcher_key(topic, connection_id)))

    def current(self, topic: str, subject: str | None = None) -> CurrentChange | None:
        key = current_key(topic, subject)
        found = self._client.get_item(TableName=self._table, Key=to_dynamodb(key), ConsistentRead=True)
        if "Item" not in found:
            return None
        item = from_dynamodb(found["Item"])
        message = json.loads(item["message"]) if item.get("message") else None
        return CurrentChange(
            sequence=int(item["sequence"]), event_id=str(item["event_id"]), message=message, fanned_out=bool(item["fanned_out"])
        )

    def advance(self, topic: str, change: CurrentChange, *, expires_at: datetime, subject: str | None = None) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_dynamodb(
                    {
                        **current_key(topic, subject),
                        ITEM_TYPE: "push_current",
                        "topic": topic,
                        "subject": subject,
                        "sequence": change.sequence,
                        "event_id": change.event_id,
                        # As JSON text: the message goes out exactly as it came in (no number conversions).
                        "message": json.dumps(change.message) if change.message is not None else None,
                        "fanned_out": change.fanned_out,
                        "expires_at": _epoch(expires_at),
                    }
                ),
                ConditionExpression="attribute_not_exists(pk) OR #sequence < :sequence",
                ExpressionAttributeNames={"#sequence": "sequence"},
                ExpressionAttributeValues=to_dynamodb({":sequence": change.sequence}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def mark_fanned_out(self, topic: str, event: DomainEvent, subscriber: str, subject: str | None = None) -> None:
        uow = UnitOfWork(self._client, self._table, self._source)
        uow.update(
            current_key(topic, subject),
            "SET fanned_out = :true",
            condition="event_id = :event",
            conflict=_NewerChange,
            values={":true": True, ":event": event.event_id},
        )
        uow.mark_processed(subscriber, event)
        try:
            uow.commit()
        except AlreadyProcessed:
            pass
        except _NewerChange:
            self.mark_processed(event, subscriber)  # a newer change was recorded meanwhile: its fan-out marks it

    def mark_processed(self, event: DomainEvent, subscriber: str) -> None:
        uow = UnitOfWork(self._client, self._table, self._source)
        uow.mark_processed(subscriber, event)
        with contextlib.suppress(AlreadyProcessed):
            uow.commit()

    def _commit(self, uow: UnitOfWork, connection_id: str) -> None:
        try:
            uow.commit()
        except _ConnectionChanged:
            if self.connection(connection_id) is None:
                raise NotConnected(connection_id) from None
            raise ConnectionMoved(connection_id) from None
        except TransactionCancelled:
            # Another transaction was writing one of the items (TransactionConflict): read again.
            raise ConnectionMoved(connection_id) from None


class ApiGatewayConnections:
    """`chalicelib.push.Sender` through API Gateway's management API (`apigatewaymanagementapi`,
    its endpoint the WebSocket stage's https://<api>.execute-api.<region>.amazonaws.com/<stage>, or
    the embedded stack's gateway)."""

    def __init__(self, make_client: Callable[[], Any]) -> None:
        # Made on the first post: a show nobody watches needs no endpoint.
        self._make_client = make_client

    @cached_property
    def _client(self) -> Any:
        return self._make_client()

    def send(self, connection_id: str, message: Mapping[str, Any]) -> None:
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=json.dumps(message).encode())
        except ClientError as error:
            if error.response["Error"]["Code"] == "GoneException":
                raise ConnectionGone(connection_id) from None
            raise
