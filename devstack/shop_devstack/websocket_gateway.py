"""The embedded stack's stand-in for API Gateway's WebSocket API, which moto does not run.

Clients connect to ws://<host>:<port>/<stage>; the gateway gives each connection an id and invokes the
app's WebSocket functions with API Gateway's Lambda proxy events: `$connect` (headers, the query string,
requestContext.connectionId/domainName/stage) before the handshake completes — a non-2xx answer is the
handshake's answer and no connection is made, as on AWS —, `$default` for every message, in order,
and `$disconnect` once the connection is gone. The backend reaches its clients through the same
management API as on AWS, on the same port: POST /<stage>/@connections/{id} (send), GET (info),
DELETE (close); an unknown or closed connection is a 410 GoneException. boto3's
`apigatewaymanagementapi` client with `endpoint_url=http://<host>:<port>/<stage>` works unchanged
(requests are not signature-checked, as moto does not check them either).

The functions run where the app runs: the service's own process (`service_host`) answers
POST /websocket/<route key> with the function's result (`serve_integration`), so a WebSocket function
shares its process, its clients and its environment with the app's other functions, as the embedded
stack runs every service. Tests may pass an in-process integration instead (`Gateway(integration=...)`).

    python -m shop_devstack.websocket_gateway --port 5109 --integration http://127.0.0.1:<port> [--stage api]

Not played: API Gateway's 10-minute idle timeout and 2-hour connection limit, route selection beyond
$default (Chalice registers $default only), binary frames (answered as text, decoded as UTF-8).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import signal
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote

import aiohttp
from aiohttp import web

from shop_devstack.dispatcher import LambdaContext
from shop_devstack.lifecycle import die_with_parent

log = logging.getLogger("shop.websocket_gateway")

# API Gateway's quotas: a message (and a posted payload) is at most 128 KiB.
MAX_MESSAGE_BYTES = 128 * 1024
DEFAULT_STAGE = "api"
API_ID = "local"
READY = "WEBSOCKET-GATEWAY-READY"

# route key, event -> the function's result (a dict with statusCode, maybe headers and body)
Integration = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


def new_connection_id() -> str:
    # API Gateway's ids are 16 characters of base64 (e.g. "L0SM9cOFvHcCIhw="); URL-safe here so a
    # path never holds a '/'.
    return base64.urlsafe_b64encode(os.urandom(10)).decode()


@dataclass
class _Connection:
    socket: web.WebSocketResponse
    connected_at: datetime
    last_active_at: datetime
    source_ip: str
    user_agent: str


class Gateway:
    """One WebSocket API stage: its connections, the integration its routes invoke, and the management API."""

    def __init__(self, integration: Integration, *, stage: str = DEFAULT_STAGE) -> None:
        self.integration = integration
        self.stage = stage
        self.connections: dict[str, _Connection] = {}
        self.domain_name = ""  # host:port, known once listening

    def application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_MESSAGE_BYTES)
        app.router.add_get("/health", self._health)
        app.router.add_get(f"/{self.stage}", self._websocket)
        management = f"/{self.stage}/@connections/{{connection_id}}"
        app.router.add_post(management, self._post_to_connection)
        app.router.add_get(management, self._get_connection)
        app.router.add_delete(management, self._delete_connection)
        return app

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "connections": len(self.connections)})

    # -- the clients' side -------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        socket = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, autoping=True)
        if not socket.can_prepare(request).ok:
            return _error(HTTPStatus.UPGRADE_REQUIRED, "bad_request", "connect with a WebSocket upgrade request")
        connection_id = new_connection_id()
        connected_at = datetime.now(UTC)
        answer = await self.integration("$connect", self._connect_event(request, connection_id, connected_at))
        status = int(answer.get("statusCode", HTTPStatus.OK))
        if not 200 <= status < 300:
            # API Gateway hands a refused $connect's answer to the client and makes no connection.
            return web.Response(status=status, body=str(answer.get("body") or ""), headers=answer.get("headers") or {})
        await socket.prepare(request)
        connection = _Connection(
            socket, connected_at, connected_at, request.remote or "127.0.0.1", request.headers.get("User-Agent", "")
        )
        self.connections[connection_id] = connection
        log.info("connected %s", connection_id)
        try:
            async for message in socket:
                if message.type == aiohttp.WSMsgType.TEXT:
                    body = str(message.data)
                elif message.type == aiohttp.WSMsgType.BINARY:
                    body = bytes(message.data).decode("utf-8", "replace")
                else:
                    continue
                connection.last_active_at = datetime.now(UTC)
                answer = await self.integration("$default", self._message_event(connection_id, connection, body))
                if int(answer.get("statusCode", HTTPStatus.OK)) >= 500:
                    log.warning("$default of %s failed: %s", connection_id, answer)
        finally:
            self.connections.pop(connection_id, None)
            close_code = socket.close_code or 1006
            await self.integration("$disconnect", self._disconnect_event(connection_id, connection, close_code))
            log.info("disconnected %s (%s)", connection_id, close_code)
        return socket

    def _request_context(self, route_key: str, event_type: str, connection_id: str, connected_at: datetime) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": uuid.uuid4().hex[:16],
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": int(connected_at.timestamp() * 1000),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": uuid.uuid4().hex[:16],
            "domainName": self.domain_name,
            "connectionId": connection_id,
            "apiId": API_ID,
        }

    def _connect_event(self, request: web.Request, connection_id: str, connected_at: datetime) -> dict[str, Any]:
        context = self._request_context("$connect", "CONNECT", connection_id, connected_at)
        context["identity"] = {"sourceIp": request.remote or "127.0.0.1", "userAgent": request.headers.get("User-Agent", "")}
        query = request.query
        return {
            "headers": dict(request.headers),
            "multiValueHeaders": {name: request.headers.getall(name) for name in request.headers},
            "queryStringParameters": {name: query[name] for name in query} or None,
            "multiValueQueryStringParameters": {name: query.getall(name) for name in query} or None,
            "requestContext": context,
            "isBase64Encoded": False,
        }

    def _message_event(self, connection_id: str, connection: _Connection, body: str) -> dict[str, Any]:
        context = self._request_context("$default", "MESSAGE", connection_id, connection.connected_at)
        context["messageId"] = uuid.uuid4().hex[:16]
        context["identity"] = {"sourceIp": connection.source_ip, "userAgent": connection.user_agent}
        return {"requestContext": context, "body": body, "isBase64Encoded": False}

    def _disconnect_event(self, connection_id: str, connection: _Connection, close_code: int) -> dict[str, Any]:
        context = self._request_context("$disconnect", "DISCONNECT", connection_id, connection.connected_at)
        context["identity"] = {"sourceIp": connection.source_ip, "userAgent": connection.user_agent}
        context["disconnectStatusCode"] = close_code
        context["disconnectReason"] = ""
        return {"headers": {"Host": self.domain_name}, "requestContext": context, "isBase64Encoded": False}

    # -- the backend's side: the management API ------------------------------------------------------

    def _live(self, request: web.Request) -> tuple[str, _Connection | None]:
        connection_id = unquote(request.match_info["connection_id"])
        connection = self.connections.get(connection_id)
        if connection is None or connection.socket.closed:
            return connection_id, None
        return connection_id, connection

    async def _post_to_connection(self, request: web.Request) -> web.Response:
        _connection_id, connection = self._live(request)
        data = await request.read() if request.content_length is None or request.content_length <= MAX_MESSAGE_BYTES else None
        if data is None or len(data) > MAX_MESSAGE_BYTES:
            return _aws_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "PayloadTooLargeException", "Message too long")
        if connection is None:
            return _gone()
        try:
            await connection.socket.send_str(data.decode("utf-8"))
        except UnicodeDecodeError:
            await connection.socket.send_bytes(data)
        except ConnectionError:
            return _gone()
        return web.Response(status=HTTPStatus.OK)

    async def _get_connection(self, request: web.Request) -> web.Response:
        _, connection = self._live(request)
        if connection is None:
            return _gone()
        return web.json_response(
            {
                "connectedAt": connection.connected_at.isoformat().replace("+00:00", "Z"),
                "lastActiveAt": connection.last_active_at.isoformat().replace("+00:00", "Z"),
                "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
            }
        )

    async def _delete_connection(self, request: web.Request) -> web.Response:
        _, connection = self._live(request)
        if connection is None:
            return _gone()
        # Closing ends the client's loop above, which invokes $disconnect, as on AWS.
        await connection.socket.close(code=aiohttp.WSCloseCode.GOING_AWAY)
        return web.Response(status=HTTPStatus.NO_CONTENT)


def _aws_error(status: int, error_type: str, message: str) -> web.Response:
    # How a rest-json AWS service names its error: botocore reads x-amzn-ErrorType.
    return web.json_response({"message": message}, status=status, headers={"x-amzn-ErrorType": error_type})


def _gone() -> web.Response:
    return _aws_error(HTTPStatus.GONE, "GoneException", "the connection is gone")


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class HttpIntegration:
    """Invokes the app's WebSocket functions in the service's process (`serve_integration` there)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def __call__(self, route_key: str, event: dict[str, Any]) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        try:
            async with self._session.post(f"{self.url}/websocket/{quote(route_key, safe='')}", json=event) as response:
                if response.status != HTTPStatus.OK:
                    log.warning("%s: the integration answered %s: %s", route_key, response.status, await response.text())
                    return {"statusCode": HTTPStatus.INTERNAL_SERVER_ERROR, "body": _internal_error()}
                return dict(await response.json())
        except (aiohttp.ClientError, TimeoutError) as error:
            # API Gateway answers an integration it cannot reach with a 500.
            log.warning("%s: the integration failed: %r", route_key, error)
            return {"statusCode": HTTPStatus.INTERNAL_SERVER_ERROR, "body": _internal_error()}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _internal_error() -> str:
    return json.dumps({"error": {"code": "internal_error", "message": "the WebSocket integration failed"}})


