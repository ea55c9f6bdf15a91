"""A local fake of Stripe: the part of its HTTP API that the orders service's `stripe` library calls.

The embedded stack runs it as its own process (``python -m shop_devstack.payment_gateway``) and points
the library's API base at it, so the orders service talks to it as it would to Stripe: form-encoded
requests with a secret key (any ``sk_test_...``), idempotency keys, Stripe's error shapes. Tests
can also start it in-process with ``PaymentGatewayServer``. Endpoints:

* ``POST /v1/payment_intents`` (``confirm=true`` only) and ``GET /v1/payment_intents/{id}``
* ``POST /v1/refunds`` (``payment_intent`` or ``charge``, optional ``amount``, ``reason``, ``metadata``)
  and ``GET /v1/refunds/{id}``
* ``GET /_fake/payment_intents[?idempotency_key=...]`` and ``GET /_fake/refunds``: what was recorded,
  for tests and drills (each payment intent with its ``idempotency_key`` and ``amount_refunded``; no
  API key needed)
* ``GET /health``

The card decides the outcome: a ``payment_method`` (Stripe's test ids), or a card token in
``payment_method_data[card][token]``, as Stripe takes legacy tokens:

* ``pm_card_visa`` / ``tok_visa``: succeeded
* ``pm_card_chargeDeclined`` / ``tok_chargeDeclined``: 402 ``card_declined`` (decline code
  ``generic_decline``)
* ``pm_card_chargeDeclinedInsufficientFunds`` / ``tok_chargeDeclinedInsufficientFunds`` (and the
  shop's older ``tok_insufficientFunds``): 402 ``card_declined``, decline code ``insufficient_funds``
* ``pm_card_flaky`` / ``tok_flaky``: 503 to the first POST of each idempotency key, then succeeded
* ``pm_card_timeoutOnce`` / ``tok_timeoutOnce``: the first POST of each key is done and stored, but
  answered only once the client has hung up (its read timed out); the retry gets the stored answer

A refund of a payment made with a drill card replays that drill for the refund's own key. Amounts
above Stripe's 99,999,999 minor units are refused (``amount_too_large``); Stripe's per-currency
minimum charge is not enforced.

Idempotency as Stripe does it: the first answer to a key is stored (unless the request failed
validation or the fake answered 5xx) and a request with the same key and the same parameters gets it
again with ``Idempotent-Replayed: true``; the same key with other parameters or on another endpoint
is a 400 ``idempotency_error``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import re
import secrets
import select
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from shop_devstack.fake_server import FakeServer, serve_until_stopped
from shop_devstack.lifecycle import die_with_parent

__all__ = ["PaymentGatewayServer", "WSGIApp", "main"]

# Named explicitly: under `python -m` __name__ is "__main__", which would split the log config.
logger = logging.getLogger("shop_devstack.payment_gateway")

JSONObject = dict[str, Any]

# Stripe's requests are small forms; reading an unbounded body would let one bad client pin memory.
MAX_BODY_BYTES: Final = 64 * 1024
MAX_IDEMPOTENCY_KEY_LENGTH: Final = 255  # Stripe's limit
MAX_AMOUNT: Final = 99_999_999  # Stripe's: eight digits in minor units
API_KEY_PREFIX: Final = "sk_test_"
MAX_METADATA_KEY, MAX_METADATA_VALUE = 40, 500  # Stripe's limits
# The timeout drill holds its answer until the client hangs up; a client that waits longer than this
# gets it anyway (so a forgotten connection does not hold a thread forever).
HANG_UP_WAIT_LIMIT_SECONDS: Final = 60.0
REFUND_REASONS: Final = frozenset({"duplicate", "fraudulent", "requested_by_customer"})


@dataclasses.dataclass(frozen=True)
class _Card:
    payment_method: str
    decline: tuple[str, str, str] | None = None  # code, decline_code, message
    drill: str | None = None  # "flaky" | "timeout"


_CARDS: Final = {
    card.payment_method: card
    for card in (
        _Card("pm_card_visa"),
        _Card("pm_card_chargeDeclined", decline=("card_declined", "generic_decline", "Your card was declined.")),
        _Card(
            "pm_card_chargeDeclinedInsufficientFunds",
            decline=("card_declined", "insufficient_funds", "Your card has insufficient funds."),
        ),
        _Card("pm_card_flaky", drill="flaky"),
        _Card("pm_card_timeoutOnce", drill="timeout"),
    )
}
_TOKENS: Final = {
    "tok_visa": "pm_card_visa",
    "tok_chargeDeclined": "pm_card_chargeDeclined",
    "tok_chargeDeclinedInsufficientFunds": "pm_card_chargeDeclinedInsufficientFunds",
    "tok_insufficientFunds": "pm_card_chargeDeclinedInsufficientFunds",  # the shop's older name for it
    "tok_flaky": "pm_card_flaky",
    "tok_timeoutOnce": "pm_card_timeoutOnce",
}
_PAYMENT_INTENT_PARAMS: Final = frozenset(
    {
        "amount",
        "currency",
        "confirm",
        "payment_method",
        "payment_method_data",
        "payment_method_types",
        "automatic_payment_methods",
        "error_on_requires_action",
        "description",
        "metadata",
        "expand",
    }
)
_REFUND_PARAMS: Final = frozenset({"payment_intent", "charge", "amount", "reason", "metadata", "expand"})
_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")
_INTEGER = re.compile(r"-?[0-9]{1,20}")
_CURRENCY = re.compile(r"[A-Za-z]{3}")


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


@dataclasses.dataclass(frozen=True)
class _Answer:
    status: int
    body: JSONObject
    headers: tuple[tuple[str, str], ...] = ()
    # Stripe keeps an idempotent result only once the endpoint ran: not for a request that failed
    # validation; nor do we for a 5xx drill, whose point is that the retry gets through.
    store: bool = True
    hold_until_hang_up: bool = False


def _error(
    status: int, error_type: str, message: str, *, code: str | None = None, param: str | None = None, store: bool = False
) -> _Answer:
    error: JSONObject = {"type": error_type, "message": message}
    if code is not None:
        error["code"] = code
    if param is not None:
        error["param"] = param
    return _Answer(status, {"error": error}, store=store)


class _Reject(Exception):
    """Stops a request with Stripe's answer for it (raised from validation deep in a handler)."""

    def __init__(self, answer: _Answer) -> None:
        super().__init__(answer.body)
        self.answer = answer


