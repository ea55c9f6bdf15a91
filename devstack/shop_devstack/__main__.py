"""`make run`: the whole shop on an embedded AWS, until Ctrl-C.

python -m shop_devstack [--no-seed] [--duplicate-deliveries]

The seed (shop_devstack.seed) puts two physical products on sale and a real demo film (uploaded,
transcoded, with a rental, a purchase and a product on its timeline) before the banner is printed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from shop_devstack.oidc_issuer import AUDIENCE, DEMO_USERS
from shop_devstack.seed import DEMO_PRODUCTS, RENTAL_SKU, Seeded, SeedError, seed
from shop_devstack.signin import DEFAULT_ISSUER_URL
from shop_devstack.stack import SERVICES, EmbeddedShop, StackOptions

DEFAULT_PORTS = {
    "moto": 5100,
    "payment-gateway": 5101,
    "oidc-issuer": 5102,
    "crm": 5103,
    "logistics-3pl": 5106,
    "media-edge": 5107,
    "live-channel": 5108,
    "websocket-gateway": 5109,
    "web-edge": 5110,
    "catalog": 8101,
    "vod": 8102,
    "orders": 8103,
    "fulfillment": 8104,
    "notify": 8105,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-seed", action="store_true", help="start with an empty catalog and no demo film")
    parser.add_argument("--duplicate-deliveries", action="store_true", help="deliver every SQS message twice (drill)")
    args = parser.parse_args(argv)
    base = int(os.environ.get("SHOP_PORT_OFFSET", "0"))
    ports = {name: port + base for name, port in DEFAULT_PORTS.items()}
    shop = EmbeddedShop(
        StackOptions(
            moto_port=ports["moto"],
            gateway_port=ports["payment-gateway"],
            issuer_port=ports["oidc-issuer"],
            crm_port=ports["crm"],
            logistics_port=ports["logistics-3pl"],
            media_edge_port=ports["media-edge"],
            live_channel_port=ports["live-channel"],
            websocket_port=ports["websocket-gateway"],
            web_port=ports["web-edge"],
            service_ports={s: ports[s] for s in SERVICES},
            duplicate_deliveries=args.duplicate_deliveries,
        )
    )
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("starting the embedded shop (moto, payment gateway, OIDC issuer, 5 services)...", flush=True)
    shop.start()
    try:
        seeded: Seeded | None = None
        if not args.no_seed:
            print("seeding: demo products, and a demo film (made with ffmpeg, uploaded, transcoded)...", flush=True)
            try:
                seeded = seed(shop.service_urls, shop.issuer_url)
            except SeedError as error:
                # The shop itself is up: say what is missing rather than stop it.
                print(f"seed: {error}; the film and its products are missing", flush=True)
        _banner(shop, seeded)
        while not stop.wait(1):
            dead = shop.dead_processes()
            if dead:
                print(f"stopping: {', '.join(dead)} exited", flush=True)
                return 1
    finally:
        print("stopping...", flush=True)
        shop.stop()
        print("stopped.", flush=True)
    return 0


def _banner(shop: EmbeddedShop, seeded: Seeded | None) -> None:
    lines = [
        "",
        "The shop is up. Everything listens on 127.0.0.1; press Ctrl-C to stop.",
        "",
        f"  Open the storefront:  {shop.web_url}/   (sign in as ada / ada-secret-1815)",
        f"  Staff console:        {shop.web_url}/console/   (sign in as sam / sam-secret-staff)",
        "",
        f"  embedded AWS (moto)   {shop.endpoint}   (AWS_ENDPOINT_URL)",
        f"  payment gateway       {shop.gateway_url}   (fake Stripe: tok_visa, tok_chargeDeclined, tok_flaky, tok_timeoutOnce)",
        f"  OIDC issuer           {shop.issuer_url}   (Cognito's stand-in; audience {AUDIENCE})",
        f"  CRM (kintone fake)    {shop.crm_url}   (GET /k/v1/records.json?app=1 with X-Cybozu-API-Token)",
        f"  logistics 3PL (fake)  {shop.logistics_url}   (admin: /admin/faults, /admin/shipments/<id>/advance)",
        f"  media edge            {shop.media_url}   (CloudFront's stand-in: signed cookies from POST /videos/<id>/playback)",
        f"  live channels (IVS)   {shop.live_channel_url}   (go live: POST /admin/channels/<id>/broadcast; stop: DELETE)",
        f"  push (WebSocket API)  {shop.websocket_url}?token=<access token>   (pins, order statuses; API Gateway's stand-in)",
    ]
    lines += [f"  {name:<21} {url}" for name, url in shop.service_urls.items()]
    if shop.options.duplicate_deliveries:
        lines.append("  drill: every SQS message is delivered twice")
    sku = DEMO_PRODUCTS[0]["sku"]
    orders = shop.service_urls["orders"]
    # `make run` uses the signin script's default issuer; with SHOP_PORT_OFFSET the commands name it.
    issuer_flag = "" if shop.issuer_url == DEFAULT_ISSUER_URL else f" --issuer {shop.issuer_url}"
    lines += ["", f"Demo users (password), sign in with: TOKEN=$(.venv/bin/python -m shop_devstack.signin <user>{issuer_flag})"]
    lines += [f"  {user.username:<6} {user.password:<22} {', '.join(user.groups) or 'customer'}" for user in DEMO_USERS.values()]
    if seeded is not None:
        vod = shop.service_urls["vod"]
        lines += [
            "",
            f"Demo film: {shop.web_url}/videos/{seeded.video_id}   (ada rents it in the storefront, then presses Watch)",
            f"  or with the API: an order of {RENTAL_SKU} (as below), then:",
            f'  curl -s -X POST {vod}/videos/{seeded.video_id}/playback -H "Authorization: Bearer $TOKEN"',
        ]
    lines += [
        "",
        "Sign in as ada and place an order:",
        f"  TOKEN=$(.venv/bin/python -m shop_devstack.signin ada{issuer_flag})",
        f'  curl -s -X POST {orders}/orders -H "Authorization: Bearer $TOKEN" \\',
        "    -H 'Content-Type: application/json' -H 'Idempotency-Key: demo-1' \\",
        f'    -d \'{{"customer_email": "ada@example.com", "payment_token": "tok_visa", '
        f'"shipping_address": "1 Main St, Springfield", "lines": [{{"sku": "{sku}", "quantity": 1}}]}}\'',
        "Watch it:",
        f'  curl -s {orders}/orders/<order_id> -H "Authorization: Bearer $TOKEN"',
    ]
    lines.append("")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
