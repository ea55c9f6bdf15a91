"""vod's consumer contracts, consumer side: every example it declares (consumer-contracts/) goes
through the Lambda function the app registers for that subscription and has its effect. Why: see
shop_devstack.contract_testing."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from chalicelib.domain import new_video_id, source_key
from shop_devstack.contract_testing import Consumer, ConsumerContractTests, Scenario, as_new_event, as_new_event_about_a_new_order

SERVICE = "vod"


def an_uploaded_video(aws: Any, example: dict[str, Any]) -> dict[str, Any]:
    """The example's event about a video of its own, stored as UPLOADED (its source never arrives: the
    job it starts reports a failure later, which this test does not wait for)."""
    from chalicelib.repository import VodUnitOfWork

    video_id = new_video_id()
    uow = VodUnitOfWork(aws.dynamodb, aws.table, "shop.vod")
    now = example["metadata"]["occurred_at"]
    uow.add_video(
        {
            "video_id": video_id,
            "title": "contract",
            "state": "UPLOADED",
            "attempt": 1,
            "content_type": "video/mp4",
            "source_key": source_key(video_id),
            "created_by": "sam",
            "created_at": now,
            "updated_at": now,
            "captions": {},
        }
    )
    uow.commit()
    source = {**example["data"]["source"], "key": source_key(video_id)}
    return as_new_event(example, video_id, video_id=video_id, source=source)


def transcoding_started(aws: Any, detail: dict[str, Any]) -> None:
    video = aws.item(f"VIDEO#{detail['data']['video_id']}", "VIDEO")
    assert video is not None
    assert (video["state"], video["attempt"], video["job_started"]) == ("TRANSCODING", 1, True)
    assert video["job_id"] == f"{detail['data']['video_id']}-a1"


def access_was_granted(aws: Any, detail: dict[str, Any]) -> None:
    order_id = detail["data"]["order_id"]
    granted = [
        item["detail"]["data"] for item in aws.outbox(correlation_id=order_id) if item["event_type"] == "EntitlementGranted"
    ]
    with_access = [line for line in detail["data"]["lines"] if line.get("access")]
    assert sorted(g["sku"] for g in granted) == sorted(line["sku"] for line in with_access)
    assert {g["customer_id"] for g in granted} == {detail["data"]["customer_id"]}


GRANT_EXAMPLE = json.loads((Path(__file__).parents[1] / "consumer-contracts/grant-access.PaymentCaptured.v1.json").read_text())[
    "example"
]


def an_order_whose_access_was_granted(aws: Any, example: dict[str, Any]) -> dict[str, Any]:
    """The example's event about an order of its own whose payment grant-access handled first (with
    grant-access's own declared example, so the lines are a rental and a purchase)."""
    import app

    from shop_devstack.testing import deliver_to_subscription, raw_eventbridge_body

    detail = as_new_event_about_a_new_order(example)
    order_id = detail["data"]["order_id"]
    payment = as_new_event(GRANT_EXAMPLE, order_id, order_id=order_id)
    body = raw_eventbridge_body(payment, detail_type="PaymentCaptured", source="shop.orders")
    assert deliver_to_subscription(app, SERVICE, "grant-access", body) == {"batchItemFailures": []}
    assert len(granted_events(aws, order_id)) == 2
    return detail


def granted_events(aws: Any, order_id: str) -> list[dict[str, Any]]:
    return [i["detail"]["data"] for i in aws.outbox(correlation_id=order_id) if i["event_type"] == "EntitlementGranted"]


def access_was_revoked(aws: Any, detail: dict[str, Any]) -> None:
    order_id = detail["data"]["order_id"]
    revoked = [
        item["detail"]["data"] for item in aws.outbox(correlation_id=order_id) if item["event_type"] == "EntitlementRevoked"
    ]
    assert sorted(r["entitlement_id"] for r in revoked) == sorted(g["entitlement_id"] for g in granted_events(aws, order_id))
    for grant in granted_events(aws, order_id):
        line = aws.item(f"ORDER#{order_id}", f"LINE#{grant['sku']}")
        assert line is not None
        assert line["state"] == "REVOKED"
        entitlement = aws.item(line["entitlement_pk"], line["entitlement_sk"])
        assert entitlement is not None
        assert entitlement["status"] == "REVOKED"


