"""Tests for the fake payment gateway, over real HTTP with urllib only."""

from __future__ import annotations

import json
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

try:
    from shop_devstack import payment_gateway
except ModuleNotFoundError:
    # Not installed (e.g. a fresh checkout): import it from the source tree next to this folder.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from shop_devstack import payment_gateway

PaymentGatewayServer = payment_gateway.PaymentGatewayServer

MODULE_PATH = Path(__file__).resolve().parents[1] / "shop_devstack" / "payment_gateway.py"
CHARGE_ID = re.compile(r"ch_[0-9a-f]{32}")


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


@pytest.fixture(scope="module")
def gateway() -> Iterator[PaymentGatewayServer]:
    server = PaymentGatewayServer(port=0)
    server.start()
    yield server
    server.stop()


def call(
    gateway: PaymentGatewayServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = None,
    raw: bytes | None = None,
) -> Reply:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(gateway.url + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, headers, payload = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, payload = error.code, dict(error.headers), error.read()
        error.close()
    assert headers["Content-Type"] == "application/json"
    return Reply(status, headers, json.loads(payload) if payload else None)


def charge(gateway: PaymentGatewayServer, key: str, **overrides: Any) -> Reply:
    body = {"amount": 1999, "currency": "EUR", "source": "tok_visa", "description": "VOD rental"}
    body.update(overrides)
    return call(gateway, "POST", "/v1/charges", body, key=key)


def charges_for(gateway: PaymentGatewayServer, key: str) -> list[dict[str, Any]]:
    reply = call(gateway, "GET", f"/v1/charges?idempotency_key={key}")
    assert reply.status == 200
    data: list[dict[str, Any]] = reply.body["data"]
    return data


def new_key() -> str:
    return f"test-{uuid.uuid4()}"


# -- happy path ------------------------------------------------------------------------------------
def test_health(gateway: PaymentGatewayServer) -> None:
    reply = call(gateway, "GET", "/health")
    assert (reply.status, reply.body) == (200, {"status": "ok"})


def test_url_names_the_bound_port(gateway: PaymentGatewayServer) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", gateway.url)
    assert not gateway.url.endswith(":0")


def test_approved_charge(gateway: PaymentGatewayServer) -> None:
    key = new_key()
    before = int(time.time())
    reply = charge(gateway, key, amount=499, currency="USD")

    assert reply.status == 201
    body = reply.body
    assert CHARGE_ID.fullmatch(body["id"])
    assert body["object"] == "charge"
    assert body["status"] == "succeeded"
    assert (body["amount"], body["currency"], body["source"]) == (499, "USD", "tok_visa")
    assert body["description"] == "VOD rental"
    assert body["idempotency_key"] == key
    assert isinstance(body["created"], int) and body["created"] >= before
    assert "Idempotent-Replayed" not in reply.headers
    assert charges_for(gateway, key) == [body]
    assert body in gateway.charges()


def test_description_is_optional(gateway: PaymentGatewayServer) -> None:
    reply = call(gateway, "POST", "/v1/charges", {"amount": 1, "currency": "GBP", "source": "tok_visa"}, key=new_key())
    assert reply.status == 201
    assert reply.body["description"] is None


def test_list_is_in_creation_order(gateway: PaymentGatewayServer) -> None:
    keys = [new_key() for _ in range(3)]
    ids = [charge(gateway, key).body["id"] for key in keys]
    listed = [c["id"] for c in call(gateway, "GET", "/v1/charges").body["data"] if c["idempotency_key"] in keys]
    assert listed == ids


def test_charges_returns_copies(gateway: PaymentGatewayServer) -> None:
    key = new_key()
    charge(gateway, key)
    mine = next(c for c in gateway.charges() if c["idempotency_key"] == key)
    mine["amount"] = 0
    assert charges_for(gateway, key)[0]["amount"] == 1999


# -- declines and unknown tokens -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("token", "code", "message"),
    [
        ("tok_chargeDeclined", "card_declined", "Your card was declined."),
        ("tok_insufficientFunds", "insufficient_funds", "Your card has insufficient funds."),
    ],
)
def test_decline(gateway: PaymentGatewayServer, token: str, code: str, message: str) -> None:
    key = new_key()
    reply = charge(gateway, key, source=token)
    assert reply.status == 402
    assert reply.body == {"error": {"type": "card_error", "code": code, "message": message}}
    assert charges_for(gateway, key) == []


