"""GET /ops/status, the route every service gets from serve_ops_status: its own subscriptions and outbox,
for staff only, documented like every route."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest import mock

import boto3
import pytest
from chalice.app import Chalice
from chalice.test import Client

from shop_devstack.testing import bearer, embedded_aws
from shop_eventing.auth import SignIn
from shop_eventing.envelope import EventData, EventRegistry
from shop_eventing.http import use_one_error_shape
from shop_eventing.openapi import openapi_document
from shop_eventing.ops_api import OPS_STATUS_PATH, ops_status_body, serve_ops_status
from shop_eventing.queue_status import Depth, OutboxBacklog, ServiceStatus, SubscriptionStatus
from shop_eventing.runtime import ServiceRuntime
from shop_eventing.topology import EventRef, Naming, ServiceSpec, Subscription, Topology
from shop_infra.provision import Provisioned, provision

registry = EventRegistry()


@registry.register("Tick", 1)
class TickV1(EventData):
    n: int


PRODUCER = ServiceSpec(name="producer", publishes=(EventRef("Tick"),))
# Publishes and subscribes, like most services; the producer's queues are none of its business.
WORKER = ServiceSpec(
    name="worker",
    publishes=(EventRef("Tock"),),
    subscriptions=(Subscription(name="ticks", events=(EventRef("Tick"),)),),
)
AUDITOR = ServiceSpec(name="auditor", subscriptions=(Subscription(name="ticks", events=(EventRef("Tick"),)),))
TOPOLOGY = Topology(services=(PRODUCER, WORKER, AUDITOR))


@pytest.fixture
def shop(issuer: Any) -> Iterator[tuple[Naming, Provisioned]]:
    stage = f"t{uuid.uuid4().hex[:8]}"
    with embedded_aws(), mock.patch.dict(os.environ, {"SHOP_STAGE": stage}):
        naming = Naming(stage=stage)
        yield naming, provision(TOPOLOGY, naming)


def worker_api() -> Chalice:
    app = Chalice(app_name="worker")
    use_one_error_shape(app)
    serve_ops_status(app, ServiceRuntime(TOPOLOGY, "worker", registry), SignIn.from_environment(), groups={"staff"})
    return app


def get_status(issuer: Any, user: str | None) -> Any:
    with Client(worker_api()) as client:
        return client.http.get(OPS_STATUS_PATH, headers=bearer(issuer, user) if user else {})


def test_staff_see_the_services_own_subscriptions_dlqs_and_outbox(shop: tuple[Naming, Provisioned], issuer: Any) -> None:
    naming, provisioned = shop
    sqs = boto3.client("sqs")
    for _ in range(2):
        sqs.send_message(QueueUrl=provisioned.dlq_urls[("worker", "ticks")], MessageBody="{}")
    sqs.send_message(QueueUrl=provisioned.queue_urls[("worker", "ticks")], MessageBody="{}")
    sqs.send_message(QueueUrl=provisioned.dlq_urls[("auditor", "ticks")], MessageBody="{}")  # another service's

    response = get_status(issuer, "sam")

    assert response.status_code == 200, response.body
    body = json.loads(response.body)
    [ticks] = body["subscriptions"]
    assert body["service"] == "worker" and body["stage"] == naming.stage
    assert body["age_source"] == "dlq_peek", "the embedded AWS publishes no SQS metrics"
    assert ticks == {
        "subscription": "ticks",
        "subscriber": "worker.ticks",
        "queue": naming.queue("worker", "ticks"),
        "queue_depth": 1,
        "in_flight": 0,
        "oldest_age_seconds": None,
        "dlq": naming.dlq("worker", "ticks"),
        "dlq_depth": 2,
        "dlq_oldest_age_seconds": ticks["dlq_oldest_age_seconds"],
    }
    assert ticks["dlq_oldest_age_seconds"] >= 0
    assert body["outbox"] == {"pending": 0, "oldest_age_seconds": None}


@pytest.mark.parametrize(
    ("user", "status", "code"), [("ada", 403, "forbidden"), ("wes", 403, "forbidden"), (None, 401, "unauthorized")]
)
def test_anyone_but_staff_is_refused_in_the_one_error_shape(
    shop: tuple[Naming, Provisioned], issuer: Any, user: str | None, status: int, code: str
) -> None:
    response = get_status(issuer, user)

    assert response.status_code == status
    assert json.loads(response.body)["error"]["code"] == code


def test_the_route_is_documented_as_staff_only() -> None:
    document = openapi_document(worker_api(), title="worker", version="1")

    operation = document["paths"][OPS_STATUS_PATH]["get"]
    assert operation["security"] == [{"bearer": []}]
    assert {"200", "401", "403"} <= set(operation["responses"])
    assert "staff" in operation["description"]
    schema = document["components"]["schemas"]["OpsStatus"]
    assert {"service", "age_source", "subscriptions", "outbox"} <= set(schema["properties"])


def test_ages_are_seconds_and_a_dlqs_depth_counts_what_is_in_flight_too() -> None:
    measured = ServiceStatus(
        "worker",
        [SubscriptionStatus("worker.ticks", "q", Depth(4, 1), timedelta(minutes=2), "q-dlq", Depth(2, 1), timedelta(hours=1))],
        OutboxBacklog(3, timedelta(milliseconds=1500)),
    )

    body = ops_status_body(measured, stage="dev", age_source="cloudwatch").model_dump()

    [ticks] = body["subscriptions"]
    assert (ticks["queue_depth"], ticks["in_flight"], ticks["oldest_age_seconds"]) == (4, 1, 120.0)
    assert (ticks["dlq_depth"], ticks["dlq_oldest_age_seconds"]) == (3, 3600.0)
    assert body["outbox"] == {"pending": 3, "oldest_age_seconds": 1.5}
    assert (body["stage"], body["age_source"]) == ("dev", "cloudwatch")
