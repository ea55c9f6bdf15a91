"""The order's lifecycle as a state machine, without any I/O: the overall, payment and fulfillment
statuses for every set of events (in every arrival order, with duplicates and stale events), who may
cancel when, and the refund arithmetic."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain import (
    STATUSES,
    CancelRefused,
    Line,
    Order,
    OrderInvalid,
    ProductView,
    RefundNotAllowed,
    format_money,
    place_order,
    resolve_locale,
)

NOW = datetime(2030, 5, 17, 12, 0, tzinfo=UTC)
TOTAL = 2 * 2500 + 399

# The physical happy path, in the order fulfillment publishes it.
FULFILLMENT = ("ShipmentRequested", "ShipmentPacked", "ShipmentInstructed", "ShipmentDispatched", "ShipmentDelivered")
HAPPY = ("OrderPlaced", "StockReserved", "PaymentCaptured", *FULFILLMENT)


def new_order(seen: tuple[str, ...] = (), *, lines: list[Line] | None = None) -> Order:
    order = Order(
        order_id="ord-1",
        customer_email="buyer@example.com",
        lines=lines or [Line("BOX", "Blu-ray box", "physical", 2, 2500), Line("FILM", "Film", "digital", 1, 399)],
        currency="USD",
        payment_token="tok_visa",
        shipping_address="1 Main St",
        created_at=NOW.isoformat(),
        customer_id="ada",
    )
    see(order, seen)
    return order


def see(order: Order, seen: tuple[str, ...] | list[str]) -> None:
    """Record each event type once, as it would arrive: its own id, occurred_at in the given order."""
    for index, event_type in enumerate(seen):
        order.record(f"evt-{event_type}", event_type, NOW + timedelta(seconds=index), event_type)
        if event_type == "PaymentCaptured":
            order.payment_id = "pi_1"


def statuses(order: Order) -> tuple[str, str, str]:
    return order.status, order.payment_status, order.fulfillment_status


def arrivals(seen: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every order the events can arrive in. OrderPlaced is committed with the order itself, so it is
    always first; everything after it, in every permutation."""
    if seen[:1] == ("OrderPlaced",):
        return [("OrderPlaced", *rest) for rest in itertools.permutations(seen[1:])]
    return list(itertools.permutations(seen))


# -- statuses from the set of events, whatever their arrival order -----------------------------------

STATUS_TABLE = [
    ((), ("PENDING", "pending", "not_fulfilled")),
    (("OrderPlaced",), ("PENDING", "pending", "not_fulfilled")),
    (("OrderPlaced", "StockReserved"), ("STOCK_RESERVED", "pending", "not_fulfilled")),
    (("OrderPlaced", "StockRejected"), ("REJECTED", "pending", "not_fulfilled")),
    (("OrderPlaced", "StockReserved", "PaymentFailed"), ("PAYMENT_FAILED", "failed", "not_fulfilled")),
    (("OrderPlaced", "StockReserved", "PaymentFailed", "StockReleased"), ("PAYMENT_FAILED", "failed", "not_fulfilled")),
    (("OrderPlaced", "StockReserved", "PaymentCaptured"), ("PAID", "captured", "not_fulfilled")),
    (HAPPY[:4], ("SHIPMENT_REQUESTED", "captured", "not_fulfilled")),
    (HAPPY[:5], ("SHIPMENT_PACKED", "captured", "not_fulfilled")),
    (HAPPY[:6], ("SHIPMENT_INSTRUCTED", "captured", "instructed")),
    (HAPPY[:7], ("SHIPPED", "captured", "shipped")),
    (HAPPY, ("DELIVERED", "captured", "delivered")),
    # Cancelled before anything was charged: nothing was or will be taken.
    (("OrderPlaced", "OrderCancelled"), ("CANCELLED", "voided", "cancelled")),
    (("OrderPlaced", "OrderCancelled", "StockReserved", "StockReleased"), ("CANCELLED", "voided", "cancelled")),
    (("OrderPlaced", "OrderCancelled", "StockRejected"), ("CANCELLED", "voided", "cancelled")),
    # Cancelled after the capture, before the refund came back: captured until it does.
    (("OrderPlaced", "StockReserved", "PaymentCaptured", "OrderCancelled"), ("CANCELLED", "captured", "cancelled")),
    ((*HAPPY[:6], "OrderCancelled", "ShipmentCancelled"), ("CANCELLED", "captured", "cancelled")),
    ((*HAPPY[:4], "ShipmentCancelled"), ("SHIPMENT_REQUESTED", "captured", "cancelled")),
    # A dispatch that raced a staff cancellation: the goods are gone, the decision stands.
    ((*HAPPY[:7], "OrderCancelled"), ("CANCELLED", "captured", "shipped")),
]


