"""orders: checkout, payment and order history — the storefront's API."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from chalice.app import Chalice

from chalicelib import usecases
from chalicelib.api_models import (
    ListOrdersQuery,
    OrderList,
    OrderPath,
    OrderResponse,
    PlaceOrderHeaders,
    PlaceOrderRequest,
    ProductList,
)
from chalicelib.domain import Order, OrderInvalid
from chalicelib.payments import StripePaymentGateway
from chalicelib.repository import OrdersRepository, OrdersUnitOfWork
from shop_contracts import REGISTRY, TOPOLOGY
from shop_eventing.auth import SignIn, current_caller
from shop_eventing.envelope import DomainEvent
from shop_eventing.http import (
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
from shop_eventing.runtime import ServiceRuntime

app = Chalice(app_name="shop-orders")
use_one_error_shape(app)
serve_openapi(app, title="shop orders API", version="1", description="Checkout, payment and order history: the storefront's API.")
runtime = ServiceRuntime(TOPOLOGY, "orders", REGISTRY)
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


def unit_of_work() -> OrdersUnitOfWork:
    return OrdersUnitOfWork(runtime.dynamodb, runtime.table_name, runtime.service.source)


def order_body(order: Order) -> OrderResponse:
    return OrderResponse.model_validate(
        {
            "order_id": order.order_id,
            "status": order.status,
            "customer_email": order.customer_email,
            "lines": [asdict(line) for line in order.lines],
            "total": {"amount": order.total, "currency": order.currency},
            "shipping_address": order.shipping_address,
            "delivery_address": order.delivery_address,
            "payment_id": order.payment_id,
            "created_at": order.created_at,
            "timeline": [asdict(entry) for entry in order.timeline],
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
    views = sorted(repository.all_product_views(), key=lambda v: v.sku)
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
        order, replayed = usecases.place(command, key, current_caller().sub, repository, unit_of_work)
    except OrderInvalid as invalid:
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


def _charge(event: DomainEvent, subscriber: str) -> None:
    usecases.charge_payment(event, subscriber, repository, unit_of_work, gateway)


def _history(event: DomainEvent, subscriber: str) -> None:
    usecases.record_history(event, subscriber, repository, unit_of_work)


def _product_view(event: DomainEvent, subscriber: str) -> None:
    usecases.update_product_view(event, subscriber, unit_of_work)


# product-view and order-history commit every effect with the processed-marker, which alone
# de-duplicates them (decision 0012); charge-payment calls the gateway before its commit, so powertools
# keeps a repeat from even asking the gateway again.
product_view_subscriber = runtime.subscriber("product-view", {"ProductPublished": _product_view}, deduplicated_by_marker=True)
payment_subscriber = runtime.subscriber("charge-payment", {"StockReserved": _charge})
history_subscriber = runtime.subscriber(
    "order-history",
    {"StockRejected": _history, "StockReleased": _history, "ShipmentRequested": _history},
    deduplicated_by_marker=True,
)

update_product_view = runtime.consume(app, "update_product_view", product_view_subscriber)
charge_payment = runtime.consume(app, "charge_payment", payment_subscriber)
record_history = runtime.consume(app, "record_history", history_subscriber)


# Publishing: the stream relay and the scheduled sweeper (nothing in the outbox is lost).
relay_outbox, sweep_outbox = runtime.publish_outbox(app)
