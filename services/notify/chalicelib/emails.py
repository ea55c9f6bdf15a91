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
from datetime import UTC, datetime, timedelta, timezone
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
    VideoFailedV1,
    VideoReadyV1,
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

# The uploader's e-mails (video-emails), by event type; not the customer's, so not in TEMPLATE_FOR.
VIDEO_TEMPLATE_FOR: Final[dict[str, str]] = {"VideoReady": "video_ready", "VideoFailed": "video_failed"}
SHOW_REMINDER_TEMPLATE: Final = "show_starts_soon"
# Live shows are scheduled in Japan: the time is given in Japan's, and in UTC for English readers abroad.
JAPAN: Final = timezone(timedelta(hours=9), "JST")

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
UTC_ZONE: Final = UTC
# Not strftime's %B: that follows the process's C locale, which a Lambda runtime does not promise.
_MONTHS: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


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


def video_email(data: VideoReadyV1 | VideoFailedV1) -> Email | None:
    """The uploader's e-mail about their video's transcode; None when the video names nobody to tell (a live
    show's recording, or an uploader who gave no address)."""
    if not data.uploaded_by_email:
        return None
    locale: Locale = getattr(data, "locale", None) or DEFAULT_LOCALE
    template = VIDEO_TEMPLATE_FOR["VideoReady" if isinstance(data, VideoReadyV1) else "VideoFailed"]
    context: dict[str, Any] = {"data": data, "title": data.title or data.video_id, "duration": _duration(data)}
    subject, text, html = render(template, locale, context)
    return Email(to=data.uploaded_by_email, subject=subject, text=text, html=html, locale=locale)


def _duration(data: VideoReadyV1 | VideoFailedV1) -> str | None:
    milliseconds = data.outputs.duration_ms if isinstance(data, VideoReadyV1) else None
    if milliseconds is None:
        return None
    minutes, seconds = divmod(round(milliseconds / 1000), 60)
    return f"{minutes}:{seconds:02d}"


def show_time(starts_at: str, locale: Locale) -> str:
    """`2026年12月1日 20:00（日本時間）` / `1 December 2026, 20:00 Japan time (11:00 UTC)`."""
    moment = datetime.fromisoformat(starts_at.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC_ZONE)
    japan = moment.astimezone(JAPAN)
    if locale == "ja":
        return f"{japan.year}年{japan.month}月{japan.day}日 {japan:%H:%M}（日本時間）"
    utc = moment.astimezone(UTC_ZONE)
    return f"{japan.day} {_MONTHS[japan.month - 1]} {japan.year}, {japan:%H:%M} Japan time ({utc:%H:%M} UTC)"


def show_reminder(*, to: str, locale: Locale | None, title: str, starts_at: str, watch_url: str | None) -> Email:
    """'The show starts soon' to one ticket holder, in the locale of the order that bought the ticket."""
    locale = locale or DEFAULT_LOCALE
    context: dict[str, Any] = {"title": title, "starts": show_time(starts_at, locale), "watch_link": _safe_link(watch_url)}
    subject, text, html = render(SHOW_REMINDER_TEMPLATE, locale, context)
    return Email(to=to, subject=subject, text=text, html=html, locale=locale)


def _recipient_name(data: EventData) -> str | None:
    """The name on the parcel, when the order carried a structured address: the greeting uses it."""
    address = getattr(data, "structured_address", None)
    name: str | None = getattr(address, "recipient", None)
    return name or None
