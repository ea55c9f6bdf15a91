"""The console's operations page: per service what `shop status` shows, from the service's own staff
route GET /ops/status; a service without that route says "not available" and the page goes on."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import Route, expect

from tests.browser.browsing import assert_accessible, signed_in

SERVICES = ("catalog", "vod", "orders", "fulfillment", "notify")


def test_the_operations_page_shows_each_service_or_says_it_is_not_available(new_context: Any) -> None:
    page = signed_in(new_context().new_page(), "sam", start="/console/operations")
    expect(page.get_by_role("heading", name="Operations", level=1)).to_be_visible()
    expect(page.get_by_test_id("ops-summary")).not_to_be_empty()
    for service in SERVICES:
        panel = page.get_by_test_id(f"ops-{service}")
        expect(panel.get_by_role("heading", name=service)).to_be_visible()
        # Either the service reports (a table, or no subscriptions) or its route is missing: never an error.
        shown = panel.locator("table, [data-testid=ops-not-available]")
        expect(shown.first).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    assert_accessible(page)


def test_a_reporting_service_shows_its_queues_and_dead_letters(new_context: Any) -> None:
    """The route's answer (shop_eventing.ops_api's model) as the page renders it; the other four stay
    as they are (missing or real)."""
    status = {
        "service": "notify",
        "stage": "local",
        "age_source": "dlq_peek",
        "subscriptions": [
            {
                "subscription": "order-emails",
                "subscriber": "notify.order-emails",
                "queue": "shop-local-notify-order-emails",
                "queue_depth": 3,
                "in_flight": 1,
                "oldest_age_seconds": None,
                "dlq": "shop-local-notify-order-emails-dlq",
                "dlq_depth": 2,
                "dlq_oldest_age_seconds": 5400.0,
            }
        ],
        "outbox": None,
    }
    page = new_context().new_page()

    def answer(route: Route) -> None:
        route.fulfill(status=200, content_type="application/json", body=json.dumps(status))

    page.route("**/api/notify/ops/status", answer)
    signed_in(page, "sam", start="/console/operations")
    panel = page.get_by_test_id("ops-notify")
    row = panel.get_by_role("row", name="notify.order-emails")
    expect(row.get_by_role("cell")).to_have_text(["3", "1", "—", "2", "1.5 h"])
    expect(panel).to_contain_text("Publishes no events (no outbox).")
    expect(page.get_by_test_id("ops-summary")).to_have_text("2 dead letters wait in the DLQs: see `shop dlq list`.")
    page.get_by_label("Language").select_option("ja")
    expect(page.get_by_role("heading", name="運用", level=1)).to_be_visible()
    expect(panel.get_by_role("row", name="notify.order-emails").get_by_role("cell").last).to_have_text("1.5 時間")
    assert_accessible(page)
