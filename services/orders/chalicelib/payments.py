"""The payment gateway port and its HTTP adapter (a Stripe-like API; locally, our fake gateway).

Every charge carries an idempotency key derived from the order, so asking again after a crash or a
timeout returns the original outcome instead of charging twice or reporting a false failure.
"""

from __future__ import annotations

import json
from typing import Protocol

import urllib3

from chalicelib.domain import ChargeOutcome

__all__ = ["ChargeOutcome", "HttpPaymentGateway", "PaymentGateway", "PaymentGatewayUnavailable"]


class PaymentGatewayUnavailable(Exception):
    """The gateway did not give an answer (5xx, timeout): try again later with the same key."""


class PaymentGateway(Protocol):
    def charge(self, *, idempotency_key: str, amount: int, currency: str, token: str, description: str) -> ChargeOutcome: ...


class HttpPaymentGateway:
    def __init__(self, base_url: str, timeout_seconds: float = 10.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=2.0, read=timeout_seconds),
            retries=False,  # retries belong to SQS redelivery, with the same idempotency key
        )

    def charge(self, *, idempotency_key: str, amount: int, currency: str, token: str, description: str) -> ChargeOutcome:
        try:
            response = self._http.request(
                "POST",
                f"{self._base_url}/v1/charges",
                body=json.dumps({"amount": amount, "currency": currency, "source": token, "description": description}),
                headers={"Content-Type": "application/json", "Idempotency-Key": idempotency_key},
            )
        except urllib3.exceptions.HTTPError as error:
            raise PaymentGatewayUnavailable(f"no answer from the payment gateway: {error}") from error
        if response.status >= 500:
            raise PaymentGatewayUnavailable(f"payment gateway answered {response.status}")
        try:
            body = json.loads(response.data)
        except ValueError:
            raise PaymentGatewayUnavailable(f"payment gateway answered {response.status} without JSON") from None
        if response.status in (200, 201):
            return ChargeOutcome(approved=True, charge_id=body["id"])
        error_code = (body.get("error") or {}).get("code", f"http_{response.status}")
        if response.status in (400, 402) and error_code != "idempotency_key_reused":
            # A card the gateway refuses (declined, bad token) is the customer's outcome, not our fault.
            return ChargeOutcome(approved=False, decline_code=error_code)
        raise RuntimeError(f"payment gateway refused our request ({response.status}): {error_code}")
