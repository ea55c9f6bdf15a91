"""Each queue gets several pollers, as Lambda's SQS event source has, so two batches of one
subscription run at the same time and race as they do on AWS (a slow batch no longer holds the queue)."""

from __future__ import annotations

import threading
import types
from typing import Any

import pytest
from chalice.app import Chalice

from shop_devstack.service_host import SQS_POLLERS_ENV, _event_sources
from shop_devstack.testing import eventually

PingStack = Any


def pollers_for(
    stack: PingStack, handler: Any, monkeypatch: pytest.MonkeyPatch, pollers: str
) -> tuple[threading.Event, list[Any]]:
    monkeypatch.setenv(SQS_POLLERS_ENV, pollers)
    app = Chalice(app_name="shop-consumer")
    queue_name = stack.queue_url.rsplit("/", 1)[1]
    # Chalice names the function after the handler, and the host looks it up by that name in the module.
    handler.__name__ = "handle_ping"
    module = types.SimpleNamespace(handle_ping=app.on_sqs_message(queue=queue_name, batch_size=1)(handler))
    stop = threading.Event()
    return stop, _event_sources(module, app, "local", stop, lambda: False)


def test_two_batches_of_one_queue_are_handled_at_the_same_time(ping_stack: PingStack, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each batch waits inside the handler until the other one is there too: only concurrent
    # pollers get both through; one poller alone would break the barrier on its timeout.
    both_inside = threading.Barrier(2, timeout=20)
    handled: list[str] = []

    def handler(event: Any) -> None:
        both_inside.wait()
        handled.extend(record.body for record in event)

    stop, sources = pollers_for(ping_stack, handler, monkeypatch, "2")
    assert [source.name for source in sources] == [
        "sqs:shop-consumer-local-handle_ping#1",
        "sqs:shop-consumer-local-handle_ping#2",
    ]
    for body in ("first", "second"):
        ping_stack.sqs.send_message(QueueUrl=ping_stack.queue_url, MessageBody=body)
    for source in sources:
        source.start()
    try:
        eventually(lambda: sorted(handled) == ["first", "second"], timeout=30)
        assert not both_inside.broken
        assert ping_stack.depth() == (0, 0)
    finally:
        stop.set()
        for source in sources:
            source.join(timeout=5)


def test_the_number_of_pollers_is_checked(ping_stack: PingStack, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=SQS_POLLERS_ENV):
        pollers_for(ping_stack, lambda event: None, monkeypatch, "0")
    _, sources = pollers_for(ping_stack, lambda event: None, monkeypatch, "1")
    assert [source.name for source in sources] == ["sqs:shop-consumer-local-handle_ping"]
