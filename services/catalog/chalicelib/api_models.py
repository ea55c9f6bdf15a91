"""The catalog HTTP API's models: what the views validate and answer, and what its OpenAPI document says.

Request models are strict (no "10", 10.0 or true for a count) and bounded so that every number fits
what DynamoDB stores (38 significant digits) with room for what others compute from it: a price is
at most MAX_AMOUNT minor units, so an order of 50 lines of 100 units stays below 10**16.
What a product type requires (a video for a rental, a live show for a ticket, stock only where units
run out) is a domain rule (chalicelib.domain), answered as a 400 naming the field like these.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.domain import MAX_STOCK, ProductStatus
from shop_contracts.events import SKU_MAX_LENGTH, SKU_PATTERN, ProductKind, ProductType, StockAdjustmentReason
from shop_eventing.http import Text

# 10**12 minor units: ten billion dollars, euros...; a billion yen times a thousand.
MAX_AMOUNT = 10**12
# A rental of at most a year.
MAX_RENTAL_HOURS = 24 * 366
MAX_PAGE = 100
DEFAULT_PAGE = 20
# An ETag as this API sends it ("3") or the bare revision (3).
REVISION_TAG = r'^(W/)?"?[1-9][0-9]{0,11}"?$'
IDEMPOTENCY_KEY = r"^[\x21-\x7e]+$"


class PriceInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, title="Price")

    amount: int = Field(ge=0, le=MAX_AMOUNT, description="Integer minor units (cents; yen for JPY); never a float.")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")


class AccessInput(BaseModel):
    """What a digital product gives access to. video_id for rentals and purchases, rental_hours for
    rentals, live_show_id for live tickets; nothing for physical goods."""

    model_config = ConfigDict(extra="forbid", strict=True, title="Access")

    video_id: Text | None = Field(default=None, min_length=1, max_length=128)
    live_show_id: Text | None = Field(default=None, min_length=1, max_length=128)
    rental_hours: int | None = Field(default=None, ge=1, le=MAX_RENTAL_HOURS)


class _FromMoney(BaseModel):
    @field_validator("price", mode="before", check_fields=False)
    @classmethod
    def _from_money(cls, value: object) -> object:
        # Callers in code may pass the contracts' Money; it is validated like any other price.
        return value.model_dump() if isinstance(value, BaseModel) else value


class ProductInput(_FromMoney):
    """PUT /products/{sku}: create or revise a product and put it on sale at once (the API before drafts)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Text = Field(min_length=1, max_length=200)
    kind: ProductKind
    price: PriceInput
    stock: int | None = Field(
        default=None, ge=0, le=MAX_STOCK, description="Units on hand; physical goods and live tickets only. Absent: kept."
    )
    product_type: ProductType | None = Field(
        default=None, description="Absent: physical_good for a physical product, video_purchase for a digital one."
    )
    access: AccessInput | None = None


class CreateProductRequest(_FromMoney):
    """A new product, as a draft: nobody sees it until it is published."""

    model_config = ConfigDict(extra="forbid", strict=True)

    sku: str = Field(min_length=1, max_length=SKU_MAX_LENGTH, pattern=SKU_PATTERN)
    name: Text = Field(min_length=1, max_length=200)
    product_type: ProductType
    price: PriceInput
    access: AccessInput | None = Field(default=None, description="Required for every type but physical_good.")
    stock: int | None = Field(
        default=None, ge=0, le=MAX_STOCK, description="Initial units (a live ticket's seats); physical goods, live tickets only."
    )


class UpdateProductRequest(_FromMoney):
    """What staff change on a product; what is absent stays. The type and the stock are not changed here."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"minProperties": 1})

    name: Text | None = Field(default=None, min_length=1, max_length=200)
    price: PriceInput | None = None
    access: AccessInput | None = None


class StockAdjustmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    delta: int = Field(ge=-MAX_STOCK, le=MAX_STOCK, description="Units added (positive) or removed (negative); never zero.")
    reason: StockAdjustmentReason = Field(description="capacity_changed (or correction) for a live ticket.")
    note: Text | None = Field(default=None, max_length=500)


class ProductPath(BaseModel):
    sku: str = Field(min_length=1, max_length=SKU_MAX_LENGTH, pattern=SKU_PATTERN)


class ProductLookupPath(BaseModel):
    # Looking up a SKU no product may have is a plain 404, not a 400.
    sku: Text = Field(min_length=1, max_length=256)


class IfMatchHeaders(BaseModel):
    if_match: str = Field(
        alias="If-Match",
        pattern=REVISION_TAG,
        description="The revision the change is based on (the ETag of the product as read); another is a 409.",
    )


class OptionalIfMatchHeaders(BaseModel):
    if_match: str | None = Field(
        default=None,
        alias="If-Match",
        pattern=REVISION_TAG,
        description="If given, the revision the change is based on; another is a 409.",
    )


class IdempotencyHeaders(BaseModel):
    idempotency_key: str = Field(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=IDEMPOTENCY_KEY,
        description="Unique per adjustment: the same key with the same body answers the first adjustment again.",
    )


class _Page(BaseModel):
    limit: int = Field(default=DEFAULT_PAGE, ge=1, le=MAX_PAGE, description="At most this many products.")
    cursor: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Opaque: the next_cursor of the previous page.",
    )


class PublicListQuery(_Page):
    product_type: ProductType | None = Field(default=None, alias="type", description="Only products of this type.")


class StaffListQuery(_Page):
    status: ProductStatus | None = Field(default=None, description="Only products in this status.")
    product_type: ProductType | None = Field(default=None, alias="type", description="Only products of this type.")


class Price(BaseModel):
    amount: int = Field(ge=0, description="Integer minor units (cents; yen for JPY).")
    currency: str = Field(description="ISO 4217 code.")


class Access(BaseModel):
    video_id: str | None
    live_show_id: str | None
    rental_hours: int | None


Availability = Literal["in_stock", "sold_out"]


class PublicProduct(BaseModel):
    """A product on sale, as a customer sees it: whether it is in stock, not how many units are left."""

    sku: str
    name: str
    kind: ProductKind
    product_type: ProductType
    price: Price
    access: Access | None = Field(description="What a digital product gives access to; null for physical goods.")
    availability: Availability | None = Field(description="For physical goods and live tickets; null for videos.")
    revision: int = Field(ge=1)


class ProductResponse(PublicProduct):
    """GET /products/{sku}: a product on sale. `stock` is kept for clients written before `availability`."""

    stock: int | None = Field(description="Deprecated (use availability): units on hand; null for videos.")


class ProductList(BaseModel):
    products: list[PublicProduct] = Field(description="Products on sale, by SKU.")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page.")


class StaffProduct(BaseModel):
    """A product as staff see it, in any status, with its units on hand."""

    sku: str
    name: str
    kind: ProductKind
    product_type: ProductType
    status: ProductStatus
    price: Price
    access: Access | None
    stock: int | None = Field(description="Units available to reserve (a live ticket's: seats left); null for videos.")
    availability: Availability | None
    revision: int = Field(ge=1, description="Grows with every change; send it back as If-Match.")


class StaffProductList(BaseModel):
    products: list[StaffProduct] = Field(description="By SKU.")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page.")


class StockAdjustmentResponse(BaseModel):
    sku: str
    idempotency_key: str
    delta: int
    reason: StockAdjustmentReason
    note: str | None
    on_hand: int = Field(ge=0, description="Units available to reserve after the adjustment.")
    adjusted_by: str = Field(description="The staff member's sub.")
    adjusted_at: str = Field(description="ISO-8601, UTC.")
