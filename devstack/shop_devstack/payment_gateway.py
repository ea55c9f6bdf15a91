"""A local fake of a Stripe-like card payment gateway, served over HTTP on 127.0.0.1.

The embedded stack runs it as its own process (``python -m shop_devstack.payment_gateway``) so the
services talk to it exactly as they would to a real gateway: over the network, with idempotency
keys, declines and transient failures. Tests can also start it in-process with
``PaymentGatewayServer``.

Card tokens decide the outcome:

* ``tok_visa``               201, a succeeded charge
* ``tok_chargeDeclined``     402 ``card_declined``
* ``tok_insufficientFunds``  402 ``insufficient_funds``
* ``tok_flaky``              503 on the first request for an idempotency key, then like ``tok_visa``

Standard library only, so that starting it costs nothing and it can never pull in a service's code.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, Final, Self
from urllib.parse import parse_qs, urlsplit

from shop_devstack.lifecycle import die_with_parent

__all__ = ["PaymentGatewayServer", "main"]

# Named explicitly: under `python -m` __name__ is "__main__", which would split the log config.
logger = logging.getLogger("shop_devstack.payment_gateway")

JSONObject = dict[str, Any]

# Real gateways refuse oversized bodies; reading an unbounded Content-Length would let one bad
# client pin a thread and memory.
MAX_BODY_BYTES: Final = 1 << 20
# Stripe's limit; a key this long is almost certainly a bug in the caller.
MAX_IDEMPOTENCY_KEY_LENGTH: Final = 255

CHARGES_PATH: Final = "/v1/charges"
HEALTH_PATH: Final = "/health"

_CURRENCY = re.compile(r"[A-Z]{3}")
_DECLINES: Final[dict[str, tuple[str, str]]] = {
    "tok_chargeDeclined": ("card_declined", "Your card was declined."),
    "tok_insufficientFunds": ("insufficient_funds", "Your card has insufficient funds."),
}
_APPROVING_TOKENS: Final = frozenset({"tok_visa", "tok_flaky"})


@dataclasses.dataclass(frozen=True)
class _Response:
    status: int
    # Kept as bytes so an idempotent replay is byte-for-byte what the first caller saw.
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True)
class _StoredResponse:
    fingerprint: str
    response: _Response


def _json_response(status: int, payload: JSONObject, headers: tuple[tuple[str, str], ...] = ()) -> _Response:
    return _Response(status, json.dumps(payload, separators=(",", ":")).encode("utf-8"), headers)


def _error(
    status: int,
    error_type: str,
    code: str,
    message: str,
    param: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> _Response:
    error: JSONObject = {"type": error_type, "code": code, "message": message}
    if param is not None:
        error["param"] = param
    return _json_response(status, {"error": error}, headers)


def _invalid_request(code: str, message: str, param: str | None = None) -> _Response:
    return _error(HTTPStatus.BAD_REQUEST, "invalid_request_error", code, message, param)


def _reject_constant(name: str) -> Any:
    # json accepts NaN/Infinity by default; they are not JSON and would make fingerprints odd.
    raise ValueError(f"{name} is not valid JSON")


def _parse_body(raw: bytes) -> tuple[JSONObject | None, str]:
    """Return the body as an object (None if it is not a JSON object) and its fingerprint.

    The fingerprint is taken over canonical JSON so that key order and whitespace do not turn a
    genuine retry into an "idempotency key reused" error; bodies that are not JSON at all are
    fingerprinted byte for byte.
    """
    try:
        parsed: Any = json.loads(raw, parse_constant=_reject_constant)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both land here
        return None, hashlib.sha256(raw).hexdigest()
    canonical = json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    fingerprint = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return (parsed if isinstance(parsed, dict) else None), fingerprint


@dataclasses.dataclass(frozen=True)
class _ChargeRequest:
    amount: int
    currency: str
    source: str
    description: str | None


def _validate(payload: JSONObject) -> _ChargeRequest | _Response:
    # Unknown fields are ignored rather than refused, so a client that sends extra metadata keeps
    # working against the fake; they still count towards the idempotency fingerprint.
    for name in ("amount", "currency", "source"):
        if payload.get(name) is None:
            return _invalid_request("parameter_missing", f"Missing required param: {name}.", name)

    amount = payload["amount"]
    # bool is an int subclass in Python, but `true` is not an amount.
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        return _invalid_request("parameter_invalid", "Invalid amount: must be a positive integer in minor units.", "amount")
    currency = payload["currency"]
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        return _invalid_request("parameter_invalid", "Invalid currency: must be a three-letter upper-case ISO code.", "currency")
    source = payload["source"]
    if not isinstance(source, str):
        return _invalid_request("parameter_invalid", "Invalid source: must be a string token.", "source")
    description = payload.get("description")
    if description is not None and not isinstance(description, str):
        return _invalid_request("parameter_invalid", "Invalid description: must be a string.", "description")
    return _ChargeRequest(amount, currency, source, description)


class _Gateway:
    """The gateway's state and rules, independent of HTTP."""

    def __init__(self) -> None:
        # One lock around check-process-store: it is what guarantees that concurrent requests
        # with one key create at most one charge. Processing is in-memory, so holding it is cheap.
        self._lock = threading.Lock()
        self._charges: list[JSONObject] = []
        self._responses: dict[str, _StoredResponse] = {}
        self._flaky_keys_failed: set[str] = set()

    def create_charge(self, idempotency_key: str, raw_body: bytes) -> _Response:
        payload, fingerprint = _parse_body(raw_body)
        with self._lock:
            stored = self._responses.get(idempotency_key)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    return _error(
                        HTTPStatus.UNPROCESSABLE_ENTITY,
                        "idempotency_error",
                        "idempotency_key_reused",
                        "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                    )
                replay = stored.response
                return dataclasses.replace(replay, headers=(*replay.headers, ("Idempotent-Replayed", "true")))

            response = self._process(idempotency_key, payload)
            # A 5xx says "nothing happened, try again": storing it would make the retry fail too.
            if response.status < HTTPStatus.INTERNAL_SERVER_ERROR:
                self._responses[idempotency_key] = _StoredResponse(fingerprint, response)
            return response

    def _process(self, idempotency_key: str, payload: JSONObject | None) -> _Response:
        if payload is None:
            return _invalid_request("invalid_json", "The request body must be a JSON object.")
        request = _validate(payload)
        if isinstance(request, _Response):
            return request

        decline = _DECLINES.get(request.source)
        if decline is not None:
            code, message = decline
            return _error(HTTPStatus.PAYMENT_REQUIRED, "card_error", code, message)
        if request.source not in _APPROVING_TOKENS:
            return _invalid_request("invalid_token", f"No such token: {request.source!r}.", "source")
        if request.source == "tok_flaky" and idempotency_key not in self._flaky_keys_failed:
            self._flaky_keys_failed.add(idempotency_key)
            return _error(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "api_error",
                "service_unavailable",
                "The payment gateway is temporarily unavailable; retry with the same idempotency key.",
            )

        charge: JSONObject = {
            "id": f"ch_{uuid.uuid4().hex}",
            "object": "charge",
            "status": "succeeded",
            "amount": request.amount,
            "currency": request.currency,
            "source": request.source,
            "description": request.description,
            "idempotency_key": idempotency_key,
            "created": int(time.time()),
        }
        self._charges.append(charge)
        return _json_response(HTTPStatus.CREATED, charge)

    def list_charges(self, idempotency_key: str | None = None) -> list[JSONObject]:
        with self._lock:
            # Copies, so callers can neither see later mutations nor cause them.
            return [
                dict(charge)
                for charge in self._charges
                if idempotency_key is None or charge["idempotency_key"] == idempotency_key
            ]


class _ClientGone(Exception):
    """The client stopped sending mid-request; there is nobody to answer."""


class _GatewayHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 makes bursts of concurrent clients (the stack, load tests) hit
    # SYN retries that cost a second each.
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], gateway: _Gateway) -> None:
        super().__init__(address, _Handler)
        self.gateway = gateway

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback to stderr, mostly for clients that hung up early.
        # socketserver calls this from inside its `except`, so the exception is still current.
        logger.debug("connection from %s failed", client_address, exc_info=sys.exc_info())


