"""The Stripe adapter (`StripePaymentGateway`, on the `stripe` library) against the fake Stripe
(`shop_devstack.payment_gateway`) over HTTP: charges, declines, the failure drills, refunds."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import chalicelib
from chalicelib import usecases
from chalicelib.api_models import LineRequest, PlaceOrderRequest
from chalicelib.payments import (
    ChargeOutcome,
    PaymentGatewayUnavailable,
    PaymentRequestRejected,
    RefundOutcome,
    RefundRefused,
    StripePaymentGateway,
)
from shop_contracts.events import StockReservedV1
from shop_devstack.payment_gateway import PaymentGatewayServer
from shop_eventing.envelope import new_event

API_KEY = "sk_test_adapter"


@pytest.fixture(scope="module")
def server() -> Iterator[PaymentGatewayServer]:
    with PaymentGatewayServer(port=0) as fake:
        yield fake


@pytest.fixture
def gateway(server: PaymentGatewayServer) -> StripePaymentGateway:
    return StripePaymentGateway(API_KEY, api_base=server.url + "/")


def new_key() -> str:
    return f"order-{uuid.uuid4()}"


def charge(gateway: StripePaymentGateway, key: str, token: str, amount: int = 2500) -> ChargeOutcome:
    return gateway.charge(idempotency_key=key, amount=amount, currency="USD", token=token, description="order test")


def paid(gateway: StripePaymentGateway, amount: int = 2500) -> str:
    outcome = charge(gateway, new_key(), "tok_visa", amount)
    assert outcome.approved and outcome.charge_id
    return outcome.charge_id


def refund(
    gateway: StripePaymentGateway, payment_id: str, amount: int, key: str | None = None, reason: str = "order cancelled"
) -> RefundOutcome:
    return gateway.refund(idempotency_key=key or f"refund-{uuid.uuid4()}", payment_id=payment_id, amount=amount, reason=reason)


def intent(server: PaymentGatewayServer, payment_id: str) -> dict[str, Any]:
    [found] = [i for i in server.payment_intents() if i["id"] == payment_id]
    return found


def nobody_listening() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # closed again: a connection there is refused


# -- charges --------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["tok_visa", "pm_card_visa"])
def test_a_good_card_is_approved_with_the_payment_intent_as_payment_id(gateway, server, token):
    key = new_key()

    outcome = charge(gateway, key, token)

    [recorded] = server.payment_intents(key)
    assert outcome == ChargeOutcome(approved=True, charge_id=recorded["id"])
    assert recorded["id"].startswith("pi_")
    assert (recorded["status"], recorded["amount_received"], recorded["currency"], recorded["description"]) == (
        "succeeded",
        2500,
        "usd",
        "order test",
    )


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("tok_chargeDeclined", "card_declined"),
        ("pm_card_chargeDeclined", "card_declined"),
        ("tok_insufficientFunds", "insufficient_funds"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
    ],
)
def test_a_declined_card_is_a_decline_with_its_most_specific_code(gateway, server, token, code):
    key = new_key()

    outcome = charge(gateway, key, token)

    assert outcome == ChargeOutcome(approved=False, decline_code=code)
    [recorded] = server.payment_intents(key)
    assert (recorded["status"], recorded["amount_received"]) == ("requires_payment_method", 0)


@pytest.mark.parametrize("token", ["tok_nonsense", "pm_card_nonsense"])
def test_a_card_stripe_does_not_know_is_a_decline_not_an_error(gateway, server, token):
    key = new_key()

    assert charge(gateway, key, token) == ChargeOutcome(approved=False, decline_code="invalid_payment_method")
    assert server.payment_intents(key) == []


def test_an_amount_above_what_stripe_takes_in_one_payment_is_a_decline_not_an_error(gateway, server):
    key = new_key()

    assert charge(gateway, key, "tok_visa", amount=10**12) == ChargeOutcome(approved=False, decline_code="amount_too_large")
    assert server.payment_intents(key) == []


def test_the_same_key_twice_is_the_same_payment(gateway, server):
    key = new_key()

    first, second = charge(gateway, key, "tok_visa"), charge(gateway, key, "tok_visa")

    assert first == second
    assert len(server.payment_intents(key)) == 1


def test_the_same_decline_twice_is_the_same_decline(gateway, server):
    key = new_key()

    outcomes = [charge(gateway, key, "tok_chargeDeclined") for _ in range(2)]

    assert outcomes == [ChargeOutcome(approved=False, decline_code="card_declined")] * 2
    assert len(server.payment_intents(key)) == 1


def test_the_same_key_with_another_amount_is_a_rejected_request_not_a_decline(gateway, server):
    key = new_key()
    charge(gateway, key, "tok_visa", amount=2500)

    with pytest.raises(PaymentRequestRejected, match="idempotency_error"):
        charge(gateway, key, "tok_visa", amount=9999)

    assert [i["amount"] for i in server.payment_intents(key)] == [2500]


def test_a_gateway_failing_once_is_unavailable_then_charges_once_with_the_same_key(gateway, server):
    key = new_key()

    with pytest.raises(PaymentGatewayUnavailable, match="answered 503"):
        charge(gateway, key, "tok_flaky")
    outcome = charge(gateway, key, "tok_flaky")

    [recorded] = server.payment_intents(key)
    assert outcome == ChargeOutcome(approved=True, charge_id=recorded["id"])


def test_a_timed_out_charge_is_unavailable_and_asking_again_charges_once(server):
    """The fake charges, then answers only after the client gave up: the adapter cannot know the
    card was charged. Asking again with the same key gets that charge, not a second one."""
    impatient = StripePaymentGateway(API_KEY, api_base=server.url, read_timeout=0.5)
    key = new_key()

    with pytest.raises(PaymentGatewayUnavailable):
        charge(impatient, key, "tok_timeoutOnce")
    outcome = charge(impatient, key, "tok_timeoutOnce")

    [recorded] = server.payment_intents(key)
    assert outcome == ChargeOutcome(approved=True, charge_id=recorded["id"])
    assert recorded["amount_received"] == 2500


def test_the_librarys_own_retry_reuses_our_key_and_charges_once(server):
    retrying = StripePaymentGateway(API_KEY, api_base=server.url, read_timeout=0.5, max_network_retries=1)
    key = new_key()

    outcome = charge(retrying, key, "pm_card_timeoutOnce")

    [recorded] = server.payment_intents(key)
    assert outcome == ChargeOutcome(approved=True, charge_id=recorded["id"])


def test_a_gateway_nobody_answers_at_is_unavailable():
    gateway = StripePaymentGateway(API_KEY, api_base=nobody_listening())

    with pytest.raises(PaymentGatewayUnavailable, match="no answer"):
        charge(gateway, new_key(), "tok_visa")
    with pytest.raises(PaymentGatewayUnavailable, match="no answer"):
        refund(gateway, "pi_anything", 100)


def test_a_wrong_api_key_is_a_rejected_request(server):
    gateway = StripePaymentGateway("sk_live_not_for_the_fake", api_base=server.url)

    with pytest.raises(PaymentRequestRejected, match="401"):
        charge(gateway, new_key(), "tok_visa")


def test_the_api_key_is_asked_for_once_and_only_when_first_needed(server):
    asked: list[str] = []

    def secret() -> str:
        asked.append("asked")
        return API_KEY

    gateway = StripePaymentGateway(secret, api_base=server.url)
    assert asked == []

    charge(gateway, new_key(), "tok_visa")
    charge(gateway, new_key(), "tok_visa")

    assert asked == ["asked"]


# -- refunds --------------------------------------------------------------------------------------


def test_a_full_refund(gateway, server):
    payment_id = paid(gateway, 2500)

    outcome = refund(gateway, payment_id, 2500)

    assert outcome.amount == 2500 and outcome.refund_id.startswith("re_")
    assert intent(server, payment_id)["amount_refunded"] == 2500
    [recorded] = [r for r in server.refunds() if r["id"] == outcome.refund_id]
    assert (recorded["payment_intent"], recorded["amount"], recorded["status"]) == (payment_id, 2500, "succeeded")


def test_two_partial_refunds_then_nothing_is_left(gateway, server):
    payment_id = paid(gateway, 2500)

    first, second = refund(gateway, payment_id, 1000), refund(gateway, payment_id, 1500)

    assert (first.amount, second.amount) == (1000, 1500)
    assert first.refund_id != second.refund_id
    assert intent(server, payment_id)["amount_refunded"] == 2500
    with pytest.raises(RefundRefused) as refused:
        refund(gateway, payment_id, 1)
    assert refused.value.code == "charge_already_refunded"


def test_a_refund_above_what_is_left_is_refused_and_refunds_nothing(gateway, server):
    payment_id = paid(gateway, 2500)
    refund(gateway, payment_id, 1000)

    with pytest.raises(RefundRefused) as refused:
        refund(gateway, payment_id, 2000)

    assert refused.value.code == "amount_too_large"
    assert "1500" in refused.value.message
    assert intent(server, payment_id)["amount_refunded"] == 1000


def test_the_same_refund_key_twice_is_one_refund(gateway, server):
    payment_id = paid(gateway, 2500)
    key = f"refund-{uuid.uuid4()}"

    first, again = refund(gateway, payment_id, 700, key), refund(gateway, payment_id, 700, key)

    assert first == again
    assert intent(server, payment_id)["amount_refunded"] == 700


def test_the_reason_goes_to_stripe_when_it_is_one_of_stripes_and_to_metadata_always(gateway, server):
    payment_id = paid(gateway, 2500)

    ours = refund(gateway, payment_id, 100, reason="order cancelled before shipping")
    stripes = refund(gateway, payment_id, 100, reason="requested_by_customer")

    recorded = {r["id"]: r for r in server.refunds()}
    assert (recorded[ours.refund_id]["reason"], recorded[ours.refund_id]["metadata"]) == (
        None,
        {"reason": "order cancelled before shipping"},
    )
    assert (recorded[stripes.refund_id]["reason"], recorded[stripes.refund_id]["metadata"]) == (
        "requested_by_customer",
        {"reason": "requested_by_customer"},
    )


@pytest.mark.parametrize(
    ("payment", "code"), [("pi_unknown", "resource_missing"), ("declined", "charge_not_refundable")], ids=["unknown", "declined"]
)
def test_a_refund_of_no_successful_payment_is_refused(gateway, server, payment, code):
    if payment == "declined":
        key = new_key()
        charge(gateway, key, "tok_chargeDeclined")
        [declined] = server.payment_intents(key)
        payment = declined["id"]

    with pytest.raises(RefundRefused) as refused:
        refund(gateway, payment, 100)

    assert refused.value.code == code


def test_a_refund_failing_once_is_unavailable_then_refunds_once_with_the_same_key(gateway, server):
    charge_key, key = new_key(), f"refund-{uuid.uuid4()}"
    with pytest.raises(PaymentGatewayUnavailable):
        charge(gateway, charge_key, "tok_flaky")
    payment_id = charge(gateway, charge_key, "tok_flaky").charge_id
    assert payment_id is not None

    with pytest.raises(PaymentGatewayUnavailable):
        refund(gateway, payment_id, 2500, key)
    outcome = refund(gateway, payment_id, 2500, key)

    assert outcome.amount == 2500
    assert intent(server, payment_id)["amount_refunded"] == 2500


def test_a_refund_of_nothing_is_a_programming_error(gateway):
    with pytest.raises(ValueError, match="positive"):
        refund(gateway, "pi_whatever", 0)


# -- through the payment step: the timeout drill end to end -----------------------------------------


def test_a_payment_step_that_timed_out_charges_once_when_the_event_comes_again(orders_app: ModuleType, aws, publish_product):
    product = publish_product(amount=1250).data
    request = PlaceOrderRequest(
        customer_email="buyer@example.com",
        payment_token="tok_timeoutOnce",
        lines=[LineRequest(sku=product.sku, quantity=2)],
        shipping_address="1 Main St",
    )
    order, _ = usecases.place(request, uuid.uuid4().hex, "customer-sub", orders_app.repository, orders_app.unit_of_work)
    reserved = new_event(
        StockReservedV1(order_id=order.order_id, lines=[]), producer="shop.catalog", correlation_id=order.order_id
    )
    impatient = StripePaymentGateway(API_KEY, api_base=aws.gateway.url, read_timeout=0.5)

    def charge_step() -> None:
        usecases.charge_payment(reserved, "orders.charge-payment", orders_app.repository, orders_app.unit_of_work, impatient)

    with pytest.raises(PaymentGatewayUnavailable):
        charge_step()
    assert orders_app.repository.order(order.order_id).payment_id is None
    charge_step()  # SQS's redelivery

    [recorded] = aws.gateway.payment_intents(f"order-{order.order_id}")
    assert (recorded["status"], recorded["amount_received"]) == ("succeeded", 2500)
    placed = orders_app.repository.order(order.order_id)
    assert (placed.status, placed.payment_id) == ("PAID", recorded["id"])


# -- the key: SSM on AWS, a test key locally --------------------------------------------------------


def test_the_secret_key_comes_from_the_ssm_parameter_the_stage_names(orders_app: ModuleType, monkeypatch):
    name = f"/shop/test/orders/stripe-secret-key-{uuid.uuid4().hex[:8]}"
    orders_app.runtime.session.client("ssm").put_parameter(Name=name, Value="sk_test_from_ssm", Type="SecureString")

    monkeypatch.setenv("STRIPE_SECRET_KEY_PARAMETER", name)
    assert orders_app.stripe_secret_key() == "sk_test_from_ssm"
    monkeypatch.delenv("STRIPE_SECRET_KEY_PARAMETER")
    assert orders_app.stripe_secret_key() == orders_app.LOCAL_STRIPE_KEY


def test_stripe_is_imported_only_when_the_service_first_pays():
    """Its import is a noticeable part of a cold start that the API functions never need."""
    code = "import sys, chalicelib.payments; print('stripe' in sys.modules)"
    service = Path(chalicelib.__file__).resolve().parents[1]
    imported = subprocess.run([sys.executable, "-c", code], cwd=service, capture_output=True, text=True, check=True, timeout=60)

    assert imported.stdout.strip() == "False"
