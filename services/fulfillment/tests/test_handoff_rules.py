"""The use cases from picking list to cancellation, through the in-memory table and 3PL (tests/fakes.py):
no AWS, no HTTP. The same flows against moto and the fake 3PL are in test_handoff.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.fakes import FakeLogistics, InMemoryFulfillment

from chalicelib import usecases
from chalicelib.domain import TransitionRefused
from chalicelib.logistics import LogisticsUnavailable
from shop_contracts.events import Address, OrderCancelledV1, ShipmentPackedV1
from shop_eventing.envelope import DomainEvent, new_event
from shop_eventing.outbox import AlreadyProcessed
from tests import arrange

NOW = datetime(2030, 5, 17, 3, 0, tzinfo=UTC)
STAFF = "sub-wes"


@pytest.fixture
def table() -> InMemoryFulfillment:
    return InMemoryFulfillment()


@pytest.fixture
def logistics() -> FakeLogistics:
    return FakeLogistics()


def request(table: InMemoryFulfillment, order_id: str, **kwargs: Any) -> None:
    usecases.request_shipment(arrange.paid(order_id, now=NOW, **kwargs), "fulfillment.request-shipment", table.unit_of_work)


def pick(table: InMemoryFulfillment, order_id: str) -> usecases.StepResult:
    return usecases.mark_picked(table, table.unit_of_work, order_id, STAFF, NOW)


def pack(table: InMemoryFulfillment, order_id: str, handoff: Any = "logistics_service") -> usecases.StepResult:
    return usecases.mark_packed(table, table.unit_of_work, order_id, STAFF, handoff, NOW)


def packed_event(table: InMemoryFulfillment) -> DomainEvent:
    [event] = [e for e in table.outbox if e.event_type == "ShipmentPacked"]
    return event


def instruct(table: InMemoryFulfillment, logistics: FakeLogistics, event: DomainEvent) -> None:
    usecases.instruct_logistics(event, "fulfillment.instruct-logistics", table, table.unit_of_work, logistics)


def cancelled(order_id: str, by: Any = "customer") -> DomainEvent:
    data = OrderCancelledV1(
        order_id=order_id,
        cancelled_by=by,
        reason="changed my mind",
        customer_email="hanako@example.jp",
        lines=arrange.paid(order_id).data.lines,  # type: ignore[attr-defined]
        total=arrange.paid(order_id).data.amount,  # type: ignore[attr-defined]
    )
    return new_event(data, producer="shop.orders", correlation_id=order_id, now=NOW)


def cancel(table: InMemoryFulfillment, logistics: FakeLogistics, event: DomainEvent) -> None:
    usecases.cancel_shipment(event, "fulfillment.cancel-shipment", table, table.unit_of_work, logistics)


def notify(table: InMemoryFulfillment, order_id: str, status: Any, code: str | None = "400012345678") -> str:
    shipment = table.shipment(order_id)
    assert shipment is not None
    notification = usecases.TrackingNotification(
        logistics_id=shipment.get("logistics_shipment_id", "OL-x"),
        identifier=shipment["shipment_id"],
        order_no=order_id,
        status=status,
        carrier="YAMATO",
        tracking_code=code,
    )
    return usecases.tracking_notified(table, table.unit_of_work, notification, NOW)


def event_types(table: InMemoryFulfillment) -> list[str]:
    return [event.event_type for event in table.outbox]


# -- the picking list --------------------------------------------------------------------------------


def test_the_picking_list_holds_what_is_requested_or_picked_oldest_first(table):
    for minutes, order_id in ((3, "ord-c"), (1, "ord-a"), (2, "ord-b")):
        usecases.request_shipment(
            arrange.paid(order_id, now=NOW + timedelta(minutes=minutes)), "fulfillment.request-shipment", table.unit_of_work
        )
    pick(table, "ord-b")
    pick(table, "ord-c")
    pack(table, "ord-c")

    listed = usecases.picking_list(table, limit=10)

    assert [(s["order_id"], s["status"]) for s in listed] == [("ord-a", "REQUESTED"), ("ord-b", "PICKED")]
    assert listed[0]["delivery_address"]["region"] == "東京都"


def test_packing_publishes_shipment_packed_with_the_handoff_once(table):
    request(table, "ord-1")
    pick(table, "ord-1")

    first = pack(table, "ord-1", "carrier_csv")
    again = pack(table, "ord-1", "carrier_csv")

    assert (first.changed, again.changed, first.shipment["status"]) == (True, False, "PACKED")
    packed = packed_event(table).data
    assert isinstance(packed, ShipmentPackedV1)
    assert (packed.handoff, packed.packed_by, [(line.sku, line.quantity) for line in packed.lines]) == (
        "carrier_csv",
        STAFF,
        [("BLURAY-BOX-1", 2)],
    )


def test_packing_before_picking_is_refused_and_changes_nothing(table):
    request(table, "ord-2")

    with pytest.raises(TransitionRefused):
        pack(table, "ord-2")

    assert table.shipment("ord-2")["status"] == "REQUESTED"
    assert event_types(table) == ["ShipmentRequested"]


def test_a_step_for_an_order_without_a_shipment_is_not_found(table):
    with pytest.raises(usecases.ShipmentNotFound):
        pick(table, "ord-none")


# -- the 3PL hand-off --------------------------------------------------------------------------------


def test_a_packed_shipment_is_instructed_once_with_its_address_and_delivery_wish(table, logistics):
    request(table, "ord-3")
    pick(table, "ord-3")
    pack(table, "ord-3")
    packed = packed_event(table)

    instruct(table, logistics, packed)

    shipment = table.shipment("ord-3")
    assert (shipment["status"], shipment["carrier"], shipment["logistics_shipment_id"]) == (
        "INSTRUCTED",
        "yamato",
        f"OL-{shipment['shipment_id']}",
    )
    sent = logistics.created[shipment["shipment_id"]]
    assert (sent.recipient.prefecture, sent.recipient.postcode, sent.recipient.phone, sent.time_slot) == (
        "東京都",
        "100-0001",
        "03-1234-5678",
        "14-16",
    )
    assert event_types(table)[-1] == "ShipmentInstructed"
    with pytest.raises(AlreadyProcessed):
        instruct(table, logistics, packed)


def test_the_3pl_unavailable_raises_so_sqs_retries_and_nothing_is_written(table, logistics):
    request(table, "ord-4")
    pick(table, "ord-4")
    pack(table, "ord-4")
    logistics.fail = 1

    with pytest.raises(LogisticsUnavailable):
        instruct(table, logistics, packed_event(table))

    assert table.shipment("ord-4")["status"] == "PACKED"
    instruct(table, logistics, packed_event(table))
    assert table.shipment("ord-4")["status"] == "INSTRUCTED"


def test_a_carrier_csv_parcel_is_not_sent_to_the_3pl(table, logistics):
    request(table, "ord-5")
    pick(table, "ord-5")
    pack(table, "ord-5", "carrier_csv")

    instruct(table, logistics, packed_event(table))

    assert logistics.created == {}
    assert table.shipment("ord-5")["status"] == "PACKED"


def test_an_address_the_3pl_cannot_use_is_recorded_for_staff_without_a_call(table, logistics):
    request(table, "ord-6", address=Address(line1="1 Main St", city="Springfield"))
    pick(table, "ord-6")
    pack(table, "ord-6")

    instruct(table, logistics, packed_event(table))

    shipment = table.shipment("ord-6")
    assert (shipment["status"], logistics.created) == ("PACKED", {})
    assert (
        shipment["instruction_error"]
        == "the delivery address lacks recipient, postal_code, region, phone, which the 3PL requires"
    )


# -- the carrier's confirmation for CSV parcels ---------------------------------------------------------


def test_staff_confirm_a_csv_parcels_dispatch_with_its_tracking_number(table):
    request(table, "ord-7")
    pick(table, "ord-7")
    pack(table, "ord-7", "carrier_csv")

    result = usecases.confirm_dispatch(table, table.unit_of_work, "ord-7", "yamato", "400012345678", NOW)

    assert (result.shipment["status"], result.shipment["tracking_number"]) == ("DISPATCHED", "400012345678")
    dispatched = table.outbox[-1].data
    assert (dispatched.tracking_number, dispatched.customer_email, dispatched.locale) == (  # type: ignore[attr-defined]
        "400012345678",
        "hanako@example.jp",
        "ja",
    )


def test_staff_cannot_confirm_what_the_3pl_dispatches(table):
    request(table, "ord-8")
    pick(table, "ord-8")
    pack(table, "ord-8")

    with pytest.raises(TransitionRefused, match="logistics service dispatches"):
        usecases.confirm_dispatch(table, table.unit_of_work, "ord-8", "yamato", "400012345678", NOW)


# -- tracking notifications ------------------------------------------------------------------------


def instructed(table: InMemoryFulfillment, logistics: FakeLogistics, order_id: str) -> None:
    request(table, order_id)
    pick(table, order_id)
    pack(table, order_id)
    instruct(table, logistics, [e for e in table.outbox if e.event_type == "ShipmentPacked"][-1])


def test_shipped_then_delivered_publish_dispatched_then_delivered(table, logistics):
    instructed(table, logistics, "ord-9")

    assert notify(table, "ord-9", "picking") == "applied"
    assert notify(table, "ord-9", "shipped") == "applied"
    assert notify(table, "ord-9", "delivered") == "applied"

    assert event_types(table)[-2:] == ["ShipmentDispatched", "ShipmentDelivered"]
    dispatched = table.outbox[-2].data
    assert dispatched.tracking_url.endswith("id=400012345678")  # type: ignore[attr-defined]
    assert table.shipment("ord-9")["status"] == "DELIVERED"


def test_a_duplicate_or_a_late_notification_changes_nothing(table, logistics):
    instructed(table, logistics, "ord-10")
    notify(table, "ord-10", "delivered")
    published = list(table.outbox)

    assert notify(table, "ord-10", "delivered") == "ignored"
    assert notify(table, "ord-10", "shipped") == "ignored"

    assert table.outbox == published
    assert table.shipment("ord-10")["status"] == "DELIVERED"


def test_delivered_heard_before_shipped_publishes_both_in_order(table, logistics):
    instructed(table, logistics, "ord-11")

    notify(table, "ord-11", "delivered")

    assert event_types(table)[-2:] == ["ShipmentDispatched", "ShipmentDelivered"]


def test_a_notification_about_another_shipment_is_not_found(table, logistics):
    instructed(table, logistics, "ord-12")
    wrong = usecases.TrackingNotification("OL-other", "shp_other", "ord-12", "shipped", "YAMATO", "1")

    with pytest.raises(usecases.ShipmentNotFound):
        usecases.tracking_notified(table, table.unit_of_work, wrong, NOW)


# -- cancellation ---------------------------------------------------------------------------------


def test_cancelled_before_payment_leaves_a_tombstone_and_no_shipment_is_ever_made(table, logistics):
    order_id = f"ord-{uuid.uuid4().hex[:6]}"
    cancel(table, logistics, cancelled(order_id))

    request(table, order_id)

    assert table.shipment(order_id) is None
    assert event_types(table) == []


def test_a_cancelled_digital_only_order_leaves_no_tombstone(table, logistics):
    event = cancelled("ord-digital")
    digital = [line.model_copy(update={"kind": "digital"}) for line in event.data.lines]  # type: ignore[attr-defined]
    event = new_event(event.data.model_copy(update={"lines": digital}), producer="shop.orders", correlation_id="ord-digital")

    cancel(table, logistics, event)

    assert (table.shipments, table.processed) == ({}, {("fulfillment.cancel-shipment", event.event_id)})


def test_cancelled_before_instruction_is_cancelled_here_without_the_3pl(table, logistics):
    request(table, "ord-13")
    pick(table, "ord-13")
    pack(table, "ord-13")

    cancel(table, logistics, cancelled("ord-13"))
    instruct(table, logistics, packed_event(table))  # the hand-off, arriving after: nothing to send

    assert table.shipment("ord-13")["status"] == "CANCELLED"
    assert (logistics.created, logistics.cancel_calls) == ({}, [])
    assert event_types(table)[-1] == "ShipmentCancelled"
    assert usecases.picking_list(table, 10) == []


def test_cancelled_after_instruction_asks_the_3pl(table, logistics):
    instructed(table, logistics, "ord-14")

    cancel(table, logistics, cancelled("ord-14", by="staff"))

    shipment = table.shipment("ord-14")
    assert (shipment["status"], logistics.cancel_calls) == ("CANCELLED", [shipment["logistics_shipment_id"]])
    assert event_types(table)[-1] == "ShipmentCancelled"


def test_the_3pl_refusing_is_recorded_and_nothing_is_published(table, logistics):
    instructed(table, logistics, "ord-15")
    logistics.statuses[table.shipment("ord-15")["logistics_shipment_id"]] = "packed"
    published = list(table.outbox)

    cancel(table, logistics, cancelled("ord-15", by="staff"))

    shipment = table.shipment("ord-15")
    assert (shipment["status"], shipment["cancel_refused_reason"]) == (
        "INSTRUCTED",
        "the logistics service refused: its shipment is packed",
    )
    assert table.outbox == published


def test_cancelled_after_dispatch_is_refused_without_asking_the_3pl(table, logistics):
    instructed(table, logistics, "ord-16")
    notify(table, "ord-16", "shipped")

    cancel(table, logistics, cancelled("ord-16", by="staff"))

    shipment = table.shipment("ord-16")
    assert (shipment["status"], logistics.cancel_calls) == ("DISPATCHED", [])
    assert "dispatched" in shipment["cancel_refused_reason"]


# -- the carrier CSV ---------------------------------------------------------------------------------


class Bucket:
    """The carrier-list bucket in memory; `before_write` runs inside the next write, before it lands."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.writes = 0
        self.before_write: Any = None

    def write(self, day: str, content: bytes) -> str:
        self.writes += 1
        hook, self.before_write = self.before_write, None
        if hook:
            hook()
        self.files[day] = content
        return day


