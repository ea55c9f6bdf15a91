"""The envelope: metadata + data, parsed against a registry, with errors that say what is wrong."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from shop_eventing.envelope import DomainEvent, EventData, EventMetadata, EventRegistry, InvalidEvent, field_path, new_event

registry = EventRegistry()


class Line(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: str
    quantity: int = Field(gt=0)


@registry.register("Ordered", 1)
class OrderedV1(EventData):
    order_id: str
    lines: list[Line]


@registry.register("Ordered", 2)
class OrderedV2(EventData):
    order_id: str
    lines: list[Line]
    channel: str


@registry.register("Shipped", 1)
class ShippedV1(EventData):
    order_id: str
    carrier: str | None = None


NOW = datetime(2025, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)


def ordered(*quantities: int) -> DomainEvent:
    lines = [Line(sku=f"sku-{i}", quantity=q) for i, q in enumerate(quantities)]
    return new_event(OrderedV1(order_id="o-1", lines=lines), producer="shop.orders", correlation_id="o-1", now=NOW)


def detail(*quantities: int) -> dict[str, Any]:
    wire: dict[str, Any] = json.loads(json.dumps(ordered(*quantities).to_detail()))
    return wire


def reason_of(payload: Any) -> str:
    with pytest.raises(InvalidEvent) as error:
        registry.parse(payload)
    assert str(error.value) == error.value.reason
    return error.value.reason


# --- new_event / to_detail -------------------------------------------------------------------------


def test_new_event_fills_the_metadata_from_the_contract() -> None:
    event = ordered(2)

    assert event.to_detail() == {
        "metadata": {
            "event_id": event.event_id,
            "event_type": "Ordered",
            "schema_version": 1,
            "occurred_at": "2025-01-02T03:04:05.600000Z",
            "producer": "shop.orders",
            "correlation_id": "o-1",
            "causation_id": None,
        },
        "data": {"order_id": "o-1", "lines": [{"sku": "sku-0", "quantity": 2}]},
    }
    assert str(uuid.UUID(event.event_id)) == event.event_id
    assert event.event_type == "Ordered"
    assert ordered(2).event_id != event.event_id


def test_new_event_keeps_a_given_event_id_and_stores_time_in_utc() -> None:
    tokyo = timezone(timedelta(hours=9))
    event = new_event(
        ShippedV1(order_id="o-1"),
        producer="shop.fulfillment",
        correlation_id="o-1",
        event_id="fixed-id",
        now=datetime(2025, 1, 2, 12, 0, tzinfo=tokyo),
    )

    assert event.event_id == "fixed-id"
    assert event.metadata.schema_version == 1
    assert event.metadata.occurred_at == datetime(2025, 1, 2, 3, 0, tzinfo=UTC)
    assert event.metadata.occurred_at.utcoffset() == timedelta(0)
    assert event.to_detail()["metadata"]["occurred_at"] == "2025-01-02T03:00:00Z"


def test_caused_keeps_the_correlation_and_points_at_its_cause() -> None:
    cause = ordered(1)
    later = datetime(2025, 1, 2, 4, 0, tzinfo=UTC)

    effect = cause.caused(ShippedV1(order_id="o-1", carrier="dhl"), producer="shop.fulfillment", now=later)

    assert effect.metadata.correlation_id == cause.metadata.correlation_id == "o-1"
    assert effect.metadata.causation_id == cause.event_id
    assert effect.event_id not in (cause.event_id, "")
    assert effect.metadata.producer == "shop.fulfillment"
    assert (effect.event_type, effect.metadata.schema_version) == ("Shipped", 1)
    assert effect.metadata.occurred_at == later
    # ...and the chain goes on: the correlation survives two hops.
    again = effect.caused(ShippedV1(order_id="o-1"), producer="shop.notify")
    assert (again.metadata.correlation_id, again.metadata.causation_id) == ("o-1", effect.event_id)


def test_parse_round_trips_an_event() -> None:
    event = ordered(1, 3)

    parsed = registry.parse(json.loads(json.dumps(event.to_detail())))

    assert parsed == event
    assert isinstance(parsed.data, OrderedV1)
    assert parsed.data.lines[1] == Line(sku="sku-1", quantity=3)


# --- errors name the problem -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    ["event_id", "event_type", "schema_version", "occurred_at", "producer", "correlation_id"],
)
def test_a_missing_metadata_field_is_named(field: str) -> None:
    payload = detail(1)
    del payload["metadata"][field]

    assert reason_of(payload) == f"metadata: {field}: Field required"


def test_missing_metadata_and_non_object_details_are_rejected() -> None:
    assert reason_of({"data": {}}) == "metadata: (root): Input should be a valid dictionary or instance of EventMetadata"
    assert reason_of(["not", "a", "detail"]) == "detail is not a JSON object"
    assert reason_of("{}") == "detail is not a JSON object"


def test_a_naive_occurred_at_is_rejected() -> None:
    payload = detail(1)
    payload["metadata"]["occurred_at"] = "2025-01-02T03:04:05"

    assert reason_of(payload) == "metadata: occurred_at: Value error, occurred_at must carry a UTC offset"


def test_an_offset_occurred_at_is_accepted_and_normalised_to_utc() -> None:
    payload = detail(1)
    payload["metadata"]["occurred_at"] = "2025-01-02T12:04:05+09:00"

    assert registry.parse(payload).metadata.occurred_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_an_unknown_event_type_is_named() -> None:
    payload = detail(1)
    payload["metadata"]["event_type"] = "Teleported"

    assert reason_of(payload) == "unknown event Teleported v1"


def test_an_unknown_version_of_a_known_type_is_named() -> None:
    payload = detail(1)
    payload["metadata"]["schema_version"] = 7

    assert reason_of(payload) == "unknown event Ordered v7"


def test_a_zero_schema_version_is_a_metadata_error() -> None:
    payload = detail(1)
    payload["metadata"]["schema_version"] = 0

    assert reason_of(payload) == "metadata: schema_version: Input should be greater than or equal to 1"


def test_a_missing_data_field_is_named_by_its_path() -> None:
    payload = detail(1, 2)
    del payload["data"]["lines"][1]["quantity"]

    assert reason_of(payload) == "Ordered v1 data: lines[1].quantity: Field required"


def test_every_data_error_is_listed_with_its_path() -> None:
    payload = detail(1, 2)
    del payload["data"]["lines"][0]["quantity"]
    payload["data"]["lines"][1]["quantity"] = 0
    del payload["data"]["order_id"]

    assert reason_of(payload) == (
        "Ordered v1 data: order_id: Field required; "
        "lines[0].quantity: Field required; "
        "lines[1].quantity: Input should be greater than 0"
    )


def test_data_is_checked_against_the_version_in_the_metadata() -> None:
    payload = detail(1)
    payload["metadata"]["schema_version"] = 2

    assert reason_of(payload) == "Ordered v2 data: channel: Field required"
    payload["data"]["channel"] = "web"
    assert isinstance(registry.parse(payload).data, OrderedV2)


def test_missing_data_is_named() -> None:
    payload = detail(1)
    del payload["data"]

    assert reason_of(payload) == "Ordered v1 data: (root): Input should be a valid dictionary or instance of OrderedV1"


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("lines", 0, "quantity"), "lines[0].quantity"),
        (("order_id",), "order_id"),
        ((0,), "[0]"),
        (("a", "b", 2, 3, "c"), "a.b[2][3].c"),
        ((), ""),
    ],
)
def test_field_path(loc: tuple[int | str, ...], path: str) -> None:
    assert field_path(loc) == path


# --- forward compatibility -------------------------------------------------------------------------


def test_unknown_fields_are_ignored_everywhere() -> None:
    """A producer that added optional fields (same major) must not break an older consumer."""
    event = ordered(2)
    payload = copy.deepcopy(event.to_detail())
    payload["metadata"]["trace_id"] = "abc"
    payload["data"]["gift_wrap"] = True
    payload["data"]["lines"][0]["colour"] = "red"
    payload["replayed"] = True

    parsed = registry.parse(payload)

    assert parsed == event
    assert "gift_wrap" not in parsed.to_detail()["data"]
    assert parsed.to_detail()["data"]["lines"] == [{"sku": "sku-0", "quantity": 2}]
    assert "trace_id" not in parsed.to_detail()["metadata"]


def test_an_optional_field_added_later_is_read_when_present_and_defaulted_when_absent() -> None:
    shipped = new_event(ShippedV1(order_id="o-9", carrier="ups"), producer="shop.fulfillment", correlation_id="o-9")
    payload = shipped.to_detail()

    assert registry.parse(payload).data == ShippedV1(order_id="o-9", carrier="ups")
    del payload["data"]["carrier"]
    assert registry.parse(payload).data == ShippedV1(order_id="o-9", carrier=None)


def test_metadata_and_data_are_immutable() -> None:
    event = ordered(1)
    metadata: Any = event.metadata
    data: Any = event.data
    with pytest.raises(ValueError, match="frozen"):
        metadata.event_id = "other"
    with pytest.raises(ValueError, match="frozen"):
        data.order_id = "other"
    assert event.metadata.event_id != "other"
    assert isinstance(event.data, OrderedV1)
    assert event.data.order_id == "o-1"


# --- registry --------------------------------------------------------------------------------------


def test_registering_the_same_type_and_version_twice_raises() -> None:
    local = EventRegistry()

    @local.register("Ping", 1)
    class PingV1(EventData):
        n: int

    with pytest.raises(ValueError, match="Ping v1 is registered twice"):

        @local.register("Ping", 1)
        class PingAgainV1(EventData):
            n: int

    assert local.contract("Ping", 1) is PingV1
    assert [key for key, _ in local] == [("Ping", 1)]


def test_the_registry_lists_and_looks_up_its_contracts() -> None:
    assert [key for key, _ in registry] == [("Ordered", 1), ("Ordered", 2), ("Shipped", 1)]
    assert registry.contract("Ordered", 2) is OrderedV2
    assert (OrderedV2.event_type, OrderedV2.schema_version) == ("Ordered", 2)
    assert ("Shipped", 1) in registry
    assert ("Shipped", 2) not in registry
    with pytest.raises(InvalidEvent, match="unknown event Shipped v2"):
        registry.contract("Shipped", 2)


def test_metadata_requires_non_empty_identifiers() -> None:
    with pytest.raises(ValueError, match="correlation_id"):
        EventMetadata(
            event_id="e",
            event_type="Ordered",
            schema_version=1,
            occurred_at=NOW,
            producer="shop.orders",
            correlation_id="",
        )
