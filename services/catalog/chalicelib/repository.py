"""The catalog table: products, stock adjustments and reservations. Single-table keys live here and nowhere else."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.domain import Access, Product, ProductStatus, ReservationStatus, legacy_product_type
from shop_contracts.events import ProductType, StockAdjustmentReason
from shop_eventing.outbox import ITEM_TYPE, UnitOfWork, WriteConflict, from_dynamodb, to_dynamodb

# Every product in one partition of the general index, by SKU: the staff's and the storefront's lists.
PRODUCTS_PARTITION = "PRODUCTS"
PRODUCT_ITEM_TYPE = "product"
# Grows by one in the very update that changes a product's stock (ADD, in the same expression, inside
# the same transaction), so the change stream can announce each level once and in order
# (chalicelib.stock_levels, StockLevelChanged) whichever use case moved it.
STOCK_VERSION = "stock_version"


class ProductExists(WriteConflict):
    """A product with this SKU was created meanwhile (or before)."""


class ProductChangedSinceRead(WriteConflict):
    """Someone saved the product after we read it: its revision moved on."""


class NotEnoughStock(WriteConflict):
    """Since we read it, a product's stock fell below the quantity to take (another order took it) or it
    went off sale."""


class StockChangedSinceRead(WriteConflict):
    """A product's units on hand changed between our read and a staff adjustment (an order, another adjustment)."""


class AdjustmentKeyUsed(WriteConflict):
    """A stock adjustment with this Idempotency-Key was already made on the product."""


class ReservationExists(WriteConflict):
    """The order's stock was already decided (reserved, rejected, or cancelled first): one decision per order."""


class ReservationNotHeld(WriteConflict):
    """The order's reservation is no longer RESERVED (its stock was already released)."""


@dataclass(frozen=True)
class Adjustment:
    """A staff stock adjustment as made; kept under its Idempotency-Key so a retry answers the same."""

    sku: str
    key: str
    delta: int
    reason: StockAdjustmentReason
    note: str | None
    on_hand: int
    adjusted_by: str
    adjusted_at: str
    event_id: str

    def same_request(self, delta: int, reason: str, note: str | None) -> bool:
        return (self.delta, self.reason, self.note) == (delta, reason, note)


@dataclass(frozen=True)
class Reservation:
    order_id: str
    status: ReservationStatus
    lines: dict[str, int]


def product_key(sku: str) -> dict[str, str]:
    return {"pk": f"PRODUCT#{sku}", "sk": "PRODUCT"}


def reservation_key(order_id: str) -> dict[str, str]:
    return {"pk": f"RESERVATION#{order_id}", "sk": "RESERVATION"}


def adjustment_key(sku: str, idempotency_key: str) -> dict[str, str]:
    return {"pk": f"ADJUSTMENT#{sku}", "sk": idempotency_key}


def _access_item(access: Access | None) -> dict[str, Any] | None:
    if access is None:
        return None
    fields = {"video_id": access.video_id, "live_show_id": access.live_show_id, "rental_hours": access.rental_hours}
    return {name: value for name, value in fields.items() if value is not None}


def _details(product: Product) -> dict[str, Any]:
    """Everything of a product but its stock, which orders and adjustments change under their own conditions."""
    return {
        "sku": product.sku,
        "name": product.name,
        "kind": product.kind,
        "product_type": product.product_type,
        "price_amount": product.price_amount,
        "currency": product.currency,
        "access": _access_item(product.access),
        "status": product.status,
        "revision": product.revision,
        "gsi1pk": PRODUCTS_PARTITION,
        "gsi1sk": product.sku,
    }


def product_item(product: Product) -> dict[str, Any]:
    # A product created with stock starts its stock_version at 1 (the table's change stream announces it).
    stock_version = None if product.stock is None else 1
    return {
        **product_key(product.sku),
        ITEM_TYPE: PRODUCT_ITEM_TYPE,
        **_details(product),
        "stock": product.stock,
        STOCK_VERSION: stock_version,
    }


