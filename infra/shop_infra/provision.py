"""Apply the resource model to any endpoint (moto locally, an AWS account without CloudFormation).

`apply` takes one stack's CloudFormation resource dicts (shop_infra.resources) and makes the live
resources match them through boto3: it creates what is missing and corrects what drifted (a foreign
rule target, a disabled rule, a changed visibility timeout or redrive policy, a missing index…). It
resolves the Ref and Fn::GetAtt the model uses to the names and ARNs it found or made. Idempotent:
the returned changes name everything it did, so a second run returns an empty list.

It refuses a resource type or property it does not know how to apply: a property added to the model
then fails here instead of existing on AWS only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

from shop_eventing.topology import Naming, Topology
from shop_infra.resources import (
    AWS_ONLY_RESOURCE_TYPES,
    EVENT_BUS_ID,
    NO_OVERRIDES,
    TABLE_ID,
    LocalOverrides,
    Resources,
    dlq_id,
    model,
    queue_id,
)

log = logging.getLogger(__name__)

SUPPORTED: dict[str, frozenset[str]] = {
    "AWS::Events::EventBus": frozenset({"Name"}),
    "AWS::Events::Archive": frozenset({"ArchiveName", "SourceArn", "Description", "RetentionDays"}),
    "AWS::DynamoDB::Table": frozenset(
        {
            "TableName",
            "BillingMode",
            "AttributeDefinitions",
            "KeySchema",
            "GlobalSecondaryIndexes",
            "StreamSpecification",
            "TimeToLiveSpecification",
            "PointInTimeRecoverySpecification",
        }
    ),
    "AWS::SQS::Queue": frozenset({"QueueName", "VisibilityTimeout", "MessageRetentionPeriod", "RedrivePolicy"}),
    "AWS::Events::Rule": frozenset({"Name", "EventBusName", "EventPattern", "State", "Targets"}),
    "AWS::SQS::QueuePolicy": frozenset({"Queues", "PolicyDocument"}),
    "AWS::S3::Bucket": frozenset(
        {"BucketName", "BucketEncryption", "PublicAccessBlockConfiguration", "VersioningConfiguration", "CorsConfiguration"}
    ),
}


@dataclass
class Applied:
    """What one stack's resources resolve to, as CloudFormation would answer: per logical id its
    `Ref` and its `Fn::GetAtt` attributes; and the changes the run made."""

    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)


class Clients:
    """The boto3 clients the applier needs, for one session and endpoint."""

    def __init__(self, session: boto3.Session | None = None, endpoint_url: str | None = None) -> None:
        session = session or boto3.Session()
        self.events = session.client("events", endpoint_url=endpoint_url)
        self.dynamodb = session.client("dynamodb", endpoint_url=endpoint_url)
        self.sqs = session.client("sqs", endpoint_url=endpoint_url)
        self.s3 = session.client("s3", endpoint_url=endpoint_url)


def apply(resources: Resources, clients: Clients) -> Applied:
    """Make the live resources match one stack's `resources`, each after those it references. Resources
    the model declares for AWS alone (resources.AWS_ONLY_RESOURCE_TYPES, each with its reason) are left out."""
    resources = {logical_id: r for logical_id, r in resources.items() if r["Type"] not in AWS_ONLY_RESOURCE_TYPES}
    applied = Applied()
    applier = _Applier(clients, applied)
    appliers: dict[str, Callable[[str, dict[str, Any]], None]] = {
        "AWS::Events::EventBus": applier.event_bus,
        "AWS::Events::Archive": applier.archive,
        "AWS::DynamoDB::Table": applier.table,
        "AWS::SQS::Queue": applier.queue,
        "AWS::Events::Rule": applier.rule,
        "AWS::SQS::QueuePolicy": applier.queue_policy,
        "AWS::S3::Bucket": applier.bucket,
    }
    # All refused before the first call, so a stack is never left half applied for this reason.
    for logical_id, resource in resources.items():
        kind = resource["Type"]
        unknown = set(resource.get("Properties", {})) - SUPPORTED.get(kind, frozenset())
        if kind not in appliers or unknown:
            raise ValueError(f"provision cannot apply {logical_id} ({kind}): unsupported {sorted(unknown) or 'type'}")
    for logical_id in _dependency_order(resources):
        resource = resources[logical_id]
        appliers[resource["Type"]](logical_id, _resolve(resource.get("Properties", {}), applied, logical_id))
    for change in applied.changes:
        log.info("provisioned: %s", change)
    return applied


def _references(node: Any) -> set[str]:
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            return {node["Ref"]}
        if set(node) == {"Fn::GetAtt"}:
            return {node["Fn::GetAtt"][0]}
        return set().union(*(_references(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_references(item) for item in node))
    return set()


def _dependency_order(resources: Resources) -> list[str]:
    """Logical ids, each after the ones it references; otherwise in the model's order."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(logical_id: str) -> None:
        if logical_id in ordered:
            return
        if logical_id in visiting or logical_id not in resources:
            raise ValueError(f"{logical_id} is referenced in a cycle or is not in this stack")
        visiting.add(logical_id)
        for dependency in sorted(_references(resources[logical_id].get("Properties", {}))):
            visit(dependency)
        ordered.append(logical_id)

    for logical_id in resources:
        visit(logical_id)
    return ordered


