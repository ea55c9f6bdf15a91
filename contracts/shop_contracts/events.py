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
"""How a line is delivered: `physical` is shipped, `digital` is access granted (never shipped)."""
ProductType = Literal["physical_good", "video_rental", "video_purchase", "live_ticket"]
"""What a product sells. physical_good is kind physical; the others are kind digital. live_ticket has
stock (the show's capacity) like a physical good; video rentals and purchases have none."""
Locale = Literal["ja", "en"]
"""The customer's language for everything the shop tells them (e-mails); None means the shop's default."""


class Money(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    amount: int = Field(ge=0, strict=True, description="Integer minor units (cents; yen for JPY); never a float.")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")


class VideoAccess(BaseModel):
    """What a digital product gives access to; set for video rentals, video purchases and live tickets."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    product_type: Literal["video_rental", "video_purchase", "live_ticket"]
    video_id: str | None = Field(default=None, description="The video (rental, purchase); None for a live ticket.")
    live_show_id: str | None = Field(default=None, description="The live show (live ticket); None otherwise.")
    rental_hours: int | None = Field(default=None, gt=0, description="Hours of access a rental gives; None unless a rental.")


class OrderLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: str = Sku
    name: str
    kind: ProductKind
    quantity: int = Field(gt=0)
    unit_price: Money
    access: VideoAccess | None = Field(
        default=None, description="What a digital line gives access to, as sold; None for physical goods and older producers."
    )


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
    """catalog: a product was published (put on sale); carries its whole public state."""

    sku: str = Sku
    name: str = Field(min_length=1)
    kind: ProductKind
    price: Money
    revision: int = Field(ge=1, description="Grows with every change; readers keep the highest.")
    product_type: ProductType | None = Field(
        default=None, description="None from producers before product types: physical_good when kind is physical."
    )
    access: VideoAccess | None = Field(default=None, description="Set for digital products.")


@REGISTRY.register("ProductUpdated", 1)
class ProductUpdatedV1(EventData):
    """catalog: a published product changed (name, price, access); carries its whole public state."""

    sku: str = Sku
    name: str = Field(min_length=1)
    kind: ProductKind
    product_type: ProductType
    price: Money
    access: VideoAccess | None = Field(default=None, description="Set for digital products.")
    revision: int = Field(ge=1, description="Shared with ProductPublished and ProductRetired: readers keep the highest.")


@REGISTRY.register("ProductRetired", 1)
class ProductRetiredV1(EventData):
    """catalog: a product is no longer sold; orders already placed for it go on."""

    sku: str = Sku
    revision: int = Field(ge=1, description="Shared with ProductPublished and ProductUpdated: readers keep the highest.")


StockAdjustmentReason = Literal["received", "counted", "damaged", "returned", "capacity_changed", "correction"]


@REGISTRY.register("StockAdjusted", 1)
class StockAdjustedV1(EventData):
    """catalog: staff changed a product's stock (a live ticket's: its capacity) outside of orders."""

    sku: str = Sku
    delta: int = Field(description="Units added (positive) or removed (negative); never zero.")
    on_hand: int = Field(ge=0, description="Units available to reserve after the adjustment.")
    reason: StockAdjustmentReason
    note: str | None = Field(default=None, max_length=500)
    adjusted_by: str | None = Field(default=None, description="The staff member's sub at the shop's issuer.")


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
    locale: Locale | None = None


ADDRESS_LINE_MAX_LENGTH = 200


class Address(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    recipient: str | None = Field(default=None, max_length=200)
    line1: str = Field(min_length=1, max_length=ADDRESS_LINE_MAX_LENGTH)
    line2: str | None = Field(default=None, max_length=ADDRESS_LINE_MAX_LENGTH)
    city: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2.")
    region: str | None = Field(default=None, max_length=100, description="Prefecture (Japan), state or province.")
    phone: str | None = Field(
        default=None, max_length=30, pattern=r"^\+?[0-9][0-9 ()-]*$", description="For the carrier; Japanese 3PLs require one."
    )

    def as_text(self) -> str:
        """The one-line form OrderPlaced v1 carries."""
        place = " ".join(part for part in (self.postal_code, self.region, self.city) if part)
        return ", ".join(part for part in (self.recipient, self.line1, self.line2, place, self.country) if part)


DeliveryTimeSlot = Literal["am", "12-14", "14-16", "16-18", "18-20", "19-21"]
"""The time slots Japanese carriers offer for a delivery (am: before noon)."""


class DeliveryPreference(BaseModel):
    """When the customer wants a parcel delivered, as chosen at checkout."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    date: str | None = Field(
        default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD; None: the first possible day."
    )
    time_slot: DeliveryTimeSlot | None = None


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
    locale: Locale | None = None
    delivery: DeliveryPreference | None = Field(default=None, description="None: the first possible day, any time.")


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
        locale=data.locale,
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
    """catalog: a reservation was given back (payment failed or order cancelled)."""

    order_id: str
    lines: list[StockLine]
    reason: Literal["payment_failed", "order_cancelled"] | None = Field(
        default=None, description="None from producers before cancellation: payment_failed."
    )


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
    locale: Locale | None = None
    structured_address: Address | None = Field(default=None, description="The shipping address as OrderPlaced v2 carries it.")
    delivery: DeliveryPreference | None = None


