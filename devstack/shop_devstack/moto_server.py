"""moto's server as the embedded AWS, with DynamoDB made linearizable, cancelled transactions kept out
of the streams, CloudFormation outputs kept, and browsers' CORS preflights to presigned URLs answered
as S3 answers them (`answer_preflights_unsigned`).

moto's DynamoDB is not safe under concurrent requests: concurrent scans can fail with "dictionary
changed size during iteration", and moto's own rollback of a cancelled TransactWriteItems put back a
copy of the tables taken before it ran, silently undoing whatever other requests committed meanwhile.
Real DynamoDB transactions are serializable. So every DynamoDB (and DynamoDB Streams) request is served
one at a time; everything else — SQS long polls above all — stays concurrent.

moto rolls a cancelled TransactWriteItems back by *replacing* each table object with a deep copy taken
before the transaction, which costs O(table size) on every transaction, cancelled or not, and orphans
every shard iterator opened before it (a reader then gets the cancelled writes as if committed and
skips as many committed records). `roll_back_transactions_in_place` replaces moto's method with the
same loop journaling only the items it touches, undone in place (decisions 0009 and 0011).

moto's CloudFormation applies an executed change set's resources but never recomputes the stack's
Outputs or its Exports (moto 5.2.5): a stack created or updated through a change set, which is how
deploy/stacks.py deploys, would report no outputs, and deleting one that declares an export fails with
a 500. `keep_change_set_outputs` recomputes both from the executed template.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from moto.cloudformation.models import CloudFormationBackend
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import StreamShard, Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


MODEL_DATA_PATH = "/moto-api/data.json"


def serialize_dynamodb(app: WsgiApp) -> WsgiApp:
    lock = threading.Lock()

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # moto's data.json checks each attribute serializes, then serializes them all again: a stream
        # record a concurrent write appended in between made it fail with a 500 (StreamRecord is not JSON
        # serializable), so it reads the models with DynamoDB held still.
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB") or environ.get("PATH_INFO") == MODEL_DATA_PATH:
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


def answer_preflights_unsigned(app: WsgiApp) -> WsgiApp:
    """A browser's CORS preflight (OPTIONS with Access-Control-Request-Method) to a presigned URL carries
    the URL's query, signed for the PUT it precedes: S3 answers a preflight from the bucket's CORS rules
    and checks no signature, where moto checks that one against the OPTIONS and refuses it (403). So a
    preflight reaches moto without its query, as S3 treats it; moto still applies the CORS rules."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "OPTIONS" and environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD"):
            environ = {**environ, "QUERY_STRING": ""}
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


class _TransactionJournal:
    """What a transaction must undo if it is cancelled: every item it touches as it was before its
    first write (a deep copy of that one item: an Update changes the Item object in place), whether
    the item's partition existed, and each touched stream shard's length (writes only append)."""

    def __init__(self) -> None:
        self._items: list[tuple[Table, DynamoType, DynamoType | None, Item | None, bool]] = []
        self._shards: dict[int, tuple[StreamShard, int]] = {}

    def remember(self, table: Table, key: dict[str, Any]) -> None:
        try:
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr is not None else None
        except (KeyError, TypeError):
            return  # moto refuses a key without the table's key attributes before it writes anything
        partition_existed = hash_key in table.items
        # `items` maps a hash key to its Item, or, with a range key, to a dict of range key -> Item.
        partitions: dict[DynamoType, Any] = table.items
        current = partitions.get(hash_key) if range_key is None else partitions.get(hash_key, {}).get(range_key)
        self._items.append((table, hash_key, range_key, copy.deepcopy(current), partition_existed))
        shard = table.stream_shard
        if shard is not None and id(shard) not in self._shards:
            self._shards[id(shard)] = (shard, len(shard.items))

    def roll_back(self) -> None:
        for table, hash_key, range_key, before, partition_existed in reversed(self._items):
            partitions: dict[DynamoType, Any] = table.items
            if range_key is None:
                if before is None:
                    partitions.pop(hash_key, None)
                else:
                    partitions[hash_key] = before
                continue
            partition = partitions.get(hash_key)
            if before is not None:
                partitions.setdefault(hash_key, {})[range_key] = before
            elif partition is not None:
                partition.pop(range_key, None)
                if not partition and not partition_existed:
                    del partitions[hash_key]  # moto's get_item makes an empty partition for a new key
        for shard, length in self._shards.values():
            del shard.items[length:]


