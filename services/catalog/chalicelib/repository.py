"""The catalog table: products and reservations. Single-table keys live here and nowhere else."""

from __future__ import annotations

from typing import Any

from chalicelib.domain import Product
from shop_eventing.outbox import UnitOfWork, from_dynamodb, to_dynamodb


def product_key(sku: str) -> dict[str, str]:
    return {"pk": f"PRODUCT#{sku}", "sk": "PRODUCT"}


def reservation_key(order_id: str) -> dict[str, str]:
    return {"pk": f"RESERVATION#{order_id}", "sk": "RESERVATION"}


def product_item(product: Product) -> dict[str, Any]:
    return {
        **product_key(product.sku),
        "kind_of_item": "product",
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


def create_product(uow: UnitOfWork, product: Product) -> None:
    uow.put(product_item(product), label="product", condition="attribute_not_exists(pk)")


def revise_product(uow: UnitOfWork, product: Product, previous_revision: int, stock_given: bool) -> None:
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
    uow.update(
        product_key(product.sku),
        expression,
        label="product",
        condition="revision = :previous",
        names=names,
        values=values,
    )


def take_stock(uow: UnitOfWork, sku: str, quantity: int) -> None:
    uow.update(
        product_key(sku),
        "SET stock = stock - :quantity",
        label=f"stock:{sku}",
        # The guard against overselling: a concurrent reservation that got there first fails this.
        condition="stock >= :quantity",
        values={":quantity": quantity},
    )


def return_stock(uow: UnitOfWork, sku: str, quantity: int) -> None:
    uow.update(product_key(sku), "SET stock = stock + :quantity", label=f"stock:{sku}", values={":quantity": quantity})


def put_reservation(uow: UnitOfWork, order_id: str, status: str, lines: dict[str, int]) -> None:
    uow.put(
        {
            **reservation_key(order_id),
            "kind_of_item": "reservation",
            "order_id": order_id,
            "status": status,
            "lines": [{"sku": sku, "quantity": qty} for sku, qty in sorted(lines.items())],
        },
        label="reservation",
        condition="attribute_not_exists(pk)",
    )


def release_reservation(uow: UnitOfWork, order_id: str) -> None:
    uow.update(
        reservation_key(order_id),
        "SET #status = :released",
        label="reservation",
        condition="#status = :reserved",
        names={"#status": "status"},
        values={":released": "RELEASED", ":reserved": "RESERVED"},
    )
