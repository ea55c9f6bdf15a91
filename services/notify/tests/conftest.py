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

    from shop_contracts import TOPOLOGY
    from shop_devstack.testing import embedded_aws
    from shop_eventing.provision import provision
    from shop_eventing.topology import Naming

    saved = {k: os.environ.get(k) for k in ("SHOP_STAGE", "SHOP_TABLE_STREAM_ARN", "SHOP_MAIL_SENDER")}
    with embedded_aws() as endpoint:
        naming = Naming(stage="local")
        provisioned = provision(TOPOLOGY, naming)
        boto3.client("ses").verify_email_identity(EmailAddress=SENDER)
        os.environ["SHOP_STAGE"] = "local"
        os.environ["SHOP_TABLE_STREAM_ARN"] = provisioned.table_stream_arns["notify"]
        os.environ["SHOP_MAIL_SENDER"] = SENDER
        try:
            yield Aws(endpoint=endpoint, table=naming.table("notify"))
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@pytest.fixture(scope="session")
def notify_app(aws: Aws) -> ModuleType:
    import app

    return app
