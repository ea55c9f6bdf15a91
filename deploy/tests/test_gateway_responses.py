"""API Gateway's own errors come in the one error shape (the merge template adds them to the REST API)."""

from __future__ import annotations

import json

from gateway_responses import EXTENSION, gateway_responses, rest_api_resources
from templates import merge_template

from shop_contracts import TOPOLOGY
from shop_eventing.http import ErrorResponse
from shop_eventing.topology import Naming


def rendered(template: str, message: str = 'Some "quoted" message') -> dict[str, object]:
    # What API Gateway does: $context.error.messageString is the message as a JSON string.
    return dict(json.loads(template.replace("$context.error.messageString", json.dumps(message))))


def test_every_gateway_response_renders_the_one_error_shape():
    responses = gateway_responses()
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "MISSING_AUTHENTICATION_TOKEN", "UNSUPPORTED_MEDIA_TYPE", "REQUEST_TOO_LARGE"} <= set(
        responses
    )
    for response_type, response in responses.items():
        body = rendered(response["responseTemplates"]["application/json"])
        ErrorResponse.model_validate(body, strict=True)
        assert body["error"]["code"], response_type  # type: ignore[index]


def test_an_unknown_route_is_a_404_not_found():
    response = gateway_responses()["MISSING_AUTHENTICATION_TOKEN"]
    assert response["statusCode"] == "404"
    assert rendered(response["responseTemplates"]["application/json"])["error"]["code"] == "not_found"  # type: ignore[index]


def test_the_defaults_keep_api_gateways_status():
    responses = gateway_responses()
    assert "statusCode" not in responses["DEFAULT_4XX"]
    assert "statusCode" not in responses["DEFAULT_5XX"]
    assert responses["UNSUPPORTED_MEDIA_TYPE"]["statusCode"] == "415"


def test_the_merge_template_adds_them_to_chalices_rest_api():
    # notify's one route behind the authorizer, as Chalice lists it.
    body = {"paths": {"/ops/status": {"get": {}}}}
    chalice_sam = {"Resources": {"RestAPI": {"Type": "AWS::Serverless::Api", "Properties": {"DefinitionBody": body}}}}
    # Chalice's template has a function per subscription; notify's are the queue handlers below.
    for subscription in TOPOLOGY.service("notify").subscriptions:
        chalice_sam["Resources"][f"Handle{subscription.name.title().replace('-', '')}"] = {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "Events": {
                    "Queue": {
                        "Type": "SQS",
                        "Properties": {"Queue": f"arn:aws:sqs:us-east-1:1:{Naming('dev').queue('notify', subscription.name)}"},
                    }
                }
            },
        }
    merged = merge_template("notify", "dev", chalice_sam)
    assert merged["Resources"]["RestAPI"]["Properties"]["DefinitionBody"][EXTENSION] == gateway_responses()


def test_nothing_is_added_without_a_rest_api():
    assert rest_api_resources({"Resources": {}}) == {}
