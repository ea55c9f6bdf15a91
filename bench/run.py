"""`make bench` (python -m bench): the shop's throughput, latency, AWS requests and cost per order, its
cold starts and package sizes, all measured in one run on one embedded shop of its own.

Phases, in order (docs/performance.md explains each figure):
  floor        the embedded AWS alone: the minimal AWS calls of one physical order, sequential (floor.py)
  calibration  what one status poll (GET /orders/{id}) costs in AWS requests, to take the bench's own
               polls out of the requests per order
  closed loop  C clients (1, 8, 32), each placing an order and waiting until it is final, again and
               again, for a fixed time after a warm-up
  bursts       40 orders at once, waited on until all are final, repeated on the same stack
  cold start   `import app` in fresh processes, per service; package sizes from build/

Every rate is also a fraction of the floor measured in the same run: the machine has two cores and
is shared, so only ratios within one run compare. Orders are a fixed mix drawn from a seeded random
generator, so two runs place the same orders in the same order.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import urllib3

from bench import model, push_latency
from bench.floor import Floor
from shop_devstack.oidc_issuer import AUDIENCE
from shop_devstack.request_counter import ENV as COUNT_ENV
from shop_devstack.signin import sign_in
from shop_devstack.stack import LOCAL_CREDENTIALS, MAIL_SENDER, SERVICES, EmbeddedShop, StackOptions

REPO_ROOT = Path(__file__).resolve().parents[1]
LOG_DIR = REPO_ROOT / "logs" / "bench"
COUNTS_DIR = LOG_DIR / "aws-requests"
RESULTS_FILE = REPO_ROOT / "bench" / "results.json"

PHYSICAL, DIGITAL = "BENCH-TSHIRT", "BENCH-RENTAL"
# The fixed mix: half physical, a quarter digital, a quarter both (weights for random.choices).
MIX = {"physical": 2, "digital": 1, "mixed": 1}
LINES = {"physical": [(PHYSICAL, 1)], "digital": [(DIGITAL, 1)], "mixed": [(PHYSICAL, 1), (DIGITAL, 1)]}
FAILED = {"REJECTED", "PAYMENT_FAILED"}
# Waiting on an order: poll soon (most hops take tens of ms), then back off so that 32 waiting clients
# do not turn into hundreds of GETs a second that the shop must serve besides the orders.
FIRST_POLL, POLL_BACKOFF, MAX_POLL = 0.05, 1.5, 0.5
ORDER_TIMEOUT = 120.0
# After a closed-loop phase the clients wait this long at most for their last orders: those are not
# counted, and a longer drain would spend the run's time budget on a queue that the next phase's
# quiet wait and warm-up absorb anyway.
DRAIN_SECONDS = 10.0
# Before each phase, wait (at most this long) until every subscription queue is empty, so a phase
# does not inherit the previous one's backlog.
QUIET_SECONDS = 30.0
CONNECT_RETRIES = 6


def final_status(kind: str) -> str:
    """A digital-only order is done when paid; anything physical when its shipment is requested."""
    return "PAID" if kind == "digital" else "SHIPMENT_REQUESTED"


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@dataclass
class OrderRecord:
    kind: str
    placed_at: float  # wall clock just before POST /orders (same machine as the services' clocks)
    order_id: str = ""
    status: str = ""
    paid_at: float | None = None  # PaymentCaptured's occurred_at on the order's timeline
    final_at: float | None = None  # the final event's occurred_at (PaymentCaptured or ShipmentRequested)
    seen_final_at: float | None = None  # when the client saw it final
    error: str = ""

    @property
    def done(self) -> bool:
        return self.seen_final_at is not None

    def to_paid(self) -> float | None:
        return None if self.paid_at is None else self.paid_at - self.placed_at

    def to_final(self) -> float | None:
        return None if self.final_at is None else self.final_at - self.placed_at


@dataclass
class Customer:
    """Places and watches orders through the orders API, signed in as ada."""

    base_url: str
    token: str
    status_polls: int = 0
    connection_retries: int = 0
    post_seconds: list[float] = field(default_factory=list)
    get_seconds: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.http = urllib3.PoolManager(maxsize=64, timeout=urllib3.Timeout(connect=5, read=60), retries=False)

    def _request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        start = time.perf_counter()
        for attempt in range(CONNECT_RETRIES + 1):
            try:
                response = self.http.request(
                    method,
                    f"{self.base_url}{path}",
                    body=None if body is None else json.dumps(body),
                    headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json", **(headers or {})},
                )
                break
            except urllib3.exceptions.HTTPError:
                # The local API server (http.server) listens with a backlog of 5: a burst of 40 new
                # connections gets some reset. A client retries, as an app would; POST /orders is safe
                # to repeat with its Idempotency-Key. Counted, and reported per phase.
                with self._lock:
                    self.connection_retries += 1
                if attempt == CONNECT_RETRIES:
                    raise
                time.sleep(0.05 * 2**attempt)
        (self.post_seconds if method == "POST" else self.get_seconds).append(time.perf_counter() - start)
        return response.status, json.loads(response.data) if response.data else None

    def place(self, record: OrderRecord, key: str) -> None:
        body = {
            "customer_email": "bench@example.com",
            "payment_token": "tok_visa",
            "shipping_address": "1 Main St, Springfield",
            "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in LINES[record.kind]],
        }
        try:
            status, reply = self._request("POST", "/orders", body, {"Idempotency-Key": key})
        except urllib3.exceptions.HTTPError as error:
            record.error = f"POST /orders: {error!r}"
            return
        if status != 201:
            record.error = f"POST /orders {status}: {reply}"
            return
        record.order_id = reply["order_id"]

    def check(self, record: OrderRecord) -> bool:
        """One status poll; True when the order is final (or failed)."""
        with self._lock:
            self.status_polls += 1
        try:
            status, reply = self._request("GET", f"/orders/{record.order_id}")
        except urllib3.exceptions.HTTPError as error:
            record.error = f"GET /orders/{record.order_id}: {error!r}"
            return False
        if status != 200:
            record.error = f"GET /orders/{record.order_id} {status}"
            return False
        record.status = reply["status"]
        for entry in reply["timeline"]:
            if entry["event_type"] == "PaymentCaptured":
                record.paid_at = _epoch(entry["occurred_at"])
            if (
                entry["event_type"]
                == {"PAID": "PaymentCaptured", "SHIPMENT_REQUESTED": "ShipmentRequested"}[final_status(record.kind)]
            ):
                record.final_at = _epoch(entry["occurred_at"])
        if record.status == final_status(record.kind) or record.status in FAILED:
            record.seen_final_at = time.time()
            return True
        return False

    def wait(self, record: OrderRecord, timeout: float = ORDER_TIMEOUT) -> None:
        delay = FIRST_POLL
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(delay)
            if self.check(record):
                return
            delay = min(delay * POLL_BACKOFF, MAX_POLL)
        record.error = record.error or f"not final after {timeout:.0f} s (status {record.status})"


def rss_mib(pid: int) -> float:
    """A process's resident memory (Linux /proc), 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


