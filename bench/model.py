"""The bench's pure parts: percentiles, request accounting, the AWS cost model and the results schema.

No I/O here (bench/tests/test_model.py runs it all without a shop); bench/run.py measures and feeds it.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

PRICES_FILE = Path(__file__).with_name("prices.json")

# What the pollers make (Lambda's event-source mappings on AWS, the dispatcher here): shown apart from
# the requests the functions' own code makes, because their number depends on how often an idle poller
# asks, not on the orders (and on AWS the stream reads are free).
POLLER_OPERATIONS = frozenset(
    {
        "sqs.ReceiveMessage",
        "sqs.DeleteMessageBatch",
        "sqs.DeleteMessage",
        "dynamodb-streams.GetRecords",
        "dynamodb-streams.GetShardIterator",
        "dynamodb-streams.DescribeStream",
        "dynamodb-streams.ListStreams",
    }
)
# Deletes are the poller's too, but on AWS they are billed per request like any other: they stay in
# the cost model; only receives and stream reads are modelled separately (AWS_POLLER_* below).
POLLER_READS = frozenset(op for op in POLLER_OPERATIONS if not op.startswith("sqs.Delete"))


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100), linear between closest ranks (numpy's default); None if empty."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(values: Sequence[float]) -> dict[str, float | int | None]:
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
    }


# -- request counts ---------------------------------------------------------------------------------
def merge_snapshots(snapshots: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Every process's counter file, (process name, content), summed per process name: the key
    "<process>/<service>.<Operation>" for requests, functions by name."""
    requests: Counter[str] = Counter()
    empty: Counter[str] = Counter()
    units: Counter[str] = Counter()
    functions: dict[str, dict[str, float]] = {}
    for process, snapshot in snapshots:
        for operation, count in snapshot.get("requests", {}).items():
            requests[f"{process}/{operation}"] += count
        for operation, count in snapshot.get("empty_receives", {}).items():
            empty[f"{process}/{operation}"] += count
        for name, count in snapshot.get("units", {}).items():
            units[name] += count
        for name, stats in snapshot.get("functions", {}).items():
            total = functions.setdefault(name, {"invocations": 0, "seconds": 0.0})
            total["invocations"] += stats.get("invocations", 0)
            total["seconds"] += stats.get("seconds", 0.0)
    return {"requests": dict(requests), "empty_receives": dict(empty), "units": dict(units), "functions": functions}


