"""The refund side of the payment gateway port, exactly as chalicelib.payments will declare it (the
Stripe adapter brings it): until then the refund use cases are written against this Protocol, and an
in-memory fake implements it in the tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class RefundRefused(Exception):
    """The provider answered and will not refund: more than what is left, already refunded, no such
    payment. `code` is the provider's error code, `message` its explanation."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class RefundOutcome:
    """A refund the provider accepted: its id and the amount (minor units) given back."""

    refund_id: str
    amount: int


class RefundGateway(Protocol):
    def refund(self, *, idempotency_key: str, payment_id: str, amount: int, reason: str) -> RefundOutcome: ...


class UntilTheStripeAdapter:
    """Today's HTTP gateway adapter cannot refund; the Stripe adapter replacing it can. Until it is
    wired, every refund answers as an unavailable gateway would: nothing happens, and the caller asks
    again later (the staff API answers 503, the refund-on-cancel subscriber is redelivered)."""

    def refund(self, *, idempotency_key: str, payment_id: str, amount: int, reason: str) -> RefundOutcome:
        from chalicelib.payments import PaymentGatewayUnavailable  # noqa: PLC0415 - payments imports nothing of ours

        raise PaymentGatewayUnavailable("this payment gateway adapter cannot refund yet")
