"""The fault-injection suite: what AWS and Lambda can do to the shop, done on purpose to an embedded shop,
and what must still hold. Each case ends with `shop reconcile` finding nothing to repair, and checks that
no order was lost and no effect happened twice: one charge at the payment gateway, one e-mail through
SES, one shipment (at the 3PL when it got that far), one CRM record and one entitlement per order.

The faults come from the stack's drills (shop_devstack.faults, EmbeddedShop.fault, .subscriber_down,
.duplicate_deliveries), switched on for one test at a time; the services' code is the code AWS runs.
Every queue has four pollers here (the `faults_shop` fixture), so each case also runs with competing
consumers. docs/reliability.md ("Faults and what the suite proves") tabulates the cases."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import urllib3

from shop_contracts import TOPOLOGY
from shop_contracts.events import Money, ProductPublishedV1
from shop_devstack.faults import Fault
from shop_devstack.service_host import READY
from shop_devstack.testing import eventbridge_body, eventually, raw_eventbridge_body
from shop_eventing.envelope import new_event
from shop_ops import dlq, reconcile
from tests.conftest import FAULT_DRILL_POLLERS
from tests.fulfillment_e2e import JP_ADDRESS, Fulfillment
from tests.ops_e2e import queues_drained, shop_command, target_of
from tests.test_notify_back_office_and_emails import crm_records
from tests.test_vod_digital_orders import delivery_of, rental

EVERY_SUBSCRIBER = [f"{service.name}.{subscription.name}" for service, subscription in TOPOLOGY.subscriptions()]


# -- what every case shares ------------------------------------------------------------------------------


def tolerant[T](probe: Callable[[], T | None]) -> Callable[[], T | None]:
    """A probe that reads a service a drill may be restarting: a refused connection means "not yet"."""

    def probing() -> T | None:
        try:
            return probe()
        except (urllib3.exceptions.HTTPError, OSError):
            return None

    return probing


@dataclass(frozen=True)
class Purchase:
    """One mixed order: a parcel (`box`) and a rental (`film`), bought by a customer of its own e-mail."""

    order_id: str
    email: str
    box: str
    film: str


def goods(shop: Any) -> tuple[str, str]:
    """A physical product and a rental, new for the calling test (faults match on their SKUs)."""
    return shop.new_product(stock=50, amount=1500, currency="USD"), rental(shop)


def new_email(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}@example.com"


def buy(shop: Any, box: str, film: str, *, email: str | None = None, address: Any = "1 Main St, Springfield") -> Purchase:
    email = email or new_email("buyer")
    placed = shop.place_order([(box, 1), (film, 1)], email=email, address=address)
    assert placed.status == 201, placed.body
    return Purchase(str(placed.body["order_id"]), email, box, film)


def completed(shop: Any, purchase: Purchase, *, timeout: float = 90) -> dict[str, Any]:
    """Wait for the order's parcel to be requested and its rental delivered: the flow went all the way."""

    def probe() -> dict[str, Any] | None:
        order = shop.order(purchase.order_id)
        line = delivery_of(order, purchase.film)
        return order if order["status"] == "SHIPMENT_REQUESTED" and line and line["status"] == "delivered" else None

    return eventually(tolerant(probe), timeout=timeout, what=f"order {purchase.order_id} to be requested and delivered")


def effects(shop: Any, purchase: Purchase) -> dict[str, int]:
    """How often each effect of the order happened, counted where it happened."""
    entitlements = shop.call("vod", "GET", "/me/videos").body["entitlements"]
    return {
        "charges": len(shop.charges_for(purchase.order_id)),
        "emails": len(shop.emails_to(purchase.email)),
        "crm records": len(crm_records(shop, purchase.order_id)),
        "entitlements": sum(1 for e in entitlements if e["order_id"] == purchase.order_id and e["active"]),
        "shipments": int(shop.call("fulfillment", "GET", f"/orders/{purchase.order_id}/shipment").status == 200),
    }


ONCE = {"charges": 1, "emails": 1, "crm records": 1, "entitlements": 1, "shipments": 1}


