"""fulfillment: shipments for the physical goods of paid orders, from the picking list to the door."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from chalice.app import Chalice

from chalicelib import domain, settings, usecases
from chalicelib.api_models import (
    DispatchRequest,
    PackRequest,
    PickingList,
    PickingListQuery,
    ShipmentPath,
    ShipmentResponse,
    TrackingAnswer,
    TrackingWebhook,
    WebhookHeaders,
)
from chalicelib.carrier_lists import S3CarrierLists
from chalicelib.logistics import HttpLogisticsService
from chalicelib.repository import FulfillmentRepository, FulfillmentUnitOfWork
from shop_contracts import REGISTRY, TOPOLOGY
from shop_eventing.auth import SignIn, current_caller
from shop_eventing.envelope import DomainEvent
from shop_eventing.http import (
    ApiError,
    Conflict,
    NotFound,
    RequestInvalid,
    current_request,
    json_api,
    json_response,
    parse_body,
    parse_params,
    use_one_error_shape,
)
from shop_eventing.openapi import Health, operation, serve_openapi
from shop_eventing.ops_api import serve_ops_status
from shop_eventing.runtime import ServiceRuntime

app = Chalice(app_name="shop-fulfillment")
use_one_error_shape(app)
serve_openapi(
    app,
    title="shop fulfillment API",
    version="1",
    description="Shipments for the physical goods of paid orders: picking list, hand-off, tracking.",
)
runtime = ServiceRuntime(TOPOLOGY, "fulfillment", REGISTRY)
runtime.trace(app)
repository = FulfillmentRepository(runtime.dynamodb, runtime.table_name)
sign_in = SignIn.from_environment()
# Who packs and ships, and staff who answer customers about it.
SHIPMENT_READERS = frozenset({"warehouse", "staff"})
# The staff console's operations view: this service's queues, DLQs and outbox, measured as `shop status` does.
serve_ops_status(app, runtime, sign_in, groups={"staff"})
CARRIER_LISTS_BUCKET = runtime.naming.bucket("fulfillment", "carrier-lists")


def unit_of_work() -> FulfillmentUnitOfWork:
    return FulfillmentUnitOfWork(runtime.dynamodb, runtime.table_name, runtime.service.source)


@functools.cache
def ssm_parameter(name: str) -> str:
    """A SecureString parameter (on AWS the 3PL's secrets live there), read once per process."""
    answer = runtime.session.client("ssm").get_parameter(Name=name, WithDecryption=True)
    return str(answer["Parameter"]["Value"])


@functools.cache
def logistics() -> HttpLogisticsService:
    return HttpLogisticsService.from_environment(settings.secret("LOGISTICS_API_TOKEN", ssm_parameter))


@functools.cache
def carrier_lists() -> S3CarrierLists:
    return S3CarrierLists(runtime.session.client("s3"), CARRIER_LISTS_BUCKET)


class SignatureRefused(ApiError):
    status = 401
    code = "invalid_signature"


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


@app.route("/picking-list", methods=["GET"])
@operation("What the warehouse has to pick and pack, oldest first", query=PickingListQuery, responses={200: PickingList})
@json_api
@sign_in.required(app, groups=SHIPMENT_READERS)
def get_picking_list() -> Any:
    query = parse_params(current_request(app).query_params or {}, PickingListQuery)
    shipments = usecases.picking_list(repository, query.limit)
    return json_response(PickingList(shipments=[ShipmentResponse.model_validate(s) for s in shipments]))


def _step(run: Any) -> Any:
    try:
        result = run()
    except usecases.ShipmentNotFound as missing:
        raise NotFound(f"no shipment for order {missing}") from None
    except domain.TransitionRefused as refused:
        raise Conflict(str(refused), code="status_conflict") from None
    shipment = usecases.shipment_for_order(repository, result.shipment["order_id"])
    return json_response(ShipmentResponse.model_validate(shipment))


@app.route("/orders/{order_id}/shipment/picked", methods=["POST"])
@operation(
    "Mark the shipment picked",
    path=ShipmentPath,
    responses={200: ShipmentResponse},
    errors={404, 409},
    description="Again once picked: the same answer, nothing changes. 409 once cancelled.",
)
@json_api
@sign_in.required(app, groups=SHIPMENT_READERS)
def mark_picked(order_id: str) -> Any:
    parse_params({"order_id": order_id}, ShipmentPath)
    staff = current_caller().sub
    return _step(lambda: usecases.mark_picked(repository, unit_of_work, order_id, staff, datetime.now(UTC)))


@app.route("/orders/{order_id}/shipment/packed", methods=["POST"])
@operation(
    "Mark the shipment packed, and say how it leaves",
    path=ShipmentPath,
    body=PackRequest,
    responses={200: ShipmentResponse},
    errors={404, 409},
    description="Publishes ShipmentPacked. 409 before it is picked, or once cancelled; again once packed: nothing changes.",
)
@json_api
@sign_in.required(app, groups=SHIPMENT_READERS)
def mark_packed(order_id: str) -> Any:
    parse_params({"order_id": order_id}, ShipmentPath)
    raw = current_request(app).raw_body
    command = parse_body(raw, PackRequest) if raw else PackRequest()
    staff = current_caller().sub
    return _step(lambda: usecases.mark_packed(repository, unit_of_work, order_id, staff, command.handoff, datetime.now(UTC)))


@app.route("/orders/{order_id}/shipment/dispatched", methods=["POST"])
@operation(
    "Confirm that the carrier took a parcel listed in the carrier CSV",
    path=ShipmentPath,
    body=DispatchRequest,
    responses={200: ShipmentResponse},
    errors={404, 409},
    description="Publishes ShipmentDispatched with the tracking number. Parcels handed to the logistics service are "
    "confirmed by its tracking notification instead (409).",
)
@json_api
@sign_in.required(app, groups=SHIPMENT_READERS)
def confirm_dispatch(order_id: str) -> Any:
    parse_params({"order_id": order_id}, ShipmentPath)
    command = parse_body(current_request(app).raw_body, DispatchRequest)
    return _step(
        lambda: usecases.confirm_dispatch(
            repository, unit_of_work, order_id, command.carrier, command.tracking_number, datetime.now(UTC)
        )
    )


@app.route("/logistics/tracking", methods=["POST"])
@operation(
    "The logistics service's tracking notification (signed webhook)",
    body=TrackingWebhook,
    headers=WebhookHeaders,
    responses={200: TrackingAnswer},
    errors={401, 404},
    description="Called by the 3PL, not by people: X-Logistics-Signature is v1=HMAC-SHA256(shared secret, "
    "'<X-Logistics-Timestamp>.<raw body>') in hex; a wrong signature or a timestamp more than 5 minutes away is 401. "
    "A duplicate or out-of-order status (shipped after delivered) is answered 200 ignored.",
)
@json_api
def tracking_webhook() -> Any:
    request = current_request(app)
    headers = parse_params(request.headers, WebhookHeaders)
    raw = request.raw_body or b""
    # The signature is over the exact bytes sent, before any parsing.
    raw = raw.encode() if isinstance(raw, str) else raw
    try:
        domain.verify_webhook(
            settings.secret("LOGISTICS_WEBHOOK_SECRET", ssm_parameter),
            headers.timestamp,
            headers.signature,
            raw,
            datetime.now(UTC),
        )
    except domain.SignatureRefused as refused:
        raise SignatureRefused(str(refused)) from None
    notice = parse_body(raw, TrackingWebhook)
    notified = usecases.TrackingNotification(
        logistics_id=notice.shipment_id,
        identifier=notice.identifier,
        order_no=notice.order_no,
        status=notice.status,
        carrier=notice.delivery_carrier,
        tracking_code=notice.tracking_code,
    )
    try:
        outcome = usecases.tracking_notified(repository, unit_of_work, notified, datetime.now(UTC))
    except usecases.ShipmentNotFound:
        raise NotFound(f"no shipment {notice.identifier} for order {notice.order_no}") from None
    except ValueError as invalid:
        raise RequestInvalid(str(invalid)) from None
    return json_response(TrackingAnswer(outcome=outcome))


def _request_shipment(event: DomainEvent, subscriber: str) -> None:
    usecases.request_shipment(event, subscriber, unit_of_work)


def _record_address(event: DomainEvent, subscriber: str) -> None:
    usecases.record_delivery_address(event, subscriber, unit_of_work)


def _instruct(event: DomainEvent, subscriber: str) -> None:
    usecases.instruct_logistics(event, subscriber, repository, unit_of_work, logistics())


def _list_for_carrier(event: DomainEvent, subscriber: str) -> None:
    usecases.list_for_carrier(event, subscriber, repository, unit_of_work, carrier_lists(), settings.shipper())


def _cancel(event: DomainEvent, subscriber: str) -> None:
    usecases.cancel_shipment(event, subscriber, repository, unit_of_work, logistics())


# Every handler commits its table effects in the transaction that writes the processed-marker
# (usecases), so the marker alone de-duplicates (decision 0012). The calls beyond the table are
# repeatable by themselves: the 3PL knows a shipment by the identifier it was instructed with and
# cancelling one twice is no change, and the carrier CSV is rebuilt whole from the table.
shipment_subscriber = runtime.subscriber("request-shipment", {"PaymentCaptured": _request_shipment}, deduplicated_by_marker=True)
address_subscriber = runtime.subscriber(
    "delivery-addresses", {"OrderPlaced": _record_address}, read_as={"OrderPlaced": 2}, deduplicated_by_marker=True
)
instruct_subscriber = runtime.subscriber("instruct-logistics", {"ShipmentPacked": _instruct}, deduplicated_by_marker=True)
carrier_list_subscriber = runtime.subscriber("carrier-list", {"ShipmentPacked": _list_for_carrier}, deduplicated_by_marker=True)
cancel_subscriber = runtime.subscriber("cancel-shipment", {"OrderCancelled": _cancel}, deduplicated_by_marker=True)


request_shipment = runtime.consume(app, "request_shipment", shipment_subscriber)
record_delivery_address = runtime.consume(app, "record_delivery_address", address_subscriber)
instruct_logistics = runtime.consume(app, "instruct_logistics", instruct_subscriber)
list_for_carrier = runtime.consume(app, "list_for_carrier", carrier_list_subscriber)
cancel_shipment = runtime.consume(app, "cancel_shipment", cancel_subscriber)


# Publishing: the stream relay and the scheduled sweeper (nothing in the outbox is lost).
relay_outbox, sweep_outbox = runtime.publish_outbox(app)