class _Handler(BaseHTTPRequestHandler):
    server: _GatewayHTTPServer  # narrowed from BaseServer: the handler only ever runs under one
    server_version = "FakePaymentGateway/1.0"
    # A client that connects and goes quiet must not hold a thread forever.
    timeout = 30

    # -- routing -------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        try:
            body = self._read_body()
            response = self._route(body)
        except _ClientGone:
            self.close_connection = True
            return
        except Exception:
            # Logged here with the traceback; the client only ever gets a JSON error.
            logger.exception("unhandled error serving %s %s", self.command, self.path)
            response = _error(HTTPStatus.INTERNAL_SERVER_ERROR, "api_error", "internal_error", "An internal error occurred.")
        self._send(response)

    # BaseHTTPRequestHandler calls do_<METHOD>: every method goes through the one router, which answers
    # a method the path does not allow with a JSON 405.
    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def _route(self, body: bytes | _Response) -> _Response:
        url = urlsplit(self.path)
        method = "GET" if self.command == "HEAD" else self.command
        routes: dict[str, dict[str, Callable[[bytes, str], _Response]]] = {
            CHARGES_PATH: {"GET": self._list_charges, "POST": self._create_charge},
            HEALTH_PATH: {"GET": self._health},
        }
        methods = routes.get(url.path)
        if methods is None:
            return _error(
                HTTPStatus.NOT_FOUND,
                "invalid_request_error",
                "resource_missing",
                f"Unrecognized request URL ({self.command}: {url.path}).",
            )
        handler = methods.get(method)
        if handler is None:
            allowed = ", ".join(sorted({*methods, "HEAD"} if "GET" in methods else methods))
            return _error(
                HTTPStatus.METHOD_NOT_ALLOWED,
                "invalid_request_error",
                "method_not_allowed",
                f"{self.command} is not allowed on {url.path}.",
                headers=(("Allow", allowed),),
            )
        # A body we refused to read is only an error where a body matters.
        if isinstance(body, _Response):
            return body if method == "POST" else handler(b"", url.query)
        return handler(body, url.query)

    # -- endpoints -----------------------------------------------------------------------------
    def _health(self, body: bytes, query: str) -> _Response:
        return _json_response(HTTPStatus.OK, {"status": "ok"})

    def _list_charges(self, body: bytes, query: str) -> _Response:
        # keep_blank_values: `?idempotency_key=` must match nothing, not silently list everything.
        keys = parse_qs(query, keep_blank_values=True).get("idempotency_key")
        charges = self.server.gateway.list_charges(keys[0] if keys else None)
        return _json_response(HTTPStatus.OK, {"object": "list", "data": charges})

    def _create_charge(self, body: bytes, query: str) -> _Response:
        key = self.headers.get("Idempotency-Key")
        if not key:
            return _invalid_request("idempotency_key_missing", "An Idempotency-Key header is required for POST /v1/charges.")
        if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            return _invalid_request(
                "idempotency_key_invalid",
                f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters.",
            )
        return self.server.gateway.create_charge(key, body)

    # -- plumbing ------------------------------------------------------------------------------
    def _read_body(self) -> bytes | _Response:
        """Read the request body, or return the error response explaining why not.

        The body is read even where it is not needed: closing a socket with unread data makes
        Linux send a reset, and the client may then lose our response.
        """
        header = self.headers.get("Content-Length")
        if header is None:
            return b""
        try:
            length = int(header)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            return _invalid_request("invalid_content_length", "Content-Length must be a non-negative integer.")
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            return _error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                "invalid_request_error",
                "request_too_large",
                f"The request body must be at most {MAX_BODY_BYTES} bytes.",
            )
        try:
            body = self.rfile.read(length)
        except OSError as exc:  # includes the socket timeout
            raise _ClientGone from exc
        if len(body) < length:
            raise _ClientGone
        return body

    def _send(self, response: _Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers:
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except OSError:
            logger.debug("client went away before the response was sent", exc_info=True)
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The base class answers malformed requests and unknown methods with an HTML page;
        # clients of this fake always expect JSON.
        try:
            status = HTTPStatus(code)
        except ValueError:
            status = HTTPStatus.INTERNAL_SERVER_ERROR
        error_type = "api_error" if status >= HTTPStatus.INTERNAL_SERVER_ERROR else "invalid_request_error"
        self.close_connection = True
        self._send(
            _error(
                status,
                error_type,
                status.phrase.lower().replace(" ", "_"),
                message or status.description or status.phrase,
                headers=(("Connection", "close"),),
            )
        )

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)


