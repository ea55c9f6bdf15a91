"""CloudFormation for AWS: the shared platform (bus + archive + artifacts bucket) and one merge template per service.

The bus, archive, tables, queues, DLQs, rules and queue policies are shop_infra.resources' model,
the same dicts the embedded stack applies locally; this module only wraps them in templates and adds
what exists for deploying on AWS alone.

`chalice package --merge-template` deep-merges the merge template into Chalice's own `sam.json`:
dicts merge key by key, anything else replaces. So the merge template adds the service's resources
from the model, and patches what Chalice cannot express:
- every SQS event source gets `FunctionResponseTypes: ["ReportBatchItemFailures"]`;
- the SQS-triggered function's Timeout is capped at its queue's visibility timeout (Lambda refuses
  an event source mapping whose queue's visibility timeout is shorter than the function's timeout)
  and it `DependsOn` its queue, so the mapping is created after the queue;
- the relay's DynamoDB event source `Stream` (a placeholder string at package time) becomes
  `Fn::GetAtt [ShopTable, StreamArn]`: a string replaced by a dict merges cleanly;
- every function logs to the service's one log group (`LoggingConfig`), made here with a retention;
- a function that reads a resource of its own stack gets it in its environment (API_ENVIRONMENT for
  the API, FUNCTION_ENVIRONMENT for others: vod's MediaConvert role);
- every function runs on the architecture its service's `.chalice/config.json` names
  (`lambda_architecture`, per function under `lambda_functions` or for the whole app): Chalice has no
  such setting, so the merge template writes `Architectures`. Memory is Chalice's own
  (`lambda_memory_size`), which it writes as `MemorySize`; docs/performance.md says why each size;
- what on-call needs (`_observability`): X-Ray tracing active on every function and the REST API, the
  metrics namespace, alarms on every queue, DLQ and outbox, the topic they notify, and the payment
  subscription's concurrency bound (`ScalingConfig`, beside `FunctionResponseTypes`).
The SQS event's `Queue` is never touched: Chalice writes it as an Fn::Sub string, and a Fn::GetAtt
merged into it would leave both keys in one dict, which CloudFormation rejects. Chalice's ARN is
built from the queue's name, which Naming derives, so it is the model's queue anyway.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway_responses import REST_API_ID, rest_api_resources

from shop_contracts import TOPOLOGY
from shop_eventing.relay import SWEEP_EVERY_MINUTES
from shop_eventing.topology import Naming, ServiceSpec, Subscription
from shop_infra import resources as model
from shop_infra.resources import (
    API_SCOPE,
    EVENT_BUS_ID,
    HAS_STOREFRONT_CONDITION,
    LIVE_RECORDING_ID,
    MEDIA_BUCKET_ID,
    MEDIA_DISTRIBUTION_ID,
    STOREFRONT_URL_PARAMETER,
    TABLE_ID,
    USER_POOL_CLIENT_ID,
    USER_POOL_ID,
    hosted_ui_domain,
    platform_resources,
    queue_id,
    service_resources,
    table_resource,
)

LOG_GROUP_ID = "ServiceLogGroup"
SWEEPER_HANDLER = "app.sweep_outbox"
LOG_RETENTION_DAYS = 30
ARTIFACTS_BUCKET_ID = "ArtifactsBucket"
ARTIFACTS_BUCKET_OUTPUT = "ArtifactsBucketName"
ARTIFACT_RETENTION_DAYS = 90
SERVICES_DIR = Path(__file__).resolve().parents[1] / "services"
# API Gateway checks the token before a protected function runs; the function verifies it again and
# reads the caller only from its verified claims (shop_eventing.auth).
AUTHORIZER = "ShopUserPool"
API_HANDLER_ID = "APIHandler"


ARCHITECTURES = ("x86_64", "arm64")
DEFAULT_ARCHITECTURE = "x86_64"  # Lambda's, when a function names none
DEFAULT_MEMORY_MB = 128  # Chalice's, when the config names none
API_FUNCTION = "api_handler"  # Chalice's name for the API's function (its handler is app.app)


def chalice_config(service_name: str) -> dict[str, Any]:
    return dict(json.loads((SERVICES_DIR / service_name / ".chalice" / "config.json").read_text()))


def function_setting(config: dict[str, Any], stage: str, function_name: str, key: str) -> Any:
    """A per-function setting looked up as Chalice looks up its own (`Config._chain_lookup`): the
    stage's entry for the function, the stage, the app's entry for the function, the app."""
    stage_config = config.get("stages", {}).get(stage, {})
    for scope in (
        stage_config.get("lambda_functions", {}).get(function_name, {}),
        stage_config,
        config.get("lambda_functions", {}).get(function_name, {}),
        config,
    ):
        if scope.get(key) is not None:
            return scope[key]
    return None


# Chalice's config names a WebSocket API's functions by their route, not their handler.
WEBSOCKET_FUNCTIONS = {
    "WebsocketConnect": "websocket_connect",
    "WebsocketMessage": "websocket_message",
    "WebsocketDisconnect": "websocket_disconnect",
}


def function_name_of(logical_id: str, resource: dict[str, Any]) -> str:
    """The name Chalice's config knows a function by: its handler's, api_handler for the API, or a
    WebSocket route's name."""
    handler = str(resource.get("Properties", {}).get("Handler", ""))
    if logical_id in WEBSOCKET_FUNCTIONS:
        return WEBSOCKET_FUNCTIONS[logical_id]
    return API_FUNCTION if logical_id == API_HANDLER_ID else handler.rsplit(".", 1)[-1]


