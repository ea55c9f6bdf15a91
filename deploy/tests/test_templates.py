"""merge_template against a Chalice-shaped template, without running Chalice (packaging tests do)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import templates
from policies import SERVICES
from templates import merge_template, platform_template, protected_operations

from shop_contracts import TOPOLOGY
from shop_eventing.topology import Naming
from shop_infra.resources import model


def function(handler: str, events: dict[str, Any]) -> dict[str, Any]:
    return {"Type": "AWS::Serverless::Function", "Properties": {"Handler": handler, "Timeout": 60, "Events": events}}


def sqs(queue: str) -> dict[str, Any]:
    arn = f"arn:${{AWS::Partition}}:sqs:${{AWS::Region}}:${{AWS::AccountId}}:{queue}"
    return {"Type": "SQS", "Properties": {"Queue": {"Fn::Sub": arn}, "BatchSize": 10}}


def catalog_sam() -> dict[str, Any]:
    naming = Naming("dev")
    return {
        "Resources": {
            "ReserveStock": function("app.reserve_stock", {"E": sqs(naming.queue("catalog", "reserve-stock"))}),
            "ReleaseStock": function("app.release_stock", {"E": sqs(naming.queue("catalog", "release-stock"))}),
            "RelayOutbox": function("app.relay_outbox", {"E": {"Type": "DynamoDB", "Properties": {"Stream": "placeholder"}}}),
            "SweepOutbox": function(
                "app.sweep_outbox", {"E": {"Type": "Schedule", "Properties": {"Schedule": "rate(5 minutes)"}}}
            ),
            "APIHandler": {"Type": "AWS::Serverless::Function", "Properties": {"Handler": "app.app"}},
        }
    }


def test_every_function_logs_to_the_service_group_and_sqs_sources_report_partial_batches() -> None:
    merged = merge_template("catalog", "dev", catalog_sam())["Resources"]

    assert merged["ServiceLogGroup"]["Properties"]["LogGroupName"] == "/aws/lambda/shop-dev-catalog"
    for name in ("ReserveStock", "ReleaseStock", "RelayOutbox", "SweepOutbox", "APIHandler"):
        assert merged[name]["Properties"]["LoggingConfig"] == {"LogGroup": {"Ref": "ServiceLogGroup"}}
    assert merged["ReserveStock"]["Properties"]["Events"]["E"]["Properties"] == {
        "FunctionResponseTypes": ["ReportBatchItemFailures"]
    }
    assert merged["RelayOutbox"]["Properties"]["Events"]["E"]["Properties"] == {
        "Stream": {"Fn::GetAtt": ["ShopTable", "StreamArn"]}
    }


def test_a_publishing_service_without_its_outbox_sweeper_is_refused() -> None:
    sam = catalog_sam()
    del sam["Resources"]["SweepOutbox"]

    with pytest.raises(ValueError, match=r"no scheduled app\.sweep_outbox"):
        merge_template("catalog", "dev", sam)


def test_a_publishing_service_without_its_relay_is_refused() -> None:
    sam = catalog_sam()
    del sam["Resources"]["RelayOutbox"]

    with pytest.raises(ValueError, match="no DynamoDB stream relay"):
        merge_template("catalog", "dev", sam)


def test_the_templates_carry_the_resource_model_unchanged() -> None:
    """One definition: provision applies these very dicts, so nothing may be added or altered here."""
    shop = model(TOPOLOGY, Naming("dev"))
    merged = merge_template("catalog", "dev", catalog_sam())["Resources"]
    platform = platform_template("dev")["Resources"]

    assert {k: v for k, v in merged.items() if k in shop.services["catalog"]} == shop.services["catalog"]
    alarms = {
        k for k, v in merged.items() if v.get("Type") in ("AWS::CloudWatch::Alarm", "AWS::SNS::Topic", "AWS::SNS::Subscription")
    }
    assert sorted(set(merged) - set(shop.services["catalog"]) - alarms) == [
        "APIHandler",
        "RelayOutbox",
        "ReleaseStock",
        "ReserveStock",
        "ServiceLogGroup",
        "SweepOutbox",
    ]
    assert {k: v for k, v in platform.items() if k in shop.platform} == shop.platform
    assert sorted(set(platform) - set(shop.platform)) == ["ArtifactsBucket"]


def with_rest_api(sam: dict[str, Any], paths: dict[str, Any]) -> dict[str, Any]:
    rest_api = {"Type": "AWS::Serverless::Api", "Properties": {"DefinitionBody": {"swagger": "2.0", "paths": paths}}}
    return {"Resources": {**sam["Resources"], "RestAPI": rest_api}}


def test_the_protected_routes_get_the_cognito_authorizer_and_the_api_its_issuer() -> None:
    paths = {"/products/{sku}": {"get": {}, "put": {}}, "/health": {"get": {}}, "/openapi.json": {"get": {}}}
    # The staff's routes (/staff/products..., /ops/status), as Chalice lists them.
    staff = {
        path: {method: {} for method in methods}
        for path, methods in protected_operations("catalog").items()
        if path.startswith(("/staff/", "/ops/"))
    }
    assert "/ops/status" in staff
    merged = merge_template("catalog", "dev", with_rest_api(catalog_sam(), paths | staff))["Resources"]

    body = merged["RestAPI"]["Properties"]["DefinitionBody"]
    # Only the staff's routes are protected in catalog's OpenAPI document; reading stays public.
    security = {"security": [{"ShopUserPool": ["shop-api/shop"]}]}
    assert body["paths"] == {"/products/{sku}": {"put": security}} | {
        path: dict.fromkeys(ms, security) for path, ms in staff.items()
    }
    authorizer = body["securityDefinitions"]["ShopUserPool"]["x-amazon-apigateway-authorizer"]
    assert authorizer == {"type": "cognito_user_pools", "providerARNs": [{"Fn::ImportValue": "shop-dev-user-pool-arn"}]}
    assert merged["APIHandler"]["Properties"]["Environment"]["Variables"] == {
        "SHOP_AUTH_ISSUER": {"Fn::ImportValue": "shop-dev-issuer"},
        "SHOP_AUTH_AUDIENCE": {"Fn::ImportValue": "shop-dev-user-pool-client-id"},
        "POWERTOOLS_METRICS_NAMESPACE": "shop",
    }
    exported = {o["Export"]["Name"] for o in platform_template("dev")["Outputs"].values() if "Export" in o}
    assert {"shop-dev-user-pool-arn", "shop-dev-issuer", "shop-dev-user-pool-client-id"} <= exported


def vod_sam() -> dict[str, Any]:
    """vod's functions as Chalice names them: a subscriber per subscription (handler `app.<chalice name>`,
    the transcode subscriber's being start_transcode), the job-events consumer, the relay, the sweeper, the API."""
    naming = Naming("dev")
    handlers = {"transcode": "app.start_transcode"}
    subscribers = {
        f"Handle{s.name.title().replace('-', '')}": function(
            handlers.get(s.name, "app.handle"), {"E": sqs(naming.queue("vod", s.name))}
        )
        for s in TOPOLOGY.service("vod").subscriptions
    }
    return {
        "Resources": {
            **subscribers,
            "JobEvents": function("app.transcode_job_events", {"E": sqs(naming.queue("vod", "transcode-jobs"))}),
            "RelayOutbox": function("app.relay_outbox", {"E": {"Type": "DynamoDB", "Properties": {"Stream": "placeholder"}}}),
            "SweepOutbox": function(
                "app.sweep_outbox", {"E": {"Type": "Schedule", "Properties": {"Schedule": "rate(5 minutes)"}}}
            ),
            "APIHandler": {"Type": "AWS::Serverless::Function", "Properties": {"Handler": "app.app"}},
        }
    }


