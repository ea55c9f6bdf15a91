"""fulfillment's consumer contracts, consumer side: every example it declares (consumer-contracts/)
goes through the Lambda function the app registers for that subscription and has its effect.

A declaration whose example the real handler cannot use would let a producer pass a check against
expectations fulfillment does not actually have; these tests keep the two honest."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shop_contracts.consumer_contracts import ConsumerContract, consumed_by, discover
from shop_devstack.testing import deliver_example

SERVICE = "fulfillment"
REPO_ROOT = Path(__file__).resolve().parents[3]
DECLARATIONS = consumed_by(discover(REPO_ROOT), SERVICE)


def as_new_event_about_a_new_order(example: dict[str, Any]) -> dict[str, Any]:
    """The example with its own event_id and order, so nothing earlier in the session makes it a duplicate."""
    detail = copy.deepcopy(example)
    order_id = f"ord-{uuid.uuid4().hex[:12]}"
    detail["metadata"].update(event_id=str(uuid.uuid4()), correlation_id=order_id)
    detail["data"]["order_id"] = order_id
    return detail


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
    assert (kept["address"], kept["source_version"]) == (detail["data"]["shipping_address"], 2)


@dataclass(frozen=True)
class Scenario:
    """What the handler needs before the example arrives, and the effect it must have had."""

    arrange: Callable[[Any, dict[str, Any]], dict[str, Any]]
    effect: Callable[[Any, dict[str, Any]], None]


SCENARIOS: dict[str, Scenario] = {
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


def test_every_scenario_belongs_to_a_declaration() -> None:
    assert sorted(SCENARIOS) == sorted(d.id for d in DECLARATIONS)


@pytest.mark.parametrize("declaration", DECLARATIONS, ids=lambda d: d.id)
def test_the_subscription_handles_its_declared_example(
    declaration: ConsumerContract, fulfillment_app: ModuleType, aws: Any
) -> None:
    scenario = SCENARIOS.get(declaration.id)
    if scenario is None:
        pytest.fail(f"{declaration.location}: no scenario for {declaration.id} in {__name__}.SCENARIOS")
    detail = scenario.arrange(aws, declaration.example)
    response = deliver_example(fulfillment_app, SERVICE, declaration.subscription, detail)

    assert response == {"batchItemFailures": []}
    # An unusable event is parked in the DLQ without a batch failure: only the marker proves it was applied.
    applied = aws.item(f"PROCESSED#{declaration.subscriber}", detail["metadata"]["event_id"]) is not None
    assert applied, (
        f"{declaration.subscriber} did not apply the example of {declaration.location}; its DLQ reason is in the log above"
    )
    scenario.effect(aws, detail)
