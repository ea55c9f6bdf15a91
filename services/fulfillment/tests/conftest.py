"""Fulfillment test fixtures.

Domain tests use none of these and never touch AWS. The integration tests share one in-process moto
server per session, provisioned from the topology *before* `app` is imported (app.py builds its boto3
clients at import); each test uses its own order ids, so tests do not see each other's data.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest


@pytest.fixture(scope="session")
def aws() -> Iterator[Any]:
    """The fulfillment table on the session's embedded AWS (shop_devstack.testing.ServiceTable)."""
    from shop_devstack.testing import service_table

    with service_table("fulfillment") as table:
        yield table


@pytest.fixture(scope="session")
def fulfillment_app(aws: Any) -> ModuleType:
    import app

    return app


@pytest.fixture
def client(fulfillment_app: ModuleType, issuer: Any) -> Iterator[Any]:
    """Signed in as wes by default; `client.http.anonymous` sends no token."""
    from shop_devstack.testing import signed_in_client

    with signed_in_client(fulfillment_app.app, issuer, "wes") as signed_in:
        yield signed_in
