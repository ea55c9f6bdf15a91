"""The event catalog (AsyncAPI 3 + docs/events.md) is generated from the code and committed."""

from __future__ import annotations

import json

import pytest

from shop_contracts import event_catalog
from shop_contracts.topology import TOPOLOGY
from shop_eventing.topology import ServiceSpec, Topology


def test_committed_catalog_is_what_the_code_generates():
    assert event_catalog.main(["--check"]) == 0


def test_every_event_has_a_channel_a_producer_and_its_consumers():
    document = event_catalog.asyncapi()
    assert document["asyncapi"] == "3.0.0"
    operations = document["operations"]
    for service, subscription in TOPOLOGY.subscriptions():
        for ref in subscription.events:
            operation = operations[f"{service.name}.{subscription.name}.receive{ref.event_type}"]
            assert operation["action"] == "receive"
            assert operation["channel"] == {"$ref": f"#/channels/{ref.event_type}"}
    for service in TOPOLOGY.services:
        for ref in service.publishes:
            assert operations[f"{service.name}.publish{ref.event_type}"]["action"] == "send"
            assert f"{ref.event_type}V1" in document["channels"][ref.event_type]["messages"]
    placed = document["components"]["messages"]["OrderPlacedV1"]
    assert placed["payload"] == {"$ref": "schemas/OrderPlaced.v1.json"}
    assert placed["bindings"]["x-eventbridge"] == {"source": "shop.orders", "detail-type": "OrderPlaced", "schema_version": 1}


def test_the_page_lists_producer_consumers_and_fields():
    page = event_catalog.page()
    assert (
        "| [PaymentCaptured](#paymentcaptured) | orders | v1 | vod.grant-access (v1), fulfillment.request-shipment (v1), "
        "notify.order-emails (v1), notify.crm-sync (v1), notify.sales-ledger (v1), notify.show-reminders (v1) |" in page
    )
    assert "| `order_id` | string | yes |  |" in page
    assert "| `shipping_address` | string or null | no | Free text; None for digital-only orders. |" in page


def test_a_topology_change_makes_the_committed_catalog_stale(monkeypatch, tmp_path, capsys):
    # vod stops granting access: PaymentCaptured loses a consumer.
    vod = TOPOLOGY.service("vod")
    services = [s for s in TOPOLOGY.services if s.name != "vod"]
    changed = ServiceSpec(name="vod", publishes=vod.publishes, subscriptions=(vod.subscription("transcode"),))
    monkeypatch.setattr(event_catalog, "TOPOLOGY", Topology(services=(*services, changed)))
    for path in (event_catalog.ASYNCAPI_PATH, event_catalog.PAGE_PATH):
        copy = tmp_path / path.name
        copy.write_text(path.read_text())
    monkeypatch.setattr(event_catalog, "ASYNCAPI_PATH", tmp_path / "asyncapi.json")
    monkeypatch.setattr(event_catalog, "PAGE_PATH", tmp_path / "events.md")

    assert event_catalog.main(["--check"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "event catalog out of date: asyncapi.json (run: make schemas)",
        "event catalog out of date: events.md (run: make schemas)",
    ]
    assert event_catalog.main([]) == 0
    assert "vod.grant-access.receivePaymentCaptured" not in json.loads((tmp_path / "asyncapi.json").read_text())["operations"]
    assert event_catalog.main(["--check"]) == 0


@pytest.mark.parametrize("path", [event_catalog.ASYNCAPI_PATH, event_catalog.PAGE_PATH])
def test_regenerating_changes_nothing(path):
    assert event_catalog.rendered()[path] == path.read_text()
