"""A local fake of a Japanese 3PL's shipments API (modelled on OpenLogi's), served over HTTP on 127.0.0.1.

The embedded stack runs it as its own process (``python -m shop_devstack.logistics_3pl``); tests start
it in-process with ``LogisticsServer``. A werkzeug WSGI app served by ``werkzeug.serving.make_server``.

The API (every call needs ``Authorization: Bearer <token>``):

* ``POST /api/shipments``                create a shipment: ``identifier`` (the shop's, unique), ``order_no``,
  ``recipient`` {name, postcode, prefecture, address1, address2, phone}, ``delivery_carrier``,
  ``delivery_date``, ``delivery_time_slot``, ``items`` [{code, quantity}] → 201. The same identifier again
  with the same content → 200 with the shipment it has; with other content → 409 ``identifier_conflict``.
* ``GET /api/shipments/{id}``            the shipment: ``status`` waiting → picking → packed → shipped →
  delivered (or cancelled), ``tracking_codes`` once shipped.
* ``POST /api/shipments/{id}/cancel``    200 while waiting or picking (or cancelled already); 409
  ``not_cancellable`` once packed or shipped.
* Too many requests for one token (``--rate-limit`` per ``--rate-window`` seconds) → 429 with Retry-After.

Admin endpoints (no token; tests and the README's walk-through use them):

* ``POST /admin/config``   {webhook_url}: where tracking notifications go.
* ``POST /admin/faults``   {fail_next: N, fail_status: 503, timeout_next: N, timeout_seconds: s,
  rate_limit_next: N, retry_after: s}: the next N API calls fail with 5xx / answer only after s seconds
  (the shipment is made all the same: the answer is what gets lost) / are refused with 429.
* ``POST /admin/shipments/{id}/advance`` {status, duplicate?, forge?}: move the shipment on (a tracking
  code when it ships) and send the signed notification (twice with ``duplicate``; with a wrong signature
  with ``forge``); answers what the shop answered.
* ``POST /admin/shipments/{id}/notify`` {status, forge?}: send a notification about ``status`` without
  moving the shipment (an out-of-order or late notification).
* ``GET /admin/shipments``  every shipment, with the notifications sent and the shop's answers.

Notifications are signed as the shop expects (services/fulfillment/README.md): headers
``X-Logistics-Timestamp`` (Unix seconds) and ``X-Logistics-Signature: v1=<hex HMAC-SHA256(secret,
"<timestamp>.<raw body>")>``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from shop_devstack.fake_server import FakeServer, serve_until_stopped
from shop_devstack.lifecycle import die_with_parent

__all__ = ["LogisticsServer", "main", "sign"]

logger = logging.getLogger("shop_devstack.logistics_3pl")

STATUSES: Final = ("waiting", "picking", "packed", "shipped", "delivered")
CANCELLABLE: Final = frozenset({"waiting", "picking"})
CARRIERS: Final = frozenset({"YAMATO", "SAGAWA", "JAPANPOST"})
TIME_SLOTS: Final = frozenset({"AM", "12", "14", "16", "18", "19"})
RECIPIENT_REQUIRED: Final = ("name", "postcode", "prefecture", "address1", "phone")
MAX_BODY_BYTES: Final = 1 << 20
DEFAULT_TOKEN: Final = "local-3pl-token"
DEFAULT_WEBHOOK_SECRET: Final = "local-3pl-webhook-secret"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), status=status, headers=headers, content_type="application/json")


def _error(http_status: int, code: str, message: str, **extra: Any) -> Response:
    return _json(http_status, {"error": {"code": code, "message": message, **extra}})


@dataclass
class Faults:
    fail_next: int = 0
    fail_status: int = 503
    timeout_next: int = 0
    timeout_seconds: float = 2.0
    rate_limit_next: int = 0
    retry_after: int = 1


@dataclass
class _Shipment:
    id: str
    request: dict[str, Any]
    status: str = "waiting"
    tracking_codes: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    notifications: list[dict[str, Any]] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.request,
            "status": self.status,
            "tracking_codes": list(self.tracking_codes),
            "created_at": self.created_at,
        }


class Logistics3pl:
    """The fake's state and its WSGI app; every change under one lock."""

    def __init__(self, token: str, webhook_secret: str, *, rate_limit: int = 60, rate_window: float = 10.0) -> None:
        self.token = token
        self.webhook_secret = webhook_secret
        self.webhook_url: str | None = None
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.faults = Faults()
        self._lock = threading.Lock()
        self._shipments: dict[str, _Shipment] = {}
        self._by_identifier: dict[str, str] = {}
        self._calls: dict[str, deque[float]] = {}
        self._sequence = 0
        self.api_calls = 0
        self.url_map = Map(
            [
                Rule("/health", endpoint="health", methods=["GET"]),
                Rule("/api/shipments", endpoint="create", methods=["POST"]),
                Rule("/api/shipments/<shipment_id>", endpoint="get", methods=["GET"]),
                Rule("/api/shipments/<shipment_id>/cancel", endpoint="cancel", methods=["POST"]),
                Rule("/admin/config", endpoint="admin_config", methods=["POST"]),
                Rule("/admin/faults", endpoint="admin_faults", methods=["POST"]),
                Rule("/admin/shipments", endpoint="admin_list", methods=["GET"]),
                Rule("/admin/shipments/<shipment_id>/advance", endpoint="admin_advance", methods=["POST"]),
                Rule("/admin/shipments/<shipment_id>/notify", endpoint="admin_notify", methods=["POST"]),
            ]
        )

    # -- WSGI --------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        return self.dispatch(request)(environ, start_response)

    def dispatch(self, request: Request) -> Response:  # noqa: PLR0911 - one answer per way a request can fail
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, arguments = adapter.match()
        except NotFound:
            return _error(404, "not_found", f"no route {request.method} {request.path}")
        except MethodNotAllowed as error:
            return _error(
                405, "method_not_allowed", f"{request.method} is not allowed on {request.path}", allowed=error.valid_methods
            )
        except HTTPException as error:
            return _error(error.code or 400, "bad_request", str(error.description))
        if request.content_length and request.content_length > MAX_BODY_BYTES:
            return _error(413, "request_too_large", f"at most {MAX_BODY_BYTES} bytes")
        handler: Callable[..., Response] = getattr(self, f"_{endpoint}")
        try:
            if endpoint.startswith(("create", "get", "cancel")):
                refused = self._gate(request)
                if refused is not None:
                    return refused
            return handler(request, **arguments)
        except _Invalid as invalid:
            return _error(422, "invalid", str(invalid))
        except Exception:
            logger.exception("unhandled error serving %s %s", request.method, request.path)
            return _error(500, "internal_error", "an internal error occurred")

    def _gate(self, request: Request) -> Response | None:
        """Authentication, rate limit and injected faults, as a real API applies them before the work."""
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            return _error(401, "unauthorized", "a valid bearer token is required")
        with self._lock:
            self.api_calls += 1
            if self.faults.rate_limit_next > 0:
                self.faults.rate_limit_next -= 1
                return self._too_many(self.faults.retry_after)
            now = time.monotonic()
            calls = self._calls.setdefault(self.token, deque())
            while calls and now - calls[0] > self.rate_window:
                calls.popleft()
            if len(calls) >= self.rate_limit:
                return self._too_many(max(1, int(self.rate_window - (now - calls[0])) + 1))
            calls.append(now)
            if self.faults.fail_next > 0:
                self.faults.fail_next -= 1
                return _error(self.faults.fail_status, "unavailable", "the service is temporarily unavailable")
        return None

    @staticmethod
    def _too_many(retry_after: int) -> Response:
        response = _error(429, "too_many_requests", "rate limit exceeded; retry later")
        response.headers["Retry-After"] = str(retry_after)
        return response

    def _late(self) -> None:
        """An injected timeout: the work is done, the answer comes too late for the caller to wait."""
        with self._lock:
            if self.faults.timeout_next <= 0:
                return
            self.faults.timeout_next -= 1
            delay = self.faults.timeout_seconds
        time.sleep(delay)

    # -- the API -----------------------------------------------------------------------------------
    def _health(self, request: Request) -> Response:
        return _json(200, {"status": "ok"})

    def _create(self, request: Request) -> Response:
        body = _body(request)
        shipment_request = _validated(body)
        with self._lock:
            existing_id = self._by_identifier.get(shipment_request["identifier"])
            if existing_id is not None:
                existing = self._shipments[existing_id]
                if existing.request != shipment_request:
                    return _error(
                        409, "identifier_conflict", "a shipment with this identifier exists with other content", id=existing.id
                    )
                answer = _json(200, existing.view())
            else:
                self._sequence += 1
                shipment = _Shipment(id=f"OL{self._sequence:08d}", request=shipment_request)
                self._shipments[shipment.id] = shipment
                self._by_identifier[shipment_request["identifier"]] = shipment.id
                answer = _json(201, shipment.view())
        self._late()
        return answer

    def _get(self, request: Request, shipment_id: str) -> Response:
        with self._lock:
            shipment = self._shipments.get(shipment_id)
            if shipment is None:
                return _error(404, "not_found", f"no shipment {shipment_id}")
            return _json(200, shipment.view())

    def _cancel(self, request: Request, shipment_id: str) -> Response:
        with self._lock:
            shipment = self._shipments.get(shipment_id)
            if shipment is None:
                return _error(404, "not_found", f"no shipment {shipment_id}")
            if shipment.status == "cancelled":
                return _json(200, shipment.view())
            if shipment.status not in CANCELLABLE:
                return _error(
                    409,
                    "not_cancellable",
                    f"the shipment is {shipment.status}; it can no longer be cancelled",
                    status=shipment.status,
                )
            shipment.status = "cancelled"
            answer = _json(200, shipment.view())
        self._late()
        return answer

    # -- admin ---------------------------------------------------------------------------------------
    def _admin_config(self, request: Request) -> Response:
        body = _body(request)
        url = body.get("webhook_url")
        if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
            raise _Invalid("webhook_url must be an http(s) URL")
        with self._lock:
            self.webhook_url = url
        return _json(200, {"webhook_url": url})

    def _admin_faults(self, request: Request) -> Response:
        body = _body(request)
        with self._lock:
            for name, value in body.items():
                if not hasattr(self.faults, name) or isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise _Invalid(f"unknown fault or bad value: {name}")
                setattr(self.faults, name, type(getattr(self.faults, name))(value))
            return _json(200, vars(self.faults))

    def shipments(self) -> list[dict[str, Any]]:
        """Every shipment as the API shows it, with the notifications sent about it and the shop's answers."""
        with self._lock:
            return [{**s.view(), "notifications": list(s.notifications)} for s in self._shipments.values()]

    def _admin_list(self, request: Request) -> Response:
        return _json(200, {"shipments": self.shipments()})

    def _admin_advance(self, request: Request, shipment_id: str) -> Response:
        body = _body(request)
        status = body.get("status")
        if status not in STATUSES:
            raise _Invalid(f"status must be one of {', '.join(STATUSES)}")
        with self._lock:
            shipment = self._shipments.get(shipment_id)
            if shipment is None:
                return _error(404, "not_found", f"no shipment {shipment_id}")
            if shipment.status == "cancelled":
                return _error(409, "cancelled", "the shipment was cancelled")
            if STATUSES.index(status) <= STATUSES.index(shipment.status):
                return _error(409, "not_forward", f"the shipment is {shipment.status} already")
            shipment.status = status
            if status in ("shipped", "delivered") and not shipment.tracking_codes:
                # Yamato's tracking numbers are 12 digits.
                shipment.tracking_codes.append(f"{4000_0000_0000 + self._sequence * 7919 + len(self._shipments):012d}")
        sent = self._notify(shipment, status, forge=bool(body.get("forge")))
        answers = [sent]
        if body.get("duplicate"):
            # The same notification again, byte for byte, as a 3PL retrying a delivery sends it.
            answers.append(self._send(shipment, json.dumps(sent["body"]).encode(), forge=False))
        return _json(200, {"shipment": shipment.view(), "notifications": answers})

    def _admin_notify(self, request: Request, shipment_id: str) -> Response:
        body = _body(request)
        status = body.get("status")
        if status not in STATUSES:
            raise _Invalid(f"status must be one of {', '.join(STATUSES)}")
        with self._lock:
            shipment = self._shipments.get(shipment_id)
            if shipment is None:
                return _error(404, "not_found", f"no shipment {shipment_id}")
        return _json(200, {"notifications": [self._notify(shipment, status, forge=bool(body.get("forge")))]})

    # -- tracking notifications ------------------------------------------------------------------------
    def _notify(self, shipment: _Shipment, status: str, *, forge: bool) -> dict[str, Any]:
        notification = {
            "event_id": str(uuid.uuid4()),
            "shipment_id": shipment.id,
            "identifier": shipment.request["identifier"],
            "order_no": shipment.request["order_no"],
            "status": status,
            "delivery_carrier": shipment.request["delivery_carrier"],
            "tracking_code": shipment.tracking_codes[0]
            if shipment.tracking_codes and status in ("shipped", "delivered")
            else None,
            "occurred_at": datetime.now(UTC).isoformat(),
        }
        return self._send(shipment, json.dumps(notification).encode(), forge=forge)

    def _send(self, shipment: _Shipment, body: bytes, *, forge: bool) -> dict[str, Any]:
        with self._lock:
            url = self.webhook_url
        record: dict[str, Any] = {"body": body, "forged": forge}
        if url is None:
            record.update(status=None, answer="no webhook_url configured")
        else:
            timestamp = str(int(time.time()))
            secret = "not-the-shared-secret" if forge else self.webhook_secret
            headers = {
                "Content-Type": "application/json",
                "X-Logistics-Timestamp": timestamp,
                "X-Logistics-Signature": sign(secret, timestamp, body),
            }
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    record.update(status=response.status, answer=_decoded(response.read()))
            except urllib.error.HTTPError as error:
                record.update(status=error.code, answer=_decoded(error.read()))
            except OSError as error:
                record.update(status=None, answer=f"{type(error).__name__}: {error}")
        shown = {**record, "body": json.loads(body)}
        with self._lock:
            shipment.notifications.append(shown)
        return shown


