"""Catalog rules, free of I/O: a product's life (draft → published ⇄ retired), what each product type
needs, staff stock adjustments, and whether an order's lines can be reserved or its reservation released."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal, get_args

from shop_contracts.events import ProductKind, ProductType, StockAdjustmentReason

ProductStatus = Literal["draft", "published", "retired"]
PublicChange = Literal["published", "updated", "retired"]
PRODUCT_STATUSES: tuple[ProductStatus, ...] = get_args(ProductStatus)
PRODUCT_TYPES: tuple[ProductType, ...] = get_args(ProductType)
# The types whose units run out: a physical good's shelf, a live show's seats (its capacity).
STOCK_TRACKED: frozenset[ProductType] = frozenset({"physical_good", "live_ticket"})
# The upper bound of a product's on-hand units; a DynamoDB number holds it with room to spare.
MAX_STOCK = 10**9
# A live ticket's seats are not received, counted or damaged: its capacity changes, or a mistake is put right.
LIVE_TICKET_REASONS: frozenset[StockAdjustmentReason] = frozenset({"capacity_changed", "correction"})


class ProductInvalid(Exception):
    """The staff's input breaks a product rule; `field` names what to fix (an API 400)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class TransitionRefused(Exception):
    """The product's current state does not allow this change (an API 409)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def kind_of(product_type: ProductType) -> ProductKind:
    return "physical" if product_type == "physical_good" else "digital"


@dataclass(frozen=True)
class Access:
    """What a digital product gives access to (the contracts' VideoAccess without its product type)."""

    video_id: str | None = None
    live_show_id: str | None = None
    rental_hours: int | None = None


def checked_access(product_type: ProductType, access: Access | None) -> Access | None:
    """The access a product of this type gives, or ProductInvalid naming the missing or stray field."""
    if product_type == "physical_good":
        if access is not None and access != Access():
            raise ProductInvalid("access", "a physical good gives no access")
        return None
    access = access or Access()
    video = product_type in ("video_rental", "video_purchase")
    if video and not access.video_id:
        raise ProductInvalid("access.video_id", f"required for a {product_type}")
    if product_type == "video_rental" and access.rental_hours is None:
        raise ProductInvalid("access.rental_hours", "required for a video_rental")
    if product_type != "video_rental" and access.rental_hours is not None:
        raise ProductInvalid("access.rental_hours", "only a video_rental has rental hours")
    if product_type == "live_ticket" and not access.live_show_id:
        raise ProductInvalid("access.live_show_id", "required for a live_ticket")
    if video and access.live_show_id is not None:
        raise ProductInvalid("access.live_show_id", "only a live_ticket names a live show")
    if product_type == "live_ticket" and access.video_id is not None:
        raise ProductInvalid("access.video_id", "a live_ticket names a live show, not a video")
    return access


def checked_stock(product_type: ProductType, stock: int | None) -> int | None:
    if product_type in STOCK_TRACKED:
        return stock or 0
    if stock is not None:
        raise ProductInvalid("stock", "stock applies to physical goods and live tickets only")
    return None


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    product_type: ProductType
    price_amount: int
    currency: str
    # Units available to reserve (a live ticket's: seats left); None for types without stock.
    stock: int | None
    revision: int
    status: ProductStatus = "published"
    access: Access | None = None

    @property
    def kind(self) -> ProductKind:
        return kind_of(self.product_type)

    @property
    def tracks_stock(self) -> bool:
        return self.product_type in STOCK_TRACKED

    @property
    def on_sale(self) -> bool:
        return self.status == "published"

    @property
    def availability(self) -> Literal["in_stock", "sold_out"] | None:
        """What a customer is told instead of the count; None when nothing can run out."""
        if not self.tracks_stock:
            return None
        return "in_stock" if (self.stock or 0) > 0 else "sold_out"

    @staticmethod
    def draft(
        sku: str,
        *,
        name: str,
        product_type: ProductType,
        price_amount: int,
        currency: str,
        access: Access | None,
        stock: int | None,
    ) -> Product:
        return Product(
            sku=sku,
            name=name,
            product_type=product_type,
            price_amount=price_amount,
            currency=currency,
            stock=checked_stock(product_type, stock),
            revision=1,
            status="draft",
            access=checked_access(product_type, access),
        )

    def edited(self, *, name: str | None = None, price: tuple[int, str] | None = None, access: Access | None = None) -> Product:
        """The product with new details (what is None stays). A retired product is not edited."""
        if self.status == "retired":
            raise TransitionRefused(f"product {self.sku} is retired; publish it again before changing it")
        amount, currency = price if price is not None else (self.price_amount, self.currency)
        return replace(
            self,
            name=name if name is not None else self.name,
            price_amount=amount,
            currency=currency,
            access=checked_access(self.product_type, access) if access is not None else self.access,
            revision=self.revision + 1,
        )

    def published(self) -> Product:
        """Put on sale: a draft for the first time, or a retired product again."""
        if self.status == "published":
            raise TransitionRefused(f"product {self.sku} is already published")
        return replace(self, status="published", revision=self.revision + 1)

    def retired(self) -> Product:
        """Withdrawn from sale; orders already placed go on. A draft was never on sale and cannot be."""
        if self.status != "published":
            raise TransitionRefused(f"product {self.sku} is {self.status}; only a published product is retired")
        return replace(self, status="retired", revision=self.revision + 1)


def public_change(before: Product | None, after: Product) -> PublicChange | None:
    """Which product event a change is, as customers and other services see it; None while in draft."""
    was_on_sale = before is not None and before.on_sale
    if after.on_sale:
        return "updated" if was_on_sale else "published"
    if was_on_sale and after.status == "retired":
        return "retired"
    return None


def legacy_product_type(kind: ProductKind, product_type: ProductType | None) -> ProductType:
    """The type of a product created by `PUT /products/{sku}` without one: a digital product of those
    days is a video purchase (its video not named yet)."""
    if product_type is not None:
        return product_type
    return "physical_good" if kind == "physical" else "video_purchase"


# -- stock adjustments -------------------------------------------------------------------------------


class StockRefused(Exception):
    """The adjustment cannot be made; `field` names what is to blame: a 409 when the product's state
    refuses it (`conflict`), else a 400."""

    def __init__(self, field: str, problem: str, *, conflict: bool = True) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
        self.conflict = conflict


def adjusted_stock(product: Product, delta: int, reason: StockAdjustmentReason) -> int:
    """The units on hand after staff add (or remove) `delta` for `reason`."""
    if not product.tracks_stock:
        raise StockRefused("sku", f"a {product.product_type} has no stock to adjust")
    if delta == 0:
        raise StockRefused("delta", "must not be zero", conflict=False)
    if product.product_type == "live_ticket" and reason not in LIVE_TICKET_REASONS:
        raise StockRefused("reason", "a live ticket's seats change only by capacity_changed or correction", conflict=False)
    if product.product_type != "live_ticket" and reason == "capacity_changed":
        raise StockRefused("reason", "capacity_changed is for live tickets", conflict=False)
    on_hand = (product.stock or 0) + delta
    if on_hand < 0:
        raise StockRefused("on_hand", f"only {product.stock or 0} units are on hand; cannot remove {-delta}")
    if on_hand > MAX_STOCK:
        raise StockRefused("on_hand", f"at most {MAX_STOCK} units can be on hand")
    return on_hand


# -- reservations ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reserve:
    """Take these units (physical goods, live-ticket seats) off the shelf; other lines need nothing."""

    lines: dict[str, int]


@dataclass(frozen=True)
class Reject:
    reason: Literal["out_of_stock", "unknown_product"]
    unavailable: list[tuple[str, int, int]]  # (sku, requested, available)


def merge_lines(lines: Iterable[tuple[str, int]]) -> dict[str, int]:
    """One quantity per SKU: an order may list a SKU twice, a transaction may touch an item once."""
    total: Counter[str] = Counter()
    for sku, quantity in lines:
        total[sku] += quantity
    return dict(total)


def decide_reservation(requested: Mapping[str, int], products: Mapping[str, Product]) -> Reserve | Reject:
    # A draft or a retired product is not for sale: to an order it is as unknown as a SKU never made
    # (StockRejected's reasons have no "retired").
    unknown = sorted(sku for sku in requested if sku not in products or not products[sku].on_sale)
    if unknown:
        return Reject("unknown_product", [(sku, requested[sku], 0) for sku in unknown])
    tracked = {sku: qty for sku, qty in requested.items() if products[sku].tracks_stock}
    short = [(sku, qty, products[sku].stock or 0) for sku, qty in sorted(tracked.items()) if (products[sku].stock or 0) < qty]
    if short:
        return Reject("out_of_stock", short)
    return Reserve(tracked)


ReservationStatus = Literal["RESERVED", "REJECTED", "RELEASED", "CANCELLED"]


@dataclass(frozen=True)
class Release:
    """Give the reserved units back."""

    lines: dict[str, int]


@dataclass(frozen=True)
class Tombstone:
    """The order was cancelled before its stock was decided: remember it, so its OrderPlaced reserves nothing."""


def decide_cancellation(status: ReservationStatus | None, lines: Mapping[str, int]) -> Release | Tombstone | None:
    """What an order's cancellation undoes at catalog, given its reservation (None: none yet)."""
    if status is None:
        return Tombstone()
    if status == "RESERVED":
        return Release(dict(lines))
    # Rejected (nothing taken), released already (payment failed) or cancelled before: nothing to give back.
    return None