class PaymentGatewayServer:
    """The fake gateway on its own HTTP server, served from a daemon thread.

    The socket is bound (and listening) as soon as the object exists, so ``url`` is valid before
    ``start()`` and requests made right after ``start()`` never race the server's start-up.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._gateway = _Gateway()
        self._httpd = _GatewayHTTPServer((host, port), self._gateway)
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._lifecycle_lock = threading.Lock()

    @property
    def url(self) -> str:
        # A wildcard bind address is not something a client can connect to.
        host = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host  # noqa: S104
        return f"http://{host}:{self._httpd.server_port}"

    def start(self) -> None:
        with self._lifecycle_lock:
            if self._stopped:
                raise RuntimeError("a stopped PaymentGatewayServer cannot be restarted; create a new one")
            if self._thread is not None:
                raise RuntimeError("PaymentGatewayServer is already running")
            # A short poll interval keeps stop() (and so every test teardown) quick.
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"payment-gateway:{self._httpd.server_port}",
                daemon=True,
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port. Safe to call more than once, or before start()."""
        with self._lifecycle_lock:
            if self._stopped:
                return
            self._stopped = True
            # shutdown() waits for serve_forever(); without a running loop it would wait forever.
            if self._thread is not None:
                self._httpd.shutdown()
                self._thread.join()
            self._httpd.server_close()

    def charges(self) -> list[JSONObject]:
        """Every succeeded charge in creation order, as copies."""
        return self._gateway.list_charges()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class _StopRequested(Exception):
    """Raised from the SIGTERM handler to unwind the main thread's wait."""


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
        description="Serve a fake Stripe-like card payment gateway until SIGTERM or Ctrl+C.",
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

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        # Raising (rather than setting an Event) is what reliably interrupts the blocking wait
        # below, and cannot deadlock on a lock the interrupted code already holds.
        raise _StopRequested

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        server.start()
        print(f"payment-gateway listening on {server.url}", flush=True)
        threading.Event().wait()
    except (KeyboardInterrupt, _StopRequested):
        pass
    finally:
        # Back to the previous handler first, so a second SIGTERM during shutdown still works.
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    logger.info("payment-gateway stopped")


if __name__ == "__main__":
    main()
