"""HTTP edge helpers shared by every service's API: bad input gets a 4xx JSON body naming the problem.

Chalice turns exceptions into its own bodies before middleware runs, so views opt in with `@json_api`,
which renders `ApiError`s as `{"error": {"code", "message", "fields": [{"field", "problem"}]}}` and
any other exception as a 500 without internals (logged with its trace).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from chalice.app import Chalice, Request, Response
from pydantic import BaseModel, ValidationError

from shop_eventing.envelope import field_path

log = logging.getLogger(__name__)


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, fields: list[dict[str, str]] | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or []
        if code:
            self.code = code

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        return {"error": error}


class RequestInvalid(ApiError):
    status = 400
    code = "invalid_request"

    @classmethod
    def field(cls, field: str, problem: str) -> RequestInvalid:
        return cls(f"{field}: {problem}", fields=[{"field": field, "problem": problem}])


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Unprocessable(ApiError):
    status = 422
    code = "unprocessable"


def current_request(app: Chalice) -> Request:
    request = app.current_request
    if request is None:
        raise RuntimeError("no request: called outside an HTTP view")
    return request


def parse_body[M: BaseModel](raw_body: str | bytes | None, model: type[M]) -> M:
    if not raw_body:
        raise ApiError("request body is empty; send a JSON object", code="malformed_json")
    try:
        payload = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(f"request body is not valid JSON: {error}", code="malformed_json") from None
    if not isinstance(payload, dict):
        raise ApiError("request body must be a JSON object", code="malformed_json")
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        fields = [{"field": field_path(e["loc"]) or "(body)", "problem": e["msg"]} for e in error.errors(include_url=False)]
        raise RequestInvalid("; ".join(f"{f['field']}: {f['problem']}" for f in fields), fields=fields) from None


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body=body, status_code=status, headers={"Content-Type": "application/json", **(headers or {})})


def json_api[F: Callable[..., Any]](view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except ApiError as error:
            return json_response(error.body(), error.status)
        except Exception:
            log.exception("unhandled error in %s", view.__name__)
            return json_response({"error": {"code": "internal_error", "message": "internal error; it was logged"}}, 500)

    return wrapper  # type: ignore[return-value]
