"""A service process killed in the middle of the shop's life is started again (with a line in its log),
and the shop goes on: the next order's e-mail is sent by the new process. Lambda does the same: a
crashed execution environment is replaced, the function's other invocations go on."""

from __future__ import annotations

import os
import signal
import uuid

from shop_devstack.testing import eventually


def test_a_killed_service_is_started_again_and_handles_the_next_order(shop):
    before = shop.stack.restarts.get("notify", 0)
    crashed = shop.stack.pid("notify")

    os.kill(crashed, signal.SIGKILL)

    def supervisor() -> list[dict]:
        # This kill's lines only: the log is shared by the whole session (another test may restart notify).
        return [r for r in shop.log_records("notify") if r.get("logger") == "shop.supervisor" and r.get("restart") == before + 1]

    eventually(
        lambda: any(r["message"].startswith("notify is back") for r in supervisor()),
        timeout=60,
        what="notify to be started again",
    )
    [exited] = [r for r in supervisor() if r["level"] == "WARNING"]
    assert exited["message"].startswith("notify exited (code -9); starting it again") and exited["exit_code"] == -9
    assert shop.stack.pid("notify") != crashed
    assert shop.stack.restarts["notify"] == before + 1
    assert shop.stack.dead_processes() == []

    email = f"after-crash-{uuid.uuid4().hex[:8]}@example.com"
    sku = shop.new_product(stock=1)
    placed = shop.place_order([(sku, 1)], email=email)
    assert shop.settled_order(placed.body["order_id"])["status"] == "SHIPMENT_REQUESTED"
    eventually(lambda: shop.emails_to(email), what="the e-mail from the restarted notify")
