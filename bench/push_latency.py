"""How long a live show's pin takes from the bus to its viewers on the embedded stack (issue 12: within
two seconds). Viewers (staff, who may watch any show) hold WebSockets to the stack's WebSocket API and
watch one show; pins are put on the bus one at a time, as vod's relay would, and each viewer's receipt
is timed from the PutEvents call: EventBridge's rule, the push-pins queue, the dispatcher's poll, vod's
fan-out through the management API and the gateway's frame.

    python -m bench.push_latency [--viewers 10] [--pins 20]    # a shop of its own
    `make bench` measures it too, on its shop, after the order phases (results: "push").
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from shop_contracts.events import PinnedProduct, ProductPinnedV1
from shop_devstack.signin import sign_in
from shop_devstack.stack import EmbeddedShop, StackOptions
from shop_eventing.envelope import new_event

# One pin at a time, this far apart: each is measured alone, not behind the previous one's queue.
PAUSE_SECONDS = 0.5
WAIT_SECONDS = 30
LOG_DIR = Path(__file__).resolve().parents[1] / "logs" / "push-latency"


def summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]  # nearest rank
    return {
        "count": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(p95 * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def measure(shop: EmbeddedShop, *, viewers: int = 10, pins: int = 20) -> dict[str, Any]:
    token = sign_in("sam", issuer_url=shop.issuer_url)["access_token"]
    show = f"bench-{uuid.uuid4().hex[:8]}"
    events = shop.client("events")
    first: list[float] = []  # per pin: the first viewer's
    every: list[float] = []  # per pin and viewer
    with ExitStack() as stack:
        clients = [
            stack.enter_context(connect(f"{shop.websocket_url}?token={token}", open_timeout=WAIT_SECONDS)) for _ in range(viewers)
        ]
        for client in clients:
            client.send(json.dumps({"action": "watch", "live_show_id": show}))
            assert json.loads(client.recv(timeout=WAIT_SECONDS))["type"] == "watching"
        for sequence in range(1, pins + 1):
            now = datetime.now(UTC)
            data = ProductPinnedV1(
                live_show_id=show,
                pin_id=f"pin-{sequence}",
                sequence=sequence,
                product=PinnedProduct(sku=f"BENCH-{sequence}"),
                pinned_at=now.isoformat(),
            )
            event = new_event(data, producer="shop.vod", correlation_id=show, now=now)
            entry = {
                "EventBusName": shop.naming.bus,
                "Source": "shop.vod",
                "DetailType": "ProductPinned",
                "Detail": json.dumps(event.to_detail()),
            }
            sent = time.monotonic()
            assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
            arrivals = []
            for client in clients:
                message = json.loads(client.recv(timeout=WAIT_SECONDS))
                assert (message["type"], message["sequence"]) == ("pin", sequence), message
                arrivals.append(time.monotonic() - sent)
            first.append(min(arrivals))
            every.extend(arrivals)
            time.sleep(PAUSE_SECONDS)
    return {"viewers": viewers, "pins": pins, "first_viewer": summary(first), "every_viewer": summary(every)}


def describe(result: dict[str, Any]) -> str:
    every, first = result["every_viewer"], result["first_viewer"]
    return (
        f"pin on the bus -> viewer ({result['viewers']} viewers, {result['pins']} pins): "
        f"p50 {every['p50_ms']:.0f} ms, p95 {every['p95_ms']:.0f} ms, max {every['max_ms']:.0f} ms "
        f"(first viewer p50 {first['p50_ms']:.0f} ms)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.push_latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=10)
    parser.add_argument("--pins", type=int, default=20)
    args = parser.parse_args(argv)
    shop = EmbeddedShop(StackOptions(log_dir=LOG_DIR))
    shop.start()
    try:
        result = measure(shop, viewers=args.viewers, pins=args.pins)
    finally:
        shop.stop()
    print(json.dumps(result, indent=2))
    print(describe(result))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