@REGISTRY.register("PaymentFailed", 1)
class PaymentFailedV1(EventData):
    """orders: the charge was declined; the order will not go on."""

    order_id: str
    amount: Money
    customer_email: str
    reason: str = Field(description="The gateway's decline code, e.g. card_declined.")
    customer_id: str | None = None
    locale: Locale | None = None


@REGISTRY.register("OrderCancelled", 1)
class OrderCancelledV1(EventData):
    """orders: the order was cancelled; every service undoes its part (stock, shipment, access, money).

    Accepted only before the shipment was handed to the logistics service (customer) or before it was
    dispatched (staff); the lines and the payment tell the compensating subscribers what to undo."""

    order_id: str
    cancelled_by: Literal["customer", "staff"]
    reason: str = Field(max_length=500)
    customer_email: str
    customer_id: str | None = None
    locale: Locale | None = None
    lines: list[OrderLine] = Field(min_length=1)
    total: Money
    payment_id: str | None = Field(default=None, description="The captured payment to refund; None when nothing was captured.")


@REGISTRY.register("PaymentRefunded", 1)
class PaymentRefundedV1(EventData):
    """orders: money was given back to the customer, fully or in part."""

    order_id: str
    refund_id: str
    payment_id: str
    amount: Money = Field(description="This refund.")
    refunded_total: Money = Field(description="Everything refunded on the order so far, this refund included.")
    fully_refunded: bool
    reason: str = Field(max_length=500)
    initiated_by: Literal["customer_cancellation", "staff"]
    skus: list[str] = Field(
        default_factory=list, description="Lines whose access this refund takes back (digital lines); empty for an amount alone."
    )
    customer_email: str
    customer_id: str | None = None
    locale: Locale | None = None


@REGISTRY.register("OrderStatusChanged", 1)
class OrderStatusChangedV1(EventData):
    """orders: the status a customer reads on an order changed; readers keep the highest status_version per order.

    Published from the orders table's change stream (change data capture), not by the use cases: every
    save that changes an order's derived status also bumps its status_version, so the changes arrive
    complete and can be ordered, whatever caused them. Only for orders placed by a signed-in customer
    (orders from before sign-in have no customer to tell). For views (the storefront's live status),
    never for a step of the order flow: subscribe to the facts (PaymentCaptured, ...) for that."""

    order_id: str
    customer_id: str = Field(min_length=1, description="The customer's sub at the shop's issuer (who placed the order).")
    status: str = Field(
        min_length=1,
        description="The order's status after the change, as GET /orders/{id} shows it (PENDING, STOCK_RESERVED, PAID, "
        "SHIPMENT_REQUESTED, SHIPMENT_PACKED, SHIPMENT_INSTRUCTED, SHIPPED, DELIVERED, CANCELLED, REJECTED, PAYMENT_FAILED); "
        "more may come: show an unknown one as it is.",
    )
    previous_status: str | None = Field(default=None, description="The status before the change; None for a new order.")
    status_version: int = Field(ge=1, description="Grows by one with every change of the order's status.")
    changed_at: str = Field(description="ISO-8601, UTC; when the change was written.")


@REGISTRY.register("ShipmentRequested", 1)
class ShipmentRequestedV1(EventData):
    """fulfillment: a shipment (the purchase order's parcel) was created for the physical lines of a paid order."""

    shipment_id: str
    order_id: str
    lines: list[StockLine]
    shipping_address: str


