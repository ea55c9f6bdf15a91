"""Notify test fixtures.

E-mail composition and the rules' tests use none of these and never touch AWS. The integration tests
share one in-process moto server per session, provisioned from the topology and with the shop's sender
verified in SES *before* `app` is imported (app.py builds its boto3 clients at import), and one fake CRM
(shop_devstack.crm_kintone) on a thread. Each test writes to its own recipients and orders, so tests do
not see each other's mail or records.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from unittest import mock

import pytest

from shop_devstack.crm_kintone import DEFAULT_APP_ID, DEFAULT_TOKEN, FakeCrmServer

SENDER = "shop@example.com"
# The event builders the test modules share (notify_events.py): pytest's importlib mode puts no test
# folder on the path by itself.
sys.path.insert(0, os.path.dirname(__file__))


@dataclass
class Aws:
    endpoint: str
    table: str
    crm: FakeCrmServer

    def sent_emails(self, to: str | None = None) -> list[dict[str, Any]]:
        """Every e-mail moto's SES accepted (optionally only those to `to`), oldest first."""
        with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=10) as response:
            messages = list(json.load(response).get("ses", {}).get("Message", []))
        return [m for m in messages if to is None or to in m["destinations"]["ToAddresses"]]


@pytest.fixture(scope="session")
def aws() -> Iterator[Aws]:
    import boto3

    from shop_devstack.testing import LOCAL_NAMING, provisioned_service

    with FakeCrmServer() as crm, provisioned_service("notify") as (endpoint, _):
        environment = {
            "SHOP_MAIL_SENDER": SENDER,
            "SHOP_CRM_URL": crm.url,
            "SHOP_CRM_API_TOKEN": DEFAULT_TOKEN,
            "SHOP_CRM_APP_ID": DEFAULT_APP_ID,
        }
        with mock.patch.dict(os.environ, environment):
            boto3.client("ses").verify_email_identity(EmailAddress=SENDER)
            yield Aws(endpoint=endpoint, table=LOCAL_NAMING.table("notify"), crm=crm)


@pytest.fixture(scope="session")
def notify_app(aws: Aws) -> ModuleType:
    import app

    return app