def function_architecture(config: dict[str, Any], stage: str, function_name: str) -> str:
    architecture = function_setting(config, stage, function_name, "lambda_architecture") or DEFAULT_ARCHITECTURE
    if architecture not in ARCHITECTURES:
        raise ValueError(f"{function_name}: lambda_architecture {architecture!r} is not one of {ARCHITECTURES}")
    return str(architecture)


def function_memory_mb(config: dict[str, Any], stage: str, function_name: str) -> int:
    return int(function_setting(config, stage, function_name, "lambda_memory_size") or DEFAULT_MEMORY_MB)


def user_pool_exports(naming: Naming) -> dict[str, str]:
    """The platform's sign-in outputs the services (and the storefront) import: name → export name."""
    return {
        "UserPoolArn": f"{naming.bus}-user-pool-arn",
        "UserPoolClientId": f"{naming.bus}-user-pool-client-id",
        "Issuer": f"{naming.bus}-issuer",
        "HostedUiDomain": f"{naming.bus}-hosted-ui-domain",
    }


def api_exports(naming: Naming, service: str) -> dict[str, str]:
    """A service's REST API as the storefront's distribution reaches it: output name → export name."""
    return {"ApiDomain": f"{naming.table(service)}-api-domain", "ApiStage": f"{naming.table(service)}-api-stage"}


def vod_exports(naming: Naming) -> dict[str, str]:
    """What the storefront's page talks to in vod's stack besides its API (its Content-Security-Policy):
    the push channel, the media distribution, the media bucket it uploads sources to."""
    return {
        "PushDomain": f"{naming.table('vod')}-push-domain",
        "MediaDomain": f"{naming.table('vod')}-media-domain",
        "UploadDomain": f"{naming.table('vod')}-upload-domain",
    }


__all__ = [
    "ARTIFACTS_BUCKET_OUTPUT",
    "TABLE_ID",
    "merge_template",
    "platform_template",
    "subscription_resources",
    "table_resource",
]


