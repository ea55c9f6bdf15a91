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
from typing import Any

from shop_devstack.seed import DEMO_SKUS, FILM_TITLE, PURCHASE_SKU, RENTAL_SKU, seed
from shop_devstack.signin import sign_in

REPO_ROOT = Path(__file__).resolve().parents[2]
PORT_NAMES = (
    "moto",
    "payment-gateway",
    "media-edge",
    "live-channel",
    "websocket-gateway",
    "web-edge",
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


def get(url: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as reply:
        return json.load(reply)


def the_seeded_film_is_real_and_on_sale(ports: dict[str, int], offset: int, banner: str) -> None:
    """The rental and the purchase open a READY video (its ladder made by the stack's transcoder), the
    T-shirt is on its timeline, and seeding again reuses it."""
    from shop_devstack.__main__ import DEFAULT_PORTS

    issuer = f"http://127.0.0.1:{DEFAULT_PORTS['oidc-issuer'] + offset}"
    urls = {name: f"http://127.0.0.1:{ports[name]}" for name in ("catalog", "vod")}
    staff = sign_in("sam", issuer_url=issuer)["access_token"]
    rental = get(f"{urls['catalog']}/products/{RENTAL_SKU}")
    video_id = rental["access"]["video_id"]
    assert (rental["product_type"], rental["access"]["rental_hours"]) == ("video_rental", 48)
    assert get(f"{urls['catalog']}/products/{PURCHASE_SKU}")["access"]["video_id"] == video_id
    video = get(f"{urls['vod']}/videos/{video_id}", staff)
    assert (video["state"], video["title"]) == ("READY", FILM_TITLE)
    assert [r["name"] for r in video["outputs"]["renditions"]] == ["360p", "180p"]
    markers = get(f"{urls['vod']}/videos/{video_id}/markers", staff)["markers"]
    assert [(m["sku"], m["start_s"], m["end_s"]) for m in markers] == [("TSHIRT-BLUE-M", 1.0, 3.0)]
    assert f"/videos/{video_id}/playback" in banner

    again = seed(urls, issuer)
    assert (again.video_id, again.uploaded) == (video_id, False)
    assert len(get(f"{urls['vod']}/videos/{video_id}/markers", staff)["markers"]) == 1


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
        # Starting every process, then seeding: a film is made, uploaded and transcoded before the banner.
        deadline = time.monotonic() + 240
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
        assert re.search(rf"Demo film: http://127.0.0.1:{ports['web-edge']}/videos/vid_\w+", banner), banner[-3000:]
        # The storefront the banner names is served, built, with its config.
        assert f"Open the storefront:  http://127.0.0.1:{ports['web-edge']}/" in banner
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['web-edge']}/videos/any", timeout=5) as page:
            assert b'<div id="app">' in page.read()
        config = get(f"http://127.0.0.1:{ports['web-edge']}/config.json")
        assert config["api"]["orders"] == "/api/orders"

        # The seeded demo products reach the storefront through the event flow.
        deadline = time.monotonic() + 30
        skus: list[str] = []
        while time.monotonic() < deadline and len(skus) < len(DEMO_SKUS):
            with urllib.request.urlopen(f"http://127.0.0.1:{ports['orders']}/products", timeout=5) as reply:
                skus = [p["sku"] for p in json.load(reply)["products"]]
            time.sleep(0.2)
        assert sorted(skus) == ["BUY-NIGHTFALL", "POSTER-A2", "RENT-NIGHTFALL-48H", "TSHIRT-BLUE-M"]
        the_seeded_film_is_real_and_on_sale(ports, offset, banner)

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


def test_no_seed_starts_an_empty_shop_without_a_film():
    from shop_devstack.__main__ import DEFAULT_PORTS

    offset = random.randint(2100, 3900)
    ports = {name: DEFAULT_PORTS[name] + offset for name in PORT_NAMES}
    assert not any(listening(p) for p in ports.values()), "ports taken before the test"
    process = subprocess.Popen(
        [sys.executable, "-m", "shop_devstack", "--no-seed"],
        cwd=REPO_ROOT,
        env={**os.environ, "SHOP_PORT_OFFSET": str(offset)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 180
        for line in process.stdout:
            output.append(line)
            if "Watch it:" in line or time.monotonic() > deadline:
                break
        banner = "".join(output)
        assert "The shop is up" in banner, banner[-3000:]
        assert "seeding" not in banner and "demo film" not in banner
        assert get(f"http://127.0.0.1:{ports['catalog']}/products")["products"] == []
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, rest[-3000:]