def test_decline_is_stored_and_replayed(gateway: PaymentGatewayServer) -> None:
    key = new_key()
    first = charge(gateway, key, source="tok_chargeDeclined")
    again = charge(gateway, key, source="tok_chargeDeclined")
    assert first.status == again.status == 402
    assert again.body == first.body
    assert again.headers["Idempotent-Replayed"] == "true"


def test_unknown_token(gateway: PaymentGatewayServer) -> None:
    key = new_key()
    reply = charge(gateway, key, source="tok_nope")
    assert reply.status == 400
    assert reply.body["error"]["type"] == "invalid_request_error"
    assert reply.body["error"]["code"] == "invalid_token"
    assert reply.body["error"]["param"] == "source"
    assert charges_for(gateway, key) == []


# -- transient failure -----------------------------------------------------------------------------
def test_flaky_fails_once_per_key_then_succeeds(gateway: PaymentGatewayServer) -> None:
    key = new_key()
    first = charge(gateway, key, source="tok_flaky")
    assert first.status == 503
    assert first.body["error"]["type"] == "api_error"
    assert first.body["error"]["code"] == "service_unavailable"
    assert charges_for(gateway, key) == []

    retry = charge(gateway, key, source="tok_flaky")
    assert retry.status == 201
    assert retry.body["status"] == "succeeded"
    # The 503 was not stored, so this is a fresh answer, not a replay of it.
    assert "Idempotent-Replayed" not in retry.headers

    again = charge(gateway, key, source="tok_flaky")
    assert (again.status, again.body["id"]) == (201, retry.body["id"])
    assert again.headers["Idempotent-Replayed"] == "true"
    assert [c["id"] for c in charges_for(gateway, key)] == [retry.body["id"]]


def test_flaky_fails_afresh_for_every_new_key(gateway: PaymentGatewayServer) -> None:
    assert charge(gateway, new_key(), source="tok_flaky").status == 503
    assert charge(gateway, new_key(), source="tok_flaky").status == 503


# -- idempotency -----------------------------------------------------------------------------------
def test_replay_returns_the_same_charge(gateway: PaymentGatewayServer) -> None:
    key = new_key()
    first = charge(gateway, key)
    second = charge(gateway, key)

    assert first.status == second.status == 201
    assert second.body == first.body
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert [c["id"] for c in charges_for(gateway, key)] == [first.body["id"]]


def test_replay_ignores_key_order_and_whitespace(gateway: PaymentGatewayServer) -> None:
    key = new_key()
    first = call(gateway, "POST", "/v1/charges", raw=b'{"amount": 5, "currency": "EUR", "source": "tok_visa"}', key=key)
    second = call(gateway, "POST", "/v1/charges", raw=b'{"source":"tok_visa","currency":"EUR","amount":5}', key=key)
    assert first.status == second.status == 201
    assert second.body["id"] == first.body["id"]
    assert second.headers["Idempotent-Replayed"] == "true"


def test_key_reused_with_other_body(gateway: PaymentGatewayServer) -> None:
    key = new_key()
    first = charge(gateway, key, amount=1000)
    reused = charge(gateway, key, amount=2000)

    assert reused.status == 422
    assert reused.body["error"]["code"] == "idempotency_key_reused"
    assert "Idempotent-Replayed" not in reused.headers
    assert [c["amount"] for c in charges_for(gateway, key)] == [1000]
    # The original is still what the key means.
    assert charge(gateway, key, amount=1000).body["id"] == first.body["id"]


