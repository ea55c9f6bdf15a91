"""Fixtures for the devstack tests: a fresh embedded AWS with one small subscription provisioned."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from shop_devstack.testing import embedded_aws
from shop_eventing.topology import EventRef, Naming, ServiceSpec, Subscription, Topology
from shop_infra.provision import provision
from shop_infra.resources import LocalOverrides

# Provisioned with a 1 s visibility timeout: a failed message is visible again after about a second.
VISIBILITY_TIMEOUT_SECONDS = 1
MAX_RECEIVE_COUNT = 2

PING_TOPOLOGY = Topology(
    services=(
        ServiceSpec(name="producer", publishes=(EventRef("Ping"),)),
        ServiceSpec(
            name="consumer",
            subscriptions=(Subscription(name="pings", events=(EventRef("Ping"),), max_receive_count=MAX_RECEIVE_COUNT),),
        ),
    )
)


@dataclass
class PingStack:
    endpoint: str
    sqs: Any
    dynamodb: Any
    streams: Any
    queue_url: str
    queue_arn: str
    dlq_url: str
    table: str
    stream_arn: str
    naming: Naming
    topology: Topology = PING_TOPOLOGY
    max_receive_count: int = MAX_RECEIVE_COUNT

    def depth(self, queue_url: str | None = None) -> tuple[int, int]:
        """(visible, in flight) messages of a queue (the subscription's queue by default)."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue_url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


@pytest.fixture
def ping_stack() -> Iterator[PingStack]:
    with embedded_aws() as endpoint:
        # A stage of its own: moto's backends are process-wide, so a new server still holds what
        # earlier tests in this process made (test_embedded_aws_starts_empty_every_time).
        naming = Naming(stage=f"t{uuid.uuid4().hex[:8]}")
        provisioned = provision(
            PING_TOPOLOGY, naming, overrides=LocalOverrides(visibility_timeout_seconds=VISIBILITY_TIMEOUT_SECONDS)
        )
        sqs = boto3.client("sqs")
        queue_url = provisioned.queue_urls[("consumer", "pings")]
        yield PingStack(
            endpoint=endpoint,
            sqs=sqs,
            dynamodb=boto3.client("dynamodb"),
            streams=boto3.client("dynamodbstreams"),
            queue_url=queue_url,
            queue_arn=sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"],
            dlq_url=provisioned.dlq_urls[("consumer", "pings")],
            table=naming.table("consumer"),
            stream_arn=provisioned.table_stream_arns["consumer"],
            naming=naming,
        )


@pytest.fixture
def create_table() -> Callable[..., str]:
    """Creates a fresh table keyed by one string, `pk`, through a boto3 DynamoDB client of the test's
    embedded AWS, and returns its name (`prefix` and a random suffix: moto's tables outlive a server).
    `stream=True` gives it a NEW_IMAGE stream, as the shop's tables have."""

    def create(dynamodb: Any, prefix: str, *, stream: bool = False) -> str:
        table = f"{prefix}-{uuid.uuid4().hex[:8]}"
        streamed = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}} if stream else {}
        dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            **streamed,
        )
        return table

    return create
