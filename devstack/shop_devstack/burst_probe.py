"""Bursts of orders on one embedded shop: how long each takes to settle, and what it costs in AWS requests.

    python -m shop_devstack.burst_probe --bursts 3 --orders 40

Starts the shop as `make run` does, then places `--orders` orders at once (sent by 10 concurrent
clients), `--bursts` times, and waits after each burst until every order of it is in a final status.
Printed per burst: seconds to all-final, moto's CPU seconds, and the AWS requests per order by
service (DynamoDB without the probe's own status reads; DynamoDB Streams apart), read from the
embedded AWS's request counts.
The figures to compare are ratios within one run (last burst / first burst, idle requests a second):
the machine's speed and its other load cancel out of those, not out of absolute seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import urllib3

from shop_devstack.moto_server import REQUEST_COUNTS_PATH
from shop_devstack.signin import sign_in
from shop_devstack.stack import EmbeddedShop, StackOptions, running_shop

FINAL = {"SHIPMENT_REQUESTED", "REJECTED", "PAYMENT_FAILED"}
IDLE_SECONDS = 5.0
CLIENTS = 10  # a burst's orders are sent by this many concurrent clients


class Probe:
    def __init__(self, shop: EmbeddedShop) -> None:
        self.shop = shop
        self.http = urllib3.PoolManager(maxsize=64, timeout=urllib3.Timeout(connect=5, read=120), retries=False)
        self.tokens = {user: sign_in(user, issuer_url=shop.issuer_url)["access_token"] for user in ("ada", "sam")}
        self.status_reads = 0

    def call(self, service: str, method: str, path: str, body: Any = None, user: str = "ada", **headers: str) -> Any:
        response = self.http.request(
            method,
            f"{self.shop.service_urls[service]}{path}",
            body=None if body is None else json.dumps(body),
            headers={"Authorization": f"Bearer {self.tokens[user]}", "Content-Type": "application/json", **headers},
        )
        assert response.status < 300, (response.status, response.data[:500])
        return json.loads(response.data)

    def counts(self) -> Counter[str]:
        with urllib.request.urlopen(f"{self.shop.endpoint}{REQUEST_COUNTS_PATH}", timeout=10) as response:
            return Counter(json.load(response))

    def moto_cpu_seconds(self) -> float:
        moto = next(process for name, process in self.shop._processes if name == "moto")
        fields = Path(f"/proc/{moto.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def new_product(self, stock: int) -> str:
        sku = f"PROBE-{uuid.uuid4().hex[:8].upper()}"
        product = {"name": "Probe", "kind": "physical", "price": {"amount": 500, "currency": "USD"}, "stock": stock}
        self.call("catalog", "PUT", f"/products/{sku}", product, user="sam")
        while not any(p["sku"] == sku for p in self.call("orders", "GET", "/products")["products"]):
            time.sleep(0.2)
        return sku

    def place(self, sku: str) -> str:
        order = {
            "customer_email": f"probe-{uuid.uuid4().hex[:8]}@example.com",
            "payment_token": "tok_visa",
            "shipping_address": "1 Main St, Springfield",
            "lines": [{"sku": sku, "quantity": 1}],
        }
        key = uuid.uuid4().hex
        for _ in range(5):  # the local HTTP server's listen backlog is short: a reset is retried, as a client would
            try:
                return str(self.call("orders", "POST", "/orders", order, **{"Idempotency-Key": key})["order_id"])
            except urllib3.exceptions.ProtocolError:
                time.sleep(0.5)
        raise RuntimeError("POST /orders kept failing")

    def status(self, order_id: str) -> str:
        self.status_reads += 1
        return str(self.call("orders", "GET", f"/orders/{order_id}")["status"])


STREAM_OPERATIONS = {"DescribeStream", "GetShardIterator", "GetRecords", "ListStreams"}


def by_service(counts: Counter[str]) -> Counter[str]:
    """Totals by service; DynamoDB Streams (signed as dynamodb) apart, as "streams": the pollers ask
    for those whether or not anyone orders, so they are not an order's cost."""
    totals: Counter[str] = Counter()
    for key, value in counts.items():
        service, _, operation = key.partition(" ")
        totals["streams" if service == "dynamodb" and operation in STREAM_OPERATIONS else service] += value
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bursts", type=int, default=3)
    parser.add_argument("--orders", type=int, default=40)
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="burst-probe-"))
    with running_shop(StackOptions(log_dir=log_dir)) as shop:
        probe = Probe(shop)
        sku = probe.new_product(stock=args.bursts * args.orders + 10)
        reference = probe.place(sku)
        while probe.status(reference) not in FINAL:
            time.sleep(0.5)

        # What one status read costs, and what the shop asks of AWS while nobody orders anything.
        before = probe.counts()
        for _ in range(5):
            probe.status(reference)
        read_cost = round(by_service(probe.counts() - before)["dynamodb"] / 5)
        before, started = probe.counts(), time.monotonic()
        time.sleep(IDLE_SECONDS)
        idle = by_service(probe.counts() - before)
        idle_rate = {service: round(n / (time.monotonic() - started), 1) for service, n in sorted(idle.items())}
        print(f"idle requests/s: {idle_rate}  (a status read costs {read_cost} DynamoDB requests)", flush=True)

        seconds = []
        for burst in range(1, args.bursts + 1):
            before, cpu, reads, started = probe.counts(), probe.moto_cpu_seconds(), probe.status_reads, time.monotonic()
            with ThreadPoolExecutor(max_workers=min(args.orders, CLIENTS)) as pool:
                pending = set(pool.map(lambda _: probe.place(sku), range(args.orders)))
            while pending:
                time.sleep(0.5)
                pending = {order for order in pending if probe.status(order) not in FINAL}
            seconds.append(time.monotonic() - started)
            operations = probe.counts() - before
            spent = by_service(operations)
            spent["dynamodb"] -= (probe.status_reads - reads) * read_cost
            per_order = {service: round(n / args.orders, 1) for service, n in sorted(spent.items())}
            cpu_per_order = (probe.moto_cpu_seconds() - cpu) / args.orders
            print(
                f"burst {burst}: {args.orders} orders all final in {seconds[-1]:.1f} s, moto CPU {cpu_per_order:.2f} s/order, "
                f"requests/order {per_order}",
                flush=True,
            )
            top = ", ".join(f"{op} {n / args.orders:.1f}" for op, n in operations.most_common(8))
            print(f"  per order, by operation (status reads and idle polling included): {top}", flush=True)
        print(f"last/first burst time: {seconds[-1] / seconds[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
