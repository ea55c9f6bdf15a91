"""Orders rules, free of I/O: placing an order, its timeline, the status the timeline implies, and
what a payment outcome means for the order (what to charge; captured, failed or free).

The status is derived from the set of events an order has seen, never from the order they arrived
in, so out-of-order and repeated deliveries cannot move an order backwards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from shop_contracts.events import ProductKind

# Highest first: the first event type the order has seen decides its status.
_STATUS_BY_EVIDENCE = (
    ("StockRejected", "REJECTED"),
    ("PaymentFailed", "PAYMENT_FAILED"),
    ("ShipmentRequested", "SHIPMENT_REQUESTED"),
    ("PaymentCaptured", "PAID"),
    ("StockReserved", "STOCK_RESERVED"),
)


@dataclass(frozen=True)
class ProductView:
    """What orders knows of a catalog product (kept up to date from ProductPublished)."""

    sku: str
    name: str
    kind: ProductKind
    price_amount: int
    currency: str
    revision: int


@dataclass(frozen=True)
class Line:
    sku: str
    name: str
    kind: ProductKind
    quantity: int
    unit_price: int

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

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def status(self) -> str:
        seen = {entry.event_type for entry in self.timeline}
        return next((status for event_type, status in _STATUS_BY_EVIDENCE if event_type in seen), "PENDING")

    def has_seen(self, event_type: str) -> bool:
        return any(entry.event_type == event_type for entry in self.timeline)

    @property
    def awaiting_payment(self) -> bool:
        return self.status == "STOCK_RESERVED"

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
        if charged.approved:
            self.payment_id = charged.charge_id
            return PaymentCaptured(payment_id=charged.charge_id or "")
        return PaymentFailed(reason=charged.decline_code or "declined")

    def record(self, event_id: str, event_type: str, occurred_at: datetime | str, summary: str) -> bool:
        """Add an event to the timeline; False (and no change) if it is already there."""
        if any(entry.event_id == event_id for entry in self.timeline):
            return False
        when = occurred_at if isinstance(occurred_at, str) else occurred_at.isoformat()
        self.timeline.append(TimelineEntry(event_id, event_type, when, summary))
        self.timeline.sort(key=lambda entry: (entry.occurred_at, entry.event_id))
        return True


class OrderInvalid(Exception):
    """The request names something the shop cannot sell; `field` says which part."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def price_lines(requested: Sequence[tuple[str, int]], catalog: Mapping[str, ProductView]) -> list[Line]:
    lines = []
    for index, (sku, quantity) in enumerate(requested):
        product = catalog.get(sku)
        if product is None:
            raise OrderInvalid(f"lines[{index}].sku", f"unknown product {sku!r}")
        lines.append(Line(sku, product.name, product.kind, quantity, product.price_amount))
    currencies = {catalog[sku].currency for sku, _ in requested}
    if len(currencies) > 1:
        raise OrderInvalid("lines", f"products are priced in different currencies: {sorted(currencies)}")
    return lines


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
) -> Order:
    lines = price_lines(requested, catalog)
    if any(line.kind == "physical" for line in lines) and not (shipping_address or "").strip():
        raise OrderInvalid("shipping_address", "required when the order has physical products")
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
    )
