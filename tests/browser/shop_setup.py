"""What the console's browser tests set up through the APIs (not through the page under test): a clip
made by the real ffmpeg, a paid order, a live show's ticket bought by a customer, a broadcast started
on the fake IVS, and waits for the events that carry a product to the services that read it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from shop_devstack.testing import eventually
from shop_eventing.outbox import from_dynamodb, to_dynamodb
from tests.test_vod_live import broadcast as broadcast_on_channel
from tests.test_vod_live import sell_ticket

STAFF = "sam"


def clip(path: Path, *, seconds: int = 2, size: str = "320x180") -> Path:
    """A short H.264 test picture, made with the ffmpeg the embedded stack transcodes with."""
    import imageio_ffmpeg

    command = [
        str(imageio_ffmpeg.get_ffmpeg_exe()),
        *("-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"),
        *("-i", f"testsrc=size={size}:rate=25:duration={seconds}"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)),
    ]
    subprocess.run(command, check=True, capture_output=True)
    return path


def vod_knows(shop: Any, sku: str) -> None:
    """Wait until vod's product view has the product's name (a pin or marker shows it from there)."""

    def probe() -> bool:
        item = shop.stack.client("dynamodb").get_item(
            TableName=shop.stack.naming.table("vod"),
            Key=to_dynamodb({"pk": f"PRODUCT#{sku}", "sk": "PRODUCT"}),
            ConsistentRead=True,
        )
        return bool(item.get("Item")) and bool(from_dynamodb(item["Item"]).get("name"))

    eventually(probe, timeout=30, what=f"{sku} in vod's product view")


def paid_physical_order(shop: Any, *, user: str = "ada") -> tuple[str, str]:
    """A physical product and a paid order for two of it, its shipment requested: (order id, sku)."""
    sku = shop.new_product(kind="physical", stock=10, amount=1200)
    placed = shop.place_order([(sku, 2)], user=user)
    assert placed.status == 201, placed.body
    order_id = str(placed.body["order_id"])
    order = shop.settled_order(order_id)
    assert order["status"] == "SHIPMENT_REQUESTED", order
    return order_id, sku


def buy_ticket(shop: Any, live_show_id: str, *, user: str = "ada") -> None:
    """`user` buys a ticket to the show through the order flow; vod grants it."""
    sku = sell_ticket(shop, live_show_id)
    placed = shop.place_order([(sku, 1)], address=None, user=user)
    assert placed.status == 201, placed.body
    shop.settled_order(placed.body["order_id"], wanting={"PAID", "DELIVERED"})
    eventually(
        lambda: any(
            e.get("live_show_id") == live_show_id and e["active"]
            for e in shop.call("vod", "GET", "/me/videos", user=user).body["entitlements"]
        ),
        timeout=30,
        what=f"{user}'s ticket in vod",
    )


def broadcast(shop: Any, live_show_id: str, method: str) -> None:
    """The show's channel goes live (POST) or stops (DELETE), as its encoder would make it."""
    show = shop.call("vod", "GET", f"/live-shows/{live_show_id}", user=STAFF).body
    broadcast_on_channel(shop, show["channel"]["arn"], method)
