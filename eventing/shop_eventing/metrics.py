"""What one invocation counted, written as one CloudWatch EMF line on stdout when it ends.

CloudWatch turns the line into metrics in the namespace POWERTOOLS_METRICS_NAMESPACE ("shop": the
merge template sets it on AWS, the embedded stack locally); without it nothing is written (a unit
test of something else, a script). docs/reliability.md says what each metric means.

One `Tally` per invocation, on powertools' EphemeralMetrics rather than its Metrics: Metrics keeps
its values and dimensions in class attributes shared by every instance of the process, and locally
several subscribers' functions run at once in one process (the embedded stack's dispatcher), each with
its own `subscriber` dimension. Dimensions are few and fixed (service, subscriber): never an event id.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections import Counter

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

NAMESPACE_VARIABLE = "POWERTOOLS_METRICS_NAMESPACE"
# powertools starts a new EMF line past 100 values of one metric; a Lambda batch is far below it.
MAX_VALUES = 100


class Tally:
    def __init__(self, service: str, **dimensions: str) -> None:
        self.service = service
        self.dimensions = dimensions
        self.counts: Counter[str] = Counter()
        self.values: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n

    def zero(self, *names: str) -> None:
        """Emit these counts even when nothing happened: a rate or a sum then reads 0, not no data."""
        with self._lock:
            for name in names:
                self.counts[name] += 0

    def seconds(self, name: str, value: float) -> None:
        with self._lock:
            values = self.values.setdefault(name, [])
            if len(values) < MAX_VALUES:
                values.append(value)

    def flush(self) -> None:
        """Print the EMF line (powertools' serializer, so the schema is CloudWatch's) and start over."""
        namespace = os.environ.get(NAMESPACE_VARIABLE)
        with self._lock:
            counts, values = dict(self.counts), {name: list(v) for name, v in self.values.items()}
            self.counts.clear()
            self.values.clear()
        if not namespace or not (counts or values):
            return

        metrics = EphemeralMetrics(namespace=namespace, service=self.service)
        for dimension, dimension_value in self.dimensions.items():
            metrics.add_dimension(name=dimension, value=dimension_value)
        for name, count in sorted(counts.items()):
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
        for name, seconds in sorted(values.items()):
            for value in seconds:
                metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=value)
        if is_metrics_disabled():
            return
        # One write of the whole line: powertools' flush_metrics prints the JSON and its newline in two
        # writes, and a log line another thread wrote in between (the embedded stack runs every
        # subscriber of a service in one process) made both lines unreadable as JSON.
        sys.stdout.write(json.dumps(metrics.serialize_metric_set(), separators=(",", ":")) + "\n")
