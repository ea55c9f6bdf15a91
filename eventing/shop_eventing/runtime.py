"""What a service's Lambda functions need at run time, built once per process (cold start).

Everything is derived from the topology and three environment variables, identical on AWS and in
the embedded stack; only AWS_ENDPOINT_URL (read by boto3 itself) differs locally.
- SHOP_STAGE: the stage whose resources to use (default "local").
- SHOP_TABLE_STREAM_ARN: the service table's stream, for the outbox relay's event source.
- AWS_DEFAULT_REGION / credentials: as boto3 reads them.

Tracing (`trace`): on AWS every invocation of every function is an X-Ray subsegment `## <function>`,
annotated with the service and whether it was a cold start, and every AWS call under it a subsegment
of its own (botocore patched), so one request or event's work is one trace per function, linked
along SQS and EventBridge by X-Ray. The X-Ray SDK is imported on the first traced invocation, never
at import (a cold start's cost) and never locally, where POWERTOOLS_TRACE_DISABLED=true.

The deployment packages ship the X-Ray SDK; its botocore is left out of them (deploy/package.py,
RUNTIME_PROVIDED), as Lambda's runtime provides one. A package without the SDK still runs: `tracer`
says so once and traces nothing (Lambda's own segments only), rather than failing the invocation.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from chalice.app import Chalice, CloudWatchEvent, DynamoDBEvent, Rate, SQSEvent

from shop_eventing.consumer import Handler, Subscriber
from shop_eventing.envelope import EventRegistry
from shop_eventing.relay import (
    SWEEP_EVERY_MINUTES,
    SWEEP_MARGIN_MS,
    BotoEventBus,
    ChangeFeed,
    OutboxRelay,
    OutboxSweeper,
    table_marker,
    table_unpublished,
)
from shop_eventing.topology import Naming, Topology


class ServiceRuntime:
    """One service's view of the shop: `service` names its entry in `topology`. The whole topology is
    kept so that every subscriber knows each event's one legitimate producer (a record from any other
    source is dead-lettered)."""

    def __init__(self, topology: Topology, service: str, registry: EventRegistry, session: boto3.Session | None = None) -> None:
        self.topology = topology
        self.service = topology.service(service)
        self.registry = registry
        self.naming = Naming(stage=os.environ.get("SHOP_STAGE", "local"))
        self.session = session or boto3.Session()
        self.logger = Logger(service=self.service.source)
        self._change_feed: ChangeFeed | None = None
        self._tracer: Tracer | None = None
        self._tracer_lock = threading.Lock()
        self._cold_start = True
        self._sdk_missing = False

    @property
    def table_name(self) -> str:
        return self.naming.table(self.service.name)

    @property
    def table_stream_arn(self) -> str:
        return os.environ.get("SHOP_TABLE_STREAM_ARN") or ""

    @cached_property
    def dynamodb(self) -> Any:
        return self.session.client("dynamodb")

    @cached_property
    def sqs(self) -> Any:
        return self.session.client("sqs")

    @cached_property
    def cloudwatch(self) -> Any | None:
        """Where SQS publishes its queues' metrics (the oldest message's age); None on the embedded AWS
        (AWS_ENDPOINT_URL set), whose moto publishes none (shop_eventing.queue_status)."""
        if os.environ.get("AWS_ENDPOINT_URL"):
            return None
        return self.session.client("cloudwatch")

    def subscriber(
        self,
        subscription: str,
        handlers: Mapping[str, Handler],
        read_as: Mapping[str, int] | None = None,
        *,
        deduplicated_by_marker: bool = False,
        marks_after_handler: bool = False,
    ) -> Subscriber:
        """`deduplicated_by_marker`: see `Subscriber`; only for handlers whose every effect is in the
        transaction that writes the processed-marker. `marks_after_handler`: see `Subscriber`; for
        handlers that guard their effects with their own records instead of the marker."""
        return Subscriber(
            deduplicated_by_marker=deduplicated_by_marker,
            marks_after_handler=marks_after_handler,
            read_as=read_as,
            service=self.service,
            subscription=subscription,
            registry=self.registry,
            naming=self.naming,
            topology=self.topology,
            handlers=handlers,
            logger=self.logger,
            session=self.session,
        )

    @cached_property
    def relay(self) -> OutboxRelay:
        return OutboxRelay(
            BotoEventBus(self.session.client("events")),
            self.naming.bus,
            table_marker(self.dynamodb, self.table_name),
            changes=self._change_feed,
            service=self.service.source,
        )

    @cached_property
    def outbox_sweeper(self) -> OutboxSweeper:
        return OutboxSweeper(self.relay, table_unpublished(self.dynamodb, self.table_name, self.naming.bus), measure_backlog=True)

    def sweep_outbox(self, lambda_context: Any) -> int:
        """The body of each publishing service's scheduled `sweep_outbox` function: sweep while the
        invocation has time for another batch."""

        def time_left() -> bool:
            return lambda_context is not None and lambda_context.get_remaining_time_in_millis() > SWEEP_MARGIN_MS

        return self.outbox_sweeper.sweep(time_left)

    def consume(self, app: Chalice, function_name: str, subscriber: Subscriber) -> Any:
        """Register `subscriber` on `app` as the Lambda function `function_name`, fed by its own queue.

        Call it as `name = runtime.consume(app, "name", subscriber)`: Chalice points the function's
        handler at `app.<name>`, so the module attribute must carry that name."""

        def handler(event: SQSEvent) -> dict[str, Any]:
            return subscriber.handle(event.to_dict(), event.context)

        handler.__name__ = function_name
        return app.on_sqs_message(queue=subscriber.queue_name, batch_size=subscriber.batch_size, name=function_name)(handler)

    def publish_outbox(self, app: Chalice, *, changes: ChangeFeed | None = None) -> tuple[Any, Any]:
        """Register the two functions every publishing service has: `relay_outbox`, fed by the table's
        stream, and `sweep_outbox`, scheduled, which publishes what the relay missed (a stream record
        lives 24 hours). Call it as `relay_outbox, sweep_outbox = runtime.publish_outbox(app)`.
        `changes`: a change feed the relay publishes too (shop_eventing.relay says when to use one)."""
        self._change_feed = changes

        def relay_outbox(event: DynamoDBEvent) -> None:
            self.relay.handle(event.to_dict())

        def sweep_outbox(event: CloudWatchEvent) -> None:
            self.sweep_outbox(event.context)

        return (
            app.on_dynamodb_record(stream_arn=self.table_stream_arn, name="relay_outbox")(relay_outbox),
            app.schedule(Rate(SWEEP_EVERY_MINUTES, unit=Rate.MINUTES), name="sweep_outbox")(sweep_outbox),
        )

    def trace(self, app: Chalice) -> None:
        """Trace every function of `app` on AWS (see the module's docstring): one middleware for every
        kind of event Chalice dispatches, routes and WebSocket messages included."""

        @app.middleware("all")
        def traced(event: Any, get_response: Callable[[Any], Any]) -> Any:
            tracer = self.tracer()
            if tracer is None:
                return get_response(event)
            with self._tracer_lock:
                cold_start, self._cold_start = self._cold_start, False
            # A route's Request keeps the Lambda context apart (its `context` is API Gateway's).
            context = getattr(event, "lambda_context", None) or getattr(event, "context", None)
            name = getattr(context, "function_name", None) or self.service.name
            with tracer.provider.in_subsegment(name=f"## {name}") as subsegment:
                subsegment.put_annotation(key="ColdStart", value=cold_start)
                subsegment.put_annotation(key="Service", value=self.service.source)
                return get_response(event)

    def tracer(self) -> Tracer | None:
        """powertools' Tracer with boto3 patched, made on the first invocation that traces; None where
        nothing traces (outside Lambda, or POWERTOOLS_TRACE_DISABLED)."""
        if not tracing_enabled():
            return None
        with self._tracer_lock:
            if self._sdk_missing:
                return None
            if self._tracer is None:
                if importlib.util.find_spec("aws_xray_sdk") is None:
                    self._sdk_missing = True
                    self.logger.warning("aws-xray-sdk is not in the package: Lambda's segments only, no subsegments")
                    return None
                self._tracer = Tracer(service=self.service.source, auto_patch=True, patch_modules=("botocore",))
            return self._tracer


def tracing_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """powertools' own rule (Tracer._is_tracer_disabled), read without importing the X-Ray SDK: in
    Lambda (LAMBDA_TASK_ROOT), not under a local emulator, not switched off."""
    disabled = environ.get("POWERTOOLS_TRACE_DISABLED", "false").lower() in ("1", "true", "yes", "on")
    emulated = bool(environ.get("AWS_SAM_LOCAL") or environ.get("AWS_CHALICE_CLI_MODE"))
    return bool(environ.get("LAMBDA_TASK_ROOT")) and not disabled and not emulated
