"""Demo products, created through the catalog's own API (so they flow to orders as events)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from shop_devstack.signin import sign_in

DEMO_PRODUCTS: list[dict[str, Any]] = [
    {
        "sku": "TSHIRT-BLUE-M",
        "name": "Director's cut T-shirt (blue, M)",
        "kind": "physical",
        "price": {"amount": 2500, "currency": "USD"},
        "stock": 25,
    },
    {"sku": "POSTER-A2", "name": "Film poster A2", "kind": "physical", "price": {"amount": 1500, "currency": "USD"}, "stock": 3},
    {
        "sku": "RENT-NIGHTFALL-48H",
        "name": "Rent 'Nightfall' for 48 hours",
        "kind": "digital",
        "price": {"amount": 399, "currency": "USD"},
        "product_type": "video_rental",
        "access": {"video_id": "nightfall", "rental_hours": 48},
    },
]


def put_product(catalog_url: str, product: dict[str, Any], token: str) -> dict[str, Any]:
    body = {k: v for k, v in product.items() if k != "sku"}
    request = urllib.request.Request(
        f"{catalog_url}/products/{product['sku']}",
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.load(response))


def seed(catalog_url: str, issuer_url: str) -> None:
    """As staff (sam), signed in at the local issuer like anybody else."""
    token = sign_in("sam", issuer_url=issuer_url)["access_token"]
    for product in DEMO_PRODUCTS:
        put_product(catalog_url, product, token)
