"""`make run`'s program: it starts the whole shop, prints the URLs and stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PORT_NAMES = (
    "moto",
    "payment-gateway",
    "media-edge",
    "live-channel",
    "websocket-gateway",
    "catalog",
    "vod",
    "orders",
    "fulfillment",
    "notify",
)


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_run_prints_urls_serves_the_seeded_shop_and_stops_on_ctrl_c():
    from shop_devstack.__main__ import DEFAULT_PORTS

    offset = random.randint(200, 2000)
    ports = {name: DEFAULT_PORTS[name] + offset for name in PORT_NAMES}
    assert not any(listening(p) for p in ports.values()), "ports taken before the test"
    process = subprocess.Popen(
        [sys.executable, "-m", "shop_devstack"],
        cwd=REPO_ROOT,
        env={**os.environ, "SHOP_PORT_OFFSET": str(offset)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 90
        for line in process.stdout:
            output.append(line)
            if "Watch it:" in line or time.monotonic() > deadline:
                break
        banner = "".join(output)
        assert "The shop is up" in banner, banner[-3000:]
        for service in ("catalog", "vod", "orders", "fulfillment", "notify"):
            assert f"http://127.0.0.1:{ports[service]}" in banner
        assert f"http://127.0.0.1:{ports['moto']}" in banner
        assert f"media edge            http://127.0.0.1:{ports['media-edge']}" in banner
        assert f"ws://127.0.0.1:{ports['websocket-gateway']}/api" in banner
        # The demo film behind the rental was transcoded before the banner (vod's own ffmpeg).
        assert re.search(r"Demo film: .*/videos/vid_\w+", banner), banner[-3000:]

        # The seeded demo products reach the storefront through the event flow.
        deadline = time.monotonic() + 30
        skus: list[str] = []
        while time.monotonic() < deadline and len(skus) < 3:
            with urllib.request.urlopen(f"http://127.0.0.1:{ports['orders']}/products", timeout=5) as reply:
                skus = [p["sku"] for p in json.load(reply)["products"]]
            time.sleep(0.2)
        assert sorted(skus) == ["POSTER-A2", "RENT-NIGHTFALL-48H", "TSHIRT-BLUE-M"]

        process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        rest, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, rest[-3000:]
    assert "stopped." in rest
    # Services stop before the embedded AWS: no poller may find moto gone on the way out.
    assert "Traceback" not in rest, rest[-3000:]
    assert "EndpointConnectionError" not in rest
    assert [name for name, port in ports.items() if listening(port)] == []
