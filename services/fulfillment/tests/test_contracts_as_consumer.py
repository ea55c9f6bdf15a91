"""fulfillment's consumer contracts, consumer side: every example it declares (consumer-contracts/)
goes through the Lambda function the app registers for that subscription and has its effect. Why: see
shop_devstack.contract_testing."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from shop_devstack.contract_testing import (
    Consumer,
    ConsumerContractTests,
    Scenario,
    as_new_event_about_a_new_order,
)

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


@pytest.fixture
def consumer(fulfillment_app: ModuleType, aws: Any) -> Consumer[Any]:
    return Consumer(aws, fulfillment_app, markers_in=aws)


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
    }