class _Invalid(Exception):
    """A request the fake refuses with 422; the message says why."""


def _body(request: Request) -> dict[str, Any]:
    raw = request.get_data(cache=False)
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise _Invalid("the body is not JSON") from None
    if not isinstance(body, dict):
        raise _Invalid("the body must be a JSON object")
    return body


def _decoded(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def _validated(body: dict[str, Any]) -> dict[str, Any]:
    """The shipment request as stored: every field the API knows, checked the way a 3PL checks it."""
    identifier, order_no = body.get("identifier"), body.get("order_no")
    if not isinstance(identifier, str) or not identifier or len(identifier) > 100:
        raise _Invalid("identifier is required (at most 100 characters)")
    if not isinstance(order_no, str) or not order_no:
        raise _Invalid("order_no is required")
    recipient = body.get("recipient")
    if not isinstance(recipient, dict):
        raise _Invalid("recipient is required")
    missing = [name for name in RECIPIENT_REQUIRED if not isinstance(recipient.get(name), str) or not recipient.get(name)]
    if missing:
        raise _Invalid(f"recipient lacks {', '.join(missing)}")
    carrier = body.get("delivery_carrier", "YAMATO")
    if carrier not in CARRIERS:
        raise _Invalid(f"delivery_carrier must be one of {', '.join(sorted(CARRIERS))}")
    slot = body.get("delivery_time_slot")
    if slot is not None and slot not in TIME_SLOTS:
        raise _Invalid(f"delivery_time_slot must be one of {', '.join(sorted(TIME_SLOTS))}")
    items = body.get("items")
    if not isinstance(items, list) or not items:
        raise _Invalid("items must list at least one item")
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("code"), str) or not isinstance(item.get("quantity"), int):
            raise _Invalid("each item needs a code and an integer quantity")
    return {
        "identifier": identifier,
        "order_no": order_no,
        "recipient": {name: recipient.get(name) for name in (*RECIPIENT_REQUIRED, "address2")},
        "delivery_carrier": carrier,
        "delivery_date": body.get("delivery_date"),
        "delivery_time_slot": slot,
        "items": [{"code": item["code"], "quantity": item["quantity"]} for item in items],
    }


class LogisticsServer(FakeServer):
    """The fake 3PL on werkzeug's threaded server, served from a daemon thread; `url` is valid at once."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str = DEFAULT_TOKEN,
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
        rate_limit: int = 60,
        rate_window: float = 10.0,
    ) -> None:
        self.logistics = Logistics3pl(token, webhook_secret, rate_limit=rate_limit, rate_window=rate_window)
        super().__init__("logistics-3pl", self.logistics, host, port)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m shop_devstack.logistics_3pl", description="Serve the fake 3PL until SIGTERM."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate-limit", type=int, default=60, help="API calls per token per window (default: %(default)s)")
    parser.add_argument("--rate-window", type=float, default=10.0, help="seconds (default: %(default)s)")
    args = parser.parse_args(argv)
    die_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = LogisticsServer(
        args.host,
        args.port,
        token=os.environ.get("LOGISTICS_API_TOKEN", DEFAULT_TOKEN),
        webhook_secret=os.environ.get("LOGISTICS_WEBHOOK_SECRET", DEFAULT_WEBHOOK_SECRET),
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
    )

    serve_until_stopped(server)


if __name__ == "__main__":
    main()
