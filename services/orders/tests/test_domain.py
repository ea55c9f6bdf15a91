"""Orders rules without any I/O: placing an order, its timeline, and the status the timeline implies."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain import (
    ChargeOutcome,
    ChargeRequest,
    Line,
    Order,
    OrderInvalid,
    PaymentCaptured,
    PaymentFailed,
    ProductView,
    place_order,
)

NOW = datetime(2030, 5, 17, 12, 0, tzinfo=UTC)

CATALOG = {
    "BOX": ProductView("BOX", "Blu-ray box", "physical", 2500, "USD", 3),
    "MUG": ProductView("MUG", "Mug", "physical", 800, "USD", 1),
    "FILM": ProductView("FILM", "Film rental", "digital", 399, "USD", 7),
    "ANIME": ProductView("ANIME", "Anime season", "digital", 1500, "JPY", 1),
}


def new_order(timeline_types: tuple[str, ...] = ()) -> Order:
    order = Order(
        order_id="ord-1",
        customer_email="buyer@example.com",
        lines=[Line("BOX", "Blu-ray box", "physical", 1, 2500)],
        currency="USD",
        payment_token="tok_visa",
        shipping_address="1 Main St",
        created_at=NOW.isoformat(),
    )
    for index, event_type in enumerate(timeline_types):
        order.record(f"evt-{index}", event_type, NOW + timedelta(seconds=index), event_type)
    return order


def place(requested: list[tuple[str, int]], shipping_address: str | None = "1 Main St", **overrides: object) -> Order:
    arguments: dict[str, object] = {
        "order_id": "ord-1",
        "customer_email": "buyer@example.com",
        "requested": requested,
        "catalog": CATALOG,
        "payment_token": "tok_visa",
        "shipping_address": shipping_address,
        "now": NOW,
    }
    arguments.update(overrides)
    return place_order(**arguments)  # type: ignore[arg-type]


# -- status from the set of events ----------------------------------------------------------------


def test_a_new_order_is_pending():
    assert new_order().status == "PENDING"
    assert new_order(("OrderPlaced",)).status == "PENDING"


@pytest.mark.parametrize(
    ("seen", "status"),
    [
        (("OrderPlaced", "StockReserved"), "STOCK_RESERVED"),
        (("OrderPlaced", "StockReserved", "PaymentCaptured"), "PAID"),
        (("OrderPlaced", "StockReserved", "PaymentFailed"), "PAYMENT_FAILED"),
        (("OrderPlaced", "StockReserved", "PaymentFailed", "StockReleased"), "PAYMENT_FAILED"),
        (("OrderPlaced", "StockReserved", "PaymentCaptured", "ShipmentRequested"), "SHIPMENT_REQUESTED"),
        (("OrderPlaced", "StockRejected"), "REJECTED"),
    ],
)
def test_status_follows_the_story(seen, status):
    assert new_order(seen).status == status


@pytest.mark.parametrize("arrival", list(itertools.permutations(["StockReserved", "PaymentCaptured", "ShipmentRequested"])))
def test_shipment_requested_whatever_order_the_events_arrive_in(arrival):
    order = new_order()
    for index, event_type in enumerate(arrival):
        order.record(f"evt-{event_type}", event_type, NOW + timedelta(seconds=index), event_type)

    assert order.status == "SHIPMENT_REQUESTED"


@pytest.mark.parametrize("arrival", list(itertools.permutations(["StockReserved", "PaymentCaptured"])))
def test_paid_whatever_order_the_events_arrive_in(arrival):
    order = new_order()
    for index, event_type in enumerate(arrival):
        order.record(f"evt-{event_type}", event_type, NOW + timedelta(seconds=index), event_type)

    assert order.status == "PAID"


@pytest.mark.parametrize(
    "arrival", list(itertools.permutations(["StockRejected", "StockReserved", "PaymentCaptured", "ShipmentRequested"]))
)
def test_stock_rejected_dominates_whatever_else_was_seen(arrival):
    order = new_order()
    for index, event_type in enumerate(arrival):
        order.record(f"evt-{event_type}", event_type, NOW + timedelta(seconds=index), event_type)

    assert order.status == "REJECTED"


def test_payment_failed_dominates_captured_and_shipped():
    assert new_order(("ShipmentRequested", "PaymentCaptured", "PaymentFailed")).status == "PAYMENT_FAILED"


def test_status_does_not_depend_on_the_timestamps():
    order = new_order()
    order.record("late", "StockReserved", NOW, "reserved")
    order.record("early", "PaymentCaptured", NOW - timedelta(days=1), "captured")

    assert order.status == "PAID"


def saved(order: Order) -> Order:
    order.mark_saved()
    return order


def test_a_new_order_s_first_save_is_status_version_1():
    order = new_order(("OrderPlaced",))

    assert (order.saved_status, order.status_version) == (None, 0)
    assert (order.status, order.current_status_version) == ("PENDING", 1)


def test_status_version_grows_by_one_with_each_change_of_status_and_never_otherwise():
    order = saved(new_order(("OrderPlaced",)))
    versions = []
    for index, event_type in enumerate(("StockReserved", "StockReserved", "PaymentCaptured", "ShipmentRequested"), start=1):
        order.record(f"later-{index}", event_type, NOW + timedelta(minutes=index), event_type)
        versions.append((order.status, saved(order).status_version))
    order.note_shipment(shipment_id="shp-1")  # a save that changes no status

    assert versions == [("STOCK_RESERVED", 2), ("STOCK_RESERVED", 2), ("PAID", 3), ("SHIPMENT_REQUESTED", 4)]
    assert order.current_status_version == 4
    assert order.version == 5  # every save counts, status change or not


def test_an_order_saved_twice_in_one_use_case_counts_its_status_changes_from_the_first_save():
    order = new_order(("OrderPlaced",))
    order.version, order.saved_status, order.status_version = 1, "PENDING", 1
    order.record("evt-reserved", "StockReserved", NOW, "stock reserved")
    order.mark_saved()  # the charge step's first save (charge_started)
    order.record("evt-paid", "PaymentCaptured", NOW, "paid")

    assert (order.version, order.status, order.current_status_version) == (2, "PAID", 3)


def test_an_order_saved_before_status_versions_counts_from_its_next_change():
    legacy = new_order(("OrderPlaced", "StockReserved"))
    legacy.saved_status = "STOCK_RESERVED"  # read back from an item without status_version

    assert legacy.current_status_version == 0
    legacy.record("evt-paid", "PaymentCaptured", NOW + timedelta(minutes=5), "paid")
    assert legacy.current_status_version == 1


def test_awaiting_payment_only_while_stock_is_reserved():
    assert new_order(("OrderPlaced",)).awaiting_payment is False
    assert new_order(("OrderPlaced", "StockReserved")).awaiting_payment is True
    assert new_order(("OrderPlaced", "StockReserved", "PaymentCaptured")).awaiting_payment is False
    assert new_order(("OrderPlaced", "StockReserved", "PaymentFailed")).awaiting_payment is False
    assert new_order(("OrderPlaced", "StockRejected")).awaiting_payment is False
    assert new_order(("StockReserved", "StockRejected")).awaiting_payment is False


def test_has_seen():
    order = new_order(("OrderPlaced", "StockReserved"))

    assert order.has_seen("StockReserved")
    assert not order.has_seen("PaymentCaptured")


# -- record ---------------------------------------------------------------------------------------


def test_record_is_idempotent_per_event_id():
    order = new_order()

    assert order.record("evt-a", "StockReserved", NOW, "reserved") is True
    assert order.record("evt-a", "StockReserved", NOW, "reserved") is False
    # Same id, anything else different: still the same event, still ignored.
    assert order.record("evt-a", "PaymentCaptured", NOW + timedelta(hours=1), "other") is False

    assert [(e.event_id, e.event_type, e.summary) for e in order.timeline] == [("evt-a", "StockReserved", "reserved")]


def test_record_keeps_the_timeline_sorted_by_occurred_at():
    order = new_order()

    order.record("c", "ShipmentRequested", NOW + timedelta(seconds=30), "shipped")
    order.record("a", "OrderPlaced", NOW, "placed")
    order.record("b", "StockReserved", NOW + timedelta(seconds=10), "reserved")
    order.record("d", "PaymentCaptured", NOW + timedelta(seconds=20), "paid")

    assert [e.event_id for e in order.timeline] == ["a", "b", "d", "c"]
    assert [e.occurred_at for e in order.timeline] == sorted(e.occurred_at for e in order.timeline)


def test_record_stores_a_datetime_as_iso_text_and_takes_text_as_given():
    order = new_order()

    order.record("a", "OrderPlaced", NOW, "placed")
    order.record("b", "StockReserved", "2030-05-17T12:00:05+00:00", "reserved")

    assert [e.occurred_at for e in order.timeline] == ["2030-05-17T12:00:00+00:00", "2030-05-17T12:00:05+00:00"]


def test_events_at_the_same_instant_are_ordered_by_event_id():
    order = new_order()

    order.record("z", "StockReserved", NOW, "reserved")
    order.record("m", "OrderPlaced", NOW, "placed")

    assert [e.event_id for e in order.timeline] == ["m", "z"]


# -- place_order -----------------------------------------------------------------------------------


def test_place_order_prices_lines_from_the_catalog_view():
    order = place([("BOX", 2), ("FILM", 3)])

    assert order.lines == [Line("BOX", "Blu-ray box", "physical", 2, 2500), Line("FILM", "Film rental", "digital", 3, 399)]
    assert order.total == 2 * 2500 + 3 * 399
    assert order.currency == "USD"
    assert order.status == "PENDING"
    assert order.timeline == []
    assert order.version == 0
    assert order.created_at == NOW.isoformat()
    assert (order.order_id, order.customer_email, order.payment_token, order.shipping_address) == (
        "ord-1",
        "buyer@example.com",
        "tok_visa",
        "1 Main St",
    )


def test_the_same_sku_twice_is_two_priced_lines():
    order = place([("MUG", 1), ("MUG", 2)])

    assert [line.amount for line in order.lines] == [800, 1600]
    assert order.total == 2400


def test_price_comes_from_the_catalog_given_not_from_elsewhere():
    cheaper = {**CATALOG, "BOX": ProductView("BOX", "Blu-ray box", "physical", 100, "USD", 4)}

    order = place([("BOX", 3)], catalog=cheaper)

    assert order.total == 300


def test_jpy_order_total_is_in_yen():
    order = place([("ANIME", 2)], shipping_address=None)

    assert (order.total, order.currency) == (3000, "JPY")


def test_unknown_sku_names_its_line():
    with pytest.raises(OrderInvalid) as raised:
        place([("BOX", 1), ("NOPE", 1)])

    assert raised.value.field == "lines[1].sku"
    assert "NOPE" in raised.value.problem


def test_first_unknown_sku_is_the_one_named():
    with pytest.raises(OrderInvalid) as raised:
        place([("GHOST", 1), ("BOX", 1), ("NOPE", 1)])

    assert raised.value.field == "lines[0].sku"


def test_mixed_currencies_name_the_lines():
    with pytest.raises(OrderInvalid) as raised:
        place([("FILM", 1), ("ANIME", 1)])

    assert raised.value.field == "lines"
    assert "JPY" in raised.value.problem
    assert "USD" in raised.value.problem


@pytest.mark.parametrize("address", [None, "", "   \n"])
def test_physical_goods_need_a_shipping_address(address):
    with pytest.raises(OrderInvalid) as raised:
        place([("FILM", 1), ("BOX", 1)], shipping_address=address)

    assert raised.value.field == "shipping_address"


def test_digital_only_order_needs_no_shipping_address():
    order = place([("FILM", 2)], shipping_address=None)

    assert order.shipping_address is None
    assert order.total == 798


def test_order_invalid_says_field_and_problem():
    error = OrderInvalid("lines[0].sku", "unknown product 'X'")

    assert str(error) == "lines[0].sku: unknown product 'X'"


# -- the payment decision -------------------------------------------------------------------------


def free_order() -> Order:
    order = new_order(("OrderPlaced", "StockReserved"))
    order.lines = [Line("FILM", "Free trailer", "digital", 1, 0)]
    return order


def test_an_order_with_a_price_asks_the_gateway_for_its_total_under_the_orders_own_key():
    order = new_order(("OrderPlaced", "StockReserved"))
    order.lines = [Line("BOX", "Blu-ray box", "physical", 2, 2500), Line("FILM", "Film rental", "digital", 1, 399)]

    assert order.charge_request() == ChargeRequest(
        idempotency_key="order-ord-1", amount=5399, currency="USD", token="tok_visa", description="order ord-1"
    )


def test_a_free_order_asks_for_no_charge():
    assert free_order().charge_request() is None


def test_an_approved_charge_is_captured_with_the_charge_id_as_payment_id():
    order = new_order(("OrderPlaced", "StockReserved"))

    payment = order.settle_payment(ChargeOutcome(approved=True, charge_id="ch_42"))

    assert payment == PaymentCaptured(payment_id="ch_42")
    assert order.payment_id == "ch_42"
    assert payment.summary == "payment captured (ch_42)"


def test_a_declined_charge_fails_with_the_decline_code_as_reason_and_no_payment_id():
    order = new_order(("OrderPlaced", "StockReserved"))

    payment = order.settle_payment(ChargeOutcome(approved=False, decline_code="card_declined"))

    assert payment == PaymentFailed(reason="card_declined")
    assert order.payment_id is None
    assert payment.summary == "payment failed (card_declined)"


def test_a_decline_without_a_code_still_names_a_reason():
    assert new_order().settle_payment(ChargeOutcome(approved=False)) == PaymentFailed(reason="declined")


def test_a_free_order_is_captured_without_a_charge_under_a_free_payment_id():
    order = free_order()

    assert order.settle_payment(None) == PaymentCaptured(payment_id="free-ord-1")
    assert order.payment_id == "free-ord-1"


def test_an_order_with_a_price_cannot_settle_without_a_charge():
    with pytest.raises(ValueError, match="settles only with a charge"):
        new_order(("OrderPlaced", "StockReserved")).settle_payment(None)


@pytest.mark.parametrize(
    ("seen", "awaiting"),
    [
        (("OrderPlaced",), False),
        (("OrderPlaced", "StockReserved"), True),
        (("OrderPlaced", "StockReserved", "PaymentCaptured"), False),
        (("OrderPlaced", "StockReserved", "PaymentFailed"), False),
        (("OrderPlaced", "StockRejected"), False),
    ],
)
def test_only_an_order_with_reserved_stock_and_no_payment_outcome_awaits_payment(seen, awaiting):
    assert new_order(seen).awaiting_payment is awaiting