@pytest.mark.parametrize(("seen", "expected"), STATUS_TABLE, ids=[" ".join(seen) or "nothing" for seen, _ in STATUS_TABLE])
def test_statuses_follow_the_set_of_events_in_every_arrival_order(seen, expected):
    for arrival in arrivals(seen):
        order = new_order()
        see(order, list(arrival))
        assert statuses(order) == expected, arrival


def test_every_status_the_table_reaches_is_a_documented_one():
    assert {status for _, (status, _, _) in STATUS_TABLE} <= set(STATUSES)


def test_fulfillment_events_delivered_in_reverse_end_delivered():
    order = new_order(("OrderPlaced", "StockReserved", "PaymentCaptured"))

    progress = []
    for event_type in reversed(FULFILLMENT):
        see(order, [event_type])
        progress.append(statuses(order))

    # Never backwards: the first event to arrive (the delivery) already decides, the stale ones add history only.
    assert progress == [("DELIVERED", "captured", "delivered")] * len(FULFILLMENT)
    assert [entry.event_type for entry in order.timeline if entry.event_type in FULFILLMENT] == list(reversed(FULFILLMENT))


@pytest.mark.parametrize("late", FULFILLMENT[:-1])
def test_a_stale_shipment_event_after_the_delivery_changes_nothing(late):
    order = new_order(HAPPY)
    order.record(f"late-{late}", late, NOW - timedelta(days=1), f"late {late}")

    assert statuses(order) == ("DELIVERED", "captured", "delivered")


@pytest.mark.parametrize("event_type", HAPPY)
def test_a_duplicate_delivery_is_the_same_event_and_changes_nothing(event_type):
    order = new_order(HAPPY)
    before = (statuses(order), list(order.timeline))

    assert order.record(f"evt-{event_type}", event_type, NOW + timedelta(hours=1), "again") is False
    assert (statuses(order), order.timeline) == before


def test_a_digital_only_order_has_no_shipment_and_stays_not_fulfilled_when_paid():
    order = new_order(("OrderPlaced", "StockReserved", "PaymentCaptured"), lines=[Line("FILM", "Film", "digital", 1, 399)])

    assert statuses(order) == ("PAID", "captured", "not_fulfilled")


# -- digital lines: vod's grants and revocations --------------------------------------------------------

RENTAL = Line("FILM", "Film", "digital", 1, 399, {"product_type": "video_rental", "video_id": "vid-1", "rental_hours": 48})
TICKET = Line("LIVE", "Live show", "digital", 1, 3000, {"product_type": "live_ticket", "live_show_id": "show-1"})
BOX = Line("BOX", "Blu-ray box", "physical", 2, 2500)
GRANTED, REVOKED = "EntitlementGranted", "EntitlementRevoked"


def see_access(order: Order, seen: tuple[str | tuple[str, str], ...] | list[str | tuple[str, str]]) -> None:
    """Like `see`, where (EntitlementGranted | EntitlementRevoked, sku) is vod's word on that line, with its facts
    noted as the digital-delivery subscriber notes them."""
    for index, step in enumerate(seen):
        event_type, sku = step if isinstance(step, tuple) else (step, "")
        order.record(f"evt-{event_type}-{sku}", event_type, NOW + timedelta(seconds=index), event_type)
        if event_type == "PaymentCaptured":
            order.payment_id = "pi_1"
        if event_type == GRANTED:
            order.note_delivery(sku, entitlement_id=f"ent-{sku}", granted_at=NOW.isoformat(), expires_at=None)
        elif event_type == REVOKED:
            order.note_delivery(sku, entitlement_id=f"ent-{sku}", revoked_at=NOW.isoformat(), revoke_reason="order_cancelled")