def test_validation_error_is_stored_for_a_valid_key(gateway: PaymentGatewayServer) -> None:
    key = new_key()
    first = call(gateway, "POST", "/v1/charges", raw=b"not json", key=key)
    again = call(gateway, "POST", "/v1/charges", raw=b"not json", key=key)
    fixed = charge(gateway, key)

    assert (first.status, first.body["error"]["code"]) == (400, "invalid_json")
    assert (again.status, again.body) == (400, first.body)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (fixed.status, fixed.body["error"]["code"]) == (422, "idempotency_key_reused")
    assert charges_for(gateway, key) == []


def _race(count: int, request: Callable[[], Reply]) -> list[Reply]:
    """Fire `count` requests as close to simultaneously as threads allow."""
    barrier = threading.Barrier(count)

    def worker() -> Reply:
        barrier.wait(timeout=10)
        return request()

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(worker) for _ in range(count)]
        # result() re-raises a worker's exception here instead of losing it in the thread.
        return [future.result(timeout=30) for future in futures]


def _hold_first_request_until_all_arrive(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """Make the race real instead of hoping the scheduler produces it.

    In-memory processing is so quick that unsynchronised requests rarely overlap. So the first
    request to reach validation (inside the gateway's critical section) waits there until all
    `count` requests have reached the gateway. With the lock, the others queue behind it; without
    it, all of them would be inside at once and each would create a charge.
    """
    arrived = 0
    condition = threading.Condition()
    parse_body, validate = payment_gateway._parse_body, payment_gateway._validate

    def counting_parse_body(raw: bytes) -> Any:
        nonlocal arrived
        with condition:
            arrived += 1
            condition.notify_all()
        return parse_body(raw)

    def waiting_validate(payload: Any) -> Any:
        with condition:
            # The timeout only keeps a broken gateway from hanging the suite.
            condition.wait_for(lambda: arrived >= count, timeout=10)
        return validate(payload)

    monkeypatch.setattr(payment_gateway, "_parse_body", counting_parse_body)
    monkeypatch.setattr(payment_gateway, "_validate", waiting_validate)


def test_concurrent_requests_with_one_key_create_one_charge(
    gateway: PaymentGatewayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_key()
    _hold_first_request_until_all_arrive(monkeypatch, 8)
    replies = _race(8, lambda: charge(gateway, key, amount=777))

    assert [reply.status for reply in replies] == [201] * 8
    assert len({reply.body["id"] for reply in replies}) == 1
    assert sum("Idempotent-Replayed" in reply.headers for reply in replies) == 7
    assert len(charges_for(gateway, key)) == 1


def test_concurrent_flaky_requests_create_one_charge(gateway: PaymentGatewayServer, monkeypatch: pytest.MonkeyPatch) -> None:
    key = new_key()
    _hold_first_request_until_all_arrive(monkeypatch, 8)
    replies = _race(8, lambda: charge(gateway, key, source="tok_flaky"))

    # Exactly one request meets the outage; of the rest, one charges and six replay that charge.
    assert sorted(reply.status for reply in replies) == [201] * 7 + [503]
    assert sum("Idempotent-Replayed" in reply.headers for reply in replies) == 6
    assert len(charges_for(gateway, key)) == 1


# -- validation ------------------------------------------------------------------------------------
def test_missing_idempotency_key(gateway: PaymentGatewayServer) -> None:
    before = len(gateway.charges())
    reply = call(gateway, "POST", "/v1/charges", {"amount": 100, "currency": "EUR", "source": "tok_visa"})
    assert reply.status == 400
    assert reply.body["error"]["code"] == "idempotency_key_missing"
    assert len(gateway.charges()) == before


def test_empty_idempotency_key_counts_as_missing(gateway: PaymentGatewayServer) -> None:
    reply = call(gateway, "POST", "/v1/charges", {"amount": 100, "currency": "EUR", "source": "tok_visa"}, key="")
    assert (reply.status, reply.body["error"]["code"]) == (400, "idempotency_key_missing")


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"[1, 2]", b'"a string"', b"null", b'{"amount": NaN}', b"\xff\xfe"],
    ids=["empty", "truncated", "array", "string", "null", "nan", "not-utf8"],
)
def test_invalid_json(gateway: PaymentGatewayServer, raw: bytes) -> None:
    reply = call(gateway, "POST", "/v1/charges", raw=raw, key=new_key())
    assert reply.status == 400
    assert reply.body["error"]["type"] == "invalid_request_error"
    assert reply.body["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("field", ["amount", "currency", "source"])
def test_missing_field_is_named(gateway: PaymentGatewayServer, field: str) -> None:
    body = {"amount": 100, "currency": "EUR", "source": "tok_visa"}
    del body[field]
    reply = call(gateway, "POST", "/v1/charges", body, key=new_key())
    assert reply.status == 400
    assert reply.body["error"]["code"] == "parameter_missing"
    assert reply.body["error"]["param"] == field


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", 0),
        ("amount", -5),
        ("amount", 10.5),
        ("amount", "100"),
        ("amount", True),
        ("currency", "eur"),
        ("currency", "EURO"),
        ("currency", "E1R"),
        ("currency", 978),
        ("source", 42),
        ("source", ["tok_visa"]),
        ("description", 7),
        ("description", {"text": "x"}),
    ],
)
def test_invalid_field_is_named(gateway: PaymentGatewayServer, field: str, value: Any) -> None:
    key = new_key()
    reply = charge(gateway, key, **{field: value})
    assert reply.status == 400
    assert reply.body["error"]["code"] == "parameter_invalid"
    assert reply.body["error"]["param"] == field
    assert charges_for(gateway, key) == []


