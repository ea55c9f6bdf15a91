"""The CRM's view of an order and the sales ledger, with in-memory stores: no AWS, no HTTP."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pytest
from notify_events import T0, cancelled, captured, delivered, dispatched, refunded

from chalicelib.crm import OrderView, merge, sync_order
from chalicelib.ledger import book, business_day, ledger_lines, object_key, render_day

# -- the CRM's view ------------------------------------------------------------------------------------


def test_a_paid_order_becomes_a_record_with_its_amount_and_customer():
    view = merge(OrderView("ord-1"), captured("ord-1", currency="JPY", unit=1200))

    assert view.crm_fields() == {
        "order_id": "ord-1",
        "customer_email": "ada@example.com",
        "customer_id": "sub-ada",
        "status": "paid",
        "currency": "JPY",
        "paid_amount": "2900",
        "last_event_type": "PaymentCaptured",
        "last_event_at": "2026-11-29T03:00:00Z",
    }


def test_the_status_follows_the_newest_event_and_a_stale_one_changes_only_what_it_alone_knows():
    paid, shipped, arrived = captured("ord-1", minutes=0), dispatched("ord-1", minutes=60), delivered("ord-1", minutes=120)

    in_order = merge(merge(merge(OrderView("ord-1"), paid), shipped), arrived)
    shuffled = merge(merge(merge(OrderView("ord-1"), arrived), paid), shipped)

    assert in_order == shuffled
    assert in_order.status == "delivered"
    assert in_order.paid_amount == 2500
    assert in_order.tracking_number == "4912-3456-7890"


def test_merging_an_event_twice_changes_nothing():
    paid, refund = captured("ord-1"), refunded("ord-1", amount=500, total=500, full=False)
    once = merge(merge(OrderView("ord-1"), paid), refund)

    assert merge(once, paid) == once
    assert merge(once, refund) == once


def test_refunds_only_grow_the_refunded_total_whatever_their_order():
    first, second = (
        refunded("ord-1", amount=500, total=500, full=False, minutes=20),
        refunded("ord-1", amount=700, total=1200, minutes=30),
    )

    view = merge(merge(OrderView("ord-1"), second), first)

    assert view.refunded_amount == 1200
    assert view.status == "refunded"


def test_cancelled_then_refunded_reads_refunded():
    view = merge(merge(OrderView("ord-1"), cancelled("ord-1", minutes=10)), refunded("ord-1", minutes=11))
    assert (view.status, view.last_event_type) == ("refunded", "PaymentRefunded")


@dataclass
class Views:
    stored: dict[str, tuple[OrderView, int]] = field(default_factory=dict)

    def get(self, order_id):
        view, version = self.stored.get(order_id, (None, 0))
        return view, version

    def save(self, view, expected_version):
        if self.stored.get(view.order_id, (None, 0))[1] != expected_version:
            return False
        self.stored[view.order_id] = (view, expected_version + 1)
        return True


@dataclass
class Crm:
    records: dict[str, dict[str, str]] = field(default_factory=dict)
    calls: int = 0
    down: int = 0
    on_upsert: list = field(default_factory=list)

    def upsert(self, order_id, fields):
        self.calls += 1
        if self.down:
            self.down -= 1
            raise ConnectionError("CRM down")
        if self.on_upsert:
            self.on_upsert.pop(0)()
        self.records[order_id] = dict(fields)


def test_sync_pushes_the_merged_view_and_a_retry_after_a_crm_failure_pushes_it_again():
    views, crm = Views(), Crm(down=1)
    event = captured("ord-1")

    with pytest.raises(ConnectionError):
        sync_order(event, views, crm)
    assert views.stored["ord-1"][0].status == "paid"  # merged before the push failed

    sync_order(event, views, crm)

    assert crm.records == {"ord-1": views.stored["ord-1"][0].crm_fields()}
    assert views.stored["ord-1"][1] == 1  # the retry merged nothing new


def test_a_push_overtaken_by_a_newer_event_is_followed_by_the_newer_view():
    views, crm = Views(), Crm()
    sync_order(captured("ord-1"), views, crm)
    newer = dispatched("ord-1")

    # While our push of "shipped" is on its way, another delivery merges the newer "delivered".
    def another_delivery_merges_a_newer_event():
        view, version = views.stored["ord-1"]
        views.stored["ord-1"] = (merge(view, delivered("ord-1")), version + 1)

    crm.on_upsert.append(another_delivery_merges_a_newer_event)
    sync_order(newer, views, crm)

    assert crm.records["ord-1"]["status"] == "delivered"
    assert crm.records["ord-1"] == views.stored["ord-1"][0].crm_fields()


def test_a_concurrent_merge_is_retried_on_the_new_version():
    views, crm = Views(), Crm()
    sync_order(captured("ord-1"), views, crm)

    def someone_else_writes():
        view, version = views.stored["ord-1"]
        views.stored["ord-1"] = (merge(view, dispatched("ord-1")), version + 1)

    # Between our read and our conditional save, another delivery saves a newer version.
    original_save = views.save
    raced = []

    def save(view, expected):
        if not raced:
            raced.append(True)
            someone_else_writes()
        return original_save(view, expected)

    views.save = save  # type: ignore[method-assign]
    sync_order(delivered("ord-1"), views, crm)

    stored = views.stored["ord-1"][0]
    assert stored.status == "delivered" and stored.paid_amount == 2500 and stored.carrier == "yamato"
    assert crm.records["ord-1"] == stored.crm_fields()


# -- the sales ledger ----------------------------------------------------------------------------------


def test_a_sale_is_one_line_per_order_line():
    event = captured("ord-1", currency="JPY", unit=1200)
    lines = ledger_lines(event)

    assert [(line["type"], line["sku"], line["quantity"], line["unit_price"], line["amount"]) for line in lines] == [
        ("sale", "BOX", 2, 1200, 2400),
        ("sale", "FILM", 1, 500, 500),
    ]
    assert {line["event_id"] for line in lines} == {event.event_id}
    assert {line["currency"] for line in lines} == {"JPY"}
    assert lines[0]["occurred_at"] == "2026-11-29T03:00:00Z"


def test_a_refund_is_one_line():
    [line] = ledger_lines(refunded("ord-1", amount=500, total=500, full=False))
    assert (line["type"], line["amount"], line["currency"], line["order_id"]) == ("refund", 500, "JPY", "ord-1")


def test_the_business_day_is_japans():
    assert business_day(datetime(2026, 11, 29, 14, 59, tzinfo=UTC)) == date(2026, 11, 29)
    assert business_day(datetime(2026, 11, 29, 15, 0, tzinfo=UTC)) == date(2026, 11, 30)
    assert object_key(date(2026, 1, 2)) == "ledger/2026/01/02/sales.jsonl"


def test_the_day_renders_the_same_bytes_whatever_order_its_lines_were_recorded_in():
    lines = ledger_lines(captured("ord-1")) + ledger_lines(refunded("ord-1"))
    body = render_day(lines)

    assert render_day(list(reversed(lines))) == body
    parsed = [json.loads(row) for row in body.decode().splitlines()]
    assert [row["type"] for row in parsed] == ["sale", "sale", "refund"]


@dataclass
class Entries:
    days: dict[date, dict[str, list]] = field(default_factory=dict)
    revisions: dict[date, int] = field(default_factory=dict)
    after_lines: list = field(default_factory=list)

    def record(self, day, event_id, lines):
        if event_id in self.days.setdefault(day, {}):
            return False
        self.days[day][event_id] = lines
        self.revisions[day] = self.revisions.get(day, 0) + 1
        return True

    def revision(self, day):
        return self.revisions.get(day, 0)

    def lines(self, day):
        found = [line for lines in self.days.get(day, {}).values() for line in lines]
        if self.after_lines:
            self.after_lines.pop(0)()
        return found


@dataclass
class Objects:
    written: dict[str, bytes] = field(default_factory=dict)
    writes: int = 0

    def write(self, key, body, revision):
        self.writes += 1
        self.written[key] = body


def test_booking_twice_records_once_and_the_object_holds_each_line_once():
    entries, objects = Entries(), Objects()
    event = captured("ord-1")

    assert book(event, entries, objects) == (date(2026, 11, 29), True)
    assert book(event, entries, objects) == (date(2026, 11, 29), False)

    body = objects.written["ledger/2026/11/29/sales.jsonl"]
    assert body == render_day(ledger_lines(event))
    assert len(body.splitlines()) == 2


def test_an_event_recorded_while_the_day_is_written_is_in_the_final_object():
    entries, objects = Entries(), Objects()
    first, second = captured("ord-1"), captured("ord-2", minutes=5)

    # Another delivery records its event after we read the day's lines and before we write the object.
    entries.after_lines.append(lambda: entries.record(date(2026, 11, 29), second.event_id, ledger_lines(second)))
    book(first, entries, objects)

    assert objects.written["ledger/2026/11/29/sales.jsonl"] == render_day(ledger_lines(first) + ledger_lines(second))
    assert objects.writes == 2


def test_events_before_and_after_midnight_in_japan_go_to_their_own_days():
    entries, objects = Entries(), Objects()
    book(captured("ord-1", minutes=11 * 60 + 59), entries, objects)  # 14:59 UTC: 23:59 in Japan
    book(captured("ord-2", minutes=12 * 60), entries, objects)  # 15:00 UTC: the next day in Japan

    assert sorted(objects.written) == ["ledger/2026/11/29/sales.jsonl", "ledger/2026/11/30/sales.jsonl"]
    assert T0.date() == date(2026, 11, 29)
