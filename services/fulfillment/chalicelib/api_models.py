"""The fulfillment HTTP API's models: what the views validate and answer, and what its OpenAPI document says."""

from __future__ import annotations

from pydantic import BaseModel, Field

from shop_eventing.http import Text


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


class ShipmentResponse(BaseModel):
    shipment_id: str
    order_id: str
    lines: list[ShipmentLine]
    address: str = Field(description="The address as one line of text, as the order carried it.")
    status: str
    requested_at: str = Field(description="ISO-8601, UTC.")
    delivery_address: DeliveryAddress | None = Field(description="The structured address, when known.")