def digital_statuses(order: Order) -> tuple[str, str, str, tuple[str | None, ...]]:
    return (*statuses(order), tuple(order.line_delivery(line) for line in order.lines))


DIGITAL_ONLY = [RENTAL, TICKET]
MIXED = [BOX, RENTAL]
DIGITAL_TABLE = [
    # A digital-only order: delivered once vod granted every line, whatever arrived first.
    (DIGITAL_ONLY, HAPPY[:3], ("PAID", "captured", "not_fulfilled", ("pending", "pending"))),
    (DIGITAL_ONLY, (*HAPPY[:3], (GRANTED, "FILM")), ("PAID", "captured", "not_fulfilled", ("delivered", "pending"))),
    (
        DIGITAL_ONLY,
        (*HAPPY[:3], (GRANTED, "FILM"), (GRANTED, "LIVE")),
        ("DELIVERED", "captured", "delivered", ("delivered",) * 2),
    ),
    # A grant that overtook the order's own PaymentCaptured (impossible from vod, which grants on it) is kept.
    (
        DIGITAL_ONLY,
        ("OrderPlaced", (GRANTED, "FILM"), (GRANTED, "LIVE")),
        ("DELIVERED", "pending", "delivered", ("delivered",) * 2),
    ),
    # Cancelled: vod takes the access back; the line shows revoked once it has.
    (
        DIGITAL_ONLY,
        (*HAPPY[:3], (GRANTED, "FILM"), (GRANTED, "LIVE"), "OrderCancelled"),
        ("CANCELLED", "captured", "cancelled", ("delivered", "delivered")),
    ),
    (
        DIGITAL_ONLY,
        (*HAPPY[:3], (GRANTED, "FILM"), (GRANTED, "LIVE"), "OrderCancelled", (REVOKED, "FILM"), (REVOKED, "LIVE")),
        ("CANCELLED", "captured", "cancelled", ("revoked", "revoked")),
    ),
    # A refund took one line back: it was delivered, the money shows in the payment status.
    (
        DIGITAL_ONLY,
        (*HAPPY[:3], (GRANTED, "FILM"), (GRANTED, "LIVE"), (REVOKED, "FILM")),
        ("DELIVERED", "captured", "delivered", ("revoked", "delivered")),
    ),
    # A mixed order follows its parcel and is delivered when the parcel and every digital line are.
    (MIXED, (*HAPPY[:3], (GRANTED, "FILM")), ("PAID", "captured", "not_fulfilled", (None, "delivered"))),
    (MIXED, (*HAPPY[:6], (GRANTED, "FILM")), ("SHIPMENT_INSTRUCTED", "captured", "instructed", (None, "delivered"))),
    (MIXED, (*HAPPY[:7], (GRANTED, "FILM")), ("SHIPPED", "captured", "shipped", (None, "delivered"))),
    (MIXED, HAPPY, ("SHIPPED", "captured", "shipped", (None, "pending"))),
    (MIXED, (*HAPPY, (GRANTED, "FILM")), ("DELIVERED", "captured", "delivered", (None, "delivered"))),
    (
        MIXED,
        (*HAPPY[:5], (GRANTED, "FILM"), "OrderCancelled", "ShipmentCancelled", (REVOKED, "FILM")),
        ("CANCELLED", "captured", "cancelled", (None, "revoked")),
    ),
]


def _named(step: str | tuple[str, str]) -> str:
    return step if isinstance(step, str) else f"{step[0]}:{step[1]}"


@pytest.mark.parametrize(
    ("lines", "seen", "expected"),
    DIGITAL_TABLE,
    ids=[f"{'mixed' if lines is MIXED else 'digital'} " + " ".join(map(_named, seen)) for lines, seen, _ in DIGITAL_TABLE],
)
def test_digital_lines_follow_the_set_of_vod_events_in_every_arrival_order(lines, seen, expected):
    for arrival in arrivals(seen):
        order = new_order(lines=list(lines))
        see_access(order, list(arrival))
        assert digital_statuses(order) == expected, arrival


