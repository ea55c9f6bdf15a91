"""Compare live resources with CloudFormation templates, property by property (read-only).

`drift` reads every resource a template declares back from the endpoint (describe/get calls only,
never the applier's own bookkeeping), resolves the template's Ref and Fn::GetAtt to the live names
and ARNs, and reports each property whose live value differs from the declared one. An undeclared
property is compared with CloudFormation's default for it, so a setting the template leaves out
cannot be switched on behind its back either. Live resources of the stage that no template declares
are reported too.

Resource types that only exist on AWS (functions, their roles and log groups, the artifacts bucket)
are skipped: locally the dispatcher plays Lambda. Any other type this module cannot read is reported,
so a resource added to a template cannot escape the comparison.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from shop_eventing.topology import Naming
from shop_infra.provision import Clients, bucket_cors, bucket_encryption, bucket_public_access_block, bucket_versioning
from shop_infra.resources import AWS_ONLY_RESOURCE_TYPES, Resources

# The functions, their roles and the APIs in front of them are played locally by the dispatcher, the
# service host and the WebSocket gateway (shop_devstack.websocket_gateway for API Gateway's v2 WebSocket
# API), not by moto's resources: there is nothing local to compare them with.
AWS_ONLY_PREFIXES = ("AWS::Serverless::", "AWS::Lambda::", "AWS::IAM::", "AWS::ApiGateway::", "AWS::ApiGatewayV2::")
# Alarms and the topic they notify exist on AWS alone: locally nobody is paged (deploy/templates.py).
# The storefront's distribution (deploy/storefront.py: its viewer-request functions, its security
# headers) too: locally the embedded stack's web edge serves web/'s files and proxies /api/<service>.
AWS_ONLY_TYPES = frozenset(
    {
        "AWS::Logs::LogGroup",
        "AWS::S3::Bucket",
        "AWS::CloudWatch::Alarm",
        "AWS::SNS::Topic",
        "AWS::SNS::Subscription",
        "AWS::CloudFront::Function",
        "AWS::CloudFront::ResponseHeadersPolicy",
    }
)
MISSING = "<missing>"
NOT_FOUND = ("ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "404", "NoSuchBucket")
ABSENT = None

# What CloudFormation (and so AWS) makes of a property a template leaves out.
DEFAULTS: dict[str, dict[str, Any]] = {
    "AWS::Events::EventBus": {},
    "AWS::Events::Archive": {"Description": ABSENT, "RetentionDays": 0},
    "AWS::DynamoDB::Table": {
        "BillingMode": "PROVISIONED",
        "GlobalSecondaryIndexes": [],
        "StreamSpecification": ABSENT,
        "TimeToLiveSpecification": ABSENT,
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": False},
    },
    "AWS::SQS::Queue": {"VisibilityTimeout": 30, "MessageRetentionPeriod": 345600, "RedrivePolicy": ABSENT},
    "AWS::Events::Rule": {"State": "ENABLED", "Targets": []},
    "AWS::SQS::QueuePolicy": {},
    "AWS::S3::Bucket": {
        "BucketEncryption": ABSENT,
        "PublicAccessBlockConfiguration": ABSENT,
        "VersioningConfiguration": ABSENT,
        "CorsConfiguration": ABSENT,
    },
}


@dataclass(frozen=True)
class Drift:
    stack: str
    logical_id: str
    name: str  # the resource's physical name, for the person reading the report
    property: str
    declared: Any
    live: Any

    def __str__(self) -> str:
        return f"{self.stack}/{self.logical_id} ({self.name}) {self.property}: declared {self.declared!r}, live {self.live!r}"


def is_aws_only(kind: str, props: dict[str, Any] | None = None) -> bool:
    # A bucket the model names (notify's ledger) is provisioned locally and compared; the deployment
    # artifacts bucket, named by CloudFormation, exists on AWS alone.
    if kind == "AWS::S3::Bucket" and props and "BucketName" in props:
        return False
    return kind in AWS_ONLY_TYPES or kind in AWS_ONLY_RESOURCE_TYPES or kind.startswith(AWS_ONLY_PREFIXES)


def drift(stacks: dict[str, Resources], clients: Clients, naming: Naming) -> list[Drift]:
    """Every difference between the live resources of `naming`'s stage and `stacks` (stack name →
    its template's Resources), in template order, then the undeclared live resources."""
    reader = _Reader(clients)
    found: list[Drift] = []
    for stack, resources in stacks.items():
        found += reader.stack(stack, resources)
    found += _undeclared(stacks, clients, naming)
    return found


