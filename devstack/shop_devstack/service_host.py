"""One service of the embedded stack, in its own process: its HTTP API, its queue pollers, its relay.

Every Chalice app has a top-level `app` module and a `chalicelib` package, so two services cannot
share a process; Lambda isolates functions the same way. The service's code is imported exactly as
Lambda would import it; this process only plays API Gateway (chalice's local server) and the event
source mappings (shop_devstack.dispatcher).

    python -m shop_devstack.service_host --service orders --port 8103
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from chalice.app import DynamoDBEventConfig, ScheduledEventConfig, SQSEventConfig
from chalice.config import Config
from chalice.local import ChaliceRequestHandler, LocalGatewayException, create_local_server

from shop_devstack import faults, request_counter
from shop_devstack.dispatcher import DynamoDbStreamSource, ScheduledSource, SqsEventSource
from shop_devstack.lifecycle import die_with_parent
from shop_eventing.http import MAX_BODY_BYTES, error_body, error_code_for

REPO_ROOT = Path(__file__).resolve().parents[2]
READY = "SERVICE-READY"
DUPLICATE_DRILL_FLAG_ENV = "SHOP_DUPLICATE_DRILL_FLAG"


# socketserver listens with a backlog of 5: a burst of new connections (40 orders placed at once)
# overflowed it and clients saw resets. API Gateway has no such limit, so the local gateway should not
# either; the kernel caps this at net.core.somaxconn.
LISTEN_BACKLOG = 1024


# Lambda's SQS event source runs several pollers per queue and invokes batches concurrently, so two
# deliveries of one subscription can race each other; locally they race too, and a slow handler
# (the payment step) no longer holds up the whole queue behind one batch.
SQS_POLLERS_ENV = "SHOP_SQS_POLLERS"
DEFAULT_SQS_POLLERS = 2


def drill_copies(flag: str | None) -> int:
    """The duplicate-delivery drill's switch: no file, no copies; an empty one (the drill as it began), one."""
    if not flag:
        return 0
    try:
        text = Path(flag).read_text().strip()
    except FileNotFoundError:
        return 0
    return int(text) if text.isdigit() else 1


def sqs_pollers_per_queue() -> int:
    value = os.environ.get(SQS_POLLERS_ENV, str(DEFAULT_SQS_POLLERS))
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{SQS_POLLERS_ENV} must be a whole number of at least 1, not {value!r}")
    return int(value)


def accept_bursts(listening: socket.socket) -> None:
    """Widen an already listening socket's accept queue (listen() again only changes the backlog)."""
    listening.listen(LISTEN_BACKLOG)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--service", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--duplicate-deliveries", type=int, nargs="?", const=1, default=0, help="deliver every SQS message this many more times"
    )
    parser.add_argument(
        "--websocket-integration-port", type=int, default=0, help="serve the app's WebSocket functions to the local gateway"
    )
    args = parser.parse_args(argv)
    die_with_parent()
    # Opt-in (SHOP_COUNT_AWS_REQUESTS, set by `make bench`): before the app makes its first client.
    request_counter.install_from_env(args.service)
    # Opt-in (SHOP_FAULTS, set by a stack started with faults=True): the fault drills' botocore hooks.
    fault_hooks = faults.install_from_env(args.service) or faults.NO_FAULTS
    logging.basicConfig(level=logging.INFO, handlers=[json_log_handler(args.service)])
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
        sources = _event_sources(module, chalice_app, stage, stop, lambda: args.duplicate_deliveries, fault_hooks.paused)
    else:
        # The supervisor (EmbeddedShop.duplicate_deliveries) turns the drill on and off by creating and
        # removing this file, which holds how many more copies to send; each poller reads it after every batch.
        sources = _event_sources(module, chalice_app, stage, stop, lambda: drill_copies(drill_flag), fault_hooks.paused)
    for source in sources:
        source.start()
    if args.websocket_integration_port and chalice_app.websocket_handlers:
        # API Gateway's WebSocket API invokes these functions; locally shop_devstack.websocket_gateway does, through here.
        from shop_devstack.websocket_gateway import app_websocket_functions, serve_integration  # noqa: PLC0415 - aiohttp, vod only

        serve_integration(*app_websocket_functions(module, chalice_app, stage), args.host, args.websocket_integration_port)

    config_path = service_dir / ".chalice" / "config.json"
    config = Config.create(
        chalice_stage=stage,
        app_name=chalice_app.app_name,
        project_dir=str(service_dir),
        config_from_disk=json.loads(config_path.read_text()) if config_path.exists() else {},
    )
    server = create_local_server(chalice_app, config, args.host, args.port)
    accept_bursts(server.server.socket)
    # Chalice's handler, with API Gateway's manners: JSON errors in the one shape, bounded reads.
    server.server.RequestHandlerClass = functools.partial(ApiGatewayLikeHandler, app_object=chalice_app, config=config)
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