def test_a_revoked_line_stays_revoked_when_its_grant_arrives_after_it():
    order = new_order(lines=[RENTAL])
    # vod revokes only what it granted, so the revocation alone says the line was delivered (then taken back).
    see_access(order, [*HAPPY[:3], (REVOKED, "FILM")])
    before = digital_statuses(order)
    assert before == ("DELIVERED", "captured", "delivered", ("revoked",))

    see_access(order, [(GRANTED, "FILM")])

    assert digital_statuses(order) == before  # revoked wins: the grant brings nothing back
    assert order.deliveries["FILM"]["revoked_at"] == NOW.isoformat()


def test_a_duplicate_grant_changes_nothing():
    order = new_order(lines=[RENTAL])
    see_access(order, [*HAPPY[:3], (GRANTED, "FILM")])
    before = (digital_statuses(order), list(order.timeline), dict(order.deliveries))

    assert order.record(f"evt-{GRANTED}-FILM", GRANTED, NOW + timedelta(hours=1), "again") is False
    order.note_delivery("FILM", entitlement_id="ent-FILM", granted_at=NOW.isoformat(), expires_at=None)

    assert (digital_statuses(order), order.timeline, order.deliveries) == before


def test_a_digital_line_without_access_is_never_waited_for():
    legacy = Line("EBOOK", "E-book", "digital", 1, 500)  # catalog's legacy digital product: vod grants nothing

    assert new_order(HAPPY[:3], lines=[legacy]).fulfillment_status == "not_fulfilled"
    assert new_order(lines=[legacy]).line_delivery(legacy) is None
    mixed = new_order(lines=[BOX, legacy])
    see(mixed, HAPPY)
    assert statuses(mixed) == ("DELIVERED", "captured", "delivered")


def test_the_timeline_keeps_every_step_sorted_by_when_it_happened():
    order = new_order()
    see(order, list(reversed(HAPPY)))

    assert [entry.event_type for entry in order.timeline] == list(reversed(HAPPY))  # occurred_at follows arrival here
    assert [entry.occurred_at for entry in order.timeline] == sorted(entry.occurred_at for entry in order.timeline)


# -- tracking ----------------------------------------------------------------------------------------


def test_tracking_shows_once_dispatched_and_not_before():
    order = new_order(HAPPY[:6])
    order.note_shipment(shipment_id="shp-1", carrier="yamato", logistics_shipment_id="3pl-1", tracking_number=None)
    assert order.tracking is None

    see(order, ["ShipmentDispatched"])
    order.note_shipment(carrier="yamato", tracking_number="4912", tracking_url="https://t.example/4912")

    assert order.tracking == {"carrier": "yamato", "tracking_number": "4912", "tracking_url": "https://t.example/4912"}


def test_tracking_from_a_delivery_that_overtook_its_dispatch_is_kept_and_completed_later():
    order = new_order(HAPPY[:6])
    see(order, ["ShipmentDelivered"])
    order.note_shipment(carrier="yamato", tracking_number="4912", tracking_url=None)
    assert order.tracking == {"carrier": "yamato", "tracking_number": "4912"}

    see(order, ["ShipmentDispatched"])
    order.note_shipment(carrier="yamato", tracking_number="4912", tracking_url="https://t.example/4912")

    assert order.tracking == {"carrier": "yamato", "tracking_number": "4912", "tracking_url": "https://t.example/4912"}


# -- cancellation ------------------------------------------------------------------------------------

PAID = ("OrderPlaced", "StockReserved", "PaymentCaptured")
CANCEL_TABLE = [
    # (seen, customer's answer, staff's answer): None means allowed, else the refusal's code.
    (("OrderPlaced",), None, None),
    (("OrderPlaced", "StockReserved"), None, None),
    (PAID, None, None),
    ((*PAID, "ShipmentRequested"), None, None),
    ((*PAID, "ShipmentRequested", "ShipmentPacked"), None, None),
    ((*PAID, "ShipmentRequested", "ShipmentPacked", "ShipmentInstructed"), "handed_to_logistics", None),
    ((*PAID, *FULFILLMENT[:4]), "already_shipped", "already_shipped"),
    ((*PAID, *FULFILLMENT), "already_delivered", "already_delivered"),
    # Out of order: the dispatch arrived before the instruction; shipped is shipped.
    ((*PAID, "ShipmentDispatched"), "already_shipped", "already_shipped"),
    (("OrderPlaced", "StockRejected"), "rejected", "rejected"),
    (("OrderPlaced", "StockReserved", "PaymentFailed"), "payment_failed", "payment_failed"),
    (("OrderPlaced", "OrderCancelled"), "already_cancelled", "already_cancelled"),
]


