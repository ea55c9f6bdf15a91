"""OpenAPI documents come from the views' own models, and every route must be documented."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.app import Chalice
from chalice.test import Client
from pydantic import BaseModel, ConfigDict, Field

from shop_eventing.http import Text, json_api, json_response, parse_body, use_one_error_shape
from shop_eventing.openapi import openapi_document, operation, serve_openapi


class ThingIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Text = Field(min_length=1, max_length=20)
    count: int = Field(ge=0, le=10**6)
    tags: list[str] = Field(default_factory=list, max_length=5)


class ThingOut(BaseModel):
    name: str
    count: int


class ThingPath(BaseModel):
    thing_id: str = Field(min_length=1, max_length=8, pattern=r"^[a-z]+$")


def documented_app() -> Chalice:
    app = Chalice(app_name="things")
    use_one_error_shape(app)
    serve_openapi(app, title="things", version="1")

    @app.route("/things/{thing_id}", methods=["PUT"])
    @operation("Put a thing", path=ThingPath, body=ThingIn, responses={200: ThingOut}, errors={409})
    @json_api
    def put_thing(thing_id: str) -> Any:
        thing = parse_body(app.current_request.raw_body if app.current_request else None, ThingIn)
        return json_response(ThingOut(name=thing.name, count=thing.count))

    return app


def test_limits_and_statuses_appear_in_the_document():
    document = openapi_document(documented_app(), title="things", version="1")
    assert document["openapi"] == "3.1.0"
    put = document["paths"]["/things/{thing_id}"]["put"]
    assert put["parameters"] == [
        {
            "name": "thing_id",
            "in": "path",
            "required": True,
            "schema": {"maxLength": 8, "minLength": 1, "pattern": "^[a-z]+$", "type": "string"},
        }
    ]
    body = document["components"]["schemas"]["ThingIn"]
    assert body["additionalProperties"] is False
    assert body["properties"]["name"]["maxLength"] == 20
    assert body["properties"]["name"]["pattern"] == "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
    assert body["properties"]["count"]["maximum"] == 10**6
    assert body["properties"]["tags"]["maxItems"] == 5
    # Declared (409) plus what any body-taking, parameterised operation may meet.
    assert sorted(put["responses"]) == ["200", "400", "404", "409", "413", "415", "500"]
    assert put["responses"]["409"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}


def test_an_undocumented_route_is_refused():
    app = documented_app()

    @app.route("/secret")
    def secret() -> dict[str, str]:
        return {}

    with pytest.raises(ValueError, match="GET /secret"):
        openapi_document(app, title="things", version="1")


def test_the_app_serves_its_document_and_errors_in_the_one_shape():
    app = documented_app()
    with Client(app) as client:
        served = client.http.get("/openapi.json")
        assert served.status_code == 200
        assert served.json_body == openapi_document(app, title="things", version="1")
        wrong_method = client.http.delete("/things/abc")
        assert wrong_method.status_code == 405
        assert wrong_method.json_body["error"]["code"] == "method_not_allowed"
        wrong_type = client.http.put("/things/abc", body="x", headers={"Content-Type": "text/plain"})
        assert wrong_type.status_code == 415
        assert wrong_type.json_body["error"]["code"] == "unsupported_media_type"
