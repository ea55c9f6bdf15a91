"""What the shop tells customers, without any I/O: one e-mail per order outcome."""

from __future__ import annotations

import pytest

from chalicelib.emails import Email, email_for, format_money
from shop_contracts.events import Money, OrderLine, PaymentCapturedV1, PaymentFailedV1, StockReservedV1


def captured(amount: int, currency: str) -> PaymentCapturedV1:
    return PaymentCapturedV1(
        order_id="ord-42",
        payment_id="ch_1",
        amount=Money(amount=amount, currency=currency),
        customer_email="ada@example.com",
        lines=[
            OrderLine(
                sku="BOX", name="Blu-ray box", kind="physical", quantity=2, unit_price=Money(amount=1000, currency=currency)
            ),
            OrderLine(
                sku="FILM", name="Film rental", kind="digital", quantity=1, unit_price=Money(amount=500, currency=currency)
            ),
        ],
        shipping_address="1 Main St",
    )


def failed(amount: int, currency: str, reason: str = "card_declined") -> PaymentFailedV1:
    return PaymentFailedV1(
        order_id="ord-43", amount=Money(amount=amount, currency=currency), customer_email="bob@example.com", reason=reason
    )


# -- PaymentCaptured -------------------------------------------------------------------------------


def test_payment_captured_confirms_the_order_to_the_customer():
    email = email_for(captured(2500, "USD"))

    assert email.to == "ada@example.com"
    assert "ord-42" in email.subject
    assert email.subject == "Your order ord-42 is confirmed"
    assert "25.00 USD" in email.body
    assert "  2 x Blu-ray box" in email.body
    assert "  1 x Film rental" in email.body


def test_payment_captured_in_yen_has_no_minor_unit():
    email = email_for(captured(1500, "JPY"))

    assert "1500 JPY" in email.body
    assert "15.00" not in email.body


# -- PaymentFailed ---------------------------------------------------------------------------------


def test_payment_failed_tells_the_customer_with_the_reason():
    email = email_for(failed(2500, "USD", reason="insufficient_funds"))

    assert email.to == "bob@example.com"
    assert "ord-43" in email.subject
    assert email.subject == "We could not take payment for order ord-43"
    assert "insufficient_funds" in email.body
    assert "not charged" in email.body


def test_payment_failed_email_is_a_plain_value():
    assert email_for(failed(1, "USD")) == email_for(failed(1, "USD"))
    assert isinstance(email_for(failed(1, "USD")), Email)


# -- money -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (2500, "USD", "25.00 USD"),
        (1500, "JPY", "1500 JPY"),
        (0, "USD", "0.00 USD"),
        (5, "EUR", "0.05 EUR"),
        (99, "GBP", "0.99 GBP"),
        (100, "USD", "1.00 USD"),
        (123456789, "USD", "1234567.89 USD"),
        (1, "JPY", "1 JPY"),
        (50000, "KRW", "50000 KRW"),
    ],
)
def test_format_money(amount, currency, text):
    assert format_money(Money(amount=amount, currency=currency)) == text


# -- anything else ---------------------------------------------------------------------------------


def test_an_event_without_an_email_raises():
    with pytest.raises(ValueError, match="StockReservedV1"):
        email_for(StockReservedV1(order_id="ord-1", lines=[]))


@pytest.mark.parametrize(("amount", "currency", "text"), [(1000, "KWD", "1.000 KWD"), (5000, "XOF", "5000 XOF")])
def test_format_money_knows_every_currency_exponent(amount, currency, text):
    assert format_money(Money(amount=amount, currency=currency)) == text
