"""Fault injection for the embedded stack's drills, at the botocore level of a service process.

Off unless the process's environment names a control directory (`SHOP_FAULTS`, set by the stack when
started with `StackOptions(faults=True)`). Then every botocore client the process makes (the
functions' and the event sources' alike) consults the directory's rules on each AWS call: a test
writes a rule (`Fault`) as a JSON file and removes it after, so one running shop serves many drills.
The services' code is untouched: what it sees is what AWS can do to it, a throttled or failed write,
a `PutEvents` that rejects some entries, or its process dying (SIGKILL, as when Lambda's execution
environment is lost) just before or just after a call.

A rule fires for calls of its operation (`dynamodb.TransactWriteItems`, `events.PutEvents`,
`ses.SendEmail`, ...) in its service's process whose request contains every string of `match`
(searched in the request's parameters as JSON; for `reject_entries`, in each entry), at most `times`
times across every process of the stack: each firing claims a token file (O_EXCL), so a restarted
process does not fire a used-up rule again and two pollers never both take its last firing.

Actions:
- `crash_before` / `crash_after`: SIGKILL this process just before the request is sent / just after
  its response arrived (the call took effect; nothing after it in the invocation ran);
- `error`: the response is the given error (`code`, `status`) instead of the request reaching AWS, so
  botocore's retries see it as they would AWS's (each retry is one more firing);
- `error_after_applied`: the request reaches AWS and takes effect, yet the client gets the error (a
  5xx whose write was applied: the retry meets its own write);
- `reject_entries` (`events.PutEvents`): each matching entry is left out of the request and reported
  failed in the response (`FailedEntryCount`, the entry's `ErrorCode` and `ErrorMessage`), as
  EventBridge reports a partial failure; the other entries are put on the bus.
"""

from __future__ import annotations

import json
import logging
import os
import signal
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.httpsession import URLLib3Session

FAULTS_ENV = "SHOP_FAULTS"
ACTIONS = ("crash_before", "crash_after", "error", "error_after_applied", "reject_entries")
_FIRED = "fired"
_PAUSED = "paused"
_CONTEXT_PARAMS = "shop_fault_params"
_CONTEXT_REJECTED = "shop_fault_rejected"
_CONTEXT_ALL_REJECTED = "shop_fault_all_rejected"

log = logging.getLogger("shop.faults")


@dataclass(frozen=True)
class Fault:
    """One rule. `service`: the process it fires in (None: any service's); `times`: at most this many
    firings in the whole stack (None: every matching call)."""

    name: str
    operation: str
    action: str
    match: tuple[str, ...] = ()
    service: str | None = None
    times: int | None = 1
    code: str = "InternalFailure"
    status: int = 500
    message: str = "injected by the fault drill"

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown fault action {self.action!r}; one of {ACTIONS}")
        if self.action == "reject_entries" and self.operation != "events.PutEvents":
            raise ValueError("reject_entries is a PutEvents fault")
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ValueError(f"a fault's name names its file: {self.name!r}")

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "match": list(self.match)})

    @classmethod
    def from_json(cls, text: str) -> Fault:
        data = json.loads(text)
        return cls(**{**data, "match": tuple(data.get("match", ()))})


