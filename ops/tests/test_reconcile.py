"""Reconciliation: missed events (no processed-marker of a subscriber the topology gives them),
unpublished outbox items, stuck orders; and the replay that repairs exactly the missed ones."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shop_contracts.events import Money, PaymentFailedV1
from shop_eventing.outbox import to_dynamodb
from shop_ops import reconcile, replay

T0 = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)


def failed(order_id: str) -> PaymentFailedV1:
    return PaymentFailedV1(
        order_id=order_id, amount=Money(amount=100, currency="USD"), customer_email="a@example.com", reason="card_declined"
    )


def test_an_event_a_subscriber_never_handled_is_found_and_its_repair_replays_it_to_that_subscriber_alone(shop) -> None:
    order = f"o-{uuid.uuid4().hex[:8]}"
    event = shop.publish("orders", failed(order), correlation_id=order, at=T0)
    shop.mark_handled("catalog.release-stock", event)
    now = T0 + timedelta(minutes=5)

    findings = reconcile.reconcile(shop.target, since=T0, correlation_id=order, clock=lambda: now)

    assert [(m.subscriber, m.event.event_id) for m in findings.missed] == [("notify.order-emails", event.event_id)]
    [repair] = findings.repairs()
    arguments = repair.replay_arguments()
    assert arguments[arguments.index("--to") + 1] == "notify.order-emails"
    assert arguments[arguments.index("--event-id") + 1] == event.event_id
    since, until = (datetime.fromisoformat(arguments[arguments.index(flag) + 1]) for flag in ("--since", "--until"))
    planned = replay.select(shop.target, since=since, until=until, to=["notify.order-emails"], event_ids=[event.event_id])
    assert [(d.subscriber, d.event.event_id) for d in planned] == [("notify.order-emails", event.event_id)]

    shop.mark_handled("notify.order-emails", event)
    assert reconcile.reconcile(shop.target, since=T0, correlation_id=order, clock=lambda: now).clean


def test_events_still_settling_are_not_reported_missed(shop) -> None:
    order = f"o-{uuid.uuid4().hex[:8]}"
    shop.publish("orders", failed(order), correlation_id=order, at=T0 + timedelta(hours=1))

    findings = reconcile.reconcile(shop.target, since=T0, correlation_id=order, clock=lambda: T0 + timedelta(hours=1, seconds=30))

    assert findings.missed == [] and findings.checked_events == 0


def test_outbox_items_waiting_past_the_sweepers_turn_are_reported(shop) -> None:
    order = f"o-{uuid.uuid4().hex[:8]}"
    stale = shop.publish("orders", failed(order), correlation_id=order, at=T0 + timedelta(hours=2), published=False)
    fresh = shop.publish("orders", failed(order), correlation_id=order, at=T0 + timedelta(hours=2, minutes=9), published=False)

    findings = reconcile.reconcile(shop.target, since=T0, correlation_id=order, clock=lambda: T0 + timedelta(hours=2, minutes=12))

    assert [(u.producer, u.event_id) for u in findings.unpublished] == [("orders", stale.event_id)]
    assert fresh.event_id not in {u.event_id for u in findings.unpublished}
    assert findings.missed == [], "an unpublished event reached nobody: it is reported as unpublished only"


def test_orders_stuck_in_a_state_the_flow_moves_on_are_reported(shop) -> None:
    def order(status: str, kind: str, placed: datetime) -> str:
        order_id = f"o-{uuid.uuid4().hex[:8]}"
        item = {
            "pk": f"ORDER#{order_id}",
            "sk": "ORDER",
            "item_type": "order",
            "order_id": order_id,
            "status": status,
            "created_at": placed.isoformat(),
            "lines": [{"sku": "S", "kind": kind, "quantity": 1}],
        }
        shop.dynamodb.put_item(TableName=shop.target.naming.table("orders"), Item=to_dynamodb(item))
        return order_id

    now = datetime.now(UTC)
    long_ago = now - timedelta(hours=1)
    pending = order("PENDING", "physical", long_ago)
    paid_physical = order("PAID", "physical", long_ago)
    paid_digital = order("PAID", "digital", long_ago)  # nothing follows a digital-only payment
    shipped = order("SHIPMENT_REQUESTED", "physical", long_ago)  # waits for the warehouse
    recent = order("PENDING", "physical", now - timedelta(minutes=1))

    stuck = {o.order_id: o.status for o in reconcile.stuck_orders(shop.target, older_than=now - timedelta(minutes=15), now=now)}

    assert {pending: "PENDING", paid_physical: "PAID"}.items() <= stuck.items()
    assert not {paid_digital, shipped, recent} & stuck.keys()
