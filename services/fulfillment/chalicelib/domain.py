"""Fulfillment rules, free of I/O: what a paid order needs shipped, how a shipment moves from the
picking list to the customer's door, what a cancellation does at each step, how the logistics
service's tracking notifications are trusted and ordered, and the carrier's CSV."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Literal

# Shipment ids derive from the order, so a repeated or replayed request names the same shipment.
_SHIPMENT_NAMESPACE = uuid.UUID("6f1c3d4e-0b7a-4f37-9a51-3c2b9e7d8a10")

# -- statuses -----------------------------------------------------------------------------------------
# REQUESTED (on the picking list) → PICKED → PACKED → INSTRUCTED (the 3PL has it) → DISPATCHED (the
# carrier has it: tracking number) → DELIVERED; CANCELLED from anywhere before DISPATCHED. A parcel
# listed in the carrier CSV goes PACKED → DISPATCHED when staff confirm the tracking number.
REQUESTED = "REQUESTED"
PICKED = "PICKED"
PACKED = "PACKED"
INSTRUCTED = "INSTRUCTED"
DISPATCHED = "DISPATCHED"
DELIVERED = "DELIVERED"
CANCELLED = "CANCELLED"
ON_PICKING_LIST = (REQUESTED, PICKED)
NOT_YET_INSTRUCTED = (REQUESTED, PICKED, PACKED)

Handoff = Literal["logistics_service", "carrier_csv"]
DEFAULT_HANDOFF: Handoff = "logistics_service"


@dataclass(frozen=True)
class Shipment:
    shipment_id: str
    order_id: str
    lines: dict[str, int]
    address: str
    status: str = REQUESTED


def shipment_id_for(order_id: str) -> str:
    return f"shp_{uuid.uuid5(_SHIPMENT_NAMESPACE, order_id).hex[:16]}"


def plan_shipment(order_id: str, lines: Iterable[tuple[str, str, int]], address: str | None) -> Shipment | None:
    """lines are (sku, kind, quantity); only physical goods ship. None when there is nothing to ship."""
    physical: dict[str, int] = {}
    for sku, kind, quantity in lines:
        if kind == "physical":
            physical[sku] = physical.get(sku, 0) + quantity
    if not physical:
        return None
    if not address:
        raise ValueError(f"order {order_id} has physical goods but no shipping address")
    return Shipment(shipment_id_for(order_id), order_id, physical, address)


class TransitionRefused(Exception):
    """A warehouse step that the shipment's status does not allow (packed before picked, picked after
    cancellation...); the message says why."""


@dataclass(frozen=True)
class Step:
    """A warehouse step: the statuses it may start from, the one it ends in. Repeating a step that is
    done already changes nothing (`already_done`)."""

    name: str
    from_statuses: tuple[str, ...]
    to_status: str
    already_done: tuple[str, ...]


PICK = Step("pick", (REQUESTED,), PICKED, (PICKED, PACKED, INSTRUCTED, DISPATCHED, DELIVERED))
PACK = Step("pack", (PICKED,), PACKED, (PACKED, INSTRUCTED, DISPATCHED, DELIVERED))
CONFIRM_DISPATCH = Step("confirm dispatch", (PACKED,), DISPATCHED, (DISPATCHED, DELIVERED))


def step_outcome(step: Step, status: str) -> Literal["apply", "done"]:
    """Whether `step` applies to a shipment in `status`, was done already, or is refused (raises)."""
    if status in step.from_statuses:
        return "apply"
    if status in step.already_done:
        return "done"
    if status == CANCELLED:
        raise TransitionRefused(f"the shipment was cancelled; it cannot {step.name}")
    raise TransitionRefused(
        f"a shipment {status.lower()} cannot {step.name} yet; it must be {' or '.join(step.from_statuses).lower()}"
    )


# -- cancellation -------------------------------------------------------------------------------------

CancelPlan = Literal["tombstone", "cancel_locally", "cancel_at_logistics", "too_late", "already_cancelled"]


def cancellation_plan(status: str | None) -> CancelPlan:
    """What OrderCancelled does to the order's shipment in `status` (None: there is none yet).

    No shipment yet: a tombstone, so a PaymentCaptured arriving later creates none. Not yet handed to
    the 3PL: cancelled here. Handed over: the 3PL is asked, and may refuse (it has packed or shipped).
    Dispatched or delivered: too late; the refusal is recorded and nothing is published."""
    if status is None:
        return "tombstone"
    if status == CANCELLED:
        return "already_cancelled"
    if status in NOT_YET_INSTRUCTED:
        return "cancel_locally"
    if status == INSTRUCTED:
        return "cancel_at_logistics"
    return "too_late"


# -- the logistics service's tracking notifications -------------------------------------------------

# The 3PL's statuses in the order a parcel goes through them; a notification about an earlier (or the
# same) status than the one recorded is out of order or a duplicate, and changes nothing.
TRACKING_STATUSES = ("waiting", "picking", "packed", "shipped", "delivered")
TrackingStatus = Literal["waiting", "picking", "packed", "shipped", "delivered"]


def tracking_rank(status: str | None) -> int:
    return TRACKING_STATUSES.index(status) if status in TRACKING_STATUSES else -1


def tracking_applies(recorded: str | None, notified: str) -> bool:
    return tracking_rank(notified) > tracking_rank(recorded)


SIGNATURE_SCHEME = "v1"
# A signed notification older than this is refused: a captured request cannot be replayed later.
SIGNATURE_TOLERANCE = timedelta(minutes=5)


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`v1=` + hex HMAC-SHA256 over `<timestamp>.<raw body>` with the shared secret."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_SCHEME}={mac}"


class SignatureRefused(Exception):
    """The notification is not provably from the logistics service, or is too old; the message says why."""


def verify_webhook(secret: str, timestamp: str | None, signature: str | None, body: bytes, now: datetime) -> None:
    """Raise SignatureRefused unless `signature` is the shared secret's over this exact body and
    `timestamp` (Unix seconds) is within SIGNATURE_TOLERANCE of `now` either way."""
    if not timestamp or not signature:
        raise SignatureRefused("the signature or timestamp header is missing")
    try:
        sent = datetime.fromtimestamp(int(timestamp), tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise SignatureRefused("the timestamp is not Unix seconds") from None
    if abs(now - sent) > SIGNATURE_TOLERANCE:
        raise SignatureRefused("the timestamp is too far from now; a replayed or delayed notification is refused")
    expected = webhook_signature(secret, timestamp, body)
    # Any of several comma-separated signatures may match (the sender may be rotating its secret).
    if not any(hmac.compare_digest(expected, given.strip()) for given in signature.split(",")):
        raise SignatureRefused("the signature does not match the body")


CARRIER_TRACKING_URLS = {
    "yamato": "https://jizen.kuronekoyamato.co.jp/jizen/servlet/crjz.b.NQ0010?id={number}",
    "sagawa": "https://k2k.sagawa-exp.co.jp/p/web/okurijosearch.do?okurijoNo={number}",
    "japanpost": "https://trackings.post.japanpost.jp/services/srv/search/direct?reqCodeNo1={number}",
}


def carrier_code(carrier: str) -> str:
    """The shop's name for a carrier (lower case), whatever case the 3PL spells it in."""
    return carrier.strip().lower().replace("_", "").replace(" ", "")