def each_effect_once(shop: Any, *purchases: Purchase) -> None:
    """Every effect of every order there (waited for), then, with every queue drained (no copy or retry
    left to act), each exactly once."""
    for purchase in purchases:
        eventually(
            tolerant(lambda p=purchase: all(effects(shop, p).values()) or None),
            timeout=60,
            what=f"every effect of order {purchase.order_id}",
        )
    eventually(tolerant(lambda: queues_drained(shop)), timeout=60, what="every queue drained")
    for purchase in purchases:
        assert effects(shop, purchase) == ONCE, purchase


def nothing_to_repair(shop: Any, since: datetime) -> None:
    """The end of every case: the queues drained, `shop reconcile` over the case's window finds no stuck
    order, no unpublished outbox item and no event a subscriber missed (checked at once, with nothing
    left to settle), and every DLQ is empty."""
    eventually(tolerant(lambda: queues_drained(shop)), timeout=60, what="every queue drained")
    target = target_of(shop)

    last: list[reconcile.Findings] = []

    def clean() -> reconcile.Findings | None:
        findings = reconcile.reconcile(
            target, since=since, settle=timedelta(0), stuck_after=timedelta(0), unpublished_after=timedelta(0)
        )
        last[:] = [findings]
        return findings if findings.clean else None

    try:
        findings = eventually(clean, timeout=60, what="reconcile to find nothing to repair")
    except AssertionError:
        [left] = last
        missed = [(m.subscriber, m.event.event_type, m.event.correlation_id) for m in left.missed]
        raise AssertionError(f"reconcile still finds: {left.stuck=} {left.unpublished=} {missed=}") from None
    assert findings.checked_events > 0
    printed = shop_command(shop, "reconcile", "--since", since.isoformat(), "--settle", "0s", "--stuck-after", "0s")
    assert printed.exit_code == 0, printed.output
    assert "nothing to repair" in printed.output
    assert {s: dlq.depth(target, s) for s in EVERY_SUBSCRIBER if dlq.depth(target, s)} == {}


def started() -> datetime:
    return datetime.now(UTC) - timedelta(seconds=1)


@contextmanager
def held_back(shop: Any, service: str, subscription: str, event_type: str) -> Iterator[None]:
    """The subscription's rule for one event type targets nothing for the block: what the bus routes
    meanwhile never reaches the queue (the message held back), while its other events flow."""
    events, naming = shop.stack.client("events"), shop.stack.naming
    rule = naming.rule(service, subscription, event_type)
    targets = events.list_targets_by_rule(Rule=rule, EventBusName=naming.bus)["Targets"]
    events.remove_targets(Rule=rule, EventBusName=naming.bus, Ids=[t["Id"] for t in targets])
    try:
        yield
    finally:
        events.put_targets(Rule=rule, EventBusName=naming.bus, Targets=targets)


def restarted(shop: Any, service: str, before: int) -> None:
    eventually(lambda: shop.stack.restarts.get(service, 0) > before, timeout=30, what=f"{service} to be started again")
    eventually(
        lambda: f"{service} is back" in shop.log(service).rsplit("exited (code -9)", 1)[-1],
        timeout=60,
        what=f"{service} to be back after its kill",
    )


# -- (a) at-least-once, three times -----------------------------------------------------------------------


def test_every_message_delivered_three_times_changes_nothing(faults_shop):
    shop, since = faults_shop, started()
    box, film = goods(shop)
    fulfillment = Fulfillment(shop)

    with shop.stack.duplicate_deliveries(copies=2):
        purchase = buy(shop, box, film, address=JP_ADDRESS)
        completed(shop, purchase)
        eventually(lambda: (fulfillment.shipment(purchase.order_id).get("delivery_address") or {}).get("region"), what="address")
        fulfillment.pick_and_pack(purchase.order_id)
        shipment = fulfillment.shipment_reaches(purchase.order_id, "INSTRUCTED")
        eventually(lambda: queues_drained(shop), timeout=60, what="every copy consumed")

    each_effect_once(shop, purchase)
    assert len(fulfillment.at_3pl(shipment["shipment_id"])) == 1
    assert shop.stock(box) == 49
    timeline = [entry["event_type"] for entry in shop.order(purchase.order_id)["timeline"]]
    assert len(timeline) == len(set(timeline)), timeline
    # The drill really ran (a text search: another thread's line may share a line of the log with it).
    for service in ("catalog", "vod", "orders", "fulfillment", "notify"):
        assert f"(2 more) to shop-{service}-local-" in shop.log(service), service
    nothing_to_repair(shop, since)


