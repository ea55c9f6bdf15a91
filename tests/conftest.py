"""End-to-end fixtures: the embedded shop, started once per session exactly as `make run` starts it
(every end-to-end test shares it; drills such as duplicate delivery are switched on per test), and a
small HTTP client for its APIs that signs in at the shop's real local issuer (code flow with PKCE) as
its demo users. Service logs are kept in logs/e2e/<stack>/ for post-mortems."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import urllib3

from shop_devstack.signin import sign_in
from shop_devstack.stack import EmbeddedShop, StackOptions
from shop_devstack.testing import eventually

REPO_ROOT = Path(__file__).resolve().parents[1]
# Who calls by default: staff write the catalog, the warehouse reads shipments, a customer the rest.
DEFAULT_USER = "ada"
USER_FOR = {("catalog", "PUT"): "sam", ("fulfillment", "GET"): "wes"}
AS_DEFAULT = "default"
TERMINAL_STATUSES = {"SHIPMENT_REQUESTED", "REJECTED", "PAYMENT_FAILED"}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


class Shop:
    """The running shop as a customer, a staff member and an operator see it."""

    def __init__(self, stack: EmbeddedShop) -> None:
        self.stack = stack
        self.http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=2, read=30), retries=False)
        self._tokens: dict[str, str] = {}

    def token(self, user: str) -> str:
        """A demo user's access token, signed in once per session through the real issuer."""
        if user not in self._tokens:
            self._tokens[user] = sign_in(user, issuer_url=self.stack.issuer_url)["access_token"]
        return self._tokens[user]

    def call(
        self,
        service: str,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        user: str | None = AS_DEFAULT,
    ) -> Reply:
        """`user=None` sends no token; an Authorization in `headers` wins over the user's."""
        raw = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
        sent = {"Content-Type": "application/json"}
        if user == AS_DEFAULT:
            user = USER_FOR.get((service, method), DEFAULT_USER)
        if user is not None:
            sent["Authorization"] = f"Bearer {self.token(user)}"
        response = self.http.request(
            method, f"{self.stack.service_urls[service]}{path}", body=raw, headers={**sent, **(headers or {})}
        )
        try:
            parsed = json.loads(response.data) if response.data else None
        except ValueError:
            parsed = response.data.decode(errors="replace")
        return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, parsed)

    # -- staff ---------------------------------------------------------------------------------
    def new_product(self, *, kind: str = "physical", stock: int | None = 10, amount: int = 1200, currency: str = "USD") -> str:
        """A product unique to the calling test, visible in the storefront once its event arrived."""
        sku = f"SKU-{uuid.uuid4().hex[:10].upper()}"
        body: dict[str, Any] = {"name": f"Test product {sku}", "kind": kind, "price": {"amount": amount, "currency": currency}}
        if kind == "physical":
            body["stock"] = stock
        reply = self.call("catalog", "PUT", f"/products/{sku}", body)
        assert reply.status == 201, reply.body
        eventually(lambda: self.storefront_has(sku), what=f"{sku} in the orders service's catalog view")
        return sku

    def stock(self, sku: str) -> int:
        reply = self.call("catalog", "GET", f"/products/{sku}")
        assert reply.status == 200, reply.body
        return int(reply.body["stock"])

    def storefront_has(self, sku: str) -> bool:
        products = self.call("orders", "GET", "/products").body["products"]
        return any(p["sku"] == sku for p in products)

    # -- customer ------------------------------------------------------------------------------
    def place_order(
        self,
        lines: list[tuple[str, int]],
        *,
        token: str = "tok_visa",
        email: str | None = None,
        key: str | None = None,
        address: str | None = "1 Main St, Springfield",
        user: str = DEFAULT_USER,
    ) -> Reply:
        body = {
            "customer_email": email or f"buyer-{uuid.uuid4().hex[:8]}@example.com",
            "payment_token": token,
            "shipping_address": address,
            "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
        }
        return self.call("orders", "POST", "/orders", body, {"Idempotency-Key": key or uuid.uuid4().hex}, user=user)

    def order(self, order_id: str, *, user: str = DEFAULT_USER) -> dict[str, Any]:
        reply = self.call("orders", "GET", f"/orders/{order_id}", user=user)
        assert reply.status == 200, reply.body
        return dict(reply.body)

    def settled_order(self, order_id: str, *, wanting: set[str] | None = None, timeout: float = 30) -> dict[str, Any]:
        """Wait until the order reaches a status in `wanting` (default: any terminal status)."""
        targets = wanting or TERMINAL_STATUSES

        def probe() -> dict[str, Any] | None:
            order = self.order(order_id)
            return order if order["status"] in targets else None

        return eventually(probe, timeout=timeout, what=f"order {order_id} to reach {sorted(targets)}")

    # -- operator ------------------------------------------------------------------------------
    def emails_to(self, address: str) -> list[dict[str, Any]]:
        return [m for m in self.stack.sent_emails() if address in m["destinations"]["ToAddresses"]]

    def charges_for(self, order_id: str) -> list[dict[str, Any]]:
        """The payments the fake Stripe took for an order (a declined payment intent took nothing)."""
        response = self.http.request("GET", f"{self.stack.gateway_url}/_fake/payment_intents?idempotency_key=order-{order_id}")
        return [intent for intent in json.loads(response.data)["data"] if intent["status"] == "succeeded"]

    def log(self, name: str) -> str:
        path = self.stack.log_path(name)
        return path.read_text() if path and path.exists() else ""

    def log_records(self, name: str) -> list[dict[str, Any]]:
        """The JSON records (powertools' lines) of a service's log. The log is shared by every test
        of the session: a test picks its own records by its correlation id or message ids, or it
        could find another test's lines (or miss that its own never came)."""
        records = []
        for line in self.log(name).splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # not a log record (the host's ready line, a library's print)
            if isinstance(record, dict):
                records.append(record)
        return records


def _start(name: str, **options: Any) -> EmbeddedShop:
    log_dir = REPO_ROOT / "logs" / "e2e" / name
    for old in log_dir.glob("*.log"):
        old.unlink()
    stack = EmbeddedShop(StackOptions(log_dir=log_dir, **options))
    stack.start()
    return stack


@pytest.fixture(scope="session")
def shop() -> Iterator[Shop]:
    stack = _start("default")
    try:
        yield Shop(stack)
        assert not stack.dead_processes(), f"processes died during the tests: {stack.dead_processes()}"
    finally:
        stack.stop()


# The fault drills' own shop (tests/test_faults.py): started with the botocore fault hooks in every
# service process and four pollers on every queue, so that its kills, restarts and injected errors
# never reach the other tests' shop. It lives as long as the module that asks for it.
FAULT_DRILL_POLLERS = 4


@pytest.fixture(scope="module")
def faults_shop() -> Iterator[Shop]:
    stack = _start("faults", faults=True, sqs_pollers=FAULT_DRILL_POLLERS)
    try:
        yield Shop(stack)
        assert not stack.dead_processes(), f"processes died during the drills: {stack.dead_processes()}"
    finally:
        stack.stop()
