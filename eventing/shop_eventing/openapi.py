"""OpenAPI 3.1 documents for the services' HTTP APIs, generated from the pydantic models the views
validate with, so the document cannot drift from the code.

Each view declares what it takes and answers with `@operation(...)`, placed under `@app.route`:

    @app.route("/orders", methods=["POST"])
    @operation("Place an order", body=PlaceOrderRequest, headers=PlaceOrderHeaders,
               responses={201: OrderResponse}, errors={409, 422})
    @json_api
    def create_order() -> Any: ...

`openapi_document(app, ...)` walks the Chalice app's routes (a route without `@operation` is an
error: every route is documented) and `serve_openapi(app, ...)` adds `GET /openapi.json`.
Every error response is `shop_eventing.http.ErrorResponse`; the statuses the framework itself may
answer are added to each operation (400/413/415 where there is a body, 400/404 where the path has
parameters, 500 everywhere).

    python -m shop_eventing.openapi services/orders           # writes services/orders/openapi.json
    python -m shop_eventing.openapi services/orders --check   # fails if the committed one is stale
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal

from chalice.app import Chalice
from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from shop_eventing.auth import SECURITY_ATTRIBUTE, Security
from shop_eventing.http import ErrorResponse, json_response

SPEC_ATTRIBUTE = "__shop_operation__"
OPENAPI_PATH = "/openapi.json"
REF_TEMPLATE = "#/components/schemas/{model}"
BEARER = "bearer"
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "An access token from the shop's OpenID Connect issuer (Cognito on AWS; locally "
    "`python -m shop_devstack.signin <user>`). Groups are read from the `cognito:groups` claim.",
}


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: from a response to the operation it lets a client (or a fuzzer) call next,
    e.g. `Link("get_order", {"order_id": "$response.body#/order_id"})`."""

    operation_id: str
    parameters: Mapping[str, str]

    def document(self) -> dict[str, Any]:
        return {"operationId": self.operation_id, "parameters": dict(self.parameters)}


@dataclass(frozen=True)
class Operation:
    summary: str
    body: type[BaseModel] | None = None
    path: type[BaseModel] | None = None
    headers: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    responses: Mapping[int, type[BaseModel] | None] = field(default_factory=dict)
    errors: frozenset[int] = frozenset()
    description: str | None = None
    operation_id: str | None = None
    links: Mapping[int, Mapping[str, Link]] = field(default_factory=dict)


def operation[F: Callable[..., Any]](
    summary: str,
    *,
    body: type[BaseModel] | None = None,
    path: type[BaseModel] | None = None,
    headers: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    responses: Mapping[int, type[BaseModel] | None],
    errors: Iterable[int] = (),
    description: str | None = None,
    links: Mapping[int, Mapping[str, Link]] | None = None,
) -> Callable[[F], F]:
    """Record what a view takes and answers; the view must validate with these same models."""

    def record(view: F) -> F:
        setattr(
            view,
            SPEC_ATTRIBUTE,
            Operation(
                summary=summary,
                body=body,
                path=path,
                headers=headers,
                query=query,
                responses=dict(responses),
                errors=frozenset(errors),
                description=description,
                operation_id=view.__name__,
                links=dict(links or {}),
            ),
        )
        return view

    return record


def _error_statuses(spec: Operation, security: Security | None) -> list[int]:
    statuses = {500, *spec.errors}
    if security is not None:
        # No or a bad token; a caller outside the route's groups.
        statuses.add(401)
        if security.groups:
            statuses.add(403)
    if spec.body is not None:
        # Malformed or invalid JSON, a body over the size limit, a Content-Type other than JSON.
        statuses |= {400, 413, 415}
    if spec.headers is not None or spec.query is not None:
        statuses.add(400)
    if spec.path is not None:
        # A bad parameter; a value with a "/" in it names a route that does not exist.
        statuses |= {400, 404}
    return sorted(statuses)


def _parameters(
    model: type[BaseModel], location: Literal["path", "header", "query"], defs: dict[str, Any]
) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF_TEMPLATE, by_alias=True)
    defs.update(schema.pop("$defs", {}))
    required = set(schema.get("required", []))
    parameters = []
    for name, property_schema in schema["properties"].items():
        description = property_schema.pop("description", None)
        property_schema.pop("title", None)
        parameter: dict[str, Any] = {"name": name, "in": location, "required": location == "path" or name in required}
        if description:
            parameter["description"] = description
        parameter["schema"] = property_schema
        parameters.append(parameter)
    return parameters


def _operations(app: Chalice) -> list[tuple[str, str, Operation, Security | None]]:
    found = []
    for route_path, methods in sorted(app.routes.items()):
        for method, entry in sorted(methods.items()):
            spec = getattr(entry.view_function, SPEC_ATTRIBUTE, None)
            if not isinstance(spec, Operation):
                raise ValueError(f"{method} {route_path} ({entry.view_name}) has no @operation: every route is documented")
            security = getattr(entry.view_function, SECURITY_ATTRIBUTE, None)
            found.append((route_path, method.lower(), spec, security if isinstance(security, Security) else None))
    return found