def _invalid(message: str, *, code: str, param: str | None = None) -> _Reject:
    """A request Stripe refuses before running it (a bad parameter): not stored under its key."""
    return _Reject(_error(400, "invalid_request_error", message, code=code, param=param))


def _refused(message: str, *, code: str, param: str | None = None) -> _Reject:
    """A request the endpoint ran and refused (e.g. a refund above what is left): stored like a success."""
    return _Reject(_error(400, "invalid_request_error", message, code=code, param=param, store=True))


def _missing(kind: str, identifier: object, param: str) -> _Reject:
    return _Reject(_error(404, "invalid_request_error", f"No such {kind}: '{identifier}'", code="resource_missing", param=param))


def _unavailable() -> _Answer:
    # Stripe-Should-Retry: what Stripe says when a retry with the same key is safe and useful.
    return dataclasses.replace(
        _error(503, "api_error", "The fake is unavailable this once: retry with the same idempotency key."),
        headers=(("Stripe-Should-Retry", "true"),),
    )


def _decode_form(pairs: Iterable[tuple[str, str]]) -> JSONObject:
    """Stripe's form encoding back into nested objects: ``a[b][c]=1``, and lists as ``a[0]=x``."""
    root: JSONObject = {}
    for key, value in pairs:
        match = _KEY.fullmatch(key)
        if match is None:
            raise _invalid(f"Invalid parameter name: {key!r}.", code="parameter_invalid")
        *parents, leaf = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for part in parents:
            child = node.setdefault(_index(node, part), {})
            if not isinstance(child, dict):
                raise _invalid(f"Parameter {key!r} mixes a value and an object.", code="parameter_invalid")
            node = child
        if _index(node, leaf) in node:
            raise _invalid(f"Parameter {key!r} is given more than once.", code="parameter_invalid")
        node[_index(node, leaf)] = value
    lists: JSONObject = _lists(root)
    return lists


def _index(node: JSONObject, part: str) -> str:
    # `a[]=x` appends: the next free position.
    return part or str(sum(1 for name in node if name.isdigit()))


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {name: _lists(value) for name, value in node.items()}
    if items and all(name.isdigit() for name in items):
        return [items[name] for name in sorted(items, key=int)]
    return items


