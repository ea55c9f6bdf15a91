"""The service host's own lines are JSON in the functions' shape, the access log's with the request's
correlation_id when its path names an order or a video."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from shop_devstack import service_host
from shop_devstack.service_host import ApiGatewayLikeHandler, access_fields, json_log_handler


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    handler = json_log_handler("orders")
    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    service_host.ACCESS_LOG.addHandler(handler)
    level, service_host.ACCESS_LOG.level = service_host.ACCESS_LOG.level, logging.INFO
    try:
        yield stream
    finally:
        service_host.ACCESS_LOG.removeHandler(handler)
        service_host.ACCESS_LOG.level = level


def request(command: str, path: str) -> Any:
    handler = object.__new__(ApiGatewayLikeHandler)
    handler.command, handler.path, handler.client_address = command, path, ("127.0.0.1", 50000)
    return handler


def test_each_request_is_one_json_line_with_its_correlation_id(lines: io.StringIO) -> None:
    request("GET", "/orders/o-123/history").log_request(200)
    request("POST", "/orders").log_request(201)

    first, second = map(json.loads, lines.getvalue().splitlines())
    assert {k: first[k] for k in ("level", "service", "method", "path", "status", "correlation_id")} == {
        "level": "INFO",
        "service": "shop.orders",
        "method": "GET",
        "path": "/orders/o-123/history",
        "status": 200,
        "correlation_id": "o-123",
    }
    assert first["message"] == "GET /orders/o-123/history 200"
    assert "correlation_id" not in second  # the order's id is made by the request itself


def test_the_hosts_errors_are_json_too(lines: io.StringIO) -> None:
    request("GET", "/").log_error("code %d, message %s", 414, "URI too long")

    (line,) = map(json.loads, lines.getvalue().splitlines())
    assert (line["level"], line["message"], line["service"]) == ("WARNING", "code 414, message URI too long", "shop.orders")


@pytest.mark.parametrize(
    ("path", "correlation_id"),
    [("/videos/v-1/markers", "v-1"), ("/staff/orders/o-9", "o-9"), ("/products/SKU-1", None), ("/orders?x=1", None)],
)
def test_the_correlation_id_is_the_order_or_video_the_path_names(path: str, correlation_id: str | None) -> None:
    assert access_fields("GET", path, 200, "127.0.0.1").get("correlation_id") == correlation_id
