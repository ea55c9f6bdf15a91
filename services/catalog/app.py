"""catalog: products, prices and stock. Staff keep the catalog; customers see what is on sale; stock is
reserved for orders (never oversold) and given back when an order's payment fails or it is cancelled."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from chalice.app import Chalice

from chalicelib import stock_levels, usecases
from chalicelib.api_models import AccessInput as AccessBody
from chalicelib.api_models import (
    CreateProductRequest,
    IdempotencyHeaders,
    IfMatchHeaders,
    OptionalIfMatchHeaders,
    ProductInput,
    ProductList,
    ProductLookupPath,
    ProductPath,
    ProductResponse,
    PublicListQuery,
    PublicProduct,
    StaffListQuery,
    StaffProduct,
    StaffProductList,
    StockAdjustmentRequest,
    StockAdjustmentResponse,
    UpdateProductRequest,
)
from chalicelib.domain import Access, Product, ProductInvalid, StockRefused, TransitionRefused
from chalicelib.repository import Adjustment, CatalogRepository, CatalogUnitOfWork
from shop_contracts import REGISTRY, TOPOLOGY
from shop_contracts.events import SKU_PATTERN
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

app = Chalice(app_name="shop-catalog")
use_one_error_shape(app)
serve_openapi(
    app,
    title="shop catalog API",
    version="1",
    description="Products, prices and stock: the staff's catalog (/staff/...) and the storefront's view of what is on sale.",
)
runtime = ServiceRuntime(TOPOLOGY, "catalog", REGISTRY)
runtime.trace(app)
repository = CatalogRepository(runtime.dynamodb, runtime.table_name)
sign_in = SignIn.from_environment()
STAFF = "staff"  # only staff keep the catalog
# The staff console's operations view: this service's queues, DLQs and outbox, measured as `shop status` does.
serve_ops_status(app, runtime, sign_in, groups={STAFF})


def unit_of_work() -> CatalogUnitOfWork:
    return CatalogUnitOfWork(runtime.dynamodb, runtime.table_name, runtime.service.source)


# -- answers ----------------------------------------------------------------------------------------


def _public_fields(product: Product) -> dict[str, Any]:
    access = product.access
    return {
        "sku": product.sku,
        "name": product.name,
        "kind": product.kind,
        "product_type": product.product_type,
        "price": {"amount": product.price_amount, "currency": product.currency},
        "access": None
        if product.product_type == "physical_good"
        else {
            "video_id": access.video_id if access else None,
            "live_show_id": access.live_show_id if access else None,
            "rental_hours": access.rental_hours if access else None,
        },
        "availability": product.availability,
        "revision": product.revision,
    }


def _staff_body(product: Product) -> StaffProduct:
    return StaffProduct.model_validate({**_public_fields(product), "status": product.status, "stock": product.stock})


def _staff_response(product: Product, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    # The revision is the product's ETag: what a change sends back as If-Match.
    return json_response(_staff_body(product), status, {"ETag": f'"{product.revision}"', **(headers or {})})


def _adjustment_body(adjustment: Adjustment) -> StockAdjustmentResponse:
    return StockAdjustmentResponse(
        sku=adjustment.sku,
        idempotency_key=adjustment.key,
        delta=adjustment.delta,
        reason=adjustment.reason,
        note=adjustment.note,
        on_hand=adjustment.on_hand,
        adjusted_by=adjustment.adjusted_by,
        adjusted_at=adjustment.adjusted_at,
    )


# -- request parts ------------------------------------------------------------------------------------


def _access(body: AccessBody | None) -> Access | None:
    return Access(video_id=body.video_id, live_show_id=body.live_show_id, rental_hours=body.rental_hours) if body else None


def _revision(if_match: str | None) -> int | None:
    return int(if_match.removeprefix("W/").strip('"')) if if_match else None


def _encode_cursor(sku: str | None) -> str | None:
    return base64.urlsafe_b64encode(sku.encode()).decode().rstrip("=") if sku else None


def _decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        sku = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        sku = ""
    if not re.fullmatch(SKU_PATTERN, sku):
        raise RequestInvalid.field("cursor", "not a cursor from this API")
    return sku


def _refused(error: Exception) -> ApiError:
    """A domain refusal as the API answers it: a 400 naming the field, or a 409 naming the state."""
    answer: ApiError
    match error:
        case ProductInvalid() | StockRefused(conflict=False):
            answer = RequestInvalid.field(error.field, error.problem)
        case StockRefused():
            code = "insufficient_stock" if error.field == "on_hand" else "no_stock"
            answer = Conflict(str(error), fields=[{"field": error.field, "problem": error.problem}], code=code)
        case TransitionRefused(field=None):
            answer = Conflict(str(error), code="status_conflict")
        case TransitionRefused():
            answer = Conflict(str(error), fields=[{"field": str(error.field), "problem": str(error)}])
        case usecases.StaleRevision():
            answer = Conflict(str(error), fields=[{"field": "If-Match", "problem": str(error)}], code="stale_revision")
        case usecases.ConcurrentUpdate():
            answer = Conflict("the product changed at the same time; retry")
        case usecases.ProductNotFound():
            answer = NotFound(str(error))
        case _:
            raise error
    return answer


REFUSALS = (
    ProductInvalid,
    TransitionRefused,
    StockRefused,
    usecases.StaleRevision,
    usecases.ConcurrentUpdate,
    usecases.ProductNotFound,
)


@app.route("/health")
@operation("Liveness", responses={200: Health})
def health() -> dict[str, str]:
    return {"status": "ok", "service": "catalog"}


# -- the storefront: what is on sale (public) --------------------------------------------------------


@app.route("/products", methods=["GET"])
@operation(
    "Products on sale",
    query=PublicListQuery,
    responses={200: ProductList},
    description="Paginated by SKU: pass next_cursor back as ?cursor=. Whether a product is in stock, not how many units.",
)
@json_api
def list_products() -> Any:
    query = parse_params(current_request(app).query_params or {}, PublicListQuery)
    types = [query.product_type] if query.product_type else []
    products, last = repository.list_products(
        statuses=["published"], types=types, limit=query.limit, after_sku=_decode_cursor(query.cursor)
    )
    listed = [PublicProduct.model_validate(_public_fields(p)) for p in products]
    return json_response(ProductList(products=listed, next_cursor=_encode_cursor(last)))


@app.route("/products/{sku}", methods=["GET"])
@operation("A product on sale", path=ProductLookupPath, responses={200: ProductResponse}, errors={404})
@json_api
def get_product(sku: str) -> Any:
    parse_params({"sku": sku}, ProductLookupPath)
    product = repository.product(sku)
    if product is None or not product.on_sale:
        raise NotFound(f"no product {sku}")
    return json_response(ProductResponse.model_validate({**_public_fields(product), "stock": product.stock}))


# -- the staff's catalog -----------------------------------------------------------------------------


@app.route("/products/{sku}", methods=["PUT"])
@operation(
    "Create or revise a product, on sale at once",
    path=ProductPath,
    body=ProductInput,
    responses={200: StaffProduct, 201: StaffProduct},
    errors={409},
    links={status: {"GetProduct": Link("get_product", {"sku": "$response.body#/sku"})} for status in (200, 201)},
    description="The API before drafts, kept for its clients: 201 when the product is new (published at once), 200 when "
    "revised (a draft is published by it); a retired product is a 409. Without `stock`, a revision keeps the stock.",
)
@json_api
@sign_in.required(app, groups={STAFF})
def put_product(sku: str) -> Any:
    parse_params({"sku": sku}, ProductPath)
    body = parse_body(current_request(app).raw_body, ProductInput)
    command = usecases.PutProduct(
        name=body.name,
        kind=body.kind,
        price_amount=body.price.amount,
        currency=body.price.currency,
        stock=body.stock,
        product_type=body.product_type,
        access=_access(body.access),
    )
    try:
        product = usecases.upsert_product(sku, command, repository, unit_of_work)
    except REFUSALS as refused:
        raise _refused(refused) from None
    return _staff_response(product, 200 if product.revision > 1 else 201)


@app.route("/staff/products", methods=["POST"])
@operation(
    "Create a product as a draft",
    body=CreateProductRequest,
    responses={201: StaffProduct},
    errors={409},
    links={201: {"GetStaffProduct": Link("get_staff_product", {"sku": "$response.body#/sku"})}},
    description="Nobody sees a draft until it is published. access: video_id (and rental_hours) for videos, live_show_id "
    "for live tickets; stock for physical goods and live tickets (a show's capacity). A SKU that exists is a 409.",
)
@json_api
@sign_in.required(app, groups={STAFF})
def create_product() -> Any:
    body = parse_body(current_request(app).raw_body, CreateProductRequest)
    command = usecases.NewProduct(
        sku=body.sku,
        name=body.name,
        product_type=body.product_type,
        price_amount=body.price.amount,
        currency=body.price.currency,
        access=_access(body.access),
        stock=body.stock,
    )
    try:
        product = usecases.create_draft(command, unit_of_work)
    except usecases.ProductAlreadyExists as exists:
        raise Conflict(str(exists), fields=[{"field": "sku", "problem": "exists already"}], code="product_exists") from None
    except REFUSALS as refused:
        raise _refused(refused) from None
    return _staff_response(product, 201, {"Location": f"/staff/products/{product.sku}"})


@app.route("/staff/products", methods=["GET"])
@operation(
    "Products in any status",
    query=StaffListQuery,
    responses={200: StaffProductList},
    description="Filter by status and type; paginated by SKU: pass next_cursor back as ?cursor=.",
)
@json_api
@sign_in.required(app, groups={STAFF})
def list_staff_products() -> Any:
    query = parse_params(current_request(app).query_params or {}, StaffListQuery)
    products, last = repository.list_products(
        statuses=[query.status] if query.status else [],
        types=[query.product_type] if query.product_type else [],
        limit=query.limit,
        after_sku=_decode_cursor(query.cursor),
    )
    return json_response(StaffProductList(products=[_staff_body(p) for p in products], next_cursor=_encode_cursor(last)))


@app.route("/staff/products/{sku}", methods=["GET"])
@operation("A product in any status, with its stock", path=ProductPath, responses={200: StaffProduct}, errors={404})
@json_api
@sign_in.required(app, groups={STAFF})
def get_staff_product(sku: str) -> Any:
    parse_params({"sku": sku}, ProductPath)
    product = repository.product(sku)
    if product is None:
        raise NotFound(f"no product {sku}")
    return _staff_response(product)


@app.route("/staff/products/{sku}", methods=["PATCH"])
@operation(
    "Change a product's name, price or access",
    path=ProductPath,
    headers=IfMatchHeaders,
    body=UpdateProductRequest,
    responses={200: StaffProduct},
    errors={404, 409},
    description="If-Match names the revision the change is based on; another revision is a 409 (stale_revision). "
    "A published product announces the change (ProductUpdated); a retired one is not changed (409).",
)
@json_api
@sign_in.required(app, groups={STAFF})
def update_product(sku: str) -> Any:
    request = current_request(app)
    parse_params({"sku": sku}, ProductPath)
    expected = _revision(parse_params(request.headers, IfMatchHeaders).if_match)
    body = parse_body(request.raw_body, UpdateProductRequest)
    if body.name is None and body.price is None and body.access is None:
        raise RequestInvalid("name, price or access: send at least one", fields=[{"field": "(body)", "problem": "empty"}])
    try:
        product = usecases.edit_product(
            sku,
            expected or 0,
            repository,
            unit_of_work,
            name=body.name,
            price=(body.price.amount, body.price.currency) if body.price else None,
            access=_access(body.access),
        )
    except REFUSALS as refused:
        raise _refused(refused) from None
    return _staff_response(product)


def _transition(sku: str, change: Any) -> Any:
    parse_params({"sku": sku}, ProductPath)
    expected = _revision(parse_params(current_request(app).headers, OptionalIfMatchHeaders).if_match)
    try:
        product = change(sku, expected, repository, unit_of_work)
    except REFUSALS as refused:
        raise _refused(refused) from None
    return _staff_response(product)


@app.route("/staff/products/{sku}/publish", methods=["POST"])
@operation(
    "Put a product on sale",
    path=ProductPath,
    headers=OptionalIfMatchHeaders,
    responses={200: StaffProduct},
    errors={404, 409},
    description="A draft for the first time, or a retired product again (ProductPublished). Publishing what is on sale "
    "changes nothing.",
)
@json_api
@sign_in.required(app, groups={STAFF})
def publish_product(sku: str) -> Any:
    return _transition(sku, usecases.publish_product)


@app.route("/staff/products/{sku}/retire", methods=["POST"])
@operation(
    "Withdraw a product from sale",
    path=ProductPath,
    headers=OptionalIfMatchHeaders,
    responses={200: StaffProduct},
    errors={404, 409},
    description="ProductRetired: new orders for it are refused, orders placed go on. Only a published product is "
    "retired (a draft is a 409); retiring a retired one changes nothing; it may be published again.",
)
@json_api
@sign_in.required(app, groups={STAFF})
def retire_product(sku: str) -> Any:
    return _transition(sku, usecases.retire_product)


@app.route("/staff/products/{sku}/stock-adjustments", methods=["POST"])
@operation(
    "Add or remove units on hand",
    path=ProductPath,
    headers=IdempotencyHeaders,
    body=StockAdjustmentRequest,
    responses={201: StockAdjustmentResponse},
    errors={404, 409, 422},
    description="StockAdjusted. The same Idempotency-Key with the same body answers the first adjustment again "
    "(Idempotent-Replayed: true); with another body, 422. Fewer than zero units on hand is a 409 naming on_hand; a live "
    "ticket's capacity changes with reason capacity_changed (or correction); videos have no stock (409).",
)
@json_api
@sign_in.required(app, groups={STAFF})
def adjust_stock(sku: str) -> Any:
    request = current_request(app)
    parse_params({"sku": sku}, ProductPath)
    key = parse_params(request.headers, IdempotencyHeaders).idempotency_key
    body = parse_body(request.raw_body, StockAdjustmentRequest)
    command = usecases.AdjustStock(
        sku=sku, idempotency_key=key, delta=body.delta, reason=body.reason, note=body.note, adjusted_by=current_caller().sub
    )
    try:
        adjustment, replayed = usecases.adjust_stock(command, repository, unit_of_work)
    except usecases.IdempotencyKeyReused:
        raise Unprocessable(
            "this Idempotency-Key was already used with a different adjustment",
            fields=[{"field": "Idempotency-Key", "problem": "reused with a different body"}],
            code="idempotency_key_reused",
        ) from None
    except REFUSALS as refused:
        raise _refused(refused) from None
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return json_response(_adjustment_body(adjustment), 201, headers)


# -- events ------------------------------------------------------------------------------------------


def _reserve(event: DomainEvent, subscriber: str) -> None:
    usecases.reserve_stock(event, subscriber, repository, unit_of_work)


def _release(event: DomainEvent, subscriber: str) -> None:
    usecases.release_stock(event, subscriber, repository, unit_of_work)


# Both handlers commit every effect in the transaction that writes the processed-marker (usecases),
# so the marker alone de-duplicates: no powertools idempotency record (decision 0012).
reserve_subscriber = runtime.subscriber("reserve-stock", {"OrderPlaced": _reserve}, deduplicated_by_marker=True)
release_subscriber = runtime.subscriber(
    "release-stock", {"PaymentFailed": _release, "OrderCancelled": _release}, deduplicated_by_marker=True
)


reserve_stock = runtime.consume(app, "reserve_stock", reserve_subscriber)
release_stock = runtime.consume(app, "release_stock", release_subscriber)


# Publishing: the stream relay and the scheduled sweeper (nothing in the outbox is lost). The relay also
# announces each product's stock level from the same stream (StockLevelChanged, chalicelib.stock_levels).
relay_outbox, sweep_outbox = runtime.publish_outbox(app, changes=stock_levels.stock_level_changes)