def about_a_new_product(aws: Any, example: dict[str, Any]) -> dict[str, Any]:
    """The example's event about a product of its own, so nothing earlier in the session touched it."""
    sku = f"SKU-{uuid.uuid4().hex[:12].upper()}"
    return as_new_event(example, f"product:{sku}", sku=sku)


def product_view_was_kept(aws: Any, detail: dict[str, Any]) -> None:
    data = detail["data"]
    view = aws.item(f"PRODUCT#{data['sku']}", "PRODUCT")
    assert view is not None
    match detail["metadata"]["event_type"]:
        case "StockLevelChanged":
            assert (view["on_hand"], view["stock_version"]) == (data["on_hand"], data["stock_version"])
        case "ProductRetired":
            assert (view["revision"], view["retired"]) == (data["revision"], True)
        case _:
            price = data["price"]
            assert (view["name"], view["price_amount"], view["currency"]) == (data["name"], price["amount"], price["currency"])
            assert (view["revision"], view["retired"]) == (data["revision"], False)


def about_a_new_show(aws: Any, example: dict[str, Any]) -> dict[str, Any]:
    """The example's pin or unpin about a show of its own, which nobody watches."""
    show = f"show-{uuid.uuid4().hex[:10]}"
    return as_new_event(example, show, live_show_id=show)


def current_pin_recorded(aws: Any, detail: dict[str, Any]) -> None:
    data = detail["data"]
    current = aws.item(f"PUSH#TOPIC#live-show:{data['live_show_id']}", "CURRENT")
    assert current is not None
    assert (current["sequence"], current["event_id"], current["fanned_out"]) == (
        data["sequence"],
        detail["metadata"]["event_id"],
        True,
    )
    if detail["metadata"]["event_type"] == "ProductPinned":
        assert json.loads(current["message"])["product"]["sku"] == data["product"]["sku"]
    else:
        assert current.get("message") is None  # unpinned: a late joiner gets no pin


def order_status_recorded(aws: Any, detail: dict[str, Any]) -> None:
    data = detail["data"]
    current = aws.item(f"PUSH#TOPIC#orders:{data['customer_id']}", f"CURRENT#{data['order_id']}")
    assert current is not None
    assert (current["sequence"], current["event_id"], current["fanned_out"]) == (
        data["status_version"],
        detail["metadata"]["event_id"],
        True,
    )
    assert json.loads(current["message"])["status"] == data["status"]


@pytest.fixture
def consumer(vod_app: ModuleType, aws: Any) -> Consumer[Any]:
    return Consumer(aws, vod_app, markers_in=aws)


class TestVodAsConsumer(ConsumerContractTests):
    SERVICE = SERVICE
    SCENARIOS = {
        "vod.transcode:VideoUploaded.v1": Scenario(an_uploaded_video, transcoding_started),
        "vod.grant-access:PaymentCaptured.v1": Scenario(
            lambda aws, example: as_new_event_about_a_new_order(example), access_was_granted
        ),
        "vod.revoke-access:OrderCancelled.v1": Scenario(an_order_whose_access_was_granted, access_was_revoked),
        "vod.revoke-access:PaymentRefunded.v1": Scenario(an_order_whose_access_was_granted, access_was_revoked),
        **{
            f"vod.product-view:{event}.v1": Scenario(about_a_new_product, product_view_was_kept)
            for event in ("ProductPublished", "ProductUpdated", "ProductRetired", "StockLevelChanged")
        },
        "vod.push-pins:ProductPinned.v1": Scenario(about_a_new_show, current_pin_recorded),
        "vod.push-pins:ProductUnpinned.v1": Scenario(about_a_new_show, current_pin_recorded),
        "vod.push-orders:OrderStatusChanged.v1": Scenario(
            lambda aws, example: as_new_event_about_a_new_order(example), order_status_recorded
        ),
    }
