"""Create the whole topology against any endpoint (moto locally, an AWS account in a platform step).

Idempotent: it compares what exists with what the topology asks for and only creates or updates the
difference; the returned list names every change, so a second run returns an empty list.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

from shop_eventing.topology import Naming, ServiceSpec, TableSpec, Topology, rule_pattern

log = logging.getLogger(__name__)

_TARGET_ID = "subscriber-queue"


@dataclass
class Provisioned:
    """What one provisioning run found or made: resource names and ARNs, and the changes it made."""

    bus_arn: str = ""
    table_stream_arns: dict[str, str] = field(default_factory=dict)
    queue_urls: dict[tuple[str, str], str] = field(default_factory=dict)
    dlq_urls: dict[tuple[str, str], str] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)


def provision(
    topology: Topology,
    naming: Naming,
    session: boto3.Session | None = None,
    *,
    endpoint_url: str | None = None,
    visibility_timeout_seconds: int | None = None,
) -> Provisioned:
    """Create what is missing and correct what drifted. `visibility_timeout_seconds` overrides every
    subscription's value (the embedded stack shortens it so retries are quick to watch)."""
    session = session or boto3.Session()
    result = Provisioned()
    _Provisioner(session, naming, result, endpoint_url, visibility_timeout_seconds).run(topology)
    for change in result.changes:
        log.info("provisioned: %s", change)
    return result


