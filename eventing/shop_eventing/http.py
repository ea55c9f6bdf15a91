"""HTTP edge helpers shared by every service's API: every error a client can meet has one shape,
`{"error": {"code", "message", "fields"?: [{"field", "problem"}]}}`.

Chalice turns exceptions into its own bodies before middleware runs, so views opt in with `@json_api`,
which renders `ApiError`s in that shape and any other exception as a 500 without internals (logged
with its trace). What Chalice answers by itself (405, 415, its own 500) is rewritten into the same
shape by `use_one_error_shape(app)`, a middleware; what never reaches the app (unknown routes,
framing, oversized URIs) is shaped by the local host (shop_devstack.service_host) and, on AWS, by
API Gateway's gateway responses (deploy/gateway_responses.py), from the same `ERROR_CODES`.

Request bodies are parsed defensively: at most `MAX_BODY_BYTES`, nested at most `MAX_JSON_DEPTH`
deep (json.loads would otherwise recurse until RecursionError), no NaN/Infinity, and validated by
strict pydantic models (no "1" or 1.0 or true for an integer).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, NoReturn

from chalice.app import Chalice, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from shop_eventing.envelope import field_path

log = logging.getLogger(__name__)

# Far above any real order or product (a 50-line order is ~10 KiB), far below what would cost
# memory or time to parse; API Gateway itself would accept 10 MB.
MAX_BODY_BYTES = 64 * 1024
# Our documents nest 3 deep; json.loads recurses once per level and a 10,000-deep body ends in a
# RecursionError, so depth is checked before parsing.
MAX_JSON_DEPTH = 32

# The `code` of an error the framework (not a view) answers, by status: shared by the Chalice
# middleware, the local HTTP host and the API Gateway gateway responses, so all three agree.
ERROR_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_requests",
    431: "headers_too_large",
    500: "internal_error",
    501: "not_implemented",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
    505: "http_version_not_supported",
}


def error_code_for(status: int) -> str:
    return ERROR_CODES.get(status, "client_error" if status < 500 else "server_error")


def error_body(code: str, message: str, fields: list[dict[str, str]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


# -- the error body, as a model (for the OpenAPI documents) -----------------------------------------


class FieldProblem(BaseModel):
    field: str = Field(description="Where: a body path such as lines[0].quantity, a header or a path parameter.")
    problem: str


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Stable, machine-readable: invalid_request, not_found, payload_too_large, ...")
    message: str = Field(description="For people; may change.")
    fields: list[FieldProblem] | None = Field(default=None, min_length=1, description="Present when fields are to blame.")


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx, whoever answers it (the view, Chalice, the host or API Gateway)."""

    model_config = ConfigDict(extra="forbid", title="Error")

    error: ErrorDetail


# -- constrained text -------------------------------------------------------------------------------

# C0 and C1 control characters: a NUL in an e-mail address or a newline in a name is never meant,
# and would reach logs, e-mail headers and other services. Surrogates are refused by pydantic itself.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f-\x9f]*$"


def _no_control_characters(value: str) -> str:
    if CONTROL_CHARACTERS.search(value):
        raise PydanticCustomError("control_characters", "must not contain control characters")
    return value


# A request's free text: `name: Text = Field(min_length=1, max_length=200)`. The check is a
# validator (for a clear message); the pattern in the JSON Schema says the same, so the OpenAPI
# documents and fuzzers know. A field with its own pattern (an e-mail address) must exclude them too.
Text = Annotated[str, AfterValidator(_no_control_characters), Field(json_schema_extra={"pattern": NO_CONTROL_CHARACTERS})]


# -- errors -----------------------------------------------------------------------------------------


class ApiError(Exception):
    status = 400
    code = "bad_request"
    # Sent with the error (e.g. WWW-Authenticate with a 401).
    headers: Mapping[str, str] = {}

    def __init__(self, message: str, *, fields: list[dict[str, str]] | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or []
        if code:
            self.code = code

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.fields)


