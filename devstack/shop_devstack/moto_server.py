"""moto's server as the embedded AWS, with DynamoDB made linearizable and CloudFormation outputs kept.

moto's DynamoDB is not safe under concurrent requests: a cancelled TransactWriteItems is rolled back
by putting back a deep copy of the tables taken before it ran, which silently undoes whatever other
requests committed meanwhile, and concurrent scans can fail with "dictionary changed size during
iteration". Real DynamoDB transactions are serializable. So every DynamoDB (and DynamoDB Streams)
request is served one at a time; everything else — SQS long polls above all — stays concurrent.

moto's CloudFormation applies an executed change set's resources but never recomputes the stack's
Outputs or its Exports (moto 5.2.5): a stack created or updated through a change set, which is how
deploy/stacks.py deploys, would report no outputs, and deleting one that declares an export fails with
a 500. `keep_change_set_outputs` recomputes both from the executed template.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.cloudformation.models import CloudFormationBackend
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


def keep_change_set_outputs() -> None:
    """Patch moto (once per process) so executing a change set refreshes the stack's Outputs and Exports."""
    execute = CloudFormationBackend.execute_change_set
    if getattr(execute, "keeps_outputs", False):
        return

    def execute_change_set(self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None) -> None:
        execute(self, change_set_name, stack_name)
        for change_set in self.change_sets.values():
            if change_set_name in (change_set.change_set_id, change_set.change_set_name):
                stack = self.stacks[change_set.stack_id]
                stack._parse_template()
                stack.output_map = stack._create_output_map()
                for export in stack.exports:  # deleting the stack later removes them: they must exist
                    self.exports[export.name] = export

    execute_change_set.keeps_outputs = True  # type: ignore[attr-defined]
    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]


class EmbeddedAwsServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        keep_change_set_outputs()
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
