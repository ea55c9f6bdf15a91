"""The typer layer: options parsed, confirmation asked, results printed, exit codes a script can use."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from shop_contracts.events import Money, PaymentFailedV1
from shop_devstack.testing import raw_eventbridge_body
from shop_ops.cli import app

runner = CliRunner()


def shop_command(shop, *arguments: str):
    target = shop.target
    return runner.invoke(
        app, ["--endpoint", str(target.endpoint_url), "--stage", target.naming.stage, *arguments], env={"COLUMNS": "200"}
    )


def failed(order_id: str) -> PaymentFailedV1:
    return PaymentFailedV1(
        order_id=order_id, amount=Money(amount=100, currency="USD"), customer_email="a@example.com", reason="card_declined"
    )


def test_replay_dry_run_counts_by_type_and_subscriber_and_sends_nothing(shop) -> None:
    at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    order = f"o-{uuid.uuid4().hex[:8]}"
    shop.publish("orders", failed(order), correlation_id=order, at=at)
    shop.publish("orders", failed(order), correlation_id=order, at=at + timedelta(seconds=1))
    shop.drain("notify.order-emails"), shop.drain("catalog.release-stock")

    result = shop_command(
        shop, "replay", "--since", at.isoformat(), "--until", (at + timedelta(minutes=1)).isoformat(), "--dry-run"
    )

    assert result.exit_code == 0, result.output
    assert "would replay" in result.output
    rows = {tuple(cell.strip() for cell in line.strip("│ ").split("│")) for line in result.output.splitlines() if "│" in line}
    assert ("PaymentFailed", "catalog.release-stock", "2") in rows
    assert ("PaymentFailed", "notify.order-emails", "2") in rows
    assert shop.drain("notify.order-emails") == [] and shop.drain("catalog.release-stock") == []


def test_reconcile_prints_the_repair_exits_1_and_repair_delivers_it(shop) -> None:
    at = datetime.now(UTC) - timedelta(minutes=10)
    order = f"o-{uuid.uuid4().hex[:8]}"
    event = shop.publish("orders", failed(order), correlation_id=order, at=at)
    shop.mark_handled("catalog.release-stock", event)
    shop.drain("notify.order-emails")

    found = shop_command(shop, "reconcile", "--since", "1h", "--order", order)
    repaired = shop_command(shop, "reconcile", "--since", "1h", "--order", order, "--repair")

    assert found.exit_code == 1, found.output
    assert "1 event(s) never handled" in found.output
    assert (
        f"replay --since {at.isoformat()}" in found.output
        and f"--to notify.order-emails --type PaymentFailed --event-id {event.event_id}" in found.output
    )
    assert repaired.exit_code == 0, repaired.output
    [delivered] = shop.drain("notify.order-emails")
    assert event.event_id in delivered["Body"]


def test_purge_asks_first_and_keeps_the_messages_when_refused(shop) -> None:
    subscriber = "fulfillment.carrier-list"
    shop.drain(subscriber, dlq=True)
    body = raw_eventbridge_body({"not": "an event"}, detail_type="ShipmentPacked", source="shop.fulfillment")
    shop.sqs.send_message(QueueUrl=shop.queue_url(subscriber, dlq=True), MessageBody=body)

    refused = runner.invoke(
        app,
        ["--endpoint", str(shop.target.endpoint_url), "--stage", shop.target.naming.stage, "dlq", "purge", subscriber],
        input="n\n",
    )
    dry = shop_command(shop, "dlq", "purge", subscriber, "--dry-run")
    held = len(shop.sqs.receive_message(QueueUrl=shop.queue_url(subscriber, dlq=True), VisibilityTimeout=0).get("Messages", []))
    confirmed = shop_command(shop, "dlq", "purge", subscriber, "--yes")

    assert refused.exit_code == 1 and "Delete these 1 message(s) for good?" in refused.output
    assert dry.exit_code == 0 and "1 message(s)" in dry.output
    assert held == 1
    assert confirmed.exit_code == 0 and "purged 1 message(s)" in confirmed.output
    assert shop.drain(subscriber, dlq=True) == []


def test_an_unknown_subscriber_is_refused_with_the_names_there_are(shop) -> None:
    result = shop_command(shop, "dlq", "show", "notify.crm")

    assert result.exit_code == 2
    assert "no subscriber 'notify.crm'" in result.output and "notify.crm-sync" in result.output
