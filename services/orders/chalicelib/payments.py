"""The payment gateway port and its Stripe adapter, on Stripe's official library (`stripe`).

On AWS the library talks to Stripe; locally its API base is the embedded stack's fake
(`shop_devstack.payment_gateway`), which speaks the same HTTP API. Every charge and refund carries an
idempotency key its caller derives (the order, the event), so asking again after a crash or a timeout
gets the original answer instead of charging or refunding twice.

Retries: none inside a call by default (`max_network_retries=0`): a payment step that got no answer
raises `PaymentGatewayUnavailable`, and SQS delivers the event again, which asks again with the same key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from chalicelib.domain import ChargeOutcome

# LAZY_IMPORT: `stripe` is imported where it is used, on first use: the import costs 60 to 300 ms of a
# cold start (measured locally), which the orders functions that never pay (the API, the outbox relay)
# should not spend.
if TYPE_CHECKING:
    import stripe
    from stripe.params import PaymentIntentCreateParams, RefundCreateParams

__all__ = [
    "ChargeOutcome",
    "PaymentGateway",
    "PaymentGatewayUnavailable",
    "PaymentRequestRejected",
    "RefundOutcome",
    "RefundRefused",
    "StripePaymentGateway",
]

# The refund reasons Stripe accepts as `reason`; any other reason travels in the refund's metadata only.
STRIPE_REFUND_REASONS: Final = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
# Stripe's refusals of an amount outside what one card payment may be (per currency).
_UNPAYABLE_AMOUNTS: Final = frozenset({"amount_too_large", "amount_too_small"})
# Stripe's decline code when it has nothing more specific to say than its error code.
_GENERIC_DECLINE: Final = "generic_decline"


class PaymentGatewayUnavailable(Exception):
    """The gateway did not give an answer (a timeout, no connection, 5xx, rate limited): ask again
    later with the same idempotency key."""


class PaymentRequestRejected(Exception):
    """The provider refused the request itself, not the card: an idempotency key reused with other
    parameters, a parameter it does not accept, a wrong API key. A bug or a setting to fix, which asking
    again does not mend (the event ends in the DLQ, to be redriven once fixed)."""


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


class PaymentGateway(Protocol):
    def charge(self, *, idempotency_key: str, amount: int, currency: str, token: str, description: str) -> ChargeOutcome: ...

    def refund(self, *, idempotency_key: str, payment_id: str, amount: int, reason: str) -> RefundOutcome: ...


class StripePaymentGateway:
    """`PaymentGateway` through `stripe.StripeClient`: a charge is a PaymentIntent created and confirmed
    in one call, a refund a Refund of that PaymentIntent.

    `api_key` may be a function, called once on first use: the key then comes from a secret store only
    when the service first pays (not on every cold start of its API functions). `api_base` None is
    Stripe's own endpoint.
    """

    def __init__(
        self,
        api_key: str | Callable[[], str],
        *,
        api_base: str | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        max_network_retries: int = 0,
    ) -> None:
        self._api_key = api_key
        self._api_base = api_base.rstrip("/") if api_base else None
        self._timeout = (connect_timeout, read_timeout)
        self._max_network_retries = max_network_retries
        self._client: stripe.StripeClient | None = None
        self._client_lock = threading.Lock()

    @property
    def client(self) -> stripe.StripeClient:
        with self._client_lock:
            if self._client is None:
                import stripe  # noqa: PLC0415 (see LAZY_IMPORT)

                key = self._api_key() if callable(self._api_key) else self._api_key
                self._client = stripe.StripeClient(
                    key,
                    base_addresses={"api": self._api_base} if self._api_base else None,
                    # The library would also retry with our key; by default SQS redelivery does it instead.
                    max_network_retries=self._max_network_retries,
                    # requests, stripe's default client and its own dependency; (connect, read) seconds.
                    http_client=stripe.RequestsClient(timeout=self._timeout),
                )
            return self._client

    def charge(self, *, idempotency_key: str, amount: int, currency: str, token: str, description: str) -> ChargeOutcome:
        import stripe  # noqa: PLC0415

        params: PaymentIntentCreateParams = {
            "amount": amount,
            "currency": currency.lower(),
            "confirm": True,
            # The customer has left by the time stock is reserved: nobody could follow a redirect or do
            # 3-D Secure, so such a card fails now (a card_error) rather than waiting for an action.
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "error_on_requires_action": True,
            "description": description,
        }
        if token.startswith("tok_"):
            # A card token (the storefront's `tok_visa`): Stripe takes it as payment method data.
            params["payment_method_data"] = {"type": "card", "card": {"token": token}}  # type: ignore[typeddict-unknown-key]
        else:
            params["payment_method"] = token
        try:
            intent = self.client.v1.payment_intents.create(params=params, options={"idempotency_key": idempotency_key})
        except stripe.CardError as error:
            return ChargeOutcome(approved=False, decline_code=_decline_code(error))
        except stripe.InvalidRequestError as error:
            if (error.param or "").startswith("payment_method"):
                # A token or payment method Stripe does not know: the customer's card, not our request.
                return ChargeOutcome(approved=False, decline_code="invalid_payment_method")
            if error.code in _UNPAYABLE_AMOUNTS:
                # The order costs more (or less) than a card payment may: this order cannot be paid so.
                return ChargeOutcome(approved=False, decline_code=error.code)
            raise _rejected(error) from error
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as error:
            raise _unavailable(error) from error
        except stripe.StripeError as error:
            raise _rejected(error) from error
        if intent.status == "succeeded":
            return ChargeOutcome(approved=True, charge_id=intent.id)
        if intent.status == "processing":
            raise PaymentGatewayUnavailable(f"payment {intent.id} is still processing")
        # requires_action (3-D Secure) and the like: the customer left after checkout, nobody can act on it.
        failure = intent.last_payment_error
        return ChargeOutcome(approved=False, decline_code=(failure.code if failure else None) or intent.status)

    def refund(self, *, idempotency_key: str, payment_id: str, amount: int, reason: str) -> RefundOutcome:
        if amount <= 0:
            raise ValueError(f"a refund gives back a positive amount, not {amount}")
        import stripe  # noqa: PLC0415

        params: RefundCreateParams = {"amount": amount, "metadata": {"reason": reason}}
        if reason in STRIPE_REFUND_REASONS:
            params["reason"] = reason
        if payment_id.startswith("ch_"):  # a payment made through the Charges API, before PaymentIntents
            params["charge"] = payment_id
        else:
            params["payment_intent"] = payment_id
        try:
            refund = self.client.v1.refunds.create(params=params, options={"idempotency_key": idempotency_key})
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as error:
            raise _unavailable(error) from error
        except stripe.InvalidRequestError as error:
            raise RefundRefused(error.code or "invalid_request_error", error.user_message or str(error)) from error
        except stripe.StripeError as error:
            raise _rejected(error) from error
        return RefundOutcome(refund_id=refund.id, amount=refund.amount)


def _decline_code(error: stripe.CardError) -> str:
    """The most specific reason Stripe gives: its decline code (`insufficient_funds`), else its error
    code (`card_declined`) when the decline code is only the generic one."""
    detail = error.error.decline_code if error.error is not None else None
    if detail and detail != _GENERIC_DECLINE:
        return detail
    return error.code or detail or "card_declined"


def _unavailable(error: stripe.StripeError) -> PaymentGatewayUnavailable:
    if error.http_status is None:  # a timeout, a refused connection
        return PaymentGatewayUnavailable(f"no answer from the payment gateway: {error.user_message}")
    return PaymentGatewayUnavailable(f"payment gateway answered {error.http_status}: {error.user_message}")


def _rejected(error: stripe.StripeError) -> PaymentRequestRejected:
    kind = error.error.type if error.error is not None else type(error).__name__
    return PaymentRequestRejected(f"the payment provider refused the request ({error.http_status} {kind}): {error.user_message}")
