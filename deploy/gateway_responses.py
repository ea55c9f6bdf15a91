"""API Gateway's own error responses in the shop's one error shape, `{"error": {"code", "message"}}`.

API Gateway answers some requests without calling the function: a path or method no route has
(MISSING_AUTHENTICATION_TOKEN, a 403 by default, made a 404 here), a body too large, throttling,
an integration timeout... Its default bodies are `{"message": ...}`. The REST API that
`chalice package` generates takes `x-amazon-apigateway-gateway-responses` in its definition, so the
merge template adds them (deep merge into `RestAPI.Properties.DefinitionBody`). The codes are the
ones the functions and the local host use (shop_eventing.http.ERROR_CODES).
"""

from __future__ import annotations

import json
from typing import Any

from shop_eventing.http import error_code_for

REST_API_ID = "RestAPI"
EXTENSION = "x-amazon-apigateway-gateway-responses"

# (response type, status we answer with or None to keep API Gateway's, code if not the status's).
# https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html
RESPONSES: list[tuple[str, int | None, str | None]] = [
    ("DEFAULT_4XX", None, "client_error"),
    ("DEFAULT_5XX", None, "server_error"),
    # An unknown path or a method the path lacks: nothing to authenticate, simply not found.
    ("MISSING_AUTHENTICATION_TOKEN", 404, None),
    ("RESOURCE_NOT_FOUND", 404, None),
    ("UNSUPPORTED_MEDIA_TYPE", 415, None),
    ("REQUEST_TOO_LARGE", 413, None),
    ("BAD_REQUEST_BODY", 400, "invalid_request"),
    ("BAD_REQUEST_PARAMETERS", 400, "invalid_request"),
    ("THROTTLED", 429, None),
    ("QUOTA_EXCEEDED", 429, None),
    ("ACCESS_DENIED", 403, None),
    ("WAF_FILTERED", 403, None),
    ("UNAUTHORIZED", 401, None),
    ("INTEGRATION_TIMEOUT", 504, None),
    ("INTEGRATION_FAILURE", 502, None),
    ("API_CONFIGURATION_ERROR", 500, None),
]

# $context.error.messageString is API Gateway's message already quoted as a JSON string.
TEMPLATE = '{{"error": {{"code": {code}, "message": $context.error.messageString}}}}'
NOT_FOUND_MESSAGE = "no route for this method and path"
# The Cognito authorizer's refusals: no or a bad token (UNAUTHORIZED), a token without the API's scope.
BEARER_CHALLENGES = {
    "UNAUTHORIZED": '\'Bearer realm="shop", error="invalid_token"\'',
    "ACCESS_DENIED": '\'Bearer realm="shop", error="insufficient_scope"\'',
}


def gateway_responses() -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for response_type, status, code in RESPONSES:
        if status is not None and response_type == "MISSING_AUTHENTICATION_TOKEN":
            # Its message ("Missing Authentication Token") would mislead: say what happened.
            body = json.dumps({"error": {"code": error_code_for(status), "message": NOT_FOUND_MESSAGE}})
        else:
            body = TEMPLATE.format(code=json.dumps(code or error_code_for(status or 0)))
        response: dict[str, Any] = {"responseTemplates": {"application/json": body}}
        if status is not None:
            response["statusCode"] = str(status)
        if response_type in BEARER_CHALLENGES:
            # RFC 6750: a refused bearer token says so, as the functions' own 401/403 do.
            response["responseParameters"] = {"gatewayresponse.header.WWW-Authenticate": BEARER_CHALLENGES[response_type]}
        responses[response_type] = response
    return responses


def rest_api_resources(chalice_sam: dict[str, Any], definition: dict[str, Any] | None = None) -> dict[str, Any]:
    """The merge template's part for the REST API, if Chalice made one (every service has routes);
    `definition` adds to its DefinitionBody (the authorizer on the protected operations)."""
    if REST_API_ID not in chalice_sam.get("Resources", {}):
        return {}
    return {REST_API_ID: {"Properties": {"DefinitionBody": {EXTENSION: gateway_responses(), **(definition or {})}}}}
