"""Opt-in count of the AWS requests a process makes, for the benchmark (`make bench`).

With `SHOP_COUNT_AWS_REQUESTS=<dir>` in its environment, a process that calls `install_from_env(name)`
counts every HTTP request botocore sends (the `before-send` event of every client, whatever session
made it: requests, not API calls, so a retry counts twice as AWS bills it), by service and operation,
notes which ReceiveMessage calls came back empty, and times the functions wrapped with `timed` (the
handlers the dispatcher invokes, for Lambda's GB-seconds). It writes `<dir>/<name>-<pid>.json` every
second and on exit, so a reader can diff two snapshots around a phase. Without the variable nothing
is installed and `timed` returns the function itself: the stack runs exactly as before.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import botocore.session

ENV = "SHOP_COUNT_AWS_REQUESTS"
FLUSH_SECONDS = 1.0

_lock = threading.Lock()
_requests: Counter[str] = Counter()  # "service.Operation" -> HTTP requests sent
_empty_receives: Counter[str] = Counter()  # "sqs.ReceiveMessage" that returned no message
# What AWS bills besides requests, read from the request bodies: DynamoDB request units (items of a
# transaction at two each, by their size in KB; reads as 4 KB or less), EventBridge events (64 KB
# chunks), SQS messages received.
_units: defaultdict[str, float] = defaultdict(float)
_functions: dict[str, dict[str, float]] = {}  # function -> invocations, seconds
_state: dict[str, Path] = {}  # "path": where this process writes, once installed


def _path() -> Path | None:
    return _state.get("path")


def enabled() -> bool:
    return _path() is not None


def install_from_env(process_name: str) -> bool:
    """Install the hooks if the environment asks for them; True when it did."""
    directory = os.environ.get(ENV)
    if not directory or enabled():
        return enabled()
    Path(directory).mkdir(parents=True, exist_ok=True)
    _state["path"] = Path(directory) / f"{process_name}-{os.getpid()}.json"
    _patch_botocore()
    atexit.register(flush)
    threading.Thread(target=_flush_forever, name="request-counter", daemon=True).start()
    return True


def _patch_botocore() -> None:
    # Every client, of any session, is made by Session.create_client: register on each new client's
    # event system. (Registering on one session would miss the pollers' own boto3.Session().)
    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.meta.events.register("before-send", _on_send)
        client.meta.events.register("after-call.sqs.ReceiveMessage", _on_receive)
        return client

    botocore.session.Session.create_client = create_client


def _operation(event_name: str) -> str:
    # "before-send.dynamodb.TransactWriteItems" -> "dynamodb.TransactWriteItems"
    return event_name.split(".", 1)[1] if "." in event_name else event_name


def _on_send(event_name: str = "", request: Any = None, **kwargs: Any) -> None:
    operation = _operation(event_name)
    units = _billed_units(operation, getattr(request, "body", None))
    with _lock:
        _requests[operation] += 1
        for name, value in units.items():
            _units[name] += value
    # None: botocore sends the request itself (a returned response would short-circuit it).


def _kib(value: Any, per: int = 1024) -> int:
    return max(1, math.ceil(len(json.dumps(value)) / per))


def _billed_units(operation: str, body: Any) -> defaultdict[str, float]:
    units: defaultdict[str, float] = defaultdict(float)
    service, _, name = operation.partition(".")
    if service not in {"dynamodb", "eventbridge"} or not body:
        return units
    try:
        payload = json.loads(body)
    except (ValueError, TypeError):
        return units
    if name == "TransactWriteItems":
        for item in payload.get("TransactItems", []):
            units["dynamodb_write_units"] += 2 * _kib(item.get("Put", {}).get("Item", {}))
    elif name == "PutItem":
        units["dynamodb_write_units"] += _kib(payload.get("Item", {}))
    elif name in {"UpdateItem", "DeleteItem"}:
        units["dynamodb_write_units"] += 1  # an item of 1 KB or less: the outbox marks and counters
    elif name == "BatchWriteItem":
        for requests in payload.get("RequestItems", {}).values():
            units["dynamodb_write_units"] += sum(_kib(r.get("PutRequest", {}).get("Item", {})) for r in requests)
    elif name == "TransactGetItems":
        units["dynamodb_read_units"] += 2 * len(payload.get("TransactItems", []))
    elif name in {"GetItem", "Query", "Scan"}:
        # 4 KB or less read: half a unit eventually consistent, one strongly (Query: the page's size is
        # in the response, not here; our pages are small).
        units["dynamodb_read_units"] += 1.0 if payload.get("ConsistentRead") else 0.5
    elif name == "PutEvents":
        units["eventbridge_events"] += sum(_kib(entry, 64 * 1024) for entry in payload.get("Entries", []))
    return units


def _on_receive(parsed: dict[str, Any] | None = None, **kwargs: Any) -> None:
    messages = (parsed or {}).get("Messages") or []
    with _lock:
        _units["sqs_messages_received"] += len(messages)
        if not messages:
            _empty_receives["sqs.ReceiveMessage"] += 1


def timed(function_name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    """`handler`, timing each invocation under `function_name` when counting is on."""
    if not enabled():
        return handler

    def invoke(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return handler(*args, **kwargs)
        finally:
            elapsed = time.perf_counter() - start
            with _lock:
                stats = _functions.setdefault(function_name, {"invocations": 0, "seconds": 0.0})
                stats["invocations"] += 1
                stats["seconds"] += elapsed

    return invoke


def snapshot() -> dict[str, Any]:
    with _lock:
        return {
            "pid": os.getpid(),
            "written_at": time.time(),
            "requests": dict(_requests),
            "empty_receives": dict(_empty_receives),
            "units": dict(_units),
            "functions": {name: dict(stats) for name, stats in _functions.items()},
        }


def flush() -> None:
    path = _path()
    if path is None:
        return
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(snapshot()))
    temporary.replace(path)  # a reader never sees half a file


def _flush_forever() -> None:
    while True:
        time.sleep(FLUSH_SECONDS)
        with suppress(OSError):  # the directory went away (the bench is over)
            flush()
