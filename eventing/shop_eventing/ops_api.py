"""`GET /ops/status` on every service: what `shop status` prints for the service, for the staff
console, which can only call the services' HTTP APIs.

    serve_ops_status(app, runtime, sign_in, groups=STAFF)

The route reports the service's own subscriptions (queue, in flight, DLQ, oldest message ages) and its
outbox backlog, measured by shop_eventing.queue_status as the operator's command measures them. A
service reads only its own queues and table, so each stays deployable alone and its IAM policy names
only its own resources (deploy/policies.py); the console asks each service for its part.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from typing import Any, Literal

from chalice.app import Chalice
from pydantic import BaseModel, Field

from shop_eventing.auth import SignIn
from shop_eventing.http import json_api, json_response
from shop_eventing.openapi import operation
from shop_eventing.queue_status import Clock, Queues, ServiceStatus, service_status, utcnow
from shop_eventing.runtime import ServiceRuntime

OPS_STATUS_PATH = "/ops/status"
AgeSource = Literal["cloudwatch", "dlq_peek"]


class SubscriptionQueues(BaseModel):
    subscription: str = Field(description="The subscription's name in the topology, e.g. order-emails.")
    subscriber: str = Field(description="service.subscription: the name `shop dlq` and `shop replay` take.")
    queue: str = Field(description="The SQS queue's name.")
    queue_depth: int = Field(ge=0, description="Messages waiting (ApproximateNumberOfMessages).")
    in_flight: int = Field(ge=0, description="Messages being handled now (ApproximateNumberOfMessagesNotVisible).")
    oldest_age_seconds: float | None = Field(
        description="Age of the queue's oldest message; null when empty or not measurable (see age_source)."
    )
    dlq: str = Field(description="The dead-letter queue's name.")
    dlq_depth: int = Field(ge=0, description="Messages in the DLQ, visible or not: events no retry could handle.")
    dlq_oldest_age_seconds: float | None = Field(
        description="Age of the DLQ's oldest message; null when empty or not measurable."
    )


class OutboxStatus(BaseModel):
    pending: int = Field(ge=0, description="Outbox items the relay has not published yet.")
    oldest_age_seconds: float | None = Field(description="How long the oldest of them has waited; null when none.")


class OpsStatus(BaseModel):
    service: str
    stage: str
    age_source: AgeSource = Field(
        description="Where the oldest-message ages come from: CloudWatch's ApproximateAgeOfOldestMessage (AWS), or a "
        "peek of each DLQ (the embedded stack: moto publishes no SQS metrics, and a live queue is never peeked, so its "
        "age is null there)."
    )
    subscriptions: list[SubscriptionQueues]
    outbox: OutboxStatus | None = Field(description="null for a service that publishes no events.")


def _seconds(age: timedelta | None) -> float | None:
    return None if age is None else round(age.total_seconds(), 3)


def ops_status_body(status: ServiceStatus, *, stage: str, age_source: AgeSource) -> OpsStatus:
    outbox = status.outbox
    return OpsStatus(
        service=status.service,
        stage=stage,
        age_source=age_source,
        subscriptions=[
            SubscriptionQueues(
                subscription=s.subscription,
                subscriber=s.subscriber,
                queue=s.queue_name,
                queue_depth=s.queue.visible,
                in_flight=s.queue.in_flight,
                oldest_age_seconds=_seconds(s.queue_oldest),
                dlq=s.dlq_name,
                dlq_depth=s.dlq.total,
                dlq_oldest_age_seconds=_seconds(s.dlq_oldest),
            )
            for s in status.subscriptions
        ],
        outbox=None if outbox is None else OutboxStatus(pending=outbox.pending, oldest_age_seconds=_seconds(outbox.oldest)),
    )


def serve_ops_status(
    app: Chalice, runtime: ServiceRuntime, sign_in: SignIn, *, groups: Collection[str], clock: Clock = utcnow
) -> None:
    """Add `GET /ops/status` to `app`, for callers in `groups` (the staff)."""
    # Built on first use (an API's clients are made lazily) and kept: its queue URLs are resolved once per process.
    reader: list[Queues] = []

    @app.route(OPS_STATUS_PATH, methods=["GET"])
    @operation(
        "This service's subscriptions and outbox backlog",
        responses={200: OpsStatus},
        description="What `shop status` prints for this service: per subscription its queue (waiting, in flight, oldest "
        "message) and DLQ, and the outbox's unpublished events. Read live from SQS, CloudWatch and the service's table.",
    )
    @json_api
    @sign_in.required(app, groups=groups)
    def ops_status() -> Any:
        if not reader:
            reader.append(Queues(runtime.sqs, cloudwatch=runtime.cloudwatch))
        queues = reader[0]
        status = service_status(runtime.service, runtime.naming, queues, runtime.dynamodb, clock=clock)
        source: AgeSource = "cloudwatch" if queues.ages_from_metrics else "dlq_peek"
        return json_response(ops_status_body(status, stage=runtime.naming.stage, age_source=source))
