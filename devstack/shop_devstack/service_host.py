"""One service of the embedded stack, in its own process: its HTTP API, its queue pollers, its relay.

Every Chalice app has a top-level `app` module and a `chalicelib` package, so two services cannot
share a process; Lambda isolates functions the same way. The service's code is imported exactly as
Lambda would import it; this process only plays API Gateway (chalice's local server) and the event
source mappings (shop_devstack.dispatcher).

    python -m shop_devstack.service_host --service orders --port 8103
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from chalice.app import DynamoDBEventConfig, ScheduledEventConfig, SQSEventConfig
from chalice.config import Config
from chalice.local import create_local_server

from shop_devstack.dispatcher import DynamoDbStreamSource, ScheduledSource, SqsEventSource
from shop_devstack.lifecycle import die_with_parent

REPO_ROOT = Path(__file__).resolve().parents[2]
READY = "SERVICE-READY"
DUPLICATE_DRILL_FLAG_ENV = "SHOP_DUPLICATE_DRILL_FLAG"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--service", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--duplicate-deliveries", action="store_true", help="deliver every SQS message twice")
    args = parser.parse_args(argv)
    die_with_parent()
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {args.service} %(name)s %(levelname)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)

    service_dir = REPO_ROOT / "services" / args.service
    sys.path.insert(0, str(service_dir))
    os.chdir(service_dir)
    module = importlib.import_module("app")
    chalice_app = module.app
    stage = os.environ.get("SHOP_STAGE", "local")

    stop = threading.Event()
    drill_flag = os.environ.get(DUPLICATE_DRILL_FLAG_ENV)
    if args.duplicate_deliveries:
        sources = _event_sources(module, chalice_app, stage, stop, lambda: True)
    else:
        # The supervisor (EmbeddedShop.duplicate_deliveries) turns the drill on and off by creating and
        # removing this file; each poller checks it after every batch.
        sources = _event_sources(module, chalice_app, stage, stop, lambda: bool(drill_flag) and Path(str(drill_flag)).exists())
    for source in sources:
        source.start()

    config_path = service_dir / ".chalice" / "config.json"
    config = Config.create(
        chalice_stage=stage,
        app_name=chalice_app.app_name,
        project_dir=str(service_dir),
        config_from_disk=json.loads(config_path.read_text()) if config_path.exists() else {},
    )
    server = create_local_server(chalice_app, config, args.host, args.port)
    http = threading.Thread(target=server.server.serve_forever, name="http", daemon=True)
    http.start()

    def shut_down(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    ready = {"service": args.service, "url": f"http://{args.host}:{args.port}", "event_sources": [s.name for s in sources]}
    print(f"{READY} {json.dumps(ready)}", flush=True)
    stop.wait()
    server.server.shutdown()
    for source in sources:
        source.join(timeout=5)
    return 0


# Scheduled functions run every this many seconds locally, whatever their rate on AWS.
DEFAULT_LOCAL_SCHEDULE_SECONDS = 30


def _event_sources(
    module: Any, chalice_app: Any, stage: str, stop: threading.Event, duplicate: Callable[[], bool]
) -> list[threading.Thread]:
    session = boto3.Session()
    sqs = session.client("sqs")
    streams = session.client("dynamodbstreams")
    sources: list[threading.Thread] = []
    for config in chalice_app.event_sources:
        handler = getattr(module, config.name)
        # Chalice names each Lambda function <app>-<stage>-<handler>.
        function_name = f"{chalice_app.app_name}-{stage}-{config.name}"
        if isinstance(config, SQSEventConfig):
            if not config.queue:
                raise ValueError(f"{function_name}: only queue names are supported locally")
            sources.append(
                SqsEventSource(
                    sqs=sqs,
                    queue_url=sqs.get_queue_url(QueueName=config.queue)["QueueUrl"],
                    handler=handler,
                    function_name=function_name,
                    batch_size=config.batch_size,
                    duplicate_every_message=duplicate,
                    stop=stop,
                )
            )
        elif isinstance(config, DynamoDBEventConfig):
            sources.append(
                DynamoDbStreamSource(
                    streams=streams,
                    stream_arn=config.stream_arn,
                    handler=handler,
                    function_name=function_name,
                    batch_size=config.batch_size,
                    stop=stop,
                )
            )
        elif isinstance(config, ScheduledEventConfig):
            sources.append(
                ScheduledSource(
                    handler=handler,
                    function_name=function_name,
                    interval=float(os.environ.get("SHOP_LOCAL_SCHEDULE_SECONDS", DEFAULT_LOCAL_SCHEDULE_SECONDS)),
                    region=session.region_name or "us-east-1",
                    stop=stop,
                )
            )
        else:
            raise ValueError(f"{function_name}: no local event source for {type(config).__name__}")
    return sources


if __name__ == "__main__":
    sys.exit(main())
