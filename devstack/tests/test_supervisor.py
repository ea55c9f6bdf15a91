"""The embedded stack starts a crashed service again, as Lambda does, instead of stopping the shop;
a service that keeps crashing is given up on after a few restarts within a minute. Played here with
stand-in processes that announce themselves ready as a service host does, then crash."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shop_devstack import stack
from shop_devstack.service_host import READY
from shop_devstack.stack import EmbeddedShop, StackOptions
from shop_devstack.testing import eventually


@pytest.fixture
def supervised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedShop]:
    monkeypatch.setattr(stack, "FIRST_BACKOFF_SECONDS", 0.01)
    monkeypatch.setattr(stack, "MAX_BACKOFF_SECONDS", 0.05)
    shop = EmbeddedShop(StackOptions(log_dir=tmp_path / "logs"))
    yield shop
    shop.stop()


def supervisor_lines(log: Path) -> list[dict[str, Any]]:
    """The supervisor's own lines of a service's log: JSON like the service host's, by its logger."""
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [r for r in records if r.get("logger") == stack.SUPERVISOR_LOGGER]


def run_service(shop: EmbeddedShop, name: str, code: str, tmp_path: Path) -> None:
    """Start `code` as the service `name` under the stack's supervisor, as _start does for a service."""
    command = [sys.executable, "-c", f"print({READY!r} + ' {{}}', flush=True)\n{code}"]
    shop._service_commands[name] = (command, {"PATH": "/usr/bin:/bin", "FLAG": str(tmp_path / "crashed-once")})
    assert shop._spawn(name, *shop._service_commands[name]).wait(timeout=30)
    shop._supervisor = stack.threading.Thread(target=shop._supervise, daemon=True)
    shop._supervisor.start()


def test_a_service_that_crashed_once_is_started_again_with_a_log_line_and_is_not_dead(supervised, tmp_path) -> None:
    crash_once = "\n".join(
        [
            "import os, sys, time",
            "if not os.path.exists(os.environ['FLAG']):",
            "    open(os.environ['FLAG'], 'w').close()",
            "    sys.exit(3)",
            "time.sleep(120)",
        ]
    )
    run_service(supervised, "orders", crash_once, tmp_path)

    log = supervised.log_path("orders")
    assert log is not None
    eventually(lambda: any(r["message"].startswith("orders is back") for r in supervisor_lines(log)), what="the restart")
    [exited, back] = supervisor_lines(log)
    assert exited["message"].startswith("orders exited (code 3); starting it again")
    assert (exited["level"], exited["service"], exited["exit_code"], exited["restart"]) == ("WARNING", "shop.orders", 3, 1)
    assert (back["level"], back["restart"]) == ("INFO", 1) and isinstance(back["pid"], int)
    assert supervised.restarts == {"orders": 1}
    assert supervised.dead_processes() == []


def test_a_service_that_keeps_crashing_is_given_up_on_and_counts_as_dead(supervised, tmp_path) -> None:
    run_service(supervised, "notify", "raise SystemExit(4)", tmp_path)

    eventually(lambda: supervised.dead_processes() == ["notify"], what="the supervisor to give up")
    log = supervised.log_path("notify")
    assert log is not None
    assert supervised.restarts == {"notify": stack.MAX_RESTARTS}
    given_up = supervisor_lines(log)[-1]
    assert given_up["message"] == f"notify exited (code 4) {stack.MAX_RESTARTS} times within 60s: not restarting it"
    assert (given_up["level"], given_up["exit_code"]) == ("ERROR", 4)