# -- (b) a process dies after its commit, before its relay publishes ---------------------------------------


def test_a_process_killed_after_its_commit_before_its_relay_published_loses_nothing(faults_shop):
    shop, since = faults_shop, started()
    box, film = goods(shop)
    email = new_email("relay-kill")
    before = shop.stack.restarts.get("orders", 0)
    # orders commits the charge with its PaymentCaptured in the outbox; its relay reads the stream record
    # and the process dies as it is about to put the event on the bus.
    dies = Fault(
        name="orders-dies-before-publishing",
        service="orders",
        operation="events.PutEvents",
        action="crash_before",
        match=(email, "PaymentCaptured"),
    )
    with shop.stack.fault(dies) as board:
        purchase = buy(shop, box, film, email=email)
        eventually(lambda: board.fired(dies.name) == 1, timeout=60, what="the relay to die")
        restarted(shop, "orders", before)
        completed(shop, purchase)

    each_effect_once(shop, purchase)
    nothing_to_repair(shop, since)


# -- (c) subscribers die after their side effect, before the SQS delete ------------------------------------


def test_subscribers_killed_after_their_side_effect_before_the_delete_repeat_nothing(faults_shop):
    shop, since = faults_shop, started()
    box, film = goods(shop)
    email = new_email("subscriber-kill")
    before = {service: shop.stack.restarts.get(service, 0) for service in ("orders", "vod", "notify")}
    kills = (
        # charge-payment: the gateway charged the card; the process dies before committing the outcome.
        Fault(
            name="charge-payment-dies-after-charging",
            service="orders",
            operation="dynamodb.TransactWriteItems",
            action="crash_before",
            match=(email, "PaymentCaptured"),
        ),
        # grant-access: the entitlement is committed; the process dies before SQS hears of it.
        Fault(
            name="grant-access-dies-after-granting",
            service="vod",
            operation="dynamodb.TransactWriteItems",
            action="crash_after",
            match=(film, "EntitlementGranted"),
        ),
        # order-emails: SES accepted the confirmation; the process dies before marking it sent.
        Fault(
            name="order-emails-dies-after-sending",
            service="notify",
            operation="ses.SendEmail",
            action="crash_after",
            match=(email,),
        ),
    )
    with shop.stack.fault(*kills) as board:
        purchase = buy(shop, box, film, email=email)
        for kill in kills:
            eventually(lambda k=kill: board.fired(k.name) == 1, timeout=90, what=f"{kill.name} to fire")
        for service, count in before.items():
            restarted(shop, service, count)
        completed(shop, purchase)

    each_effect_once(shop, purchase)
    nothing_to_repair(shop, since)


# -- (d) PutEvents reports some entries failed ---------------------------------------------------------------


def test_put_events_rejecting_entries_publishes_each_event_and_repeats_no_effect(faults_shop):
    shop, since = faults_shop, started()
    box, film = goods(shop)
    email = new_email("put-events")
    rejections = (
        # Both majors of OrderPlaced go in one PutEvents: rejected, then one of them once more.
        Fault(
            name="order-placed-rejected",
            service="orders",
            operation="events.PutEvents",
            action="reject_entries",
            match=(email, "OrderPlaced"),
            times=3,
            code="InternalFailure",
        ),
        # More rejections than the relay's five attempts: the relay gives up, the stream batch comes again.
        Fault(
            name="payment-captured-rejected",
            service="orders",
            operation="events.PutEvents",
            action="reject_entries",
            match=(email, "PaymentCaptured"),
            times=6,
            code="ThrottlingException",
        ),
    )
    with shop.stack.fault(*rejections) as board:
        purchase = buy(shop, box, film, email=email)
        completed(shop, purchase)
        assert (board.fired("order-placed-rejected"), board.fired("payment-captured-rejected")) == (3, 6)

    rejected = [r for r in shop.log_records("orders") if r.get("message", "").startswith("PutEvents rejected")]
    assert any("attempt 5/5" in r["message"] for r in rejected), "the relay gave up once and the stream came again"
    each_effect_once(shop, purchase)
    nothing_to_repair(shop, since)


# -- (e) DynamoDB throttling and 5xx on writes ----------------------------------------------------------------


