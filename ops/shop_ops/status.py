"""`shop status`: per service, each subscription's queue and DLQ (depth, oldest message) and the
outbox backlog (items not yet published, and how long the oldest has waited)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shop_eventing.outbox import PENDING_INDEX, PENDING_PARTITION, from_dynamodb
from shop_ops.queues import Clock, Depth, Queues, utcnow
from shop_ops.target import Target, subscriber_id


@dataclass(frozen=True)
class SubscriptionStatus:
    subscriber: str
    queue: Depth
    queue_oldest: timedelta | None  # None locally (a live queue is never peeked) or when empty
    dlq: Depth
    dlq_oldest: timedelta | None


@dataclass(frozen=True)
class OutboxBacklog:
    pending: int
    oldest: timedelta | None


@dataclass
class ServiceStatus:
    service: str
    subscriptions: list[SubscriptionStatus] = field(default_factory=list)
    outbox: OutboxBacklog | None = None  # None for a service that publishes nothing


def status(target: Target, *, clock: Clock = utcnow) -> list[ServiceStatus]:
    queues = Queues(target)
    found = []
    for service in target.topology.services:
        current = ServiceStatus(service.name)
        for subscription in service.subscriptions:
            queue = target.naming.queue(service.name, subscription.name)
            dlq = target.naming.dlq(service.name, subscription.name)
            queue_depth, dlq_depth = queues.depth(queue), queues.depth(dlq)
            current.subscriptions.append(
                SubscriptionStatus(
                    subscriber_id(service, subscription),
                    queue_depth,
                    queues.oldest_age(queue, peekable=False, depth=queue_depth.total, clock=clock),
                    dlq_depth,
                    queues.oldest_age(dlq, peekable=True, depth=dlq_depth.total, clock=clock),
                )
            )
        if service.publishes:
            current.outbox = outbox_backlog(target, service.name, clock=clock)
        found.append(current)
    return found


def outbox_backlog(target: Target, service: str, *, clock: Clock = utcnow) -> OutboxBacklog:
    """Read from the sparse index of unpublished items: empty (and free) when the relay keeps up."""
    dynamodb = target.client("dynamodb")
    query = {
        "TableName": target.naming.table(service),
        "IndexName": PENDING_INDEX,
        "KeyConditionExpression": "pending_pk = :pending",
        "ExpressionAttributeValues": {":pending": {"S": PENDING_PARTITION}},
    }
    pending = sum(page["Count"] for page in dynamodb.get_paginator("query").paginate(**query, Select="COUNT"))
    if not pending:
        return OutboxBacklog(0, None)
    [oldest] = dynamodb.query(**query, Limit=1, ScanIndexForward=True)["Items"] or [None]
    if oldest is None:
        return OutboxBacklog(pending, None)
    return OutboxBacklog(pending, clock() - datetime.fromisoformat(from_dynamodb(oldest)["occurred_at"]))