def in_process(handlers: Mapping[str, Callable[[dict[str, Any], Any], Any]], function_names: Mapping[str, str]) -> Integration:
    """An integration calling `handlers` (route key → the app's WebSocket function) in this process, on
    a worker thread, as Lambda would call them (with a Lambda context)."""

    async def invoke(route_key: str, event: dict[str, Any]) -> dict[str, Any]:
        handler = handlers.get(route_key)
        if handler is None:
            return {"statusCode": HTTPStatus.OK}
        context = LambdaContext(function_names[route_key], 30)
        result = await asyncio.to_thread(handler, event, context)
        return dict(result) if isinstance(result, dict) else {"statusCode": HTTPStatus.OK}

    return invoke


# -- the service's side: its WebSocket functions, invoked over HTTP -----------------------------------


def app_websocket_functions(module: Any, chalice_app: Any, stage: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(route key → the app module's WebSocket function, route key → its Lambda function name)."""
    handlers = {route: getattr(module, config.name) for route, config in chalice_app.websocket_handlers.items()}
    names = {route: f"{chalice_app.app_name}-{stage}-{config.name}" for route, config in chalice_app.websocket_handlers.items()}
    return handlers, names


def serve_integration(
    handlers: Mapping[str, Callable[[dict[str, Any], Any], Any]], function_names: Mapping[str, str], host: str, port: int
) -> ThreadingHTTPServer:
    """In the service's process: POST /websocket/<route key> with API Gateway's event runs that route's
    function and answers its result, as Lambda's Invoke does for API Gateway. Served from a daemon thread."""

    class Invoke(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            route_key = unquote(self.path.removeprefix("/websocket/"))
            handler = handlers.get(route_key)
            if not self.path.startswith("/websocket/") or handler is None:
                self._answer(HTTPStatus.NOT_FOUND, {"errorMessage": f"no function for route {route_key}"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            event = json.loads(self.rfile.read(length))
            try:
                result = handler(event, LambdaContext(function_names[route_key], 30))
            except Exception as error:  # a function that raised: Lambda reports it, API Gateway answers 500
                log.exception("%s raised", function_names[route_key])
                self._answer(HTTPStatus.BAD_GATEWAY, {"errorMessage": repr(error), "errorType": type(error).__name__})
                return
            self._answer(HTTPStatus.OK, result if isinstance(result, dict) else {"statusCode": HTTPStatus.OK})

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return  # the functions log for themselves

    server = ThreadingHTTPServer((host, port), Invoke)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="websocket-integration", daemon=True).start()
    return server


# -- running it ----------------------------------------------------------------------------------------


class RunningGateway:
    """A gateway on its own event loop in a daemon thread (for tests and the stack's process alike)."""

    def __init__(self, gateway: Gateway, host: str = "127.0.0.1", port: int = 0) -> None:
        self.gateway = gateway
        self._host = host
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="websocket-gateway", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        """Where clients connect: ws://host:port/stage."""
        return f"ws://{self._host}:{self.port}/{self.gateway.stage}"

    @property
    def management_endpoint(self) -> str:
        """The management API's endpoint, as boto3's `endpoint_url`: http://host:port/stage."""
        return f"http://{self._host}:{self.port}/{self.gateway.stage}"

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.gateway.application(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, backlog=1024)
        await site.start()
        # The bound port, when asked for port 0.
        self.port = int(self._runner.addresses[0][1])
        self.gateway.domain_name = f"{self._host}:{self.port}"

    def stop(self) -> None:
        async def _stop() -> None:
            if self._runner is not None:
                await self._runner.cleanup()
            close = getattr(self.gateway.integration, "close", None)
            if close is not None:
                await close()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    def __enter__(self) -> RunningGateway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--integration", required=True, help="the service process's WebSocket functions (serve_integration)")
    parser.add_argument("--stage", default=DEFAULT_STAGE)
    args = parser.parse_args(argv)
    die_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s websocket-gateway %(levelname)s %(message)s")
    running = RunningGateway(Gateway(HttpIntegration(args.integration), stage=args.stage), args.host, args.port)
    running.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"{READY} {json.dumps({'url': running.url, 'management': running.management_endpoint})}", flush=True)
    stop.wait()
    running.stop()
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
