"""The logistics service (3PL) behind a small port, and its HTTP adapter.

The API is modelled on Japanese 3PLs' shipment APIs (OpenLogi's among them): a bearer token; a shipment
is created with the shop's own `identifier` (here the shipment id, so a repeated instruction names the
same shipment and the 3PL answers with the one it has); statuses waiting → picking → packed → shipped
(→ delivered); a cancel request the 3PL refuses once it has packed; 429 with Retry-After when the
caller goes too fast. README.md documents the contract.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import urllib3

# The shop's time slots as the 3PL names them (the hour the slot starts; AM before noon).
TIME_SLOTS = {"am": "AM", "12-14": "12", "14-16": "14", "16-18": "16", "18-20": "18", "19-21": "19"}
DEFAULT_CARRIER = "YAMATO"
DEFAULT_TIMEOUT_SECONDS = 5.0


class LogisticsUnavailable(Exception):
    """The 3PL could not answer now (5xx, a timeout, no connection): try again later, with the same identifier."""


class LogisticsRateLimited(LogisticsUnavailable):
    """The 3PL answered 429: too many requests; `retry_after` seconds is what it asked for."""

    def __init__(self, message: str, retry_after: int | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InstructionRefused(Exception):
    """The 3PL refused the instruction itself (a 4xx other than 429): retrying cannot help."""


class CancelRefused(Exception):
    """The 3PL refused to cancel: the parcel is packed or shipped already; `status` is its status."""

    def __init__(self, message: str, status: str | None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Recipient:
    name: str
    postcode: str
    prefecture: str
    address1: str
    address2: str | None
    phone: str


@dataclass(frozen=True)
class ShippingInstruction:
    identifier: str
    order_no: str
    recipient: Recipient
    items: tuple[tuple[str, int], ...]
    carrier: str = DEFAULT_CARRIER
    delivery_date: str | None = None
    time_slot: str | None = None


@dataclass(frozen=True)
class LogisticsShipment:
    logistics_id: str
    status: str
    carrier: str


class LogisticsService(Protocol):
    def create_shipment(self, instruction: ShippingInstruction) -> LogisticsShipment: ...

    def cancel_shipment(self, logistics_id: str) -> None: ...


def instruction_body(instruction: ShippingInstruction) -> dict[str, Any]:
    r = instruction.recipient
    return {
        "identifier": instruction.identifier,
        "order_no": instruction.order_no,
        "recipient": {
            "name": r.name,
            "postcode": r.postcode,
            "prefecture": r.prefecture,
            "address1": r.address1,
            "address2": r.address2,
            "phone": r.phone,
        },
        "delivery_carrier": instruction.carrier,
        "delivery_date": instruction.delivery_date,
        "delivery_time_slot": TIME_SLOTS.get(instruction.time_slot or ""),
        "items": [{"code": code, "quantity": quantity} for code, quantity in instruction.items],
    }


class HttpLogisticsService:
    """The 3PL over HTTP. Retries belong to SQS redelivery (the identifier makes them safe), so urllib3
    retries nothing itself."""

    def __init__(self, base_url: str, token: str, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self._base = base_url.rstrip("/")
        self._token = token
        self._http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=timeout_seconds, read=timeout_seconds))

    @classmethod
    def from_environment(cls, token: str, environ: Mapping[str, str] = os.environ) -> HttpLogisticsService:
        """LOGISTICS_API_URL and LOGISTICS_TIMEOUT_SECONDS; the token comes from chalicelib.settings.secret."""
        return cls(
            environ.get("LOGISTICS_API_URL", ""), token, float(environ.get("LOGISTICS_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))
        )

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> tuple[int, dict[str, Any], Any]:
        if not self._base:
            raise LogisticsUnavailable("LOGISTICS_API_URL is not set")
        try:
            response = self._http.request(
                method,
                f"{self._base}{path}",
                body=json.dumps(body).encode() if body is not None else None,
                headers={
                    "Authorization": f"Bearer {self._token}",
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                },
            )
        except urllib3.exceptions.HTTPError as error:  # timeouts, refused connections, broken responses
            raise LogisticsUnavailable(f"{method} {path}: {type(error).__name__}: {error}") from None
        try:
            payload = json.loads(response.data) if response.data else {}
        except ValueError:
            payload = {}
        if response.status == 429:
            retry_after = response.headers.get("Retry-After")
            raise LogisticsRateLimited(
                f"{method} {path}: rate-limited (Retry-After {retry_after})",
                int(retry_after) if retry_after and retry_after.isdigit() else None,
            )
        if response.status >= 500:
            raise LogisticsUnavailable(f"{method} {path}: {response.status} {_message(payload)}")
        return response.status, dict(response.headers), payload

    def create_shipment(self, instruction: ShippingInstruction) -> LogisticsShipment:
        status, _, payload = self._call("POST", "/api/shipments", instruction_body(instruction))
        if status not in (200, 201):
            raise InstructionRefused(f"the 3PL refused shipment {instruction.identifier}: {status} {_message(payload)}")
        return LogisticsShipment(
            logistics_id=str(payload["id"]), status=str(payload["status"]), carrier=str(payload["delivery_carrier"])
        )

    def cancel_shipment(self, logistics_id: str) -> None:
        status, _, payload = self._call("POST", f"/api/shipments/{logistics_id}/cancel")
        if status == 409:
            error = payload.get("error", {}) if isinstance(payload, dict) else {}
            raise CancelRefused(f"the 3PL refused to cancel {logistics_id}: {_message(payload)}", error.get("status"))
        if status != 200:
            raise InstructionRefused(f"the 3PL refused to cancel {logistics_id}: {status} {_message(payload)}")


def _message(payload: Any) -> str:
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return str(payload["error"].get("message", ""))
    return ""