@REGISTRY.register("ShipmentPacked", 1)
class ShipmentPackedV1(EventData):
    """fulfillment: the warehouse picked and packed the parcel; it is ready to hand to the logistics service."""

    shipment_id: str
    order_id: str
    lines: list[StockLine]
    packed_by: str | None = Field(default=None, description="The staff member's sub at the shop's issuer.")
    handoff: Literal["logistics_service", "carrier_csv"] | None = Field(
        default=None,
        description="How the parcel leaves: instructed to the logistics service (3PL) through its API, or listed in the "
        "day's carrier CSV for a carrier without one. None from producers before the choice: logistics_service.",
    )


@REGISTRY.register("ShipmentInstructed", 1)
class ShipmentInstructedV1(EventData):
    """fulfillment: the logistics service (3PL) accepted the shipping instruction; from now on the
    customer can no longer cancel (staff still can, until dispatch)."""

    shipment_id: str
    order_id: str
    logistics_shipment_id: str = Field(description="The 3PL's identifier of the shipment.")
    carrier: str
    delivery: DeliveryPreference | None = None


@REGISTRY.register("ShipmentDispatched", 1)
class ShipmentDispatchedV1(EventData):
    """fulfillment: the carrier has the parcel; it can be tracked."""

    shipment_id: str
    order_id: str
    carrier: str
    tracking_number: str
    tracking_url: str | None = None
    customer_email: str
    customer_id: str | None = None
    locale: Locale | None = None


@REGISTRY.register("ShipmentDelivered", 1)
class ShipmentDeliveredV1(EventData):
    """fulfillment: the carrier delivered the parcel."""

    shipment_id: str
    order_id: str
    carrier: str
    tracking_number: str
    customer_email: str
    customer_id: str | None = None
    locale: Locale | None = None


@REGISTRY.register("ShipmentCancelled", 1)
class ShipmentCancelledV1(EventData):
    """fulfillment: the shipment will not go (its order was cancelled); the 3PL confirmed when it had been instructed."""

    shipment_id: str
    order_id: str
    lines: list[StockLine]


# -- vod: videos and access to them ----------------------------------------------------------------


class VideoSource(BaseModel):
    """Where an uploaded source file is kept."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    bucket: str
    key: str
    size_bytes: int | None = Field(default=None, ge=0)


class Rendition(BaseModel):
    """One rung of a video's HLS ladder."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(description="e.g. 720p; the short side's pixels.")
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    playlist_key: str = Field(description="S3 key of the rendition's media playlist.")


class VideoOutputs(BaseModel):
    """What a transcode left in the media bucket, as S3 keys (playback signs URLs for them later)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    bucket: str
    master_playlist_key: str
    renditions: list[Rendition] = Field(min_length=1)
    poster_key: str | None = None
    storyboard_vtt_key: str | None = Field(default=None, description="WebVTT thumbnails track (cues point into the sprite).")
    storyboard_sprite_key: str | None = None
    duration_ms: int | None = Field(default=None, ge=0)


@REGISTRY.register("VideoUploaded", 1)
class VideoUploadedV1(EventData):
    """vod: a video's source file is in the media bucket; transcoding may start."""

    video_id: str
    source: VideoSource
    attempt: int = Field(ge=1, description="1 for the upload; grows with every retry staff ask for.")
    uploaded_by: str | None = Field(default=None, description="The staff member's sub at the shop's issuer.")
    uploaded_by_email: str | None = Field(default=None, description="Where to tell the uploader the outcome.")
    title: str | None = None
    live_show_id: str | None = Field(default=None, description="Set when the video is a live show's recording.")


@REGISTRY.register("VideoReady", 1)
class VideoReadyV1(EventData):
    """vod: a video was transcoded; its HLS ladder, poster and storyboard are in the media bucket."""

    video_id: str
    attempt: int = Field(ge=1)
    job_id: str
    outputs: VideoOutputs
    title: str | None = None
    uploaded_by: str | None = None
    uploaded_by_email: str | None = Field(default=None, description="notify tells the uploader the video is ready.")
    locale: Locale | None = None
    live_show_id: str | None = Field(default=None, description="Set when the video is a live show's recording.")


@REGISTRY.register("VideoFailed", 1)
class VideoFailedV1(EventData):
    """vod: a video's transcode failed; staff may retry it."""

    video_id: str
    attempt: int = Field(ge=1)
    job_id: str | None = None
    error_code: str = Field(description="The transcoder's code, e.g. probe_failed or MediaConvert's 1010.")
    error_message: str = Field(max_length=2000)
    title: str | None = None
    uploaded_by: str | None = None
    uploaded_by_email: str | None = None


