"""A metrics line reaches stdout in one write, newline included: in one process several subscribers'
threads log at once (the embedded stack), and a line written in two parts let another thread's log
line land between them, which made both unreadable as JSON."""

from __future__ import annotations

import json
import sys

import pytest

from shop_eventing.metrics import Tally


class RecordingStdout:
    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_a_tally_is_one_write_of_one_json_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "shop")
    out = RecordingStdout()
    monkeypatch.setattr(sys, "stdout", out)
    tally = Tally("shop.test", subscriber="test.sub")
    tally.count("EventsHandled", 3)
    tally.seconds("OutboxAgeSeconds", 0.25)

    tally.flush()

    assert len(out.writes) == 1
    (line,) = out.writes
    assert line.endswith("\n") and line.count("\n") == 1
    emf = json.loads(line)
    assert (emf["EventsHandled"], emf["OutboxAgeSeconds"], emf["subscriber"]) == ([3.0], [0.25], "test.sub")


def test_with_metrics_disabled_nothing_is_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "shop")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    out = RecordingStdout()
    monkeypatch.setattr(sys, "stdout", out)
    tally = Tally("shop.test")
    tally.count("EventsHandled")

    tally.flush()

    assert out.writes == []