class QueueSampler:
    """ApproximateNumberOfMessages of every subscription queue and the embedded AWS's resident memory,
    every `interval` seconds, per phase. The first run of this bench watched moto grow to 23 GB and be
    killed by the kernel on a 24 GB machine shared with others: past `max_moto_mib` the sampler raises
    `exceeded`, and the bench stops placing orders and skips the phases left."""

    def __init__(self, shop: EmbeddedShop, max_moto_mib: float, interval: float = 1.0) -> None:
        assert shop.provisioned is not None
        self.moto_pid = next(p.pid for name, p in shop._processes if name == "moto")
        self.max_moto_mib = max_moto_mib
        self.exceeded = threading.Event()
        self.rss: list[float] = []
        self.sqs = shop.client("sqs")
        self.queues = {f"{service}.{subscription}": url for (service, subscription), url in shop.provisioned.queue_urls.items()}
        self.interval = interval
        self.samples: dict[str, list[int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> QueueSampler:
        self.samples = {name: [] for name in self.queues}
        self.rss = [rss_mib(self.moto_pid)]
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="queue-sampler", daemon=True)
        self._thread.start()
        return self

    def wait_quiet(self, timeout: float = QUIET_SECONDS) -> float:
        """Wait until no subscription queue holds a message; returns how long that took."""
        start = time.monotonic()
        while time.monotonic() - start < timeout and not self.exceeded.is_set():
            depths = [
                int(self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][name])
                for url in self.queues.values()
                for name in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
            ]
            if not any(depths):
                break
            time.sleep(0.5)
        return round(time.monotonic() - start, 1)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.rss.append(rss_mib(self.moto_pid))
            if self.rss[-1] > self.max_moto_mib or self.rss[-1] == 0:
                self.exceeded.set()
                return
            for name, url in self.queues.items():
                attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
                self.samples[name].append(int(attributes["Attributes"]["ApproximateNumberOfMessages"]))

    def moto_rss(self) -> dict[str, float]:
        return {
            "start_mib": self.rss[0] if self.rss else 0.0,
            "max_mib": max(self.rss, default=0.0),
            "end_mib": rss_mib(self.moto_pid),
        }

    def summary(self) -> dict[str, dict[str, float]]:
        return {
            name: {"max": max(values, default=0), "mean": round(statistics.fmean(values), 2) if values else 0.0}
            for name, values in self.samples.items()
        }


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far, user + system (Linux /proc), 0 when it is gone. Unlike a handler's
    wall time it barely moves with the neighbours' load: the CPU the code itself consumed."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def service_cpu_seconds(shop: EmbeddedShop) -> dict[str, float]:
    return {name: cpu_seconds(process.pid) for name, process in shop._processes if name in SERVICES}


