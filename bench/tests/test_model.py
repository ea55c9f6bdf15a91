"""The bench's pure parts, deterministically and without a shop: percentiles, request accounting, the
cost model, the results schema and its table. No figure here is a measurement."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pytest

from bench import model
from bench.run import OrderRecord, cpu_seconds, final_status, function_sizing, phase_result, top_imports
from shop_devstack import request_counter


def test_percentiles_interpolate_between_closest_ranks() -> None:
    values = [0.4, 0.1, 0.3, 0.2, 0.5]
    assert model.percentile(values, 0) == 0.1
    assert model.percentile(values, 50) == 0.3
    assert model.percentile(values, 100) == 0.5
    assert model.percentile(values, 95) == pytest.approx(0.48)
    assert model.percentile([], 50) is None
    assert model.percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError, match="outside"):
        model.percentile(values, 101)


def test_summary_of_nothing_has_no_figures() -> None:
    assert model.summarize([]) == {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}


def snapshot(requests: dict[str, int], seconds: float = 0.0) -> dict[str, Any]:
    return {
        "requests": requests,
        "empty_receives": {"sqs.ReceiveMessage": 3},
        "units": {"dynamodb_write_units": 8},
        "functions": {"shop-orders-local-charge": {"invocations": 2, "seconds": seconds}},
    }


def test_processes_are_summed_by_name_and_diffed_per_phase() -> None:
    before = model.merge_snapshots([("orders", snapshot({"dynamodb.TransactWriteItems": 1}, 0.5))])
    after = model.merge_snapshots(
        [
            ("orders", snapshot({"dynamodb.TransactWriteItems": 5, "sqs.ReceiveMessage": 40}, 1.5)),
            ("catalog", snapshot({"dynamodb.TransactWriteItems": 2})),
        ]
    )
    delta = model.diff_counts(after, before)
    assert delta["requests"] == {
        "orders/dynamodb.TransactWriteItems": 4,
        "orders/sqs.ReceiveMessage": 40,
        "catalog/dynamodb.TransactWriteItems": 2,
    }
    assert delta["functions"]["shop-orders-local-charge"] == {"invocations": 2, "seconds": 1.0}


def test_per_order_separates_pollers_and_takes_out_the_bench_status_polls() -> None:
    counts = {
        "requests": {"orders/dynamodb.GetItem": 30, "orders/dynamodb.TransactWriteItems": 20, "orders/sqs.ReceiveMessage": 100}
    }
    per = model.per_order(counts, 10, status_polls=20, per_poll={"orders/dynamodb.GetItem": 1.0})
    assert per["functions"] == {"orders/dynamodb.TransactWriteItems": 2.0, "orders/dynamodb.GetItem": 1.0}
    assert per["pollers"] == {"orders/sqs.ReceiveMessage": 10.0}
    assert (per["functions_total"], per["pollers_total"]) == (3.0, 10.0)
    assert model.per_order(counts, 0)["orders"] == 0


PRICES: dict[str, Any] = {
    "prices": {
        "dynamodb_write_request_unit": 1e-6,
        "dynamodb_read_request_unit": 1e-7,
        "eventbridge_custom_event": 1e-6,
        "sqs_standard_request": 4e-7,
        "lambda_request": 2e-7,
        "lambda_gb_second_x86_64": 2e-5,
        "lambda_gb_second_arm64": 1e-5,
        "api_gateway_rest_request": 3.5e-6,
        "ses_email": 1e-4,
    },
    "assumptions": {"sqs_pollers_per_mapping": 5, "sqs_long_poll_seconds": 20},
}


def test_cost_model_prices_each_line_per_thousand_orders() -> None:
    profile = {
        "dynamodb_write_units": 10,
        "dynamodb_read_units": 10,
        "eventbridge_events": 5,
        "sqs_requests": 10,
        "lambda_invocations": 10,
        "lambda_gb_seconds_x86_64": 0.1,
        "api_requests": 2,
        "emails": 1,
    }
    cost = model.cost_per_1000_orders(profile, PRICES)
    assert cost["dynamodb"] == pytest.approx(0.011)
    assert cost["eventbridge"] == pytest.approx(0.005)
    assert cost["sqs"] == pytest.approx(0.004)
    assert cost["lambda"] == pytest.approx(0.002 + 0.002)
    assert cost["api_gateway"] == pytest.approx(0.007)
    assert cost["total_without_ses"] == pytest.approx(0.011 + 0.005 + 0.004 + 0.004 + 0.007)
    assert cost["ses"] == pytest.approx(0.1)
    arm64 = {**profile, "lambda_gb_seconds_x86_64": 0.0, "lambda_gb_seconds_arm64": 0.1}
    assert model.cost_per_1000_orders(arm64, PRICES)["lambda"] == pytest.approx(0.003)


def test_each_function_is_priced_at_the_memory_and_architecture_its_config_names() -> None:
    config = {
        "app_name": "shop-orders",
        "lambda_architecture": "arm64",
        "lambda_functions": {"api_handler": {"lambda_memory_size": 1024}, "charge_payment": {"lambda_memory_size": 512}},
        "stages": {"local": {"lambda_functions": {"charge_payment": {"lambda_memory_size": 256}}}},
    }
    sizing = model.sizing_from_config(config, "local", ["api_handler", "charge_payment", "relay_outbox"])
    assert sizing == {
        "shop-orders-local-api_handler": {"memory_mb": 1024, "architecture": "arm64"},
        "shop-orders-local-charge_payment": {"memory_mb": 256, "architecture": "arm64"},  # the stage's entry first
        "shop-orders-local-relay_outbox": {"memory_mb": 128, "architecture": "arm64"},  # Chalice's default memory
    }
    seconds = {"shop-orders-local-api_handler": 0.5, "shop-orders-local-charge_payment": 1.0, "shop-x-local-f": 2.0}
    assert model.lambda_gb_seconds(seconds, sizing) == {"arm64": pytest.approx(0.5 + 0.25), "x86_64": pytest.approx(0.25)}
    # Before the sizing: every function at 128 MB on x86_64.
    assert model.lambda_gb_seconds(seconds) == {"arm64": 0.0, "x86_64": pytest.approx(3.5 / 8)}


def test_init_is_estimated_at_the_share_of_a_vcpu_the_memory_buys() -> None:
    assert model.init_estimate_ms(300.0, 128) == pytest.approx(300 * 1769 / 128, abs=0.1)
    assert model.init_estimate_ms(300.0, 1024) == pytest.approx(518.3, abs=0.1)
    assert model.init_estimate_ms(300.0, 3008) == 300.0  # one thread gains nothing past one vCPU


def test_the_bench_reads_every_service_sizing_from_its_chalice_config() -> None:
    sizing = function_sizing("local", ["shop-orders-local-charge_payment"])
    assert sizing["shop-orders-local-api_handler"] == {"memory_mb": 1024, "architecture": "arm64"}
    assert sizing["shop-orders-local-charge_payment"]["memory_mb"] >= 256
    assert {s["architecture"] for s in sizing.values()} == {"arm64"}


def test_idle_pollers_cost_five_long_polls_per_queue() -> None:
    # 5 pollers x 3 receives a minute x 43,200 minutes = 648,000 receives a month per queue
    assert model.idle_poller_cost_per_month(1, PRICES) == pytest.approx(0.26, abs=0.01)


def test_the_shipped_prices_file_names_its_sources_and_date() -> None:
    prices = model.load_prices()
    assert prices["written_on"] and "CHECK" in prices["status"].upper()
    assert set(PRICES["prices"]) <= set(prices["prices"])
    assert set(prices["sources"]) >= {"dynamodb", "eventbridge", "sqs", "lambda", "api_gateway", "ses"}


def test_dynamodb_units_count_transactional_items_twice_and_events_by_chunk() -> None:
    units: defaultdict[str, float] = defaultdict(float)
    body = {"TransactItems": [{"Put": {"Item": {"pk": {"S": "x" * 1500}}}}, {"ConditionCheck": {}}]}
    units.update(request_counter._billed_units("dynamodb.TransactWriteItems", json.dumps(body).encode()))
    assert units["dynamodb_write_units"] == 2 * 2 + 2
    events = request_counter._billed_units("eventbridge.PutEvents", json.dumps({"Entries": [{"Detail": "{}"}] * 3}))
    assert events["eventbridge_events"] == 3
    assert not request_counter._billed_units("sqs.SendMessage", b"{}")


def phase(name: str) -> dict[str, Any]:
    records = [
        OrderRecord(
            kind="physical", placed_at=100.0, status="SHIPMENT_REQUESTED", paid_at=100.2, final_at=100.3, seen_final_at=100.4
        )
    ]
    return phase_result(name, records, 2.0, 10.0, {"orders.charge-payment": {"max": 3, "mean": 1.0}}, records)


def results() -> dict[str, Any]:
    burst = {**phase("burst 1"), "time_to_all_final": 4.0}
    return {
        "schema_version": 1,
        "started_at": "2026-11-29T14:00:00+00:00",
        "seed": 1,
        "machine": {},
        "floor": {"orders_per_second": 10.0},
        "closed_loop": [phase("closed c=1")],
        "bursts": [burst],
        "requests": {
            "per_order": {"orders": 5, "functions_total": 30, "pollers_total": 90},
            "from_phases": ["closed c=1"],
            "service_cpu_ms_per_order": {"catalog": 41.0, "orders": 120.4},
        },
        "cost": {
            "per_1000_orders": {"total_without_ses": 0.05, "ses": 0.1},
            "per_1000_orders_before_sizing": {"total_without_ses": 0.04, "ses": 0.1},
            "per_1000_orders_if_cpu_bound": {"total_without_ses": 0.03, "ses": 0.1},
            "idle_pollers_per_month": 2.33,
        },
        "cold_start": {
            "orders": {
                "median_ms": 812.0,
                "lambda_init_estimate_ms": {"memory_mb": 1024, "at_128_mb": 11222.0, "as_sized": 1402.7},
            }
        },
        "packages": {"orders": {"zip_kib": 5000, "unzipped_without_boto3_kib": 20000}},
    }


def test_a_phase_reports_rates_latencies_and_its_share_of_the_floor() -> None:
    result = phase("closed c=1")
    assert result["orders_per_second"] == 0.5
    assert result["fraction_of_floor"] == 0.05
    assert result["place_to_paid"]["p50"] == pytest.approx(0.2)
    assert result["place_to_final"]["p99"] == pytest.approx(0.3)


def test_results_keep_their_schema_and_print_as_one_table() -> None:
    document = results()
    assert model.validate_results(document) == []
    table = model.markdown_table(document)
    assert "| closed c=1 | 1 | 0.50 | 5.0% | 200 / 200 / 200 | 300 / 300 / 300 | - | 3 | - |" in table
    assert "| burst 1 |" in table and "| 4.0 |" in table
    assert "| orders | 812 | 11222 / 1403 (1024 MB) | 5000 / 20000 |" in table
    assert (
        "$0.0500 (+ SES $0.1000) as sized, $0.0400 with every function at 128 MB on x86_64, "
        "$0.0300 if Lambda's time were the CPU measured" in table
    )
    assert "CPU per order, ms (service processes: functions, API server, local pollers): catalog 41, orders 120" in table
    broken = {k: v for k, v in document.items() if k != "floor"}
    assert model.validate_results(broken) == ["missing floor"]


def test_a_process_cpu_time_is_read_from_proc() -> None:
    import os

    busy = sum(range(200_000))
    assert busy and cpu_seconds(os.getpid()) > 0
    assert cpu_seconds(2**22 + 1) == 0.0  # no such process


def test_final_status_and_import_trace_parsing() -> None:
    assert final_status("digital") == "PAID"
    assert final_status("mixed") == "SHIPMENT_REQUESTED"
    trace = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:       100 |        100 | _io",
            "import time:       500 |     250000 | pydantic",
            "import time:        50 |       5000 |     pydantic.fields",
            "import time:       900 |      90000 |   boto3",
            "import time:       900 |     400000 | app",
        ]
    )
    assert top_imports(trace) == {"pydantic": 250.0, "boto3": 90.0, "_io": 0.1}


def test_the_request_counter_is_a_no_op_unless_asked_for() -> None:
    # Services import it in every run; without SHOP_COUNT_AWS_REQUESTS nothing may change.
    def handler(event: object, context: object) -> str:
        return "done"

    if not request_counter.enabled():
        assert request_counter.timed("shop-x-local-f", handler) is handler


def test_push_latency_summary_is_nearest_rank_in_ms() -> None:
    from bench.push_latency import summary

    seconds = [n / 1000 for n in range(1, 101)]  # 1 ms .. 100 ms

    assert summary(seconds) == {"count": 100, "p50_ms": 50.5, "p95_ms": 96.0, "max_ms": 100.0}
