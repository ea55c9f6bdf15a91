"""Shared fixtures for the eventing tests (test modules cannot import each other under importlib mode)."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shop_devstack.testing import embedded_aws
from shop_eventing.envelope import DomainEvent
from shop_eventing.outbox import outbox_item, to_dynamodb


def _fresh_embedded_aws() -> Iterator[str]:
    with embedded_aws() as endpoint:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
        yield endpoint


@pytest.fixture
def aws_endpoint() -> Iterator[str]:
    """A fresh, empty in-process moto server; plain boto3 clients reach it through AWS_ENDPOINT_URL.

    moto's backends are process-wide, so a new server still holds what earlier tests in this process
    made (the known embedded_aws bug, see devstack/tests/test_dispatcher.py): reset them first so these
    tests can count what exists.
    """
    yield from _fresh_embedded_aws()


@pytest.fixture(scope="module")
def module_aws_endpoint() -> Iterator[str]:
    """The same, shared by one module's tests (which then keep apart by stage names)."""
    yield from _fresh_embedded_aws()


@pytest.fixture
def insert_record() -> Callable[..., dict[str, Any]]:
    """A Lambda DynamoDB stream record for a newly written outbox item of `event`."""

    def make(event: DomainEvent, source: str = "shop.test", *, event_name: str = "INSERT") -> dict[str, Any]:
        return {"eventName": event_name, "dynamodb": {"NewImage": to_dynamodb(outbox_item(event, source))}}

    return make