def _integer(params: JSONObject, name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not _INTEGER.fullmatch(value) or int(value) < 1:
        raise _invalid(f"Invalid positive integer: {value!r}.", code="parameter_invalid_integer", param=name)
    if int(value) > MAX_AMOUNT:
        raise _invalid(f"Amount must be no more than {MAX_AMOUNT}.", code="amount_too_large", param=name)
    return int(value)


def _required(params: JSONObject, name: str) -> Any:
    if params.get(name) is None:
        raise _invalid(f"Missing required param: {name}.", code="parameter_missing", param=name)
    return params[name]


def _optional_string(params: JSONObject, name: str) -> str | None:
    value = params.get(name)
    if value is not None and not isinstance(value, str):
        raise _invalid(f"Invalid {name}: must be a string.", code="parameter_invalid", param=name)
    return value


def _metadata(params: JSONObject) -> dict[str, str]:
    value = params.get("metadata", {})
    if value == "":  # Stripe's way of unsetting: an empty value
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _invalid("Invalid metadata: must be an object of strings.", code="parameter_invalid", param="metadata")
    for name, text in value.items():
        if len(name) > MAX_METADATA_KEY or len(text) > MAX_METADATA_VALUE:
            message = f"Metadata keys can be up to {MAX_METADATA_KEY} characters, values up to {MAX_METADATA_VALUE}."
            raise _invalid(message, code="parameter_invalid", param=f"metadata[{name}]")
    return value


def _only(params: JSONObject, known: frozenset[str]) -> None:
    for name in sorted(set(params) - known):
        raise _invalid(f"Received unknown parameter: {name}", code="parameter_unknown", param=name)


@dataclasses.dataclass
class _Intent:
    body: JSONObject
    idempotency_key: str | None
    card: _Card
    amount_refunded: int = 0

    @property
    def refundable(self) -> int:
        return int(self.body["amount_received"]) - self.amount_refunded


@dataclasses.dataclass(frozen=True)
class _Stored:
    fingerprint: str
    answer: _Answer


class _Provider:
    """The fake's state and rules, independent of HTTP. One lock around check-run-store: it is what
    makes concurrent requests with one key run at most once (everything in it is in memory)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._intents: dict[str, _Intent] = {}
        self._charges: dict[str, str] = {}  # charge id -> payment intent id
        self._refunds: dict[str, JSONObject] = {}
        self._stored: dict[str, _Stored] = {}
        self._drilled: set[tuple[str, str]] = set()  # (drill, idempotency key) already played

    # -- idempotency ------------------------------------------------------------------------------
    def post(self, key: str | None, endpoint: str, params: JSONObject) -> _Answer:
        run = {"create_payment_intent": self._create_payment_intent, "create_refund": self._create_refund}[endpoint]
        fingerprint = hashlib.sha256(json.dumps([endpoint, params], sort_keys=True).encode()).hexdigest()
        with self._lock:
            stored = self._stored.get(key) if key else None
            if stored is not None and stored.fingerprint != fingerprint:
                return _error(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters they were first "
                    f"used with. Try using a key other than '{key}' if you meant to execute a different request.",
                )
            if stored is not None:
                replayed = (*stored.answer.headers, ("Idempotent-Replayed", "true"))
                return dataclasses.replace(stored.answer, headers=replayed, hold_until_hang_up=False)
            try:
                answer = run(key, params)
            except _Reject as reject:
                answer = reject.answer
            if key and answer.store and answer.status < 500:
                self._stored[key] = _Stored(fingerprint, answer)
            return answer

    def _drill(self, card: _Card, key: str | None) -> str | None:
        """The drill to play for this request: once per idempotency key (every time without one)."""
        if card.drill is None or (key is not None and (card.drill, key) in self._drilled):
            return None
        if key is not None:
            self._drilled.add((card.drill, key))
        return card.drill

    # -- payment intents --------------------------------------------------------------------------
    def _create_payment_intent(self, key: str | None, params: JSONObject) -> _Answer:
        _only(params, _PAYMENT_INTENT_PARAMS)
        _required(params, "amount")
        amount = _integer(params, "amount")
        currency = _required(params, "currency")
        if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
            raise _invalid(f"Invalid currency: {currency!r}.", code="parameter_invalid", param="currency")
        if params.get("confirm") != "true":
            raise _invalid("This fake confirms on creation only: send confirm=true.", code="parameter_invalid", param="confirm")
        card = _card(params)
        description = _optional_string(params, "description")
        metadata = _metadata(params)

        drill = self._drill(card, key)
        if drill == "flaky":
            return _unavailable()
        intent_id, charge_id = _new_id("pi"), _new_id("ch")
        body: JSONObject = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0 if card.decline else amount,
            "capture_method": "automatic",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
            "confirmation_method": "automatic",
            "created": int(time.time()),
            "currency": currency.lower(),
            "description": description,
            "last_payment_error": None,
            "latest_charge": charge_id,
            "livemode": False,
            "metadata": metadata,
            "payment_method": card.payment_method,
            "payment_method_types": ["card"],
            "status": "requires_payment_method" if card.decline else "succeeded",
        }
        self._intents[intent_id] = _Intent(body, key, card)
        self._charges[charge_id] = intent_id
        if card.decline is not None:
            code, decline_code, message = card.decline
            error: JSONObject = {
                "type": "card_error",
                "code": code,
                "decline_code": decline_code,
                "message": message,
                "charge": charge_id,
                "payment_method": {"id": card.payment_method, "object": "payment_method", "type": "card"},
            }
            body["last_payment_error"] = dict(error)
            return _Answer(402, {"error": error | {"payment_intent": dict(body)}})
        return _Answer(200, dict(body), hold_until_hang_up=drill == "timeout")

    def retrieve(self, kind: str, identifier: str) -> _Answer:
        with self._lock:
            if kind == "payment_intent":
                intent = self._intents.get(identifier)
                found = None if intent is None else intent.body
            else:
                found = self._refunds.get(identifier)
            if found is None:
                raise _missing(kind, identifier, "id")
            return _Answer(200, dict(found))

    def payment_intents(self) -> list[JSONObject]:
        with self._lock:
            # Copies, so callers can neither see later changes nor cause them.
            return [
                dict(i.body) | {"idempotency_key": i.idempotency_key, "amount_refunded": i.amount_refunded}
                for i in self._intents.values()
            ]

    # -- refunds ------------------------------------------------------------------------------------
    def _create_refund(self, key: str | None, params: JSONObject) -> _Answer:
        _only(params, _REFUND_PARAMS)
        intent = self._refunded_intent(params)
        amount = _integer(params, "amount")
        reason = _optional_string(params, "reason")
        if reason is not None and reason not in REFUND_REASONS:
            raise _invalid(
                f"Invalid reason: one of {', '.join(sorted(REFUND_REASONS))}.", code="parameter_invalid", param="reason"
            )
        metadata = _metadata(params)

        charge = intent.body["latest_charge"]
        if intent.body["status"] != "succeeded":
            raise _refused(f"PaymentIntent {intent.body['id']} has no successful charge to refund.", code="charge_not_refundable")
        if intent.refundable == 0:
            raise _refused(f"Charge {charge} has already been refunded.", code="charge_already_refunded")
        amount = intent.refundable if amount is None else amount
        if amount > intent.refundable:
            raise _refused(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({intent.refundable}).",
                code="amount_too_large",
                param="amount",
            )
        drill = self._drill(intent.card, key)
        if drill == "flaky":
            return _unavailable()
        refund: JSONObject = {
            "id": _new_id("re"),
            "object": "refund",
            "amount": amount,
            "charge": charge,
            "created": int(time.time()),
            "currency": intent.body["currency"],
            "metadata": metadata,
            "payment_intent": intent.body["id"],
            "reason": reason,
            "status": "succeeded",
        }
        intent.amount_refunded += amount
        self._refunds[refund["id"]] = refund
        return _Answer(200, dict(refund), hold_until_hang_up=drill == "timeout")

    def _refunded_intent(self, params: JSONObject) -> _Intent:
        intent_id, charge_id = params.get("payment_intent"), params.get("charge")
        if intent_id is not None and charge_id is not None:
            raise _invalid("Give payment_intent or charge, not both.", code="parameter_invalid", param="charge")
        if charge_id is not None:
            intent_id = self._charges.get(charge_id) if isinstance(charge_id, str) else None
            if intent_id is None:
                raise _missing("charge", charge_id, "charge")
        _required({"payment_intent": intent_id}, "payment_intent")
        intent = self._intents.get(intent_id) if isinstance(intent_id, str) else None
        if intent is None:
            raise _missing("payment_intent", intent_id, "payment_intent")
        return intent

    def refunds(self) -> list[JSONObject]:
        with self._lock:
            return [dict(refund) for refund in self._refunds.values()]


def _card(params: JSONObject) -> _Card:
    """The card a payment intent charges: a payment method id, or a card token in payment_method_data."""
    payment_method, data = params.get("payment_method"), params.get("payment_method_data")
    if payment_method is not None and data is not None:
        raise _invalid("Give payment_method or payment_method_data, not both.", code="parameter_invalid", param="payment_method")
    if payment_method is not None:
        card = _CARDS.get(payment_method) if isinstance(payment_method, str) else None
        if card is None:
            raise _invalid(f"No such PaymentMethod: '{payment_method}'", code="resource_missing", param="payment_method")
        return card
    if data is None:
        raise _invalid("Missing required param: payment_method.", code="parameter_missing", param="payment_method")
    card_data = data.get("card") if isinstance(data, dict) else None
    token = card_data.get("token") if isinstance(card_data, dict) else None
    if not isinstance(data, dict) or data.get("type") != "card" or not isinstance(token, str):
        raise _invalid(
            "payment_method_data must be type=card with card[token].", code="parameter_invalid", param="payment_method_data"
        )
    if token not in _TOKENS:
        raise _invalid(f"No such token: '{token}'", code="resource_missing", param="payment_method_data[card][token]")
    return _CARDS[_TOKENS[token]]


# -- HTTP ---------------------------------------------------------------------------------------------
def _json(answer: _Answer, request_id: str) -> Response:
    response = Response(json.dumps(answer.body, indent=2), status=answer.status, mimetype="application/json")
    response.headers["Request-Id"] = request_id
    for name, value in answer.headers:
        response.headers[name] = value
    return response


class WSGIApp:
    """The fake as a WSGI application (werkzeug's request, response and routing)."""

    def __init__(self, provider: _Provider | None = None, *, hang_up_wait_limit: float = HANG_UP_WAIT_LIMIT_SECONDS) -> None:
        self.provider = provider or _Provider()
        self.stopping = threading.Event()
        self._hang_up_wait_limit = hang_up_wait_limit
        self._routes = Map(
            [
                Rule("/health", endpoint="health", methods=["GET"]),
                Rule("/v1/payment_intents", endpoint="create_payment_intent", methods=["POST"]),
                Rule("/v1/payment_intents/<id>", endpoint="payment_intent", methods=["GET"]),
                Rule("/v1/refunds", endpoint="create_refund", methods=["POST"]),
                Rule("/v1/refunds/<id>", endpoint="refund", methods=["GET"]),
                Rule("/_fake/payment_intents", endpoint="recorded_payment_intents", methods=["GET"]),
                Rule("/_fake/refunds", endpoint="recorded_refunds", methods=["GET"]),
            ]
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_BODY_BYTES
        request.max_form_memory_size = MAX_BODY_BYTES
        request_id = _new_id("req")
        try:
            answer = self._dispatch(request)
        except Exception:
            # Logged here with the traceback; the client only ever gets Stripe's error shape.
            logger.exception("unhandled error serving %s %s", request.method, request.path)
            answer = _error(500, "api_error", "An internal error occurred in the fake.")
        if answer.hold_until_hang_up:
            self._hold_until_hang_up(environ)
        return _json(answer, request_id)(environ, start_response)

    def _dispatch(self, request: Request) -> _Answer:
        try:
            endpoint, args = self._match(request)
            if endpoint == "health":
                return _Answer(200, {"status": "ok"})
            if endpoint.startswith("recorded_"):
                records = self.provider.payment_intents() if endpoint == "recorded_payment_intents" else self.provider.refunds()
                # `?idempotency_key=` (blank included: it matches nothing rather than everything).
                key = request.args.get("idempotency_key")
                matching = [r for r in records if key is None or r.get("idempotency_key") == key]
                return _Answer(200, {"object": "list", "data": matching})
            _authenticate(request)
            if endpoint in ("payment_intent", "refund"):
                return self.provider.retrieve(endpoint, args["id"])
            return self._post(request, endpoint)
        except _Reject as reject:
            return reject.answer

    def _match(self, request: Request) -> tuple[str, Mapping[str, str]]:
        try:
            endpoint, args = self._routes.bind_to_environ(request.environ).match()
        except MethodNotAllowed as error:
            answer = _error(405, "invalid_request_error", f"{request.method} is not allowed on {request.path}.")
            raise _Reject(
                dataclasses.replace(answer, headers=(("Allow", ", ".join(sorted(error.valid_methods or ()))),))
            ) from None
        except NotFound:
            message = f"Unrecognized request URL ({request.method}: {request.path})."
            raise _Reject(_error(404, "invalid_request_error", message)) from None
        return str(endpoint), {name: str(value) for name, value in args.items()}

    def _post(self, request: Request, endpoint: str) -> _Answer:
        key = request.headers.get("Idempotency-Key") or None
        if key is not None and len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            raise _invalid(
                f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters.", code="idempotency_key_invalid"
            )
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            raise _Reject(_error(413, "invalid_request_error", f"The request body must be at most {MAX_BODY_BYTES} bytes."))
        try:
            has_body = bool(request.get_data(cache=True))
            params = _decode_form(request.form.items(multi=True))
        except HTTPException as error:  # werkzeug's own limits (a chunked body past the size, say)
            raise _Reject(_error(error.code or 400, "invalid_request_error", error.description or "Bad request.")) from error
        if has_body and request.mimetype != "application/x-www-form-urlencoded":
            raise _invalid("Send the parameters form-encoded (application/x-www-form-urlencoded).", code="content_type_invalid")
        answer = self.provider.post(key, endpoint, params)
        if key is not None:
            answer = dataclasses.replace(answer, headers=(*answer.headers, ("Idempotency-Key", key)))
        return answer

    def _hold_until_hang_up(self, environ: Mapping[str, Any]) -> None:
        """The timeout drill: the work is done and stored; the answer waits for the client to give up."""
        connection: socket.socket | None = environ.get("werkzeug.socket")
        deadline = time.monotonic() + self._hang_up_wait_limit
        while not self.stopping.is_set() and time.monotonic() < deadline:
            if connection is None:
                self.stopping.wait(deadline - time.monotonic())
                return
            # Readable while we have not answered: the client closed its side (its read timed out).
            readable, _, _ = select.select([connection], [], [], 0.05)
            if readable:
                return


def _authenticate(request: Request) -> None:
    header = request.headers.get("Authorization", "")
    if not header:
        message = "You did not provide an API key. Provide it as a bearer token: Authorization: Bearer YOUR_SECRET_KEY."
        raise _Reject(_error(401, "invalid_request_error", message))
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.startswith(API_KEY_PREFIX):
        shown = f"{key[:8]}****{key[-4:]}" if len(key) > 12 else "****"
        raise _Reject(_error(401, "invalid_request_error", f"Invalid API Key provided: {shown}"))


class _Handler(WSGIRequestHandler):
    # A client that connects and goes quiet must not hold a thread forever.
    timeout = 30

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug("%s %s -> %s", self.command, self.path, code)


class PaymentGatewayServer(FakeServer):
    """The fake Stripe on werkzeug's threaded server (shop_devstack.fake_server)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, hang_up_wait_limit: float = HANG_UP_WAIT_LIMIT_SECONDS) -> None:
        self.app = WSGIApp(hang_up_wait_limit=hang_up_wait_limit)
        super().__init__("payment-gateway", self.app, host, port, request_handler=_Handler)

    def _before_stop(self) -> None:
        self.app.stopping.set()  # a held answer goes out now

    def payment_intents(self, idempotency_key: str | None = None) -> list[JSONObject]:
        """Every payment intent in creation order (declined ones too), with its idempotency_key and
        amount_refunded, as copies."""
        intents = self.app.provider.payment_intents()
        return [i for i in intents if idempotency_key is None or i["idempotency_key"] == idempotency_key]

    def refunds(self) -> list[JSONObject]:
        return self.app.provider.refunds()


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535: {port}")
    return port


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m shop_devstack.payment_gateway",
        description="Serve a fake of Stripe's payment intents and refunds until SIGTERM or Ctrl+C.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=_port, default=0, help="port to bind; 0 picks a free one (default: 0)")
    args = parser.parse_args(argv)
    die_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    try:
        server = PaymentGatewayServer(args.host, args.port)
    except OSError as exc:
        parser.exit(1, f"payment-gateway: cannot listen on {args.host}:{args.port}: {exc}\n")

    serve_until_stopped(server)
    logger.info("payment-gateway stopped")


if __name__ == "__main__":
    main()
