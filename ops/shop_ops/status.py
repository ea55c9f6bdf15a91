"""`shop status`: per service, each subscription's queue and DLQ (depth, oldest message) and the
outbox backlog (items not yet published, and how long the oldest has waited). The measurement is
shop_eventing.queue_status's, the very one each service reports at GET /ops/status."""

from __future__ import annotations

from shop_eventing.queue_status import OutboxBacklog, ServiceStatus, SubscriptionStatus, service_status
from shop_eventing.queue_status import outbox_backlog as _outbox_backlog
from shop_ops.queues import Clock, Queues, utcnow
from shop_ops.target import Target

__all__ = ["OutboxBacklog", "ServiceStatus", "SubscriptionStatus", "outbox_backlog", "status"]


def status(target: Target, *, clock: Clock = utcnow) -> list[ServiceStatus]:
    queues = Queues(target)
    dynamodb = target.client("dynamodb")
    return [service_status(service, target.naming, queues, dynamodb, clock=clock) for service in target.topology.services]


def outbox_backlog(target: Target, service: str, *, clock: Clock = utcnow) -> OutboxBacklog:
    return _outbox_backlog(target.client("dynamodb"), target.naming.table(service), clock=clock)
