"""The declarative description of the shop's wiring: tables, publications, subscriptions.

This module holds only types and naming rules; the shop's own topology is data in
`shop_contracts.topology`. Provisioning (local) and packaging (AWS) both read that one description,
so a reader finds the order flow there rather than by grepping handlers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EventRef:
    """An event type and the major versions a publisher emits or a subscriber accepts."""

    event_type: str
    versions: tuple[int, ...] = (1,)


@dataclass(frozen=True)
class Subscription:
    """One subscriber: its own queue (with DLQ) fed by one EventBridge rule per event type."""

    name: str
    events: tuple[EventRef, ...]
    batch_size: int = 10
    visibility_timeout_seconds: int = 30
    # After this many failed receives SQS moves the message to the DLQ.
    max_receive_count: int = 5

    def accepts(self, event_type: str, schema_version: int) -> bool:
        return any(ref.event_type == event_type and schema_version in ref.versions for ref in self.events)


@dataclass(frozen=True)
class TableSpec:
    """Every service owns one single-table-design table: pk/sk, a general index, the sparse index of
    unpublished outbox items (shop_eventing.outbox.PENDING_INDEX), a stream, a TTL."""

    partition_key: str = "pk"
    sort_key: str = "sk"
    indexes: tuple[tuple[str, str, str], ...] = (("gsi1", "gsi1pk", "gsi1sk"), ("outbox-pending", "pending_pk", "pending_sk"))
    stream_view_type: str = "NEW_AND_OLD_IMAGES"
    ttl_attribute: str = "expires_at"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    publishes: tuple[EventRef, ...] = ()
    subscriptions: tuple[Subscription, ...] = ()
    table: TableSpec = field(default_factory=TableSpec)

    @property
    def source(self) -> str:
        """EventBridge `Source` of everything this service publishes."""
        return f"shop.{self.name}"

    def subscription(self, name: str) -> Subscription:
        for subscription in self.subscriptions:
            if subscription.name == name:
                return subscription
        raise KeyError(f"service {self.name} has no subscription {name!r}")


def subscriber_id(service: ServiceSpec, subscription: Subscription) -> str:
    """A subscriber's name everywhere: its processed-markers, failure records, metrics and the operator's
    commands (`service.subscription`, e.g. notify.order-emails)."""
    return f"{service.name}.{subscription.name}"


@dataclass(frozen=True)
class Topology:
    services: tuple[ServiceSpec, ...]

    def __post_init__(self) -> None:
        self.validate()

    def service(self, name: str) -> ServiceSpec:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(f"no service {name!r} in the topology")

    def producer_of(self, event_type: str) -> ServiceSpec:
        producers = [s for s in self.services if any(ref.event_type == event_type for ref in s.publishes)]
        if len(producers) != 1:
            raise KeyError(f"{event_type} must have exactly one producer, has {[p.name for p in producers]}")
        return producers[0]

    def subscriptions(self) -> Iterator[tuple[ServiceSpec, Subscription]]:
        for service in self.services:
            for subscription in service.subscriptions:
                yield service, subscription

    def validate(self) -> None:
        """Every subscribed (type, version) is published by exactly one service; names are unique."""
        names = [s.name for s in self.services]
        if len(names) != len(set(names)):
            raise ValueError(f"service names repeat: {names}")
        for service, subscription in self.subscriptions():
            for ref in subscription.events:
                producer = self.producer_of(ref.event_type)
                published = next(p for p in producer.publishes if p.event_type == ref.event_type)
                missing = set(ref.versions) - set(published.versions)
                if missing:
                    raise ValueError(
                        f"{service.name}/{subscription.name} subscribes to {ref.event_type} "
                        f"v{sorted(missing)} which {producer.name} does not publish"
                    )
        for service in self.services:
            subscription_names = [s.name for s in service.subscriptions]
            if len(subscription_names) != len(set(subscription_names)):
                raise ValueError(f"{service.name} repeats a subscription name: {subscription_names}")


@dataclass(frozen=True)
class Naming:
    """AWS resource names for one stage. Every name is derived here and nowhere else."""

    stage: str
    prefix: str = "shop"

    @property
    def bus(self) -> str:
        return f"{self.prefix}-{self.stage}"

    @property
    def archive(self) -> str:
        return f"{self.prefix}-{self.stage}-archive"

    def table(self, service: str) -> str:
        return f"{self.prefix}-{self.stage}-{service}"

    def queue(self, service: str, subscription: str) -> str:
        return f"{self.prefix}-{self.stage}-{service}-{subscription}"

    def dlq(self, service: str, subscription: str) -> str:
        return f"{self.queue(service, subscription)}-dlq"

    def bucket(self, service: str, purpose: str) -> str:
        """An S3 bucket a service owns, e.g. fulfillment's carrier lists."""
        return f"{self.prefix}-{self.stage}-{service}-{purpose}"

    def log_group(self, service: str) -> str:
        """Every function of the service logs here (Lambda's LoggingConfig), whatever CloudFormation names it."""
        return f"/aws/lambda/{self.prefix}-{self.stage}-{service}"

    def rule(self, service: str, subscription: str, event_type: str) -> str:
        name = f"{self.queue(service, subscription)}-{event_type}"
        if len(name) <= 64:  # EventBridge's limit on rule names
            return name
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        return f"{name[:55]}-{digest}"


def rule_pattern(producer: ServiceSpec, ref: EventRef) -> dict[str, Any]:
    """Match one event type from its one producer, only in the major versions the subscriber declared."""
    return {
        "source": [producer.source],
        "detail-type": [ref.event_type],
        "detail": {"metadata": {"schema_version": list(ref.versions)}},
    }