def openapi_document(app: Chalice, *, title: str, version: str, description: str = "") -> dict[str, Any]:
    operations = _operations(app)
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorResponse, "serialization")]
    for _, _, spec, _ in operations:
        if spec.body is not None:
            wanted.append((spec.body, "validation"))
        wanted.extend((model, "serialization") for model in spec.responses.values() if model is not None)
    refs, top = models_json_schema(list(dict.fromkeys(wanted)), ref_template=REF_TEMPLATE)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))

    def content(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return {"application/json": {"schema": refs[(model, mode)]}}

    paths: dict[str, dict[str, Any]] = {}
    for route_path, method, spec, security in operations:
        document: dict[str, Any] = {"operationId": spec.operation_id, "summary": spec.summary, **_security(spec, security)}
        located: list[tuple[type[BaseModel] | None, Literal["path", "header", "query"]]] = [
            (spec.path, "path"),
            (spec.headers, "header"),
            (spec.query, "query"),
        ]
        parameters = [p for model, where in located if model is not None for p in _parameters(model, where, schemas)]
        if parameters:
            document["parameters"] = parameters
        if spec.body is not None:
            document["requestBody"] = {"required": True, "content": content(spec.body, "validation")}
        responses: dict[str, Any] = {}
        for status, model in sorted(spec.responses.items()):
            responses[str(status)] = {"description": _reason(status)}
            if model is not None:
                responses[str(status)]["content"] = content(model, "serialization")
            if spec.links.get(status):
                responses[str(status)]["links"] = {name: link.document() for name, link in sorted(spec.links[status].items())}
        for status in _error_statuses(spec, security):
            responses[str(status)] = {"description": _reason(status), "content": content(ErrorResponse, "serialization")}
        document["responses"] = responses
        paths.setdefault(route_path, {})[method] = document
    components: dict[str, Any] = {"schemas": dict(sorted(schemas.items()))}
    if any(security is not None for *_, security in operations):
        components["securitySchemes"] = {BEARER: BEARER_SCHEME}
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": components,
    }


def _security(spec: Operation, security: Security | None) -> dict[str, Any]:
    """The operation's description (with the groups it needs) and its security requirement."""
    document: dict[str, Any] = {}
    description = spec.description
    if security is not None and security.groups:
        needs = f"Needs the {' or '.join(sorted(security.groups))} group (claim cognito:groups)."
        description = f"{description} {needs}" if description else needs
    if description:
        document["description"] = description
    if security is not None:
        document["security"] = [{BEARER: []}]
    return document


def _reason(status: int) -> str:
    return HTTPStatus(status).phrase


class Health(BaseModel):
    status: Literal["ok"]
    service: str


class OpenApiDocument(BaseModel):
    """The OpenAPI 3.1 document itself (its own schema is OpenAPI's)."""

    model_config = ConfigDict(extra="allow", title="OpenAPI document")

    openapi: str


def serve_openapi(app: Chalice, *, title: str, version: str, description: str = "") -> None:
    """`GET /openapi.json`: the document, built once on first use."""
    cache: dict[str, Any] = {}

    @app.route(OPENAPI_PATH, methods=["GET"])
    @operation("This API's OpenAPI 3.1 document", responses={200: OpenApiDocument})
    def openapi_json() -> Any:
        if "document" not in cache:
            cache["document"] = openapi_document(app, title=title, version=version, description=description)
        return json_response(cache["document"])


def render(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def _load_app(service_dir: Path) -> Chalice:
    # Importing app.py builds boto3 clients lazily; a region is all they need to exist.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    sys.path.insert(0, str(service_dir))
    module = importlib.import_module("app")
    app = module.app
    assert isinstance(app, Chalice)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("service_dir", type=Path)
    parser.add_argument("--check", action="store_true", help="fail if the committed openapi.json is not current")
    args = parser.parse_args(argv)
    service_dir: Path = args.service_dir.resolve()
    app = _load_app(service_dir)
    path = app.routes.get(OPENAPI_PATH, {}).get("GET")
    if path is None:
        print(f"{service_dir.name}: no GET {OPENAPI_PATH} (call serve_openapi)", file=sys.stderr)
        return 1
    response = path.view_function()
    generated = render(response.body)
    target = service_dir / "openapi.json"
    if args.check:
        committed = target.read_text() if target.exists() else ""
        if committed != generated:
            diff = difflib.unified_diff(committed.splitlines(), generated.splitlines(), str(target), "generated", lineterm="")
            print("\n".join(list(diff)[:60]), file=sys.stderr)
            print(f"{target} is stale: run `make openapi` and commit it", file=sys.stderr)
            return 1
        print(f"{target.relative_to(service_dir.parent.parent)} is current")
        return 0
    target.write_text(generated)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
