"""Orders rules, free of I/O: placing an order, its timeline, and the order's lifecycle as a state
machine: the payment status, the fulfillment status and the overall status the timeline implies,
what a payment outcome means, when an order may be cancelled and how much may be refunded.

Every status is derived from the *set* of events an order has seen, never from the order they arrived
in, so out-of-order, stale and repeated deliveries cannot move an order backwards (a ShipmentInstructed
arriving after ShipmentDelivered changes nothing; a duplicate is the same event_id and is ignored).
The payment status and the fulfillment status are separate, as commerce engines keep them (Shopify's
financial and fulfillment status); the overall `status` is the one a customer reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from shop_contracts.events import ProductKind

# Highest first: the first event type the order has seen decides its overall status. A cancellation
# wins over everything (the customer's or staff's decision stands even if a shipment event was already
# in flight); stock rejection and a failed payment end an order before any shipment could exist.
_STATUS_BY_EVIDENCE = (
    ("OrderCancelled", "CANCELLED"),
    ("StockRejected", "REJECTED"),
    ("PaymentFailed", "PAYMENT_FAILED"),
    ("ShipmentDelivered", "DELIVERED"),
    ("ShipmentDispatched", "SHIPPED"),
    ("ShipmentInstructed", "SHIPMENT_INSTRUCTED"),
    ("ShipmentPacked", "SHIPMENT_PACKED"),
    ("ShipmentRequested", "SHIPMENT_REQUESTED"),
    ("PaymentCaptured", "PAID"),
    ("StockReserved", "STOCK_RESERVED"),
)
STATUSES = ("PENDING", *(status for _, status in reversed(_STATUS_BY_EVIDENCE)))
# Statuses that end an order whatever else it saw.
_ENDED = frozenset({"CANCELLED", "REJECTED", "PAYMENT_FAILED"})

PaymentStatus = Literal["pending", "captured", "partially_refunded", "refunded", "failed", "voided"]
FulfillmentStatus = Literal["not_fulfilled", "instructed", "shipped", "delivered", "cancelled"]
# A digital line's access, as vod reports it: granted is delivered, a revocation (cancel, refund) wins.
LineDeliveryStatus = Literal["pending", "delivered", "revoked"]
CancelledBy = Literal["customer", "staff"]
RefundInitiator = Literal["customer_cancellation", "staff"]

# Currencies without minor units (ISO 4217 exponent 0), for the timeline's summaries only.
_ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG", "RWF"})


def format_money(amount: int, currency: str) -> str:
    if currency in _ZERO_DECIMAL_CURRENCIES:
        return f"{amount} {currency}"
    return f"{amount // 100}.{amount % 100:02d} {currency}"


@dataclass(frozen=True)
class ProductView:
    """What orders knows of a catalog product, kept at the highest revision seen of ProductPublished,
    ProductUpdated and ProductRetired. A retired product stays in the view (so a late, older
    ProductPublished cannot bring it back) but is no longer sold."""

    sku: str
    name: str
    kind: ProductKind
    price_amount: int
    currency: str
    revision: int
    product_type: str | None = None
    access: dict[str, Any] | None = None
    retired: bool = False


@dataclass(frozen=True)
class Line:
    sku: str
    name: str
    kind: ProductKind
    quantity: int
    unit_price: int
    # What a digital line gives access to (VideoAccess's fields), as sold; None for physical goods.
    access: dict[str, Any] | None = None

    @property
    def amount(self) -> int:
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class TimelineEntry:
    event_id: str
    event_type: str
    occurred_at: str  # ISO-8601 UTC; sorts as text
    summary: str


@dataclass(frozen=True)
class ChargeRequest:
    """What to ask the payment gateway for an order."""

    idempotency_key: str
    amount: int
    currency: str
    token: str
    description: str


@dataclass(frozen=True)
class ChargeOutcome:
    """The payment gateway's answer to a charge."""

    approved: bool
    charge_id: str | None = None
    decline_code: str | None = None


@dataclass(frozen=True)
class PaymentCaptured:
    payment_id: str

    @property
    def summary(self) -> str:
        return f"payment captured ({self.payment_id})"


@dataclass(frozen=True)
class PaymentFailed:
    reason: str

    @property
    def summary(self) -> str:
        return f"payment failed ({self.reason})"


PaymentOutcome = PaymentCaptured | PaymentFailed


