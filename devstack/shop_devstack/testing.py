"""Test helpers: an in-process moto server on loopback, reached with plain boto3, and the events
Lambda hands a subscriber.

    with embedded_aws() as endpoint:      # sets AWS_ENDPOINT_URL and fake credentials
        provision(TOPOLOGY, Naming("test"))

    with provisioned_service("catalog") as (endpoint, provisioned):   # what a service's app.py expects
        import app

    batch = lambda_sqs_event(eventbridge_body(event), queue_arn=subscription_queue_arn("notify", "order-emails"))
    response = deliver_to_subscription(app, "notify", "order-emails", eventbridge_body(event))

Each call starts a server on its own port, but moto keeps its data for the whole Python process,
whichever server serves it: tests isolate themselves by naming their resources uniquely (e.g. a
random stage, `Naming(stage=f"t{uuid4().hex[:8]}")`), never by wiping state others may still use.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import boto3
from chalice.test import Client

from shop_contracts import TOPOLOGY
from shop_contracts.events import Money, OrderLine, PaymentCapturedV1, ProductKind
from shop_devstack.dispatcher import LambdaContext
from shop_devstack.moto_server import EmbeddedAwsServer
from shop_devstack.oidc_issuer import AUDIENCE, IssuerServer
from shop_devstack.stack import LOCAL_CREDENTIALS
from shop_eventing.envelope import DomainEvent, new_event
from shop_eventing.outbox import from_dynamodb, to_dynamodb
from shop_eventing.topology import Naming
from shop_infra.provision import Provisioned, provision

REGION = LOCAL_CREDENTIALS["AWS_DEFAULT_REGION"]
ACCOUNT_ID = "123456789012"  # moto's default account
LOCAL_NAMING = Naming(stage="local")
"""The naming a service's tests provision with (`provisioned_service`): resources named shop-local-..."""


@contextmanager
def embedded_aws() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = EmbeddedAwsServer()
    server.start()
    endpoint = server.endpoint
    with mock.patch.dict(os.environ, {**LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}):
        try:
            yield endpoint
        finally:
            server.stop()  # the server stops before the environment is restored


@contextmanager
def provisioned_service(service: str) -> Iterator[tuple[str, Provisioned]]:
    """An embedded AWS with the shop's whole topology provisioned under `LOCAL_NAMING`, and the
    environment `service`'s app.py reads at import: SHOP_STAGE and SHOP_TABLE_STREAM_ARN (its table's
    stream). Yields (endpoint, what provisioning made); the environment is restored on exit.

    Import the service's `app` inside the block, never before: it builds its boto3 clients at import.
    """
    with embedded_aws() as endpoint:
        provisioned = provision(TOPOLOGY, LOCAL_NAMING)
        environment = {"SHOP_STAGE": LOCAL_NAMING.stage, "SHOP_TABLE_STREAM_ARN": provisioned.table_stream_arns[service]}
        with mock.patch.dict(os.environ, environment):
            yield endpoint, provisioned


@dataclass
class ServiceTable:
    """One service's table on the tests' embedded AWS, as its integration tests look into it."""

    endpoint: str
    table: str
    dynamodb: Any

    def outbox(self, **match: object) -> list[dict[str, Any]]:
        """Every outbox item of the table whose attributes equal `match`, oldest first."""
        return outbox_items(self.dynamodb, self.table, **match)

    def item(self, pk: str, sk: str) -> dict[str, Any] | None:
        found = self.dynamodb.get_item(TableName=self.table, Key=to_dynamodb({"pk": pk, "sk": sk}), ConsistentRead=True)
        return from_dynamodb(found["Item"]) if "Item" in found else None

    def processed(self, subscriber: str, event_id: str) -> bool:
        """Whether `subscriber` has marked `event_id` processed (its effect committed)."""
        return self.item(f"PROCESSED#{subscriber}", event_id) is not None

    def stream_records(self, pk: str) -> list[dict[str, Any]]:
        """Every record of the table's stream about the items under partition key `pk`, oldest first, in
        the shape Lambda (and the dispatcher) hands the relay: what a relay's change feed reads."""
        streams = boto3.client("dynamodbstreams")
        arn = self.dynamodb.describe_table(TableName=self.table)["Table"]["LatestStreamArn"]
        records: list[dict[str, Any]] = []
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
            position = iterator["ShardIterator"]
            while position:
                page = streams.get_records(ShardIterator=position, Limit=1000)
                records += page["Records"]
                position = page.get("NextShardIterator") if page["Records"] else None
        about = []
        for record in records:
            dynamodb = dict(record["dynamodb"])
            if dynamodb["Keys"]["pk"]["S"] != pk:
                continue
            created = dynamodb.get("ApproximateCreationDateTime")
            if isinstance(created, datetime):
                # boto3 parses it; Lambda hands it over as epoch seconds.
                dynamodb["ApproximateCreationDateTime"] = created.timestamp()
            about.append({"eventID": record["eventID"], "eventName": record["eventName"], "dynamodb": dynamodb})
        return about


