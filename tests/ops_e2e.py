"""What the operator-command end-to-end tests share: the running shop as `shop --endpoint` sees it,
the `shop` command itself (typer's runner, in this process), a subscription cut off from the bus the
way a subscriber whose stack was not deployed yet misses events, and the queues' depths."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from typer.testing import CliRunner

from shop_contracts import TOPOLOGY
from shop_ops.cli import app
from shop_ops.target import Target, embedded

runner = CliRunner()


def target_of(shop: Any) -> Target:
    return embedded(shop.stack.endpoint, stage=shop.stack.naming.stage)


def shop_command(shop: Any, *arguments: str) -> Any:
    """`shop --endpoint <the test stack's moto> ...`, its output as wide as a terminal's."""
    return runner.invoke(app, ["--endpoint", shop.stack.endpoint, *arguments], env={"COLUMNS": "220"})


@contextmanager
def cut_off(shop: Any, service: str, subscription: str) -> Iterator[None]:
    """Every rule of the subscription targets nothing for the block: what the bus delivers meanwhile
    never reaches the subscriber's queue (as when its stack is deployed after the producer's)."""
    events, naming = shop.stack.client("events"), shop.stack.naming
    spec = TOPOLOGY.service(service).subscription(subscription)
    removed: dict[str, list[dict[str, Any]]] = {}
    try:
        for ref in spec.events:
            rule = naming.rule(service, subscription, ref.event_type)
            targets = events.list_targets_by_rule(Rule=rule, EventBusName=naming.bus)["Targets"]
            events.remove_targets(Rule=rule, EventBusName=naming.bus, Ids=[t["Id"] for t in targets])
            removed[rule] = targets
        yield
    finally:
        for rule, targets in removed.items():
            events.put_targets(Rule=rule, EventBusName=naming.bus, Targets=targets)


def queues_drained(shop: Any) -> bool:
    sqs, naming = shop.stack.client("sqs"), shop.stack.naming
    for service, subscription in TOPOLOGY.subscriptions():
        url = sqs.get_queue_url(QueueName=naming.queue(service.name, subscription.name))["QueueUrl"]
        counts = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        if any(int(value) for value in counts.values()):
            return False
    return True
