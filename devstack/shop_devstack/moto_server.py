"""moto's server as the embedded AWS, with DynamoDB made linearizable, cancelled transactions kept out
of the streams, and CloudFormation outputs kept.

moto's DynamoDB is not safe under concurrent requests: a cancelled TransactWriteItems is rolled back
by putting back a deep copy of the tables taken before it ran, which silently undoes whatever other
requests committed meanwhile, and concurrent scans can fail with "dictionary changed size during
iteration". Real DynamoDB transactions are serializable. So every DynamoDB (and DynamoDB Streams)
request is served one at a time; everything else — SQS long polls above all — stays concurrent.

moto also rolls a cancelled TransactWriteItems back by *replacing* each table object with that copy.
The transaction's writes went into the replaced object, stream shard included, and a shard iterator
opened before the transaction still reads that discarded shard. Serving requests one at a time does
not prevent it: a stream reader asks for an iterator and reads it in two requests, and a transaction
can run in between. Such a reader gets the cancelled writes as if committed (an outbox item that never
existed gets published) and, since the restored shard hands out the same sequence numbers again, then
skips as many committed records.
`roll_back_transactions_in_place` keeps the live table objects and puts the copy's content into them.

moto's CloudFormation applies an executed change set's resources but never recomputes the stack's
Outputs or its Exports (moto 5.2.5): a stack created or updated through a change set, which is how
deploy/stacks.py deploys, would report no outputs, and deleting one that declares an export fails with
a 500. `keep_change_set_outputs` recomputes both from the executed template.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from moto.cloudformation.models import CloudFormationBackend
from moto.dynamodb.models import DynamoDBBackend
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


REQUEST_COUNTS_PATH = "/_shop/request-counts"


def count_requests(app: WsgiApp) -> WsgiApp:
    """Counts the requests served, by AWS service (the signature's credential scope) and operation
    (`X-Amz-Target`, for the JSON protocols: DynamoDB, Streams, SQS, EventBridge), and serves the
    counts as JSON at REQUEST_COUNTS_PATH: what a change costs in requests can then be read off a
    running stack (`python -m shop_devstack.burst_probe`). One dict update per request."""
    counts: Counter[str] = Counter()

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == REQUEST_COUNTS_PATH:
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(dict(counts)).encode()]
        scope = environ.get("HTTP_AUTHORIZATION", "").split("Credential=", 1)[-1].split("/")
        service = scope[3] if len(scope) > 3 else "unsigned"
        counts[f"{service} {environ.get('HTTP_X_AMZ_TARGET', '').rpartition('.')[2] or environ.get('REQUEST_METHOD')}"] += 1
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


def roll_back_transactions_in_place() -> None:
    """Patch moto (once per process) so a cancelled transaction leaves no trace in a table or its stream.

    moto 5.2.5 (`DynamoDBBackend.transact_write_items`, moto/dynamodb/models/__init__.py) deep-copies
    every table a transaction touches, applies the items one by one (each write appends a record to the
    table's stream shard), and when any item fails puts the copies in `self.tables` in place of the
    tables it wrote to. A shard iterator holds the shard object, not the table: one opened before the
    transaction keeps reading the discarded shard, which holds the cancelled writes. On DynamoDB a
    cancelled transaction never reaches the stream. So after moto's rollback we put the live table
    object back and give it the copy's items and stream records: every iterator, old or new, then reads
    the one shard, as it was before the transaction. A write only ever changes a table's `items` (and
    the Item objects in them) and its shard's records, so those two are all there is to restore.
    """
    transact = DynamoDBBackend.transact_write_items
    if getattr(transact, "rolls_back_in_place", False):
        return

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        live = {}
        for item in transact_items:
            for operation in item.values():
                name = operation.get("TableName") if isinstance(operation, dict) else None
                if name in self.tables:
                    live[name] = self.tables[name]
        try:
            transact(self, transact_items)
        finally:
            for name, table in live.items():
                restored = self.tables.get(name)
                if restored is None or restored is table:
                    continue  # committed, or failed before moto wrote anything
                table.items = restored.items
                if table.stream_shard is not None and restored.stream_shard is not None:
                    table.stream_shard.items = restored.stream_shard.items
                self.tables[name] = table

    transact_write_items.rolls_back_in_place = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


class EmbeddedAwsServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        keep_change_set_outputs()
        roll_back_transactions_in_place()
        app = count_requests(serialize_dynamodb(DomainDispatcherApplication(create_backend_app)))
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
