"""The fake CRM (a kintone app) over real HTTP: upsert by a unique key, records in kintone's shape, the
API token, the rate limit, bounded bodies, kintone's error shape, and the outage drill."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

from shop_devstack.crm_kintone import DEFAULT_TOKEN, MAX_BODY_BYTES, FakeCrm, FakeCrmServer

HTTP = urllib3.PoolManager(timeout=urllib3.Timeout(connect=2, read=10), retries=False)


@pytest.fixture
def crm() -> Iterator[FakeCrmServer]:
    with FakeCrmServer(crm=FakeCrm(rate_limit=1000)) as server:
        yield server


def call(server: FakeCrmServer, method: str, path: str, body: Any = None, token: str | None = DEFAULT_TOKEN) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["X-Cybozu-API-Token"] = token
    raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    response = HTTP.request(method, f"{server.url}{path}", body=raw, headers=headers)
    return response.status, json.loads(response.data)


def upsert(order_id: str, **fields: str) -> dict[str, Any]:
    return {
        "app": 1,
        "upsert": True,
        "records": [
            {"updateKey": {"field": "order_id", "value": order_id}, "record": {k: {"value": v} for k, v in fields.items()}}
        ],
    }


def test_upsert_inserts_then_updates_the_one_record_of_its_key(crm):
    first = call(crm, "PUT", "/k/v1/records.json", upsert("ord-1", status="paid", paid_amount="1200"))
    second = call(crm, "PUT", "/k/v1/records.json", upsert("ord-1", status="shipped"))

    assert first == (200, {"records": [{"id": "1", "revision": "1", "operation": "INSERT"}]})
    assert second == (200, {"records": [{"id": "1", "revision": "2", "operation": "UPDATE"}]})
    assert crm.crm.records() == [{"order_id": "ord-1", "status": "shipped", "paid_amount": "1200", "$id": "1", "$revision": "2"}]


def test_get_records_by_query_in_kintones_shape(crm):
    call(crm, "PUT", "/k/v1/records.json", upsert("ord-1", status="paid"))
    call(crm, "PUT", "/k/v1/records.json", upsert("ord-2", status="cancelled"))

    status, body = call(crm, "GET", "/k/v1/records.json?app=1&query=order_id%20%3D%20%22ord-2%22")

    assert status == 200
    assert body == {
        "records": [
            {
                "order_id": {"type": "SINGLE_LINE_TEXT", "value": "ord-2"},
                "status": {"type": "SINGLE_LINE_TEXT", "value": "cancelled"},
                "$id": {"type": "__ID__", "value": "2"},
                "$revision": {"type": "__REVISION__", "value": "1"},
            }
        ],
        "totalCount": None,
    }


def test_the_single_record_endpoint_updates_and_without_upsert_refuses_a_missing_record(crm):
    call(crm, "PUT", "/k/v1/records.json", upsert("ord-1", status="paid"))

    existing = {"app": 1, "updateKey": {"field": "order_id", "value": "ord-1"}, "record": {}}
    updated = call(crm, "PUT", "/k/v1/record.json", existing)
    missing = call(crm, "PUT", "/k/v1/record.json", {"app": 1, "updateKey": {"field": "order_id", "value": "nope"}})

    assert updated == (200, {"revision": "2"})
    assert missing[0] == 404 and missing[1]["code"] == "GAIA_RE01"


@pytest.mark.parametrize(
    ("token", "code"),
    [(None, "CB_AU01"), ("wrong-token", "GAIA_IA02")],
)
def test_the_api_token_is_required(crm, token, code):
    status, body = call(crm, "PUT", "/k/v1/records.json", upsert("ord-1"), token=token)

    assert status == 401
    assert body["code"] == code and body["id"] and body["message"]
    assert crm.crm.records() == []


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (upsert("ord-1", no_such_field="x"), "records[0].record.no_such_field"),
        (upsert("ord-1", paid_amount="twelve"), "records[0].record.paid_amount.value"),
        ({"app": 1, "upsert": True, "records": []}, "records"),
        ({"app": 1, "upsert": True, "records": [{"updateKey": {"field": "status", "value": "x"}}]}, "records[0].updateKey"),
    ],
)
def test_bad_input_is_a_400_in_kintones_shape_naming_the_field(crm, body, where):
    status, answer = call(crm, "PUT", "/k/v1/records.json", body)

    assert status == 400
    assert answer["code"] == "CB_VA01"
    assert list(answer["errors"]) == [where]


def test_a_batch_is_all_or_nothing(crm):
    body = upsert("ord-1", status="paid")
    body["records"].append({"updateKey": {"field": "order_id", "value": "ord-2"}, "record": {"bogus": {"value": "x"}}})

    assert call(crm, "PUT", "/k/v1/records.json", body)[0] == 400
    assert crm.crm.records() == []


def test_another_app_is_forbidden_and_not_json_is_refused(crm):
    assert call(crm, "PUT", "/k/v1/records.json", {**upsert("ord-1"), "app": 2})[1]["code"] == "CB_NO02"
    assert call(crm, "PUT", "/k/v1/records.json", b"{not json")[1]["code"] == "CB_IJ01"


def test_a_body_over_the_limit_is_a_413(crm):
    status, body = call(crm, "PUT", "/k/v1/records.json", b"x" * (MAX_BODY_BYTES + 1))

    assert status == 413
    assert set(body) == {"code", "id", "message"}


def test_an_unknown_path_is_a_json_404(crm):
    status, body = call(crm, "GET", "/k/v1/nothing.json")
    assert status == 404 and "code" in body


def test_beyond_the_rate_limit_requests_get_429():
    with FakeCrmServer(crm=FakeCrm(rate_limit=3)) as server:
        statuses = [call(server, "GET", "/k/v1/records.json?app=1")[0] for _ in range(5)]

    assert statuses[:3] == [200, 200, 200]
    assert statuses[3:] == [429, 429]


def test_an_outage_of_n_requests_then_it_answers_again(crm):
    assert call(crm, "POST", "/admin/outage", {"requests": 2}, token=None)[0] == 200

    statuses = [call(crm, "PUT", "/k/v1/records.json", upsert("ord-1"))[0] for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert len(crm.crm.records()) == 1


def test_an_outage_of_some_seconds_ends_by_itself(crm):
    crm.crm.outage(seconds=0.3)
    assert call(crm, "GET", "/k/v1/records.json?app=1")[0] == 503

    deadline = time.monotonic() + 5
    while call(crm, "GET", "/k/v1/records.json?app=1")[0] != 200:
        assert time.monotonic() < deadline, "the outage did not end"
        time.sleep(0.05)


def test_reset_forgets_records_and_switches(crm):
    call(crm, "PUT", "/k/v1/records.json", upsert("ord-1"))
    crm.crm.outage(requests=5)

    assert call(crm, "POST", "/admin/reset", token=None) == (200, {"status": "reset"})
    assert call(crm, "GET", "/k/v1/records.json?app=1") == (200, {"records": [], "totalCount": None})


def test_bad_outage_switches_are_refused(crm):
    assert call(crm, "POST", "/admin/outage", {"seconds": -1}, token=None)[0] == 400
    assert call(crm, "POST", "/admin/outage", {"requests": True}, token=None)[0] == 400
