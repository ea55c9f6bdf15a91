"""Catalog rules without any I/O: product types, a product's life, stock adjustments, reservations and
what a cancellation undoes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.domain import (
    MAX_STOCK,
    Access,
    Product,
    ProductInvalid,
    Reject,
    Release,
    Reserve,
    StockRefused,
    Tombstone,
    TransitionRefused,
    adjusted_stock,
    checked_access,
    decide_cancellation,
    decide_reservation,
    legacy_product_type,
    merge_lines,
    public_change,
)


def physical(sku: str, stock: int | None, status: str = "published") -> Product:
    return Product(sku, f"Box {sku}", "physical_good", 1200, "USD", stock, 1, status)  # type: ignore[arg-type]


def rental(sku: str) -> Product:
    return Product(sku, f"Film {sku}", "video_rental", 399, "USD", None, 1, "published", Access(video_id="v1", rental_hours=48))


def ticket(sku: str, seats: int, status: str = "published") -> Product:
    return Product(sku, f"Live {sku}", "live_ticket", 3000, "JPY", seats, 1, status, Access(live_show_id="show-1"))  # type: ignore[arg-type]


def draft(product_type: str = "physical_good", access: Access | None = None, stock: int | None = 5) -> Product:
    return Product.draft(
        "SKU-1", name="Thing", product_type=product_type, price_amount=100, currency="USD", access=access, stock=stock
    )  # type: ignore[arg-type]


# -- product types: what each needs ------------------------------------------------------------------


def test_a_physical_good_is_physical_with_stock_and_no_access():
    product = draft("physical_good", stock=7)

    assert (product.kind, product.stock, product.access, product.tracks_stock) == ("physical", 7, None, True)


@pytest.mark.parametrize(
    ("product_type", "access"),
    [
        ("video_rental", Access(video_id="v-1", rental_hours=48)),
        ("video_purchase", Access(video_id="v-1")),
        ("live_ticket", Access(live_show_id="show-1")),
    ],
)
def test_every_digital_type_is_digital(product_type, access):
    assert draft(product_type, access, stock=None if product_type != "live_ticket" else 100).kind == "digital"


def test_a_live_ticket_has_stock_its_capacity():
    product = draft("live_ticket", Access(live_show_id="show-1"), stock=300)

    assert (product.stock, product.tracks_stock, product.availability) == (300, True, "in_stock")


def test_videos_have_no_stock_and_no_availability():
    product = draft("video_purchase", Access(video_id="v-1"), stock=None)

    assert (product.stock, product.tracks_stock, product.availability) == (None, False, None)


def test_a_stock_tracked_type_without_stock_starts_at_zero_and_is_sold_out():
    product = draft("physical_good", stock=None)

    assert (product.stock, product.availability) == (0, "sold_out")


@pytest.mark.parametrize(
    ("product_type", "access", "field"),
    [
        ("video_rental", None, "access.video_id"),
        ("video_rental", Access(video_id="v-1"), "access.rental_hours"),
        ("video_purchase", Access(), "access.video_id"),
        ("video_purchase", Access(video_id="v-1", rental_hours=24), "access.rental_hours"),
        ("video_purchase", Access(video_id="v-1", live_show_id="s"), "access.live_show_id"),
        ("live_ticket", None, "access.live_show_id"),
        ("live_ticket", Access(live_show_id="s", video_id="v"), "access.video_id"),
        ("physical_good", Access(video_id="v-1"), "access"),
    ],
)
def test_access_a_type_needs_or_refuses_is_named(product_type, access, field):
    with pytest.raises(ProductInvalid) as refused:
        checked_access(product_type, access)

    assert refused.value.field == field


@pytest.mark.parametrize("product_type", ["video_rental", "video_purchase"])
def test_stock_on_a_video_is_refused_naming_stock(product_type):
    with pytest.raises(ProductInvalid) as refused:
        draft(product_type, Access(video_id="v", rental_hours=24 if product_type == "video_rental" else None), stock=3)

    assert refused.value.field == "stock"


def test_legacy_products_without_a_type_are_typed_by_kind():
    assert (legacy_product_type("physical", None), legacy_product_type("digital", None)) == ("physical_good", "video_purchase")
    assert legacy_product_type("digital", "live_ticket") == "live_ticket"


# -- a product's life: draft → published ⇄ retired ---------------------------------------------------


def test_a_new_product_is_a_draft_at_revision_one():
    product = draft()

    assert (product.status, product.revision, product.on_sale) == ("draft", 1, False)


def test_publish_retire_and_publish_again_each_grow_the_revision():
    published = draft().published()
    retired = published.retired()
    again = retired.published()

    assert [(p.status, p.revision) for p in (published, retired, again)] == [
        ("published", 2),
        ("retired", 3),
        ("published", 4),
    ]


def test_publishing_a_published_product_is_refused():
    with pytest.raises(TransitionRefused):
        draft().published().published()


def test_a_draft_cannot_be_retired():
    with pytest.raises(TransitionRefused, match="draft"):
        draft().retired()


def test_editing_changes_only_what_is_given_and_grows_the_revision():
    product = draft("video_rental", Access(video_id="v-1", rental_hours=48), stock=None).published()

    edited = product.edited(price=(299, "EUR"))

    assert (edited.name, edited.price_amount, edited.currency, edited.access, edited.revision) == (
        "Thing",
        299,
        "EUR",
        Access(video_id="v-1", rental_hours=48),
        3,
    )
    assert edited.edited(name="New name", access=Access(video_id="v-2", rental_hours=24)).access == Access(
        video_id="v-2", rental_hours=24
    )


def test_edited_access_is_checked_against_the_type():
    product = draft("video_rental", Access(video_id="v-1", rental_hours=48), stock=None)

    with pytest.raises(ProductInvalid) as refused:
        product.edited(access=Access(video_id="v-1"))

    assert refused.value.field == "access.rental_hours"


def test_a_retired_product_is_not_edited():
    with pytest.raises(TransitionRefused, match="retired"):
        draft().published().retired().edited(name="x")


def test_editing_never_touches_the_stock():
    product = draft(stock=9).published()

    assert product.edited(name="x").stock == 9


def test_public_change_says_which_event_a_change_is():
    new = draft()
    published = new.published()
    edited = published.edited(name="x")
    retired = edited.retired()

    assert public_change(None, new) is None  # a draft is nobody's business
    assert public_change(new, new.edited(name="y")) is None
    assert public_change(new, published) == "published"
    assert public_change(published, edited) == "updated"
    assert public_change(edited, retired) == "retired"
    assert public_change(retired, retired.published()) == "published"
    assert public_change(None, replace(new, status="published")) == "published"


def test_product_is_immutable():
    with pytest.raises(AttributeError):
        draft().stock = 5  # type: ignore[misc]


# -- stock adjustments -------------------------------------------------------------------------------


def test_an_adjustment_adds_or_removes_units():
    assert adjusted_stock(physical("A", 5), 3, "received") == 8
    assert adjusted_stock(physical("A", 5), -5, "damaged") == 0


def test_removing_more_than_is_on_hand_is_refused_naming_on_hand():
    with pytest.raises(StockRefused) as refused:
        adjusted_stock(physical("A", 2), -3, "counted")

    assert (refused.value.field, refused.value.conflict) == ("on_hand", True)


def test_more_than_the_maximum_on_hand_is_refused():
    with pytest.raises(StockRefused) as refused:
        adjusted_stock(physical("A", MAX_STOCK), 1, "received")

    assert refused.value.field == "on_hand"


def test_a_video_has_no_stock_to_adjust():
    with pytest.raises(StockRefused) as refused:
        adjusted_stock(rental("R"), 1, "correction")

    assert (refused.value.field, refused.value.conflict) == ("sku", True)


def test_a_zero_delta_is_bad_input():
    with pytest.raises(StockRefused) as refused:
        adjusted_stock(physical("A", 2), 0, "counted")

    assert (refused.value.field, refused.value.conflict) == ("delta", False)


def test_a_live_tickets_capacity_changes_by_capacity_changed_or_correction_only():
    assert adjusted_stock(ticket("T", 10), 50, "capacity_changed") == 60
    assert adjusted_stock(ticket("T", 10), -1, "correction") == 9
    with pytest.raises(StockRefused) as refused:
        adjusted_stock(ticket("T", 10), 5, "received")
    assert (refused.value.field, refused.value.conflict) == ("reason", False)


def test_capacity_changed_is_for_live_tickets_only():
    with pytest.raises(StockRefused) as refused:
        adjusted_stock(physical("A", 1), 1, "capacity_changed")

    assert refused.value.field == "reason"


def test_capacity_cannot_drop_below_the_seats_already_sold():
    """Seats sold are taken off the stock at reservation: what is left is what can be removed."""
    with pytest.raises(StockRefused) as refused:
        adjusted_stock(ticket("T", 3), -4, "capacity_changed")

    assert refused.value.field == "on_hand"


# -- merge_lines -----------------------------------------------------------------------------------


def test_merge_lines_sums_quantities_of_a_repeated_sku():
    assert merge_lines([("A", 1), ("B", 2), ("A", 3)]) == {"A": 4, "B": 2}


def test_merge_lines_of_nothing_is_empty():
    assert merge_lines([]) == {}


def test_merge_lines_accepts_any_iterable():
    assert merge_lines(line for line in [("X", 2), ("X", 2)]) == {"X": 4}


# -- decide_reservation ----------------------------------------------------------------------------


def test_unknown_sku_is_rejected_as_unknown_product_with_zero_available():
    assert decide_reservation({"A": 1, "GHOST": 2}, {"A": physical("A", 10)}) == Reject("unknown_product", [("GHOST", 2, 0)])


def test_every_unknown_sku_is_listed_sorted():
    assert decide_reservation({"Z": 1, "M": 3}, {}) == Reject("unknown_product", [("M", 3, 0), ("Z", 1, 0)])


@pytest.mark.parametrize("status", ["draft", "retired"])
def test_a_product_not_on_sale_is_rejected_as_unknown_product(status):
    products = {"A": physical("A", 10, status), "B": physical("B", 10)}

    assert decide_reservation({"A": 1, "B": 1}, products) == Reject("unknown_product", [("A", 1, 0)])


def test_unknown_product_wins_over_out_of_stock():
    decision = decide_reservation({"A": 5, "GHOST": 1}, {"A": physical("A", 1)})

    assert decision == Reject("unknown_product", [("GHOST", 1, 0)])


def test_short_physical_stock_is_rejected_listing_requested_and_available():
    decision = decide_reservation({"A": 3, "B": 1}, {"A": physical("A", 2), "B": physical("B", 9)})

    assert decision == Reject("out_of_stock", [("A", 3, 2)])


def test_every_short_line_is_listed_sorted_by_sku():
    products = {"B": physical("B", 0), "A": physical("A", 1), "C": physical("C", 10)}

    assert decide_reservation({"B": 1, "A": 4, "C": 10}, products) == Reject("out_of_stock", [("A", 4, 1), ("B", 1, 0)])


def test_physical_product_without_a_stock_value_counts_as_zero():
    assert decide_reservation({"A": 1}, {"A": physical("A", None)}) == Reject("out_of_stock", [("A", 1, 0)])


def test_video_lines_need_no_stock_and_reserve_nothing():
    assert decide_reservation({"FILM": 50}, {"FILM": rental("FILM")}) == Reserve({})


def test_live_ticket_seats_are_reserved_like_physical_units():
    decision = decide_reservation(
        {"FILM": 1, "LIVE": 2, "BOX": 1}, {"FILM": rental("FILM"), "LIVE": ticket("LIVE", 2), "BOX": physical("BOX", 4)}
    )

    assert decision == Reserve({"LIVE": 2, "BOX": 1})


def test_a_sold_out_show_rejects_the_next_ticket():
    assert decide_reservation({"LIVE": 1}, {"LIVE": ticket("LIVE", 0)}) == Reject("out_of_stock", [("LIVE", 1, 0)])


def test_exactly_enough_stock_reserves_and_one_more_rejects():
    assert decide_reservation({"A": 5}, {"A": physical("A", 5)}) == Reserve({"A": 5})
    assert decide_reservation({"A": 6}, {"A": physical("A", 5)}) == Reject("out_of_stock", [("A", 6, 5)])


# -- what a cancellation undoes ----------------------------------------------------------------------


def test_a_cancelled_reserved_order_releases_its_lines():
    assert decide_cancellation("RESERVED", {"A": 2, "LIVE": 1}) == Release({"A": 2, "LIVE": 1})


def test_a_cancellation_before_the_reservation_leaves_a_tombstone():
    assert decide_cancellation(None, {}) == Tombstone()


@pytest.mark.parametrize("status", ["REJECTED", "RELEASED", "CANCELLED"])
def test_nothing_reserved_means_nothing_to_release(status):
    assert decide_cancellation(status, {}) is None