# -- routing ---------------------------------------------------------------------------------------
def test_unknown_path_is_json_404(gateway: PaymentGatewayServer) -> None:
    reply = call(gateway, "GET", "/v1/refunds")
    assert reply.status == 404
    assert reply.body["error"]["code"] == "resource_missing"


def test_wrong_method_is_json_405(gateway: PaymentGatewayServer) -> None:
    reply = call(gateway, "DELETE", "/v1/charges")
    assert reply.status == 405
    assert reply.body["error"]["code"] == "method_not_allowed"
    assert reply.headers["Allow"] == "GET, HEAD, POST"


def test_unsupported_method_is_json_not_html(gateway: PaymentGatewayServer) -> None:
    reply = call(gateway, "BREW", "/health")
    assert reply.status == 501
    assert reply.body["error"]["code"] == "not_implemented"


def test_list_filter_with_unknown_key_is_empty(gateway: PaymentGatewayServer) -> None:
    assert charges_for(gateway, new_key()) == []


# -- lifecycle -------------------------------------------------------------------------------------
def test_stop_releases_the_server_and_is_idempotent() -> None:
    with PaymentGatewayServer() as server:
        url = server.url
        with urllib.request.urlopen(url + "/health", timeout=10) as response:
            assert response.status == 200
    server.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/health", timeout=10)
    with pytest.raises(RuntimeError):
        server.start()


def test_stop_without_start() -> None:
    PaymentGatewayServer().stop()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signal semantics")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cli_announces_url_and_exits_cleanly_on_signal(signum: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, str(MODULE_PATH), "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = _read_line(process.stdout, deadline_seconds=20)
        match = re.fullmatch(r"payment-gateway listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        with urllib.request.urlopen(match.group(1) + "/health", timeout=10) as response:
            assert json.loads(response.read()) == {"status": "ok"}

        process.send_signal(signum)
        _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0
        assert "Traceback" not in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_cli_rejects_a_bad_port() -> None:
    result = subprocess.run(
        [sys.executable, str(MODULE_PATH), "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 2
    assert "port out of range" in result.stderr


def _read_line(stream: Any, deadline_seconds: float) -> str:
    # A guard against hanging the suite if the child never prints, not a timing assertion.
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout=deadline_seconds):
            pytest.fail("payment gateway did not announce itself")
    line: str = stream.readline()
    return line
