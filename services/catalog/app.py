"""catalog: products, prices and stock. Reserves stock for orders; never oversells."""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice

from chalicelib import usecases
from chalicelib.api_models import ProductInput, ProductLookupPath, ProductPath, ProductResponse
from chalicelib.repository import CatalogRepository, CatalogUnitOfWork
from shop_contracts import REGISTRY, TOPOLOGY
from shop_eventing.auth import SignIn
from shop_eventing.envelope import DomainEvent
from shop_eventing.http import (
    Conflict,
    NotFound,
    current_request,
    json_api,
    json_response,
    parse_body,
    parse_params,
    use_one_error_shape,
)
from shop_eventing.openapi import Health, Link, operation, serve_openapi
from shop_eventing.runtime import ServiceRuntime

app = Chalice(app_name="shop-catalog")
use_one_error_shape(app)
serve_openapi(app, title="shop catalog API", version="1", description="Products, prices and stock: the staff API.")
runtime = ServiceRuntime(TOPOLOGY, "catalog", REGISTRY)
repository = CatalogRepository(runtime.dynamodb, runtime.table_name)
sign_in = SignIn.from_environment()
STAFF = "staff"  # only staff create and revise products


def unit_of_work() -> CatalogUnitOfWork:
    return CatalogUnitOfWork(runtime.dynamodb, runtime.table_name, runtime.service.source)


def _product_body(product: Any) -> ProductResponse:
    return ProductResponse.model_validate(
        {
            "sku": product.sku,
            "name": product.name,
            "kind": product.kind,
            "price": {"amount": product.price_amount, "currency": product.currency},
            "stock": product.stock,
            "revision": product.revision,
        }
    )


@app.route("/health")
@operation("Liveness", responses={200: Health})
def health() -> dict[str, str]:
    return {"status": "ok", "service": "catalog"}


@app.route("/products/{sku}", methods=["PUT"])
@operation(
    "Create or revise a product",
    path=ProductPath,
    body=ProductInput,
    responses={200: ProductResponse, 201: ProductResponse},
    errors={409},
    links={status: {"GetProduct": Link("get_product", {"sku": "$response.body#/sku"})} for status in (200, 201)},
    description="201 when the product is new, 200 when revised; without `stock`, a revision keeps the stock.",
)
@json_api
@sign_in.required(app, groups={STAFF})
def put_product(sku: str) -> Any:
    parse_params({"sku": sku}, ProductPath)
    command = parse_body(current_request(app).raw_body, ProductInput)
    try:
        product = usecases.upsert_product(sku, command, repository, unit_of_work)
    except usecases.ConcurrentUpdate:
        raise Conflict("the product changed at the same time; retry") from None
    return json_response(_product_body(product), 200 if product.revision > 1 else 201)


@app.route("/products/{sku}", methods=["GET"])
@operation("A product, its price and stock", path=ProductLookupPath, responses={200: ProductResponse}, errors={404})
@json_api
def get_product(sku: str) -> Any:
    parse_params({"sku": sku}, ProductLookupPath)
    product = repository.product(sku)
    if product is None:
        raise NotFound(f"no product {sku}")
    return json_response(_product_body(product))


def _reserve(event: DomainEvent, subscriber: str) -> None:
    usecases.reserve_stock(event, subscriber, repository, unit_of_work)


def _release(event: DomainEvent, subscriber: str) -> None:
    usecases.release_stock(event, subscriber, repository, unit_of_work)


# Both handlers commit every effect in the transaction that writes the processed-marker (usecases),
# so the marker alone de-duplicates: no powertools idempotency record (decision 0012).
reserve_subscriber = runtime.subscriber("reserve-stock", {"OrderPlaced": _reserve}, deduplicated_by_marker=True)
release_subscriber = runtime.subscriber("release-stock", {"PaymentFailed": _release}, deduplicated_by_marker=True)


reserve_stock = runtime.consume(app, "reserve_stock", reserve_subscriber)
release_stock = runtime.consume(app, "release_stock", release_subscriber)


# Publishing: the stream relay and the scheduled sweeper (nothing in the outbox is lost).
relay_outbox, sweep_outbox = runtime.publish_outbox(app)
