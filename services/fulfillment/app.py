"""fulfillment: shipments for the physical goods of paid orders."""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice

from chalicelib import usecases
from chalicelib.api_models import ShipmentPath, ShipmentResponse
from chalicelib.repository import FulfillmentRepository, FulfillmentUnitOfWork
from shop_contracts import REGISTRY, TOPOLOGY
from shop_eventing.auth import SignIn
from shop_eventing.envelope import DomainEvent
from shop_eventing.http import NotFound, json_api, json_response, parse_params, use_one_error_shape
from shop_eventing.openapi import Health, operation, serve_openapi
from shop_eventing.runtime import ServiceRuntime

app = Chalice(app_name="shop-fulfillment")
use_one_error_shape(app)
serve_openapi(app, title="shop fulfillment API", version="1", description="Shipments for the physical goods of paid orders.")
runtime = ServiceRuntime(TOPOLOGY, "fulfillment", REGISTRY)
repository = FulfillmentRepository(runtime.dynamodb, runtime.table_name)
sign_in = SignIn.from_environment()
# Who packs and ships, and staff who answer customers about it.
SHIPMENT_READERS = frozenset({"warehouse", "staff"})


def unit_of_work() -> FulfillmentUnitOfWork:
    return FulfillmentUnitOfWork(runtime.dynamodb, runtime.table_name, runtime.service.source)


@app.route("/health")
@operation("Liveness", responses={200: Health})
def health() -> dict[str, str]:
    return {"status": "ok", "service": "fulfillment"}


@app.route("/orders/{order_id}/shipment", methods=["GET"])
@operation("The shipment of a paid order's physical goods", path=ShipmentPath, responses={200: ShipmentResponse}, errors={404})
@json_api
@sign_in.required(app, groups=SHIPMENT_READERS)
def get_shipment(order_id: str) -> Any:
    parse_params({"order_id": order_id}, ShipmentPath)
    shipment = usecases.shipment_for_order(repository, order_id)
    if shipment is None:
        raise NotFound(f"no shipment for order {order_id}")
    return json_response(ShipmentResponse.model_validate(shipment))


def _request_shipment(event: DomainEvent, subscriber: str) -> None:
    usecases.request_shipment(event, subscriber, unit_of_work)


def _record_address(event: DomainEvent, subscriber: str) -> None:
    usecases.record_delivery_address(event, subscriber, unit_of_work)


# Both handlers commit every effect in the transaction that writes the processed-marker (usecases),
# so the marker alone de-duplicates: no powertools idempotency record (decision 0012).
shipment_subscriber = runtime.subscriber("request-shipment", {"PaymentCaptured": _request_shipment}, deduplicated_by_marker=True)
address_subscriber = runtime.subscriber(
    "delivery-addresses", {"OrderPlaced": _record_address}, read_as={"OrderPlaced": 2}, deduplicated_by_marker=True
)


request_shipment = runtime.consume(app, "request_shipment", shipment_subscriber)
record_delivery_address = runtime.consume(app, "record_delivery_address", address_subscriber)


# Publishing: the stream relay and the scheduled sweeper (nothing in the outbox is lost).
relay_outbox, sweep_outbox = runtime.publish_outbox(app)