def _resolve(node: Any, applied: Applied, where: str) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            return applied.refs[node["Ref"]]
        if set(node) == {"Fn::GetAtt"}:
            target, attribute = node["Fn::GetAtt"]
            return applied.attributes[target][attribute]
        if any(key.startswith("Fn::") for key in node):
            raise ValueError(f"{where}: provision resolves only Ref and Fn::GetAtt, not {sorted(node)}")
        return {key: _resolve(value, applied, where) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(item, applied, where) for item in node]
    return node


def _missing(error: ClientError, *codes: str) -> bool:
    return error.response["Error"]["Code"] in codes


class _Applier:
    def __init__(self, clients: Clients, applied: Applied) -> None:
        self.events = clients.events
        self.dynamodb = clients.dynamodb
        self.sqs = clients.sqs
        self.s3 = clients.s3
        self.applied = applied
        self.changes = applied.changes

    def _found(self, logical_id: str, ref: str, **attributes: str) -> None:
        self.applied.refs[logical_id] = ref
        self.applied.attributes[logical_id] = attributes

    # -- EventBridge bus and archive -----------------------------------------------------------
    def event_bus(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props["Name"]
        try:
            arn = str(self.events.describe_event_bus(Name=name)["Arn"])
        except ClientError as error:
            if not _missing(error, "ResourceNotFoundException"):
                raise
            arn = str(self.events.create_event_bus(Name=name)["EventBusArn"])
            self.changes.append(f"created event bus {name}")
        self._found(logical_id, name, Arn=arn, Name=name)

    def archive(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props["ArchiveName"]
        wanted = {"Description": props.get("Description", ""), "RetentionDays": props.get("RetentionDays", 0)}
        try:
            current = self.events.describe_archive(ArchiveName=name)
        except ClientError as error:
            if not _missing(error, "ResourceNotFoundException"):
                raise
            current = None
        if current is None:
            self.events.create_archive(ArchiveName=name, EventSourceArn=props["SourceArn"], **wanted)
            self.changes.append(f"created archive {name}")
            current = self.events.describe_archive(ArchiveName=name)
        elif {key: current.get(key, "" if key == "Description" else 0) for key in wanted} != wanted:
            self.events.update_archive(ArchiveName=name, **wanted)
            self.changes.append(f"updated archive {name}")
        self._found(logical_id, name, Arn=str(current["ArchiveArn"]))

    # -- DynamoDB --------------------------------------------------------------------------------
    def table(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props["TableName"]
        try:
            table = self.dynamodb.describe_table(TableName=name)["Table"]
        except ClientError as error:
            if not _missing(error, "ResourceNotFoundException"):
                raise
            table = self._create_table(props)
        self._indexes(props, table)
        table = self._stream(props, table)
        self._ttl(props)
        self._point_in_time_recovery(props)
        self._found(logical_id, name, Arn=str(table["TableArn"]), StreamArn=str(table.get("LatestStreamArn", "")))

    def _create_table(self, props: dict[str, Any]) -> dict[str, Any]:
        name = props["TableName"]
        stream = props.get("StreamSpecification")
        self.dynamodb.create_table(
            TableName=name,
            BillingMode=props["BillingMode"],
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            **({"GlobalSecondaryIndexes": props["GlobalSecondaryIndexes"]} if props.get("GlobalSecondaryIndexes") else {}),
            **({"StreamSpecification": {"StreamEnabled": True, **stream}} if stream else {}),
        )
        self.dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
        self.changes.append(f"created table {name}")
        return dict(self.dynamodb.describe_table(TableName=name)["Table"])

    def _indexes(self, props: dict[str, Any], table: dict[str, Any]) -> None:
        """Add the indexes a table made by an older model lacks (DynamoDB creates one per UpdateTable)."""
        name = props["TableName"]
        existing = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
        definitions = {d["AttributeName"]: d for d in props["AttributeDefinitions"]}
        for index in props.get("GlobalSecondaryIndexes", []):
            if index["IndexName"] in existing:
                continue
            keys = [key["AttributeName"] for key in index["KeySchema"]]
            self.dynamodb.update_table(
                TableName=name,
                AttributeDefinitions=[definitions[key] for key in keys],
                GlobalSecondaryIndexUpdates=[{"Create": index}],
            )
            self._wait_for_indexes(name)
            self.changes.append(f"created index {index['IndexName']} on {name}")

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

    def _stream(self, props: dict[str, Any], table: dict[str, Any]) -> dict[str, Any]:
        name = props["TableName"]
        view_type = props.get("StreamSpecification", {}).get("StreamViewType")
        stream = table.get("StreamSpecification") or {}
        if view_type is None or (stream.get("StreamEnabled") and stream.get("StreamViewType") == view_type):
            return table
        if stream.get("StreamEnabled"):  # DynamoDB changes a view type only through off → on
            self.dynamodb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
            self.dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
        self.dynamodb.update_table(TableName=name, StreamSpecification={"StreamEnabled": True, "StreamViewType": view_type})
        self.dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
        self.changes.append(f"enabled stream on {name}")
        return dict(self.dynamodb.describe_table(TableName=name)["Table"])

    def _ttl(self, props: dict[str, Any]) -> None:
        spec = props.get("TimeToLiveSpecification")
        if not spec or not spec.get("Enabled"):
            return
        name, attribute = props["TableName"], spec["AttributeName"]
        ttl = self.dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if ttl.get("AttributeName") == attribute and ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            return
        self.dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute})
        self.changes.append(f"enabled TTL on {name}.{attribute}")

    def _point_in_time_recovery(self, props: dict[str, Any]) -> None:
        wanted = bool(props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled", False))
        name = props["TableName"]
        backups = self.dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        status = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
        if (status == "ENABLED") == wanted:
            return
        self.dynamodb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": wanted}
        )
        self.changes.append(f"{'enabled' if wanted else 'disabled'} point-in-time recovery on {name}")

    # -- SQS -------------------------------------------------------------------------------------
    def queue(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props["QueueName"]
        attributes = _queue_attributes(props)
        try:
            url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except ClientError as error:
            if not _missing(error, "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
                raise
            url = self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            self.changes.append(f"created queue {name}")
        current = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        stale = {k: v for k, v in attributes.items() if not _same_attribute(current.get(k), v)}
        if stale:
            self.sqs.set_queue_attributes(QueueUrl=url, Attributes=stale)
            self.changes.append(f"updated queue {name}: {sorted(stale)}")
        self._found(logical_id, str(url), Arn=str(current["QueueArn"]), QueueName=name, QueueUrl=str(url))

    def queue_policy(self, logical_id: str, props: dict[str, Any]) -> None:
        wanted = json.dumps(props["PolicyDocument"])
        for url in props["Queues"]:
            current = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {})
            if _same_attribute(current.get("Policy"), wanted):
                continue
            self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": wanted})
            self.changes.append(f"set policy on {url.rsplit('/', 1)[-1]}")
        self._found(logical_id, logical_id)

    # -- EventBridge rules -----------------------------------------------------------------------
    def rule(self, logical_id: str, props: dict[str, Any]) -> None:
        name, bus = props["Name"], props["EventBusName"]
        pattern, state = props["EventPattern"], props.get("State", "ENABLED")
        try:
            rule = self.events.describe_rule(Name=name, EventBusName=bus)
            unchanged = json.loads(rule["EventPattern"]) == pattern and rule.get("State") == state
        except ClientError as error:
            if not _missing(error, "ResourceNotFoundException"):
                raise
            unchanged = False
        if unchanged:
            arn = str(rule["Arn"])
        else:
            arn = str(
                self.events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern, sort_keys=True), State=state)[
                    "RuleArn"
                ]
            )
            self.changes.append(f"put rule {name}")
        wanted = [{"Id": t["Id"], "Arn": t["Arn"]} for t in props.get("Targets", [])]
        current = self.events.list_targets_by_rule(Rule=name, EventBusName=bus)["Targets"]
        # Only the declared targets: anything more would leak the rule's events elsewhere.
        foreign = [t["Id"] for t in current if {"Id": t["Id"], "Arn": t["Arn"]} not in wanted]
        if foreign:
            self.events.remove_targets(Rule=name, EventBusName=bus, Ids=foreign)
            self.changes.append(f"removed targets {sorted(foreign)} from rule {name}")
        missing = [t for t in wanted if not any(c["Id"] == t["Id"] and c["Arn"] == t["Arn"] for c in current)]
        if missing:
            self.events.put_targets(Rule=name, EventBusName=bus, Targets=missing)
            self.changes.append(f"targeted rule {name} at its queue")
        # CloudFormation's Ref of a rule on a custom bus is "bus|name"; nothing here refers to it.
        self._found(logical_id, f"{bus}|{name}", Arn=arn)

    # -- S3 ---------------------------------------------------------------------------------------
    def bucket(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props["BucketName"]
        try:
            self.s3.head_bucket(Bucket=name)
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
                raise
            region = self.s3.meta.region_name
            # us-east-1 is the one region S3 refuses as a location constraint.
            location = {} if region in (None, "us-east-1") else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            self.s3.create_bucket(Bucket=name, **location)
            self.changes.append(f"created bucket {name}")
        wanted_encryption = props.get("BucketEncryption")
        if wanted_encryption:
            current = bucket_encryption(self.s3, name)
            if current != wanted_encryption:
                rules = [
                    {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
                    for rule in wanted_encryption["ServerSideEncryptionConfiguration"]
                ]
                self.s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
                self.changes.append(f"set encryption on bucket {name}")
        wanted_block = props.get("PublicAccessBlockConfiguration")
        if wanted_block and bucket_public_access_block(self.s3, name) != wanted_block:
            self.s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=wanted_block)
            self.changes.append(f"blocked public access to bucket {name}")
        wanted_versioning = props.get("VersioningConfiguration")
        if wanted_versioning and bucket_versioning(self.s3, name) != wanted_versioning:
            self.s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=wanted_versioning)
            self.changes.append(f"set versioning on bucket {name}")
        wanted_cors = props.get("CorsConfiguration")
        if wanted_cors and bucket_cors(self.s3, name) != wanted_cors:
            rules = [{_S3_CORS_NAMES.get(key, key): value for key, value in rule.items()} for rule in wanted_cors["CorsRules"]]
            self.s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
            self.changes.append(f"set CORS on bucket {name}")
        self._found(logical_id, name, Arn=f"arn:aws:s3:::{name}", DomainName=f"{name}.s3.amazonaws.com")