def list_parcel(table: InMemoryFulfillment, bucket: Bucket, order_id: str) -> None:
    [packed] = [e for e in table.outbox if e.event_type == "ShipmentPacked" and e.data.order_id == order_id]  # type: ignore[attr-defined]
    usecases.list_for_carrier(packed, "fulfillment.carrier-list", table, table.unit_of_work, bucket, arrange.SHIPPER)


def test_a_rebuild_that_lands_last_with_a_stale_read_is_rewritten_complete(table):
    for order_id in ("ord-csv-a", "ord-csv-b"):
        request(table, order_id)
        pick(table, order_id)
        pack(table, order_id, "carrier_csv")
    bucket = Bucket()
    # While A's rebuild is writing what it read (A alone), B is listed and its rebuild writes A and B first.
    bucket.before_write = lambda: list_parcel(table, bucket, "ord-csv-b")

    list_parcel(table, bucket, "ord-csv-a")

    [content] = bucket.files.values()
    rows = content.decode("cp932").split("\r\n")[1:-1]
    assert sorted(row.split(",")[0].strip('"') for row in rows) == sorted(
        table.shipment(o)["shipment_id"] for o in ("ord-csv-a", "ord-csv-b")
    )
    assert bucket.writes == 3  # A's stale write, B's, and A's rewrite after checking