@dataclass(frozen=True)
class Cancellation:
    """Who cancelled the order and why; `actor` is their sub at the issuer."""

    by: CancelledBy
    actor: str
    reason: str
    event_id: str  # the OrderCancelled's

    def same_request(self, by: CancelledBy, actor: str, reason: str) -> bool:
        return (self.by, self.actor, self.reason) == (by, actor, reason)


@dataclass
class Refund:
    """Money given back, or being given back: `refund_id` is None until the gateway accepted it. A
    refund in progress already counts against what is left to refund, so two refunds racing can
    never give back more than was captured."""

    key: str  # the gateway's idempotency key
    amount: int
    reason: str
    initiated_by: RefundInitiator
    skus: list[str] = field(default_factory=list)
    refund_id: str | None = None
    event_id: str | None = None  # the PaymentRefunded's, once done

    @property
    def done(self) -> bool:
        return self.refund_id is not None


class CancelRefused(Exception):
    """The order cannot be cancelled (by this party, now); `code` says why, for the API's 409."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RefundNotAllowed(Exception):
    """A refund the order does not allow; `code` says why, `field` which part of the request (if any)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


# Why an order cannot be cancelled, checked in this order: the first that applies is the answer.
# Customers may cancel until the shipment is handed to the logistics service (ShipmentInstructed);
# staff until the carrier has it (ShipmentDispatched): staff can still call the 3PL back.
_FINAL = (
    ("StockRejected", "rejected", "the order was rejected (out of stock); there is nothing to cancel"),
    ("PaymentFailed", "payment_failed", "the order's payment failed; there is nothing to cancel"),
    ("ShipmentDelivered", "already_delivered", "the parcel was delivered; ask for a return instead"),
    ("ShipmentDispatched", "already_shipped", "the parcel is with the carrier; ask for a return instead"),
)
_HANDED_TO_LOGISTICS = (
    "handed_to_logistics",
    "the shipment was handed to the logistics service; only the shop's staff can still stop it",
)