def platform_template(stage: str) -> dict[str, Any]:
    """The bus, its archive and the deployment artifacts bucket, shared by every service: deployed once
    per stage, before any service."""
    naming = Naming(stage)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"shop platform ({stage}): the event bus, its archive, the deployment artifacts bucket",
        "Parameters": {
            STOREFRONT_URL_PARAMETER: {
                "Type": "String",
                "Default": "",
                # An origin: the app client's URLs append their paths to it.
                "AllowedPattern": r"^(https://[a-z0-9.-]+)?$",
                "Description": "The storefront's origin (https://<host>): its sign-in callbacks and sign-out "
                "returns (set by `make deploy-web`; empty: none)",
            }
        },
        "Conditions": {HAS_STOREFRONT_CONDITION: {"Fn::Not": [{"Fn::Equals": [{"Ref": STOREFRONT_URL_PARAMETER}, ""]}]}},
        "Resources": {
            **platform_resources(naming),
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
            "EventBusName": {"Value": {"Ref": EVENT_BUS_ID}},
            "EventBusArn": {
                "Value": {"Fn::GetAtt": [EVENT_BUS_ID, "Arn"]},
                "Export": {"Name": f"{naming.bus}-bus-arn"},
            },
            ARTIFACTS_BUCKET_OUTPUT: {"Value": {"Ref": ARTIFACTS_BUCKET_ID}},
            **_user_pool_outputs(naming),
        },
    }


def _user_pool_outputs(naming: Naming) -> dict[str, Any]:
    values: dict[str, Any] = {
        "UserPoolArn": {"Fn::GetAtt": [USER_POOL_ID, "Arn"]},
        # The services' audience: Cognito's access tokens name the app client in `client_id`.
        "UserPoolClientId": {"Ref": USER_POOL_CLIENT_ID},
        "Issuer": {"Fn::Sub": f"https://cognito-idp.${{AWS::Region}}.amazonaws.com/${{{USER_POOL_ID}}}"},
        # The authorize, token and logout endpoints' host: the storefront's page calls the token endpoint.
        "HostedUiDomain": hosted_ui_domain(naming),
    }
    exports = user_pool_exports(naming)
    return {name: {"Value": value, "Export": {"Name": exports[name]}} for name, value in values.items()}


def protected_operations(service_name: str) -> dict[str, set[str]]:
    """Path → methods that need a token, from the service's committed OpenAPI document (generated
    from the routes' own sign-in requirement; `make openapi-check` keeps it current)."""
    document = json.loads((SERVICES_DIR / service_name / "openapi.json").read_text())
    found: dict[str, set[str]] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if operation.get("security"):
                found.setdefault(path, set()).add(method)
    return found


def _authorizer_definition(service_name: str, naming: Naming, chalice_sam: dict[str, Any]) -> dict[str, Any]:
    protected = protected_operations(service_name)
    if not protected:
        return {}
    paths = chalice_sam["Resources"][REST_API_ID]["Properties"].get("DefinitionBody", {}).get("paths", {})
    for path, methods in protected.items():
        missing = methods - set(paths.get(path, {}))
        if missing:
            raise ValueError(f"{service_name}: {sorted(missing)} {path} is protected in openapi.json but not in Chalice's API")
    return {
        "securityDefinitions": {
            AUTHORIZER: {
                "type": "apiKey",
                "name": "Authorization",
                "in": "header",
                "x-amazon-apigateway-authtype": "cognito_user_pools",
                "x-amazon-apigateway-authorizer": {
                    "type": "cognito_user_pools",
                    "providerARNs": [{"Fn::ImportValue": user_pool_exports(naming)["UserPoolArn"]}],
                },
            }
        },
        # With a scope the authorizer takes access tokens (the API's scope), not ID tokens.
        "paths": {
            path: {method: {"security": [{AUTHORIZER: [API_SCOPE]}]} for method in methods} for path, methods in protected.items()
        },
    }


def _sign_in_environment(naming: Naming) -> dict[str, Any]:
    exports = user_pool_exports(naming)
    return {
        "SHOP_AUTH_ISSUER": {"Fn::ImportValue": exports["Issuer"]},
        "SHOP_AUTH_AUDIENCE": {"Fn::ImportValue": exports["UserPoolClientId"]},
    }