def test_throttled_and_failed_writes_are_retried_and_land_once(faults_shop):
    shop, since = faults_shop, started()
    box, film = goods(shop)
    email = new_email("throttled")
    stock = shop.stock(box)

    def write_fault(name: str, service: str, action: str, match: tuple[str, ...], code: str, status: int, **more: Any) -> Fault:
        return Fault(
            name=name,
            service=service,
            operation="dynamodb.TransactWriteItems",
            action=action,
            match=match,
            code=code,
            status=status,
            **more,
        )

    faults = (
        # The order's own write succeeds but the API sees a 500: botocore's retry meets the order it made.
        write_fault(
            "order-write-5xx-applied", "orders", "error_after_applied", (email, "OrderPlaced"), "InternalServerError", 500
        ),
        write_fault(
            "reserve-throttled",
            "catalog",
            "error",
            (box, "StockReserved"),
            "ProvisionedThroughputExceededException",
            400,
            times=2,
        ),
        write_fault(
            "charge-commit-5xx-applied", "orders", "error_after_applied", (email, "PaymentCaptured"), "InternalServerError", 500
        ),
        write_fault("grant-throttled", "vod", "error", (film, "EntitlementGranted"), "ThrottlingException", 400, times=2),
        write_fault("shipment-5xx", "fulfillment", "error", (box, "ShipmentRequested"), "ServiceUnavailable", 503, times=2),
        Fault(
            name="email-claim-throttled",
            service="notify",
            operation="dynamodb.PutItem",
            action="error",
            match=(email,),
            times=2,
            code="ThrottlingException",
            status=400,
        ),
    )
    with shop.stack.fault(*faults) as board:
        purchase = buy(shop, box, film, email=email)
        completed(shop, purchase)
        eventually(lambda: shop.emails_to(email), what="the confirmation")
        assert {f.name: board.fired(f.name) for f in faults} == {f.name: f.times for f in faults}

    each_effect_once(shop, purchase)
    assert shop.stock(box) == stock - 1
    nothing_to_repair(shop, since)


# -- (f) a poison message in a batch of ten -------------------------------------------------------------------


def test_a_poison_message_in_a_batch_of_ten_goes_to_the_dlq_and_the_other_nine_are_handled(faults_shop):
    shop = faults_shop
    sqs = shop.stack.client("sqs")
    queue = sqs.get_queue_url(QueueName=shop.stack.naming.queue("orders", "product-view"))["QueueUrl"]
    skus = [f"TEN-{n}-{uuid.uuid4().hex[:6].upper()}" for n in range(9)]
    good = [
        new_event(
            ProductPublishedV1(sku=sku, name=sku, kind="digital", price=Money(amount=100, currency="USD"), revision=1),
            producer="shop.catalog",
            correlation_id=f"product:{sku}",
        )
        for sku in skus
    ]
    poison = good[0].to_detail()
    poison["metadata"] = {**poison["metadata"], "schema_version": 9, "event_id": str(uuid.uuid4())}
    bodies = [eventbridge_body(event) for event in good[:4]]
    bodies += [raw_eventbridge_body(poison, detail_type="ProductPublished", source="shop.catalog")]
    bodies += [eventbridge_body(event) for event in good[4:]]

    # All ten wait in the queue while its pollers are held, so the first receive takes them together.
    with shop.stack.subscriber_down("orders", "product-view"):
        sent = sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": str(n), "MessageBody": b} for n, b in enumerate(bodies)])
        assert len(sent["Successful"]) == 10

    for sku in skus:
        eventually(lambda s=sku: shop.storefront_has(s), what=f"{sku}, the poison's neighbour, applied")
    target = target_of(shop)
    event_id = poison["metadata"]["event_id"]
    [letter] = eventually(
        lambda: [d for d in dlq.show(target, "orders.product-view", limit=50) if d.event_id == event_id], what="the dead letter"
    )
    assert (letter.reason, letter.reason_from) == ("unknown event ProductPublished v9", "attribute")
    assert dlq.depth(target, "orders.product-view") == 1
    purged = shop_command(shop, "dlq", "purge", "orders.product-view", "--yes")
    assert purged.exit_code == 0 and "purged 1 message(s)" in purged.output, purged.output
    eventually(lambda: queues_drained(shop), what="the queue drained")