def roll_back_transactions_in_place() -> None:
    """Patch moto (once per process) so a transaction costs what it touches, and a cancelled one leaves
    no trace in a table or its stream.

    moto 5.2.5's `DynamoDBBackend.transact_write_items` (moto/dynamodb/models/__init__.py) deep-copies
    every table the transaction touches, all items and stream records, so that it can roll back: each
    transaction cost O(table size), and the shop slowed down order after order (decision 0011). It then
    rolled back by putting the copies in `self.tables`, which orphaned open shard iterators (decision
    0009). This replacement runs moto's own loop (unicity check, conditions evaluated item by item,
    moto's put/update/delete, one reason per item in the cancellation) but journals only the items it
    touches, and rolls back in place: the touched items are put back as they were and each touched
    stream shard is cut back to its length before the transaction, so every iterator, old or new, reads
    one shard that never shows a cancelled write. A write changes nothing else on a table (indexes are
    computed from `items`). moto ignores `ClientRequestToken`, so there is no idempotency window to keep.
    """
    if getattr(DynamoDBBackend.transact_write_items, "rolls_back_in_place", False):
        return

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        journal = _TransactionJournal()
        targets: set[tuple[str, str]] = set()
        errors: list[tuple[str, str, dict[str, Any] | None] | tuple[None, None, None]] = []
        try:
            for item in transact_items:
                if len(item) > 1:
                    raise TransactWriteSingleOpException
                errors.append(_apply(self, item, journal, targets))
        except BaseException:
            journal.roll_back()  # moto re-raises these (validation, same item twice) as the request's error
            raise
        if any(code is not None for code, _, _ in errors):
            journal.roll_back()
            raise TransactionCanceledException(errors)

    transact_write_items.rolls_back_in_place = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _apply(
    backend: DynamoDBBackend, item: dict[str, Any], journal: _TransactionJournal, targets: set[tuple[str, str]]
) -> tuple[str, str, dict[str, Any] | None] | tuple[None, None, None]:
    """One transaction item, as moto 5.2.5's loop applies it; returns its cancellation reason, if any."""
    original_item: dict[str, Any] | None = None
    try:
        op_type, op = next(iter(item.items()))
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            raise ValueError("Unsupported transaction operation")
        table_name = op["TableName"]
        key = _key(backend, op_type, op)
        target = (str(table_name), str(dict(sorted(key.items()))))
        if target in targets:
            raise MultipleTransactionsException()
        targets.add(target)

        if op_type != "ConditionCheck":
            # Before moto's get_item, which adds an empty partition for a new hash key of a table with a
            # range key: the journal must see the table as the transaction found it.
            journal.remember(backend.get_table(table_name), key)
        current = backend.get_item(table_name, key)
        if op.get("ConditionExpression") is not None:
            condition = get_filter_expression(
                op["ConditionExpression"], op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            )
            if not condition.expr(current):
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    original_item = current.to_json()["Attributes"]
                raise ConditionalCheckFailed(item=original_item)
        if op_type != "ConditionCheck":
            _write(backend, op_type, op, key)
        return (None, None, None)
    except (MultipleTransactionsException, MockValidationException):
        raise
    except ConditionalCheckFailed as error:
        return ("ConditionalCheckFailed", str(error.message), original_item)
    except Exception as error:  # as moto does: any other failure is this item's reason
        return (type(error).__name__, str(error), original_item)


def _key(backend: DynamoDBBackend, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    table = backend.get_table(op["TableName"])
    key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = op["Item"][table.range_key_attr]
    return key


def _write(backend: DynamoDBBackend, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> None:
    conditions: dict[str, Any] = {
        "condition_expression": op.get("ConditionExpression"),
        "expression_attribute_names": op.get("ExpressionAttributeNames"),
        "expression_attribute_values": op.get("ExpressionAttributeValues"),
    }
    if op_type == "Put":
        backend.put_item(op["TableName"], op["Item"], **conditions)
    elif op_type == "Delete":
        backend.delete_item(op["TableName"], key, **conditions)
    else:
        backend.update_item(op["TableName"], key, update_expression=op["UpdateExpression"], **conditions)


class EmbeddedAwsServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        keep_change_set_outputs()
        roll_back_transactions_in_place()
        app = count_requests(answer_preflights_unsigned(serialize_dynamodb(DomainDispatcherApplication(create_backend_app))))
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