def tracking_url(carrier: str, tracking_number: str) -> str | None:
    template = CARRIER_TRACKING_URLS.get(carrier_code(carrier))
    return template.format(number=tracking_number) if template else None


# -- the carrier CSV (Yamato B2 Cloud's external data import, 発払い) ----------------------------------

JST = timezone(timedelta(hours=9), "JST")


def shipping_day(moment: datetime) -> date:
    """The warehouse's day (Japan) a parcel packed at `moment` leaves on."""
    return moment.astimezone(JST).date()


# The leading columns of B2 Cloud's import layout, in order; a 発払い (sender pays) parcel uses these.
# B2 accepts a row whose trailing columns (collect-on-delivery, notification e-mails, billing split...)
# are left out. README.md lists what each is filled with.
B2_COLUMNS = (
    "お客様管理番号",
    "送り状種類",
    "クール区分",
    "伝票番号",
    "出荷予定日",
    "お届け予定日",
    "配達時間帯",
    "お届け先コード",
    "お届け先電話番号",
    "お届け先電話番号枝番",
    "お届け先郵便番号",
    "お届け先住所",
    "お届け先アパートマンション名",
    "お届け先会社・部門１",
    "お届け先会社・部門２",
    "お届け先名",
    "お届け先名(ｶﾅ)",
    "敬称",
    "ご依頼主コード",
    "ご依頼主電話番号",
    "ご依頼主電話番号枝番",
    "ご依頼主郵便番号",
    "ご依頼主住所",
    "ご依頼主アパートマンション",
    "ご依頼主名",
    "ご依頼主名(ｶﾅ)",
    "品名コード１",
    "品名１",
    "品名コード２",
    "品名２",
    "荷扱い１",
    "荷扱い２",
    "記事",
    "ｺﾚｸﾄ代金引換額（税込)",
    "内消費税額等",
    "止置き",
    "営業所コード",
    "発行枚数",
    "個数口表示フラグ",
    "請求先顧客コード",
    "請求先分類コード",
    "運賃管理番号",
)
B2_INVOICE_SENDER_PAYS = "0"  # 送り状種類 0: 発払い
B2_COOL_NORMAL = "0"  # クール区分 0: 通常
# 配達時間帯: B2's codes for the shop's time slots (12-14 is no longer offered by Yamato: left blank).
B2_TIME_SLOTS = {"am": "0812", "14-16": "1416", "16-18": "1618", "18-20": "1820", "19-21": "1921"}
# B2 cuts fields at these many bytes of Shift-JIS; longer text would be refused by the import.
_B2_ADDRESS_BYTES = 64
_B2_BUILDING_BYTES = 32
_B2_NAME_BYTES = 32
_B2_ITEM_BYTES = 50