def _name_of(kind: str, props: dict[str, Any]) -> str:
    for key in ("TableName", "QueueName", "Name", "ArchiveName", "BucketName"):
        if key in props:
            return str(props[key])
    return kind


def _sorted(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: str(item.get(key)))


class _Reader:
    def __init__(self, clients: Clients) -> None:
        self.events, self.dynamodb, self.sqs, self.s3 = clients.events, clients.dynamodb, clients.sqs, clients.s3

    def stack(self, stack: str, resources: Resources) -> list[Drift]:
        found: list[Drift] = []
        for logical_id, resource in resources.items():
            kind = resource["Type"]
            props = resource.get("Properties", {})
            if is_aws_only(kind, props):
                continue
            name = _name_of(kind, props)
            if kind not in DEFAULTS:
                found.append(Drift(stack, logical_id, name, "Type", kind, "not readable: the drift check cannot compare it"))
                continue
            declared = {**DEFAULTS[kind], **self._resolve(props, resources)}
            if kind == "AWS::SQS::QueuePolicy":
                name = "policy of " + ", ".join(str(url).rsplit("/", 1)[-1] for url in declared["Queues"])
            live = self._live(kind, declared)
            if live is None:
                found.append(Drift(stack, logical_id, name, "(resource)", "exists", MISSING))
                continue
            declared, live = _normalised(kind, declared), _normalised(kind, live)
            for prop in dict.fromkeys([*declared, *live]):
                if declared.get(prop) != live.get(prop):
                    found.append(Drift(stack, logical_id, name, prop, declared.get(prop), live.get(prop)))
        return found

    # -- Ref and Fn::GetAtt, answered by the live resources --------------------------------------
    def _resolve(self, node: Any, resources: Resources) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Ref"}:
                return self._attribute(resources, node["Ref"], "Ref")
            if set(node) == {"Fn::GetAtt"}:
                target, attribute = node["Fn::GetAtt"]
                return self._attribute(resources, target, attribute)
            return {key: self._resolve(value, resources) for key, value in node.items()}
        if isinstance(node, list):
            return [self._resolve(item, resources) for item in node]
        return node

    def _attribute(self, resources: Resources, logical_id: str, attribute: str) -> str:
        resource = resources.get(logical_id)
        if resource is None:
            return f"{MISSING} {logical_id}"
        kind, props = resource["Type"], resource.get("Properties", {})
        answers: dict[tuple[str, str], Callable[[], Any]] = {
            ("AWS::SQS::Queue", "Ref"): lambda: self.sqs.get_queue_url(QueueName=props["QueueName"])["QueueUrl"],
            ("AWS::SQS::Queue", "Arn"): lambda: self._queue_attributes(props["QueueName"])["QueueArn"],
            ("AWS::DynamoDB::Table", "Ref"): lambda: props["TableName"],
            ("AWS::DynamoDB::Table", "Arn"): lambda: self._describe_table(props["TableName"])["TableArn"],
            ("AWS::DynamoDB::Table", "StreamArn"): lambda: self._describe_table(props["TableName"]).get(
                "LatestStreamArn", MISSING
            ),
            ("AWS::Events::EventBus", "Ref"): lambda: props["Name"],
            ("AWS::Events::EventBus", "Arn"): lambda: self.events.describe_event_bus(Name=props["Name"])["Arn"],
            ("AWS::Events::Rule", "Arn"): lambda: self.events.describe_rule(
                Name=props["Name"], EventBusName=props["EventBusName"]
            )["Arn"],
        }
        if (kind, attribute) not in answers:
            raise ValueError(f"the drift check cannot resolve {attribute} of {logical_id} ({kind})")
        try:
            return str(answers[kind, attribute]())
        except ClientError:
            return f"{MISSING} {logical_id}"

    # -- each type, read back in its template's shape ---------------------------------------------
    def _live(self, kind: str, declared: dict[str, Any]) -> dict[str, Any] | None:
        readers: dict[str, Callable[[], dict[str, Any]]] = {
            "AWS::Events::EventBus": lambda: {"Name": self.events.describe_event_bus(Name=declared["Name"])["Name"]},
            "AWS::Events::Archive": lambda: self._archive(declared["ArchiveName"]),
            "AWS::DynamoDB::Table": lambda: self._table(declared["TableName"]),
            "AWS::SQS::Queue": lambda: self._queue(declared["QueueName"]),
            "AWS::Events::Rule": lambda: self._rule(declared["Name"], declared["EventBusName"]),
            "AWS::SQS::QueuePolicy": lambda: {"Queues": declared["Queues"], "PolicyDocument": self._policies(declared["Queues"])},
            "AWS::S3::Bucket": lambda: self._bucket(declared["BucketName"]),
        }
        try:
            return readers[kind]()
        except ClientError as error:
            if error.response["Error"]["Code"] in NOT_FOUND:
                return None
            raise

    def _bucket(self, name: str) -> dict[str, Any]:
        self.s3.head_bucket(Bucket=name)
        return {
            "BucketName": name,
            "BucketEncryption": bucket_encryption(self.s3, name),
            "PublicAccessBlockConfiguration": bucket_public_access_block(self.s3, name),
            "VersioningConfiguration": bucket_versioning(self.s3, name),
            "CorsConfiguration": bucket_cors(self.s3, name),
        }

    def _archive(self, name: str) -> dict[str, Any]:
        archive = self.events.describe_archive(ArchiveName=name)
        return {
            "ArchiveName": archive["ArchiveName"],
            "SourceArn": archive["EventSourceArn"],
            "Description": archive.get("Description") or ABSENT,
            "RetentionDays": archive.get("RetentionDays", 0),
        }

    def _queue_attributes(self, name: str) -> dict[str, str]:
        url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return dict(self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"])

    def _describe_table(self, name: str) -> dict[str, Any]:
        return dict(self.dynamodb.describe_table(TableName=name)["Table"])

    def _table(self, name: str) -> dict[str, Any]:
        table = self._describe_table(name)
        stream = table.get("StreamSpecification") or {}
        ttl = self.dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        backups = self.dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        pitr = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
        return {
            "TableName": table["TableName"],
            "BillingMode": table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"),
            "AttributeDefinitions": table["AttributeDefinitions"],
            "KeySchema": table["KeySchema"],
            "GlobalSecondaryIndexes": [
                {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
                for i in table.get("GlobalSecondaryIndexes", [])
            ],
            "StreamSpecification": {"StreamViewType": stream["StreamViewType"]} if stream.get("StreamEnabled") else ABSENT,
            "TimeToLiveSpecification": (
                {"AttributeName": ttl.get("AttributeName"), "Enabled": True}
                if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
                else ABSENT
            ),
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": pitr == "ENABLED"},
        }

    def _queue(self, name: str) -> dict[str, Any]:
        attributes = self._queue_attributes(name)
        return {
            "QueueName": attributes["QueueArn"].rsplit(":", 1)[-1],
            "VisibilityTimeout": int(attributes["VisibilityTimeout"]),
            "MessageRetentionPeriod": int(attributes["MessageRetentionPeriod"]),
            "RedrivePolicy": json.loads(attributes["RedrivePolicy"]) if "RedrivePolicy" in attributes else ABSENT,
        }

    def _rule(self, name: str, bus: str) -> dict[str, Any]:
        rule = self.events.describe_rule(Name=name, EventBusName=bus)
        targets = self.events.list_targets_by_rule(Rule=name, EventBusName=bus)["Targets"]
        return {
            "Name": rule["Name"],
            "EventBusName": rule.get("EventBusName", "default"),
            "EventPattern": json.loads(rule["EventPattern"]),
            "State": rule["State"],
            "Targets": [{"Id": t["Id"], "Arn": t["Arn"]} for t in targets],
        }

    def _policies(self, queue_urls: list[str]) -> Any:
        documents = []
        for url in queue_urls:
            policy = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {}).get("Policy")
            documents.append(json.loads(policy) if policy else ABSENT)
        # One policy for all its queues, as CloudFormation sets it: anything else shows as a list.
        return documents[0] if len({json.dumps(d, sort_keys=True) for d in documents}) == 1 else documents


def _normalised(kind: str, props: dict[str, Any]) -> dict[str, Any]:
    """The same properties with the lists whose order carries no meaning sorted."""
    props = dict(props)
    if kind == "AWS::DynamoDB::Table":
        props["AttributeDefinitions"] = _sorted(props.get("AttributeDefinitions") or [], "AttributeName")
        props["GlobalSecondaryIndexes"] = _sorted(props.get("GlobalSecondaryIndexes") or [], "IndexName")
    if kind == "AWS::Events::Rule":
        props["Targets"] = _sorted(props.get("Targets") or [], "Id")
    if kind == "AWS::SQS::QueuePolicy":
        props["PolicyDocument"] = _unordered_conditions(props.get("PolicyDocument"))
    return props


def _unordered_conditions(document: Any) -> Any:
    """A policy condition's values form a set: the same ARNs in another order are the same policy."""
    if not isinstance(document, dict):
        return document
    document = copy.deepcopy(document)
    for statement in document.get("Statement", []):
        for operator in statement.get("Condition", {}).values():
            for key, values in operator.items():
                if isinstance(values, list):
                    operator[key] = sorted(values)
    return document


def _undeclared(stacks: dict[str, Resources], clients: Clients, naming: Naming) -> list[Drift]:
    """Live tables, queues and rules of the stage that no template declares."""
    declared: dict[str, set[str]] = {"AWS::DynamoDB::Table": set(), "AWS::SQS::Queue": set(), "AWS::Events::Rule": set()}
    for resources in stacks.values():
        for resource in resources.values():
            if resource["Type"] in declared:
                declared[resource["Type"]].add(_name_of(resource["Type"], resource.get("Properties", {})))
    prefix = f"{naming.prefix}-{naming.stage}-"
    live: dict[str, set[str]] = {
        "AWS::DynamoDB::Table": {
            name
            for page in clients.dynamodb.get_paginator("list_tables").paginate()
            for name in page["TableNames"]
            if name.startswith(prefix)
        },
        "AWS::SQS::Queue": {
            url.rsplit("/", 1)[-1]
            for page in clients.sqs.get_paginator("list_queues").paginate(QueueNamePrefix=prefix)
            for url in page.get("QueueUrls", [])
        },
        "AWS::Events::Rule": set(),
    }
    try:
        rules = clients.events.get_paginator("list_rules").paginate(EventBusName=naming.bus)
        # An archive makes its own managed rule on the bus; it belongs to the archive.
        live["AWS::Events::Rule"] = {
            rule["Name"]
            for page in rules
            for rule in page["Rules"]
            if not rule.get("ManagedBy") and not rule["Name"].startswith("Events-Archive-")
        }
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    return [
        Drift("(none)", "(undeclared)", name, "(resource)", MISSING, "exists")
        for kind, names in live.items()
        for name in sorted(names - declared[kind])
    ]