@pytest.mark.parametrize(("seen", "customer", "staff"), CANCEL_TABLE, ids=[" ".join(seen) for seen, _, _ in CANCEL_TABLE])
def test_who_may_cancel_when(seen, customer, staff):
    for by, expected in (("customer", customer), ("staff", staff)):
        for arrival in arrivals(seen):
            refusal = new_order(arrival).cancel_refusal(by)
            assert (refusal.code if refusal else None) == expected, (by, arrival)


def test_no_cancel_while_the_charge_is_out_at_the_gateway():
    order = new_order(("OrderPlaced", "StockReserved"))
    order.charge_started = True

    assert order.cancel_refusal("customer").code == "payment_in_progress"
    assert order.cancel_refusal("staff").code == "payment_in_progress"


def test_cancel_records_who_and_why_and_a_refusal_says_why_not():
    order = new_order(PAID)

    cancellation = order.cancel(by="customer", actor="ada", reason="wrong size", event_id="evt-cancel")

    assert (cancellation.by, cancellation.actor, cancellation.reason, cancellation.event_id) == (
        "customer",
        "ada",
        "wrong size",
        "evt-cancel",
    )
    assert cancellation.same_request("customer", "ada", "wrong size")
    assert not cancellation.same_request("customer", "ada", "another reason")
    assert not cancellation.same_request("staff", "ada", "wrong size")
    shipped = new_order((*PAID, *FULFILLMENT[:4]))
    with pytest.raises(CancelRefused) as refused:
        shipped.cancel(by="staff", actor="sam", reason="too late", event_id="evt-2")
    assert refused.value.code == "already_shipped"
    assert shipped.cancellation is None


def test_a_cancelled_order_is_no_longer_awaiting_payment():
    order = new_order(("OrderPlaced", "OrderCancelled", "StockReserved"))

    assert order.awaiting_payment is False


@pytest.mark.parametrize(
    ("seen", "awaiting"),
    [
        (("OrderPlaced", "StockReserved"), True),
        (("OrderPlaced", "StockReserved", "PaymentCaptured"), False),
        (("OrderPlaced", "StockReserved", "PaymentFailed"), False),
        (("OrderPlaced", "StockReserved", "StockRejected"), False),
        (("OrderPlaced", "StockReserved", "OrderCancelled"), False),
    ],
)
def test_awaiting_payment(seen, awaiting):
    assert new_order(seen).awaiting_payment is awaiting


# -- refunds -----------------------------------------------------------------------------------------


def paid() -> Order:
    return new_order(PAID)


def refund(order: Order, key: str, amount: int | None, **extra: object) -> None:
    started = order.start_refund(key=key, amount=amount, reason="goodwill", initiated_by="staff", **extra)  # type: ignore[arg-type]
    order.complete_refund(key, refund_id=f"re_{key}", amount=started.amount, event_id=f"evt-{key}")


def test_two_partial_refunds_then_an_over_refund_is_refused_naming_what_is_left():
    order = paid()

    refund(order, "a", 1000)
    assert (order.payment_status, order.refunded_amount, order.refundable_amount) == ("partially_refunded", 1000, TOTAL - 1000)
    refund(order, "b", 2000)
    assert (order.payment_status, order.refunded_amount, order.refundable_amount) == ("partially_refunded", 3000, TOTAL - 3000)

    with pytest.raises(RefundNotAllowed) as refused:
        order.start_refund(key="c", amount=TOTAL - 3000 + 1, reason="too much", initiated_by="staff")

    assert (refused.value.code, refused.value.field) == ("exceeds_refundable", "amount")
    assert "2399" in refused.value.message
    assert order.refund("c") is None

    refund(order, "c", TOTAL - 3000)
    assert (order.payment_status, order.refunded_amount, order.refundable_amount, order.fully_refunded) == (
        "refunded",
        TOTAL,
        0,
        True,
    )
    with pytest.raises(RefundNotAllowed) as nothing:
        order.start_refund(key="d", amount=1, reason="more", initiated_by="staff")
    assert nothing.value.code == "nothing_to_refund"


