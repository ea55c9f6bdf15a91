"""Notify test fixtures.

E-mail composition tests use none of these and never touch AWS. The integration tests share one
in-process moto server per session, provisioned from the topology and with the shop's sender verified
in SES *before* `app` is imported (app.py builds its boto3 clients at import). Each test writes to its
own recipients, so tests do not see each other's mail.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from unittest import mock

import pytest

SENDER = "shop@example.com"


@dataclass
class Aws:
    endpoint: str
    table: str

    def sent_emails(self, to: str | None = None) -> list[dict[str, Any]]:
        """Every e-mail moto's SES accepted (optionally only those to `to`), oldest first."""
        with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=10) as response:
            messages = list(json.load(response).get("ses", {}).get("Message", []))
        return [m for m in messages if to is None or to in m["destinations"]["ToAddresses"]]


@pytest.fixture(scope="session")
def aws() -> Iterator[Aws]:
    import boto3

    from shop_devstack.testing import LOCAL_NAMING, provisioned_service

    with provisioned_service("notify") as (endpoint, _), mock.patch.dict(os.environ, {"SHOP_MAIL_SENDER": SENDER}):
        boto3.client("ses").verify_email_identity(EmailAddress=SENDER)
        yield Aws(endpoint=endpoint, table=LOCAL_NAMING.table("notify"))


@pytest.fixture(scope="session")
def notify_app(aws: Aws) -> ModuleType:
    import app

    return app
