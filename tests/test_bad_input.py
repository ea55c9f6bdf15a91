"""Bad input gets a 4xx with a JSON body naming the problem, through the real HTTP servers; every
error, whoever answers it (a view, Chalice, the local host), has the one shape
{"error": {"code", "message", "fields"?}}."""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest
from boto3.dynamodb.conditions import Attr

from shop_eventing.http import MAX_BODY_BYTES, MAX_JSON_DEPTH, ErrorResponse
from shop_eventing.topology import Naming


@pytest.fixture(scope="module")
def sku(shop):
    return shop.new_product()


def valid_order(sku: str) -> dict:
    return {
        "customer_email": "careful@example.com",
        "payment_token": "tok_visa",
        "shipping_address": "2 High St",
        "lines": [{"sku": sku, "quantity": 1}],
    }


def post_order(shop, body, key="bad-input"):
    return shop.call("orders", "POST", "/orders", body, {"Idempotency-Key": key})


def fields(reply) -> list[str]:
    return [f["field"] for f in reply.body["error"].get("fields", [])]


def error_code(status: int, body: Any, content_type: str | None) -> str:
    """The error's code, after checking the body is the one error shape and said to be JSON."""
    assert content_type is not None
    assert content_type.startswith("application/json"), (status, content_type, body)
    assert isinstance(body, dict), (status, body)
    ErrorResponse.model_validate(body, strict=True)
    return str(body["error"]["code"])


def shaped(reply) -> str:
    return error_code(reply.status, reply.body, reply.headers.get("content-type"))


def raw(shop, service: str, request: bytes) -> tuple[int, dict[str, str], Any]:
    """Send bytes exactly as given (framing the client libraries would fix) and read one response."""
    url = urlsplit(shop.stack.service_urls[service])
    with socket.create_connection((url.hostname, url.port), timeout=60) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        data = response.read()
    body = json.loads(data) if data else None
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def test_malformed_json_is_a_400_naming_the_problem(shop):
    reply = post_order(shop, '{"lines": [')
    assert reply.status == 400
    assert reply.body["error"]["code"] == "malformed_json"
    assert "not valid JSON" in reply.body["error"]["message"]


def test_a_json_array_is_not_an_order(shop):
    reply = post_order(shop, "[]")
    assert reply.status == 400
    assert reply.body["error"]["code"] == "malformed_json"


def test_unknown_sku_is_a_400_naming_the_line(shop, sku):
    body = valid_order(sku)
    body["lines"].append({"sku": "NO-SUCH-THING", "quantity": 1})
    reply = post_order(shop, body, key="bad-sku")
    assert reply.status == 400
    assert fields(reply) == ["lines[1].sku"]
    assert "NO-SUCH-THING" in reply.body["error"]["message"]


@pytest.mark.parametrize("quantity", [0, -3, 1.5, "two", 101, "1", 1.0, True])
def test_bad_quantity_is_a_400_naming_the_field(shop, sku, quantity):
    body = valid_order(sku)
    body["lines"][0]["quantity"] = quantity
    reply = post_order(shop, body, key=f"bad-quantity-{quantity}")
    assert reply.status == 400
    assert fields(reply) == ["lines[0].quantity"]


@pytest.mark.parametrize("missing", ["customer_email", "payment_token", "lines"])
def test_missing_field_is_a_400_naming_it(shop, sku, missing):
    body = valid_order(sku)
    del body[missing]
    reply = post_order(shop, body, key=f"missing-{missing}")
    assert reply.status == 400
    assert fields(reply) == [missing]


def test_missing_idempotency_key_is_a_400_naming_the_header(shop, sku):
    reply = shop.call("orders", "POST", "/orders", valid_order(sku))
    assert reply.status == 400
    assert fields(reply) == ["Idempotency-Key"]


def test_physical_goods_need_an_address(shop, sku):
    body = valid_order(sku)
    body["shipping_address"] = None
    reply = post_order(shop, body, key="no-address")
    assert reply.status == 400
    assert fields(reply) == ["shipping_address"]


def test_unknown_order_is_a_404_json(shop):
    reply = shop.call("orders", "GET", "/orders/does-not-exist")
    assert reply.status == 404
    assert reply.body["error"]["code"] == "not_found"


def test_bad_product_is_a_400_naming_the_field(shop):
    reply = shop.call(
        "catalog", "PUT", "/products/BAD-1", {"name": "x", "kind": "physical", "price": {"amount": -1, "currency": "usd"}}
    )
    assert reply.status == 400
    assert sorted(fields(reply)) == ["price.amount", "price.currency"]


def _placed_orders(shop) -> int:
    """OrderPlaced events in the orders service's outbox (its event log)."""
    dynamodb = shop.stack.session().resource("dynamodb", endpoint_url=shop.stack.endpoint)
    table = dynamodb.Table(Naming(stage="local").table("orders"))
    return len(table.scan(FilterExpression=Attr("event_type").eq("OrderPlaced"))["Items"])


def test_rejected_requests_store_and_publish_nothing(shop, sku):
    before = _placed_orders(shop)
    for body in ({"lines": "nope"}, '{"oops"', {**valid_order(sku), "lines": [{"sku": "NOPE", "quantity": 1}]}):
        assert post_order(shop, body, key="publishes-nothing").status == 400
    assert _placed_orders(shop) == before


