"""A subscriber that missed events gets them back from the producers' logs, and nobody repeats an effect.

notify's order e-mails are cut off from the bus while an order goes through; `shop reconcile` finds
the PaymentCaptured notify never handled and prints the replay that repairs it; `shop replay --to`
delivers it, so the customer gets the one e-mail. Then the whole order is replayed to every
subscriber: one charge, one shipment, one e-mail, the same stock and timeline."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shop_devstack.testing import eventually
from shop_ops import reconcile
from tests.ops_e2e import cut_off, queues_drained, shop_command, target_of


def test_a_subscriber_that_missed_an_order_gets_it_by_replay_and_a_full_replay_repeats_no_effect(shop):
    started = datetime.now(UTC) - timedelta(seconds=1)
    sku = shop.new_product(stock=5)
    email = f"missed-{uuid.uuid4().hex[:8]}@example.com"
    with cut_off(shop, "notify", "order-emails"):
        placed = shop.place_order([(sku, 1)], email=email)
        order = shop.settled_order(placed.body["order_id"])
        assert order["status"] == "SHIPMENT_REQUESTED", order
        order_id = order["order_id"]

        def only_emails_missed() -> list[reconcile.Missed] | None:
            missed = reconcile.reconcile(target_of(shop), since=started, correlation_id=order_id, settle=timedelta(0)).missed
            return missed if [m.subscriber for m in missed] == ["notify.order-emails"] else None

        [missed] = eventually(only_emails_missed, what="every subscriber but the cut-off one to handle the order")
    assert missed.event.event_type == "PaymentCaptured"
    assert shop.emails_to(email) == []

    found = shop_command(shop, "reconcile", "--since", started.isoformat(), "--order", order_id, "--settle", "0s")
    assert found.exit_code == 1, found.output
    [command] = [line for line in found.output.splitlines() if line.startswith("shop ")]
    assert f"--to notify.order-emails --type PaymentCaptured --event-id {missed.event.event_id}" in command

    replayed = shop_command(shop, *command.split()[1:])
    assert replayed.exit_code == 0, replayed.output
    assert "sent 1 of 1" in replayed.output
    eventually(lambda: shop.emails_to(email), what="the e-mail the replay brought")
    eventually(
        lambda: reconcile.reconcile(target_of(shop), since=started, correlation_id=order_id, settle=timedelta(0)).clean,
        what="reconcile to find nothing left",
    )

    # Everything about the order, again, to every subscriber: effects are keyed by event_id.
    timeline = [entry["event_type"] for entry in shop.order(order_id)["timeline"]]
    everything = shop_command(shop, "replay", "--since", started.isoformat(), "--order", order_id)
    assert everything.exit_code == 0, everything.output
    assert "sent" in everything.output and "catalog.reserve-stock" in everything.output
    eventually(lambda: queues_drained(shop), what="every replayed message to be consumed")
    assert len(shop.emails_to(email)) == 1
    assert len(shop.charges_for(order_id)) == 1
    assert shop.stock(sku) == 4
    assert [entry["event_type"] for entry in shop.order(order_id)["timeline"]] == timeline
    assert shop.call("fulfillment", "GET", f"/orders/{order_id}/shipment").status == 200
