"""Catalog rules without any I/O: merging an order's lines, deciding a reservation, revising products."""

from __future__ import annotations

import pytest

from chalicelib.domain import Product, Reject, Reserve, decide_reservation, merge_lines


def physical(sku: str, stock: int | None) -> Product:
    return Product(sku=sku, name=f"Box {sku}", kind="physical", price_amount=1200, currency="USD", stock=stock, revision=1)


def digital(sku: str) -> Product:
    return Product(sku=sku, name=f"Film {sku}", kind="digital", price_amount=399, currency="USD", stock=None, revision=1)


# -- merge_lines -----------------------------------------------------------------------------------


def test_merge_lines_sums_quantities_of_a_repeated_sku():
    assert merge_lines([("A", 1), ("B", 2), ("A", 3)]) == {"A": 4, "B": 2}


def test_merge_lines_of_distinct_skus_keeps_each_line():
    assert merge_lines([("A", 1), ("B", 5)]) == {"A": 1, "B": 5}


def test_merge_lines_of_nothing_is_empty():
    assert merge_lines([]) == {}


def test_merge_lines_accepts_any_iterable():
    assert merge_lines(line for line in [("X", 2), ("X", 2)]) == {"X": 4}


# -- decide_reservation ----------------------------------------------------------------------------


def test_unknown_sku_is_rejected_as_unknown_product_with_zero_available():
    decision = decide_reservation({"A": 1, "GHOST": 2}, {"A": physical("A", 10)})

    assert decision == Reject("unknown_product", [("GHOST", 2, 0)])


def test_every_unknown_sku_is_listed_sorted():
    decision = decide_reservation({"Z": 1, "M": 3}, {})

    assert decision == Reject("unknown_product", [("M", 3, 0), ("Z", 1, 0)])


def test_unknown_product_wins_over_out_of_stock():
    decision = decide_reservation({"A": 5, "GHOST": 1}, {"A": physical("A", 1)})

    assert isinstance(decision, Reject)
    assert decision.reason == "unknown_product"
    assert decision.unavailable == [("GHOST", 1, 0)]


def test_short_physical_stock_is_rejected_listing_requested_and_available():
    decision = decide_reservation({"A": 3, "B": 1}, {"A": physical("A", 2), "B": physical("B", 9)})

    assert decision == Reject("out_of_stock", [("A", 3, 2)])


def test_every_short_line_is_listed_sorted_by_sku():
    products = {"B": physical("B", 0), "A": physical("A", 1), "C": physical("C", 10)}

    decision = decide_reservation({"B": 1, "A": 4, "C": 10}, products)

    assert decision == Reject("out_of_stock", [("A", 4, 1), ("B", 1, 0)])


def test_physical_product_without_a_stock_value_counts_as_zero():
    decision = decide_reservation({"A": 1}, {"A": physical("A", None)})

    assert decision == Reject("out_of_stock", [("A", 1, 0)])


def test_digital_lines_need_no_stock_and_reserve_nothing():
    decision = decide_reservation({"FILM": 50}, {"FILM": digital("FILM")})

    assert decision == Reserve({})


def test_mixed_order_reserves_only_its_physical_lines():
    decision = decide_reservation({"FILM": 2, "BOX": 1}, {"FILM": digital("FILM"), "BOX": physical("BOX", 4)})

    assert decision == Reserve({"BOX": 1})


def test_exactly_enough_stock_reserves():
    decision = decide_reservation({"A": 5}, {"A": physical("A", 5)})

    assert decision == Reserve({"A": 5})


def test_one_unit_short_rejects():
    decision = decide_reservation({"A": 6}, {"A": physical("A", 5)})

    assert decision == Reject("out_of_stock", [("A", 6, 5)])


def test_short_physical_line_rejects_even_when_digital_lines_are_fine():
    decision = decide_reservation({"FILM": 1, "BOX": 2}, {"FILM": digital("FILM"), "BOX": physical("BOX", 1)})

    assert decision == Reject("out_of_stock", [("BOX", 2, 1)])


# -- Product.new / revised -------------------------------------------------------------------------


def test_new_physical_product_starts_at_revision_one_with_its_stock():
    product = Product.new("BOX-1", name="Box", kind="physical", price_amount=2500, currency="USD", stock=7)

    assert product == Product("BOX-1", "Box", "physical", 2500, "USD", 7, 1)


def test_new_physical_product_without_stock_has_zero():
    product = Product.new("BOX-1", name="Box", kind="physical", price_amount=2500, currency="USD", stock=None)

    assert product.stock == 0


def test_new_digital_product_has_no_stock():
    product = Product.new("FILM-1", name="Film", kind="digital", price_amount=499, currency="USD", stock=None)

    assert product.stock is None
    assert product.revision == 1


def test_revision_grows_with_every_change():
    first = Product.new("BOX-1", name="Box", kind="physical", price_amount=2500, currency="USD", stock=3)

    second = first.revised(name="Box v2", kind="physical", price_amount=2700, currency="USD", stock=4)
    third = second.revised(name="Box v3", kind="physical", price_amount=2900, currency="EUR", stock=5)

    assert (second.revision, third.revision) == (2, 3)
    assert third == Product("BOX-1", "Box v3", "physical", 2900, "EUR", 5, 3)


def test_revised_keeps_the_sku():
    product = Product.new("BOX-1", name="Box", kind="physical", price_amount=1, currency="USD", stock=1)

    assert product.revised(name="Other", kind="physical", price_amount=1, currency="USD", stock=1).sku == "BOX-1"


def test_revised_physical_keeps_previous_stock_when_none_given():
    product = Product.new("BOX-1", name="Box", kind="physical", price_amount=2500, currency="USD", stock=9)

    revised = product.revised(name="Box", kind="physical", price_amount=2000, currency="USD", stock=None)

    assert revised.stock == 9
    assert revised.price_amount == 2000


def test_revised_physical_takes_a_given_stock_even_zero():
    product = Product.new("BOX-1", name="Box", kind="physical", price_amount=2500, currency="USD", stock=9)

    assert product.revised(name="Box", kind="physical", price_amount=2500, currency="USD", stock=0).stock == 0


def test_revised_to_digital_drops_stock():
    product = Product.new("X", name="X", kind="physical", price_amount=100, currency="USD", stock=9)

    revised = product.revised(name="X", kind="digital", price_amount=100, currency="USD", stock=None)

    assert revised.kind == "digital"
    assert revised.stock is None


def test_revised_from_digital_to_physical_without_stock_starts_at_zero():
    product = Product.new("X", name="X", kind="digital", price_amount=100, currency="USD", stock=None)

    assert product.revised(name="X", kind="physical", price_amount=100, currency="USD", stock=None).stock == 0


def test_product_is_immutable():
    product = Product.new("X", name="X", kind="digital", price_amount=100, currency="USD", stock=None)

    with pytest.raises(AttributeError):
        product.stock = 5  # type: ignore[misc]
