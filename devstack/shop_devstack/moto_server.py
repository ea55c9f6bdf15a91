"""moto's server as the embedded AWS, with DynamoDB made linearizable.

moto's DynamoDB is not safe under concurrent requests: a cancelled TransactWriteItems is rolled back
by putting back a deep copy of the tables taken before it ran, which silently undoes whatever other
requests committed meanwhile, and concurrent scans can fail with "dictionary changed size during
iteration". Real DynamoDB transactions are serializable. So every DynamoDB (and DynamoDB Streams)
request is served one at a time; everything else — SQS long polls above all — stays concurrent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def serialize_dynamodb(app: WsgiApp) -> WsgiApp:
    lock = threading.Lock()

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            with lock:
                return list(app(environ, start_response))  # the whole response, inside the lock
        return app(environ, start_response)

    return application


class EmbeddedAwsServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = serialize_dynamodb(DomainDispatcherApplication(create_backend_app))
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://{self._server.host}:{self._server.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