# -- (g) a subscriber down for a while, recovered by redrive and by replay ------------------------------------

NOTIFY_SUBSCRIBERS = [s for s in EVERY_SUBSCRIBER if s.startswith("notify.")]


def notify_down(email: str) -> tuple[Fault, ...]:
    """notify's writes refused for the order's customer (as after a deploy that lost its table's
    permission): every notify subscriber that handles the order fails on each receive, until SQS moves
    the message to its DLQ."""
    return tuple(
        Fault(
            name=f"notify-down-{operation}",
            service="notify",
            operation=f"dynamodb.{operation}",
            action="error",
            match=(email,),
            times=None,
            code="AccessDeniedException",
            status=400,
        )
        for operation in ("PutItem", "UpdateItem", "TransactWriteItems")
    )


def dead_letters_of(shop: Any, order_id: str) -> dict[str, int]:
    target = target_of(shop)
    held = {s: sum(1 for d in dlq.show(target, s, limit=50) if d.correlation_id == order_id) for s in NOTIFY_SUBSCRIBERS}
    return {s: n for s, n in held.items() if n}


def test_a_subscriber_down_for_a_while_is_recovered_by_redrive_with_no_duplicate(faults_shop):
    shop, since = faults_shop, started()
    box, film = goods(shop)
    email = new_email("down-redrive")
    with shop.stack.fault(*notify_down(email)):
        purchase = buy(shop, box, film, email=email)
        completed(shop, purchase)
        held = eventually(
            lambda: (h := dead_letters_of(shop, purchase.order_id)).get("notify.order-emails") and h,
            timeout=90,
            what="notify's messages of the order in its DLQs",
        )
        eventually(lambda: queues_drained(shop), timeout=60, what="nothing left but dead letters")
        held = dead_letters_of(shop, purchase.order_id)
    assert shop.emails_to(email) == [] and crm_records(shop, purchase.order_id) == []

    for subscriber in held:
        redriven = shop_command(shop, "dlq", "redrive", subscriber)
        assert redriven.exit_code == 0 and "moved" in redriven.output, redriven.output

    each_effect_once(shop, purchase)
    nothing_to_repair(shop, since)


