"""The catalog HTTP API's models: what the views validate and answer, and what its OpenAPI document says.

Request models are strict (no "10", 10.0 or true for a count) and bounded so that every number fits
what DynamoDB stores (38 significant digits) with room for what others compute from it: a price is
at most MAX_AMOUNT minor units, so an order of 50 lines of 100 units stays below 10**16.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from shop_contracts.events import SKU_MAX_LENGTH, SKU_PATTERN, ProductKind
from shop_eventing.http import Text

# 10**12 minor units: ten billion dollars, euros...; a billion yen times a thousand.
MAX_AMOUNT = 10**12
# On-hand units of one product.
MAX_STOCK = 10**9


class PriceInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, title="Price")

    amount: int = Field(ge=0, le=MAX_AMOUNT, description="Integer minor units (cents; yen for JPY); never a float.")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")


class ProductInput(BaseModel):
    """The staff API's view of a product (PUT /products/{sku})."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Text = Field(min_length=1, max_length=200)
    kind: ProductKind
    price: PriceInput
    stock: int | None = Field(default=None, ge=0, le=MAX_STOCK, description="On-hand units; physical products only.")

    @field_validator("price", mode="before")
    @classmethod
    def _from_money(cls, value: object) -> object:
        # Callers in code may pass the contracts' Money; it is validated like any other price.
        return value.model_dump() if isinstance(value, BaseModel) else value

    @field_validator("stock")
    @classmethod
    def _stock_only_for_physical(cls, stock: int | None, info: ValidationInfo) -> int | None:
        if stock is not None and info.data.get("kind") == "digital":
            raise ValueError("stock applies to physical products only")
        return stock


class ProductPath(BaseModel):
    sku: str = Field(min_length=1, max_length=SKU_MAX_LENGTH, pattern=SKU_PATTERN)


class ProductLookupPath(BaseModel):
    # Looking up a SKU no product may have is a plain 404, not a 400.
    sku: Text = Field(min_length=1, max_length=256)


class Price(BaseModel):
    amount: int = Field(ge=0, description="Integer minor units (cents; yen for JPY).")
    currency: str = Field(description="ISO 4217 code.")


class ProductResponse(BaseModel):
    sku: str
    name: str
    kind: ProductKind
    price: Price
    stock: int | None = Field(description="On-hand units; null for digital products.")
    revision: int = Field(ge=1)