def _vod_api_environment(naming: Naming) -> dict[str, Any]:
    """vod's API makes live shows' IVS channels, which record with the stage's recording configuration,
    and signs their playback tokens with the playback key pair's private key (a SecureString put there
    once per stage with the key pair's import: docs/deploy.md)."""
    return {
        # Videos: the media distribution's URL and the key that signs playback cookies.
        **model.vod_playback_environment(naming),
        "VOD_IVS_RECORDING_CONFIGURATION_ARN": {"Ref": LIVE_RECORDING_ID},
        "VOD_PLAYBACK_PRIVATE_KEY_PARAMETER": f"/{naming.prefix}/{naming.stage}/vod/playback-private-key",
    }


# What a service's API function reads from resources of its own stack besides the sign-in settings, by service.
API_ENVIRONMENT: dict[str, Callable[[Naming], dict[str, Any]]] = {"vod": _vod_api_environment}

# What other functions read from resources of their service's stack, by service and Chalice function name
# (vod: the transcode subscriber passes MediaConvert its role; the API never calls MediaConvert).
FUNCTION_ENVIRONMENT: dict[str, dict[str, Callable[[Naming], dict[str, Any]]]] = {
    "vod": {"start_transcode": model.vod_transcode_environment}
}


def _function_environment(service_name: str, logical_id: str, resource: dict[str, Any], naming: Naming) -> dict[str, Any] | None:
    """What a function reads besides Chalice's settings: the API verifies tokens (issuer and audience from
    the platform's user pool) and reads its service's own resources; another function its extras, if any."""
    if logical_id == API_HANDLER_ID:
        extra = API_ENVIRONMENT.get(service_name)
        return {**_sign_in_environment(naming), **(extra(naming) if extra else {})}
    own = FUNCTION_ENVIRONMENT.get(service_name, {}).get(function_name_of(logical_id, resource))
    return own(naming) if own else None


def subscription_resources(service: ServiceSpec, subscription: Subscription, naming: Naming) -> dict[str, Any]:
    """One subscription's resources in the shop's topology (the deploy tests deploy them alone)."""
    return model.subscription_resources(TOPOLOGY, service, subscription, naming)


def _queue_name_of(event_source: dict[str, Any]) -> str | None:
    queue = event_source.get("Properties", {}).get("Queue")
    if isinstance(queue, dict) and "Fn::Sub" in queue:
        queue = queue["Fn::Sub"]
    if isinstance(queue, str):
        return queue.rsplit(":", 1)[-1]
    return None


def _consumed_queue(
    service_name: str,
    logical_id: str,
    queue_name: str | None,
    by_queue: dict[str, Subscription],
    own_queues: dict[str, tuple[str, int]],
    consumed: set[str],
) -> tuple[str, int]:
    """The logical id and visibility timeout of the queue a function consumes: a subscription's (noted
    in `consumed`) or one the service owns besides."""
    subscription = by_queue.get(queue_name or "")
    if subscription is not None:
        consumed.add(subscription.name)
        return queue_id(subscription), subscription.visibility_timeout_seconds
    own = own_queues.get(queue_name or "")
    if own is None:
        raise ValueError(f"{service_name}: {logical_id} consumes {queue_name!r}, not in the topology")
    return own


# -- a WebSocket API (vod's push channel): Chalice emits the API, its routes, integrations and stage --------

WEBSOCKET_API_ID = "WebsocketAPI"
WEBSOCKET_CONNECT_ID = "WebsocketConnect"
PUSH_ENDPOINT_ENV = "VOD_PUSH_ENDPOINT"
MANAGE_CONNECTIONS_POLICY_ID = "ManageWebsocketConnections"
# The functions that post to connections (by Chalice's config name): the answer to a client's message,
# and vod's fan-outs of pins and order statuses. Only their roles may, and only they get the endpoint.
POSTING_FUNCTIONS = frozenset({"websocket_message", "push_pins", "push_orders"})