@dataclass(frozen=True)
class Shipper:
    """ご依頼主: the shop as the sender printed on the label, and its Yamato billing customer code."""

    name: str
    phone: str
    postal_code: str
    address: str
    billing_customer_code: str
    freight_code: str = "01"


def _sjis_cut(text: str, limit: int) -> str:
    """`text` in Shift-JIS-encodable form, cut at a character boundary to at most `limit` bytes."""
    out, size = "", 0
    for char in text:
        try:
            encoded = char.encode("cp932")
        except UnicodeEncodeError:
            encoded = b"?"  # no Shift-JIS form: B2 would refuse the row
        if size + len(encoded) > limit:
            break
        out += encoded.decode("cp932")
        size += len(encoded)
    return out


def _digits_and_dashes(value: str | None) -> str:
    return "".join(c for c in (value or "") if c.isdigit() or c == "-")


def b2_row(shipment: Mapping[str, Any], shipper: Shipper, ship_day: date) -> list[str]:
    """One CSV row (one parcel) for a packed shipment: its id, structured address, delivery wish and lines."""
    address = shipment.get("delivery_address") or {}
    delivery = shipment.get("delivery") or {}
    street = " ".join(part for part in (address.get("region"), address.get("city"), address.get("line1")) if part)
    items = ", ".join(f"{line['sku']} x{line['quantity']}" for line in shipment.get("lines", []))
    wished = delivery.get("date")
    row = {
        "お客様管理番号": shipment["shipment_id"],
        "送り状種類": B2_INVOICE_SENDER_PAYS,
        "クール区分": B2_COOL_NORMAL,
        "伝票番号": "",  # B2 numbers the label when it prints it
        "出荷予定日": ship_day.strftime("%Y/%m/%d"),
        "お届け予定日": wished.replace("-", "/") if wished else "",
        "配達時間帯": B2_TIME_SLOTS.get(delivery.get("time_slot") or "", ""),
        "お届け先電話番号": _digits_and_dashes(address.get("phone")),
        "お届け先郵便番号": _digits_and_dashes(address.get("postal_code")),
        "お届け先住所": _sjis_cut(street or shipment.get("address", ""), _B2_ADDRESS_BYTES),
        "お届け先アパートマンション名": _sjis_cut(address.get("line2") or "", _B2_BUILDING_BYTES),
        "お届け先名": _sjis_cut(address.get("recipient") or "", _B2_NAME_BYTES),
        "敬称": "様",
        "ご依頼主電話番号": shipper.phone,
        "ご依頼主郵便番号": shipper.postal_code,
        "ご依頼主住所": _sjis_cut(shipper.address, _B2_ADDRESS_BYTES),
        "ご依頼主名": _sjis_cut(shipper.name, _B2_NAME_BYTES),
        "品名１": _sjis_cut(items, _B2_ITEM_BYTES),
        "発行枚数": "1",
        "請求先顧客コード": shipper.billing_customer_code,
        "運賃管理番号": shipper.freight_code,
    }
    return [row.get(column, "") for column in B2_COLUMNS]


def b2_csv(rows: Sequence[Sequence[str]]) -> bytes:
    """The day's file as B2 imports it: a header line, then one row per parcel; Shift-JIS (cp932), CRLF."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    writer.writerow(B2_COLUMNS)
    writer.writerows(rows)
    return text.getvalue().encode("cp932", errors="replace")
