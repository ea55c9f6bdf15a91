"""orders: checkout, payment and order history — the storefront's API."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from chalice.app import Chalice

from chalicelib import status_changes, usecases
from chalicelib.api_models import (
    CancelRequest,
    ListOrdersQuery,
    OrderList,
    OrderPath,
    OrderResponse,
    PlaceOrderHeaders,
    PlaceOrderRequest,
    ProductList,
    RefundHeaders,
    RefundRequest,
    RefundResponse,
)
from chalicelib.domain import CancelledBy, CancelRefused, Line, Order, OrderInvalid, Refund, RefundNotAllowed
from chalicelib.payments import (
    PaymentGateway,
    PaymentGatewayUnavailable,
    PaymentRequestRejected,
    RefundRefused,
    StripePaymentGateway,
)
from chalicelib.repository import OrdersRepository, OrdersUnitOfWork
from shop_contracts import REGISTRY, TOPOLOGY
from shop_eventing.auth import SignIn, current_caller
from shop_eventing.envelope import DomainEvent
from shop_eventing.http import (
    ApiError,
    Conflict,
    NotFound,
    RequestInvalid,
    Unprocessable,
    current_request,
    json_api,
    json_response,
    parse_body,
    parse_params,
    use_one_error_shape,
)
from shop_eventing.openapi import Health, Link, operation, serve_openapi
from shop_eventing.ops_api import serve_ops_status
from shop_eventing.runtime import ServiceRuntime

app = Chalice(app_name="shop-orders")
use_one_error_shape(app)
serve_openapi(app, title="shop orders API", version="1", description="Checkout, payment and order history: the storefront's API.")
runtime = ServiceRuntime(TOPOLOGY, "orders", REGISTRY)
runtime.trace(app)
repository = OrdersRepository(runtime.dynamodb, runtime.table_name)
sign_in = SignIn.from_environment()
# The embedded stack's fake accepts any test key; on AWS the key is a SecureString in SSM.
LOCAL_STRIPE_KEY = "sk_test_shop_local"


def stripe_secret_key() -> str:
    parameter = os.environ.get("STRIPE_SECRET_KEY_PARAMETER")
    if not parameter:
        return os.environ.get("STRIPE_SECRET_KEY", LOCAL_STRIPE_KEY)
    found = runtime.session.client("ssm").get_parameter(Name=parameter, WithDecryption=True)
    return str(found["Parameter"]["Value"])


# PAYMENT_GATEWAY_URL: Stripe's API base (locally the fake's URL; on AWS https://api.stripe.com).
gateway = StripePaymentGateway(stripe_secret_key, api_base=os.environ.get("PAYMENT_GATEWAY_URL", "http://127.0.0.1:5101"))
# The refunds go through the same gateway; a name of their own lets tests give them a script.
refunds: PaymentGateway = gateway
STAFF = {"staff"}
# The staff console's operations view: this service's queues, DLQs and outbox, measured as `shop status` does.
serve_ops_status(app, runtime, sign_in, groups=STAFF)


def unit_of_work() -> OrdersUnitOfWork:
    return OrdersUnitOfWork(runtime.dynamodb, runtime.table_name, runtime.service.source)


class GatewayUnavailable(ApiError):
    status = 503
    code = "payment_gateway_unavailable"


class GatewayRefusedRequest(ApiError):
    status = 502
    code = "payment_gateway_refused_request"


def line_body(order: Order, line: Line) -> dict[str, Any]:
    status = order.line_delivery(line)
    if status is None:
        return {**asdict(line), "delivery": None}
    facts = order.deliveries.get(line.sku, {})
    delivery = {
        "status": status,
        "entitlement_id": facts.get("entitlement_id"),
        "delivered_at": facts.get("granted_at"),
        "expires_at": facts.get("expires_at"),
        "revoked_at": facts.get("revoked_at"),
        "revoke_reason": facts.get("revoke_reason"),
    }
    return {**asdict(line), "delivery": delivery}


def order_body(order: Order) -> OrderResponse:
    cancellation = order.cancellation
    return OrderResponse.model_validate(
        {
            "order_id": order.order_id,
            "status": order.status,
            "status_version": order.current_status_version,
            "payment_status": order.payment_status,
            "fulfillment_status": order.fulfillment_status,
            "customer_email": order.customer_email,
            "lines": [line_body(order, line) for line in order.lines],
            "total": {"amount": order.total, "currency": order.currency},
            "refunded": {"amount": order.refunded_amount, "currency": order.currency},
            "shipping_address": order.shipping_address,
            "delivery_address": order.delivery_address,
            "delivery": order.delivery,
            "locale": order.locale,
            "payment_id": order.payment_id,
            "tracking": order.tracking,
            "cancellation": {"cancelled_by": cancellation.by, "reason": cancellation.reason} if cancellation else None,
            "created_at": order.created_at,
            "timeline": [asdict(entry) for entry in order.timeline],
        }
    )


def refund_body(order: Order, refund: Refund) -> RefundResponse:
    return RefundResponse.model_validate(
        {
            "refund_id": refund.refund_id,
            "order_id": order.order_id,
            "amount": {"amount": refund.amount, "currency": order.currency},
            "reason": refund.reason,
            "skus": refund.skus,
            "refunded_total": {"amount": order.refunded_amount, "currency": order.currency},
            "fully_refunded": order.fully_refunded,
            "payment_status": order.payment_status,
        }
    )


@app.route("/health")
@operation("Liveness", responses={200: Health})
def health() -> dict[str, str]:
    return {"status": "ok", "service": "orders"}


@app.route("/products", methods=["GET"])
@operation("The storefront's catalog view", responses={200: ProductList})
@json_api
def list_products() -> Any:
    views = sorted((v for v in repository.all_product_views() if not v.retired), key=lambda v: v.sku)
    products = [
        {"sku": v.sku, "name": v.name, "kind": v.kind, "price": {"amount": v.price_amount, "currency": v.currency}} for v in views
    ]
    return json_response(ProductList.model_validate({"products": products}))


@app.route("/orders", methods=["POST"])
@operation(
    "Place an order",
    body=PlaceOrderRequest,
    headers=PlaceOrderHeaders,
    responses={201: OrderResponse},
    errors={422},
    links={201: {"GetOrder": Link("get_order", {"order_id": "$response.body#/order_id"})}},
    description="The same Idempotency-Key with the same body returns the same order (header Idempotent-Replayed: true); "
    "with another body it is refused with 422.",
)
@json_api
@sign_in.required(app)
def create_order() -> Any:
    request = current_request(app)
    key = parse_params(request.headers, PlaceOrderHeaders).idempotency_key
    command = parse_body(request.raw_body, PlaceOrderRequest)
    try:
        order, replayed = usecases.place(
            command, key, current_caller().sub, repository, unit_of_work, accept_language=request.headers.get("Accept-Language")
        )
    except OrderInvalid as invalid:
        if invalid.code != RequestInvalid.code:
            problem = [{"field": invalid.field, "problem": invalid.problem}]
            raise Unprocessable(f"{invalid.field}: {invalid.problem}", fields=problem, code=invalid.code) from None
        raise RequestInvalid.field(invalid.field, invalid.problem) from None
    except usecases.IdempotencyKeyReused:
        raise Unprocessable(
            "this Idempotency-Key was already used with a different request",
            fields=[{"field": "Idempotency-Key", "problem": "reused with a different body"}],
            code="idempotency_key_reused",
        ) from None
    headers = {"Location": f"/orders/{order.order_id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(order_body(order), 201, headers)


@app.route("/orders", methods=["GET"])
@operation(
    "The caller's own orders, newest first",
    query=ListOrdersQuery,
    responses={200: OrderList},
    description="Paginated: pass the answer's next_cursor as ?cursor= for the next page.",
)
@json_api
@sign_in.required(app)
def list_orders() -> Any:
    query = parse_params(current_request(app).query_params or {}, ListOrdersQuery)
    try:
        orders, cursor = usecases.list_orders(current_caller().sub, query.limit, query.cursor, repository)
    except usecases.CursorInvalid as invalid:
        raise RequestInvalid.field("cursor", str(invalid)) from None
    return json_response(OrderList(orders=[order_body(order) for order in orders], next_cursor=cursor))


@app.route("/orders/{order_id}", methods=["GET"])
@operation("One of the caller's orders, its status and timeline", path=OrderPath, responses={200: OrderResponse}, errors={404})
@json_api
@sign_in.required(app)
def get_order(order_id: str) -> Any:
    parse_params({"order_id": order_id}, OrderPath)
    order = usecases.customer_order(current_caller().sub, order_id, repository)
    if order is None:
        raise NotFound(f"no order {order_id}")
    return json_response(order_body(order))


@app.route("/orders/{order_id}/cancel", methods=["POST"])
@operation(
    "Cancel one of the caller's orders",
    path=OrderPath,
    body=CancelRequest,
    responses={200: OrderResponse},
    errors={404, 409},
    description="Allowed until the shipment is handed to the logistics service. A 409's error code says why not: "
    "handed_to_logistics, already_shipped, already_delivered, already_cancelled, rejected, payment_failed, "
    "payment_in_progress (try again in a moment). The same cancel again answers the same (Idempotent-Replayed: true).",
)
@json_api
@sign_in.required(app)
def cancel_order(order_id: str) -> Any:
    return _cancel(order_id, "customer", owner=current_caller().sub)


@app.route("/staff/orders/{order_id}/cancel", methods=["POST"])
@operation(
    "Cancel any order (staff)",
    path=OrderPath,
    body=CancelRequest,
    responses={200: OrderResponse},
    errors={404, 409},
    description="Allowed until the carrier has the parcel (the logistics service's instruction is called back). "
    "Otherwise as the customer's cancel.",
)
@json_api
@sign_in.required(app, groups=STAFF)
def staff_cancel_order(order_id: str) -> Any:
    return _cancel(order_id, "staff", owner=None)


def _cancel(order_id: str, by: CancelledBy, *, owner: str | None) -> Any:
    parse_params({"order_id": order_id}, OrderPath)
    reason = parse_body(current_request(app).raw_body, CancelRequest).reason
    try:
        order, replayed = usecases.cancel(
            order_id, by=by, actor=current_caller().sub, reason=reason, owner=owner, repository=repository, new_uow=unit_of_work
        )
    except usecases.OrderNotFound:
        raise NotFound(f"no order {order_id}") from None
    except CancelRefused as refused:
        raise Conflict(refused.message, code=refused.code) from None
    return json_response(order_body(order), 200, {"Idempotent-Replayed": "true"} if replayed else None)


@app.route("/staff/orders/{order_id}", methods=["GET"])
@operation("Any order, its statuses and timeline (staff)", path=OrderPath, responses={200: OrderResponse}, errors={404})
@json_api
@sign_in.required(app, groups=STAFF)
def staff_get_order(order_id: str) -> Any:
    parse_params({"order_id": order_id}, OrderPath)
    order = repository.order(order_id)
    if order is None:
        raise NotFound(f"no order {order_id}")
    return json_response(order_body(order))


@app.route("/staff/orders/{order_id}/refunds", methods=["POST"])
@operation(
    "Refund an order fully or in part (staff)",
    path=OrderPath,
    body=RefundRequest,
    headers=RefundHeaders,
    responses={201: RefundResponse},
    errors={404, 409, 422, 502, 503},
    description="Gives back `amount` of the captured payment and publishes PaymentRefunded. 409 not_captured or "
    "nothing_to_refund; 422 exceeds_refundable (amount), not_a_digital_line (skus), idempotency_key_reused, or "
    "refund_refused (the gateway's code in the message); 503: the gateway did not answer, send the same request again. "
    "The same Idempotency-Key with the same body returns the same refund and never refunds twice.",
)
@json_api
@sign_in.required(app, groups=STAFF)
def refund_order(order_id: str) -> Any:
    parse_params({"order_id": order_id}, OrderPath)
    request = current_request(app)
    key = parse_params(request.headers, RefundHeaders).idempotency_key
    command = parse_body(request.raw_body, RefundRequest)
    try:
        order, refund, replayed = usecases.refund_by_staff(
            order_id,
            idempotency_key=key,
            amount=command.amount,
            reason=command.reason,
            skus=command.skus,
            repository=repository,
            new_uow=unit_of_work,
            gateway=refunds,
        )
    except usecases.OrderNotFound:
        raise NotFound(f"no order {order_id}") from None
    except usecases.IdempotencyKeyReused:
        raise Unprocessable(
            "this Idempotency-Key was already used with a different request",
            fields=[{"field": "Idempotency-Key", "problem": "reused with a different body"}],
            code="idempotency_key_reused",
        ) from None
    except RefundNotAllowed as refused:
        fields = [{"field": refused.field, "problem": refused.message}] if refused.field else None
        error = Unprocessable if refused.field else Conflict
        raise error(refused.message, fields=fields, code=refused.code) from None
    except RefundRefused as refused:
        raise Unprocessable(
            f"the payment gateway refused the refund: {refused.code}: {refused.message}", code="refund_refused"
        ) from None
    except PaymentGatewayUnavailable:
        raise GatewayUnavailable("the payment gateway did not answer; send the same request again") from None
    except PaymentRequestRejected:
        # Our request, not the refund, was refused (a setting or a bug): logged, and nothing was refunded.
        runtime.logger.exception("the payment gateway refused the refund request")
        raise GatewayRefusedRequest("the payment gateway refused the request; nothing was refunded") from None
    return json_response(refund_body(order, refund), 201, {"Idempotent-Replayed": "true"} if replayed else None)


def _charge(event: DomainEvent, subscriber: str) -> None:
    usecases.charge_payment(event, subscriber, repository, unit_of_work, gateway)


def _history(event: DomainEvent, subscriber: str) -> None:
    usecases.record_history(event, subscriber, repository, unit_of_work)


def _product_view(event: DomainEvent, subscriber: str) -> None:
    usecases.update_product_view(event, subscriber, unit_of_work)


def _refund_on_cancel(event: DomainEvent, subscriber: str) -> None:
    usecases.refund_on_cancel(event, subscriber, repository, unit_of_work, refunds)


def _digital_delivery(event: DomainEvent, subscriber: str) -> None:
    if not usecases.record_delivery(event, subscriber, repository, unit_of_work):
        runtime.logger.warning("an entitlement about an order orders never held: noted, not retried")


# product-view, order-history and digital-delivery commit every effect with the processed-marker, which alone
# de-duplicates them (decision 0012); charge-payment and refund-on-cancel call the gateway before their
# commit, so powertools keeps a repeat from even asking the gateway again.
product_view_subscriber = runtime.subscriber(
    "product-view",
    {"ProductPublished": _product_view, "ProductUpdated": _product_view, "ProductRetired": _product_view},
    deduplicated_by_marker=True,
)
payment_subscriber = runtime.subscriber("charge-payment", {"StockReserved": _charge})
history_subscriber = runtime.subscriber(
    "order-history",
    {
        event_type: _history
        for event_type in (
            "StockRejected",
            "StockReleased",
            "ShipmentRequested",
            "ShipmentPacked",
            "ShipmentInstructed",
            "ShipmentDispatched",
            "ShipmentDelivered",
            "ShipmentCancelled",
        )
    },
    deduplicated_by_marker=True,
)
refund_subscriber = runtime.subscriber("refund-on-cancel", {"OrderCancelled": _refund_on_cancel})
delivery_subscriber = runtime.subscriber(
    "digital-delivery",
    {"EntitlementGranted": _digital_delivery, "EntitlementRevoked": _digital_delivery},
    deduplicated_by_marker=True,
)

update_product_view = runtime.consume(app, "update_product_view", product_view_subscriber)
charge_payment = runtime.consume(app, "charge_payment", payment_subscriber)
record_history = runtime.consume(app, "record_history", history_subscriber)
refund_on_cancel = runtime.consume(app, "refund_on_cancel", refund_subscriber)
record_delivery = runtime.consume(app, "record_delivery", delivery_subscriber)


# Publishing: the stream relay and the scheduled sweeper (nothing in the outbox is lost). The relay also
# announces each order's status changes from the same stream (OrderStatusChanged, chalicelib.status_changes).
relay_outbox, sweep_outbox = runtime.publish_outbox(app, changes=status_changes.order_status_changes)