@contextmanager
def service_table(service: str) -> Iterator[ServiceTable]:
    """`provisioned_service(service)`, seen as that service's table."""
    with provisioned_service(service) as (endpoint, _):
        yield ServiceTable(endpoint=endpoint, table=LOCAL_NAMING.table(service), dynamodb=boto3.client("dynamodb"))


def outbox_items(dynamodb: Any, table: str, **match: object) -> list[dict[str, Any]]:
    """Every outbox item of `table` whose attributes equal `match`, oldest first, its detail parsed.

    `dynamodb` is a boto3 DynamoDB client; the scan is consistent, so a commit just made is seen.
    """
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="begins_with(pk, :outbox)",
        ExpressionAttributeValues={":outbox": {"S": "OUTBOX#"}},
        ConsistentRead=True,
    ):
        items += [from_dynamodb(item) for item in page["Items"]]
    found = [item for item in items if all(item.get(k) == v for k, v in match.items())]
    for item in found:
        item["detail"] = json.loads(item["detail"])
    return sorted(found, key=lambda item: (item["occurred_at"], item["event_id"]))


def eventbridge_body(event: DomainEvent, *, envelope_id: str | None = None) -> str:
    """The SQS message body an EventBridge rule target delivers for `event`.

    The EventBridge envelope gets a fresh `id` every time (a replay or a redrive gets a new one too)
    unless `envelope_id` is given; the event's own `event_id` is in the detail, unchanged.
    """
    meta = event.metadata
    return _eventbridge_envelope(event.to_detail(), meta.event_type, meta.producer, meta.occurred_at, envelope_id)


def raw_eventbridge_body(detail: object, *, detail_type: str, source: str) -> str:
    """An EventBridge envelope around any `detail`, valid or not (for poison-message tests): sent now,
    with a fresh envelope `id`."""
    return _eventbridge_envelope(detail, detail_type, source, datetime.now(UTC), None)


def _eventbridge_envelope(detail: object, detail_type: str, source: str, sent: datetime, envelope_id: str | None) -> str:
    return json.dumps(
        {
            "version": "0",
            "id": envelope_id or str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": source,
            "time": sent.isoformat(),
            "region": REGION,
            "resources": [],
            "detail": detail,
        }
    )


def subscription_queue_arn(service: str, subscription: str, *, naming: Naming = LOCAL_NAMING) -> str:
    """The ARN of a subscription's queue as the embedded AWS names it (its region, moto's account)."""
    return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{naming.queue(service, subscription)}"