@REGISTRY.register("EntitlementGranted", 1)
class EntitlementGrantedV1(EventData):
    """vod: a customer may watch a video (rental, purchase) or a live show (ticket), bought on an order's line."""

    entitlement_id: str
    customer_id: str
    order_id: str
    sku: str = Sku
    product_type: Literal["video_rental", "video_purchase", "live_ticket"]
    video_id: str | None = None
    live_show_id: str | None = None
    granted_at: str = Field(description="ISO-8601, UTC.")
    expires_at: str | None = Field(default=None, description="ISO-8601, UTC; rentals only (the clock starts at purchase).")


@REGISTRY.register("EntitlementRevoked", 1)
class EntitlementRevokedV1(EventData):
    """vod: an entitlement no longer opens its video or live show: its order was cancelled or its line refunded."""

    entitlement_id: str
    customer_id: str
    order_id: str
    sku: str = Sku
    product_type: Literal["video_rental", "video_purchase", "live_ticket"]
    video_id: str | None = None
    live_show_id: str | None = None
    reason: Literal["order_cancelled", "refunded"]
    revoked_at: str = Field(description="ISO-8601, UTC.")


# -- catalog: stock levels as they change ----------------------------------------------------------------


@REGISTRY.register("StockLevelChanged", 1)
class StockLevelChangedV1(EventData):
    """catalog: a product's stock changed (reserved, released or adjusted); readers keep the highest stock_version.

    Published from the catalog table's change stream (change data capture), not by the use cases: every
    write that changes a product's stock also bumps its stock_version, so the levels arrive complete and
    can be ordered, whatever changed them. For views (a player's "only 3 left"), never for reserving."""

    sku: str = Sku
    on_hand: int = Field(ge=0, description="Units available to reserve now.")
    stock_version: int = Field(ge=1, description="Grows by one with every change of the product's stock.")


# -- vod: live shows ---------------------------------------------------------------------------------------


@REGISTRY.register("LiveShowStartingSoon", 1)
class LiveShowStartingSoonV1(EventData):
    """vod: a scheduled live show starts within the announcement window; notify tells its ticket holders once."""

    live_show_id: str
    title: str
    starts_at: str = Field(description="ISO-8601, UTC; the scheduled start.")
    watch_url: str | None = Field(default=None, description="Where ticket holders watch, if the shop has a storefront.")


@REGISTRY.register("LiveShowStarted", 1)
class LiveShowStartedV1(EventData):
    """vod: a live show's stream went live (IVS "Stream Start" on AWS, the local live channel on the embedded stack)."""

    live_show_id: str
    started_at: str = Field(description="ISO-8601, UTC.")


@REGISTRY.register("LiveShowEnded", 1)
class LiveShowEndedV1(EventData):
    """vod: a live show's stream ended; its recording becomes a video (VideoUploaded/VideoReady with live_show_id)."""

    live_show_id: str
    ended_at: str = Field(description="ISO-8601, UTC.")


class PinnedProduct(BaseModel):
    """What a viewer sees of a pinned product at the moment it is pinned; the storefront reads the rest."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: str = Sku
    name: str | None = None
    price: Money | None = None


@REGISTRY.register("ProductPinned", 1)
class ProductPinnedV1(EventData):
    """vod: staff pinned a product during a live show: viewers see it with a "buy" button until it is unpinned.

    One product is pinned at a time per show; pinning another replaces it (no ProductUnpinned in between).
    Readers keep the highest `sequence` per show, so a late or repeated pin never replaces a newer one."""

    live_show_id: str
    pin_id: str
    sequence: int = Field(ge=1, description="Grows with every pin and unpin of the show.")
    product: PinnedProduct
    pinned_at: str = Field(description="ISO-8601, UTC.")
    offset_ms: int | None = Field(default=None, ge=0, description="Milliseconds since the stream started; None before it.")
    pinned_by: str | None = None


@REGISTRY.register("ProductUnpinned", 1)
class ProductUnpinnedV1(EventData):
    """vod: staff unpinned the show's pinned product; viewers hide it."""

    live_show_id: str
    pin_id: str
    sequence: int = Field(ge=1, description="Shared with ProductPinned: readers keep the highest.")
    sku: str = Sku
    unpinned_at: str = Field(description="ISO-8601, UTC.")
    offset_ms: int | None = Field(default=None, ge=0)