def test_no_amount_refunds_all_that_is_left():
    order = paid()
    refund(order, "a", 399)

    refund(order, "rest", None)

    assert order.refund("rest").amount == TOTAL - 399
    assert order.payment_status == "refunded"


def test_a_refund_in_progress_counts_against_what_is_left_but_not_as_refunded():
    order = paid()

    order.start_refund(key="a", amount=TOTAL - 1, reason="x", initiated_by="staff")

    assert (order.refunded_amount, order.refundable_amount, order.payment_status) == (0, 1, "captured")
    with pytest.raises(RefundNotAllowed):
        order.start_refund(key="b", amount=2, reason="y", initiated_by="staff")


def test_the_same_key_again_is_the_same_refund():
    order = paid()
    first = order.start_refund(key="a", amount=500, reason="x", initiated_by="staff")

    again = order.start_refund(key="a", amount=700, reason="other", initiated_by="staff")

    assert again is first
    assert len(order.refunds) == 1


def test_an_abandoned_refund_is_refundable_again_but_a_done_one_stays():
    order = paid()
    refund(order, "done", 100)
    order.start_refund(key="refused", amount=200, reason="x", initiated_by="staff")

    order.abandon_refund("refused")
    order.abandon_refund("done")

    assert [r.key for r in order.refunds] == ["done"]
    assert order.refundable_amount == TOTAL - 100


def test_the_amount_the_gateway_gave_back_is_what_counts():
    order = paid()
    order.start_refund(key="a", amount=500, reason="x", initiated_by="staff")

    order.complete_refund("a", refund_id="re_1", amount=450, event_id="evt")

    assert order.refunded_amount == 450


@pytest.mark.parametrize(
    ("seen", "code"),
    [
        (("OrderPlaced",), "not_captured"),
        (("OrderPlaced", "StockReserved", "PaymentFailed"), "not_captured"),
        (("OrderPlaced", "OrderCancelled"), "not_captured"),
    ],
)
def test_nothing_captured_nothing_to_refund(seen, code):
    with pytest.raises(RefundNotAllowed) as refused:
        new_order(seen).start_refund(key="a", amount=1, reason="x", initiated_by="staff")

    assert refused.value.code == code


def test_a_free_order_has_nothing_to_refund():
    order = new_order(PAID, lines=[Line("TRAILER", "Trailer", "digital", 1, 0)])

    with pytest.raises(RefundNotAllowed) as refused:
        order.start_refund(key="a", amount=None, reason="x", initiated_by="staff")

    assert refused.value.code == "nothing_to_refund"
    assert order.payment_status == "captured"


def test_skus_must_be_digital_lines_of_the_order():
    order = paid()

    with pytest.raises(RefundNotAllowed) as refused:
        order.start_refund(key="a", amount=100, reason="x", initiated_by="staff", skus=["FILM", "BOX"])
    assert (refused.value.code, refused.value.field) == ("not_a_digital_line", "skus[1]")

    started = order.start_refund(key="b", amount=399, reason="x", initiated_by="staff", skus=["FILM", "FILM"])
    assert started.skus == ["FILM"]


@pytest.mark.parametrize("amount", [0, -5])
def test_a_refund_gives_back_a_positive_amount(amount):
    with pytest.raises(RefundNotAllowed) as refused:
        paid().start_refund(key="a", amount=amount, reason="x", initiated_by="staff")

    assert refused.value.field == "amount"


def test_cancelled_after_capture_then_refunded_is_cancelled_and_refunded():
    order = paid()
    see(order, ["OrderCancelled"])

    refund(order, "cancel", None)

    assert statuses(order) == ("CANCELLED", "refunded", "cancelled")


