"""The payment step's rules (charge once, captured / failed / free / already paid) through an in-memory
orders table: no AWS, no HTTP. The DynamoDB adapter and the flow over SQS are tested against moto in
test_payment_step.py; this fake keeps the adapter's contract (the `Orders` and `OrdersWork` ports, the
same typed conflicts) so the use case cannot tell them apart."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib import usecases
from chalicelib.domain import ChargeOutcome, Line, Order, ProductView
from chalicelib.repository import IdempotencyKeyTaken, OrderChangedSinceRead, ProductViewNotNewer
from shop_contracts.events import PaymentCapturedV1, PaymentFailedV1, StockReservedV1
from shop_devstack.in_memory import InMemoryTable, InMemoryUnitOfWork
from shop_eventing.envelope import DomainEvent, new_event
from shop_eventing.outbox import AlreadyProcessed

CHARGE = "orders.charge-payment"
PLACED_AT = datetime(2025, 5, 17, 12, 0, tzinfo=UTC)  # before the events the tests make now


class InMemoryOrders(InMemoryTable):
    """The orders table in memory: `Orders` reads, and `unit_of_work()` for `OrdersWork` transactions."""

    def __init__(self) -> None:
        super().__init__()
        self.orders: dict[str, Order] = {}
        self.requests: dict[str, dict[str, Any]] = {}
        self.views: dict[str, ProductView] = {}

    def order(self, order_id: str) -> Order | None:
        # A copy, as a read from a table gives: the use case's changes stay its own until it commits.
        return copy.deepcopy(self.orders.get(order_id))

    def request(self, idempotency_key: str) -> dict[str, Any] | None:
        found = self.requests.get(idempotency_key)
        return dict(found) if found else None

    def product_views(self, skus: list[str]) -> dict[str, ProductView]:
        return {sku: self.views[sku] for sku in set(skus) if sku in self.views}

    def unit_of_work(self) -> InMemoryOrdersWork:
        return InMemoryOrdersWork(self)


class InMemoryOrdersWork(InMemoryUnitOfWork[InMemoryOrders]):
    """Stages like OrdersUnitOfWork."""

    def save_order(self, order: Order) -> None:
        saved = copy.deepcopy(order)
        saved.mark_saved()  # as the adapter stores it

        def unchanged_since_read() -> bool:
            stored = self._table.orders.get(order.order_id)
            return stored is None if order.version == 0 else stored is not None and stored.version == order.version

        def store() -> None:
            self._table.orders[order.order_id] = saved

        self.stage(OrderChangedSinceRead, unchanged_since_read, store)

    def save_request(self, idempotency_key: str, fingerprint: str, order_id: str) -> None:
        request = {"fingerprint": fingerprint, "order_id": order_id}
        self.stage(
            IdempotencyKeyTaken,
            lambda: idempotency_key not in self._table.requests,
            lambda: self._table.requests.update({idempotency_key: request}),
        )

    def save_product_view(self, view: ProductView) -> None:
        def newer() -> bool:
            stored = self._table.views.get(view.sku)
            return stored is None or stored.revision < view.revision

        self.stage(ProductViewNotNewer, newer, lambda: self._table.views.update({view.sku: view}))


@dataclass
class ScriptedGateway:
    """A PaymentGateway that answers `outcome` and records every charge asked of it."""

    outcome: ChargeOutcome = field(default_factory=lambda: ChargeOutcome(approved=True, charge_id="ch_1"))
    calls: list[dict[str, Any]] = field(default_factory=list)

    def charge(self, *, idempotency_key: str, amount: int, currency: str, token: str, description: str) -> ChargeOutcome:
        self.calls.append({"idempotency_key": idempotency_key, "amount": amount, "currency": currency, "token": token})
        return self.outcome


def placed_order(table: InMemoryOrders, *, unit_price: int = 1250, quantity: int = 2, seen: tuple[str, ...] = ()) -> Order:
    """An order as `place` leaves it (OrderPlaced on its timeline, saved once), plus `seen` events."""
    order = Order(
        order_id=f"ord-{len(table.orders) + 1}",
        customer_email="buyer@example.com",
        lines=[Line("BOX", "Blu-ray box", "physical", quantity, unit_price)],
        currency="USD",
        payment_token="tok_visa",
        shipping_address="1 Main St",
        created_at=PLACED_AT.isoformat(),
        version=1,
    )
    for index, event_type in enumerate(("OrderPlaced", *seen)):
        order.record(f"earlier-{index}", event_type, PLACED_AT, event_type)
    table.orders[order.order_id] = order
    return order


def stock_reserved(order_id: str) -> DomainEvent:
    return new_event(StockReservedV1(order_id=order_id, lines=[]), producer="shop.catalog", correlation_id=order_id)


def charge(table: InMemoryOrders, event: DomainEvent, gateway: ScriptedGateway) -> None:
    usecases.charge_payment(event, CHARGE, table, table.unit_of_work, gateway)


def test_an_approved_charge_publishes_payment_captured_with_the_charge_id():
    table, gateway = InMemoryOrders(), ScriptedGateway(ChargeOutcome(approved=True, charge_id="ch_approved"))
    order = placed_order(table)
    reserved = stock_reserved(order.order_id)

    charge(table, reserved, gateway)

    key = f"order-{order.order_id}"
    assert gateway.calls == [{"idempotency_key": key, "amount": 2500, "currency": "USD", "token": "tok_visa"}]
    [captured] = table.outbox
    assert isinstance(captured.data, PaymentCapturedV1)
    assert (captured.data.payment_id, captured.data.amount.amount) == ("ch_approved", 2500)
    assert captured.metadata.causation_id == reserved.event_id
    saved = table.orders[order.order_id]
    # Saved twice: the charge claimed before the gateway was asked (see usecases.charge_payment), then its outcome.
    assert (saved.status, saved.payment_id, saved.version, saved.charge_started) == ("PAID", "ch_approved", 3, False)
    assert [entry.summary for entry in saved.timeline] == ["OrderPlaced", "stock reserved", "payment captured (ch_approved)"]
    assert (CHARGE, reserved.event_id) in table.processed


def test_a_declined_charge_publishes_payment_failed_with_the_decline_code():
    table, gateway = InMemoryOrders(), ScriptedGateway(ChargeOutcome(approved=False, decline_code="card_declined"))
    order = placed_order(table)

    charge(table, stock_reserved(order.order_id), gateway)

    [failed] = table.outbox
    assert isinstance(failed.data, PaymentFailedV1)
    assert failed.data.reason == "card_declined"
    saved = table.orders[order.order_id]
    assert (saved.status, saved.payment_id) == ("PAYMENT_FAILED", None)


def test_a_free_order_is_captured_without_asking_the_gateway():
    table, gateway = InMemoryOrders(), ScriptedGateway()
    order = placed_order(table, unit_price=0)

    charge(table, stock_reserved(order.order_id), gateway)

    assert gateway.calls == []
    [captured] = table.outbox
    assert isinstance(captured.data, PaymentCapturedV1)
    assert captured.data.payment_id == f"free-{order.order_id}"
    assert table.orders[order.order_id].status == "PAID"


def test_an_order_already_paid_is_not_charged_again_but_notes_the_event():
    table, gateway = InMemoryOrders(), ScriptedGateway()
    order = placed_order(table, seen=("StockReserved", "PaymentCaptured"))
    another_reservation = stock_reserved(order.order_id)

    charge(table, another_reservation, gateway)

    assert gateway.calls == []
    assert table.outbox == []
    saved = table.orders[order.order_id]
    assert saved.status == "PAID"
    assert another_reservation.event_id in [entry.event_id for entry in saved.timeline]
    assert (CHARGE, another_reservation.event_id) in table.processed


def test_the_same_event_again_is_already_processed_and_charges_nothing_more():
    table, gateway = InMemoryOrders(), ScriptedGateway()
    order = placed_order(table)
    reserved = stock_reserved(order.order_id)
    charge(table, reserved, gateway)
    before = copy.deepcopy(table.orders)

    with pytest.raises(AlreadyProcessed):
        charge(table, reserved, gateway)

    assert len(gateway.calls) == 1
    assert len(table.outbox) == 1
    assert table.orders == before


def test_an_order_saved_meanwhile_is_read_again_before_the_gateway_is_asked():
    table, gateway = InMemoryOrders(), ScriptedGateway()
    order = placed_order(table)
    read = table.order
    raced: list[str] = []

    def read_then_someone_saves(order_id: str) -> Order | None:
        found = read(order_id)
        if not raced:
            raced.append(order_id)
            # Another handler (e.g. the order history) saves the order right after our first read.
            table.orders[order_id] = copy.replace(table.orders[order_id], version=table.orders[order_id].version + 1)
        return found

    table.order = read_then_someone_saves  # type: ignore[method-assign]
    charge(table, stock_reserved(order.order_id), gateway)

    # The claim's conditional write failed, so the gateway was asked only after the second read.
    assert [call["idempotency_key"] for call in gateway.calls] == [f"order-{order.order_id}"]
    assert [event.event_type for event in table.outbox] == ["PaymentCaptured"]
    assert table.orders[order.order_id].version == 4


def test_an_order_saved_after_the_gateway_answered_is_read_again_and_charged_under_the_same_key():
    table = InMemoryOrders()
    order = placed_order(table)

    class SavingWhileCharging(ScriptedGateway):
        def charge(self, **request: Any) -> ChargeOutcome:
            if not self.calls:
                # Another handler saves the order while the gateway is being asked.
                stored = table.orders[order.order_id]
                table.orders[order.order_id] = copy.replace(stored, version=stored.version + 1)
            return super().charge(**request)

    gateway = SavingWhileCharging()
    charge(table, stock_reserved(order.order_id), gateway)

    # The same key again: the gateway answers with the first outcome, nothing is charged twice.
    assert [call["idempotency_key"] for call in gateway.calls] == [f"order-{order.order_id}"] * 2
    assert [event.event_type for event in table.outbox] == ["PaymentCaptured"]


def test_an_order_that_never_stops_changing_gives_up_without_publishing():
    table, gateway = InMemoryOrders(), ScriptedGateway()
    order = placed_order(table)
    read = table.order

    def always_stale(order_id: str) -> Order | None:
        found = read(order_id)
        table.orders[order_id] = copy.replace(table.orders[order_id], version=table.orders[order_id].version + 1)
        return found

    table.order = always_stale  # type: ignore[method-assign]

    with pytest.raises(usecases.OrderChanged):
        charge(table, stock_reserved(order.order_id), gateway)

    assert table.outbox == []
    assert table.processed == set()
