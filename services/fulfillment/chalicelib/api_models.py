"""The fulfillment HTTP API's models: what the views validate and answer, and what its OpenAPI document says."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from shop_eventing.http import Text

ShipmentStatus = Literal["REQUESTED", "PICKED", "PACKED", "INSTRUCTED", "DISPATCHED", "DELIVERED", "CANCELLED"]


class ShipmentPath(BaseModel):
    order_id: Text = Field(min_length=1, max_length=128)


class ShipmentLine(BaseModel):
    sku: str
    quantity: int = Field(gt=0)


class DeliveryAddress(BaseModel):
    recipient: str | None = None
    line1: str
    line2: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None
    region: str | None = Field(default=None, description="Prefecture (Japan), state or province.")
    phone: str | None = None


class DeliveryWish(BaseModel):
    date: str | None = None
    time_slot: str | None = None


class ShipmentResponse(BaseModel):
    shipment_id: str
    order_id: str
    lines: list[ShipmentLine]
    address: str = Field(description="The address as one line of text, as the order carried it.")
    status: ShipmentStatus
    requested_at: str = Field(description="ISO-8601, UTC.")
    delivery_address: DeliveryAddress | None = Field(description="The structured address, when known.")
    delivery: DeliveryWish | None = Field(default=None, description="The delivery date and time slot the customer asked for.")
    picked_at: str | None = None
    picked_by: str | None = None
    packed_at: str | None = None
    packed_by: str | None = None
    handoff: Literal["logistics_service", "carrier_csv"] | None = None
    logistics_shipment_id: str | None = Field(default=None, description="The 3PL's id, once instructed.")
    logistics_status: str | None = Field(default=None, description="The last status the 3PL notified.")
    instruction_error: str | None = Field(default=None, description="Why the 3PL refused the shipping instruction.")
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    carrier_list_day: str | None = Field(default=None, description="The day whose carrier CSV lists the parcel.")
    cancelled_at: str | None = None
    cancel_refused_reason: str | None = Field(default=None, description="Why a cancellation came too late.")


class PickingListQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=100)


class PickingList(BaseModel):
    shipments: list[ShipmentResponse] = Field(description="Shipments to pick or pack, oldest request first.")


class PackRequest(BaseModel):
    handoff: Literal["logistics_service", "carrier_csv"] = Field(
        default="logistics_service",
        description="logistics_service: the 3PL gets the shipping instruction through its API; carrier_csv: the parcel "
        "is listed in the day's Yamato B2 CSV, and staff confirm its dispatch with the tracking number.",
    )


class DispatchRequest(BaseModel):
    carrier: Literal["yamato", "sagawa", "japanpost"] = "yamato"
    tracking_number: Text = Field(min_length=6, max_length=32, pattern=r"^[0-9A-Za-z-]+$")


class TrackingWebhook(BaseModel):
    """The logistics service's tracking notification (signed: see README.md)."""

    event_id: Text = Field(min_length=1, max_length=100)
    shipment_id: Text = Field(min_length=1, max_length=100, description="The 3PL's id of the shipment.")
    identifier: Text = Field(min_length=1, max_length=100, description="The shop's shipment id, as instructed.")
    order_no: Text = Field(min_length=1, max_length=128, description="The shop's order id, as instructed.")
    status: Literal["waiting", "picking", "packed", "shipped", "delivered"]
    delivery_carrier: Text | None = Field(default=None, max_length=40)
    tracking_code: Text | None = Field(default=None, max_length=40)
    occurred_at: Text | None = Field(default=None, max_length=40)


class WebhookHeaders(BaseModel):
    timestamp: str | None = Field(default=None, alias="X-Logistics-Timestamp", max_length=20)
    signature: str | None = Field(default=None, alias="X-Logistics-Signature", max_length=1000)


class TrackingAnswer(BaseModel):
    outcome: Literal["applied", "ignored"] = Field(description="ignored: a duplicate, or older than what is recorded.")
