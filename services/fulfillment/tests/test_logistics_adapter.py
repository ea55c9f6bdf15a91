"""The 3PL adapter (chalicelib.logistics.HttpLogisticsService) against the fake 3PL over HTTP: what each
answer of the API becomes for the use cases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tests.arrange import THREE_PL_TOKEN as TOKEN

from chalicelib.logistics import (
    CancelRefused,
    HttpLogisticsService,
    InstructionRefused,
    LogisticsRateLimited,
    LogisticsUnavailable,
    Recipient,
    ShippingInstruction,
)
from shop_devstack.logistics_3pl import Faults


@pytest.fixture
def fake(logistics_3pl: Any) -> Iterator[Any]:
    logistics_3pl.logistics.faults = Faults()
    yield logistics_3pl
    logistics_3pl.logistics.faults = Faults()


@pytest.fixture
def adapter(fake: Any) -> HttpLogisticsService:
    return HttpLogisticsService(fake.url, TOKEN, timeout_seconds=0.5)


def instruction(**changes: Any) -> ShippingInstruction:
    fields: dict[str, Any] = {
        "identifier": f"shp_{uuid.uuid4().hex[:16]}",
        "order_no": f"ord-{uuid.uuid4().hex[:12]}",
        "recipient": Recipient("山田 花子", "100-0001", "東京都", "千代田区千代田1-1", None, "03-1234-5678"),
        "items": (("BLURAY-BOX-1", 2),),
        "delivery_date": "2030-05-20",
        "time_slot": "am",
        **changes,
    }
    return ShippingInstruction(**fields)


def the_3pls(fake: Any, identifier: str) -> list[dict[str, Any]]:
    return [s for s in fake.logistics.shipments() if s["identifier"] == identifier]


def test_create_sends_the_instruction_as_the_3pl_names_it(adapter, fake):
    sent = instruction()

    created = adapter.create_shipment(sent)

    [stored] = the_3pls(fake, sent.identifier)
    assert (created.logistics_id, created.status, created.carrier) == (stored["id"], "waiting", "YAMATO")
    assert (stored["order_no"], stored["delivery_time_slot"], stored["items"]) == (
        sent.order_no,
        "AM",
        [{"code": "BLURAY-BOX-1", "quantity": 2}],
    )
    assert stored["recipient"]["prefecture"] == "東京都"


def test_creating_again_with_the_same_identifier_names_the_same_shipment(adapter, fake):
    sent = instruction()

    first, again = adapter.create_shipment(sent), adapter.create_shipment(sent)

    assert first.logistics_id == again.logistics_id
    assert len(the_3pls(fake, sent.identifier)) == 1


def test_a_5xx_is_unavailable_and_the_retry_succeeds_once(adapter, fake):
    fake.logistics.faults.fail_next = 2
    sent = instruction()

    with pytest.raises(LogisticsUnavailable, match="503"):
        adapter.create_shipment(sent)
    with pytest.raises(LogisticsUnavailable):
        adapter.create_shipment(sent)
    created = adapter.create_shipment(sent)

    assert [s["id"] for s in the_3pls(fake, sent.identifier)] == [created.logistics_id]


def test_a_429_is_rate_limited_with_the_retry_after_it_asked_for(adapter, fake):
    fake.logistics.faults.rate_limit_next = 1
    fake.logistics.faults.retry_after = 3

    with pytest.raises(LogisticsRateLimited) as limited:
        adapter.create_shipment(instruction())

    assert limited.value.retry_after == 3
    assert isinstance(limited.value, LogisticsUnavailable)  # SQS redelivers it like any outage


def test_a_timeout_is_unavailable_and_the_retry_finds_the_shipment_made_meanwhile(adapter, fake):
    fake.logistics.faults.timeout_next = 1
    fake.logistics.faults.timeout_seconds = 1.5
    sent = instruction()

    with pytest.raises(LogisticsUnavailable, match="Timeout"):
        adapter.create_shipment(sent)
    created = adapter.create_shipment(sent)

    assert [s["id"] for s in the_3pls(fake, sent.identifier)] == [created.logistics_id]


def test_an_instruction_the_3pl_refuses_is_refused_not_retried(adapter):
    incomplete = instruction(recipient=Recipient("山田 花子", "100-0001", "東京都", "千代田区千代田1-1", None, ""))

    with pytest.raises(InstructionRefused, match="recipient lacks phone"):
        adapter.create_shipment(incomplete)


def test_cancel_is_allowed_while_waiting_and_refused_once_shipped(adapter, fake):
    waiting = adapter.create_shipment(instruction())
    shipped = adapter.create_shipment(instruction())
    fake.logistics._shipments[shipped.logistics_id].status = "shipped"

    adapter.cancel_shipment(waiting.logistics_id)
    adapter.cancel_shipment(waiting.logistics_id)  # again: already cancelled is no change

    with pytest.raises(CancelRefused) as refused:
        adapter.cancel_shipment(shipped.logistics_id)
    assert refused.value.status == "shipped"


def test_a_wrong_token_is_refused(fake):
    with pytest.raises(InstructionRefused, match="401"):
        HttpLogisticsService(fake.url, "not-the-token").create_shipment(instruction())


def test_no_3pl_at_the_address_is_unavailable():
    with pytest.raises(LogisticsUnavailable):
        HttpLogisticsService("http://127.0.0.1:9", TOKEN, timeout_seconds=0.5).create_shipment(instruction())