def _wire_websocket_api(resources: dict[str, Any], chalice_sam: dict[str, Any], naming: Naming) -> None:
    """What Chalice leaves out of a WebSocket API: every function learns the stage's management endpoint
    (the SQS fan-out posts to connections without a WebSocket event to read it from), $connect verifies
    tokens as the REST API does (WebSocket APIs take no Cognito authorizer), and the functions' role may
    post to this API's connections alone (the static policy file cannot name an API id made at deploy)."""
    stage_name = chalice_sam["Resources"]["WebsocketAPIStage"]["Properties"]["StageName"]
    endpoint = {"Fn::Sub": f"https://${{{WEBSOCKET_API_ID}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{stage_name}"}
    roles = []
    for logical_id, resource in chalice_sam["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        variables = resources[logical_id]["Properties"].setdefault("Environment", {}).setdefault("Variables", {})
        if function_name_of(logical_id, resource) in POSTING_FUNCTIONS:
            variables[PUSH_ENDPOINT_ENV] = endpoint
            role = resource["Properties"].get("Role")
            if isinstance(role, dict) and "Fn::GetAtt" in role:
                roles.append(role["Fn::GetAtt"][0])
        if logical_id == WEBSOCKET_CONNECT_ID:
            variables.update(_sign_in_environment(naming))
    if not roles:
        raise ValueError(f"no function of the WebSocket API's service posts to connections ({sorted(POSTING_FUNCTIONS)})")
    resources[MANAGE_CONNECTIONS_POLICY_ID] = {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": "ManageWebsocketConnections",
            "Roles": [{"Ref": role} for role in roles],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "execute-api:ManageConnections",
                        "Resource": {
                            "Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"
                            f"${{{WEBSOCKET_API_ID}}}/{stage_name}/POST/@connections/*"
                        },
                    }
                ],
            },
        },
    }