class FaultBoard:
    """The control directory as the stack (writing rules) and the service processes (firing them) see it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fired = directory / _FIRED
        self._fired.mkdir(parents=True, exist_ok=True)
        self._paused = directory / _PAUSED
        self._paused.mkdir(exist_ok=True)
        self._cache: tuple[int, list[Fault]] | None = None

    def add(self, fault: Fault) -> None:
        # Written aside and renamed: a process reading the directory never sees half a rule.
        partial = self.directory / f".{fault.name}.partial"
        partial.write_text(fault.to_json())
        partial.replace(self.directory / f"{fault.name}.json")

    def remove(self, name: str) -> None:
        (self.directory / f"{name}.json").unlink(missing_ok=True)

    def fired(self, name: str) -> int:
        """How often the rule has fired so far, in every process."""
        log_file = self._fired / f"{name}.log"
        tokens = sum(1 for _ in self._fired.glob(f"{name}.token.*"))
        return tokens + (len(log_file.read_text().splitlines()) if log_file.exists() else 0)

    def faults(self) -> list[Fault]:
        # Re-read only when the directory changed (a rule added or removed): every AWS call asks.
        try:
            stamp = self.directory.stat().st_mtime_ns
        except FileNotFoundError:
            return []
        if self._cache is None or self._cache[0] != stamp:
            faults = []
            for path in sorted(self.directory.glob("*.json")):
                try:
                    faults.append(Fault.from_json(path.read_text()))
                except (OSError, ValueError, TypeError):
                    continue  # removed while read, or not a rule
            self._cache = (stamp, faults)
        return self._cache[1]

    def pause(self, queue_name: str) -> None:
        (self._paused / queue_name).touch()

    def resume(self, queue_name: str) -> None:
        (self._paused / queue_name).unlink(missing_ok=True)

    def paused(self, queue_name: str) -> bool:
        return (self._paused / queue_name).exists()

    def claim(self, fault: Fault) -> bool:
        """Take one firing of the rule; False once it has none left."""
        if fault.times is None:
            with (self._fired / f"{fault.name}.log").open("a", encoding="utf-8") as log_file:
                log_file.write(f"{os.getpid()}\n")
            return True
        for n in range(fault.times):
            try:
                os.close(os.open(self._fired / f"{fault.name}.token.{n}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                continue
            return True
        return False


def matches(fault: Fault, service: str, operation: str, haystack: str) -> bool:
    return (
        fault.operation == operation
        and (fault.service is None or fault.service == service)
        and all(needle in haystack for needle in fault.match)
    )


class _Body:
    """What AWSResponse reads a body from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def error_response(url: str, fault: Fault, operation: str) -> AWSResponse:
    """An error in the service's own protocol: JSON (`__type`) for DynamoDB and EventBridge, the query
    protocol's XML for SES and SQS."""
    service = operation.split(".", 1)[0]
    if service in {"ses", "sqs", "sns"}:
        body = (
            f"<ErrorResponse><Error><Type>{'Sender' if fault.status < 500 else 'Receiver'}</Type><Code>{fault.code}</Code>"
            f"<Message>{fault.message}</Message></Error><RequestId>fault-drill</RequestId></ErrorResponse>"
        ).encode()
        headers = {"Content-Type": "text/xml"}
    else:
        body = json.dumps({"__type": fault.code, "message": fault.message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": fault.code}
    return AWSResponse(url, fault.status, {**headers, "x-amzn-RequestId": "fault-drill"}, _Body(body))


class FaultHooks:
    """The botocore event handlers of one service process."""

    def __init__(self, board: FaultBoard, service: str) -> None:
        self.board = board
        self.service = service
        self._http = URLLib3Session()

    def paused(self, queue_name: str) -> bool:
        """Whether the drill has paused the queue's event source (the subscriber is down)."""
        return self.board.paused(queue_name)

    def register(self, events: Any) -> None:
        events.register("provide-client-params", self._on_params)
        events.register("before-call", self._before_call)
        events.register("before-send", self._before_send)
        events.register("after-call", self._after_call)

    def _operation(self, model: Any) -> str:
        return f"{model.service_model.service_name}.{model.name}"

    def _active(self, operation: str) -> list[Fault]:
        return [f for f in self.board.faults() if f.operation == operation and (f.service in (None, self.service))]

    def _fire(self, fault: Fault, haystack: str) -> bool:
        if not matches(fault, self.service, fault.operation, haystack) or not self.board.claim(fault):
            return False
        log.warning("fault drill: %s %s", fault.action, fault.operation, extra={"fault": fault.name})
        return True

    def _on_params(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> dict[str, Any] | None:
        operation = self._operation(model)
        faults = self._active(operation)
        if not faults:
            return None
        context[_CONTEXT_PARAMS] = (operation, json.dumps(params, default=str, ensure_ascii=False))
        rejecting = [f for f in faults if f.action == "reject_entries"]
        if not rejecting:
            return None
        kept, rejected = [], []
        for index, entry in enumerate(params.get("Entries", [])):
            haystack = " ".join(str(value) for value in entry.values())
            fault = next((f for f in rejecting if self._fire(f, haystack)), None)
            if fault is None:
                kept.append(entry)
            else:
                rejected.append((index, fault))
        if not rejected:
            return None
        context[_CONTEXT_REJECTED] = rejected
        context[_CONTEXT_ALL_REJECTED] = not kept
        # Every entry rejected: the request stays valid (PutEvents takes no empty list) and is never sent.
        return {**params, "Entries": kept} if kept else None

    def _crash(self, context: dict[str, Any], action: str) -> None:
        operation, haystack = context.get(_CONTEXT_PARAMS, ("", ""))
        for fault in self._active(operation):
            if fault.action == action and self._fire(fault, haystack):
                logging.shutdown()
                os.kill(os.getpid(), signal.SIGKILL)

    def _before_call(self, model: Any, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        self._crash(context, "crash_before")
        if context.get(_CONTEXT_ALL_REJECTED):
            http = AWSResponse("", 200, {}, _Body(b"{}"))
            return http, {"FailedEntryCount": 0, "Entries": [], "ResponseMetadata": {"HTTPStatusCode": 200}}
        return None

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        # event_name: before-send.<service id>.<Operation>; the request's context says which operation.
        context = getattr(request, "context", {}) or {}
        operation, haystack = context.get(_CONTEXT_PARAMS, ("", ""))
        for fault in self._active(operation):
            if fault.action in {"error", "error_after_applied"} and self._fire(fault, haystack):
                if fault.action == "error_after_applied":
                    self._http.send(request)
                return error_response(request.url, fault, operation)
        return None

    def _after_call(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        rejected = context.get(_CONTEXT_REJECTED)
        if rejected:
            entries = list(parsed.get("Entries", []))
            for index, fault in rejected:
                entries.insert(index, {"ErrorCode": fault.code, "ErrorMessage": fault.message})
            parsed["Entries"] = entries
            parsed["FailedEntryCount"] = int(parsed.get("FailedEntryCount", 0)) + len(rejected)
        self._crash(context, "crash_after")


def install_from_env(service: str) -> FaultHooks | None:
    """Hook every botocore client this process makes, if the environment names a control directory."""
    directory = os.environ.get(FAULTS_ENV)
    if not directory:
        return None
    hooks = FaultHooks(FaultBoard(Path(directory)), service)
    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        hooks.register(client.meta.events)
        return client

    botocore.session.Session.create_client = create_client
    return hooks


class _NoFaults:
    def paused(self, queue_name: str) -> bool:
        return False


NO_FAULTS = _NoFaults()
