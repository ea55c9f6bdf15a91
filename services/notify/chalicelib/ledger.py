"""The sales ledger for accounting, free of I/O: a JSON Lines object per business day in S3.

Every sale (each line of a captured payment) and every refund is one JSON object on its own line of
`ledger/YYYY/MM/DD/sales.jsonl`, the day being the Japanese business day (UTC+9, no daylight saving)
of the event's `occurred_at`. S3 cannot append, and two deliveries can write one day's object at the
same time, so the object is never the record:

1. the event's lines are recorded in notify's table under the day, keyed on the event's `event_id`
   (a conditional put: a repeat records nothing), in one transaction with the day's revision + 1;
2. the day's object is rewritten from everything recorded for the day, sorted, so it is the same
   bytes whoever writes it;
3. after writing, the writer reads the day's revision again and rewrites if another event arrived
   meanwhile: the last write to land is then one made after the newest entry was recorded.

A crash after 1 loses nothing: the redelivery finds the entry recorded and rewrites the object.
Rewriting reads the whole day (one Query of its partition), which suits a shop of up to some
thousands of sales a day; beyond that, a scheduled rewrite per day would batch them.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Final, Protocol

from shop_contracts.events import PaymentCapturedV1, PaymentRefundedV1
from shop_eventing.envelope import DomainEvent

BUSINESS_TIMEZONE: Final = timezone(timedelta(hours=9), "JST")
MAX_ROUNDS: Final = 5

type LedgerLine = dict[str, Any]


def business_day(occurred_at: datetime) -> date:
    return occurred_at.astimezone(BUSINESS_TIMEZONE).date()


def object_key(day: date) -> str:
    return f"ledger/{day:%Y/%m/%d}/sales.jsonl"


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ledger_lines(event: DomainEvent) -> list[LedgerLine]:
    """The ledger lines one event books: a sale line per order line, or one refund line."""
    data = event.data
    common = {"event_id": event.event_id, "occurred_at": _utc(event.metadata.occurred_at)}
    if isinstance(data, PaymentCapturedV1):
        return [
            {
                **common,
                "type": "sale",
                "line_no": number,
                "order_id": data.order_id,
                "payment_id": data.payment_id,
                "sku": line.sku,
                "name": line.name,
                "kind": line.kind,
                "quantity": line.quantity,
                "unit_price": line.unit_price.amount,
                "amount": line.unit_price.amount * line.quantity,
                "currency": line.unit_price.currency,
            }
            for number, line in enumerate(data.lines, start=1)
        ]
    if isinstance(data, PaymentRefundedV1):
        # A refund is an amount on the order; the lines it takes back are named when it has any.
        return [
            {
                **common,
                "type": "refund",
                "line_no": 1,
                "order_id": data.order_id,
                "payment_id": data.payment_id,
                "refund_id": data.refund_id,
                "skus": list(data.skus),
                "amount": data.amount.amount,
                "currency": data.amount.currency,
                "reason": data.reason,
                "initiated_by": data.initiated_by,
            }
        ]
    raise ValueError(f"the ledger books no {type(data).__name__}")


def render_day(lines: list[LedgerLine]) -> bytes:
    """The day's object: one JSON object a line, in booking order; the same lines give the same bytes."""
    ordered = sorted(lines, key=lambda line: (line["occurred_at"], line["event_id"], line["line_no"]))
    return "".join(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n" for line in ordered).encode("utf-8")


class LedgerEntries(Protocol):
    def record(self, day: date, event_id: str, lines: list[LedgerLine]) -> bool:
        """Record an event's lines under `day` and raise the day's revision; False if already recorded."""

    def revision(self, day: date) -> int:
        """How many events the day has recorded (consistent read)."""

    def lines(self, day: date) -> list[LedgerLine]:
        """Every line recorded for the day (consistent read)."""


class LedgerObjects(Protocol):
    def write(self, key: str, body: bytes, revision: int) -> None: ...


class DayKeptChanging(Exception):
    """Entries kept arriving for the day while its object was written: the message is retried later."""


def book(event: DomainEvent, entries: LedgerEntries, objects: LedgerObjects) -> tuple[date, bool]:
    """Record the event's lines and bring the day's object up to date; returns (day, newly recorded)."""
    day = business_day(event.metadata.occurred_at)
    new = entries.record(day, event.event_id, ledger_lines(event))
    for _ in range(MAX_ROUNDS):
        revision = entries.revision(day)
        objects.write(object_key(day), render_day(entries.lines(day)), revision)
        if entries.revision(day) == revision:
            return day, new
    raise DayKeptChanging(f"the ledger of {day} changed under {MAX_ROUNDS} rewrites")