def bucket_encryption(s3: Any, name: str) -> dict[str, Any] | None:
    """The bucket's encryption in the template's shape, None when it has none."""
    try:
        rules = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "ServerSideEncryptionConfigurationNotFoundError":
            return None
        raise
    return {
        "ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]}}
            for r in rules
        ]
    }


# CloudFormation's CorsRule names two fields otherwise than S3's API.
_S3_CORS_NAMES = {"MaxAge": "MaxAgeSeconds", "ExposedHeaders": "ExposeHeaders"}


def bucket_cors(s3: Any, name: str) -> dict[str, Any] | None:
    """The bucket's CORS rules in the template's shape, None when it has none."""
    try:
        rules = s3.get_bucket_cors(Bucket=name)["CORSRules"]
    except ClientError as error:
        if _missing(error, "NoSuchCORSConfiguration"):
            return None
        raise
    template_names = {api: template for template, api in _S3_CORS_NAMES.items()}
    return {"CorsRules": [{template_names.get(key, key): value for key, value in rule.items()} for rule in rules]}


def bucket_public_access_block(s3: Any, name: str) -> dict[str, bool] | None:
    try:
        return dict(s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"])
    except ClientError as error:
        if error.response["Error"]["Code"] == "NoSuchPublicAccessBlockConfiguration":
            return None
        raise


def bucket_versioning(s3: Any, name: str) -> dict[str, str] | None:
    status = s3.get_bucket_versioning(Bucket=name).get("Status")
    return {"Status": status} if status else None


def _queue_attributes(props: dict[str, Any]) -> dict[str, str]:
    """SQS attributes as strings, from the CloudFormation properties (numbers, a redrive dict)."""
    attributes = {key: str(value) for key, value in props.items() if key in ("VisibilityTimeout", "MessageRetentionPeriod")}
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"], sort_keys=True)
    return attributes


def _same_attribute(current: str | None, wanted: str) -> bool:
    if current is None:
        return False
    try:
        return bool(json.loads(current) == json.loads(wanted))
    except ValueError:
        return current == wanted


# -- the whole topology ------------------------------------------------------------------------


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
    overrides: LocalOverrides = NO_OVERRIDES,
) -> Provisioned:
    """Apply the model of `topology` for the stage `naming` names: the platform, then each service,
    changed only by `overrides` (a stage that is not on AWS may name some)."""
    shop = model(topology, naming)
    clients = Clients(session, endpoint_url)
    result = Provisioned()
    platform = apply(overrides.applied_to(shop.platform), clients)
    result.bus_arn = platform.attributes[EVENT_BUS_ID]["Arn"]
    result.changes += platform.changes
    for service in topology.services:
        applied = apply(overrides.applied_to(shop.services[service.name]), clients)
        result.changes += applied.changes
        result.table_stream_arns[service.name] = applied.attributes[TABLE_ID]["StreamArn"]
        for subscription in service.subscriptions:
            result.queue_urls[(service.name, subscription.name)] = applied.refs[queue_id(subscription)]
            result.dlq_urls[(service.name, subscription.name)] = applied.refs[dlq_id(subscription)]
    return result
