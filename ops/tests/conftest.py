"""Fixtures for the operator command's tests: the shop's whole topology provisioned once per module on
an in-process embedded AWS, under a stage of its own, and a `Target` on it as `shop --endpoint` makes.

Tests share the module's resources, so each one works on its own event ids, correlation ids and time
window, and drains the queues it reads."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from shop_contracts import TOPOLOGY
from shop_devstack.testing import embedded_aws
from shop_eventing.envelope import DomainEvent, EventData, new_event
from shop_eventing.outbox import UnitOfWork
from shop_infra.provision import provision
from shop_ops.target import Target, embedded


@dataclass
class Shop:
    """The provisioned shop, as the operator's command and as a producer's code see it."""

    target: Target

    def publish(
        self, producer: str, data: EventData, *, correlation_id: str, at: datetime, published: bool = True
    ) -> DomainEvent:
        """Commit `data` to the producer's outbox as its use cases do, marked published as the relay would."""
        event = new_event(data, producer=f"shop.{producer}", correlation_id=correlation_id, now=at)
        uow = UnitOfWork(self.dynamodb, self.target.naming.table(producer), source=f"shop.{producer}")
        uow.add_event(event)
        uow.commit()
        if published:
            self.dynamodb.update_item(
                TableName=self.target.naming.table(producer),
                Key={"pk": {"S": f"OUTBOX#{event.event_id}"}, "sk": {"S": "OUTBOX"}},
                UpdateExpression="SET published_at = :at REMOVE pending_pk, pending_sk",
                ExpressionAttributeValues={":at": {"S": at.isoformat()}},
            )
        return event

    def mark_handled(self, subscriber: str, event: DomainEvent) -> None:
        service = subscriber.partition(".")[0]
        uow = UnitOfWork(self.dynamodb, self.target.naming.table(service), source=f"shop.{service}")
        uow.mark_processed(subscriber, event)
        uow.commit()

    @property
    def dynamodb(self) -> Any:
        return self.target.client("dynamodb")

    @property
    def sqs(self) -> Any:
        return self.target.client("sqs")

    def queue_url(self, subscriber: str, *, dlq: bool = False) -> str:
        service, subscription = self.target.subscription(subscriber)
        name = (self.target.naming.dlq if dlq else self.target.naming.queue)(service.name, subscription.name)
        return str(self.sqs.get_queue_url(QueueName=name)["QueueUrl"])

    def drain(self, subscriber: str, *, dlq: bool = False) -> list[dict[str, Any]]:
        """Every message of the subscriber's queue (or DLQ), received and deleted."""
        url, found = self.queue_url(subscriber, dlq=dlq), []
        while batch := self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", []):
            found += batch
            for message in batch:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return found


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    with embedded_aws() as endpoint:
        target = embedded(endpoint, stage=f"t{uuid.uuid4().hex[:8]}")
        provision(TOPOLOGY, target.naming, target.session, endpoint_url=endpoint)
        yield Shop(target)