# -- numbers DynamoDB cannot store, sums that would overflow ------------------------------------------


def product(amount: int = 1200, stock: int | None = 5, name: str = "Numbers") -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "kind": "physical", "price": {"amount": amount, "currency": "USD"}}
    if stock is not None:
        body["stock"] = stock
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (product(stock=10**40), "stock"),
        (product(amount=10**40), "price.amount"),
        (product(amount=10**37), "price.amount"),
        (product(amount=10**12 + 1), "price.amount"),
        (product(stock=True), "stock"),
        (product(stock=5.0), "stock"),
        (product(amount="1200"), "price.amount"),
    ],
    ids=["stock-1e40", "price-1e40", "price-1e37", "price-above-max", "stock-true", "stock-float", "price-string"],
)
def test_a_number_out_of_bounds_or_of_the_wrong_type_is_a_400(shop, body, field):
    reply = shop.call("catalog", "PUT", "/products/NUMBERS-1", body)
    assert reply.status == 400, reply.body
    assert shaped(reply) == "invalid_request"
    assert fields(reply) == [field]


def test_the_largest_order_of_the_dearest_product_fits(shop):
    """The bounds leave room for sums: 100 units at the maximum price is a storable total."""
    sku = shop.new_product(amount=10**12, stock=1000)
    body = valid_order(sku)
    body["lines"][0]["quantity"] = 100
    reply = post_order(shop, body, key=f"dearest-{sku}")
    assert reply.status == 201, reply.body
    assert reply.body["total"]["amount"] == 100 * 10**12


# -- control characters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"customer_email": "nul\u0000@example.com"}, "customer_email"),
        ({"customer_email": "bell@example.com\u0007"}, "customer_email"),
        ({"payment_token": "tok_visa\n"}, "payment_token"),
        ({"shipping_address": "2 High St\u0000"}, "shipping_address.line1"),
        ({"shipping_address": {"line1": "2 High St", "city": "Spring\u001bfield"}}, "shipping_address.city"),
    ],
    ids=["nul-in-email", "bell-in-email", "newline-in-token", "nul-in-address-text", "escape-in-city"],
)
def test_control_characters_in_an_order_are_a_400(shop, sku, change, field):
    body = {**valid_order(sku), **change}
    reply = post_order(shop, body, key=f"control-{field}-{len(str(change))}")
    assert reply.status == 400, reply.body
    assert shaped(reply) == "invalid_request"
    assert fields(reply) == [field]


def test_a_control_character_in_a_product_name_is_a_400(shop):
    reply = shop.call("catalog", "PUT", "/products/CONTROL-1", product(name="Blue\x00Shirt"))
    assert reply.status == 400
    assert fields(reply) == ["name"]


# -- bodies the parser must not choke on ---------------------------------------------------------------


@pytest.mark.parametrize("service", ["orders", "catalog"])
def test_a_body_nested_10000_deep_is_a_400(shop, service):
    body = "[" * 10_000 + "]" * 10_000
    if service == "orders":
        reply = post_order(shop, body, key="deep")
    else:
        reply = shop.call("catalog", "PUT", "/products/DEEP-1", '{"name": ' + body + "}")
    assert reply.status == 400
    assert shaped(reply) == "malformed_json"
    assert str(MAX_JSON_DEPTH) in reply.body["error"]["message"]


def test_a_body_nested_within_the_limit_is_parsed(shop):
    body = '{"lines": ' + "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1) + "}"
    reply = post_order(shop, body, key="shallow")
    assert reply.status == 400
    assert shaped(reply) == "invalid_request"


@pytest.mark.parametrize("service", ["orders", "catalog"])
def test_a_body_above_the_size_limit_is_a_413(shop, service):
    body = json.dumps({"name": "x" * (MAX_BODY_BYTES + 1)})
    path, method = ("/orders", "POST") if service == "orders" else ("/products/BIG-1", "PUT")
    reply = shop.call(service, method, path, body, {"Idempotency-Key": "big"})
    assert reply.status == 413
    assert shaped(reply) == "payload_too_large"


def test_nan_is_not_a_number(shop):
    reply = shop.call("catalog", "PUT", "/products/NAN-1", '{"name": "n", "kind": "physical", "price": {"amount": NaN}}')
    assert reply.status == 400
    assert shaped(reply) == "malformed_json"


# -- errors the framework answers, in the one shape ----------------------------------------------------


