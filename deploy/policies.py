"""Least-privilege IAM policies, one per service and stage, generated from the topology.

Chalice uses `.chalice/policy-<stage>.json` verbatim for every function of the service when the
stage sets `"autogen_policy": false, "iam_policy_file": "policy-<stage>.json"`. The ARNs name the
resources literally (region and account wildcarded) so the same file works in any account.

Granted, and nothing else:
- its own table and its indexes: the item actions its use cases and powertools idempotency use
  (TransactWriteItems is authorised per item through Put/Update/Delete/ConditionCheckItem);
- its own table's stream, read by the outbox relay (only services that publish have one);
- its own queues (Lambda's event source mapping) and DLQs (+ SendMessage/GetQueueUrl: invalid
  events are parked there directly by the subscriber);
- events:PutEvents on the bus, only with `events:source` = its own source;
- its own log group (every function of the service logs there); notify alone: SES sending and
  writing its sales ledger's objects;
- its own secrets in SSM Parameter Store, read only (notify: the CRM's token; orders: the payment
  provider's key; fulfillment: the 3PL's token and the tracking webhook's secret; vod: the key it signs
  playback cookies with); fulfillment: writing
  its carrier lists' objects.
- X-Ray's trace writes (every function traces actively);
- reading its own queues' and DLQs' attributes and SQS's metrics in CloudWatch, for the staff's
  GET /ops/status (shop_eventing.ops_api).
The unavoidable `"Resource": "*"`: `dynamodb:ListStreams` (read-only listing of stream ARNs; Lambda's
DynamoDB event source needs it), X-Ray's writes, `cloudwatch:GetMetricStatistics` (the oldest message's
age) and vod's `mediaconvert:Probe` have no resource type in IAM.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shop_contracts import TOPOLOGY
from shop_eventing.topology import Naming, ServiceSpec
from shop_infra.resources import ledger_bucket_name, mediaconvert_role_name

ROOT = Path(__file__).resolve().parent.parent
SERVICES = tuple(s.name for s in TOPOLOGY.services)

TABLE_ACTIONS = [
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
]
STREAM_ACTIONS = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
QUEUE_ACTIONS = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
DLQ_SEND_ACTIONS = ["sqs:GetQueueUrl", "sqs:SendMessage"]
LOG_ACTIONS = ["logs:CreateLogStream", "logs:PutLogEvents"]
# What each service's adapters need beyond the backbone.
ADAPTER_STATEMENTS: dict[str, list[dict[str, Any]]] = {
    "notify": [
        {
            "Sid": "SendOrderEmails",
            "Effect": "Allow",
            "Action": ["ses:SendEmail", "ses:SendRawEmail"],
            "Resource": "arn:aws:ses:*:*:identity/*",
        }
    ],
}
# Statements allowed to use "Resource": "*" (IAM offers no narrower resource for these actions).
# X-Ray's (AWSXRayDaemonWriteAccess's writes): every function traces (Tracing: Active); no resource type.
TRACE_ACTIONS = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
# The staff's GET /ops/status (shop_eventing.ops_api): each queue's depth from SQS, its oldest message's
# age from CloudWatch, whose metric reads have no resource type in IAM (nor a condition key to scope them).
QUEUE_STATUS_ACTIONS = ["sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
QUEUE_AGE_ACTIONS = ["cloudwatch:GetMetricStatistics"]
UNSCOPED_ALLOWED = {
    "ListTableStreams": ["dynamodb:ListStreams"],
    "ProbeSources": ["mediaconvert:Probe"],
    "WriteTraces": TRACE_ACTIONS,
    "ReadQueueAgeMetrics": QUEUE_AGE_ACTIONS,
}


def vod_statements(naming: Naming) -> list[dict[str, Any]]:
    """vod's media bucket (presigned uploads are signed with the function's role, so it must hold what
    the client is allowed to do), its transcode job-events queue, and MediaConvert: probe, create a job
    and pass it the role MediaConvert reads and writes the bucket with. Live shows: the live-events
    queue, IVS channels (create private channels that record with the stage's configuration, insert
    pins as timed metadata) and the playback key pair's private key (a SecureString under vod's path)."""
    bucket = f"arn:aws:s3:::{naming.prefix}-{naming.stage}-vod-media"
    # The private key playback cookies are signed with, a SecureString under the service's own path
    # (VOD_MEDIA_SIGNING_KEY_PARAMETER); CloudFront holds the public half in its key group.
    parameters = f"arn:aws:ssm:*:*:parameter/{naming.prefix}/{naming.stage}/vod/*"
    jobs, jobs_dlq = _arn("sqs", naming.queue("vod", "transcode-jobs")), _arn("sqs", naming.dlq("vod", "transcode-jobs"))
    live, live_dlq = _arn("sqs", naming.queue("vod", "live-events")), _arn("sqs", naming.dlq("vod", "live-events"))
    return [
        {
            "Sid": "MediaBucket",
            "Effect": "Allow",
            "Action": ["s3:AbortMultipartUpload", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:PutObject"],
            "Resource": f"{bucket}/*",
        },
        {"Sid": "ConsumeTranscodeJobEvents", "Effect": "Allow", "Action": QUEUE_ACTIONS, "Resource": [jobs, jobs_dlq]},
        {"Sid": "ParkInvalidJobEvents", "Effect": "Allow", "Action": DLQ_SEND_ACTIONS, "Resource": [jobs_dlq]},
        {
            "Sid": "CreateTranscodeJobs",
            "Effect": "Allow",
            "Action": ["mediaconvert:CreateJob", "mediaconvert:TagResource"],
            "Resource": [_arn("mediaconvert", "queues/*"), _arn("mediaconvert", "jobs/*")],
        },
        {"Sid": "ProbeSources", "Effect": "Allow", "Action": UNSCOPED_ALLOWED["ProbeSources"], "Resource": "*"},
        {
            "Sid": "PassTheMediaConvertRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": f"arn:aws:iam::*:role/{mediaconvert_role_name(naming)}",
            "Condition": {"StringEquals": {"iam:PassedToService": "mediaconvert.amazonaws.com"}},
        },
        {"Sid": "ConsumeLiveEvents", "Effect": "Allow", "Action": QUEUE_ACTIONS, "Resource": [live, live_dlq]},
        {"Sid": "ParkInvalidLiveEvents", "Effect": "Allow", "Action": DLQ_SEND_ACTIONS, "Resource": [live_dlq]},
        {
            "Sid": "LiveChannels",
            "Effect": "Allow",
            "Action": ["ivs:CreateChannel", "ivs:TagResource", "ivs:PutMetadata"],
            "Resource": [_arn("ivs", "channel/*"), _arn("ivs", "recording-configuration/*")],
        },
        {"Sid": "ReadOwnSecrets", "Effect": "Allow", "Action": ["ssm:GetParameter"], "Resource": parameters},
    ]


def notify_statements(naming: Naming) -> list[dict[str, Any]]:
    # The sales ledger: notify rewrites each day's object; it never reads, lists or deletes.
    ledger = f"arn:aws:s3:::{ledger_bucket_name(naming)}/ledger/*"
    # The CRM's API token, a SecureString under the service's own path (SHOP_CRM_API_TOKEN_PARAMETER).
    parameters = f"arn:aws:ssm:*:*:parameter/{naming.prefix}/{naming.stage}/notify/*"
    return [
        {"Sid": "WriteSalesLedger", "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": ledger},
        {"Sid": "ReadOwnSecrets", "Effect": "Allow", "Action": ["ssm:GetParameter"], "Resource": parameters},
    ]


def orders_statements(naming: Naming) -> list[dict[str, Any]]:
    # The payment provider's secret key, a SecureString under the service's own path (STRIPE_SECRET_KEY_PARAMETER).
    parameters = f"arn:aws:ssm:*:*:parameter/{naming.prefix}/{naming.stage}/orders/*"
    return [{"Sid": "ReadOwnSecrets", "Effect": "Allow", "Action": ["ssm:GetParameter"], "Resource": parameters}]


def fulfillment_statements(naming: Naming) -> list[dict[str, Any]]:
    # The day's carrier CSV (Yamato B2): fulfillment rewrites each day's object whole; it never reads,
    # lists or deletes.
    lists = f"arn:aws:s3:::{naming.bucket('fulfillment', 'carrier-lists')}/yamato-b2/*"
    # The 3PL's API token and the tracking webhook's secret, SecureStrings under its own path (LOGISTICS_*_PARAMETER).
    parameters = f"arn:aws:ssm:*:*:parameter/{naming.prefix}/{naming.stage}/fulfillment/*"
    return [
        {"Sid": "WriteCarrierLists", "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": lists},
        {"Sid": "ReadOwnSecrets", "Effect": "Allow", "Action": ["ssm:GetParameter"], "Resource": parameters},
    ]


# Statements that name a stage's resources, by service.
STAGE_ADAPTER_STATEMENTS = {
    "notify": notify_statements,
    "orders": orders_statements,
    "vod": vod_statements,
    "fulfillment": fulfillment_statements,
}


def policy_path(service: str, stage: str) -> Path:
    return ROOT / "services" / service / ".chalice" / f"policy-{stage}.json"


def _arn(kind: str, resource: str) -> str:
    return f"arn:aws:{kind}:*:*:{resource}"


def table_arn(service: ServiceSpec, naming: Naming) -> str:
    return _arn("dynamodb", f"table/{naming.table(service.name)}")


def queue_arns(service: ServiceSpec, naming: Naming) -> tuple[list[str], list[str]]:
    queues = [_arn("sqs", naming.queue(service.name, s.name)) for s in service.subscriptions]
    dlqs = [_arn("sqs", naming.dlq(service.name, s.name)) for s in service.subscriptions]
    return queues, dlqs


def bus_arn(naming: Naming) -> str:
    return _arn("events", f"event-bus/{naming.bus}")


def log_group_arns(service: str, naming: Naming) -> list[str]:
    # The service's functions log to one group the template creates (LoggingConfig): no CreateLogGroup,
    # and the group, not CloudFormation's generated function names, decides the ARN. Streams add ":*".
    group = _arn("logs", f"log-group:{naming.log_group(service)}")
    return [group, f"{group}:*"]


def policy(service_name: str, stage: str) -> dict[str, Any]:
    service = TOPOLOGY.service(service_name)
    naming = Naming(stage)
    table = table_arn(service, naming)
    statements: list[dict[str, Any]] = [
        {"Sid": "Logs", "Effect": "Allow", "Action": LOG_ACTIONS, "Resource": log_group_arns(service_name, naming)},
        {"Sid": "OwnTable", "Effect": "Allow", "Action": TABLE_ACTIONS, "Resource": [table, f"{table}/index/*"]},
        {"Sid": "WriteTraces", "Effect": "Allow", "Action": UNSCOPED_ALLOWED["WriteTraces"], "Resource": "*"},
    ]
    if service.publishes:
        statements += [
            {"Sid": "OwnTableStream", "Effect": "Allow", "Action": STREAM_ACTIONS, "Resource": f"{table}/stream/*"},
            {"Sid": "ListTableStreams", "Effect": "Allow", "Action": UNSCOPED_ALLOWED["ListTableStreams"], "Resource": "*"},
            {
                "Sid": "PublishOwnEvents",
                "Effect": "Allow",
                "Action": "events:PutEvents",
                "Resource": bus_arn(naming),
                "Condition": {"StringEquals": {"events:source": service.source}},
            },
        ]
    if service.subscriptions:
        queues, dlqs = queue_arns(service, naming)
        statements += [
            {"Sid": "ConsumeOwnQueues", "Effect": "Allow", "Action": QUEUE_ACTIONS, "Resource": queues + dlqs},
            {"Sid": "ParkInvalidEvents", "Effect": "Allow", "Action": DLQ_SEND_ACTIONS, "Resource": dlqs},
            {"Sid": "ReadOwnQueueStatus", "Effect": "Allow", "Action": QUEUE_STATUS_ACTIONS, "Resource": queues + dlqs},
            {"Sid": "ReadQueueAgeMetrics", "Effect": "Allow", "Action": QUEUE_AGE_ACTIONS, "Resource": "*"},
        ]
    statements += ADAPTER_STATEMENTS.get(service_name, [])
    if service_name in STAGE_ADAPTER_STATEMENTS:
        statements += STAGE_ADAPTER_STATEMENTS[service_name](naming)
    return {"Version": "2012-10-17", "Statement": statements}


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def write_all(stage: str = "dev") -> list[Path]:
    written = []
    for service in SERVICES:
        path = policy_path(service, stage)
        path.write_text(render(policy(service, stage)))
        written.append(path)
    return written


if __name__ == "__main__":
    import sys

    for written_path in write_all(sys.argv[1] if len(sys.argv) > 1 else "dev"):
        print(written_path.relative_to(ROOT))
