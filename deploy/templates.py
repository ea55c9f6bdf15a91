"""CloudFormation derived from the topology: the shared platform (bus + archive) and one merge template per service.

`chalice package --merge-template` deep-merges the merge template into Chalice's own `sam.json`:
dicts merge key by key, anything else replaces. So the merge template adds the service's table,
queues, DLQs, rules and queue policies, and patches what Chalice cannot express:
- every SQS event source gets `FunctionResponseTypes: ["ReportBatchItemFailures"]`;
- the SQS-triggered function's Timeout is capped at its queue's visibility timeout (Lambda refuses
  an event source mapping whose queue's visibility timeout is shorter than the function's timeout)
  and it `DependsOn` its queue, so the mapping is created after the queue;
- the relay's DynamoDB event source `Stream` (a placeholder string at package time) becomes
  `Fn::GetAtt [ShopTable, StreamArn]`: a string replaced by a dict merges cleanly;
- every function logs to the service's one log group (`LoggingConfig`), made here with a retention.
The SQS event's `Queue` is never touched (DESIGN §8: Fn::Sub + Fn::GetAtt would deep-merge into an
invalid value); Chalice already writes the queue's ARN from its name, which Naming derives.
"""

from __future__ import annotations

from typing import Any

from gateway_responses import rest_api_resources

from shop_contracts import TOPOLOGY
from shop_eventing.topology import Naming, ServiceSpec, Subscription, rule_pattern

TABLE_ID = "ShopTable"
LOG_GROUP_ID = "ServiceLogGroup"
SWEEPER_HANDLER = "app.sweep_outbox"
LOG_RETENTION_DAYS = 30
ARTIFACTS_BUCKET_ID = "ArtifactsBucket"
ARTIFACTS_BUCKET_OUTPUT = "ArtifactsBucketName"
ARTIFACT_RETENTION_DAYS = 90
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # the SQS maximum: time to look at and redrive what failed


def camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-") if part)


def queue_id(subscription: Subscription) -> str:
    return f"{camel(subscription.name)}Queue"


def dlq_id(subscription: Subscription) -> str:
    return f"{camel(subscription.name)}Dlq"


def rule_id(subscription: Subscription, event_type: str) -> str:
    return f"{camel(subscription.name)}{event_type}Rule"


def platform_template(stage: str) -> dict[str, Any]:
    """The bus, its archive and the deployment artifacts bucket, shared by every service: deployed once
    per stage, before any service."""
    naming = Naming(stage)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"shop platform ({stage}): the event bus, its archive, the deployment artifacts bucket",
        "Resources": {
            "EventBus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": naming.bus}},
            "EventArchive": {
                "Type": "AWS::Events::Archive",
                "Properties": {
                    "ArchiveName": naming.archive,
                    "SourceArn": {"Fn::GetAtt": ["EventBus", "Arn"]},
                    "Description": "every event on the shop's bus, for replay",
                },
            },
            # Deployment packages and templates, keyed by content hash (deploy/stacks.py). CloudFormation
            # rolls a failed update back to the previous package, so old ones are kept a while.
            ARTIFACTS_BUCKET_ID: {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                    },
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True,
                        "RestrictPublicBuckets": True,
                    },
                    "LifecycleConfiguration": {
                        "Rules": [{"Id": "ExpireOldArtifacts", "Status": "Enabled", "ExpirationInDays": ARTIFACT_RETENTION_DAYS}]
                    },
                },
            },
        },
        "Outputs": {
            "EventBusName": {"Value": {"Ref": "EventBus"}},
            "EventBusArn": {
                "Value": {"Fn::GetAtt": ["EventBus", "Arn"]},
                "Export": {"Name": f"{naming.bus}-bus-arn"},
            },
            ARTIFACTS_BUCKET_OUTPUT: {"Value": {"Ref": ARTIFACTS_BUCKET_ID}},
        },
    }


