"""The delivery-addresses subscription: OrderPlaced v1 and v2, both read as v2, through the Lambda
function the app registers, against a real (in-process) moto."""

from __future__ import annotations

import uuid
from types import ModuleType
from typing import Any

from shop_contracts.events import Address, Money, OrderLine, OrderPlacedV1, OrderPlacedV2
from shop_devstack.testing import deliver_to_subscription, eventbridge_body
from shop_eventing.envelope import EventData, new_event

# The longest address orders accepts; its one-line v1 form is 731 characters.
LONG_ADDRESS = Address(recipient="R" * 200, line1="1" * 200, line2="2" * 200, city="C" * 100, postal_code="P" * 20, country="US")
LINE = OrderLine(sku="BOX", name="Blu-ray box", kind="physical", quantity=1, unit_price=Money(amount=2500, currency="EUR"))


def order_placed(version: int, order_id: str, address: Address) -> EventData:
    fields: dict[str, Any] = {
        "order_id": order_id,
        "customer_email": "ann@example.com",
        "lines": [LINE],
        "total": Money(amount=2500, currency="EUR"),
    }
    if version == 1:
        return OrderPlacedV1(**fields, shipping_address=address.as_text())
    return OrderPlacedV2(**fields, shipping_address=address)


def deliver(app: ModuleType, data: EventData, order_id: str) -> dict[str, Any]:
    event = new_event(data, producer="shop.orders", correlation_id=order_id)
    return deliver_to_subscription(app, "fulfillment", "delivery-addresses", eventbridge_body(event))


def kept_address(aws: Any, order_id: str) -> tuple[dict[str, Any], int]:
    """The address fulfillment keeps for the order and the OrderPlaced major it came from."""
    kept = aws.item(f"ADDRESS#{order_id}", "ADDRESS")
    assert kept is not None
    return kept["address"], kept["source_version"]


def test_a_v1_address_longer_than_an_address_line_is_kept_not_retried_forever(fulfillment_app, aws):
    order_id = f"ord-{uuid.uuid4().hex[:12]}"
    text = LONG_ADDRESS.as_text()

    response = deliver(fulfillment_app, order_placed(1, order_id, LONG_ADDRESS), order_id)

    assert response == {"batchItemFailures": []}
    address, source_version = kept_address(aws, order_id)
    assert (address["line1"], address["line2"], source_version) == (text[:200], text[200:400], 1)


def test_the_native_v2_address_replaces_an_upcast_v1_one(fulfillment_app, aws):
    order_id = f"ord-{uuid.uuid4().hex[:12]}"
    deliver(fulfillment_app, order_placed(1, order_id, LONG_ADDRESS), order_id)

    response = deliver(fulfillment_app, order_placed(2, order_id, LONG_ADDRESS), order_id)

    assert response == {"batchItemFailures": []}
    assert kept_address(aws, order_id) == (LONG_ADDRESS.model_dump(), 2)


def test_an_upcast_v1_address_arriving_after_the_native_v2_one_is_noted_and_changes_nothing(fulfillment_app, aws):
    order_id = f"ord-{uuid.uuid4().hex[:12]}"
    native = Address(recipient="Ann", line1="1 Main St", city="Springfield", postal_code="12345", country="US")
    deliver(fulfillment_app, order_placed(2, order_id, native), order_id)

    # The conditional put fails (AddressNotBetter): the record is handled, not retried.
    response = deliver(fulfillment_app, order_placed(1, order_id, native), order_id)

    assert response == {"batchItemFailures": []}
    assert kept_address(aws, order_id) == (native.model_dump(), 2)
