"""The local WebSocket API behaves as API Gateway's does for its clients and its backend: a refused
$connect refuses the handshake with the function's answer, messages reach $default in order with the
connection's id, the management API (through boto3's own apigatewaymanagementapi client) posts, reads
and closes connections and answers GoneException for one it does not hold, and a closed connection's
$disconnect comes once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from shop_devstack.stack import LOCAL_CREDENTIALS
from shop_devstack.testing import eventually
from shop_devstack.websocket_gateway import Gateway, RunningGateway, in_process

WAIT = 10


class Backend:
    """The app's WebSocket functions: record every event; refuse $connect without ?token=let-me-in."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def handler(self, route_key: str) -> Any:
        def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
            with self._lock:
                self.events.append(event)
            if route_key == "$connect" and (event.get("queryStringParameters") or {}).get("token") != "let-me-in":
                return {"statusCode": 401, "body": json.dumps({"error": {"code": "unauthorized", "message": "no"}})}
            return {"statusCode": 200}

        return handle

    def routes(self, route_key: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e["requestContext"]["routeKey"] == route_key]


@pytest.fixture
def backend() -> Backend:
    return Backend()


@pytest.fixture
def gateway(backend: Backend) -> Iterator[RunningGateway]:
    routes = ("$connect", "$default", "$disconnect")
    integration = in_process({r: backend.handler(r) for r in routes}, {r: f"shop-test-local-{r}" for r in routes})
    with RunningGateway(Gateway(integration, stage="api")) as running:
        yield running


@pytest.fixture
def management(gateway: RunningGateway) -> Any:
    session = boto3.Session(
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=LOCAL_CREDENTIALS["AWS_DEFAULT_REGION"],
    )
    return session.client("apigatewaymanagementapi", endpoint_url=gateway.management_endpoint)


def test_a_refused_connect_is_the_handshakes_answer_and_makes_no_connection(gateway, backend):
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{gateway.url}?token=wrong", open_timeout=WAIT)

    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["error"]["code"] == "unauthorized"
    [event] = backend.routes("$connect")
    assert event["queryStringParameters"] == {"token": "wrong"}
    assert gateway.gateway.connections == {}
    assert backend.routes("$disconnect") == []  # nothing was connected, so nothing disconnects


def test_messages_reach_default_in_order_and_the_backend_answers_through_the_management_api(gateway, backend, management):
    with connect(f"{gateway.url}?token=let-me-in", open_timeout=WAIT) as client:
        [connected] = backend.routes("$connect")
        context = connected["requestContext"]
        connection_id = context["connectionId"]
        assert (context["eventType"], context["stage"], context["domainName"]) == ("CONNECT", "api", f"127.0.0.1:{gateway.port}")
        for n in range(3):
            client.send(json.dumps({"n": n}))
        eventually(lambda: len(backend.routes("$default")) == 3, timeout=WAIT, what="three messages at $default")
        messages = backend.routes("$default")
        assert [json.loads(m["body"])["n"] for m in messages] == [0, 1, 2]
        assert {m["requestContext"]["connectionId"] for m in messages} == {connection_id}

        management.post_to_connection(ConnectionId=connection_id, Data=b'{"type": "hello"}')
        assert json.loads(client.recv(timeout=WAIT)) == {"type": "hello"}
        info = management.get_connection(ConnectionId=connection_id)
        assert info["Identity"]["SourceIp"] == "127.0.0.1"
        assert info["LastActiveAt"] >= info["ConnectedAt"]

        management.delete_connection(ConnectionId=connection_id)
        with pytest.raises(ConnectionClosed):
            client.recv(timeout=WAIT)

    eventually(lambda: backend.routes("$disconnect"), timeout=WAIT, what="$disconnect")
    [disconnected] = backend.routes("$disconnect")
    assert disconnected["requestContext"]["connectionId"] == connection_id
    with pytest.raises(ClientError) as gone:
        management.post_to_connection(ConnectionId=connection_id, Data=b"{}")
    assert gone.value.response["Error"]["Code"] == "GoneException"
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


def test_an_unknown_connection_is_gone_and_a_payload_over_128_kib_is_refused(gateway, management):
    with pytest.raises(management.exceptions.GoneException):
        management.post_to_connection(ConnectionId="never-connected=", Data=b"{}")
    with pytest.raises(management.exceptions.GoneException):
        management.get_connection(ConnectionId="never-connected=")
    with connect(f"{gateway.url}?token=let-me-in", open_timeout=WAIT):
        [connection_id] = gateway.gateway.connections
        with pytest.raises(management.exceptions.PayloadTooLargeException):
            management.post_to_connection(ConnectionId=connection_id, Data=b"x" * (128 * 1024 + 1))


def test_a_client_that_closes_is_disconnected_once(gateway, backend):
    with connect(f"{gateway.url}?token=let-me-in", open_timeout=WAIT):
        pass

    eventually(lambda: backend.routes("$disconnect"), timeout=WAIT, what="$disconnect")
    [disconnected] = backend.routes("$disconnect")
    assert disconnected["requestContext"]["disconnectStatusCode"] == 1000
    assert gateway.gateway.connections == {}