def test_vods_api_signs_playback_cookies_for_its_own_distribution_with_the_key_in_ssm() -> None:
    merged = merge_template("vod", "dev", vod_sam())["Resources"]

    variables = merged["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert variables["VOD_MEDIA_BASE_URL"] == {"Fn::Sub": "https://${MediaDistribution.DomainName}"}
    assert variables["VOD_MEDIA_KEY_PAIR_ID"] == {"Ref": "MediaSigningPublicKey"}
    assert variables["VOD_MEDIA_SIGNING_KEY_PARAMETER"] == "/shop/dev/vod/media-signing-key"
    assert "SHOP_AUTH_ISSUER" in variables
    encoded = merged["MediaSigningPublicKey"]["Properties"]["PublicKeyConfig"]["EncodedKey"]
    assert encoded == "{{resolve:ssm:/shop/dev/vod/media-signing-public-key}}"
    assert merged["MediaKeyGroup"]["Properties"]["KeyGroupConfig"]["Items"] == [{"Ref": "MediaSigningPublicKey"}]


def test_vods_transcode_subscriber_passes_mediaconvert_the_role_its_stack_declares() -> None:
    """start_transcode is the one function that calls CreateJob: it alone gets the role's ARN."""
    merged = merge_template("vod", "dev", vod_sam())["Resources"]

    variables = {k: merged[k]["Properties"].get("Environment", {}).get("Variables", {}) for k in vod_sam()["Resources"]}
    assert variables["HandleTranscode"]["VOD_MEDIACONVERT_ROLE_ARN"] == {"Fn::GetAtt": ["MediaConvertRole", "Arn"]}
    assert merged["MediaConvertRole"]["Properties"]["RoleName"] == "shop-dev-vod-mediaconvert"
    assert [k for k, v in variables.items() if "VOD_MEDIACONVERT_ROLE_ARN" in v] == ["HandleTranscode"]


def test_a_protected_route_chalice_does_not_know_is_refused() -> None:
    with pytest.raises(ValueError, match=r"protected in openapi\.json"):
        merge_template("catalog", "dev", with_rest_api(catalog_sam(), {"/health": {"get": {}}}))


def test_every_function_runs_on_the_architecture_its_config_names() -> None:
    merged = merge_template("catalog", "dev", catalog_sam())["Resources"]

    functions = ("ReserveStock", "ReleaseStock", "RelayOutbox", "SweepOutbox", "APIHandler")
    assert {name: merged[name]["Properties"]["Architectures"] for name in functions} == {name: ["arm64"] for name in functions}


def test_function_settings_are_looked_up_as_chalice_looks_up_its_own() -> None:
    config = {
        "lambda_architecture": "arm64",
        "lambda_functions": {"relay_outbox": {"lambda_memory_size": 512}, "api_handler": {"lambda_architecture": "x86_64"}},
        "stages": {"dev": {"lambda_functions": {"relay_outbox": {"lambda_memory_size": 1024}}}},
    }

    # The stage's entry for the function, the stage, the app's entry for the function, the app.
    assert templates.function_memory_mb(config, "dev", "relay_outbox") == 1024
    assert templates.function_memory_mb(config, "local", "relay_outbox") == 512
    assert templates.function_memory_mb(config, "dev", "sweep_outbox") == 128  # Chalice's default
    assert templates.function_architecture(config, "dev", "api_handler") == "x86_64"
    assert templates.function_architecture(config, "dev", "relay_outbox") == "arm64"
    assert templates.function_architecture({}, "dev", "relay_outbox") == "x86_64"  # Lambda's default
    with pytest.raises(ValueError, match="not one of"):
        templates.function_architecture({"lambda_architecture": "arm"}, "dev", "relay_outbox")


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_sizes_each_of_its_functions_and_runs_them_on_arm64(service: str) -> None:
    """docs/performance.md sizes each function; one left to Chalice's 128 MB default would be a
    forgotten one (its init alone would take seconds at 7 % of a vCPU)."""
    config = templates.chalice_config(service)
    sized = {**config.get("lambda_functions", {})}
    for stage in config["stages"].values():
        sized |= stage.get("lambda_functions", {})

    assert "api_handler" in sized
    for name in sized:
        for stage in config["stages"]:
            assert templates.function_memory_mb(config, stage, name) >= 256, (name, stage)
            assert templates.function_architecture(config, stage, name) == "arm64", (name, stage)


def vod_sam_with_websockets() -> dict[str, Any]:
    """vod as Chalice packages it: a function per subscription and queue, the relay and the sweeper, and the
    WebSocket API's functions (each with its own role, as Chalice makes them) and stage."""
    naming = Naming("dev")

    def with_role(name: str, resource: dict[str, Any]) -> dict[str, Any]:
        resource["Properties"]["Role"] = {"Fn::GetAtt": [f"{name}Role", "Arn"]}
        return resource

    # The fan-outs by the logical ids Chalice gives them; the other subscriptions' ids matter to no test here.
    posting = {"push-pins": "PushPins", "push-orders": "PushOrders"}
    functions = {
        posting.get(subscription.name, f"Sub{index}"): function(
            f"app.{subscription.name.replace('-', '_')}", {"E": sqs(naming.queue("vod", subscription.name))}
        )
        for index, subscription in enumerate(TOPOLOGY.service("vod").subscriptions)
    }
    functions["Jobs"] = function("app.transcode_job_events", {"E": sqs(naming.queue("vod", "transcode-jobs"))})
    functions["RelayOutbox"] = function("app.relay_outbox", {"E": {"Type": "DynamoDB", "Properties": {"Stream": "placeholder"}}})
    functions["SweepOutbox"] = function(
        "app.sweep_outbox", {"E": {"Type": "Schedule", "Properties": {"Schedule": "rate(5 minutes)"}}}
    )
    for logical_id, handler in (
        ("WebsocketConnect", "app.push_connect"),
        ("WebsocketMessage", "app.push_message"),
        ("WebsocketDisconnect", "app.push_disconnect"),
    ):
        functions[logical_id] = {"Type": "AWS::Serverless::Function", "Properties": {"Handler": handler}}
    resources = {name: with_role(name, resource) for name, resource in functions.items()}
    resources["WebsocketAPI"] = {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"ProtocolType": "WEBSOCKET"}}
    resources["WebsocketAPIStage"] = {"Type": "AWS::ApiGatewayV2::Stage", "Properties": {"StageName": "api"}}
    return {"Resources": resources}