ACCESS_LOG = logging.getLogger("shop.access")
# The id an HTTP request is about, the one its events carry as correlation_id (an order's, a video's).
CORRELATED_PATH = re.compile(r"^/(?:staff/)?(?:orders|videos)/([^/?#]+)")


def json_log_handler(service: str) -> logging.Handler:
    """The host's own lines (access log, event sources, errors) as JSON, in the shape the functions'
    powertools Logger writes: level, location, message, timestamp, service, and any `extra` keys."""
    handler = logging.StreamHandler()
    handler.setFormatter(LambdaPowertoolsFormatter(service=f"shop.{service}"))
    return handler


def access_fields(method: str, path: str, status: int, client: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"method": method, "path": path, "status": status, "client": client}
    correlated = CORRELATED_PATH.match(path)
    if correlated:
        fields["correlation_id"] = correlated.group(1)
    return fields


# A client that announces more body than it sends (or stalls) gets a 408 after this long instead of
# holding a thread and a connection forever; idle keep-alive connections are closed after it too.
READ_TIMEOUT_SECONDS = float(os.environ.get("SHOP_HTTP_READ_TIMEOUT_SECONDS", "10"))
# API Gateway (REST) refuses a request line + headers above 10240 bytes; we refuse the same.
MAX_URI_BYTES = 8192
MAX_REQUEST_HEAD_BYTES = 10240
MAX_CHUNK_LINE_BYTES = 1024
# After an error answered early, what a client may still send before we close.
LINGER_SECONDS = 2.0
MAX_LINGER_BYTES = 4 * 1024 * 1024