def test_a_subscriber_down_for_a_while_is_recovered_by_replay_with_no_duplicate(faults_shop):
    shop, since = faults_shop, started()
    box, film = goods(shop)
    sqs = shop.stack.client("sqs")
    queues = {s: sqs.get_queue_url(QueueName=dlq.queue_name(target_of(shop), s))["QueueUrl"] for s in NOTIFY_SUBSCRIBERS}

    def waiting(subscriber: str) -> int:
        attributes = sqs.get_queue_attributes(QueueUrl=queues[subscriber], AttributeNames=["ApproximateNumberOfMessages"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    # notify stopped (its event sources off) for longer than its queues keep a message: what the bus
    # delivered meanwhile is gone, and only the producers' logs still have the events.
    with ExitStack() as down:
        for subscriber in NOTIFY_SUBSCRIBERS:
            down.enter_context(shop.stack.subscriber_down(*subscriber.split(".", 1)))
        purchase = buy(shop, box, film, email=new_email("down-replay"))
        completed(shop, purchase)
        held = ["notify.order-emails", "notify.crm-sync", "notify.sales-ledger"]
        for subscriber in held:
            eventually(lambda s=subscriber: waiting(s), what=f"the order's events waiting in {subscriber}'s queue")
        for subscriber in NOTIFY_SUBSCRIBERS:
            sqs.purge_queue(QueueUrl=queues[subscriber])
    assert shop.emails_to(purchase.email) == [] and crm_records(shop, purchase.order_id) == []

    found = shop_command(shop, "reconcile", "--since", since.isoformat(), "--order", purchase.order_id, "--settle", "0s")
    assert found.exit_code == 1, found.output
    for subscriber in held:
        assert f"--to {subscriber}" in found.output, found.output

    # The operator replays the period notify was down, to notify alone: every event of it, also those
    # it had handled before it stopped (the product's), each with its original event_id.
    for subscriber in NOTIFY_SUBSCRIBERS:
        replayed = shop_command(shop, "replay", "--since", since.isoformat(), "--to", subscriber)
        assert replayed.exit_code == 0, replayed.output
    each_effect_once(shop, purchase)
    nothing_to_repair(shop, since)


# -- (h) out-of-order delivery ---------------------------------------------------------------------------------


def test_a_payment_delivered_after_the_cancellation_grants_nothing_and_overwrites_nothing(faults_shop):
    shop, since = faults_shop, started()
    film = rental(shop)
    email = new_email("out-of-order")
    with held_back(shop, "vod", "grant-access", "PaymentCaptured"), held_back(shop, "notify", "crm-sync", "PaymentCaptured"):
        placed = shop.place_order([(film, 1)], email=email, address=None)
        assert placed.status == 201, placed.body
        order_id = str(placed.body["order_id"])
        eventually(lambda: shop.order(order_id)["status"] == "PAID", timeout=60, what="the order paid")
        cancelled = shop.call("orders", "POST", f"/orders/{order_id}/cancel", {"reason": "changed my mind"})
        assert cancelled.status == 200, cancelled.body
        eventually(lambda: shop.order(order_id)["payment_status"] == "refunded", timeout=60, what="the refund")
        record = eventually(
            lambda: (r := crm_records(shop, order_id)) and r[0]["status"] == "refunded" and r[0], what="the CRM record refunded"
        )

    # Now the held-back PaymentCaptured arrives, after the cancellation and the refund it preceded.
    target = target_of(shop)
    missed = reconcile.reconcile(target, since=since, correlation_id=order_id, settle=timedelta(0)).missed
    assert sorted((m.subscriber, m.event.event_type) for m in missed) == [
        ("notify.crm-sync", "PaymentCaptured"),
        ("vod.grant-access", "PaymentCaptured"),
    ]
    late = shop_command(shop, "reconcile", "--since", since.isoformat(), "--order", order_id, "--settle", "0s", "--repair")
    assert late.exit_code == 0, late.output
    eventually(
        lambda: not reconcile.reconcile(target, since=since, correlation_id=order_id, settle=timedelta(0)).missed,
        what="the late PaymentCaptured handled",
    )
    eventually(lambda: queues_drained(shop), what="every queue drained")

    entitlements = [e for e in shop.call("vod", "GET", "/me/videos").body["entitlements"] if e["order_id"] == order_id]
    assert [e["active"] for e in entitlements] in ([], [False]), entitlements
    order = shop.order(order_id)
    assert order["status"] == "CANCELLED"
    assert (delivery_of(order, film) or {}).get("status") != "delivered", order
    [after] = crm_records(shop, order_id)
    assert (after["status"], after["last_event_type"]) == (record["status"], record["last_event_type"])
    assert len(shop.charges_for(order_id)) == 1
    nothing_to_repair(shop, since)


# -- (i) four concurrent pollers on every queue ------------------------------------------------------------------


def sqs_sources(shop: Any, service: str) -> list[str]:
    """The event sources the service's current process announced in its ready line."""
    ready = [line for line in shop.log(service).splitlines() if line.startswith(READY)]
    return [name for name in json.loads(ready[-1].split(" ", 1)[1])["event_sources"] if name.startswith("sqs:")]


BURST = 5


def test_four_concurrent_pollers_on_every_queue_race_and_repeat_nothing(faults_shop):
    shop, since = faults_shop, started()
    for service in ("catalog", "vod", "orders", "fulfillment", "notify"):
        sources = sqs_sources(shop, service)
        functions = {name.split("#", 1)[0] for name in sources}
        assert sorted(sources) == sorted(f"{f}#{n}" for f in functions for n in range(1, FAULT_DRILL_POLLERS + 1)), service

    box, film = goods(shop)
    purchases: list[Purchase] = []
    errors: list[BaseException] = []

    def one_order() -> None:
        try:
            purchases.append(buy(shop, box, film))
        except BaseException as error:  # reported below: a thread's failure must fail the test
            errors.append(error)

    buyers = [threading.Thread(target=one_order) for _ in range(BURST)]
    for buyer in buyers:
        buyer.start()
    for buyer in buyers:
        buyer.join(timeout=60)
    assert errors == [] and len(purchases) == BURST
    for purchase in purchases:
        completed(shop, purchase)
    each_effect_once(shop, *purchases)
    assert shop.stock(box) == 50 - BURST
    nothing_to_repair(shop, since)
