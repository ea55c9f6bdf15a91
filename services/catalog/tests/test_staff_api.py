"""The staff's catalog API (/staff/products...) and the storefront's list, over chalice's test client
against a real (in-process) moto server: drafts, changes with If-Match, publishing and retiring, stock
adjustments with an Idempotency-Key, who may call what, and the events each change commits."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest

from shop_contracts.consumer_contracts import committed_schema, schema_errors
from shop_devstack.testing import bearer

JSON = {"Content-Type": "application/json"}


class Staff:
    """The API as sam (staff) calls it."""

    def __init__(self, client: Any, aws: Any) -> None:
        self.http = client.http
        self.aws = aws

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        raw = "" if body is None else body if isinstance(body, str) else json.dumps(body)
        return self.http.request(method, path, headers={**JSON, **(headers or {})}, body=raw)

    def create(self, **fields: Any) -> Any:
        return self.call("POST", "/staff/products", product(**fields))

    def created(self, **fields: Any) -> dict[str, Any]:
        response = self.create(**fields)
        assert response.status_code == 201, response.body
        return dict(json.loads(response.body))

    def get(self, sku: str) -> dict[str, Any]:
        response = self.call("GET", f"/staff/products/{sku}")
        assert response.status_code == 200, response.body
        return dict(json.loads(response.body))

    def patch(self, sku: str, body: Any, revision: int | str | None) -> Any:
        headers = {"If-Match": f'"{revision}"' if isinstance(revision, int) else revision} if revision is not None else {}
        return self.call("PATCH", f"/staff/products/{sku}", body, headers)

    def publish(self, sku: str, revision: int | None = None) -> Any:
        return self.call("POST", f"/staff/products/{sku}/publish", headers={"If-Match": str(revision)} if revision else None)

    def retire(self, sku: str, revision: int | None = None) -> Any:
        return self.call("POST", f"/staff/products/{sku}/retire", headers={"If-Match": str(revision)} if revision else None)

    def adjust(self, sku: str, delta: int, reason: str = "received", *, key: str | None = None, note: str | None = None) -> Any:
        body: dict[str, Any] = {"delta": delta, "reason": reason} | ({"note": note} if note is not None else {})
        return self.call("POST", f"/staff/products/{sku}/stock-adjustments", body, {"Idempotency-Key": key or uuid.uuid4().hex})

    def events(self, sku: str) -> list[dict[str, Any]]:
        return self.aws.outbox(correlation_id=f"product:{sku}")


def new_sku() -> str:
    return f"SKU-{uuid.uuid4().hex[:12].upper()}"


def product(product_type: str = "physical_good", **fields: Any) -> dict[str, Any]:
    """A valid draft body of the type; `fields` override (None removes a field)."""
    body: dict[str, Any] = {
        "sku": new_sku(),
        "name": f"A {product_type}",
        "product_type": product_type,
        "price": {"amount": 1500, "currency": "JPY"},
    }
    body |= {
        "physical_good": {"stock": 10},
        "video_rental": {"access": {"video_id": "vid-1", "rental_hours": 48}},
        "video_purchase": {"access": {"video_id": "vid-1"}},
        "live_ticket": {"access": {"live_show_id": "show-1"}, "stock": 100},
    }.get(product_type, {})
    body |= fields
    return {k: v for k, v in body.items() if v is not None}


def error_of(response: Any) -> dict[str, Any]:
    assert response.headers["Content-Type"] == "application/json"
    body = json.loads(response.body)
    assert set(body) == {"error"}
    return dict(body["error"])


def field_names(response: Any) -> list[str]:
    return [f["field"] for f in error_of(response).get("fields", [])]


def assert_matches_committed_schema(item: dict[str, Any]) -> None:
    detail = item["detail"]
    metadata = detail["metadata"]
    assert schema_errors(committed_schema(metadata["event_type"], metadata["schema_version"]), detail) == []


@pytest.fixture
def staff(client: Any, aws: Any) -> Staff:
    return Staff(client, aws)


# -- drafts --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("product_type", ["physical_good", "video_rental", "video_purchase", "live_ticket"])
def test_a_new_product_is_a_draft_nobody_else_sees_and_no_event_announces(staff, product_type):
    response = staff.create(**product(product_type))

    assert response.status_code == 201
    body = json.loads(response.body)
    assert (body["status"], body["revision"], body["product_type"]) == ("draft", 1, product_type)
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == f"/staff/products/{body['sku']}"
    assert staff.get(body["sku"]) == body
    assert staff.http.anonymous.get(f"/products/{body['sku']}").status_code == 404
    assert staff.events(body["sku"]) == []


def test_a_draft_carries_its_type_kind_access_and_stock(staff):
    rental = staff.created(**product("video_rental"))
    ticket = staff.created(**product("live_ticket", stock=250))

    assert (rental["kind"], rental["access"], rental["stock"], rental["availability"]) == (
        "digital",
        {"video_id": "vid-1", "live_show_id": None, "rental_hours": 48},
        None,
        None,
    )
    assert (ticket["kind"], ticket["access"]["live_show_id"], ticket["stock"], ticket["availability"]) == (
        "digital",
        "show-1",
        250,
        "in_stock",
    )


def test_a_sku_that_exists_is_a_409_naming_sku(staff):
    body = product()
    staff.call("POST", "/staff/products", body)

    again = staff.call("POST", "/staff/products", {**body, "name": "Other"})

    assert again.status_code == 409
    assert (error_of(again)["code"], field_names(again)) == ("product_exists", ["sku"])
    assert staff.get(body["sku"])["name"] == body["name"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(product("video_rental", access={"video_id": "v"}), "access.rental_hours", id="rental-without-hours"),
        pytest.param(product("video_rental", access=None), "access.video_id", id="rental-without-access"),
        pytest.param(product("video_purchase", access={"rental_hours": 3}), "access.video_id", id="purchase-without-video"),
        pytest.param(product("live_ticket", access={"video_id": "v"}), "access.live_show_id", id="ticket-without-show"),
        pytest.param(product("physical_good", access={"video_id": "v"}), "access", id="physical-with-access"),
        pytest.param(product("video_purchase", stock=3), "stock", id="video-with-stock"),
        pytest.param(product(product_type="vinyl"), "product_type", id="unknown-type"),
        pytest.param(product(stock=-1), "stock", id="negative-stock"),
        pytest.param(product(sku="-BAD"), "sku", id="bad-sku"),
        pytest.param(product(name=""), "name", id="empty-name"),
        pytest.param(product(price={"amount": 1.5, "currency": "JPY"}), "price.amount", id="fractional-price"),
        pytest.param(
            product("video_rental", access={"video_id": "v", "rental_hours": 0}), "access.rental_hours", id="zero-hours"
        ),
        pytest.param({**product(), "colour": "red"}, "colour", id="unknown-field"),
    ],
)
def test_a_bad_draft_is_a_400_naming_the_field_and_stores_nothing(staff, body, field):
    response = staff.call("POST", "/staff/products", body)

    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_request"
    assert field in field_names(response)
    if isinstance(body.get("sku"), str):
        assert staff.call("GET", f"/staff/products/{body['sku']}").status_code in (400, 404)  # a SKU no product may have: 400


# -- publish, update, retire: the product's life and its events --------------------------------------------


def test_publishing_puts_a_draft_on_sale_with_product_published(staff):
    draft = staff.created(**product("video_rental"))
    sku = draft["sku"]

    response = staff.publish(sku, revision=1)

    assert response.status_code == 200
    assert (json.loads(response.body)["status"], json.loads(response.body)["revision"]) == ("published", 2)
    [published] = staff.events(sku)
    assert published["event_type"] == "ProductPublished"
    assert published["detail"]["data"] == {
        "sku": sku,
        "name": "A video_rental",
        "kind": "digital",
        "product_type": "video_rental",
        "price": {"amount": 1500, "currency": "JPY"},
        "access": {"product_type": "video_rental", "video_id": "vid-1", "live_show_id": None, "rental_hours": 48},
        "revision": 2,
    }
    assert_matches_committed_schema(published)
    public = json.loads(staff.http.anonymous.get(f"/products/{sku}").body)
    assert (public["name"], public["availability"]) == ("A video_rental", None)


def test_publishing_twice_changes_nothing_the_second_time(staff):
    sku = staff.created()["sku"]
    staff.publish(sku)

    again = staff.publish(sku)

    assert again.status_code == 200
    assert json.loads(again.body)["revision"] == 2
    assert [e["event_type"] for e in staff.events(sku)] == ["ProductPublished"]


def test_updating_a_published_product_needs_if_match_and_publishes_product_updated(staff):
    sku = staff.created(**product("live_ticket"))["sku"]
    staff.publish(sku)

    response = staff.patch(sku, {"price": {"amount": 4000, "currency": "JPY"}, "access": {"live_show_id": "show-2"}}, 2)

    assert response.status_code == 200
    body = json.loads(response.body)
    assert (body["revision"], body["price"]["amount"], body["access"]["live_show_id"], body["stock"]) == (3, 4000, "show-2", 100)
    assert response.headers["ETag"] == '"3"'
    _, updated = staff.events(sku)
    assert updated["event_type"] == "ProductUpdated"
    assert updated["detail"]["data"] == {
        "sku": sku,
        "name": "A live_ticket",
        "kind": "digital",
        "product_type": "live_ticket",
        "price": {"amount": 4000, "currency": "JPY"},
        "access": {"product_type": "live_ticket", "video_id": None, "live_show_id": "show-2", "rental_hours": None},
        "revision": 3,
    }
    assert_matches_committed_schema(updated)


def test_updating_a_draft_publishes_nothing(staff):
    sku = staff.created()["sku"]

    response = staff.patch(sku, {"name": "Renamed"}, 1)

    assert response.status_code == 200
    assert (json.loads(response.body)["name"], json.loads(response.body)["revision"]) == ("Renamed", 2)
    assert staff.events(sku) == []


@pytest.mark.parametrize("stale", ['"1"', "1", 'W/"1"'])
def test_a_stale_revision_is_a_409_and_changes_nothing(staff, stale):
    sku = staff.created()["sku"]
    staff.patch(sku, {"name": "First change"}, 1)  # someone else's change: revision 2

    response = staff.patch(sku, {"name": "Lost update"}, stale)

    assert response.status_code == 409
    assert (error_of(response)["code"], field_names(response)) == ("stale_revision", ["If-Match"])
    assert "revision 2" in error_of(response)["message"]
    assert (staff.get(sku)["name"], staff.get(sku)["revision"]) == ("First change", 2)


def test_two_changes_from_the_same_revision_one_wins_the_other_is_a_409(staff, catalog_app, monkeypatch):
    """Both read revision 1; the conditional write lets exactly one of them through."""
    sku = staff.created()["sku"]
    stale = catalog_app.repository.product(sku)
    staff.patch(sku, {"name": "Winner"}, 1)
    # The loser read the product before the winner's change landed.
    monkeypatch.setattr(catalog_app.repository, "product", lambda _sku: stale)

    response = staff.patch(sku, {"name": "Loser"}, 1)

    monkeypatch.undo()
    assert response.status_code == 409
    assert error_of(response)["code"] == "stale_revision"
    assert staff.get(sku)["name"] == "Winner"


@pytest.mark.parametrize(
    ("headers", "body", "field"),
    [
        pytest.param({}, {"name": "x"}, "If-Match", id="no-if-match"),
        pytest.param({"If-Match": "*"}, {"name": "x"}, "If-Match", id="star"),
        pytest.param({"If-Match": '"abc"'}, {"name": "x"}, "If-Match", id="not-a-revision"),
        pytest.param({"If-Match": '"1"'}, {}, "(body)", id="nothing-to-change"),
        pytest.param({"If-Match": '"1"'}, {"stock": 5}, "stock", id="stock-is-adjusted-not-set"),
        pytest.param({"If-Match": '"1"'}, {"product_type": "live_ticket"}, "product_type", id="type-is-fixed"),
        pytest.param({"If-Match": '"1"'}, {"access": {"video_id": "v"}}, "access", id="access-on-a-physical-good"),
    ],
)
def test_a_bad_update_is_a_400_naming_the_problem(staff, headers, body, field):
    sku = staff.created()["sku"]

    response = staff.call("PATCH", f"/staff/products/{sku}", body, headers)

    assert response.status_code == 400
    assert field in field_names(response)
    assert staff.get(sku)["revision"] == 1


def test_retiring_withdraws_from_sale_with_product_retired_and_refuses_changes(staff):
    sku = staff.created()["sku"]
    staff.publish(sku)

    response = staff.retire(sku, revision=2)

    assert response.status_code == 200
    assert (json.loads(response.body)["status"], json.loads(response.body)["revision"]) == ("retired", 3)
    retired = staff.events(sku)[-1]
    assert (retired["event_type"], retired["detail"]["data"]) == ("ProductRetired", {"sku": sku, "revision": 3})
    assert_matches_committed_schema(retired)
    assert staff.http.anonymous.get(f"/products/{sku}").status_code == 404
    refused = staff.patch(sku, {"name": "x"}, 3)
    assert (refused.status_code, error_of(refused)["code"]) == (409, "status_conflict")
    assert "retired" in error_of(refused)["message"]


def test_a_retired_product_can_be_published_again_with_a_higher_revision(staff):
    sku = staff.created()["sku"]
    staff.publish(sku)
    staff.retire(sku)

    response = staff.publish(sku)

    assert (response.status_code, json.loads(response.body)["revision"]) == (200, 4)
    assert [(e["event_type"], e["detail"]["data"]["revision"]) for e in staff.events(sku)] == [
        ("ProductPublished", 2),
        ("ProductRetired", 3),
        ("ProductPublished", 4),
    ]


def test_a_draft_cannot_be_retired(staff):
    sku = staff.created()["sku"]

    response = staff.retire(sku)

    assert (response.status_code, error_of(response)["code"]) == (409, "status_conflict")
    assert staff.get(sku)["status"] == "draft"


def test_retiring_twice_changes_nothing_the_second_time(staff):
    sku = staff.created()["sku"]
    staff.publish(sku)
    staff.retire(sku)

    assert staff.retire(sku).status_code == 200
    assert [e["event_type"] for e in staff.events(sku)] == ["ProductPublished", "ProductRetired"]


def test_a_stale_if_match_on_publish_is_a_409(staff):
    sku = staff.created()["sku"]
    staff.patch(sku, {"name": "x"}, 1)

    response = staff.publish(sku, revision=1)

    assert (response.status_code, error_of(response)["code"]) == (409, "stale_revision")
    assert staff.get(sku)["status"] == "draft"


def test_the_legacy_put_refuses_a_retired_product_and_a_change_of_type(staff, put_product):
    sku = new_sku()
    body = {"name": "Mug", "kind": "physical", "price": {"amount": 900, "currency": "USD"}, "stock": 5}
    put_product(sku, body)

    changed_type = put_product(sku, {**body, "kind": "digital", "stock": None})
    staff.retire(sku)
    retired = put_product(sku, body)

    assert (changed_type.status_code, field_names(changed_type)) == (409, ["product_type"])
    assert (retired.status_code, error_of(retired)["code"]) == (409, "status_conflict")


def test_the_legacy_put_without_a_type_keeps_the_products_type(staff, put_product):
    sku = staff.created(**product("video_rental"))["sku"]

    response = put_product(sku, {"name": "Rent it", "kind": "digital", "price": {"amount": 299, "currency": "JPY"}})

    assert response.status_code == 200
    body = json.loads(response.body)
    assert (body["product_type"], body["access"]["video_id"], body["status"]) == ("video_rental", "vid-1", "published")


def test_the_legacy_put_publishes_a_draft(staff, put_product):
    sku = staff.created()["sku"]

    response = put_product(sku, {"name": "Now on sale", "kind": "physical", "price": {"amount": 900, "currency": "USD"}})

    assert (response.status_code, json.loads(response.body)["status"], json.loads(response.body)["stock"]) == (
        200,
        "published",
        10,
    )
    assert [e["event_type"] for e in staff.events(sku)] == ["ProductPublished"]


def test_unknown_products_are_404s(staff):
    sku = new_sku()

    assert staff.call("GET", f"/staff/products/{sku}").status_code == 404
    assert staff.patch(sku, {"name": "x"}, 1).status_code == 404
    assert staff.publish(sku).status_code == 404
    assert staff.retire(sku).status_code == 404
    assert staff.adjust(sku, 1).status_code == 404


# -- stock adjustments ---------------------------------------------------------------------------------


def test_an_adjustment_changes_the_stock_and_publishes_stock_adjusted(staff):
    sku = staff.created(stock=10)["sku"]

    response = staff.adjust(sku, 5, "received", key="delivery-42", note="pallet 7")

    assert response.status_code == 201
    body = json.loads(response.body)
    assert {k: body[k] for k in ("sku", "idempotency_key", "delta", "reason", "note", "on_hand")} == {
        "sku": sku,
        "idempotency_key": "delivery-42",
        "delta": 5,
        "reason": "received",
        "note": "pallet 7",
        "on_hand": 15,
    }
    assert body["adjusted_by"]
    assert staff.get(sku)["stock"] == 15
    [adjusted] = staff.events(sku)
    assert adjusted["event_type"] == "StockAdjusted"
    assert adjusted["detail"]["data"] == {
        "sku": sku,
        "delta": 5,
        "on_hand": 15,
        "reason": "received",
        "note": "pallet 7",
        "adjusted_by": body["adjusted_by"],
    }
    assert_matches_committed_schema(adjusted)


def test_a_retried_adjustment_is_applied_once_and_answered_again(staff):
    sku = staff.created(stock=10)["sku"]
    first = staff.adjust(sku, -3, "damaged", key="count-1")

    again = staff.adjust(sku, -3, "damaged", key="count-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert json.loads(again.body) == json.loads(first.body)
    assert staff.get(sku)["stock"] == 7
    assert len(staff.events(sku)) == 1


def test_the_same_key_with_another_adjustment_is_a_422(staff):
    sku = staff.created(stock=10)["sku"]
    staff.adjust(sku, 2, key="k-1")

    response = staff.adjust(sku, 3, key="k-1")

    assert (response.status_code, error_of(response)["code"], field_names(response)) == (
        422,
        "idempotency_key_reused",
        ["Idempotency-Key"],
    )
    assert staff.get(sku)["stock"] == 12


def test_removing_more_than_is_on_hand_is_a_409_naming_on_hand(staff):
    sku = staff.created(stock=2)["sku"]

    response = staff.adjust(sku, -3, "counted")

    assert (response.status_code, error_of(response)["code"], field_names(response)) == (409, "insufficient_stock", ["on_hand"])
    assert staff.get(sku)["stock"] == 2
    assert staff.events(sku) == []


def test_a_live_tickets_capacity_changes_with_capacity_changed(staff):
    sku = staff.created(**product("live_ticket", stock=100))["sku"]

    grown = staff.adjust(sku, 50, "capacity_changed")
    refused = staff.adjust(sku, 10, "received")

    assert (grown.status_code, json.loads(grown.body)["on_hand"]) == (201, 150)
    assert (refused.status_code, field_names(refused)) == (400, ["reason"])
    assert staff.get(sku)["stock"] == 150


def test_a_video_has_no_stock_to_adjust(staff):
    sku = staff.created(**product("video_purchase"))["sku"]

    response = staff.adjust(sku, 1, "correction")

    assert (response.status_code, error_of(response)["code"], field_names(response)) == (409, "no_stock", ["sku"])


@pytest.mark.parametrize(
    ("body", "headers", "field"),
    [
        pytest.param({"delta": 0, "reason": "counted"}, None, "delta", id="zero"),
        pytest.param({"delta": "5", "reason": "counted"}, None, "delta", id="string"),
        pytest.param({"delta": 5, "reason": "stolen"}, None, "reason", id="unknown-reason"),
        pytest.param({"delta": 5}, None, "reason", id="no-reason"),
        pytest.param({"delta": 5, "reason": "counted", "note": "x" * 501}, None, "note", id="long-note"),
        pytest.param({"delta": 5, "reason": "counted"}, {}, "Idempotency-Key", id="no-key"),
    ],
)
def test_a_bad_adjustment_is_a_400_naming_the_field(staff, body, headers, field):
    sku = staff.created(stock=5)["sku"]
    headers = {"Idempotency-Key": uuid.uuid4().hex} if headers is None else headers

    response = staff.call("POST", f"/staff/products/{sku}/stock-adjustments", body, headers)

    assert response.status_code == 400
    assert field in field_names(response)
    assert staff.get(sku)["stock"] == 5


def test_concurrent_adjustments_are_each_applied_once(staff, catalog_app):
    """Staff adjusting the same product at once: each adjustment lands exactly once, none is lost, and
    every StockAdjusted says the units on hand right after it."""
    from chalicelib import usecases

    sku = staff.created(stock=100)["sku"]
    deltas = [5, -3, 7, -1, 2, 4, -6, 1]
    start = threading.Barrier(len(deltas))
    errors: list[BaseException] = []

    def adjust(delta: int) -> None:
        start.wait()
        try:
            command = usecases.AdjustStock(sku, f"key-{delta}", delta, "counted", None, "sam")
            usecases.adjust_stock(command, catalog_app.repository, catalog_app.unit_of_work)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=adjust, args=(delta,)) for delta in deltas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert staff.get(sku)["stock"] == 100 + sum(deltas)
    events = staff.events(sku)
    assert sorted(e["detail"]["data"]["delta"] for e in events) == sorted(deltas)
    # The adjustments were serialised, none overwrote another: they chain from 100, each on_hand the next's start.
    steps = [(e["detail"]["data"]["on_hand"] - e["detail"]["data"]["delta"], e["detail"]["data"]["on_hand"]) for e in events]
    assert chains(100, steps)


def chains(start: int, steps: list[tuple[int, int]]) -> bool:
    """Whether every (before, after) step can be taken once, in some order, starting from `start`."""
    if not steps:
        return True
    return any(before == start and chains(after, steps[:i] + steps[i + 1 :]) for i, (before, after) in enumerate(steps))


# -- lists ---------------------------------------------------------------------------------------------


def test_staff_list_filters_by_status_and_type_and_pages(staff):
    marker = uuid.uuid4().hex[:6].upper()
    skus = [f"LIST-{marker}-{i}" for i in range(5)]
    for i, sku in enumerate(skus):
        staff.created(**product("live_ticket" if i % 2 else "physical_good", sku=sku))
    for sku in skus[:3]:
        staff.publish(sku)

    def listed(query: str) -> list[str]:
        found, cursor = [], None
        while True:
            page = json.loads(
                staff.call("GET", f"/staff/products?{query}&limit=2" + (f"&cursor={cursor}" if cursor else "")).body
            )
            found += [p["sku"] for p in page["products"] if p["sku"].startswith(f"LIST-{marker}")]
            assert len(page["products"]) <= 2
            cursor = page["next_cursor"]
            if cursor is None:
                return found

    assert listed("status=published") == skus[:3]
    assert listed("status=draft") == skus[3:]
    assert listed("type=live_ticket") == [skus[1], skus[3]]
    assert listed("status=published&type=physical_good") == [skus[0], skus[2]]


def test_the_storefront_lists_only_what_is_on_sale_without_counts(staff):
    on_sale = staff.created(**product("live_ticket", stock=0))["sku"]
    staff.publish(on_sale)
    draft = staff.created(**product("live_ticket"))["sku"]

    found: dict[str, Any] = {}
    cursor = None
    while True:
        query = "type=live_ticket&limit=50" + (f"&cursor={cursor}" if cursor else "")
        page = json.loads(staff.http.anonymous.get(f"/products?{query}").body)
        found |= {p["sku"]: p for p in page["products"]}
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert draft not in found
    assert found[on_sale]["availability"] == "sold_out"
    assert "stock" not in found[on_sale]
    assert all(p["product_type"] == "live_ticket" for p in found.values())


@pytest.mark.parametrize(
    ("query", "field"),
    [("status=gone", "status"), ("type=vinyl", "type"), ("limit=0", "limit"), ("limit=x", "limit"), ("cursor=!!", "cursor")],
)
def test_a_bad_list_query_is_a_400_naming_the_parameter(staff, query, field):
    response = staff.call("GET", f"/staff/products?{query}")

    assert response.status_code == 400
    assert field in field_names(response)


def test_a_cursor_not_from_this_api_is_a_400(staff):
    response = staff.http.anonymous.get("/products?cursor=AAAA")

    assert (response.status_code, field_names(response)) == (400, ["cursor"])


# -- who may call --------------------------------------------------------------------------------------

STAFF_ROUTES = [
    ("POST", "/staff/products"),
    ("GET", "/staff/products"),
    ("GET", "/staff/products/ANY-1"),
    ("PATCH", "/staff/products/ANY-1"),
    ("POST", "/staff/products/ANY-1/publish"),
    ("POST", "/staff/products/ANY-1/retire"),
    ("POST", "/staff/products/ANY-1/stock-adjustments"),
]


@pytest.mark.parametrize(("method", "path"), STAFF_ROUTES)
def test_a_customer_is_403_and_no_token_401_on_every_staff_route(client, issuer, method, path):
    as_customer = client.http.anonymous.request(method, path, headers={**JSON, **bearer(issuer, "ada")}, body="{}")
    anonymous = client.http.anonymous.request(method, path, headers=JSON, body="{}")

    assert (as_customer.status_code, error_of(as_customer)["code"]) == (403, "forbidden")
    assert (anonymous.status_code, error_of(anonymous)["code"]) == (401, "unauthorized")
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer ")


def test_the_warehouse_does_not_keep_the_catalog(client, issuer):
    response = client.http.anonymous.request("GET", "/staff/products", headers=bearer(issuer, "wes"))

    assert response.status_code == 403


def test_the_storefront_is_public(client):
    assert client.http.anonymous.get("/products").status_code == 200
