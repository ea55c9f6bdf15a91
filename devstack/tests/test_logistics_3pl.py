"""The fake 3PL alone, over HTTP: its shipments API, its rate limit, its fault injection, and the signed
tracking notifications it sends (to a small werkzeug receiver standing in for the shop)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from shop_devstack.logistics_3pl import LogisticsServer, sign

TOKEN = "t-3pl"
SECRET = "s-webhook"


def call(base: str, method: str, path: str, body: Any = None, token: str | None = TOKEN) -> tuple[int, dict[str, str], Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}{path}", data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def shipment_request(identifier: str, **changes: Any) -> dict[str, Any]:
    return {
        "identifier": identifier,
        "order_no": f"ord-{identifier}",
        "recipient": {
            "name": "山田 花子",
            "postcode": "100-0001",
            "prefecture": "東京都",
            "address1": "千代田区千代田1-1",
            "address2": None,
            "phone": "03-1234-5678",
        },
        "delivery_carrier": "YAMATO",
        "delivery_date": "2030-05-20",
        "delivery_time_slot": "14",
        "items": [{"code": "BLURAY-BOX-1", "quantity": 2}],
        **changes,
    }


@pytest.fixture
def fake() -> Iterator[LogisticsServer]:
    with LogisticsServer(token=TOKEN, webhook_secret=SECRET, rate_limit=5, rate_window=60) as server:
        yield server


class Receiver:
    """What the shop's webhook would see: every request's headers and raw body; answers 200."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._server = make_server("127.0.0.1", 0, self, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.port}/logistics/tracking"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.received.append((dict(request.headers), request.get_data()))
        return Response('{"outcome": "applied"}', content_type="application/json")(environ, start_response)


@pytest.fixture
def receiver(fake: LogisticsServer) -> Iterator[Receiver]:
    receiver = Receiver()
    receiver._thread.start()
    assert call(fake.url, "POST", "/admin/config", {"webhook_url": receiver.url}, token=None)[0] == 200
    yield receiver
    receiver._server.shutdown()


def test_a_shipment_is_created_once_per_identifier(fake):
    status, _, created = call(fake.url, "POST", "/api/shipments", shipment_request("shp_1"))
    again_status, _, again = call(fake.url, "POST", "/api/shipments", shipment_request("shp_1"))

    assert (status, created["status"], created["identifier"], created["tracking_codes"]) == (201, "waiting", "shp_1", [])
    assert (again_status, again["id"]) == (200, created["id"])
    assert call(fake.url, "GET", f"/api/shipments/{created['id']}")[2]["recipient"]["prefecture"] == "東京都"


def test_the_same_identifier_with_other_content_is_a_conflict(fake):
    call(fake.url, "POST", "/api/shipments", shipment_request("shp_2"))

    status, _, body = call(fake.url, "POST", "/api/shipments", shipment_request("shp_2", order_no="ord-other"))

    assert (status, body["error"]["code"]) == (409, "identifier_conflict")


def test_a_recipient_without_a_phone_is_refused_with_the_field_named(fake):
    request = shipment_request("shp_3")
    request["recipient"]["phone"] = ""

    status, _, body = call(fake.url, "POST", "/api/shipments", request)

    assert status == 422
    assert "phone" in body["error"]["message"]


def test_every_api_call_needs_the_token(fake):
    assert call(fake.url, "POST", "/api/shipments", shipment_request("shp_4"), token=None)[0] == 401
    assert call(fake.url, "POST", "/api/shipments", shipment_request("shp_4"), token="wrong")[0] == 401


def test_too_many_calls_are_answered_429_with_retry_after(fake):
    answers = [call(fake.url, "GET", "/api/shipments/none") for _ in range(6)]

    assert [status for status, _, _ in answers] == [404] * 5 + [429]
    assert int(answers[-1][1]["Retry-After"]) >= 1


def test_injected_faults_fail_the_next_calls_then_it_recovers(fake):
    call(fake.url, "POST", "/admin/faults", {"fail_next": 2, "fail_status": 502}, token=None)

    statuses = [call(fake.url, "POST", "/api/shipments", shipment_request("shp_5"))[0] for _ in range(3)]

    assert statuses == [502, 502, 201]


