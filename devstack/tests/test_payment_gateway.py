"""The fake Stripe, driven by the `stripe` library itself (what the orders service uses), and over raw
HTTP only for what the library never sends (no key, a malformed form, a wrong path)."""

from __future__ import annotations

import json
import re
import selectors
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import stripe

from shop_devstack import payment_gateway
from shop_devstack.payment_gateway import MAX_BODY_BYTES, PaymentGatewayServer

MODULE_PATH = Path(__file__).resolve().parents[1] / "shop_devstack" / "payment_gateway.py"
API_KEY = "sk_test_devstack"


@pytest.fixture(scope="module")
def gateway() -> Iterator[PaymentGatewayServer]:
    with PaymentGatewayServer(port=0) as server:
        yield server


def client_for(server: PaymentGatewayServer, *, read_timeout: float = 10.0, key: str = API_KEY) -> stripe.StripeClient:
    return stripe.StripeClient(
        key,
        base_addresses={"api": server.url},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=(3, read_timeout)),
    )


@pytest.fixture
def client(gateway: PaymentGatewayServer) -> stripe.StripeClient:
    return client_for(gateway)


def new_key() -> str:
    return f"test-{uuid.uuid4()}"


def pay(client: stripe.StripeClient, key: str | None, card: str = "pm_card_visa", **params: Any) -> stripe.PaymentIntent:
    method: dict[str, Any] = (
        {"payment_method_data": {"type": "card", "card": {"token": card}}}
        if card.startswith("tok_")
        else {"payment_method": card}
    )
    body = {"amount": 1999, "currency": "eur", "confirm": True, "description": "VOD rental"} | method | params
    return client.v1.payment_intents.create(params=body, options={"idempotency_key": key} if key else {})  # type: ignore[arg-type]


def refund(client: stripe.StripeClient, key: str, **params: Any) -> stripe.Refund:
    return client.v1.refunds.create(params=params, options={"idempotency_key": key})  # type: ignore[arg-type]


