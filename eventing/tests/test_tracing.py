"""ServiceRuntime.trace: every function's invocation is a subsegment on AWS, and nothing happens
(no X-Ray SDK, no patching) where tracing is off."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.app import Chalice

from shop_contracts import REGISTRY, TOPOLOGY
from shop_eventing import runtime as runtime_module
from shop_eventing.runtime import ServiceRuntime, tracing_enabled


class Subsegment:
    def __init__(self, name: str) -> None:
        self.name = name
        self.annotations: dict[str, Any] = {}

    def put_annotation(self, key: str, value: Any) -> None:
        self.annotations[key] = value


class Provider:
    def __init__(self) -> None:
        self.subsegments: list[Subsegment] = []

    @contextlib.contextmanager
    def in_subsegment(self, name: str) -> Iterator[Subsegment]:
        subsegment = Subsegment(name)
        self.subsegments.append(subsegment)
        yield subsegment


class FakeTracer:
    def __init__(self) -> None:
        self.provider = Provider()


class LambdaContext:
    function_name = "shop-dev-orders-charge_payment"


def sqs_event() -> dict[str, Any]:
    return {"Records": [{"eventSource": "aws:sqs", "body": "{}", "messageId": "m-1", "receiptHandle": "r", "attributes": {}}]}


def app_with_handler(runtime: ServiceRuntime, seen: list[str]) -> Any:
    app = Chalice(app_name="probe")
    runtime.trace(app)

    @app.on_sqs_message(queue="q", name="charge_payment")
    def charge_payment(event: Any) -> str:
        seen.append("handled")
        return "done"

    return charge_payment


def test_each_invocation_is_a_subsegment_named_after_its_function_marking_the_cold_start_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = ServiceRuntime(TOPOLOGY, "orders", REGISTRY)
    tracer = FakeTracer()
    monkeypatch.setattr(runtime, "tracer", lambda: tracer)
    seen: list[str] = []
    handler = app_with_handler(runtime, seen)

    assert handler(sqs_event(), LambdaContext()) == "done"
    assert handler(sqs_event(), LambdaContext()) == "done"

    assert seen == ["handled", "handled"]
    assert [s.name for s in tracer.provider.subsegments] == ["## shop-dev-orders-charge_payment"] * 2
    assert [s.annotations for s in tracer.provider.subsegments] == [
        {"ColdStart": True, "Service": "shop.orders"},
        {"ColdStart": False, "Service": "shop.orders"},
    ]


def test_where_tracing_is_off_the_handler_runs_untraced_and_no_tracer_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    made: list[Any] = []
    monkeypatch.setattr(runtime_module, "Tracer", lambda **options: made.append(options))
    runtime = ServiceRuntime(TOPOLOGY, "orders", REGISTRY)
    seen: list[str] = []

    assert app_with_handler(runtime, seen)(sqs_event(), LambdaContext()) == "done"

    assert seen == ["handled"]
    assert made == []


def test_on_aws_the_tracer_is_made_once_with_boto3_patched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    made: list[dict[str, Any]] = []

    def tracer(**options: Any) -> FakeTracer:
        made.append(options)
        return FakeTracer()

    monkeypatch.setattr(runtime_module, "Tracer", tracer)
    runtime = ServiceRuntime(TOPOLOGY, "orders", REGISTRY)

    assert runtime.tracer() is runtime.tracer()
    assert made == [{"service": "shop.orders", "auto_patch": True, "patch_modules": ("botocore",)}]


@pytest.mark.parametrize(
    ("environ", "enabled"),
    [
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_CHALICE_CLI_MODE": "true"}, False),
        ({}, False),  # outside Lambda: no daemon to send to
    ],
)
def test_tracing_is_on_in_lambda_alone_unless_switched_off(environ: dict[str, str], enabled: bool) -> None:
    assert tracing_enabled(environ) is enabled


def test_without_the_xray_sdk_in_the_package_the_handler_runs_untraced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    real_find_spec = runtime_module.importlib.util.find_spec
    monkeypatch.setattr(
        runtime_module.importlib.util, "find_spec", lambda name: None if name == "aws_xray_sdk" else real_find_spec(name)
    )
    made: list[Any] = []
    monkeypatch.setattr(runtime_module, "Tracer", lambda **options: made.append(options))
    runtime = ServiceRuntime(TOPOLOGY, "orders", REGISTRY)
    seen: list[str] = []
    handler = app_with_handler(runtime, seen)

    assert handler(sqs_event(), LambdaContext()) == "done"
    assert handler(sqs_event(), LambdaContext()) == "done"

    assert seen == ["handled", "handled"]
    assert made == []
