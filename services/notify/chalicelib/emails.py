"""What the shop tells customers, free of I/O: one e-mail per order outcome."""

from __future__ import annotations

from dataclasses import dataclass

from shop_contracts.events import Money, PaymentCapturedV1, PaymentFailedV1
from shop_eventing.envelope import EventData

# ISO 4217 minor-unit exponents that differ from the usual 2 (the contracts accept any code).
_EXPONENTS = {
    **dict.fromkeys(
        ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"], 0
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    body: str


def format_money(money: Money) -> str:
    exponent = _EXPONENTS.get(money.currency, 2)
    if exponent == 0:
        return f"{money.amount} {money.currency}"
    major, minor = divmod(money.amount, 10**exponent)
    return f"{major}.{minor:0{exponent}d} {money.currency}"


def email_for(data: EventData) -> Email:
    if isinstance(data, PaymentCapturedV1):
        lines = "\n".join(f"  {line.quantity} x {line.name}" for line in data.lines)
        return Email(
            to=data.customer_email,
            subject=f"Your order {data.order_id} is confirmed",
            body=(
                f"Thank you! We received your payment of {format_money(data.amount)}.\n\n{lines}\n\n"
                "We will write again when it ships."
            ),
        )
    if isinstance(data, PaymentFailedV1):
        return Email(
            to=data.customer_email,
            subject=f"We could not take payment for order {data.order_id}",
            body=f"Your card was not charged ({data.reason}). Nothing will be shipped; please try another card.",
        )
    raise ValueError(f"no e-mail for {type(data).__name__}")