@dataclass
class Order:
    order_id: str
    customer_email: str
    lines: list[Line]
    currency: str
    payment_token: str
    shipping_address: str | None
    created_at: str
    # The structured form (OrderPlaced v2's Address fields); shipping_address is its one-line text.
    delivery_address: dict[str, str | None] | None = None
    timeline: list[TimelineEntry] = field(default_factory=list)
    payment_id: str | None = None
    version: int = 0
    # Who placed it: the customer's sub at the issuer. None only for orders from before sign-in.
    customer_id: str | None = None
    locale: str | None = None
    # DeliveryPreference's fields ({date, time_slot}); None: the first possible day, any time.
    delivery: dict[str, str | None] | None = None
    # Set when the charge step has asked (or is about to ask) the gateway and has no answer recorded
    # yet: the order cannot be cancelled then, or the money taken would have nobody to give it back.
    charge_started: bool = False
    cancellation: Cancellation | None = None
    refunds: list[Refund] = field(default_factory=list)
    # What fulfillment told us about the parcel (shipment_id, carrier, tracking_number, tracking_url,
    # logistics_shipment_id): each field comes from the events that carry it, whatever their order.
    shipment: dict[str, str] = field(default_factory=dict)
    # What vod told us about each digital line's access, by sku (entitlement_id, granted_at, expires_at,
    # revoked_at, revoke_reason): facts merged from EntitlementGranted and EntitlementRevoked in any order.
    deliveries: dict[str, dict[str, str]] = field(default_factory=dict)
    # The status as last saved (None: never saved) and how many times a save changed it. The storefront's
    # live status (OrderStatusChanged, from the table's stream) is ordered by status_version.
    saved_status: str | None = None
    status_version: int = 0

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines)

    def has_seen(self, event_type: str) -> bool:
        return any(entry.event_type == event_type for entry in self.timeline)

    @property
    def _seen(self) -> set[str]:
        return {entry.event_type for entry in self.timeline}

    @property
    def status(self) -> str:
        seen = self._seen
        found = next((status for event_type, status in _STATUS_BY_EVIDENCE if event_type in seen), "PENDING")
        if found in _ENDED:
            return found
        # DELIVERED means everything arrived: the parcel (if any) and every digital line's access. A parcel
        # delivered while a digital line still waits for vod reads SHIPPED; a digital-only order whose
        # access was granted reads DELIVERED although no shipment event exists.
        if self.fulfillment_status == "delivered":
            return "DELIVERED"
        return "SHIPPED" if found == "DELIVERED" else found

    @property
    def current_status_version(self) -> int:
        """The status_version of the status as derived now, which the next save writes: the saved one, or
        one more when the status differs from the one saved (a new order's first save counts: PENDING is
        its first status). Saves are conditional on the version read, so no two saves write the same
        status_version for different statuses."""
        return self.status_version + (1 if self.status != self.saved_status else 0)

    def mark_saved(self) -> None:
        """The order is as a save just wrote it: the next save is conditional on the new version, and
        counts status changes from the status written (else it would write a status_version twice)."""
        self.status_version = self.current_status_version
        self.saved_status = self.status
        self.version += 1

    @property
    def payment_status(self) -> PaymentStatus:
        seen = self._seen
        if "PaymentFailed" in seen:
            return "failed"
        if "PaymentCaptured" not in seen:
            # Cancelled before any charge: nothing was or will be taken (Shopify's "voided").
            return "voided" if "OrderCancelled" in seen else "pending"
        refunded = self.refunded_amount
        if refunded == 0:
            return "captured"
        return "refunded" if refunded >= self.captured_amount else "partially_refunded"

    @property
    def fulfillment_status(self) -> FulfillmentStatus:
        """What happened to the goods. With a parcel, the parcel's progress; it reads delivered only once
        every digital line is delivered too (until then a delivered parcel reads shipped). A digital-only
        order is delivered once vod granted every line's access (a line revoked later counts: it was
        delivered, and the refund shows in the payment status), cancelled when the order was (vod takes the
        access back), else not_fulfilled. A parcel the carrier has is shipped even if a cancellation raced
        it: the goods are gone, whatever was decided."""
        seen = self._seen
        if not self.has_physical_lines:
            if "OrderCancelled" in seen or "ShipmentCancelled" in seen:
                return "cancelled"
            return "delivered" if self.deliverable_lines and self.digital_lines_settled else "not_fulfilled"
        parcel = self._parcel_status(seen)
        if parcel == "delivered" and not self.digital_lines_settled:
            return "shipped"
        return parcel

    def _parcel_status(self, seen: set[str]) -> FulfillmentStatus:
        if "ShipmentDelivered" in seen:
            return "delivered"
        if "ShipmentDispatched" in seen:
            return "shipped"
        if "OrderCancelled" in seen or "ShipmentCancelled" in seen:
            return "cancelled"
        if "ShipmentInstructed" in seen:
            return "instructed"
        return "not_fulfilled"

    @property
    def awaiting_payment(self) -> bool:
        seen = self._seen
        return "StockReserved" in seen and not seen & {"PaymentCaptured", "PaymentFailed", "StockRejected", "OrderCancelled"}

    @property
    def has_physical_lines(self) -> bool:
        return any(line.kind == "physical" for line in self.lines)

    # -- digital delivery -------------------------------------------------------------------------

    @property
    def deliverable_lines(self) -> list[Line]:
        """The digital lines vod delivers: those that give access to something. A digital line without
        access (catalog's legacy digital products) is never granted, so it is never waited for."""
        return [line for line in self.lines if line.kind == "digital" and line.access]

    def note_delivery(self, sku: str, **facts: str | None) -> None:
        """Keep what an entitlement event says about a line's access (None: the event does not say)."""
        self.deliveries.setdefault(sku, {}).update({name: value for name, value in facts.items() if value})

    def line_delivery(self, line: Line) -> LineDeliveryStatus | None:
        """A deliverable line's access from the facts seen, whatever order they came in: revoked wins (a
        grant arriving after its revocation brings nothing back); None for a line vod does not deliver."""
        if line.kind != "digital" or not line.access:
            return None
        facts = self.deliveries.get(line.sku, {})
        if "revoked_at" in facts:
            return "revoked"
        return "delivered" if "granted_at" in facts else "pending"

    @property
    def digital_lines_settled(self) -> bool:
        """Every deliverable line was delivered (and may have been revoked since); true without any."""
        return all(self.line_delivery(line) != "pending" for line in self.deliverable_lines)

    # -- payment ----------------------------------------------------------------------------------

    def charge_request(self) -> ChargeRequest | None:
        """What to charge once stock is reserved; None for a free order, since a card gateway refuses
        a zero amount. The key is the order's own, so asking again never charges twice."""
        if self.total == 0:
            return None
        return ChargeRequest(
            idempotency_key=f"order-{self.order_id}",
            amount=self.total,
            currency=self.currency,
            token=self.payment_token,
            description=f"order {self.order_id}",
        )

    def settle_payment(self, charged: ChargeOutcome | None) -> PaymentOutcome:
        """The payment's outcome from the gateway's answer (None: nothing was charged, a free order).
        A capture keeps its payment id on the order."""
        if charged is None:
            if self.total != 0:
                raise ValueError(f"order {self.order_id} costs {self.total}: it settles only with a charge")
            charged = ChargeOutcome(approved=True, charge_id=f"free-{self.order_id}")
        self.charge_started = False
        if charged.approved:
            self.payment_id = charged.charge_id
            return PaymentCaptured(payment_id=charged.charge_id or "")
        return PaymentFailed(reason=charged.decline_code or "declined")

    # -- cancellation -----------------------------------------------------------------------------

    def cancel_refusal(self, by: CancelledBy) -> CancelRefused | None:
        """Why `by` may not cancel the order now; None if they may. A cancelled order is refused as
        already_cancelled (the API first replays the same request, see `Cancellation.same_request`)."""
        seen = self._seen
        if "OrderCancelled" in seen:
            return CancelRefused("already_cancelled", "the order is already cancelled")
        for event_type, code, message in _FINAL:
            if event_type in seen:
                return CancelRefused(code, message)
        if by == "customer" and "ShipmentInstructed" in seen:
            return CancelRefused(*_HANDED_TO_LOGISTICS)
        if self.charge_started:
            return CancelRefused("payment_in_progress", "the payment is being taken right now; try again in a moment")
        return None

    def cancel(self, *, by: CancelledBy, actor: str, reason: str, event_id: str) -> Cancellation:
        refused = self.cancel_refusal(by)
        if refused is not None:
            raise refused
        self.cancellation = Cancellation(by=by, actor=actor, reason=reason, event_id=event_id)
        return self.cancellation

    # -- refunds ----------------------------------------------------------------------------------

    @property
    def captured_amount(self) -> int:
        return self.total if self.has_seen("PaymentCaptured") else 0

    @property
    def refunded_amount(self) -> int:
        return sum(refund.amount for refund in self.refunds if refund.done)

    @property
    def refundable_amount(self) -> int:
        """What is left to give back: captured, less every refund done or in progress."""
        return self.captured_amount - sum(refund.amount for refund in self.refunds)

    def refund(self, key: str) -> Refund | None:
        return next((refund for refund in self.refunds if refund.key == key), None)

    def start_refund(
        self, *, key: str, amount: int | None, reason: str, initiated_by: RefundInitiator, skus: Sequence[str] = ()
    ) -> Refund:
        """Claim `amount` (None: all that is left) of the captured money for a refund under `key`; the
        same key again returns the refund it started. Raises RefundNotAllowed naming why."""
        existing = self.refund(key)
        if existing is not None:
            return existing
        if not self.has_seen("PaymentCaptured") or not self.payment_id:
            raise RefundNotAllowed("not_captured", "the order has no captured payment to refund")
        left = self.refundable_amount
        if left <= 0:
            raise RefundNotAllowed("nothing_to_refund", "everything captured was already refunded (or is being refunded)")
        if amount is None:
            amount = left
        if amount <= 0:
            raise RefundNotAllowed("invalid_amount", "a refund gives back a positive amount", "amount")
        if amount > left:
            raise RefundNotAllowed(
                "exceeds_refundable", f"at most {left} ({format_money(left, self.currency)}) is left to refund", "amount"
            )
        digital = {line.sku for line in self.lines if line.kind == "digital"}
        for index, sku in enumerate(skus):
            if sku not in digital:
                raise RefundNotAllowed("not_a_digital_line", f"{sku!r} is not a digital line of this order", f"skus[{index}]")
        refund = Refund(key=key, amount=amount, reason=reason, initiated_by=initiated_by, skus=list(dict.fromkeys(skus)))
        self.refunds.append(refund)
        return refund

    def complete_refund(self, key: str, *, refund_id: str, amount: int, event_id: str) -> Refund:
        refund = self.refund(key)
        if refund is None:
            raise KeyError(f"no refund {key} on order {self.order_id}")
        refund.refund_id = refund_id
        refund.amount = amount  # what the gateway gave back is what counts
        refund.event_id = event_id
        return refund

    def abandon_refund(self, key: str) -> None:
        """The gateway refused: the claimed amount is refundable again."""
        self.refunds = [refund for refund in self.refunds if refund.key != key or refund.done]

    @property
    def fully_refunded(self) -> bool:
        return self.captured_amount > 0 and self.refunded_amount >= self.captured_amount

    # -- fulfillment ------------------------------------------------------------------------------

    def note_shipment(self, **facts: str | None) -> None:
        """Keep what a shipment event says about the parcel (None: the event does not say)."""
        self.shipment.update({name: value for name, value in facts.items() if value})

    @property
    def tracking(self) -> dict[str, str] | None:
        """The parcel's carrier and tracking, once dispatched."""
        if self.fulfillment_status not in ("shipped", "delivered") or "tracking_number" not in self.shipment:
            return None
        return {k: v for k, v in self.shipment.items() if k in ("carrier", "tracking_number", "tracking_url")}

    def record(self, event_id: str, event_type: str, occurred_at: datetime | str, summary: str) -> bool:
        """Add an event to the timeline; False (and no change) if it is already there."""
        if any(entry.event_id == event_id for entry in self.timeline):
            return False
        when = occurred_at if isinstance(occurred_at, str) else occurred_at.isoformat()
        self.timeline.append(TimelineEntry(event_id, event_type, when, summary))
        self.timeline.sort(key=lambda entry: (entry.occurred_at, entry.event_id))
        return True


