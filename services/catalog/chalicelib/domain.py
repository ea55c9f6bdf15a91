"""Catalog rules, free of I/O: products, and whether an order's lines can be reserved."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from shop_contracts.events import ProductKind


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    kind: ProductKind
    price_amount: int
    currency: str
    # On-hand units for physical goods; digital goods have no stock to run out of.
    stock: int | None
    revision: int

    def revised(self, *, name: str, kind: ProductKind, price_amount: int, currency: str, stock: int | None) -> Product:
        if kind == "physical" and stock is None:
            stock = self.stock if self.stock is not None else 0
        return Product(
            sku=self.sku,
            name=name,
            kind=kind,
            price_amount=price_amount,
            currency=currency,
            stock=stock if kind == "physical" else None,
            revision=self.revision + 1,
        )

    @staticmethod
    def new(sku: str, *, name: str, kind: ProductKind, price_amount: int, currency: str, stock: int | None) -> Product:
        return Product(
            sku=sku,
            name=name,
            kind=kind,
            price_amount=price_amount,
            currency=currency,
            stock=(stock or 0) if kind == "physical" else None,
            revision=1,
        )


@dataclass(frozen=True)
class Reserve:
    """Take these physical units off the shelf (digital lines need nothing)."""

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
    unknown = sorted(sku for sku in requested if sku not in products)
    if unknown:
        return Reject("unknown_product", [(sku, requested[sku], 0) for sku in unknown])
    physical = {sku: qty for sku, qty in requested.items() if products[sku].kind == "physical"}
    short = [(sku, qty, products[sku].stock or 0) for sku, qty in sorted(physical.items()) if (products[sku].stock or 0) < qty]
    if short:
        return Reject("out_of_stock", short)
    return Reserve(physical)
