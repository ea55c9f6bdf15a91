"""The queues as the operator's commands read them: shop_eventing.queue_status's measurement (which the
services' GET /ops/status uses too), with the clients of the target. The ages of oldest messages come
from CloudWatch on AWS and, on the embedded stack (moto publishes no SQS metrics), from a peek of a DLQ."""

from __future__ import annotations

from shop_eventing.queue_status import Clock, Depth, utcnow
from shop_eventing.queue_status import Queues as _Queues
from shop_ops.target import Target

__all__ = ["Clock", "Depth", "Queues", "utcnow"]


class Queues(_Queues):
    """Queue URLs by name, resolved once per command."""

    def __init__(self, target: Target) -> None:
        super().__init__(target.client("sqs"), cloudwatch=None if target.local else target.client("cloudwatch"))
        self.target = target
