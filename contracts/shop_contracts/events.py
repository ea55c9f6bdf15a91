"""Event contracts: one pydantic model per (event type, major schema version).

Rules (docs/design-rules.md#events): money is integer minor units plus an ISO 4217 code, never a float; within a major
version only optional fields may be added; a breaking change is a new major registered beside the old.
Events are "fat": they carry what their consumers need, so nobody calls back into the producer.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shop_eventing.envelope import EventData, EventRegistry

REGISTRY = EventRegistry()

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
SKU_MAX_LENGTH = 64
Sku = Field(min_length=1, max_length=SKU_MAX_LENGTH, pattern=SKU_PATTERN)
ProductKind = Literal["physical", "digital"]


class Money(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    amount: int = Field(ge=0, strict=True, description="Integer minor units (cents; yen for JPY); never a float.")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")


class OrderLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: str = Sku
    name: str
    kind: ProductKind
    quantity: int = Field(gt=0)
    unit_price: Money


class StockLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: str = Sku
    quantity: int = Field(gt=0)


class UnavailableLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: str = Sku
    requested: int = Field(gt=0)
    available: int = Field(ge=0)


@REGISTRY.register("ProductPublished", 1)
class ProductPublishedV1(EventData):
    """catalog: a product was created or changed; carries its whole public state."""

    sku: str = Sku
    name: str = Field(min_length=1)
    kind: ProductKind
    price: Money
    revision: int = Field(ge=1, description="Grows with every change; readers keep the highest.")


@REGISTRY.register("OrderPlaced", 1)
class OrderPlacedV1(EventData):
    """orders: a customer placed an order; nothing is reserved or paid yet."""

    order_id: str
    customer_email: str
    lines: list[OrderLine] = Field(min_length=1)
    total: Money
    shipping_address: str | None = Field(default=None, description="Free text; None for digital-only orders.")
    customer_id: str | None = Field(
        default=None, description="The customer's sub at the shop's issuer (who signed in); None from producers before sign-in."
    )


ADDRESS_LINE_MAX_LENGTH = 200


class Address(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    recipient: str | None = Field(default=None, max_length=200)
    line1: str = Field(min_length=1, max_length=ADDRESS_LINE_MAX_LENGTH)
    line2: str | None = Field(default=None, max_length=ADDRESS_LINE_MAX_LENGTH)
    city: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2.")

    def as_text(self) -> str:
        """The one-line form OrderPlaced v1 carries."""
        place = " ".join(part for part in (self.postal_code, self.city) if part)
        return ", ".join(part for part in (self.recipient, self.line1, self.line2, place, self.country) if part)


@REGISTRY.register("OrderPlaced", 2)
class OrderPlacedV2(EventData):
    """orders: a customer placed an order (v2: the shipping address is structured).

    Published beside v1 while v1 has consumers; the same order carries the same order_id in both."""

    order_id: str
    customer_email: str
    lines: list[OrderLine] = Field(min_length=1)
    total: Money
    shipping_address: Address | None = Field(default=None, description="None for digital-only orders.")
    customer_id: str | None = Field(
        default=None, description="The customer's sub at the shop's issuer (who signed in); None from producers before sign-in."
    )


@REGISTRY.register_upcaster("OrderPlaced", 1)
def _order_placed_v1_to_v2(data: OrderPlacedV1) -> OrderPlacedV2:
    """A v1 address is free text: it becomes the lines of a v2 address, nothing is invented.

    v1 text has no length limit (a full structured address as one line runs to about 730 characters), v2's
    lines hold 200 each: the text fills line1 then line2 and any rest is cut, never refused. A refused
    upcast would fail the consumer on every retry and park a valid event in its DLQ, while the order's
    own v2 event carries the whole address and replaces this one."""
    text = data.shipping_address
    rest = text[ADDRESS_LINE_MAX_LENGTH : 2 * ADDRESS_LINE_MAX_LENGTH] if text else None
    address = Address(line1=text[:ADDRESS_LINE_MAX_LENGTH], line2=rest or None) if text else None
    return OrderPlacedV2(
        order_id=data.order_id,
        customer_email=data.customer_email,
        lines=data.lines,
        total=data.total,
        shipping_address=address,
        customer_id=data.customer_id,
    )


@REGISTRY.register("StockReserved", 1)
class StockReservedV1(EventData):
    """catalog: every physical line of the order is reserved."""

    order_id: str
    lines: list[StockLine]


@REGISTRY.register("StockRejected", 1)
class StockRejectedV1(EventData):
    """catalog: the order cannot be served; nothing was reserved."""

    order_id: str
    reason: Literal["out_of_stock", "unknown_product"]
    unavailable: list[UnavailableLine]


@REGISTRY.register("StockReleased", 1)
class StockReleasedV1(EventData):
    """catalog: a reservation was given back (payment failed)."""

    order_id: str
    lines: list[StockLine]


@REGISTRY.register("PaymentCaptured", 1)
class PaymentCapturedV1(EventData):
    """orders: the customer was charged."""

    order_id: str
    payment_id: str
    amount: Money
    customer_email: str
    lines: list[OrderLine]
    shipping_address: str | None = None
    customer_id: str | None = Field(
        default=None, description="The customer's sub at the shop's issuer (who signed in); None from producers before sign-in."
    )


@REGISTRY.register("PaymentFailed", 1)
class PaymentFailedV1(EventData):
    """orders: the charge was declined; the order will not go on."""

    order_id: str
    amount: Money
    customer_email: str
    reason: str = Field(description="The gateway's decline code, e.g. card_declined.")


@REGISTRY.register("ShipmentRequested", 1)
class ShipmentRequestedV1(EventData):
    """fulfillment: a shipment was created for the physical lines of a paid order."""

    shipment_id: str
    order_id: str
    lines: list[StockLine]
    shipping_address: str