class RequestInvalid(ApiError):
    status = 400
    code = "invalid_request"

    @classmethod
    def field(cls, field: str, problem: str) -> RequestInvalid:
        return cls(f"{field}: {problem}", fields=[{"field": field, "problem": problem}])

    @classmethod
    def from_validation(cls, error: ValidationError, prefix: str = "") -> RequestInvalid:
        fields = [
            {"field": field_path((prefix, *e["loc"]) if prefix else e["loc"]) or "(body)", "problem": e["msg"]}
            for e in error.errors(include_url=False)
        ]
        return cls("; ".join(f"{f['field']}: {f['problem']}" for f in fields), fields=fields)


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class Unprocessable(ApiError):
    status = 422
    code = "unprocessable"


def current_request(app: Chalice) -> Request:
    request = app.current_request
    if request is None:
        raise RuntimeError("no request: called outside an HTTP view")
    return request


# -- parsing ----------------------------------------------------------------------------------------

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


def json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than `limit` (on text json.loads is about to parse)."""
    depth = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > limit:
            return True
    return False


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw_body: str | bytes | None) -> Any:
    """The body as JSON, or an ApiError (400 malformed_json, 413 payload_too_large)."""
    if not raw_body:
        raise ApiError("request body is empty; send a JSON object", code="malformed_json")
    size = len(raw_body.encode() if isinstance(raw_body, str) else raw_body)
    if size > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body is {size} bytes; at most {MAX_BODY_BYTES} are accepted")
    try:
        text = raw_body.decode() if isinstance(raw_body, bytes) else raw_body
    except UnicodeDecodeError as error:
        raise ApiError(f"request body is not UTF-8: {error}", code="malformed_json") from None
    if json_depth_exceeds(text, MAX_JSON_DEPTH):
        raise ApiError(f"request body nests deeper than {MAX_JSON_DEPTH} levels", code="malformed_json")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:
        # ValueError covers integers beyond Python's 4300-digit limit too.
        raise ApiError(f"request body is not valid JSON: {error}", code="malformed_json") from None


def parse_body[M: BaseModel](raw_body: str | bytes | None, model: type[M]) -> M:
    payload = parse_json(raw_body)
    if not isinstance(payload, dict):
        raise ApiError("request body must be a JSON object", code="malformed_json")
    try:
        return model.model_validate(payload, strict=True)
    except ValidationError as error:
        raise RequestInvalid.from_validation(error) from None


def parse_params[M: BaseModel](values: Mapping[str, Any], model: type[M]) -> M:
    """Path parameters or headers through their model; problems are named by parameter/header.

    Headers are looked up by each field's alias through `values.get`, so Chalice's case-insensitive
    headers find `Idempotency-Key` however the client spelled it."""
    given = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        value = values.get(key)
        if value is not None:
            given[key] = value
    try:
        return model.model_validate(given)
    except ValidationError as error:
        raise RequestInvalid.from_validation(error) from None


# -- responses --------------------------------------------------------------------------------------


def json_response(body: Any, status: int = 200, headers: Mapping[str, Any] | None = None) -> Response:
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json", exclude_none=False)
    return Response(body=body, status_code=status, headers={"Content-Type": "application/json", **(headers or {})})


def json_api[F: Callable[..., Any]](view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except ApiError as error:
            return json_response(error.body(), error.status, error.headers)
        except Exception:
            log.exception("unhandled error in %s", view.__name__)
            return json_response(error_body("internal_error", "internal error; it was logged"), 500)

    return wrapper  # type: ignore[return-value]


def _is_chalice_error(body: Any) -> bool:
    return isinstance(body, dict) and set(body) == {"Code", "Message"}


def use_one_error_shape(app: Chalice) -> None:
    """Rewrite what Chalice answers by itself ({"Code", "Message"}: 405, 415, its 500, a 400 for a
    binary response) into the one error shape. Chalice's middleware wraps its whole REST handler,
    route checks included, so this sees those responses; API Gateway never sees them otherwise."""

    @app.middleware("http")
    def one_error_shape(event: Request, get_response: Callable[[Request], Response]) -> Response:
        try:
            response = get_response(event)
        except Exception:
            log.exception("unhandled error outside a view")
            return json_response(error_body("internal_error", "internal error; it was logged"), 500)
        if response.status_code >= 400 and _is_chalice_error(response.body):
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
            return json_response(
                error_body(error_code_for(response.status_code), str(response.body["Message"])), response.status_code, headers
            )
        return response