def diff_counts(after: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, Any]:
    """What happened between two merged snapshots (counters only grow, except for a process that
    restarted: then its later count is taken whole)."""

    def sub(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
        out = {}
        for key, value in a.items():
            delta = value - b.get(key, 0)
            out[key] = value if delta < 0 else delta
        return {k: v for k, v in out.items() if v}

    functions = {}
    for name, stats in after.get("functions", {}).items():
        prior = before.get("functions", {}).get(name, {})
        delta = sub(stats, prior)
        if delta.get("invocations"):
            functions[name] = {"invocations": delta.get("invocations", 0), "seconds": delta.get("seconds", 0.0)}
    return {
        "requests": sub(after.get("requests", {}), before.get("requests", {})),
        "empty_receives": sub(after.get("empty_receives", {}), before.get("empty_receives", {})),
        "units": sub(after.get("units", {}), before.get("units", {})),
        "functions": functions,
    }


def per_order(
    counts: Mapping[str, Any], orders: int, *, status_polls: int = 0, per_poll: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """Requests per completed order, split into the functions' own and the pollers', with the bench's
    own status polls (GET /orders/{id}, `per_poll` AWS requests each, measured) taken out."""
    if orders <= 0:
        return {"orders": 0, "functions": {}, "pollers": {}, "functions_total": 0.0, "pollers_total": 0.0}
    own: dict[str, float] = {}
    pollers: dict[str, float] = {}
    for key, count in counts.get("requests", {}).items():
        operation = key.split("/", 1)[-1]
        net = count - status_polls * (per_poll or {}).get(key, 0.0)
        target = pollers if operation in POLLER_OPERATIONS else own
        target[key] = round(max(net, 0.0) / orders, 3)
    return {
        "orders": orders,
        "functions": dict(sorted(own.items(), key=lambda kv: -kv[1])),
        "pollers": dict(sorted(pollers.items(), key=lambda kv: -kv[1])),
        "functions_total": round(sum(own.values()), 2),
        "pollers_total": round(sum(pollers.values()), 2),
    }


# -- cost ----------------------------------------------------------------------------------------------
def load_prices(path: Path = PRICES_FILE) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


ARCHITECTURES = ("x86_64", "arm64")
# Chalice's memory and Lambda's architecture for a function whose config names neither: how every
# function ran before the sizing (docs/performance.md), the "before" of the cost and cold start.
DEFAULT_MEMORY_MB = 128
DEFAULT_ARCHITECTURE = "x86_64"
# Lambda gives CPU in proportion to memory, one full vCPU at 1,769 MB (AWS's documentation).
FULL_VCPU_MB = 1769


def function_setting(config: Mapping[str, Any], stage: str, function: str, key: str) -> Any:
    """A setting of one function in a .chalice/config.json, looked up in Chalice's order: the stage's
    entry for the function, the stage, the app's entry for the function, the app (deploy/templates.py
    reads `lambda_architecture` the same way to write the functions' Architectures)."""
    stage_config = config.get("stages", {}).get(stage, {})
    for scope in (
        stage_config.get("lambda_functions", {}).get(function, {}),
        stage_config,
        config.get("lambda_functions", {}).get(function, {}),
        config,
    ):
        if scope.get(key) is not None:
            return scope[key]
    return None


def sizing_from_config(config: Mapping[str, Any], stage: str, functions: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Memory and architecture of each named function of one service, keyed as the request counter
    names functions ("<app_name>-<stage>-<function>")."""
    return {
        f"{config['app_name']}-{stage}-{function}": {
            "memory_mb": int(function_setting(config, stage, function, "lambda_memory_size") or DEFAULT_MEMORY_MB),
            "architecture": str(function_setting(config, stage, function, "lambda_architecture") or DEFAULT_ARCHITECTURE),
        }
        for function in functions
    }


def lambda_gb_seconds(
    seconds_per_order: Mapping[str, float], sizing: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, float]:
    """GB-seconds per order by architecture: each function's measured seconds at its memory; a
    function the sizing does not name (or every one, without a sizing) at 128 MB on x86_64."""
    totals = dict.fromkeys(ARCHITECTURES, 0.0)
    for function, seconds in seconds_per_order.items():
        size = (sizing or {}).get(function, {})
        memory = size.get("memory_mb", DEFAULT_MEMORY_MB)
        totals[size.get("architecture", DEFAULT_ARCHITECTURE)] += seconds * memory / 1024
    return totals


def init_estimate_ms(import_ms: float, memory_mb: int) -> float:
    """A CPU-bound init measured on one full core, at the share of a vCPU `memory_mb` gets (at most one:
    the import is single-threaded). An estimate: Lambda's cores are not this machine's."""
    return round(import_ms * max(1.0, FULL_VCPU_MB / memory_mb), 1)


def cost_per_1000_orders(profile: Mapping[str, float], prices: Mapping[str, Any]) -> dict[str, float]:
    """US dollars per 1,000 orders, per line item, from one order's usage profile:

    dynamodb_write_units / dynamodb_read_units (transactional items at two units each, counted from the
    requests), eventbridge_events (64 KB chunks), sqs_requests (the functions' sends and deletes, the
    pollers' receives as Lambda makes them, and EventBridge's deliveries to the queues),
    lambda_invocations, lambda_gb_seconds_x86_64 and lambda_gb_seconds_arm64 (each priced at its
    architecture's rate), api_requests, emails.
    """
    p = prices["prices"]
    lines = {
        "dynamodb": profile.get("dynamodb_write_units", 0) * p["dynamodb_write_request_unit"]
        + profile.get("dynamodb_read_units", 0) * p["dynamodb_read_request_unit"],
        "eventbridge": profile.get("eventbridge_events", 0) * p["eventbridge_custom_event"],
        "sqs": profile.get("sqs_requests", 0) * p["sqs_standard_request"],
        "lambda": profile.get("lambda_invocations", 0) * p["lambda_request"]
        + sum(profile.get(f"lambda_gb_seconds_{a}", 0) * p[f"lambda_gb_second_{a}"] for a in ARCHITECTURES),
        "api_gateway": profile.get("api_requests", 0) * p["api_gateway_rest_request"],
    }
    total = sum(lines.values())
    result = {name: round(value * 1000, 6) for name, value in lines.items()}
    result["total_without_ses"] = round(total * 1000, 6)
    result["ses"] = round(profile.get("emails", 0) * p["ses_email"] * 1000, 6)
    return result


def idle_poller_cost_per_month(queues: int, prices: Mapping[str, Any]) -> float:
    """What Lambda's SQS pollers cost with no traffic at all: each mapping keeps `pollers` long polls of
    20 s going (AWS documents five pollers to start with), i.e. 3 receives a minute each."""
    assumptions = prices["assumptions"]
    receives = float(queues * assumptions["sqs_pollers_per_mapping"] * (60 / assumptions["sqs_long_poll_seconds"]) * 60 * 24 * 30)
    return round(receives * float(prices["prices"]["sqs_standard_request"]), 2)


# -- results ---------------------------------------------------------------------------------------------
# The keys bench/results.json always has, and their types: a reader (a later run's comparison, a CI
# chart) may rely on them; bench/tests check that what run.py writes keeps them.
RESULTS_SCHEMA: dict[str, type | tuple[type, ...]] = {
    "schema_version": int,
    "started_at": str,
    "seed": int,
    "machine": dict,
    "floor": dict,
    "closed_loop": list,
    "bursts": list,
    "requests": dict,
    "cost": dict,
    "cold_start": dict,
    "packages": dict,
}
PHASE_KEYS = (
    "name",
    "orders_completed",
    "orders_per_second",
    "fraction_of_floor",
    "place_to_paid",
    "place_to_final",
    "queue_depths",
)


def validate_results(results: Mapping[str, Any]) -> list[str]:
    """The problems with a results document; empty when it keeps the schema."""
    problems = []
    for key, kind in RESULTS_SCHEMA.items():
        if key not in results:
            problems.append(f"missing {key}")
        elif not isinstance(results[key], kind):
            problems.append(f"{key} is {type(results[key]).__name__}, not {kind}")
    for phase in [*results.get("closed_loop", []), *results.get("bursts", [])]:
        problems += [f"phase {phase.get('name', '?')}: missing {key}" for key in PHASE_KEYS if key not in phase]
    if "floor" in results and "orders_per_second" not in results["floor"]:
        problems.append("floor: missing orders_per_second")
    return problems


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def markdown_table(results: Mapping[str, Any]) -> str:
    """The one table a person reads first: every phase, its rate, its share of the floor, latencies."""
    floor = results["floor"]["orders_per_second"]
    rows = [
        f"Floor (embedded AWS alone, minimal calls of one physical order, sequential): {floor:.1f} orders/s",
        "",
        "| phase | orders | orders/s | of floor | paid p50 / p95 / p99 ms | final p50 / p95 / p99 ms | all final s | max queue "
        "| moto MiB |",
        "|---|---:|---:|---:|---|---|---:|---:|---:|",
    ]
    for phase in [*results["closed_loop"], *results["bursts"]]:
        paid, final = phase["place_to_paid"], phase["place_to_final"]
        depth = max((q["max"] for q in phase["queue_depths"].values()), default=0)
        all_final = phase.get("time_to_all_final")
        rows.append(
            f"| {phase['name']} | {phase['orders_completed']} | {phase['orders_per_second']:.2f} | "
            f"{phase['fraction_of_floor']:.1%} | {_ms(paid['p50'])} / {_ms(paid['p95'])} / {_ms(paid['p99'])} | "
            f"{_ms(final['p50'])} / {_ms(final['p95'])} / {_ms(final['p99'])} | "
            f"{'-' if all_final is None else f'{all_final:.1f}'} | {depth} | "
            f"{phase.get('moto_rss', {}).get('max_mib', '-')} |"
        )
    if results.get("aborted"):
        rows += ["", f"ABORTED: {results['aborted']}"]
    requests = results["requests"]
    if requests.get("per_order"):
        per = requests["per_order"]
        rows += [
            "",
            f"AWS requests per order: {per['functions_total']} by the functions, {per['pollers_total']} by the pollers (local)"
            f" ({per['orders']} orders of {', '.join(requests.get('from_phases', [])) or 'no phase'})",
        ]
    cost = results["cost"].get("per_1000_orders")
    if cost:
        before = results["cost"].get("per_1000_orders_before_sizing")
        cpu_bound = results["cost"].get("per_1000_orders_if_cpu_bound")
        rows.append(
            f"Estimated AWS cost per 1,000 orders: ${cost['total_without_ses']:.4f} (+ SES ${cost['ses']:.4f}) as sized"
            + (f", ${before['total_without_ses']:.4f} with every function at 128 MB on x86_64" if before else "")
            + (f", ${cpu_bound['total_without_ses']:.4f} if Lambda's time were the CPU measured" if cpu_bound else "")
            + f"; idle pollers ${results['cost'].get('idle_pollers_per_month', 0):.2f}/month"
        )
    cpu = requests.get("service_cpu_ms_per_order")
    if cpu:
        rows.append(
            "CPU per order, ms (service processes: functions, API server, local pollers): "
            + ", ".join(f"{k} {v:.0f}" for k, v in cpu.items())
        )
    cold = results["cold_start"]
    if cold:
        rows += [
            "",
            "| service | import app, median ms | API init on Lambda at 128 MB / as sized, ms (estimate) "
            "| package without boto3, KiB (zip / unzipped) |",
            "|---|---:|---|---|",
        ]
        for service, timing in cold.items():
            package = results["packages"].get(service, {})
            init = timing.get("lambda_init_estimate_ms", {})
            rows.append(
                f"| {service} | {timing['median_ms']:.0f} | "
                + (f"{init['at_128_mb']:.0f} / {init['as_sized']:.0f} ({init['memory_mb']} MB)" if init else "-")
                + f" | {package.get('zip_kib', '-')} / {package.get('unzipped_without_boto3_kib', '-')} |"
            )
    return "\n".join(rows)