def test_an_unsupported_media_type_is_a_415_in_the_one_shape(shop):
    reply = shop.call("catalog", "PUT", "/products/MEDIA-1", "name=x", {"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 415
    assert shaped(reply) == "unsupported_media_type"


def test_a_method_a_route_lacks_is_a_405_in_the_one_shape(shop):
    reply = shop.call("orders", "DELETE", "/orders")
    assert reply.status == 405
    assert shaped(reply) == "method_not_allowed"
    # /orders takes POST (place) and GET (the caller's own orders).
    assert {m.strip() for m in reply.headers["allow"].split(",")} == {"GET", "POST"}


@pytest.mark.parametrize("service", ["catalog", "vod", "orders", "fulfillment", "notify"])
def test_an_unknown_route_is_a_404_in_the_one_shape(shop, service):
    reply = shop.call(service, "GET", "/no/such/route")
    assert reply.status == 404
    assert shaped(reply) == "not_found"


def test_an_unknown_route_with_an_authorization_header_is_a_404_too(shop):
    reply = shop.call("orders", "GET", "/nope", headers={"Authorization": "Bearer x"})
    assert reply.status == 404
    assert shaped(reply) == "not_found"


def test_an_oversized_uri_is_a_414_in_the_one_shape(shop):
    reply = shop.call("orders", "GET", "/orders/" + "x" * 9000)
    assert reply.status == 414
    assert shaped(reply) == "uri_too_long"


def test_oversized_headers_are_a_431_in_the_one_shape(shop):
    reply = shop.call("orders", "GET", "/products", headers={f"X-Filler-{i}": "y" * 1000 for i in range(12)})
    assert reply.status == 431
    assert shaped(reply) == "headers_too_large"


def test_too_many_headers_are_a_431_in_the_one_shape(shop):
    reply = shop.call("orders", "GET", "/products", headers={f"X-{i}": "y" for i in range(120)})
    assert reply.status == 431
    assert shaped(reply) == "headers_too_large"


def test_an_unsupported_method_is_a_501_in_the_one_shape(shop):
    reply = shop.call("orders", "BREW", "/orders")
    assert reply.status == 501
    assert shaped(reply) == "not_implemented"


def test_a_malformed_request_line_is_a_400_in_the_one_shape(shop):
    status, headers, body = raw(shop, "orders", b"GET\r\n\r\n")
    assert status == 400
    assert error_code(status, body, headers.get("content-type")) == "bad_request"


def test_head_gets_no_body_and_the_connection_stays_usable(shop):
    url = urlsplit(shop.stack.service_urls["orders"])
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        connection.request("HEAD", "/health")
        head = connection.getresponse()
        assert head.read() == b""
        connection.request("GET", "/health")
        after = connection.getresponse()
        assert after.status == 200
        assert json.loads(after.read()) == {"status": "ok", "service": "orders"}
    finally:
        connection.close()


# -- framing: lengths, chunks, stalls ------------------------------------------------------------------


def put_request(sku: str, body: bytes, headers: str) -> bytes:
    return f"PUT /products/{sku} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}\r\n".encode() + body


def test_a_body_shorter_than_its_content_length_is_a_408_not_a_hang(shop):
    body = json.dumps(product()).encode()
    status, headers, reply = raw(shop, "catalog", put_request("SHORT-1", body, f"Content-Length: {len(body) + 100}\r\n"))
    assert status == 408
    assert error_code(status, reply, headers.get("content-type")) == "request_timeout"
    assert headers["connection"] == "close"


def test_a_chunked_body_is_decoded(shop):
    body = json.dumps(product(name="Chunked")).encode()
    chunks = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:]))
    sku = "CHUNKED-" + str(abs(hash(body)) % 10**8)
    # Signed in as staff: a product write needs the staff group.
    staff = f"Authorization: Bearer {shop.token('sam')}\r\n"
    status, _, reply = raw(
        shop, "catalog", put_request(sku, chunks + b"0\r\nX-Trailer: y\r\n\r\n", f"Transfer-Encoding: chunked\r\n{staff}")
    )
    assert status in {200, 201}, reply
    assert reply["name"] == "Chunked"


@pytest.mark.parametrize(
    ("framing", "body", "status", "code"),
    [
        ("Transfer-Encoding: chunked\r\n", b"zz\r\n{}\r\n0\r\n\r\n", 400, "bad_request"),
        ("Transfer-Encoding: chunked\r\n", b"2\r\n{}}}\r\n0\r\n\r\n", 400, "bad_request"),
        ("Transfer-Encoding: chunked\r\nContent-Length: 2\r\n", b"2\r\n{}\r\n0\r\n\r\n", 400, "bad_request"),
        ("Transfer-Encoding: gzip\r\n", b"", 501, "not_implemented"),
        ("Content-Length: -1\r\n", b"", 400, "bad_request"),
        ("Content-Length: 2\r\nContent-Length: 3\r\n", b"{}", 400, "bad_request"),
        (f"Content-Length: {MAX_BODY_BYTES + 1}\r\n", b"", 413, "payload_too_large"),
        ("Transfer-Encoding: chunked\r\n", b"%x\r\n" % (MAX_BODY_BYTES + 1), 413, "payload_too_large"),
    ],
    ids=[
        "bad-chunk-size",
        "chunk-overrun",
        "both-lengths",
        "gzip",
        "negative-length",
        "two-lengths",
        "too-long",
        "chunk-too-long",
    ],
)
def test_bad_framing_is_refused_precisely_in_the_one_shape(shop, framing, body, status, code):
    got, headers, reply = raw(shop, "catalog", put_request("FRAMING-1", body, framing))
    assert got == status, reply
    assert error_code(got, reply, headers.get("content-type")) == code