def merge_template(service_name: str, stage: str, chalice_sam: dict[str, Any]) -> dict[str, Any]:
    """The merge template for one service, given the `sam.json` Chalice generated without it.

    Chalice names resources after the handler functions, so its template tells which function and
    which event source consume which queue; the service's resources come from the model.
    """
    service = TOPOLOGY.service(service_name)
    naming = Naming(stage)
    resources: dict[str, Any] = {
        **service_resources(TOPOLOGY, service, naming),
        LOG_GROUP_ID: {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": naming.log_group(service.name), "RetentionInDays": LOG_RETENTION_DAYS},
        },
    }
    config = chalice_config(service_name)
    by_queue = {naming.queue(service.name, s.name): s for s in service.subscriptions}
    # Queues a service owns beyond its subscriptions (vod's transcode job events): name → (logical id, visibility).
    own_queues = {
        str(r["Properties"]["QueueName"]): (logical_id, int(r["Properties"]["VisibilityTimeout"]))
        for logical_id, r in resources.items()
        if r["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in r["Properties"] and r["Properties"]["QueueName"] not in by_queue
    }
    consumed: set[str] = set()
    has_relay = has_sweeper = False
    for logical_id, resource in chalice_sam.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        # One group for the whole service, with a retention: CloudFormation names the functions, so
        # their default groups (/aws/lambda/<generated name>) could not be named in the IAM policy.
        resources[logical_id] = {
            "Properties": {
                "LoggingConfig": {"LogGroup": {"Ref": LOG_GROUP_ID}},
                "Architectures": [function_architecture(config, stage, function_name_of(logical_id, resource))],
            }
        }
        variables = _function_environment(service_name, logical_id, resource, naming)
        if variables is not None:
            resources[logical_id]["Properties"]["Environment"] = {"Variables": variables}
        for event_id, event in resource.get("Properties", {}).get("Events", {}).items():
            if event.get("Type") == "SQS":
                queue_name = _queue_name_of(event)
                depends, visibility = _consumed_queue(service_name, logical_id, queue_name, by_queue, own_queues, consumed)
                timeout = resource["Properties"].get("Timeout", visibility)
                resources[logical_id]["DependsOn"] = [depends]
                resources[logical_id]["Properties"]["Timeout"] = min(timeout, visibility)
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
    if WEBSOCKET_API_ID in chalice_sam.get("Resources", {}):
        _wire_websocket_api(resources, chalice_sam, naming)
    # API Gateway's own errors in the one shape, and the Cognito authorizer on the protected routes.
    if REST_API_ID in chalice_sam.get("Resources", {}):
        resources.update(rest_api_resources(chalice_sam, _authorizer_definition(service_name, naming, chalice_sam)))
    return {
        **_observability(service, naming, chalice_sam, resources),
        "Resources": resources,
        "Outputs": {
            "TableName": {"Value": {"Ref": TABLE_ID}},
            "TableStreamArn": {"Value": {"Fn::GetAtt": [TABLE_ID, "StreamArn"]}},
            "AlarmTopicArn": {"Value": {"Ref": ALARM_TOPIC_ID}},
            **_storefront_outputs(service.name, naming, chalice_sam),
        },
    }


# Chalice's `api_gateway_stage` when a config names none.
CHALICE_DEFAULT_API_STAGE = "api"
EXECUTE_API_HOST = "execute-api.${AWS::Region}.${AWS::URLSuffix}"


def _storefront_outputs(service_name: str, naming: Naming, chalice_sam: dict[str, Any]) -> dict[str, Any]:
    """What the storefront's stack imports (deploy/storefront.py): the REST API's host and stage, which
    its distribution forwards /api/<service>/* to; and vod's push channel and media hosts, which the
    page's Content-Security-Policy names."""
    chalice_resources = chalice_sam.get("Resources", {})
    exported: dict[str, tuple[Any, str]] = {}  # output → (value, export name)
    outputs: dict[str, Any] = {}
    if REST_API_ID in chalice_resources:
        names = api_exports(naming, service_name)
        stage = chalice_resources[REST_API_ID].get("Properties", {}).get("StageName", CHALICE_DEFAULT_API_STAGE)
        exported["ApiDomain"] = ({"Fn::Sub": f"${{{REST_API_ID}}}.{EXECUTE_API_HOST}"}, names["ApiDomain"])
        exported["ApiStage"] = (stage, names["ApiStage"])
    if service_name == "vod":
        names = vod_exports(naming)
        exported["MediaDomain"] = ({"Fn::GetAtt": [MEDIA_DISTRIBUTION_ID, "DomainName"]}, names["MediaDomain"])
        # The host of vod's presigned upload URLs (<bucket>.s3.amazonaws.com), which the console PUTs to.
        exported["UploadDomain"] = ({"Fn::GetAtt": [MEDIA_BUCKET_ID, "DomainName"]}, names["UploadDomain"])
        if WEBSOCKET_API_ID in chalice_resources:
            host = f"${{{WEBSOCKET_API_ID}}}.{EXECUTE_API_HOST}"
            exported["PushDomain"] = ({"Fn::Sub": host}, names["PushDomain"])
            # What the page opens (config.json's push_url): read by `make deploy-web`, imported by nothing.
            ws_stage = chalice_resources["WebsocketAPIStage"]["Properties"]["StageName"]
            outputs["PushUrl"] = {"Value": {"Fn::Sub": f"wss://{host}/{ws_stage}"}}
    return {name: {"Value": value, "Export": {"Name": export}} for name, (value, export) in exported.items()} | outputs


# -- what an on-call person needs on AWS: traces, alarms, where the alarms go -----------------------------

ALARM_TOPIC_ID = "AlarmTopic"
ALARM_EMAIL_PARAMETER = "AlarmEmail"
HAS_ALARM_EMAIL = "HasAlarmEmail"
METRICS_NAMESPACE = "shop"  # shop_eventing.metrics writes here (POWERTOOLS_METRICS_NAMESPACE)
# A message older than this in a subscription's queue pages: five minutes is many times what any
# handler takes, yet short enough that a customer waiting on an order is still waiting.
OLDEST_MESSAGE_ALARM_SECONDS = 300
# A subscription whose messages may wait longer by design names its own threshold here.
OLDEST_MESSAGE_ALARM_OVERRIDES: dict[tuple[str, str], int] = {}
# An event still in the outbox this long was missed by the stream relay and not yet swept: the
# sweeper takes what waited past its grace (2 minutes) every 5 minutes, so a healthy outbox publishes
# everything within about 7.
OUTBOX_AGE_ALARM_SECONDS = 600
# Subscriptions that call a rate-limited partner, bounded in concurrent function instances (SQS's
# `MaximumConcurrency`, at least 2). Payments: Stripe allows 100 read/write requests per second in live
# mode and 25 in test mode; a charge is one request (a confirmed PaymentIntent) of about 0.3 s or more,
# so each instance makes at most ~3 requests a second, and 5 instances stay under test mode's 25 with
# room left in live mode for refunds and the API. The rest of a burst waits in the queue, which is
# what the queue is for (docs/reliability.md).
MAXIMUM_CONCURRENCY: dict[tuple[str, str], int] = {("orders", "charge-payment"): 5}


def oldest_message_alarm_seconds(service: str, subscription: str) -> int:
    return OLDEST_MESSAGE_ALARM_OVERRIDES.get((service, subscription), OLDEST_MESSAGE_ALARM_SECONDS)


def _alarm(
    description: str, metric: dict[str, Any], threshold: int, *, period: int = 60, missing: str = "notBreaching"
) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            **metric,
            "Statistic": "Maximum",
            "Period": period,
            "EvaluationPeriods": 1,
            "Threshold": threshold,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": missing,
            "AlarmActions": [{"Ref": ALARM_TOPIC_ID}],
            "OKActions": [{"Ref": ALARM_TOPIC_ID}],
        },
    }