class OrderInvalid(Exception):
    """The request names something the shop cannot sell; `field` says which part. `code` is the API's
    error code: invalid_request (400) for what does not exist, another (422) for a rule refused."""

    def __init__(self, field: str, problem: str, code: str = "invalid_request") -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
        self.code = code


def price_lines(requested: Sequence[tuple[str, int]], catalog: Mapping[str, ProductView]) -> list[Line]:
    lines = []
    for index, (sku, quantity) in enumerate(requested):
        product = catalog.get(sku)
        if product is None:
            raise OrderInvalid(f"lines[{index}].sku", f"unknown product {sku!r}")
        if product.retired:
            raise OrderInvalid(f"lines[{index}].sku", f"product {sku!r} is no longer sold", code="product_retired")
        lines.append(Line(sku, product.name, product.kind, quantity, product.price_amount, product.access))
    currencies = {catalog[sku].currency for sku, _ in requested}
    if len(currencies) > 1:
        raise OrderInvalid("lines", f"products are priced in different currencies: {sorted(currencies)}")
    return lines


def resolve_locale(requested: str | None, accept_language: str | None, default: str, supported: Sequence[str]) -> str:
    """The customer's locale: the one asked for, else the best supported language of Accept-Language
    (RFC 9110 weights; `ja-JP` counts as `ja`), else the shop's default."""
    if requested:
        return requested
    best: tuple[float, int, str] | None = None
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        language = tag.strip().lower().split("-")[0]
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if language in supported and weight > 0 and (best is None or (weight, -position) > (best[0], best[1])):
            best = (weight, -position, language)
    return best[2] if best else default


