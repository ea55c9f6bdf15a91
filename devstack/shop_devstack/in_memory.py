"""In-memory fakes of a service's table for the tests of its domain rules (no AWS).

A service's fake extends `InMemoryTable` with its own items and reads, and `InMemoryUnitOfWork` with
the writes its unit-of-work port stages; the outbox, the processed markers and the all-or-nothing
commit are the same for every service, as they are in shop_eventing.outbox's `UnitOfWork`:

    class InMemoryOrders(InMemoryTable): ...                       # the orders, the reads
    class InMemoryOrdersWork(InMemoryUnitOfWork[InMemoryOrders]):
        def save_order(self, order): self.stage(OrderChangedSinceRead, unchanged_since_read, store)

Test tooling: imported by tests only, never by a service at run time. Kept free of moto and boto3 so
that tests of pure rules stay pure.
"""

from __future__ import annotations

from collections.abc import Callable

from shop_eventing.envelope import DomainEvent
from shop_eventing.outbox import AlreadyProcessed, EventAlreadyInOutbox, WriteConflict


class InMemoryTable:
    """What every service's table holds besides its own items: processed markers and the outbox."""

    def __init__(self) -> None:
        self.processed: set[tuple[str, str]] = set()  # (subscriber, event_id)
        self.outbox: list[DomainEvent] = []


class InMemoryUnitOfWork[T: InMemoryTable]:
    """Stages writes like a DynamoDB unit of work; `commit` checks every condition first, then applies
    all or nothing, and raises the typed conflicts the real adapter raises."""

    def __init__(self, table: T) -> None:
        self._table = table
        # Each staged write: the conflict it raises, whether its condition holds now, and how to apply it.
        self._writes: list[tuple[type[WriteConflict], Callable[[], bool], Callable[[], None]]] = []
        self._markers: list[tuple[str, str]] = []

    def stage(self, conflict: type[WriteConflict], holds: Callable[[], bool], apply: Callable[[], None]) -> None:
        """Stage a write that `apply`s at commit, or raises `conflict` there unless `holds()`."""
        self._writes.append((conflict, holds, apply))

    def add_event(self, event: DomainEvent) -> None:
        self.stage(
            EventAlreadyInOutbox,
            lambda: all(staged.event_id != event.event_id for staged in self._table.outbox),
            lambda: self._table.outbox.append(event),
        )

    def mark_processed(self, subscriber: str, event: DomainEvent) -> None:
        self._markers.append((subscriber, event.event_id))

    def commit(self) -> None:
        if any(marker in self._table.processed for marker in self._markers):
            raise AlreadyProcessed()
        failed = [conflict for conflict, holds, _ in self._writes if not holds()]
        if failed:
            raise failed[0]([("in memory", "ConditionalCheckFailed")] * len(failed), failed)
        for _, _, apply in self._writes:
            apply()
        self._table.processed.update(self._markers)
