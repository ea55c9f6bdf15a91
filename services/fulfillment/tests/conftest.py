"""Fulfillment test fixtures.

Domain tests use none of these and never touch AWS. The integration tests share one in-process moto
server per session, provisioned from the topology *before* `app` is imported (app.py builds its boto3
clients at import); each test uses its own order ids, so tests do not see each other's data.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import ModuleType
from typing import Any
from unittest import mock

import pytest
from tests.arrange import THREE_PL_TOKEN as TOKEN
from tests.arrange import WEBHOOK_SECRET


@pytest.fixture(scope="session")
def aws() -> Iterator[Any]:
    """The fulfillment table on the session's embedded AWS (shop_devstack.testing.ServiceTable)."""
    from shop_devstack.testing import service_table

    with service_table("fulfillment") as table:
        yield table


@pytest.fixture(scope="session")
def logistics_3pl() -> Iterator[Any]:
    """The fake 3PL (shop_devstack.logistics_3pl) in-process, and the environment fulfillment's adapter
    reads (LOGISTICS_API_URL, its token, the webhook secret, a short timeout for the timeout drills).
    Tests reset its faults themselves (`logistics_3pl.logistics.faults`)."""
    from shop_devstack.logistics_3pl import LogisticsServer

    with LogisticsServer(token=TOKEN, webhook_secret=WEBHOOK_SECRET) as server:
        environment = {
            "LOGISTICS_API_URL": server.url,
            "LOGISTICS_API_TOKEN": TOKEN,
            "LOGISTICS_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "LOGISTICS_TIMEOUT_SECONDS": "1",
        }
        with mock.patch.dict(os.environ, environment):
            yield server


@pytest.fixture(scope="session")
def fulfillment_app(aws: Any, logistics_3pl: Any) -> ModuleType:
    import app

    return app


@pytest.fixture
def client(fulfillment_app: ModuleType, issuer: Any) -> Iterator[Any]:
    """Signed in as wes by default; `client.http.anonymous` sends no token."""
    from shop_devstack.testing import signed_in_client

    with signed_in_client(fulfillment_app.app, issuer, "wes") as signed_in:
        yield signed_in