class Refused(Exception):
    """The request cannot be handed to the app: answered with `status` and closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ApiGatewayLikeHandler(ChaliceRequestHandler):
    """Chalice's local request handler, answering every error in the one shape.

    http.server answers framing errors (400, 414, 431, 501, 505) with HTML and Chalice's local
    gateway answers an unknown route with 403 {"message": "Missing Authentication Token"}; API
    Gateway's gateway responses (deploy/gateway_responses.py) make those JSON on AWS, this does it
    here. Bodies are read with a deadline and a size limit, and chunked bodies are decoded.
    """

    timeout = READ_TIMEOUT_SECONDS

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One JSON line per request (http.server's default is a plain text line on stderr)."""
        status = int(code) if str(code).isdigit() else 0
        fields = access_fields(
            str(getattr(self, "command", "") or ""), str(getattr(self, "path", "")), status, self.client_address[0]
        )
        ACCESS_LOG.info(f"{fields['method']} {fields['path']} {status}", extra=fields)

    def log_message(self, format: str, *args: Any) -> None:
        ACCESS_LOG.warning(format % args, extra={"client": self.client_address[0]})

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        self.log_error("code %d, message %s", code, message)
        if getattr(self, "request_version", None) == "HTTP/0.9":
            # A request line too broken to name a version: answer it as HTTP/1.1, with a status line.
            self.request_version = self.protocol_version
        body = json.dumps(error_body(error_code_for(code), message or explain or HTTPStatus(code).phrase)).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in {HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED}:
            self.wfile.write(body)
        # Whatever the client still sends (an unread body) must not be read as the next request.
        self.close_connection = True
        self._linger()

    def _linger(self) -> None:
        """Close gently: closing a socket with unread data resets the connection, and a client still
        sending its body would lose our response. So stop writing, then read and drop what the
        client still sends (bounded) until it closes its side."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER_SECONDS)
            drained = 0
            while drained < MAX_LINGER_BYTES:
                data = self.connection.recv(65536)
                if not data:
                    break
                drained += len(data)
        except OSError:
            pass  # the client is gone: nothing left to protect

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if len(self.path.encode("latin-1", "replace")) > MAX_URI_BYTES:
            self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG, f"the URI is longer than {MAX_URI_BYTES} bytes")
            return False
        head = len(self.requestline) + sum(len(k) + len(v) + 4 for k, v in self.headers.items())
        if head > MAX_REQUEST_HEAD_BYTES:
            self.send_error(
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"the request line and headers exceed {MAX_REQUEST_HEAD_BYTES} bytes"
            )
            return False
        return True

    def _generic_handle(self) -> None:
        try:
            super()._generic_handle()
        except Refused as refused:
            self.send_error(refused.status, refused.message)

    # Chalice binds its own _generic_handle to the do_* methods; these must call the one above.
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def _parse_payload(self) -> tuple[dict[str, Any], bytes | None]:
        headers = dict(self.headers)
        transfer_encoding = self.headers.get("Transfer-Encoding")
        content_length = self.headers.get_all("Content-Length") or []
        if transfer_encoding is not None:
            if content_length:
                raise Refused(HTTPStatus.BAD_REQUEST, "send either Content-Length or Transfer-Encoding, not both")
            if transfer_encoding.strip().lower() != "chunked":
                raise Refused(
                    HTTPStatus.NOT_IMPLEMENTED, f"Transfer-Encoding {transfer_encoding!r} is not supported; use chunked"
                )
            return headers, self._read_chunked() or None
        if not content_length:
            return headers, None
        if len(set(content_length)) > 1 or not content_length[0].strip().isdigit():
            raise Refused(HTTPStatus.BAD_REQUEST, f"Content-Length must be one non-negative integer, not {content_length}")
        length = int(content_length[0])
        if length > MAX_BODY_BYTES:
            raise Refused(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body is {length} bytes; at most {MAX_BODY_BYTES} are accepted"
            )
        return headers, self._read_exactly(length, time.monotonic() + READ_TIMEOUT_SECONDS) or None

    def _read_exactly(self, length: int, deadline: float) -> bytes:
        received = bytearray()
        while len(received) < length:
            if time.monotonic() > deadline:
                raise Refused(
                    HTTPStatus.REQUEST_TIMEOUT, f"request body incomplete: {len(received)} of {length} bytes arrived in time"
                )
            try:
                chunk = self.rfile.read1(length - len(received))
            except TimeoutError:
                raise Refused(
                    HTTPStatus.REQUEST_TIMEOUT, f"request body incomplete: {len(received)} of {length} bytes arrived in time"
                ) from None
            if not chunk:
                raise Refused(
                    HTTPStatus.BAD_REQUEST,
                    f"request body incomplete: the connection ended after {len(received)} of {length} bytes",
                )
            received += chunk
        return bytes(received)

    def _read_line(self, deadline: float) -> bytes:
        try:
            line = self.rfile.readline(MAX_CHUNK_LINE_BYTES + 1)
        except TimeoutError:
            raise Refused(HTTPStatus.REQUEST_TIMEOUT, "chunked request body incomplete: no data in time") from None
        if len(line) > MAX_CHUNK_LINE_BYTES:
            raise Refused(HTTPStatus.BAD_REQUEST, "chunked request body: a chunk-size or trailer line is too long")
        if not line.endswith(b"\n"):
            raise Refused(HTTPStatus.BAD_REQUEST, "chunked request body incomplete: the connection ended inside it")
        if time.monotonic() > deadline:
            raise Refused(HTTPStatus.REQUEST_TIMEOUT, "chunked request body incomplete: not all of it arrived in time")
        return bytes(line)

    def _read_chunked(self) -> bytes:
        """Decode `Transfer-Encoding: chunked` (RFC 9112, 7.1): sizes in hex, extensions ignored, trailers dropped."""
        deadline = time.monotonic() + READ_TIMEOUT_SECONDS
        body = bytearray()
        while True:
            size_text = self._read_line(deadline).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise Refused(HTTPStatus.BAD_REQUEST, f"chunked request body: {size_text[:20]!r} is not a chunk size") from None
            if size < 0 or not size_text.isalnum():
                raise Refused(HTTPStatus.BAD_REQUEST, f"chunked request body: {size_text[:20]!r} is not a chunk size")
            if size == 0:
                while self._read_line(deadline) not in {b"\r\n", b"\n"}:
                    pass  # trailer fields: nothing we use
                return bytes(body)
            if len(body) + size > MAX_BODY_BYTES:
                raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body exceeds {MAX_BODY_BYTES} bytes")
            body += self._read_exactly(size, deadline)
            if self._read_line(deadline) not in {b"\r\n", b"\n"}:
                raise Refused(HTTPStatus.BAD_REQUEST, "chunked request body: a chunk is longer than its size says")

    def _send_error_response(self, error: LocalGatewayException) -> None:
        # Chalice's local gateway raises these for a path no route matches (API Gateway's
        # MISSING_AUTHENTICATION_TOKEN, a 404 through our gateway responses on AWS).
        if error.CODE == HTTPStatus.FORBIDDEN and error.headers.get("x-amzn-ErrorType") == "UnauthorizedException":
            self.send_error(HTTPStatus.NOT_FOUND, f"no route for {self.command} {self.path.split('?', 1)[0]}")
            return
        self.send_error(error.CODE, _message_of(error.body))

    def _send_http_response_with_body(self, code: int, headers: dict[str, Any], body: str | bytes) -> None:
        if self.command != "HEAD":
            super()._send_http_response_with_body(code, headers, body)
            return
        # A HEAD response has no body (RFC 9110, 9.3.2); Chalice's would be read as the next response.
        encoded = body if isinstance(body, bytes) else body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(encoded)))
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        self._send_headers(headers)


def _message_of(body: bytes | None) -> str | None:
    try:
        parsed = json.loads(body or b"")
    except ValueError:
        return None
    return str(parsed.get("message") or parsed.get("Message") or "") or None if isinstance(parsed, dict) else None


# Scheduled functions run every this many seconds locally, whatever their rate on AWS.
DEFAULT_LOCAL_SCHEDULE_SECONDS = 30


def _event_sources(
    module: Any,
    chalice_app: Any,
    stage: str,
    stop: threading.Event,
    duplicate: Callable[[], int],
    paused: Callable[[str], bool] = lambda queue_name: False,
) -> list[threading.Thread]:
    session = boto3.Session()
    sqs = session.client("sqs")
    streams = session.client("dynamodbstreams")
    sources: list[threading.Thread] = []
    for config in chalice_app.event_sources:
        # Chalice names each Lambda function <app>-<stage>-<handler>.
        function_name = f"{chalice_app.app_name}-{stage}-{config.name}"
        handler = request_counter.timed(function_name, getattr(module, config.name))
        if isinstance(config, SQSEventConfig):
            if not config.queue:
                raise ValueError(f"{function_name}: only queue names are supported locally")
            queue_url = sqs.get_queue_url(QueueName=config.queue)["QueueUrl"]
            pollers = sqs_pollers_per_queue()
            for poller in range(1, pollers + 1):
                source = SqsEventSource(
                    sqs=sqs,
                    queue_url=queue_url,
                    handler=handler,
                    function_name=function_name,
                    batch_size=config.batch_size,
                    duplicate_every_message=duplicate,
                    paused=paused,
                    stop=stop,
                )
                if pollers > 1:
                    source.name = f"{source.name}#{poller}"
                sources.append(source)
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