def _sqs_metric(name: str, queue_name: Any) -> dict[str, Any]:
    return {"Namespace": "AWS/SQS", "MetricName": name, "Dimensions": [{"Name": "QueueName", "Value": queue_name}]}


def queue_alarms(service_name: str, naming: Naming, resources: dict[str, Any]) -> dict[str, Any]:
    """Per queue with a DLQ (every subscription's, and those a service owns besides): any message in its
    DLQ, and its oldest message past the subscription's threshold."""
    subscription_of = {naming.queue(service_name, s.name): s.name for s in TOPOLOGY.service(service_name).subscriptions}
    alarms: dict[str, Any] = {}
    for logical_id, resource in list(resources.items()):
        properties = resource.get("Properties", {})
        if resource.get("Type") != "AWS::SQS::Queue" or "RedrivePolicy" not in properties:
            continue
        queue_name = str(properties["QueueName"])
        dlq_id = properties["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        dlq_name = resources[dlq_id]["Properties"]["QueueName"]
        subscription = subscription_of.get(queue_name)
        threshold = oldest_message_alarm_seconds(service_name, subscription) if subscription else OLDEST_MESSAGE_ALARM_SECONDS
        alarms[f"{dlq_id}MessagesAlarm"] = _alarm(
            f"{dlq_name} holds a message: an event no retry could handle (shop dlq show, docs/reliability.md)",
            _sqs_metric("ApproximateNumberOfMessagesVisible", dlq_name),
            0,
        )
        alarms[f"{logical_id}AgeAlarm"] = _alarm(
            f"{queue_name}'s oldest message is over {threshold} s old: its subscriber is failing or falling behind",
            _sqs_metric("ApproximateAgeOfOldestMessage", queue_name),
            threshold,
        )
    return alarms


def outbox_alarm(service: ServiceSpec) -> dict[str, Any]:
    """An event published later than OUTBOX_AGE_ALARM_SECONDS after it was written (the relay's and the
    sweeper's OutboxAgeSeconds, shop_eventing.metrics)."""
    metric = {
        "Namespace": METRICS_NAMESPACE,
        "MetricName": "OutboxAgeSeconds",
        "Dimensions": [{"Name": "service", "Value": service.source}],
    }
    description = (
        f"{service.name} published an event over {OUTBOX_AGE_ALARM_SECONDS} s after writing it: the outbox has a backlog"
    )
    stalled = {**metric, "MetricName": "OutboxOldestUnpublishedSeconds"}
    stalled_description = (
        f"{service.name} has an outbox item unpublished for over {OUTBOX_AGE_ALARM_SECONDS} s, or its sweeper stopped "
        "reporting: nothing may be getting published at all (shop status, shop reconcile)"
    )
    return {
        "OutboxBacklogAlarm": _alarm(description, metric, OUTBOX_AGE_ALARM_SECONDS, period=300),
        # The sweeper reports every SWEEP_EVERY_MINUTES whatever happens: no data for two of its runs is
        # itself the alarm (the relay's own metric goes quiet exactly when nothing is published).
        "OutboxStalledAlarm": _alarm(
            stalled_description, stalled, OUTBOX_AGE_ALARM_SECONDS, period=2 * SWEEP_EVERY_MINUTES * 60, missing="breaching"
        ),
    }


def alarm_topic() -> dict[str, Any]:
    """The stack's alarms notify one topic; an e-mail address given as the AlarmEmail parameter
    (deploy/stacks.py passes SHOP_ALARM_EMAIL) is subscribed to it."""
    return {
        ALARM_TOPIC_ID: {"Type": "AWS::SNS::Topic", "Properties": {}},
        "AlarmEmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": HAS_ALARM_EMAIL,
            "Properties": {"TopicArn": {"Ref": ALARM_TOPIC_ID}, "Protocol": "email", "Endpoint": {"Ref": ALARM_EMAIL_PARAMETER}},
        },
    }