def table_resource(service: ServiceSpec, naming: Naming) -> dict[str, Any]:
    spec = service.table
    attributes = [spec.partition_key, spec.sort_key] + [key for _, pk, sk in spec.indexes for key in (pk, sk)]
    return {
        "Type": "AWS::DynamoDB::Table",
        # The table is the service's state and its outbox log: never dropped by a stack update/delete.
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "TableName": naming.table(service.name),
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in dict.fromkeys(attributes)],
            "KeySchema": [
                {"AttributeName": spec.partition_key, "KeyType": "HASH"},
                {"AttributeName": spec.sort_key, "KeyType": "RANGE"},
            ],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": index,
                    "KeySchema": [{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
                for index, pk, sk in spec.indexes
            ],
            "StreamSpecification": {"StreamViewType": spec.stream_view_type},
            "TimeToLiveSpecification": {"AttributeName": spec.ttl_attribute, "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        },
    }


def subscription_resources(service: ServiceSpec, subscription: Subscription, naming: Naming) -> dict[str, Any]:
    qid, did = queue_id(subscription), dlq_id(subscription)
    resources: dict[str, Any] = {
        did: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": naming.dlq(service.name, subscription.name),
                "MessageRetentionPeriod": DLQ_RETENTION_SECONDS,
            },
        },
        qid: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": naming.queue(service.name, subscription.name),
                "VisibilityTimeout": subscription.visibility_timeout_seconds,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": [did, "Arn"]},
                    "maxReceiveCount": subscription.max_receive_count,
                },
            },
        },
    }
    rule_arns = []
    for ref in subscription.events:
        rid = rule_id(subscription, ref.event_type)
        producer = TOPOLOGY.producer_of(ref.event_type)
        resources[rid] = {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": naming.rule(service.name, subscription.name, ref.event_type),
                "EventBusName": naming.bus,
                "EventPattern": rule_pattern(producer, ref),
                "State": "ENABLED",
                "Targets": [{"Id": "queue", "Arn": {"Fn::GetAtt": [qid, "Arn"]}}],
            },
        }
        rule_arns.append({"Fn::GetAtt": [rid, "Arn"]})
    resources[f"{qid}Policy"] = {
        "Type": "AWS::SQS::QueuePolicy",
        "Properties": {
            "Queues": [{"Ref": qid}],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "FromItsRulesOnly",
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": {"Fn::GetAtt": [qid, "Arn"]},
                        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arns}},
                    }
                ],
            },
        },
    }
    return resources


def _queue_name_of(event_source: dict[str, Any]) -> str | None:
    queue = event_source.get("Properties", {}).get("Queue")
    if isinstance(queue, dict) and "Fn::Sub" in queue:
        queue = queue["Fn::Sub"]
    if isinstance(queue, str):
        return queue.rsplit(":", 1)[-1]
    return None


def merge_template(service_name: str, stage: str, chalice_sam: dict[str, Any]) -> dict[str, Any]:
    """The merge template for one service, given the `sam.json` Chalice generated without it.

    Chalice names resources after the handler functions, so its template tells which function and
    which event source consume which queue; everything else comes from the topology.
    """
    service = TOPOLOGY.service(service_name)
    naming = Naming(stage)
    resources: dict[str, Any] = {
        TABLE_ID: table_resource(service, naming),
        LOG_GROUP_ID: {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": naming.log_group(service.name), "RetentionInDays": LOG_RETENTION_DAYS},
        },
    }
    by_queue = {naming.queue(service.name, s.name): s for s in service.subscriptions}
    consumed: set[str] = set()
    has_relay = has_sweeper = False
    for logical_id, resource in chalice_sam.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        # One group for the whole service, with a retention: CloudFormation names the functions, so
        # their default groups (/aws/lambda/<generated name>) could not be named in the IAM policy.
        resources[logical_id] = {"Properties": {"LoggingConfig": {"LogGroup": {"Ref": LOG_GROUP_ID}}}}
        for event_id, event in resource.get("Properties", {}).get("Events", {}).items():
            if event.get("Type") == "SQS":
                queue_name = _queue_name_of(event)
                subscription = by_queue.get(queue_name or "")
                if subscription is None:
                    raise ValueError(f"{service_name}: {logical_id} consumes {queue_name!r}, not in the topology")
                consumed.add(subscription.name)
                timeout = resource["Properties"].get("Timeout", subscription.visibility_timeout_seconds)
                resources[logical_id]["DependsOn"] = [queue_id(subscription)]
                resources[logical_id]["Properties"]["Timeout"] = min(timeout, subscription.visibility_timeout_seconds)
                resources[logical_id]["Properties"]["Events"] = {
                    event_id: {"Properties": {"FunctionResponseTypes": ["ReportBatchItemFailures"]}}
                }
            elif event.get("Type") == "Schedule" and resource["Properties"].get("Handler") == SWEEPER_HANDLER:
                has_sweeper = True
            elif event.get("Type") == "DynamoDB":
                has_relay = True
                resources[logical_id]["Properties"]["Events"] = {
                    event_id: {"Properties": {"Stream": {"Fn::GetAtt": [TABLE_ID, "StreamArn"]}}}
                }
    missing = {s.name for s in service.subscriptions} - consumed
    if missing:
        raise ValueError(f"{service_name}: subscriptions without a handler in the app: {sorted(missing)}")
    if service.publishes and not has_relay:
        raise ValueError(f"{service_name} publishes events but its app has no DynamoDB stream relay")
    if service.publishes and not has_sweeper:
        raise ValueError(f"{service_name} publishes events but its app has no scheduled {SWEEPER_HANDLER} (the outbox sweeper)")
    for subscription in service.subscriptions:
        resources.update(subscription_resources(service, subscription, naming))
    resources.update(rest_api_resources(chalice_sam))  # API Gateway's own errors in the one shape
    return {
        "Resources": resources,
        "Outputs": {
            "TableName": {"Value": {"Ref": TABLE_ID}},
            "TableStreamArn": {"Value": {"Fn::GetAtt": [TABLE_ID, "StreamArn"]}},
        },
    }