def product_from_item(item: dict[str, Any]) -> Product:
    access = item.get("access")
    product_type: ProductType = legacy_product_type(item["kind"], item.get("product_type"))
    status: ProductStatus = item.get("status") or "published"  # products saved before drafts were all on sale
    return Product(
        sku=item["sku"],
        name=item["name"],
        product_type=product_type,
        price_amount=int(item["price_amount"]),
        currency=item["currency"],
        stock=None if item.get("stock") is None else int(item["stock"]),
        revision=int(item["revision"]),
        status=status,
        access=Access(
            video_id=access.get("video_id"),
            live_show_id=access.get("live_show_id"),
            rental_hours=None if access.get("rental_hours") is None else int(access["rental_hours"]),
        )
        if access
        else None,
    )


def adjustment_from_item(item: dict[str, Any]) -> Adjustment:
    return Adjustment(
        sku=item["sku"],
        key=item["sk"],
        delta=int(item["delta"]),
        reason=item["reason"],
        note=item.get("note"),
        on_hand=int(item["on_hand"]),
        adjusted_by=item["adjusted_by"],
        adjusted_at=item["adjusted_at"],
        event_id=item["event_id"],
    )


class CatalogRepository:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _get(self, key: dict[str, str]) -> dict[str, Any] | None:
        item = self._client.get_item(TableName=self._table, Key=to_dynamodb(key), ConsistentRead=True).get("Item")
        return from_dynamodb(item) if item else None

    def product(self, sku: str) -> Product | None:
        item = self._get(product_key(sku))
        return product_from_item(item) if item else None

    def products(self, skus: list[str]) -> dict[str, Product]:
        found = {}
        for sku in skus:
            product = self.product(sku)
            if product:
                found[sku] = product
        return found

    def list_products(
        self, *, statuses: Sequence[str], types: Sequence[str], limit: int, after_sku: str | None
    ) -> tuple[list[Product], str | None]:
        """A page of products in SKU order with one of `statuses` and `types` (empty: any), and the SKU
        the next page starts after (None: no more)."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {":products": PRODUCTS_PARTITION}
        filters = []
        if statuses:
            names["#status"] = "status"
            values |= {f":status{i}": status for i, status in enumerate(statuses)}
            filters.append(f"#status IN ({', '.join(f':status{i}' for i in range(len(statuses)))})")
        if types:
            values |= {f":type{i}": product_type for i, product_type in enumerate(types)}
            filters.append(f"product_type IN ({', '.join(f':type{i}' for i in range(len(types)))})")
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :products",
            # The filter applies after Limit: read a few pages' worth at a time and stop at `limit`.
            "Limit": max(limit, 25),
        }
        if filters:
            query["FilterExpression"] = " AND ".join(filters)
        if names:
            query["ExpressionAttributeNames"] = names
        query["ExpressionAttributeValues"] = to_dynamodb(values)
        if after_sku is not None:
            start = {**product_key(after_sku), "gsi1pk": PRODUCTS_PARTITION, "gsi1sk": after_sku}
            query["ExclusiveStartKey"] = to_dynamodb(start)
        found: list[Product] = []
        while True:
            page = self._client.query(**query)
            items = [product_from_item(from_dynamodb(item)) for item in page["Items"]]
            room = limit - len(found)
            found += items[:room]
            more_in_page = len(items) > room
            last = page.get("LastEvaluatedKey")
            if len(found) == limit:
                return found, (found[-1].sku if more_in_page or last else None)
            if not last:
                return found, None
            query["ExclusiveStartKey"] = last

    def adjustment(self, sku: str, idempotency_key: str) -> Adjustment | None:
        item = self._get(adjustment_key(sku, idempotency_key))
        return adjustment_from_item(item) if item else None

    def reservation(self, order_id: str) -> Reservation | None:
        item = self._get(reservation_key(order_id))
        if not item:
            return None
        lines = {line["sku"]: int(line["quantity"]) for line in item.get("lines", [])}
        return Reservation(order_id=item["order_id"], status=item["status"], lines=lines)


class CatalogUnitOfWork(UnitOfWork):
    """One transaction on the catalog table: the use cases' writes, events and processed-marker."""

    def create_product(self, product: Product) -> None:
        self.put(product_item(product), condition="attribute_not_exists(pk)", conflict=ProductExists)

    def save_product(self, product: Product, previous_revision: int, *, stock: int | None = None) -> None:
        """Write the product's details (not its stock, unless `stock` is given: the legacy PUT sets it),
        if nobody saved it since we read `previous_revision`. A whole-item put would undo the reservations
        and adjustments made since we read it."""
        details = _details(product)
        names = {f"#{name}": name for name in details}
        values: dict[str, Any] = {f":{name}": value for name, value in details.items() if value is not None}
        values[":previous"] = previous_revision
        expression = "SET " + ", ".join(f"#{name} = :{name}" for name, value in details.items() if value is not None)
        if stock is not None:
            expression += ", stock = :stock"
            values[":stock"] = stock
        absent = [f"#{name}" for name, value in details.items() if value is None]
        if absent:
            expression += " REMOVE " + ", ".join(absent)
        if stock is not None:
            # Even when it sets what was there: orders may have moved the stock since we read it.
            expression += " ADD stock_version :one"
            values[":one"] = 1
        self.update(
            product_key(product.sku),
            expression,
            condition="revision = :previous",
            conflict=ProductChangedSinceRead,
            names=names,
            values=values,
        )

    def take_stock(self, sku: str, quantity: int) -> None:
        self.update(
            product_key(sku),
            "SET stock = stock - :quantity ADD stock_version :one",
            # The guard against overselling (a concurrent reservation that got there first fails this),
            # and against selling what was retired since we read it.
            condition="stock >= :quantity AND (#status = :published OR attribute_not_exists(#status))",
            conflict=NotEnoughStock,
            names={"#status": "status"},
            values={":quantity": quantity, ":published": "published", ":one": 1},
        )

    def return_stock(self, sku: str, quantity: int) -> None:
        self.update(
            product_key(sku), "SET stock = stock + :quantity ADD stock_version :one", values={":quantity": quantity, ":one": 1}
        )

    def adjust_stock(self, sku: str, *, read: int, on_hand: int) -> None:
        """Set the units on hand from what we read; the event says how many there are after, so it must be exact."""
        self.update(
            product_key(sku),
            "SET stock = :on_hand ADD stock_version :one",
            condition="stock = :read",
            conflict=StockChangedSinceRead,
            values={":on_hand": on_hand, ":read": read, ":one": 1},
        )

    def record_adjustment(self, adjustment: Adjustment) -> None:
        self.put(
            {
                **adjustment_key(adjustment.sku, adjustment.key),
                ITEM_TYPE: "stock-adjustment",
                "sku": adjustment.sku,
                "delta": adjustment.delta,
                "reason": adjustment.reason,
                "note": adjustment.note,
                "on_hand": adjustment.on_hand,
                "adjusted_by": adjustment.adjusted_by,
                "adjusted_at": adjustment.adjusted_at,
                "event_id": adjustment.event_id,
            },
            condition="attribute_not_exists(pk)",
            conflict=AdjustmentKeyUsed,
        )

    def put_reservation(self, order_id: str, status: ReservationStatus, lines: dict[str, int]) -> None:
        self.put(
            {
                **reservation_key(order_id),
                ITEM_TYPE: "reservation",
                "order_id": order_id,
                "status": status,
                "lines": [{"sku": sku, "quantity": qty} for sku, qty in sorted(lines.items())],
            },
            condition="attribute_not_exists(pk)",
            conflict=ReservationExists,
        )

    def release_reservation(self, order_id: str, reason: str) -> None:
        self.update(
            reservation_key(order_id),
            "SET #status = :released, released_because = :reason",
            condition="#status = :reserved",
            conflict=ReservationNotHeld,
            names={"#status": "status"},
            values={":released": "RELEASED", ":reserved": "RESERVED", ":reason": reason},
        )