@pytest.mark.parametrize(
    ("amount", "currency", "text"), [(5399, "USD", "53.99 USD"), (5, "EUR", "0.05 EUR"), (1500, "JPY", "1500 JPY")]
)
def test_money_in_summaries(amount, currency, text):
    assert format_money(amount, currency) == text


# -- checkout: retired products, access, locale, delivery ---------------------------------------------

CATALOG = {
    "BOX": ProductView("BOX", "Blu-ray box", "physical", 2500, "USD", 3, product_type="physical_good"),
    "FILM": ProductView(
        "FILM",
        "Film",
        "digital",
        399,
        "USD",
        2,
        product_type="video_rental",
        access={"product_type": "video_rental", "video_id": "v1"},
    ),
    "OLD": ProductView("OLD", "Old box", "physical", 900, "USD", 9, retired=True),
}


def place(requested: list[tuple[str, int]], **overrides: object) -> Order:
    arguments: dict[str, object] = {
        "order_id": "ord-1",
        "customer_email": "buyer@example.com",
        "requested": requested,
        "catalog": CATALOG,
        "payment_token": "tok_visa",
        "shipping_address": "1 Main St",
        "now": NOW,
    }
    return place_order(**(arguments | overrides))  # type: ignore[arg-type]


def test_a_retired_product_is_refused_naming_its_line_and_sku():
    with pytest.raises(OrderInvalid) as refused:
        place([("BOX", 1), ("OLD", 1)])

    assert (refused.value.field, refused.value.code) == ("lines[1].sku", "product_retired")
    assert "'OLD'" in refused.value.problem


def test_an_unknown_product_is_still_a_bad_request():
    with pytest.raises(OrderInvalid) as refused:
        place([("NOPE", 1)])

    assert (refused.value.field, refused.value.code) == ("lines[0].sku", "invalid_request")


def test_lines_carry_the_access_their_product_gives():
    order = place([("BOX", 1), ("FILM", 1)])

    assert [line.access for line in order.lines] == [None, {"product_type": "video_rental", "video_id": "v1"}]


def test_locale_and_delivery_are_kept():
    order = place([("BOX", 1)], locale="ja", delivery={"date": "2030-05-18", "time_slot": "14-16"})

    assert (order.locale, order.delivery) == ("ja", {"date": "2030-05-18", "time_slot": "14-16"})


@pytest.mark.parametrize(
    ("delivery", "field"),
    [
        ({"date": "2030-02-30", "time_slot": None}, "delivery.date"),
        ({"date": "2030-05-16", "time_slot": None}, "delivery.date"),
    ],
)
def test_a_delivery_date_must_be_a_real_day_not_in_the_past(delivery, field):
    with pytest.raises(OrderInvalid) as refused:
        place([("BOX", 1)], delivery=delivery)

    assert refused.value.field == field


def test_a_delivery_preference_needs_something_to_deliver():
    with pytest.raises(OrderInvalid) as refused:
        place([("FILM", 1)], shipping_address=None, delivery={"date": None, "time_slot": "am"})

    assert refused.value.field == "delivery"


def test_an_empty_delivery_preference_is_none_whatever_the_order_holds():
    assert place([("BOX", 1)], delivery={"date": None, "time_slot": None}).delivery is None
    assert place([("FILM", 1)], shipping_address=None, delivery={"date": None, "time_slot": None}).delivery is None


@pytest.mark.parametrize(
    ("requested", "accept_language", "locale"),
    [
        ("ja", "en-US,en;q=0.9", "ja"),
        (None, "ja-JP,ja;q=0.9,en;q=0.8", "ja"),
        (None, "en-GB", "en"),
        (None, "fr-FR,fr;q=0.9,ja;q=0.5,en;q=0.4", "ja"),
        (None, "en;q=0.2, ja;q=0.8", "ja"),
        (None, "ja;q=0, en", "en"),
        (None, "fr, de", "ja"),
        (None, None, "ja"),
        (None, "", "ja"),
        (None, "ja;q=abc, en;q=0.1", "en"),
    ],
)
def test_the_customers_locale(requested, accept_language, locale):
    assert resolve_locale(requested, accept_language, "ja", ("ja", "en")) == locale
