"""Shared fixtures for the control-plane tests (test modules cannot import each other under importlib mode)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest

from shop_devstack.testing import embedded_aws


@pytest.fixture(scope="module")
def module_aws_endpoint() -> Iterator[str]:
    """A fresh in-process moto server shared by one module's tests (which keep apart by stage names);
    plain boto3 clients reach it through AWS_ENDPOINT_URL.

    moto's backends are process-wide, so a new server still holds what earlier modules made: reset
    them first so these tests can count what exists.
    """
    with embedded_aws() as endpoint:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
        yield endpoint
