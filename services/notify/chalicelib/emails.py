"""What the shop tells customers, free of I/O: one e-mail per customer-visible event, in their language.

Each e-mail is three templates per locale under `templates/<locale>/`: `<name>.subject.txt`,
`<name>.txt` (the plain-text part) and `<name>.html` (the HTML part). Jinja2 escapes every value put
into an `.html` template (`select_autoescape`), so a product name or a reason holding markup arrives
as text; an undefined name fails the render (`StrictUndefined`) instead of leaving a hole in a mail.

An event without a locale gets the shop's default, Japanese: the shop sells in Japan first.
Money is minor units plus currency, written the way each locale writes it (`format_money`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from shop_contracts.events import (
    Locale,
    Money,
    OrderCancelledV1,
    PaymentCapturedV1,
    PaymentFailedV1,
    PaymentRefundedV1,
    ShipmentDeliveredV1,
    ShipmentDispatchedV1,
)
from shop_eventing.envelope import EventData

DEFAULT_LOCALE: Final[Locale] = "ja"
LOCALES: Final[tuple[Locale, ...]] = ("ja", "en")
TEMPLATES_DIR: Final = Path(__file__).resolve().parent / "templates"
PARTS: Final = ("subject.txt", "txt", "html")

# Event type → template name: every customer-visible event and nothing else.
TEMPLATE_FOR: Final[dict[str, str]] = {
    "PaymentCaptured": "confirmed",
    "PaymentFailed": "payment_failed",
    "ShipmentDispatched": "shipped",
    "ShipmentDelivered": "delivered",
    "OrderCancelled": "cancelled",
    "PaymentRefunded": "refunded",
}
_EVENT_TYPE_OF: Final[dict[type[EventData], str]] = {
    PaymentCapturedV1: "PaymentCaptured",
    PaymentFailedV1: "PaymentFailed",
    ShipmentDispatchedV1: "ShipmentDispatched",
    ShipmentDeliveredV1: "ShipmentDelivered",
    OrderCancelledV1: "OrderCancelled",
    PaymentRefundedV1: "PaymentRefunded",
}

# ISO 4217 minor-unit exponents that differ from the usual 2 (the contracts accept any code).
_EXPONENTS: Final = {
    **dict.fromkeys(
        ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"], 0
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}
# The currencies the shop sells in get their symbol; any other is written with its code. Babel would
# know every currency and locale, but its locale data would make up most of each Lambda package.
_SYMBOLS: Final = {"USD": "$", "EUR": "€", "GBP": "£"}


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str
    locale: Locale


def format_money(money: Money, locale: Locale = "en") -> str:
    """`¥1,200` / `1,200円`, `$12.50`, `€0.99`; other currencies `1,234.567 KWD`."""
    exponent = _EXPONENTS.get(money.currency, 2)
    major, minor = divmod(money.amount, 10**exponent)
    number = f"{major:,}" + (f".{minor:0{exponent}d}" if exponent else "")
    if money.currency == "JPY":
        return f"{number}円" if locale == "ja" else f"¥{number}"
    symbol = _SYMBOLS.get(money.currency)
    return f"{symbol}{number}" if symbol else f"{number} {money.currency}"


def locale_of(data: EventData) -> Locale:
    locale: Locale | None = getattr(data, "locale", None)
    return locale or DEFAULT_LOCALE


def event_type_of(data: EventData) -> str:
    event_type = _EVENT_TYPE_OF.get(type(data))
    if event_type is None:
        raise ValueError(f"no e-mail for {type(data).__name__}")
    return event_type


def _safe_link(url: str | None) -> str | None:
    # Only a web address becomes a link: a `javascript:` URL would survive HTML escaping.
    return url if url and url.lower().startswith(("https://", "http://")) else None


_environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    # HTML escaped; plain text (subjects too) not; a template of any other kind escaped, to be safe.
    autoescape=select_autoescape(enabled_extensions=("html",), disabled_extensions=("txt",), default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def render(template: str, locale: Locale, context: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, text, html) of one template name in one locale."""
    subject, text, html = (_environment.get_template(f"{locale}/{template}.{part}").render(context) for part in PARTS)
    # A subject is one header line, whatever the template's line breaks.
    return " ".join(subject.split()), text, html


def email_for(data: EventData) -> Email:
    event_type = event_type_of(data)
    locale = locale_of(data)
    context: dict[str, Any] = {
        "data": data,
        "money": partial(format_money, locale=locale),
        "tracking_link": _safe_link(getattr(data, "tracking_url", None)),
        "recipient_name": _recipient_name(data),
    }
    subject, text, html = render(TEMPLATE_FOR[event_type], locale, context)
    return Email(to=data.customer_email, subject=subject, text=text, html=html, locale=locale)  # type: ignore[attr-defined]


def _recipient_name(data: EventData) -> str | None:
    """The name on the parcel, when the order carried a structured address: the greeting uses it."""
    address = getattr(data, "structured_address", None)
    name: str | None = getattr(address, "recipient", None)
    return name or None