def test_the_websocket_api_gets_its_endpoint_token_check_and_a_policy_for_this_api_alone() -> None:
    assert {s.name for s in TOPOLOGY.service("vod").subscriptions} >= {"push-pins", "push-orders"}

    merged = merge_template("vod", "dev", vod_sam_with_websockets())["Resources"]

    endpoint = {"Fn::Sub": "https://${WebsocketAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api"}
    variables = {name: merged[name]["Properties"].get("Environment", {}).get("Variables", {}) for name in merged}
    assert {name for name, v in variables.items() if "VOD_PUSH_ENDPOINT" in v} == {"PushPins", "PushOrders", "WebsocketMessage"}
    assert variables["PushPins"]["VOD_PUSH_ENDPOINT"] == variables["PushOrders"]["VOD_PUSH_ENDPOINT"] == endpoint
    assert set(variables["WebsocketConnect"]) == {"SHOP_AUTH_ISSUER", "SHOP_AUTH_AUDIENCE", "POWERTOOLS_METRICS_NAMESPACE"}
    policy = merged["ManageWebsocketConnections"]["Properties"]
    assert policy["Roles"] == [{"Ref": "PushPinsRole"}, {"Ref": "PushOrdersRole"}, {"Ref": "WebsocketMessageRole"}]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "execute-api:ManageConnections"
    assert statement["Resource"]["Fn::Sub"].endswith(":${WebsocketAPI}/api/POST/@connections/*")


