"""catalog: products, prices and stock. Reserves stock for orders; never oversells."""

from __future__ import annotations

import re
from typing import Any

from chalice.app import Chalice, CloudWatchEvent, DynamoDBEvent, Rate, SQSEvent

from chalicelib import usecases
from chalicelib.repository import CatalogRepository, CatalogUnitOfWork
from shop_contracts import REGISTRY, TOPOLOGY
from shop_contracts.events import SKU_MAX_LENGTH, SKU_PATTERN
from shop_eventing.envelope import DomainEvent
from shop_eventing.http import Conflict, NotFound, RequestInvalid, current_request, json_api, json_response, parse_body
from shop_eventing.relay import SWEEP_EVERY_MINUTES
from shop_eventing.runtime import ServiceRuntime

app = Chalice(app_name="shop-catalog")
runtime = ServiceRuntime(TOPOLOGY, "catalog", REGISTRY)
repository = CatalogRepository(runtime.dynamodb, runtime.table_name)


def unit_of_work() -> CatalogUnitOfWork:
    return CatalogUnitOfWork(runtime.dynamodb, runtime.table_name, runtime.service.source)


def _product_body(product: Any) -> dict[str, Any]:
    return {
        "sku": product.sku,
        "name": product.name,
        "kind": product.kind,
        "price": {"amount": product.price_amount, "currency": product.currency},
        "stock": product.stock,
        "revision": product.revision,
    }


@app.route("/health")
def health() -> dict[str, str]:
    return {"status": "ok", "service": "catalog"}


@app.route("/products/{sku}", methods=["PUT"])
@json_api
def put_product(sku: str) -> Any:
    if not (0 < len(sku) <= SKU_MAX_LENGTH and re.fullmatch(SKU_PATTERN, sku)):
        raise RequestInvalid.field("sku", f"must be 1 to {SKU_MAX_LENGTH} characters matching {SKU_PATTERN}")
    command = parse_body(current_request(app).raw_body, usecases.ProductInput)
    try:
        product = usecases.upsert_product(sku, command, repository, unit_of_work)
    except usecases.ConcurrentUpdate:
        raise Conflict("the product changed at the same time; retry") from None
    return json_response(_product_body(product), 200 if product.revision > 1 else 201)


@app.route("/products/{sku}", methods=["GET"])
@json_api
def get_product(sku: str) -> Any:
    product = repository.product(sku)
    if product is None:
        raise NotFound(f"no product {sku}")
    return json_response(_product_body(product))


def _reserve(event: DomainEvent, subscriber: str) -> None:
    usecases.reserve_stock(event, subscriber, repository, unit_of_work)


def _release(event: DomainEvent, subscriber: str) -> None:
    usecases.release_stock(event, subscriber, repository, unit_of_work)


reserve_subscriber = runtime.subscriber("reserve-stock", {"OrderPlaced": _reserve})
release_subscriber = runtime.subscriber("release-stock", {"PaymentFailed": _release})


@app.on_sqs_message(queue=reserve_subscriber.queue_name, batch_size=reserve_subscriber.batch_size)
def reserve_stock(event: SQSEvent) -> dict[str, Any]:
    return reserve_subscriber.handle(event.to_dict(), event.context)


@app.on_sqs_message(queue=release_subscriber.queue_name, batch_size=release_subscriber.batch_size)
def release_stock(event: SQSEvent) -> dict[str, Any]:
    return release_subscriber.handle(event.to_dict(), event.context)


@app.on_dynamodb_record(stream_arn=runtime.table_stream_arn)
def relay_outbox(event: DynamoDBEvent) -> None:
    runtime.relay.handle(event.to_dict())


@app.schedule(Rate(SWEEP_EVERY_MINUTES, unit=Rate.MINUTES))
def sweep_outbox(event: CloudWatchEvent) -> None:
    # Publishes what the stream relay missed (shop_eventing.relay): nothing in the outbox is lost.
    runtime.sweep_outbox(event.context)