# -- request counts ---------------------------------------------------------------------------------
def read_counts() -> dict[str, Any]:
    # Each process rewrites its file every second: wait for one more write so the snapshot is current.
    time.sleep(1.3)
    snapshots = []
    for path in COUNTS_DIR.glob("*.json"):
        try:
            snapshots.append((path.stem.rsplit("-", 1)[0], json.loads(path.read_text())))
        except (OSError, ValueError):
            continue  # being replaced right now: the next read has it
    return model.merge_snapshots(snapshots)


# -- phases ---------------------------------------------------------------------------------------------
def phase_result(
    name: str, records: list[OrderRecord], seconds: float, floor_rate: float, queues: dict[str, Any], counted: list[OrderRecord]
) -> dict[str, Any]:
    done = [r for r in counted if r.done and r.status not in FAILED]
    rate = len(done) / seconds if seconds else 0.0
    return {
        "name": name,
        "orders_placed": len(records),
        "orders_completed": len(done),
        "orders_failed": sum(1 for r in records if r.status in FAILED or (r.error and not r.error.startswith("not final"))),
        # Still on their way when the phase gave up waiting (closed loop: DRAIN_SECONDS after its end).
        "orders_unfinished": sum(1 for r in records if r.error.startswith("not final")),
        "errors": sorted({r.error for r in records if r.error})[:5],
        "seconds": round(seconds, 2),
        "orders_per_second": round(rate, 3),
        "fraction_of_floor": round(rate / floor_rate, 4) if floor_rate else 0.0,
        "place_to_paid": model.summarize([v for r in done if (v := r.to_paid()) is not None]),
        "place_to_final": model.summarize([v for r in done if (v := r.to_final()) is not None]),
        "mix": {kind: sum(1 for r in records if r.kind == kind) for kind in MIX},
        "queue_depths": queues,
    }


def closed_loop(
    customer: Customer, concurrency: int, warm_up: float, seconds: float, seed: int, floor_rate: float, sampler: QueueSampler
) -> tuple[dict[str, Any], list[OrderRecord]]:
    records: list[OrderRecord] = []
    lock = threading.Lock()
    start = time.time()
    measure_from, measure_to = start + warm_up, start + warm_up + seconds

    def client(index: int) -> None:
        rng = random.Random(seed * 1000 + concurrency * 100 + index)  # noqa: S311 (a fixed order mix, not a secret)
        kinds, weights = list(MIX), list(MIX.values())
        while time.time() < measure_to and not sampler.exceeded.is_set():
            record = OrderRecord(kind=rng.choices(kinds, weights)[0], placed_at=time.time())
            with lock:
                records.append(record)
            customer.place(record, uuid.UUID(int=rng.getrandbits(128)).hex)
            if record.order_id:
                customer.wait(record, timeout=max(1.0, measure_to + DRAIN_SECONDS - time.time()))
            if record.error:
                time.sleep(0.5)  # do not spin on a failing API

    with sampler:
        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        queues = sampler.summary()
    # Completed in the window: seen final within it, placed after the warm-up began filling the pipe.
    counted = [r for r in records if r.seen_final_at is not None and measure_from <= r.seen_final_at <= measure_to]
    return phase_result(f"closed c={concurrency}", records, seconds, floor_rate, queues, counted), records