def test_a_service_without_a_websocket_api_gets_no_push_wiring() -> None:
    merged = merge_template("catalog", "dev", catalog_sam())["Resources"]

    assert "ManageWebsocketConnections" not in merged
    assert all("VOD_PUSH_ENDPOINT" not in str(resource) for resource in merged.values())


# -- what on-call needs: traces, alarms, the topic, the payment bound ----------------------------------


def orders_sam() -> dict[str, Any]:
    naming = Naming("dev")
    subscriptions = TOPOLOGY.service("orders").subscriptions
    functions = {
        f"Handle{s.name.title().replace('-', '')}": function("app.handle", {"Queue": sqs(naming.queue("orders", s.name))})
        for s in subscriptions
    }
    return with_rest_api(
        {
            "Resources": {
                **functions,
                "RelayOutbox": function("app.relay_outbox", {"E": {"Type": "DynamoDB", "Properties": {"Stream": "placeholder"}}}),
                "SweepOutbox": function(
                    "app.sweep_outbox", {"E": {"Type": "Schedule", "Properties": {"Schedule": "rate(5 minutes)"}}}
                ),
                "APIHandler": {"Type": "AWS::Serverless::Function", "Properties": {"Handler": "app.app"}},
            }
        },
        {path: {method: {} for method in methods} for path, methods in protected_operations("orders").items()},
    )


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {logical_id: r for logical_id, r in resources.items() if r.get("Type") == kind}


