"""Fulfillment end to end: a paid physical order from the picking list to the customer's door through
the fake 3PL (shop_devstack.logistics_3pl, its own process), its faults, its signed tracking webhook, and
the day's Yamato B2 CSV for a carrier without an API."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest

from shop_devstack.testing import eventually
from tests.fulfillment_e2e import Fulfillment


@pytest.fixture
def fulfillment(shop: Any) -> Iterator[Fulfillment]:
    helper = Fulfillment(shop)
    yield helper
    helper.faults(fail_next=0, timeout_next=0, rate_limit_next=0)


def instructed(fulfillment: Fulfillment) -> tuple[str, dict[str, Any]]:
    order_id = fulfillment.paid_physical_order()
    fulfillment.pick_and_pack(order_id)
    return order_id, fulfillment.shipment_reaches(order_id, "INSTRUCTED")


def test_a_paid_order_goes_from_the_picking_list_to_delivered(fulfillment):
    order_id = fulfillment.paid_physical_order(quantity=2)
    picking = fulfillment.call("GET", "/picking-list?limit=100")
    assert order_id in [s["order_id"] for s in picking.body["shipments"]]

    packed = fulfillment.pick_and_pack(order_id)
    shipment = fulfillment.shipment_reaches(order_id, "INSTRUCTED")

    [at_3pl] = fulfillment.at_3pl(packed["shipment_id"])
    assert (at_3pl["id"], at_3pl["order_no"], at_3pl["status"]) == (shipment["logistics_shipment_id"], order_id, "waiting")
    assert (at_3pl["recipient"]["prefecture"], at_3pl["recipient"]["postcode"], at_3pl["recipient"]["phone"]) == (
        "東京都",
        "100-0001",
        "03-1234-5678",
    )
    [instruction] = fulfillment.published(order_id, "ShipmentInstructed")
    assert (instruction["data"]["logistics_shipment_id"], instruction["data"]["carrier"]) == (at_3pl["id"], "yamato")

    for status in ("picking", "packed", "shipped"):
        [sent] = fulfillment.advance(at_3pl["id"], status)
        assert (sent["status"], sent["answer"]) == (200, {"outcome": "applied"})
    shipped = fulfillment.shipment_reaches(order_id, "DISPATCHED")
    [dispatched] = fulfillment.published(order_id, "ShipmentDispatched")
    tracking = fulfillment.at_3pl(packed["shipment_id"])[0]["tracking_codes"][0]
    assert (dispatched["data"]["tracking_number"], shipped["tracking_number"]) == (tracking, tracking)
    assert dispatched["data"]["tracking_url"].endswith(f"id={tracking}")
    assert dispatched["data"]["customer_email"].endswith("@example.com")

    fulfillment.advance(at_3pl["id"], "delivered")
    fulfillment.shipment_reaches(order_id, "DELIVERED")
    assert len(fulfillment.published(order_id, "ShipmentDelivered")) == 1


def test_the_3pl_failing_with_5xx_is_retried_until_it_accepts_once(fulfillment):
    order_id = fulfillment.paid_physical_order()
    fulfillment.faults(fail_next=2, fail_status=503)

    packed = fulfillment.pick_and_pack(order_id)

    fulfillment.shipment_reaches(order_id, "INSTRUCTED")
    assert len(fulfillment.at_3pl(packed["shipment_id"])) == 1
    assert len(fulfillment.published(order_id, "ShipmentInstructed")) == 1
    assert eventually(lambda: fulfillment.retries_logged(order_id, "ShipmentPacked"), what="the failed tries in the log") >= 1


def test_the_3pl_rate_limiting_is_retried_by_sqs(fulfillment):
    order_id = fulfillment.paid_physical_order()
    fulfillment.faults(rate_limit_next=1, retry_after=1)

    packed = fulfillment.pick_and_pack(order_id)

    fulfillment.shipment_reaches(order_id, "INSTRUCTED")
    assert len(fulfillment.at_3pl(packed["shipment_id"])) == 1
    assert fulfillment.retries_logged(order_id, "ShipmentPacked") >= 1


def test_an_answer_lost_to_a_timeout_does_not_make_a_second_3pl_shipment(fulfillment):
    order_id = fulfillment.paid_physical_order()
    fulfillment.faults(timeout_next=1, timeout_seconds=3)

    packed = fulfillment.pick_and_pack(order_id)

    fulfillment.shipment_reaches(order_id, "INSTRUCTED")
    assert len(fulfillment.at_3pl(packed["shipment_id"])) == 1


def test_a_duplicate_notification_is_ignored_and_a_forged_one_refused(fulfillment):
    order_id, shipment = instructed(fulfillment)

    first, duplicate = fulfillment.advance(shipment["logistics_shipment_id"], "shipped", duplicate=True)
    forged = fulfillment.notify(shipment["logistics_shipment_id"], "delivered", forge=True)

    assert (first["status"], first["answer"]) == (200, {"outcome": "applied"})
    assert (duplicate["status"], duplicate["answer"]) == (200, {"outcome": "ignored"})
    assert (forged["status"], forged["answer"]["error"]["code"]) == (401, "invalid_signature")
    assert fulfillment.shipment(order_id)["status"] == "DISPATCHED"
    assert len(fulfillment.published(order_id, "ShipmentDispatched")) == 1
    assert fulfillment.published(order_id, "ShipmentDelivered") == []


def test_a_late_shipped_notification_after_delivered_does_nothing(fulfillment):
    order_id, shipment = instructed(fulfillment)
    logistics_id = shipment["logistics_shipment_id"]
    fulfillment.advance(logistics_id, "shipped")
    fulfillment.advance(logistics_id, "delivered")

    late = fulfillment.notify(logistics_id, "shipped")

    assert (late["status"], late["answer"]) == (200, {"outcome": "ignored"})
    assert fulfillment.shipment(order_id)["status"] == "DELIVERED"
    assert len(fulfillment.published(order_id, "ShipmentDispatched")) == 1


def test_a_carrier_csv_parcel_is_one_shift_jis_row_of_the_days_b2_file_even_when_delivered_twice(fulfillment, shop):
    order_id = fulfillment.paid_physical_order()

    with shop.stack.duplicate_deliveries():
        packed = fulfillment.pick_and_pack(order_id, handoff="carrier_csv")
        listed = eventually(lambda: fulfillment.shipment(order_id).get("carrier_list_day"), what="the parcel listed")
        content = eventually(lambda: _with(fulfillment, listed, packed["shipment_id"]), what="the parcel in the day's file")

    assert content.count(b"\r\n") == content.count(b"\n")  # CRLF only
    rows = list(csv.reader(io.StringIO(content.decode("cp932"), newline="")))
    assert rows[0][:4] == ["お客様管理番号", "送り状種類", "クール区分", "伝票番号"]
    [row] = [r for r in rows[1:] if r[0] == packed["shipment_id"]]
    assert (row[1], row[10], row[15]) == ("0", "100-0001", "山田 花子")
    assert fulfillment.at_3pl(packed["shipment_id"]) == []

    dispatched = fulfillment.call(
        "POST", f"/orders/{order_id}/shipment/dispatched", {"carrier": "yamato", "tracking_number": "400055556666"}
    )
    assert (dispatched.status, dispatched.body["status"]) == (200, "DISPATCHED")
    [event] = fulfillment.published(order_id, "ShipmentDispatched")
    assert event["data"]["tracking_number"] == "400055556666"


def _with(fulfillment: Fulfillment, day: str, shipment_id: str) -> bytes | None:
    try:
        content = fulfillment.carrier_list(day)
    except Exception:  # not written yet
        return None
    return content if shipment_id.encode() in content else None