def place_order(
    *,
    order_id: str,
    customer_email: str,
    requested: Sequence[tuple[str, int]],
    catalog: Mapping[str, ProductView],
    payment_token: str,
    shipping_address: str | None,
    now: datetime,
    delivery_address: dict[str, str | None] | None = None,
    customer_id: str | None = None,
    locale: str | None = None,
    delivery: dict[str, str | None] | None = None,
) -> Order:
    lines = price_lines(requested, catalog)
    physical = any(line.kind == "physical" for line in lines)
    if physical and not (shipping_address or "").strip():
        raise OrderInvalid("shipping_address", "required when the order has physical products")
    delivery = delivery if delivery and any(delivery.values()) else None
    if delivery:
        if not physical:
            raise OrderInvalid("delivery", "a delivery preference needs physical products to deliver")
        _check_delivery_date(delivery.get("date"), now)
    return Order(
        order_id=order_id,
        customer_email=customer_email,
        lines=lines,
        currency=catalog[lines[0].sku].currency,
        payment_token=payment_token,
        shipping_address=shipping_address,
        created_at=now.isoformat(),
        delivery_address=delivery_address,
        customer_id=customer_id,
        locale=locale,
        delivery=delivery,
    )


def _check_delivery_date(text: str | None, now: datetime) -> None:
    if text is None:
        return
    try:
        wanted = date.fromisoformat(text)
    except ValueError:
        raise OrderInvalid("delivery.date", f"{text!r} is not a calendar date") from None
    # Compared with today's date in UTC: a day's leeway for customers east of UTC, none to the past.
    if wanted < now.date():
        raise OrderInvalid("delivery.date", f"{text} is in the past")
