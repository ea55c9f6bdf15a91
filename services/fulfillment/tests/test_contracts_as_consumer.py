"""fulfillment's consumer contracts, consumer side: every example it declares (consumer-contracts/)
goes through the Lambda function the app registers for that subscription and has its effect. Why: see
shop_devstack.contract_testing."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from chalicelib.domain import Handoff
from shop_devstack.contract_testing import (
    Consumer,
    ConsumerContractTests,
    Scenario,
    as_new_event_about_a_new_order,
)
from shop_devstack.testing import outbox_items
from tests import arrange

SERVICE = "fulfillment"


def shipment_was_requested(aws: Any, detail: dict[str, Any]) -> None:
    order_id = detail["data"]["order_id"]
    physical: dict[str, int] = {}
    for line in detail["data"]["lines"]:
        if line["kind"] == "physical":
            physical[line["sku"]] = physical.get(line["sku"], 0) + line["quantity"]
    shipment = aws.item(f"SHIPMENT#{order_id}", "SHIPMENT")
    assert shipment is not None
    assert shipment["lines"] == [{"sku": sku, "quantity": quantity} for sku, quantity in sorted(physical.items())]
    assert shipment["address"] == detail["data"]["shipping_address"]
    [requested] = aws.outbox(correlation_id=order_id)
    assert requested["event_type"] == "ShipmentRequested"
    assert requested["detail"]["metadata"]["causation_id"] == detail["metadata"]["event_id"]


def text_address_was_kept(aws: Any, detail: dict[str, Any]) -> None:
    kept = aws.item(f"ADDRESS#{detail['data']['order_id']}", "ADDRESS")
    assert kept is not None
    assert (kept["address"]["line1"], kept["source_version"]) == (detail["data"]["shipping_address"], 1)


def structured_address_was_kept(aws: Any, detail: dict[str, Any]) -> None:
    kept = aws.item(f"ADDRESS#{detail['data']['order_id']}", "ADDRESS")
    assert kept is not None
    # Kept as the contract's Address: the fields the example leaves out are there, empty.
    given = {field: value for field, value in kept["address"].items() if value is not None}
    assert (given, kept["source_version"]) == (detail["data"]["shipping_address"], 2)


def about_a_packed_shipment(app: ModuleType, example: dict[str, Any], handoff: Handoff) -> dict[str, Any]:
    detail = as_new_event_about_a_new_order(example)
    order_id = detail["data"]["order_id"]
    detail["data"]["shipment_id"] = arrange.packed(app, order_id, handoff)
    return detail


def about_a_requested_shipment(app: ModuleType, example: dict[str, Any]) -> dict[str, Any]:
    detail = as_new_event_about_a_new_order(example)
    arrange.requested(app, detail["data"]["order_id"])
    return detail


def shipment_was_instructed(app: ModuleType, detail: dict[str, Any]) -> None:
    order_id = detail["data"]["order_id"]
    shipment = app.repository.shipment(order_id)
    assert (shipment["status"], shipment["carrier"]) == ("INSTRUCTED", "yamato")
    instructed = [e for e in app_outbox(app, order_id) if e["event_type"] == "ShipmentInstructed"]
    assert [e["detail"]["data"]["logistics_shipment_id"] for e in instructed] == [shipment["logistics_shipment_id"]]
    assert instructed[0]["detail"]["metadata"]["causation_id"] == detail["metadata"]["event_id"]


def parcel_was_listed(app: ModuleType, detail: dict[str, Any]) -> None:
    order_id = detail["data"]["order_id"]
    shipment = app.repository.shipment(order_id)
    assert shipment["carrier_list_day"] == "2025-06-02"  # 01:20 UTC is 10:20 in Japan, the same day
    content = app.carrier_lists()._client.get_object(
        Bucket=app.CARRIER_LISTS_BUCKET, Key=f"yamato-b2/{shipment['carrier_list_day']}.csv"
    )
    assert shipment["shipment_id"] in content["Body"].read().decode("cp932")


def shipment_was_cancelled(app: ModuleType, detail: dict[str, Any]) -> None:
    order_id = detail["data"]["order_id"]
    assert app.repository.shipment(order_id)["status"] == "CANCELLED"
    cancelled = [e for e in app_outbox(app, order_id) if e["event_type"] == "ShipmentCancelled"]
    assert [e["detail"]["metadata"]["causation_id"] for e in cancelled] == [detail["metadata"]["event_id"]]


def app_outbox(app: ModuleType, order_id: str) -> list[dict[str, Any]]:
    return outbox_items(app.runtime.dynamodb, app.runtime.table_name, correlation_id=order_id)


@dataclass(frozen=True)
class Handle:
    """What the scenarios work with: the session's table (item, outbox) and the app itself, whose use
    cases arrange a shipment and whose adapters reach the 3PL and S3."""

    aws: Any
    app: ModuleType

    def item(self, pk: str, sk: str) -> dict[str, Any] | None:
        return self.aws.item(pk, sk)  # type: ignore[no-any-return]

    def outbox(self, **match: object) -> list[dict[str, Any]]:
        return self.aws.outbox(**match)  # type: ignore[no-any-return]


@pytest.fixture
def consumer(fulfillment_app: ModuleType, aws: Any) -> Consumer[Any]:
    return Consumer(Handle(aws, fulfillment_app), fulfillment_app, markers_in=aws)


class TestFulfillmentAsConsumer(ConsumerContractTests):
    SERVICE = SERVICE
    SCENARIOS = {
        "fulfillment.request-shipment:PaymentCaptured.v1": Scenario(
            lambda aws, example: as_new_event_about_a_new_order(example), shipment_was_requested
        ),
        "fulfillment.delivery-addresses:OrderPlaced.v1": Scenario(
            lambda aws, example: as_new_event_about_a_new_order(example), text_address_was_kept
        ),
        "fulfillment.delivery-addresses:OrderPlaced.v2": Scenario(
            lambda aws, example: as_new_event_about_a_new_order(example), structured_address_was_kept
        ),
        "fulfillment.instruct-logistics:ShipmentPacked.v1": Scenario(
            lambda handle, example: about_a_packed_shipment(handle.app, example, "logistics_service"),
            lambda handle, detail: shipment_was_instructed(handle.app, detail),
        ),
        "fulfillment.carrier-list:ShipmentPacked.v1": Scenario(
            lambda handle, example: about_a_packed_shipment(handle.app, example, "carrier_csv"),
            lambda handle, detail: parcel_was_listed(handle.app, detail),
        ),
        "fulfillment.cancel-shipment:OrderCancelled.v1": Scenario(
            lambda handle, example: about_a_requested_shipment(handle.app, example),
            lambda handle, detail: shipment_was_cancelled(handle.app, detail),
        ),
    }
