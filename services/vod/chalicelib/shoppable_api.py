"""The shoppable-video routes' models (chalicelib.shoppable): what the views validate and answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.shoppable import MAX_MARKERS, MAX_START_MS
from shop_contracts.events import Money, Sku
from shop_eventing.http import Text

# The staff list's version as its ETag: "0" before the first PUT.
VERSION_TAG = r'^(W/)?"?[0-9]{1,12}"?$'
MAX_SECONDS = MAX_START_MS / 1000


class MarkersPath(BaseModel):
    video_id: Text = Field(min_length=1, max_length=64)


class MarkersIfMatch(BaseModel):
    if_match: str = Field(
        alias="If-Match",
        pattern=VERSION_TAG,
        description='The version of the staff\'s markers the change is based on (the ETag of GET …/markers; "0" before '
        "the first PUT); another is a 409.",
    )


class MarkerBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    sku: str = Sku
    start_s: float = Field(ge=0, le=MAX_SECONDS, description="Seconds from the video's start, to the millisecond.")
    end_s: float = Field(gt=0, le=MAX_SECONDS, description="After start_s; within the video when its duration is known.")


class PutMarkersRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    markers: list[MarkerBody] = Field(max_length=MAX_MARKERS, description="The whole list of the staff's markers.")


class MarkerResponse(BaseModel):
    marker_id: str
    sku: str
    start_s: float
    end_s: float
    source: Literal["staff", "live_pin"] = Field(description="live_pin: pinned during a live show; a staff PUT keeps it.")


class MarkersResponse(BaseModel):
    video_id: str
    version: int = Field(description="The staff list's version, also the ETag.")
    markers: list[MarkerResponse] = Field(description="In time order: the staff's and the live show's pins.")


class TimelineProduct(BaseModel):
    name: str
    product_type: str
    price: Money
    retired: bool


class TimelineStock(BaseModel):
    on_hand: int | None = Field(description="Units (or seats) left; null for products without stock or not known yet.")
    availability: Literal["in_stock", "low", "sold_out", "available", "unknown"] = Field(
        description='"available": a video rental or purchase (no stock); "low": 5 or fewer left; "unknown": vod has not '
        "heard of the product or its stock yet."
    )


class TimelineMarker(MarkerResponse):
    product: TimelineProduct | None = Field(description="null when vod has not heard of the product.")
    stock: TimelineStock
    purchasable: bool = Field(description="Worth a buy button: on sale, known and not sold out (POST /orders decides).")


class TimelineResponse(BaseModel):
    video_id: str
    markers: list[TimelineMarker]