def raw(server: PaymentGatewayServer, method: str, path: str, body: bytes | None = None, **headers: str) -> tuple[int, Any]:
    request = urllib.request.Request(server.url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def bearer(key: str = API_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/x-www-form-urlencoded"}


# -- payment intents --------------------------------------------------------------------------------


def test_health(gateway: PaymentGatewayServer) -> None:
    assert raw(gateway, "GET", "/health") == (200, {"status": "ok"})


@pytest.mark.parametrize("card", ["pm_card_visa", "tok_visa"])
def test_a_good_card_succeeds(client: stripe.StripeClient, gateway: PaymentGatewayServer, card: str) -> None:
    key = new_key()

    intent = pay(client, key, card, metadata={"order_id": "o-1"})

    assert re.fullmatch(r"pi_[0-9a-f]{24}", intent.id)
    assert (intent.status, intent.amount, intent.amount_received, intent.currency) == ("succeeded", 1999, 1999, "eur")
    assert (intent.payment_method, intent.metadata.to_dict()) == ("pm_card_visa", {"order_id": "o-1"})
    assert client.v1.payment_intents.retrieve(intent.id).to_dict() == intent.to_dict()
    [recorded] = gateway.payment_intents(key)
    assert (recorded["id"], recorded["amount_refunded"]) == (intent.id, 0)


@pytest.mark.parametrize(
    ("card", "decline_code", "message"),
    [
        ("pm_card_chargeDeclined", "generic_decline", "Your card was declined."),
        ("tok_chargeDeclined", "generic_decline", "Your card was declined."),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds", "Your card has insufficient funds."),
        ("tok_chargeDeclinedInsufficientFunds", "insufficient_funds", "Your card has insufficient funds."),
        ("tok_insufficientFunds", "insufficient_funds", "Your card has insufficient funds."),
    ],
)
def test_a_declined_card_is_stripes_card_error(client: stripe.StripeClient, card: str, decline_code: str, message: str) -> None:
    with pytest.raises(stripe.CardError) as declined:
        pay(client, new_key(), card)

    error = declined.value
    assert (error.http_status, error.code, error.user_message) == (402, "card_declined", message)
    assert error.error is not None
    assert (error.error.type, error.error.decline_code) == ("card_error", decline_code)
    intent = error.error.payment_intent
    assert intent is not None
    assert (intent.status, intent.amount_received) == ("requires_payment_method", 0)
    assert intent.last_payment_error is not None and intent.last_payment_error.decline_code == decline_code


def test_a_decline_is_stored_and_replayed(client: stripe.StripeClient, gateway: PaymentGatewayServer) -> None:
    key = new_key()
    errors = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as declined:
            pay(client, key, "pm_card_chargeDeclined")
        errors.append(declined.value)

    assert errors[0].json_body == errors[1].json_body
    assert errors[1].headers.get("Idempotent-Replayed") == "true"
    assert len(gateway.payment_intents(key)) == 1


@pytest.mark.parametrize(
    ("card", "param"), [("pm_card_nope", "payment_method"), ("tok_nope", "payment_method_data[card][token]")]
)
def test_an_unknown_card_is_an_invalid_request_naming_it(client: stripe.StripeClient, card: str, param: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        pay(client, new_key(), card)

    assert (refused.value.http_status, refused.value.code, refused.value.param) == (400, "resource_missing", param)


def test_the_same_key_replays_the_same_payment(client: stripe.StripeClient, gateway: PaymentGatewayServer) -> None:
    key = new_key()

    first, again = pay(client, key), pay(client, key)

    assert again.to_dict() == first.to_dict()
    assert first.last_response.headers.get("Idempotent-Replayed") is None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(gateway.payment_intents(key)) == 1


@pytest.mark.parametrize("change", [{"amount": 2000}, {"description": "another"}, {"currency": "usd"}])
def test_the_same_key_with_other_parameters_is_an_idempotency_error(
    client: stripe.StripeClient, gateway: PaymentGatewayServer, change: dict[str, Any]
) -> None:
    key = new_key()
    pay(client, key)

    with pytest.raises(stripe.IdempotencyError) as reused:
        pay(client, key, **change)

    assert reused.value.http_status == 400
    assert reused.value.error is not None and reused.value.error.type == "idempotency_error"
    assert len(gateway.payment_intents(key)) == 1


def test_the_same_key_on_another_endpoint_is_an_idempotency_error(client: stripe.StripeClient) -> None:
    key = new_key()
    intent = pay(client, key)

    with pytest.raises(stripe.IdempotencyError):
        refund(client, key, payment_intent=intent.id)


def test_without_a_key_each_request_is_its_own_payment(client: stripe.StripeClient) -> None:
    assert pay(client, None).id != pay(client, None).id


def test_the_flaky_card_fails_once_per_key(client: stripe.StripeClient, gateway: PaymentGatewayServer) -> None:
    key = new_key()

    with pytest.raises(stripe.APIError) as unavailable:
        pay(client, key, "tok_flaky")
    retried = pay(client, key, "tok_flaky")
    again = pay(client, key, "tok_flaky")

    assert unavailable.value.http_status == 503
    assert unavailable.value.headers["Stripe-Should-Retry"] == "true"
    assert retried.status == "succeeded" and again.id == retried.id
    assert len(gateway.payment_intents(key)) == 1
    with pytest.raises(stripe.APIError):
        pay(client, new_key(), "pm_card_flaky")  # a new key meets the outage afresh


def test_the_timeout_card_pays_then_answers_after_the_client_gave_up(gateway: PaymentGatewayServer) -> None:
    impatient = client_for(gateway, read_timeout=0.5)
    key = new_key()

    with pytest.raises(stripe.APIConnectionError) as timed_out:
        pay(impatient, key, "tok_timeoutOnce")
    # Already paid, though the client could not know: the retry gets that payment, not a second one.
    [recorded] = gateway.payment_intents(key)
    retried = pay(impatient, key, "tok_timeoutOnce")

    assert timed_out.value.should_retry
    assert (retried.id, retried.status) == (recorded["id"], "succeeded")
    assert retried.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(gateway.payment_intents(key)) == 1


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ({"amount": None}, "parameter_missing", "amount"),
        ({"amount": 0}, "parameter_invalid_integer", "amount"),
        ({"amount": "12.5"}, "parameter_invalid_integer", "amount"),
        ({"amount": 100_000_000}, "amount_too_large", "amount"),
        ({"currency": None}, "parameter_missing", "currency"),
        ({"currency": "euro"}, "parameter_invalid", "currency"),
        ({"confirm": False}, "parameter_invalid", "confirm"),
        ({"payment_method": None}, "parameter_missing", "payment_method"),
        ({"payment_method_data": {"type": "sepa_debit"}}, "parameter_invalid", "payment_method"),
        ({"surprise": "yes"}, "parameter_unknown", "surprise"),
        ({"metadata": {"a": {"b": "c"}}}, "parameter_invalid", "metadata"),
        ({"metadata": {"reason": "x" * 501}}, "parameter_invalid", "metadata[reason]"),
    ],
)
def test_an_invalid_parameter_is_named_and_not_stored(
    client: stripe.StripeClient, gateway: PaymentGatewayServer, params: dict[str, Any], code: str, param: str
) -> None:
    key = new_key()
    body = {"amount": 1999, "currency": "eur", "confirm": True, "payment_method": "pm_card_visa"} | params
    body = {name: value for name, value in body.items() if value is not None}

    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.payment_intents.create(params=body, options={"idempotency_key": key})  # type: ignore[arg-type]

    assert (refused.value.http_status, refused.value.code, refused.value.param) == (400, code, param)
    # Stripe keeps no result for a request that failed validation: the corrected one goes through.
    assert pay(client, key).status == "succeeded"


def test_a_missing_payment_intent_is_a_404(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_intents.retrieve("pi_missing")

    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")


def test_concurrent_requests_with_one_key_make_one_payment(
    client: stripe.StripeClient, gateway: PaymentGatewayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight requests with one key, the first held inside the fake's critical section until all eight
    have arrived: without the lock each would make its own payment."""
    count, key = 8, new_key()
    arrived, condition = 0, threading.Condition()
    decode, card = payment_gateway._decode_form, payment_gateway._card

    def counting_decode(pairs: Any) -> Any:  # outside the lock: every request passes here
        nonlocal arrived
        with condition:
            arrived += 1
            condition.notify_all()
        return decode(pairs)

    def waiting_card(params: Any) -> Any:  # inside the lock: only the first request gets here first
        with condition:
            condition.wait_for(lambda: arrived >= count, timeout=10)  # the timeout only guards the suite
        return card(params)

    monkeypatch.setattr(payment_gateway, "_decode_form", counting_decode)
    monkeypatch.setattr(payment_gateway, "_card", waiting_card)
    barrier = threading.Barrier(count)

    def one() -> stripe.PaymentIntent:
        barrier.wait(timeout=10)
        return pay(client_for(gateway), key)

    with ThreadPoolExecutor(max_workers=count) as pool:
        intents = [future.result(timeout=30) for future in [pool.submit(one) for _ in range(count)]]

    assert len({intent.id for intent in intents}) == 1
    assert sum(intent.last_response.headers.get("Idempotent-Replayed") == "true" for intent in intents) == count - 1
    assert len(gateway.payment_intents(key)) == 1


# -- refunds ----------------------------------------------------------------------------------------


def test_a_refund_defaults_to_everything_left(client: stripe.StripeClient, gateway: PaymentGatewayServer) -> None:
    intent = pay(client, new_key(), amount=5000)

    partial = refund(client, new_key(), payment_intent=intent.id, amount=1200, reason="requested_by_customer")
    rest = refund(client, new_key(), charge=intent.latest_charge, metadata={"why": "cancelled"})

    assert (partial.amount, partial.reason, partial.status, partial.payment_intent) == (
        1200,
        "requested_by_customer",
        "succeeded",
        intent.id,
    )
    assert (rest.amount, rest.reason, rest.metadata.to_dict()) == (3800, None, {"why": "cancelled"})
    assert client.v1.refunds.retrieve(rest.id).to_dict() == rest.to_dict()
    [recorded] = [i for i in gateway.payment_intents() if i["id"] == intent.id]
    assert recorded["amount_refunded"] == 5000
    assert {r["id"] for r in gateway.refunds()} >= {partial.id, rest.id}


@pytest.mark.parametrize(
    ("first", "then", "code", "param"),
    [(2000, 1, "charge_already_refunded", None), (500, 1501, "amount_too_large", "amount")],
)
def test_a_refund_above_what_is_left_is_refused(
    client: stripe.StripeClient, first: int, then: int, code: str, param: str | None
) -> None:
    intent = pay(client, new_key(), amount=2000)
    refund(client, new_key(), payment_intent=intent.id, amount=first)
    key = new_key()

    with pytest.raises(stripe.InvalidRequestError) as refused:
        refund(client, key, payment_intent=intent.id, amount=then)
    with pytest.raises(stripe.InvalidRequestError) as replayed:
        refund(client, key, payment_intent=intent.id, amount=then)

    assert (refused.value.http_status, refused.value.code, refused.value.param) == (400, code, param)
    assert replayed.value.headers.get("Idempotent-Replayed") == "true"  # the endpoint ran: its refusal is stored


def test_a_refund_replays_and_refunds_once(client: stripe.StripeClient, gateway: PaymentGatewayServer) -> None:
    intent, key = pay(client, new_key()), new_key()

    first, again = (
        refund(client, key, payment_intent=intent.id, amount=100),
        refund(client, key, payment_intent=intent.id, amount=100),
    )

    assert again.id == first.id
    assert [i["amount_refunded"] for i in gateway.payment_intents() if i["id"] == intent.id] == [100]


@pytest.mark.parametrize(
    ("params", "status", "code", "param"),
    [
        ({}, 400, "parameter_missing", "payment_intent"),
        ({"payment_intent": "pi_missing"}, 404, "resource_missing", "payment_intent"),
        ({"charge": "ch_missing"}, 404, "resource_missing", "charge"),
        ({"reason": "changed_my_mind"}, 400, "parameter_invalid", "reason"),
        ({"amount": -5}, 400, "parameter_invalid_integer", "amount"),
    ],
)
def test_an_invalid_refund_is_named(
    client: stripe.StripeClient, params: dict[str, Any], status: int, code: str, param: str
) -> None:
    intent = pay(client, new_key())
    names_the_payment = not params or "payment_intent" in params or "charge" in params
    body = params if names_the_payment else {"payment_intent": intent.id} | params

    with pytest.raises(stripe.InvalidRequestError) as refused:
        refund(client, new_key(), **body)

    assert (refused.value.http_status, refused.value.code, refused.value.param) == (status, code, param)


def test_a_declined_payment_has_nothing_to_refund(client: stripe.StripeClient, gateway: PaymentGatewayServer) -> None:
    key = new_key()
    with pytest.raises(stripe.CardError):
        pay(client, key, "pm_card_chargeDeclined")
    [declined] = gateway.payment_intents(key)

    with pytest.raises(stripe.InvalidRequestError) as refused:
        refund(client, new_key(), payment_intent=declined["id"])

    assert refused.value.code == "charge_not_refundable"


def test_a_refund_of_a_drill_card_plays_the_drill_for_its_own_key(
    client: stripe.StripeClient, gateway: PaymentGatewayServer
) -> None:
    key = new_key()
    with pytest.raises(stripe.APIError):
        pay(client, key, "pm_card_flaky")
    intent, refund_key = pay(client, key, "pm_card_flaky"), new_key()

    with pytest.raises(stripe.APIError):
        refund(client, refund_key, payment_intent=intent.id)
    done = refund(client, refund_key, payment_intent=intent.id)

    assert done.amount == 1999
    assert [i["amount_refunded"] for i in gateway.payment_intents(key)] == [1999]


# -- what the library never sends: raw HTTP ---------------------------------------------------------


def test_no_api_key_is_stripes_401(gateway: PaymentGatewayServer) -> None:
    status, body = raw(gateway, "POST", "/v1/payment_intents", b"amount=1")

    assert status == 401
    assert body["error"]["type"] == "invalid_request_error"
    assert "API key" in body["error"]["message"]


def test_a_key_that_is_not_a_test_key_is_refused(gateway: PaymentGatewayServer) -> None:
    with pytest.raises(stripe.AuthenticationError) as refused:
        client_for(gateway, key="sk_live_0123456789abcdef").v1.payment_intents.retrieve("pi_x")

    assert refused.value.http_status == 401
    assert "sk_live_****cdef" in str(refused.value.user_message)  # never the whole key back


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (b"amount]=1", "application/x-www-form-urlencoded", "parameter_invalid"),
        (b"amount=1&amount=2", "application/x-www-form-urlencoded", "parameter_invalid"),
        (b"metadata=x&metadata[a]=b", "application/x-www-form-urlencoded", "parameter_invalid"),
        (b'{"amount": 1}', "application/json", "content_type_invalid"),
    ],
)
def test_a_malformed_body_is_a_400_naming_the_problem(
    gateway: PaymentGatewayServer, body: bytes, content_type: str, code: str
) -> None:
    status, reply = raw(gateway, "POST", "/v1/payment_intents", body, **bearer() | {"Content-Type": content_type})

    assert (status, reply["error"]["code"]) == (400, code)


def test_an_oversized_body_is_a_413(gateway: PaymentGatewayServer) -> None:
    status, reply = raw(gateway, "POST", "/v1/refunds", b"a=" + b"x" * MAX_BODY_BYTES, **bearer())

    assert status == 413
    assert str(MAX_BODY_BYTES) in reply["error"]["message"]


def test_an_overlong_idempotency_key_is_a_400(gateway: PaymentGatewayServer) -> None:
    status, reply = raw(gateway, "POST", "/v1/refunds", b"payment_intent=pi_x", **bearer() | {"Idempotency-Key": "k" * 256})

    assert (status, reply["error"]["code"]) == (400, "idempotency_key_invalid")


def test_unknown_paths_and_methods_are_json(gateway: PaymentGatewayServer) -> None:
    assert raw(gateway, "GET", "/v1/charges", **bearer())[0] == 404
    status, reply = raw(gateway, "DELETE", "/v1/payment_intents", **bearer())
    assert status == 405
    assert reply["error"]["type"] == "invalid_request_error"


def test_the_records_list_payment_intents_with_their_keys(client: stripe.StripeClient, gateway: PaymentGatewayServer) -> None:
    key = new_key()
    intent = pay(client, key)

    status, body = raw(gateway, "GET", "/_fake/payment_intents")

    assert status == 200
    assert {"id": intent.id, "idempotency_key": key, "amount_refunded": 0}.items() <= next(
        i for i in body["data"] if i["id"] == intent.id
    ).items()
    assert [i["id"] for i in raw(gateway, "GET", f"/_fake/payment_intents?idempotency_key={key}")[1]["data"]] == [intent.id]
    assert raw(gateway, "GET", "/_fake/payment_intents?idempotency_key=")[1]["data"] == []
    assert raw(gateway, "GET", "/_fake/refunds")[0] == 200


# -- lifecycle ----------------------------------------------------------------------------------------


def test_stop_releases_the_server_and_is_idempotent() -> None:
    with PaymentGatewayServer() as server:
        url = server.url
        assert raw(server, "GET", "/health")[0] == 200
    server.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/health", timeout=10)
    with pytest.raises(RuntimeError):
        server.start()


def test_stop_without_start() -> None:
    PaymentGatewayServer().stop()


def test_stop_lets_a_held_answer_go() -> None:
    """A timeout-drill answer still held (its client has not hung up) does not keep stop() waiting."""
    server = PaymentGatewayServer()
    server.start()
    held: list[Any] = []
    worker = threading.Thread(
        target=lambda: held.append(pay(client_for(server, read_timeout=60), new_key(), "pm_card_timeoutOnce"))
    )
    worker.start()
    _wait_for(lambda: len(server.payment_intents()) == 1)

    server.stop()
    worker.join(timeout=30)

    assert [intent.status for intent in held] == ["succeeded"]


def _wait_for(condition: Callable[[], bool]) -> None:
    done = threading.Event()
    for _ in range(400):  # a guard against hanging the suite, not a timing assertion
        if condition():
            return
        done.wait(0.05)
    pytest.fail("condition never held")


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