def burst(
    customer: Customer, index: int, size: int, seed: int, floor_rate: float, sampler: QueueSampler
) -> tuple[dict[str, Any], list[OrderRecord]]:
    rng = random.Random(seed * 7919 + index)  # noqa: S311
    records = [OrderRecord(kind=rng.choices(list(MIX), list(MIX.values()))[0], placed_at=0.0) for _ in range(size)]
    keys = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(size)]
    gate = threading.Barrier(size)

    def place(i: int) -> None:
        gate.wait()
        records[i].placed_at = time.time()
        customer.place(records[i], keys[i])

    with sampler:
        start = time.time()
        threads = [threading.Thread(target=place, args=(i,), daemon=True) for i in range(size)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # One watcher walks the unfinished orders in turn: the burst itself, not 40 pollers, loads the shop.
        pending = [r for r in records if r.order_id]
        deadline = time.monotonic() + ORDER_TIMEOUT
        while pending and time.monotonic() < deadline and not sampler.exceeded.is_set():
            time.sleep(0.1)
            pending = [r for r in pending if not customer.check(r)]
        queues = sampler.summary()
    finals = [r.final_at for r in records if r.final_at is not None]
    all_final = (max(finals) - start) if finals and not pending else None
    seconds = all_final or (time.time() - start)
    result = phase_result(f"burst {index}", records, seconds, floor_rate, queues, records)
    result["time_to_all_final"] = None if all_final is None else round(all_final, 2)
    return result, records


# -- set-up ------------------------------------------------------------------------------------------
def seed_products(shop: EmbeddedShop) -> None:
    staff = sign_in("sam", issuer_url=shop.issuer_url)["access_token"]
    http = urllib3.PoolManager()
    products = {
        PHYSICAL: {"name": "Bench T-shirt", "kind": "physical", "price": {"amount": 2500, "currency": "USD"}, "stock": 1_000_000},
        DIGITAL: {"name": "Bench rental", "kind": "digital", "price": {"amount": 399, "currency": "USD"}},
    }
    for sku, body in products.items():
        response = http.request(
            "PUT",
            f"{shop.service_urls['catalog']}/products/{sku}",
            body=json.dumps(body),
            headers={"Authorization": f"Bearer {staff}", "Content-Type": "application/json"},
        )
        if response.status not in {200, 201}:
            raise RuntimeError(f"seeding {sku}: {response.status} {response.data!r}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the storefront learns of products through ProductPublished
        listed = json.loads(http.request("GET", f"{shop.service_urls['orders']}/products").data)["products"]
        if {PHYSICAL, DIGITAL} <= {p["sku"] for p in listed}:
            return
        time.sleep(0.2)
    raise RuntimeError("the seeded products never reached the orders service")


def calibrate_status_poll(customer: Customer) -> dict[str, float]:
    """AWS requests one GET /orders/{id} makes, per operation (pollers' own requests left out)."""
    record = OrderRecord(kind="physical", placed_at=time.time())
    customer.place(record, uuid.uuid4().hex)
    customer.wait(record)
    before = read_counts()
    polls = 20
    for _ in range(polls):
        customer.check(record)
    delta = model.diff_counts(read_counts(), before)
    per_poll = {k: v / polls for k, v in delta["requests"].items() if k.split("/", 1)[-1] not in model.POLLER_OPERATIONS}
    per_poll["units/dynamodb_read_units"] = delta["units"].get("dynamodb_read_units", 0) / polls
    return per_poll


def service_env(shop: EmbeddedShop, service: str) -> dict[str, str]:
    """The environment the stack gives a service's process (stack.py), for the cold-start imports."""
    assert shop.provisioned is not None
    return {
        **os.environ,
        **LOCAL_CREDENTIALS,
        "AWS_ENDPOINT_URL": shop.endpoint,
        "SHOP_STAGE": shop.options.stage,
        "SHOP_TABLE_STREAM_ARN": shop.provisioned.table_stream_arns[service],
        "PAYMENT_GATEWAY_URL": shop.gateway_url,
        "SHOP_AUTH_ISSUER": shop.issuer_url,
        "SHOP_AUTH_AUDIENCE": AUDIENCE,
        "SHOP_MAIL_SENDER": MAIL_SENDER,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "shop",
    }


IMPORT_PROBE = "import time; t = time.perf_counter(); import app; print(time.perf_counter() - t)"


def cold_starts(shop: EmbeddedShop, repeats: int) -> dict[str, Any]:
    results = {}
    for service in SERVICES:
        env = {k: v for k, v in service_env(shop, service).items() if k != COUNT_ENV}
        cwd = REPO_ROOT / "services" / service
        imports, processes = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", IMPORT_PROBE], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=True
            )
            processes.append(time.perf_counter() - start)
            imports.append(float(out.stdout.strip().splitlines()[-1]))
        # Where one import's time goes: the slowest top-level imports (python -X importtime).
        trace = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import app"],
            check=False,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        results[service] = {
            "median_ms": round(statistics.median(imports) * 1000, 1),
            "runs_ms": [round(v * 1000, 1) for v in imports],
            "process_median_ms": round(statistics.median(processes) * 1000, 1),
            "slowest_imports_ms": top_imports(trace.stderr),
        }
    return results


def top_imports(importtime: str, count: int = 6) -> dict[str, float]:
    """The modules `app` imports directly or at the top level (nesting 0 or 1 in a `-X importtime`
    trace, `app` itself left out) with the largest cumulative time, in ms."""
    top = []
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (part for part in line.split(":", 1)[1].split("|"))
        depth = (len(name) - len(name.lstrip()) - 1) // 2  # two spaces per level after the bar's one
        if depth <= 1 and name.strip() != "app":
            top.append((name.strip(), int(cumulative) / 1000))
    return dict(sorted(top, key=lambda item: -item[1])[:count])


BOTO = ("boto3/", "botocore/", "s3transfer/")


def package_sizes(build: bool) -> dict[str, Any]:
    if build and not all((REPO_ROOT / "build" / s / "deployment.zip").exists() for s in SERVICES):
        subprocess.run([sys.executable, "deploy/package.py", "--out", "build/"], cwd=REPO_ROOT, check=True)
    sizes = {}
    for service in SERVICES:
        path = REPO_ROOT / "build" / service / "deployment.zip"
        if not path.exists():
            continue
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            kept = [e for e in entries if not e.filename.startswith(BOTO)]
            native = sorted({e.filename.split("/")[0] for e in kept if e.filename.endswith(".so")})
        sizes[service] = {
            "zip_kib": round(path.stat().st_size / 1024),
            "unzipped_without_boto3_kib": round(sum(e.file_size for e in kept) / 1024),
            "boto3_in_package": len(kept) != len(entries),
            "native_packages": native,
        }
    return sizes


# -- cost ----------------------------------------------------------------------------------------------
def function_sizing(stage: str, counted: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Memory and architecture of every function, read from the services' .chalice/config.json (what
    deploy/package.py deploys), keyed as the request counter names them."""
    sizing: dict[str, dict[str, Any]] = {}
    for service in SERVICES:
        config = json.loads((REPO_ROOT / "services" / service / ".chalice" / "config.json").read_text())
        prefix = f"{config['app_name']}-{stage}-"
        names = {
            "api_handler",
            *config.get("lambda_functions", {}),
            *(n.removeprefix(prefix) for n in counted if n.startswith(prefix)),
        }
        sizing |= model.sizing_from_config(config, stage, sorted(names))
    return sizing


def usage_profile(
    counts: dict[str, Any],
    orders: int,
    status_polls: int,
    per_poll: dict[str, float],
    prices: dict[str, Any],
    api: tuple[str, float],
    sizing: dict[str, dict[str, Any]] | None,
) -> dict[str, float]:
    """One order's AWS usage as AWS would bill it, from the counted requests of the closed-loop phases;
    Lambda's GB-seconds at each function's memory and architecture in `sizing` (None: every function
    at Chalice's default 128 MB on x86_64, as before the sizing)."""
    assumptions = prices["assumptions"]
    requests = counts["requests"]
    units = counts["units"]
    read_units_per_poll = per_poll.get("units/dynamodb_read_units", 0.0)
    api_requests = assumptions["api_requests_per_order"]
    functions = counts["functions"]
    invocations = sum(f["invocations"] for f in functions.values()) / orders
    # Handler time measured here on a full core, bound by the embedded AWS (an upper bound of what the
    # code takes on AWS). The API function's time is the client's median POST and GET (local HTTP included).
    api_function, api_seconds = api
    seconds = {name: f["seconds"] / orders for name, f in functions.items()}
    seconds[api_function] = seconds.get(api_function, 0.0) + api_seconds
    gb_seconds = model.lambda_gb_seconds(seconds, sizing)
    messages = units.get("sqs_messages_received", 0) / orders
    own_sqs = sum(c for k, c in requests.items() if k.split("/", 1)[-1].startswith("sqs.") and "ReceiveMessage" not in k) / orders
    return {
        # The customer's one GET per order stays in; the bench's many polls go.
        "dynamodb_write_units": units.get("dynamodb_write_units", 0) / orders,
        "dynamodb_read_units": (units.get("dynamodb_read_units", 0) - status_polls * read_units_per_poll) / orders
        + (api_requests - 1) * read_units_per_poll,
        "eventbridge_events": units.get("eventbridge_events", 0) / orders,
        # Deliveries from EventBridge (a send each), Lambda's receives (a message each at low traffic),
        # and the functions' own SQS calls (the pollers' deletes included).
        "sqs_requests": messages + messages / assumptions["sqs_messages_per_receive"] + own_sqs,
        "lambda_invocations": invocations + api_requests,
        "lambda_gb_seconds": sum(gb_seconds.values()),
        **{f"lambda_gb_seconds_{architecture}": value for architecture, value in gb_seconds.items()},
        "api_requests": api_requests,
        "emails": sum(c for k, c in requests.items() if k.endswith("ses.SendEmail") or k.endswith("ses.SendRawEmail")) / orders,
    }


# -- main ------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 (the phases, in order, read as one script)
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15, help="measured time per closed-loop phase (default 15)")
    parser.add_argument("--warm-up", type=float, default=5, help="warm-up before each closed-loop phase (default 5)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--bursts", type=int, default=3, help="how many bursts in a row (default 3; try 10)")
    parser.add_argument("--burst-size", type=int, default=40)
    parser.add_argument("--floor-seconds", type=float, default=8)
    parser.add_argument("--import-runs", type=int, default=5, help="fresh processes per service for the import time")
    parser.add_argument("--no-package", action="store_true", help="do not build build/*/deployment.zip when missing")
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument(
        "--max-moto-gib", type=float, default=8, help="stop loading the shop when moto's memory passes this (default 8)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_FILE)
    args = parser.parse_args(argv)

    random.seed(args.seed)
    shutil.rmtree(LOG_DIR, ignore_errors=True)
    COUNTS_DIR.mkdir(parents=True)
    # The services inherit this (stack.py passes the environment on) and count their AWS requests.
    os.environ[COUNT_ENV] = str(COUNTS_DIR)
    prices = model.load_prices()
    results: dict[str, Any] = {
        "schema_version": 1,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": args.seed,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "commit": subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], check=False, cwd=REPO_ROOT, capture_output=True, text=True
            ).stdout.strip(),
        },
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    shop = EmbeddedShop(StackOptions(log_dir=LOG_DIR))
    print("bench: starting the embedded shop (logs in logs/bench/)", flush=True)
    shop.start()
    try:
        seed_products(shop)
        customer = Customer(shop.service_urls["orders"], sign_in("ada", issuer_url=shop.issuer_url)["access_token"])
        sampler = QueueSampler(shop, max_moto_mib=args.max_moto_gib * 1024)

        print(f"bench: floor ({args.floor_seconds:.0f} s)", flush=True)
        floor = Floor(shop.session(), shop.endpoint, MAIL_SENDER)
        floor.provision()
        results["floor"] = floor.measure(args.floor_seconds)
        floor_rate = results["floor"]["orders_per_second"]

        per_poll = calibrate_status_poll(customer)
        results["status_poll_requests"] = per_poll

        results["closed_loop"] = []
        all_counts: dict[str, Any] = {"requests": {}, "units": {}, "functions": {}, "empty_receives": {}}
        orders_counted = polls_counted = 0
        # Requests per order and cost come from the phases whose every order completed: a phase that
        # left orders on their way (or lost some) holds their requests without their completions.
        counted_phases: list[str] = []
        all_cpu: dict[str, float] = {}

        def measured_phase(run_phase: Callable[[], tuple[dict[str, Any], list[OrderRecord]]]) -> dict[str, Any]:
            """Run one phase once the queues are quiet and attach what it cost; its counts, orders and
            status polls go into the totals only when every order of the phase completed."""
            nonlocal all_counts, orders_counted, polls_counted
            quiet = sampler.wait_quiet()
            before, polls_before, retries_before = read_counts(), customer.status_polls, customer.connection_retries
            cpu_before = service_cpu_seconds(shop)
            phase, records = run_phase()
            cpu = {name: round(seconds - cpu_before.get(name, 0.0), 3) for name, seconds in service_cpu_seconds(shop).items()}
            delta = model.diff_counts(read_counts(), before)
            finished = sum(1 for r in records if r.done and r.status not in FAILED)
            polls = customer.status_polls - polls_before
            phase["requests_per_order"] = model.per_order(delta, finished, status_polls=polls, per_poll=per_poll)
            phase["connection_retries"] = customer.connection_retries - retries_before
            phase["waited_for_empty_queues_s"] = quiet
            phase["moto_rss"] = sampler.moto_rss()
            phase["counts"] = delta
            phase["service_cpu_seconds"] = cpu
            if _clean(records):
                for name, seconds in cpu.items():
                    all_cpu[name] = all_cpu.get(name, 0.0) + seconds
                all_counts = _add(all_counts, delta)
                orders_counted += finished
                polls_counted += polls
                counted_phases.append(phase["name"])
            return phase

        for concurrency in args.concurrency:
            if sampler.exceeded.is_set():
                break
            print(f"bench: closed loop, {concurrency} clients ({args.warm_up:.0f} s warm-up + {args.seconds:.0f} s)", flush=True)
            clients = functools.partial(
                closed_loop, customer, concurrency, args.warm_up, args.seconds, args.seed, floor_rate, sampler
            )
            results["closed_loop"].append(measured_phase(clients))

        results["bursts"] = []
        for index in range(1, args.bursts + 1):
            if sampler.exceeded.is_set():
                break
            print(f"bench: burst {index} of {args.bursts} ({args.burst_size} orders at once)", flush=True)
            results["bursts"].append(
                measured_phase(functools.partial(burst, customer, index, args.burst_size, args.seed, floor_rate, sampler))
            )

        if sampler.exceeded.is_set():
            results["aborted"] = (
                f"moto's resident memory passed {args.max_moto_gib} GiB (or moto died): the phases left were skipped"
            )
            print(f"bench: {results['aborted']}", flush=True)
        results["requests"] = {
            "per_order": model.per_order(all_counts, orders_counted, status_polls=polls_counted, per_poll=per_poll),
            "empty_receives_per_order": {
                k: round(v / max(orders_counted, 1), 2) for k, v in all_counts["empty_receives"].items()
            },
            "handlers": {
                name: {
                    "invocations_per_order": round(s["invocations"] / max(orders_counted, 1), 3),
                    "mean_ms": round(s["seconds"] / s["invocations"] * 1000, 2),
                    "ms_per_order": round(s["seconds"] / max(orders_counted, 1) * 1000, 2),
                }
                for name, s in sorted(all_counts["functions"].items(), key=lambda kv: -kv[1]["seconds"])
            },
            # Each service process's CPU (its functions, the API's HTTP server, the local pollers and
            # the request counter: an upper bound of the functions' own) per completed order.
            "service_cpu_ms_per_order": {k: round(v / max(orders_counted, 1) * 1000, 1) for k, v in sorted(all_cpu.items())},
            "orders": orders_counted,
            "status_polls": polls_counted,
            "from_phases": counted_phases,
        }
        stage = shop.options.stage
        api = (
            f"shop-orders-{stage}-api_handler",
            statistics.median(customer.post_seconds) + statistics.median(customer.get_seconds),
        )
        sizing = function_sizing(stage, all_counts["functions"])
        profile = usage_profile(all_counts, max(orders_counted, 1), polls_counted, per_poll, prices, api, sizing)
        before = usage_profile(all_counts, max(orders_counted, 1), polls_counted, per_poll, prices, api, None)
        # If the functions' time on AWS were the CPU measured here: up to one vCPU (1,769 MB) a function's
        # CPU costs the same GB-seconds at any memory (half the memory, twice the time), on arm64.
        cpu_bound = {**profile, "lambda_gb_seconds_x86_64": 0.0}
        cpu_bound["lambda_gb_seconds_arm64"] = sum(all_cpu.values()) / max(orders_counted, 1) * model.FULL_VCPU_MB / 1024
        results["cost"] = {
            "prices": {"file": "bench/prices.json", "written_on": prices["written_on"], "status": prices["status"]},
            "sizing": sizing,
            "per_1000_orders_if_cpu_bound": model.cost_per_1000_orders(cpu_bound, prices),
            "usage_per_order": {k: round(v, 4) for k, v in profile.items()},
            "per_1000_orders": model.cost_per_1000_orders(profile, prices),
            "usage_per_order_before_sizing": {k: round(v, 4) for k, v in before.items()},
            "per_1000_orders_before_sizing": model.cost_per_1000_orders(before, prices),
            "idle_pollers_per_month": model.idle_poller_cost_per_month(len(sampler.queues), prices),
        }

        # The push channel's latency (issue 12: a pin reaches viewers within two seconds), on the quiet shop.
        sampler.wait_quiet()
        print("bench: push channel (pins from the bus to live-show viewers)", flush=True)
        results["push"] = push_latency.measure(shop)

        print(f"bench: cold starts ({args.import_runs} fresh processes per service)", flush=True)
        results["cold_start"] = cold_starts(shop, args.import_runs)
        for service, timing in results["cold_start"].items():
            memory = sizing.get(f"shop-{service}-{stage}-api_handler", {}).get("memory_mb", model.DEFAULT_MEMORY_MB)
            timing["lambda_init_estimate_ms"] = {
                "memory_mb": memory,
                "at_128_mb": model.init_estimate_ms(timing["median_ms"], model.DEFAULT_MEMORY_MB),
                "as_sized": model.init_estimate_ms(timing["median_ms"], memory),
            }
        results["dead_processes"] = shop.dead_processes()
    finally:
        shop.stop()
    results["packages"] = package_sizes(build=not args.no_package)

    problems = model.validate_results(results)
    if problems:
        raise SystemExit(f"bench: results break their schema: {problems}")
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nbench: results in {args.out.relative_to(REPO_ROOT) if args.out.is_relative_to(REPO_ROOT) else args.out}\n")
    print(model.markdown_table(results))
    if "push" in results:
        print(push_latency.describe(results["push"]))
    return 0


def _clean(records: list[OrderRecord]) -> bool:
    return bool(records) and all(r.done and not r.error and r.status not in FAILED for r in records)


def _add(total: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    def plus(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
        return {k: a.get(k, 0) + b.get(k, 0) for k in {*a, *b}}

    functions = dict(total["functions"])
    for name, stats in delta["functions"].items():
        functions[name] = plus(functions.get(name, {}), stats)
    return {
        "requests": plus(total["requests"], delta["requests"]),
        "units": plus(total["units"], delta["units"]),
        "empty_receives": plus(total["empty_receives"], delta["empty_receives"]),
        "functions": functions,
    }


if __name__ == "__main__":
    sys.exit(main())