class _Provisioner:
    def __init__(
        self,
        session: boto3.Session,
        naming: Naming,
        result: Provisioned,
        endpoint_url: str | None,
        visibility_timeout_seconds: int | None,
    ) -> None:
        self.visibility_timeout_seconds = visibility_timeout_seconds
        self.events = session.client("events", endpoint_url=endpoint_url)
        self.dynamodb = session.client("dynamodb", endpoint_url=endpoint_url)
        self.sqs = session.client("sqs", endpoint_url=endpoint_url)
        self.naming = naming
        self.result = result

    def run(self, topology: Topology) -> None:
        self.result.bus_arn = self._bus()
        self._archive()
        for service in topology.services:
            self.result.table_stream_arns[service.name] = self._table(self.naming.table(service.name), service.table)
        for service, subscription in topology.subscriptions():
            dlq_url, dlq_arn = self._queue(
                self.naming.dlq(service.name, subscription.name),
                {
                    # The DLQ keeps failures long enough for a human to look and redrive.
                    "MessageRetentionPeriod": str(14 * 24 * 3600),
                },
            )
            queue_url, queue_arn = self._queue(
                self.naming.queue(service.name, subscription.name),
                {
                    "VisibilityTimeout": str(
                        subscription.visibility_timeout_seconds
                        if self.visibility_timeout_seconds is None
                        else self.visibility_timeout_seconds
                    ),
                    "RedrivePolicy": json.dumps(
                        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": subscription.max_receive_count},
                        sort_keys=True,
                    ),
                },
            )
            self.result.queue_urls[(service.name, subscription.name)] = queue_url
            self.result.dlq_urls[(service.name, subscription.name)] = dlq_url
            rule_arns = [
                self._rule(
                    self.naming.rule(service.name, subscription.name, ref.event_type),
                    rule_pattern(topology.producer_of(ref.event_type), ref),
                    queue_arn,
                )
                for ref in subscription.events
            ]
            self._queue_policy(queue_url, queue_arn, rule_arns)

    def _bus(self) -> str:
        name = self.naming.bus
        try:
            return str(self.events.describe_event_bus(Name=name)["Arn"])
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
        self.result.changes.append(f"created event bus {name}")
        return str(self.events.create_event_bus(Name=name)["EventBusArn"])

    def _archive(self) -> None:
        name = self.naming.archive
        try:
            self.events.describe_archive(ArchiveName=name)
            return
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
        self.events.create_archive(ArchiveName=name, EventSourceArn=self.result.bus_arn, RetentionDays=0)
        self.result.changes.append(f"created archive {name}")

    def _table(self, name: str, spec: TableSpec) -> str:
        try:
            table = self.dynamodb.describe_table(TableName=name)["Table"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            table = self._create_table(name, spec)
        self._indexes(name, spec, table)
        stream = table.get("StreamSpecification") or {}
        if not stream.get("StreamEnabled") or stream.get("StreamViewType") != spec.stream_view_type:
            # Without its stream the outbox relay is never fed: events would pile up unpublished.
            if stream.get("StreamEnabled"):  # DynamoDB changes a view type only through off → on
                self.dynamodb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
                self.dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
            self.dynamodb.update_table(
                TableName=name, StreamSpecification={"StreamEnabled": True, "StreamViewType": spec.stream_view_type}
            )
            self.dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
            table = self.dynamodb.describe_table(TableName=name)["Table"]
            self.result.changes.append(f"enabled stream on {name}")
        ttl = self.dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if ttl.get("AttributeName") != spec.ttl_attribute or ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            self.dynamodb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute}
            )
            self.result.changes.append(f"enabled TTL on {name}.{spec.ttl_attribute}")
        return str(table["LatestStreamArn"])

    def _indexes(self, name: str, spec: TableSpec, table: dict[str, Any]) -> None:
        """Add the indexes a table made by an older topology lacks (DynamoDB creates one per UpdateTable)."""
        existing = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
        for index, pk, sk in spec.indexes:
            if index in existing:
                continue
            self.dynamodb.update_table(
                TableName=name,
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in (pk, sk)],
                GlobalSecondaryIndexUpdates=[
                    {
                        "Create": {
                            "IndexName": index,
                            "KeySchema": [{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}],
                            "Projection": {"ProjectionType": "ALL"},
                        }
                    }
                ],
            )
            self._wait_for_indexes(name)
            self.result.changes.append(f"created index {index} on {name}")

    def _wait_for_indexes(self, name: str, timeout_seconds: float = 3600) -> None:
        # The table is ACTIVE again at once, but DynamoDB takes one index creation at a time and
        # refuses the next while one is still CREATING (backfilling the existing items).
        deadline = time.monotonic() + timeout_seconds
        while True:
            indexes = self.dynamodb.describe_table(TableName=name)["Table"].get("GlobalSecondaryIndexes", [])
            if all(index.get("IndexStatus", "ACTIVE") == "ACTIVE" for index in indexes):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"indexes of {name} still not ACTIVE after {timeout_seconds}s")
            time.sleep(5)

    def _create_table(self, name: str, spec: TableSpec) -> dict[str, Any]:
        key_names = {spec.partition_key, spec.sort_key}
        for _, pk, sk in spec.indexes:
            key_names |= {pk, sk}
        self.dynamodb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[
                {"AttributeName": spec.partition_key, "KeyType": "HASH"},
                {"AttributeName": spec.sort_key, "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in sorted(key_names)],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": index,
                    "KeySchema": [{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
                for index, pk, sk in spec.indexes
            ],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": spec.stream_view_type},
        )
        self.dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
        self.result.changes.append(f"created table {name}")
        return dict(self.dynamodb.describe_table(TableName=name)["Table"])

    def _queue(self, name: str, attributes: dict[str, str]) -> tuple[str, str]:
        try:
            url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
                raise
            url = self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            self.result.changes.append(f"created queue {name}")
        current = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        stale = {k: v for k, v in attributes.items() if not _same_attribute(current.get(k), v)}
        if stale:
            self.sqs.set_queue_attributes(QueueUrl=url, Attributes=stale)
            self.result.changes.append(f"updated queue {name}: {sorted(stale)}")
        return str(url), str(current["QueueArn"])

    def _rule(self, name: str, pattern: dict[str, Any], queue_arn: str) -> str:
        bus = self.naming.bus
        wanted = json.dumps(pattern, sort_keys=True)
        try:
            rule = self.events.describe_rule(Name=name, EventBusName=bus)
            unchanged = json.loads(rule["EventPattern"]) == pattern and rule.get("State") == "ENABLED"
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            unchanged = False
        if unchanged:
            rule_arn = str(rule["Arn"])
        else:
            rule_arn = str(self.events.put_rule(Name=name, EventBusName=bus, EventPattern=wanted, State="ENABLED")["RuleArn"])
            self.result.changes.append(f"put rule {name}")
        targets = self.events.list_targets_by_rule(Rule=name, EventBusName=bus)["Targets"]
        # A rule feeds its subscription's queue and nothing else: anything more would leak its events.
        foreign = [t["Id"] for t in targets if t["Id"] != _TARGET_ID or t["Arn"] != queue_arn]
        if foreign:
            self.events.remove_targets(Rule=name, EventBusName=bus, Ids=foreign)
            self.result.changes.append(f"removed targets {sorted(foreign)} from rule {name}")
        if not any(t["Id"] == _TARGET_ID and t["Arn"] == queue_arn for t in targets):
            self.events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": _TARGET_ID, "Arn": queue_arn}])
            self.result.changes.append(f"targeted rule {name} at its queue")
        return rule_arn

    def _queue_policy(self, queue_url: str, queue_arn: str, rule_arns: list[str]) -> None:
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OnlyThisSubscriptionsRules",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": sorted(rule_arns)}},
                }
            ],
        }
        current = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"]).get("Attributes", {})
        if _same_attribute(current.get("Policy"), json.dumps(policy)):
            return
        self.sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
        self.result.changes.append(f"set policy on {queue_arn.rsplit(':', 1)[-1]}")


def _same_attribute(current: str | None, wanted: str) -> bool:
    if current is None:
        return False
    try:
        return bool(json.loads(current) == json.loads(wanted))
    except ValueError:
        return current == wanted


def describe_service(service: ServiceSpec, naming: Naming) -> dict[str, Any]:
    """A plain summary of one service's resources, for ops output and docs."""
    return {
        "table": naming.table(service.name),
        "source": service.source,
        "subscriptions": {
            s.name: {"queue": naming.queue(service.name, s.name), "dlq": naming.dlq(service.name, s.name)}
            for s in service.subscriptions
        },
    }