def lambda_sqs_event(*bodies: str, queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event source passes the function: one record per body, in order.

    Each record has the shape Lambda delivers, as received for the first time, and its own messageId
    and receiptHandle (chalice's test event generator repeats them, which hides partial-batch bugs).
    """
    sent_ms = str(int(time.time() * 1000))
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"handle-{uuid.uuid4()}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": sent_ms,
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": sent_ms,
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - what SQS computes
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for body in bodies
        ]
    }


def deliver_to_subscription(
    service_app: Any, service: str, subscription: str, *bodies: str, naming: Naming = LOCAL_NAMING
) -> dict[str, Any]:
    """Hand `bodies` as one batch to the function `service_app` (a service's imported `app` module)
    registers for the subscription's queue, as Lambda's SQS event source would; returns its response.

    The function is found the way the embedded stack finds it (service_host), so a test exercises the
    Chalice wiring too, not only the Subscriber behind it."""
    queue = naming.queue(service, subscription)
    chalice_app = service_app.app
    registered = [source.name for source in chalice_app.event_sources if getattr(source, "queue", None) == queue]
    if len(registered) != 1:
        raise LookupError(f"{service}'s app registers {len(registered)} functions for queue {queue}, expected one")
    handler = getattr(service_app, registered[0])
    timeout = TOPOLOGY.service(service).subscription(subscription).visibility_timeout_seconds
    # Chalice names each Lambda function <app>-<stage>-<handler>.
    context = LambdaContext(f"{chalice_app.app_name}-{naming.stage}-{registered[0]}", timeout_seconds=timeout)
    response = handler(lambda_sqs_event(*bodies, queue_arn=subscription_queue_arn(service, subscription, naming=naming)), context)
    return dict(response)


def deliver_example(service_app: Any, service: str, subscription: str, detail: Mapping[str, Any]) -> dict[str, Any]:
    """Hand a consumer-contract example (an event `detail`) to the subscription's function, wrapped in
    the EventBridge envelope its producer's rule would give it; returns the function's response."""
    event_type = detail["metadata"]["event_type"]
    body = raw_eventbridge_body(detail, detail_type=event_type, source=TOPOLOGY.producer_of(event_type).source)
    return deliver_to_subscription(service_app, service, subscription, body)


def eventually[T](probe: Callable[[], T | None], *, timeout: float = 20, interval: float = 0.1, what: str = "condition") -> T:
    """Poll until `probe` returns something truthy; fail with `what` after `timeout` seconds.

    For waiting on asynchronous flows only: the timeout bounds a hang, it is never the assertion.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# -- sign-in -------------------------------------------------------------------------------------


@contextmanager
def local_issuer() -> Iterator[IssuerServer]:
    """The shop's local OIDC issuer on a thread, and the environment every service's sign-in reads
    (SHOP_AUTH_ISSUER, SHOP_AUTH_AUDIENCE). Services build their verifier on the first protected
    request, so this may start before or after `app` is imported, but must be on while tests call."""
    with IssuerServer() as server, mock.patch.dict(os.environ, {"SHOP_AUTH_ISSUER": server.url, "SHOP_AUTH_AUDIENCE": AUDIENCE}):
        yield server


def bearer(issuer: IssuerServer, user: str = "ada", **claims: Any) -> dict[str, str]:
    """An Authorization header with an access token for a demo user, minted by the issuer's current key;
    `claims` override the defaults (exp=..., aud=..., "cognito:groups"=...)."""
    return {"Authorization": f"Bearer {issuer.issuer.mint({'username': user, **claims})}"}


class SignedInHttp:
    """A chalice test client's `http` whose requests carry `headers` (a token) unless they bring their
    own Authorization; `anonymous` is the bare client."""

    def __init__(self, http: Any, headers: Mapping[str, str]) -> None:
        self.anonymous = http
        self._headers = dict(headers)

    def request(self, method: str, path: str, headers: Mapping[str, str] | None = None, body: bytes | str = b"") -> Any:
        return self.anonymous.request(method, path, headers={**self._headers, **(headers or {})}, body=body)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)


@dataclass
class SignedInClient:
    """What the services' tests call `client`: `client.http` signed in, `client.http.anonymous` not."""

    http: SignedInHttp


@contextmanager
def signed_in_client(chalice_app: Any, issuer: IssuerServer, user: str) -> Iterator[SignedInClient]:
    """Chalice's test client for `chalice_app`, sending `user`'s access token from `issuer` on every call."""
    with Client(chalice_app) as test_client:
        yield SignedInClient(SignedInHttp(test_client.http, bearer(issuer, user)))


def payment_captured(
    order_id: str,
    lines: list[tuple[str, ProductKind, int]],
    *,
    now: datetime,
    address: str | None = "1 Main St, Springfield",
    unit_price: int = 1000,
) -> DomainEvent:
    """A PaymentCaptured v1 from orders for `lines` of (sku, kind, quantity), each at `unit_price` USD."""
    data = PaymentCapturedV1(
        order_id=order_id,
        payment_id="ch_test",
        amount=Money(amount=sum(quantity * unit_price for _, _, quantity in lines), currency="USD"),
        customer_email="buyer@example.com",
        lines=[
            OrderLine(
                sku=sku, name=f"Product {sku}", kind=kind, quantity=quantity, unit_price=Money(amount=unit_price, currency="USD")
            )
            for sku, kind, quantity in lines
        ],
        shipping_address=address,
    )
    return new_event(data, producer="shop.orders", correlation_id=order_id, now=now)
