"""The orders HTTP API's models: what the views validate and answer, and what its OpenAPI document says.

Request models are strict (no "1", 1.0 or true for a quantity) and bounded: text never carries
control characters, and every number fits what DynamoDB stores (38 digits), sums included. A line's
unit price is at most catalog's MAX_AMOUNT (10**12 minor units), so an order's total is at most
MAX_LINES * MAX_QUANTITY * 10**12 = 5 * 10**15.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shop_contracts.events import (
    ADDRESS_LINE_MAX_LENGTH,
    SKU_MAX_LENGTH,
    SKU_PATTERN,
    Address,
    DeliveryPreference,
    DeliveryTimeSlot,
    Locale,
    ProductKind,
    VideoAccess,
)
from shop_eventing.http import NO_CONTROL_CHARACTERS, Text

MAX_QUANTITY = 100
MAX_LINES = 50
# Besides control characters and spaces, an address part holds none of RFC 5322's specials: with
# them the mailer reads another address (a comment in parentheses, a display name before "<"), so
# SES refuses the mail after the order was taken and its confirmation ends in notify's DLQ.
_ADDRESS_PART = r"[^@\s\x00-\x1f\x7f-\x9f()<>,;:\\\"\[\]]+"
EMAIL_PATTERN = rf"^{_ADDRESS_PART}@{_ADDRESS_PART}\.{_ADDRESS_PART}$"
LEGACY_ADDRESS_MAX_LENGTH = 2 * ADDRESS_LINE_MAX_LENGTH
REASON_MAX_LENGTH = 500
SkuText = Annotated[str, Field(min_length=1, max_length=SKU_MAX_LENGTH, pattern=SKU_PATTERN)]
MAX_AMOUNT = 10**12 * MAX_QUANTITY * MAX_LINES  # an order's largest possible total


class LineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    sku: str = Field(min_length=1, max_length=SKU_MAX_LENGTH, pattern=SKU_PATTERN)
    quantity: int = Field(gt=0, le=MAX_QUANTITY)


class AddressRequest(Address):
    """The structured shipping address, as a client sends it (an `Address`, without control characters)."""

    model_config = ConfigDict(extra="forbid", strict=True, title="Address")

    recipient: Text | None = Field(default=None, max_length=200)
    line1: Text = Field(min_length=1, max_length=ADDRESS_LINE_MAX_LENGTH)
    line2: Text | None = Field(default=None, max_length=ADDRESS_LINE_MAX_LENGTH)
    city: Text | None = Field(default=None, max_length=100)
    postal_code: Text | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2.")
    region: Text | None = Field(default=None, max_length=100, description="Prefecture (Japan), state or province.")
    phone: str | None = Field(
        default=None, max_length=30, pattern=r"^\+?[0-9][0-9 ()-]*$", description="For the carrier; Japanese 3PLs require one."
    )


class DeliveryRequest(DeliveryPreference):
    """When the customer wants the parcel: a date (YYYY-MM-DD, not in the past) and/or a time slot."""

    model_config = ConfigDict(extra="forbid", strict=True, title="DeliveryPreference")

    date: str | None = Field(
        default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD; null: the first possible day."
    )
    time_slot: DeliveryTimeSlot | None = Field(default=None, description="am (before noon) or a two-hour slot; null: any time.")


def _also_one_line_of_text(schema: dict[str, Any]) -> None:
    # The validator below reads text into an AddressRequest; the document says text is accepted.
    schema["anyOf"].insert(1, {"type": "string", "maxLength": LEGACY_ADDRESS_MAX_LENGTH, "pattern": NO_CONTROL_CHARACTERS})


class PlaceOrderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    customer_email: str = Field(pattern=EMAIL_PATTERN, max_length=254)
    payment_token: Text = Field(min_length=1, max_length=200)
    lines: list[LineRequest] = Field(min_length=1, max_length=MAX_LINES)
    # Structured; older clients still send one line of text, read as the address's first lines.
    shipping_address: AddressRequest | None = Field(
        default=None,
        description="Required when an order holds physical goods. One line of text is read as the address's first lines.",
        json_schema_extra=_also_one_line_of_text,
    )
    locale: Locale | None = Field(
        default=None,
        description="The customer's language for everything the shop tells them; absent: the best of Accept-Language "
        "the shop speaks (ja, en), else English.",
    )
    delivery: DeliveryRequest | None = Field(default=None, description="Only for orders with physical products.")

    @field_validator("shipping_address", mode="before")
    @classmethod
    def _legacy_text_address(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if len(text) > LEGACY_ADDRESS_MAX_LENGTH:
            raise ValueError(f"a one-line address must be at most {LEGACY_ADDRESS_MAX_LENGTH} characters")
        if not text:
            return None
        return {"line1": text[:ADDRESS_LINE_MAX_LENGTH], "line2": text[ADDRESS_LINE_MAX_LENGTH:] or None}


class PlaceOrderHeaders(BaseModel):
    idempotency_key: str = Field(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Unique per order attempt: the same key with the same body returns the same order.",
    )


class OrderPath(BaseModel):
    order_id: Text = Field(min_length=1, max_length=128)


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: Text = Field(min_length=1, max_length=REASON_MAX_LENGTH, description="Why; told to the customer and to staff.")


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    amount: int = Field(gt=0, le=MAX_AMOUNT, description="Minor units of the order's currency; at most what is left to refund.")
    reason: Text = Field(min_length=1, max_length=REASON_MAX_LENGTH)
    skus: list[SkuText] = Field(
        default_factory=list,
        max_length=MAX_LINES,
        description="Digital lines whose access this refund takes back; empty: an amount alone.",
    )


class RefundHeaders(BaseModel):
    idempotency_key: str = Field(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Unique per refund: the same key with the same body returns the same refund and never refunds twice.",
    )


MAX_PAGE = 100
DEFAULT_PAGE = 20


class ListOrdersQuery(BaseModel):
    limit: int = Field(default=DEFAULT_PAGE, ge=1, le=MAX_PAGE, description="At most this many orders.")
    cursor: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Opaque: the next_cursor of the previous page.",
    )


class Price(BaseModel):
    amount: int = Field(ge=0, description="Integer minor units (cents; yen for JPY).")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")


class ProductSummary(BaseModel):
    sku: str
    name: str
    kind: ProductKind
    price: Price


class ProductList(BaseModel):
    products: list[ProductSummary]


class LineDelivery(BaseModel):
    status: Literal["pending", "delivered", "revoked"] = Field(
        description="pending until vod grants the access; delivered once granted; revoked after a cancellation or a "
        "refund took it back (a revocation wins, whatever order vod's events arrive in)."
    )
    entitlement_id: str | None = None
    delivered_at: str | None = Field(default=None, description="ISO-8601, UTC: when vod granted the access.")
    expires_at: str | None = Field(default=None, description="Rentals: when the access ends.")
    revoked_at: str | None = None
    revoke_reason: Literal["order_cancelled", "refunded"] | None = None


class OrderLineResponse(BaseModel):
    sku: str
    name: str
    kind: ProductKind
    quantity: int
    unit_price: int = Field(description="In the order's currency's minor units.")
    access: VideoAccess | None = Field(default=None, description="What a digital line gives access to.")
    delivery: LineDelivery | None = Field(
        default=None, description="A digital line's access as vod delivered it; null for lines vod does not deliver."
    )


class TimelineEntryResponse(BaseModel):
    event_id: str
    event_type: str = Field(description="The event (OrderPlaced, ShipmentDispatched, ...); RefundRefused notes a refused refund.")
    occurred_at: str = Field(description="ISO-8601, UTC.")
    summary: str


class Tracking(BaseModel):
    carrier: str | None = None
    tracking_number: str
    tracking_url: str | None = None


class CancellationResponse(BaseModel):
    cancelled_by: Literal["customer", "staff"]
    reason: str


class DeliveryResponse(BaseModel):
    date: str | None = None
    time_slot: DeliveryTimeSlot | None = None


class DeliveryAddress(BaseModel):
    recipient: str | None = None
    line1: str
    line2: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None
    region: str | None = None
    phone: str | None = None


class OrderResponse(BaseModel):
    order_id: str
    status: str = Field(
        description="Overall: PENDING, STOCK_RESERVED, PAID, SHIPMENT_REQUESTED, SHIPMENT_PACKED, SHIPMENT_INSTRUCTED, "
        "SHIPPED, DELIVERED, or the ends REJECTED, PAYMENT_FAILED, CANCELLED."
    )
    status_version: int = Field(
        ge=0,
        description="Grows by one with every change of `status`; the push channel's order-status messages carry it too, "
        "so a client keeps, per order, whichever it saw with the highest (0: not changed since status versions exist).",
    )
    payment_status: Literal["pending", "captured", "partially_refunded", "refunded", "failed", "voided"]
    fulfillment_status: Literal["not_fulfilled", "instructed", "shipped", "delivered", "cancelled"] = Field(
        description="The parcel's progress; delivered once the parcel and every digital line's access are. A digital-only "
        "order is delivered once vod granted every line's access."
    )
    customer_email: str
    lines: list[OrderLineResponse]
    total: Price
    refunded: Price = Field(description="Everything given back so far.")
    shipping_address: str | None = Field(description="The address as one line of text.")
    delivery_address: DeliveryAddress | None
    delivery: DeliveryResponse | None = Field(description="The delivery date and time slot asked for; null: any.")
    locale: Locale | None
    payment_id: str | None
    tracking: Tracking | None = Field(description="Once the carrier has the parcel.")
    cancellation: CancellationResponse | None
    created_at: str
    timeline: list[TimelineEntryResponse] = Field(description="Every step, oldest first.")


class RefundResponse(BaseModel):
    refund_id: str
    order_id: str
    amount: Price
    reason: str
    skus: list[str]
    refunded_total: Price
    fully_refunded: bool
    payment_status: Literal["pending", "captured", "partially_refunded", "refunded", "failed", "voided"]


class OrderList(BaseModel):
    orders: list[OrderResponse] = Field(description="The caller's own orders, newest first.")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page.")