def _observability(
    service: ServiceSpec, naming: Naming, chalice_sam: dict[str, Any], resources: dict[str, Any]
) -> dict[str, Any]:
    """Adds to `resources` what on-call needs; returns the template's Parameters and Conditions for it."""
    by_queue = {naming.queue(service.name, s.name): s.name for s in service.subscriptions}
    for logical_id, resource in chalice_sam.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resources[logical_id]["Properties"]
        # Active, not PassThrough: every function samples and starts a trace of its own, so an event's
        # consumers appear even when its producer's trace did not travel with it.
        properties["Tracing"] = "Active"
        properties.setdefault("Environment", {}).setdefault("Variables", {})["POWERTOOLS_METRICS_NAMESPACE"] = METRICS_NAMESPACE
        for event_id, event in resource.get("Properties", {}).get("Events", {}).items():
            bound = MAXIMUM_CONCURRENCY.get((service.name, by_queue.get(_queue_name_of(event) or "", "")))
            if event.get("Type") == "SQS" and bound is not None:
                properties["Events"][event_id]["Properties"]["ScalingConfig"] = {"MaximumConcurrency": bound}
    if REST_API_ID in chalice_sam.get("Resources", {}):
        resources.setdefault(REST_API_ID, {}).setdefault("Properties", {})["TracingEnabled"] = True
    resources.update(queue_alarms(service.name, naming, resources))
    if service.publishes:
        resources.update(outbox_alarm(service))
    resources.update(alarm_topic())
    return {
        "Parameters": {
            ALARM_EMAIL_PARAMETER: {
                "Type": "String",
                "Default": "",
                "Description": "An e-mail address to notify of this stack's alarms (empty: none)",
            }
        },
        "Conditions": {HAS_ALARM_EMAIL: {"Fn::Not": [{"Fn::Equals": [{"Ref": ALARM_EMAIL_PARAMETER}, ""]}]}},
    }