def test_an_injected_rate_limit_answers_429_now(fake):
    call(fake.url, "POST", "/admin/faults", {"rate_limit_next": 1, "retry_after": 7}, token=None)

    status, headers, body = call(fake.url, "POST", "/api/shipments", shipment_request("shp_6"))

    assert (status, headers["Retry-After"], body["error"]["code"]) == (429, "7", "too_many_requests")


def test_an_injected_timeout_still_makes_the_shipment(fake):
    call(fake.url, "POST", "/admin/faults", {"timeout_next": 1, "timeout_seconds": 1.5}, token=None)
    request = urllib.request.Request(
        f"{fake.url}/api/shipments",
        data=json.dumps(shipment_request("shp_7")).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        method="POST",
    )

    with pytest.raises(TimeoutError):
        urllib.request.urlopen(request, timeout=0.3)

    status, _, again = call(fake.url, "POST", "/api/shipments", shipment_request("shp_7"))
    assert (status, again["identifier"]) == (200, "shp_7")


def test_cancel_is_allowed_while_waiting_or_picking_and_refused_once_packed(fake, receiver):
    waiting = call(fake.url, "POST", "/api/shipments", shipment_request("shp_8"))[2]["id"]
    packed = call(fake.url, "POST", "/api/shipments", shipment_request("shp_9"))[2]["id"]
    call(fake.url, "POST", f"/admin/shipments/{packed}/advance", {"status": "packed"}, token=None)

    allowed = call(fake.url, "POST", f"/api/shipments/{waiting}/cancel")
    again = call(fake.url, "POST", f"/api/shipments/{waiting}/cancel")
    refused = call(fake.url, "POST", f"/api/shipments/{packed}/cancel")

    assert (allowed[0], allowed[2]["status"], again[0]) == (200, "cancelled", 200)
    assert (refused[0], refused[2]["error"]["code"], refused[2]["error"]["status"]) == (409, "not_cancellable", "packed")


def test_advancing_sends_a_signed_notification_with_the_tracking_code(fake, receiver):
    shipment = call(fake.url, "POST", "/api/shipments", shipment_request("shp_10"))[2]["id"]

    status, _, answer = call(fake.url, "POST", f"/admin/shipments/{shipment}/advance", {"status": "shipped"}, token=None)

    assert (status, answer["shipment"]["status"], len(answer["shipment"]["tracking_codes"])) == (200, "shipped", 1)
    [(headers, body)] = receiver.received
    signed = headers["X-Logistics-Timestamp"].encode() + b"." + body
    expected = "v1=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert headers["X-Logistics-Signature"] == expected == sign(SECRET, headers["X-Logistics-Timestamp"], body)
    notified = json.loads(body)
    assert (notified["identifier"], notified["status"], notified["tracking_code"]) == (
        "shp_10",
        "shipped",
        answer["shipment"]["tracking_codes"][0],
    )


def test_a_duplicate_repeats_the_notification_and_a_forged_one_is_signed_with_another_secret(fake, receiver):
    shipment = call(fake.url, "POST", "/api/shipments", shipment_request("shp_11"))[2]["id"]

    call(fake.url, "POST", f"/admin/shipments/{shipment}/advance", {"status": "picking", "duplicate": True}, token=None)
    call(fake.url, "POST", f"/admin/shipments/{shipment}/notify", {"status": "waiting", "forge": True}, token=None)

    (_, first), (_, second), (forged_headers, forged) = receiver.received
    assert first == second
    assert forged_headers["X-Logistics-Signature"] != sign(SECRET, forged_headers["X-Logistics-Timestamp"], forged)
    assert json.loads(forged)["status"] == "waiting"


def test_a_shipment_only_moves_forward(fake):
    shipment = call(fake.url, "POST", "/api/shipments", shipment_request("shp_12"))[2]["id"]
    call(fake.url, "POST", f"/admin/shipments/{shipment}/advance", {"status": "packed"}, token=None)

    status, _, body = call(fake.url, "POST", f"/admin/shipments/{shipment}/advance", {"status": "picking"}, token=None)

    assert (status, body["error"]["code"]) == (409, "not_forward")


def test_unknown_routes_and_methods_answer_json(fake):
    assert call(fake.url, "GET", "/nowhere")[0:3:2] == (404, {"error": {"code": "not_found", "message": "no route GET /nowhere"}})
    status, _, body = call(fake.url, "DELETE", "/api/shipments")
    assert (status, body["error"]["code"]) == (405, "method_not_allowed")