def test_every_function_and_the_api_trace_actively_and_write_metrics_to_the_shops_namespace() -> None:
    sam = orders_sam()
    merged = merge_template("orders", "dev", sam)["Resources"]

    functions = of_type(sam["Resources"], "AWS::Serverless::Function")
    assert len(functions) == len(TOPOLOGY.service("orders").subscriptions) + 3
    for name in functions:
        assert merged[name]["Properties"]["Tracing"] == "Active", name
        assert merged[name]["Properties"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"] == "shop", name
    assert merged["RestAPI"]["Properties"]["TracingEnabled"] is True


def test_every_queue_alarms_on_its_dlq_and_its_oldest_message_and_notifies_the_stacks_topic() -> None:
    naming = Naming("dev")
    template = merge_template("orders", "dev", orders_sam())
    merged = template["Resources"]
    alarms = of_type(merged, "AWS::CloudWatch::Alarm")

    def watched(metric: str) -> dict[str, Any]:
        found = {}
        for alarm in alarms.values():
            properties = alarm["Properties"]
            if properties["MetricName"] == metric:
                found[properties["Dimensions"][0]["Value"]] = (properties["Threshold"], properties["ComparisonOperator"])
        return found

    subscriptions = TOPOLOGY.service("orders").subscriptions
    assert watched("ApproximateNumberOfMessagesVisible") == {
        naming.dlq("orders", s.name): (0, "GreaterThanThreshold") for s in subscriptions
    }
    assert watched("ApproximateAgeOfOldestMessage") == {
        naming.queue("orders", s.name): (300, "GreaterThanThreshold") for s in subscriptions
    }
    assert watched("OutboxAgeSeconds") == {"shop.orders": (templates.OUTBOX_AGE_ALARM_SECONDS, "GreaterThanThreshold")}
    assert watched("OutboxOldestUnpublishedSeconds") == {
        "shop.orders": (templates.OUTBOX_AGE_ALARM_SECONDS, "GreaterThanThreshold")
    }
    # Silence from the sweeper is the alarm: its metric goes missing exactly when the function stopped.
    assert merged["OutboxStalledAlarm"]["Properties"]["TreatMissingData"] == "breaching"
    assert merged["OutboxBacklogAlarm"]["Properties"]["TreatMissingData"] == "notBreaching"
    assert {alarm["Properties"]["Namespace"] for alarm in alarms.values()} == {"AWS/SQS", "shop"}
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert merged["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    # The e-mail subscription exists only when the stack is given an address.
    assert merged["AlarmEmailSubscription"]["Condition"] == "HasAlarmEmail"
    assert merged["AlarmEmailSubscription"]["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    assert template["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}


def test_a_subscription_may_name_its_own_oldest_message_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(templates.OLDEST_MESSAGE_ALARM_OVERRIDES, ("catalog", "reserve-stock"), 60)
    merged = merge_template("catalog", "dev", catalog_sam())["Resources"]

    assert merged["ReserveStockQueueAgeAlarm"]["Properties"]["Threshold"] == 60
    assert merged["ReleaseStockQueueAgeAlarm"]["Properties"]["Threshold"] == 300


def test_a_service_that_publishes_nothing_has_no_outbox_alarm() -> None:
    naming = Naming("dev")
    service = TOPOLOGY.service("notify")
    assert not service.publishes
    sam = {
        "Resources": {
            f"Handle{s.name.title().replace('-', '')}": function("app.handle", {"Q": sqs(naming.queue(service.name, s.name))})
            for s in service.subscriptions
        }
    }
    resources = merge_template(service.name, "dev", sam)["Resources"]
    assert "OutboxBacklogAlarm" not in resources
    assert "OutboxStalledAlarm" not in resources


def test_only_the_payment_subscription_is_bounded_in_concurrency() -> None:
    sam = orders_sam()
    merged = merge_template("orders", "dev", sam)["Resources"]

    bounds = {
        name: merged[name]["Properties"]["Events"]["Queue"]["Properties"].get("ScalingConfig")
        for name, resource in sam["Resources"].items()
        if "Queue" in resource["Properties"].get("Events", {})
    }
    assert bounds.pop("HandleChargePayment") == {"MaximumConcurrency": 5}
    assert set(bounds.values()) == {None}
    # SQS refuses a MaximumConcurrency below 2; Stripe's test mode allows 25 requests a second.
    assert all(2 <= bound <= 25 for bound in templates.MAXIMUM_CONCURRENCY.values())


# -- what the storefront's stack imports (deploy/storefront.py) ---------------------------------------


def test_every_services_rest_api_exports_its_host_and_stage_for_the_storefront() -> None:
    routes = {path: {method: {} for method in methods} for path, methods in protected_operations("catalog").items()}
    sam = with_rest_api(catalog_sam(), routes)
    sam["Resources"]["RestAPI"]["Properties"]["StageName"] = "v1"

    outputs = merge_template("catalog", "dev", sam)["Outputs"]

    assert outputs["ApiDomain"] == {
        "Value": {"Fn::Sub": "${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}"},
        "Export": {"Name": "shop-dev-catalog-api-domain"},
    }
    assert outputs["ApiStage"] == {"Value": "v1", "Export": {"Name": "shop-dev-catalog-api-stage"}}
    assert not {"MediaDomain", "UploadDomain", "PushDomain"} & set(outputs)


def test_a_service_without_a_rest_api_exports_nothing_for_the_storefront() -> None:
    outputs = merge_template("catalog", "dev", catalog_sam())["Outputs"]

    assert not [name for name, output in outputs.items() if "Export" in output]


def test_vod_exports_its_media_upload_and_push_hosts_and_outputs_the_push_url() -> None:
    sam = vod_sam_with_websockets()

    outputs = merge_template("vod", "dev", sam)["Outputs"]

    assert outputs["MediaDomain"] == {
        "Value": {"Fn::GetAtt": ["MediaDistribution", "DomainName"]},
        "Export": {"Name": "shop-dev-vod-media-domain"},
    }
    assert outputs["PushDomain"] == {
        "Value": {"Fn::Sub": "${WebsocketAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}"},
        "Export": {"Name": "shop-dev-vod-push-domain"},
    }
    assert outputs["UploadDomain"] == {
        "Value": {"Fn::GetAtt": ["MediaBucket", "DomainName"]},
        "Export": {"Name": "shop-dev-vod-upload-domain"},
    }
    assert outputs["PushUrl"] == {"Value": {"Fn::Sub": "wss://${WebsocketAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api"}}


def test_the_platform_exports_the_hosted_sign_in_host_and_takes_the_storefronts_url() -> None:
    template = platform_template("dev")

    assert template["Outputs"]["HostedUiDomain"] == {
        "Value": {"Fn::Sub": "shop-dev-${AWS::AccountId}.auth.${AWS::Region}.amazoncognito.com"},
        "Export": {"Name": "shop-dev-hosted-ui-domain"},
    }
    assert template["Resources"]["UserPoolDomain"]["Properties"]["Domain"] == {"Fn::Sub": "shop-dev-${AWS::AccountId}"}
    parameter = template["Parameters"]["StorefrontUrl"]
    assert parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("") and pattern.fullmatch("https://d111111abcdef8.cloudfront.net")
    # The client appends paths: a trailing slash would make them //callback, which Cognito would not match.
    assert not pattern.fullmatch("https://shop.example.com/") and not pattern.fullmatch("http://shop.example.com")
    assert template["Conditions"]["HasStorefront"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "StorefrontUrl"}, ""]}]}
