"""vod's health route and Chalice's answer to an unknown route."""

from __future__ import annotations

import json

from chalice.test import Client


def test_health_is_200_with_the_service_name(vod_app):
    with Client(vod_app.app) as client:
        response = client.http.get("/health")

    assert response.status_code == 200
    assert json.loads(response.body) == {"status": "ok", "service": "vod"}


def test_an_unknown_route_is_refused_as_api_gateway_does(vod_app):
    with Client(vod_app.app) as client:
        response = client.http.get("/nope")

    # API Gateway (and chalice's local emulation of it) answers an unknown route with 403.
    assert response.status_code == 403
    assert json.loads(response.body) == {"message": "Missing Authentication Token"}
