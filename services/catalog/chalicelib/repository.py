"""The catalog table: products and reservations. Single-table keys live here and nowhere else."""

from __future__ import annotations

from typing import Any

from chalicelib.domain import Product
from shop_eventing.outbox import ITEM_TYPE, UnitOfWork, WriteConflict, from_dynamodb, to_dynamodb


class ProductChangedSinceRead(WriteConflict):
    """Someone saved the product after we read it (for a new product: it was created meanwhile)."""


class NotEnoughStock(WriteConflict):
    """A product's stock fell below the quantity to take since we read it: another order took it."""


class ReservationExists(WriteConflict):
    """The order's stock was already decided (reserved or rejected): one decision per order."""


class ReservationNotHeld(WriteConflict):
    """The order's reservation is no longer RESERVED (its stock was already released)."""


def product_key(sku: str) -> dict[str, str]:
    return {"pk": f"PRODUCT#{sku}", "sk": "PRODUCT"}


def reservation_key(order_id: str) -> dict[str, str]:
    return {"pk": f"RESERVATION#{order_id}", "sk": "RESERVATION"}


def product_item(product: Product) -> dict[str, Any]:
    return {
        **product_key(product.sku),
        ITEM_TYPE: "product",
        "sku": product.sku,
        "name": product.name,
        "kind": product.kind,
        "price_amount": product.price_amount,
        "currency": product.currency,
        "stock": product.stock,
        "revision": product.revision,
    }


def product_from_item(item: dict[str, Any]) -> Product:
    return Product(
        sku=item["sku"],
        name=item["name"],
        kind=item["kind"],
        price_amount=int(item["price_amount"]),
        currency=item["currency"],
        stock=None if item.get("stock") is None else int(item["stock"]),
        revision=int(item["revision"]),
    )


class CatalogRepository:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def product(self, sku: str) -> Product | None:
        item = self._client.get_item(TableName=self._table, Key=to_dynamodb(product_key(sku)), ConsistentRead=True).get("Item")
        return product_from_item(from_dynamodb(item)) if item else None

    def products(self, skus: list[str]) -> dict[str, Product]:
        found = {}
        for sku in skus:
            product = self.product(sku)
            if product:
                found[sku] = product
        return found

    def reservation(self, order_id: str) -> dict[str, Any] | None:
        item = self._client.get_item(TableName=self._table, Key=to_dynamodb(reservation_key(order_id)), ConsistentRead=True).get(
            "Item"
        )
        return from_dynamodb(item) if item else None


class CatalogUnitOfWork(UnitOfWork):
    """One transaction on the catalog table: the use cases' writes, events and processed-marker."""

    def create_product(self, product: Product) -> None:
        self.put(product_item(product), condition="attribute_not_exists(pk)", conflict=ProductChangedSinceRead)

    def revise_product(self, product: Product, previous_revision: int, stock_given: bool) -> None:
        """Write the staff's changes only. Stock is written only when the staff set it (or the product
        stopped being physical): a whole-item put would undo reservations made since we read it."""
        names = {"#name": "name", "#kind": "kind"}
        values: dict[str, Any] = {
            ":name": product.name,
            ":kind": product.kind,
            ":price": product.price_amount,
            ":currency": product.currency,
            ":revision": product.revision,
            ":previous": previous_revision,
        }
        expression = "SET #name = :name, #kind = :kind, price_amount = :price, currency = :currency, revision = :revision"
        if product.kind == "digital":
            expression += " REMOVE stock"
        elif stock_given:
            expression += ", stock = :stock"
            values[":stock"] = product.stock
        else:
            expression += ", stock = if_not_exists(stock, :zero)"
            values[":zero"] = 0
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
            "SET stock = stock - :quantity",
            # The guard against overselling: a concurrent reservation that got there first fails this.
            condition="stock >= :quantity",
            conflict=NotEnoughStock,
            values={":quantity": quantity},
        )

    def return_stock(self, sku: str, quantity: int) -> None:
        self.update(product_key(sku), "SET stock = stock + :quantity", values={":quantity": quantity})

    def put_reservation(self, order_id: str, status: str, lines: dict[str, int]) -> None:
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

    def release_reservation(self, order_id: str) -> None:
        self.update(
            reservation_key(order_id),
            "SET #status = :released",
            condition="#status = :reserved",
            conflict=ReservationNotHeld,
            names={"#status": "status"},
            values={":released": "RELEASED", ":reserved": "RESERVED"},
        )
