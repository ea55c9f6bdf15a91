"""Fulfillment's rules beyond the request, as plain Python: warehouse steps, what a cancellation does,
the order of tracking statuses, the webhook's signature and the carrier's CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import domain
from chalicelib.domain import (
    B2_COLUMNS,
    PACK,
    PICK,
    Shipper,
    SignatureRefused,
    TransitionRefused,
    b2_csv,
    b2_row,
    cancellation_plan,
    shipping_day,
    step_outcome,
    tracking_applies,
    verify_webhook,
    webhook_signature,
)

NOW = datetime(2030, 5, 17, 3, 0, tzinfo=UTC)
SECRET = "shared"
SHIPPER = Shipper(
    name="VODショップ",
    phone="03-0000-0000",
    postal_code="100-0001",
    address="東京都千代田区1-1",
    billing_customer_code="012345678901",
)


# -- warehouse steps ---------------------------------------------------------------------------------


def test_a_requested_shipment_is_picked_then_packed():
    assert step_outcome(PICK, "REQUESTED") == "apply"
    assert step_outcome(PACK, "PICKED") == "apply"


def test_repeating_a_step_that_is_done_changes_nothing():
    assert step_outcome(PICK, "PICKED") == step_outcome(PICK, "PACKED") == step_outcome(PACK, "INSTRUCTED") == "done"


def test_packing_before_picking_is_refused_with_the_reason():
    with pytest.raises(TransitionRefused, match="requested cannot pack yet; it must be picked"):
        step_outcome(PACK, "REQUESTED")


def test_a_cancelled_shipment_takes_no_step():
    with pytest.raises(TransitionRefused, match="cancelled"):
        step_outcome(PICK, "CANCELLED")


# -- cancellation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "plan"),
    [
        (None, "tombstone"),
        ("REQUESTED", "cancel_locally"),
        ("PICKED", "cancel_locally"),
        ("PACKED", "cancel_locally"),
        ("INSTRUCTED", "cancel_at_logistics"),
        ("DISPATCHED", "too_late"),
        ("DELIVERED", "too_late"),
        ("CANCELLED", "already_cancelled"),
    ],
)
def test_what_a_cancellation_does_at_each_step(status, plan):
    assert cancellation_plan(status) == plan


# -- tracking ----------------------------------------------------------------------------------------


def test_only_a_later_tracking_status_applies():
    assert tracking_applies(None, "waiting")
    assert tracking_applies("packed", "shipped")
    assert tracking_applies("shipped", "delivered")
    assert not tracking_applies("shipped", "shipped")  # a duplicate
    assert not tracking_applies("delivered", "shipped")  # out of order


def test_a_signed_body_within_the_window_is_accepted():
    body = b'{"status": "shipped"}'
    timestamp = str(int(NOW.timestamp()))

    verify_webhook(SECRET, timestamp, webhook_signature(SECRET, timestamp, body), body, NOW + timedelta(minutes=4))


def test_one_of_several_signatures_may_match_while_the_secret_rotates():
    body = b"{}"
    timestamp = str(int(NOW.timestamp()))
    both = f"{webhook_signature('old', timestamp, body)}, {webhook_signature(SECRET, timestamp, body)}"

    verify_webhook(SECRET, timestamp, both, body, NOW)


@pytest.mark.parametrize(
    ("timestamp", "signature", "body", "problem"),
    [
        (None, "v1=00", b"{}", "missing"),
        ("1", None, b"{}", "missing"),
        ("yesterday", "v1=00", b"{}", "Unix seconds"),
        (str(int((NOW - timedelta(minutes=6)).timestamp())), None, b"{}", "missing"),
    ],
)
def test_a_notification_without_a_usable_signature_is_refused(timestamp, signature, body, problem):
    with pytest.raises(SignatureRefused, match=problem):
        verify_webhook(SECRET, timestamp, signature, body, NOW)


def test_a_replayed_notification_older_than_the_window_is_refused():
    body = b"{}"
    old = str(int((NOW - timedelta(minutes=6)).timestamp()))

    with pytest.raises(SignatureRefused, match="too far from now"):
        verify_webhook(SECRET, old, webhook_signature(SECRET, old, body), body, NOW)


def test_a_forged_or_altered_notification_is_refused():
    timestamp = str(int(NOW.timestamp()))
    signed = webhook_signature(SECRET, timestamp, b'{"status": "packed"}')

    with pytest.raises(SignatureRefused, match="does not match"):
        verify_webhook(SECRET, timestamp, signed, b'{"status": "delivered"}', NOW)
    with pytest.raises(SignatureRefused, match="does not match"):
        verify_webhook(SECRET, timestamp, webhook_signature("guessed", timestamp, b"{}"), b"{}", NOW)


def test_tracking_urls_name_the_carriers_page():
    assert domain.tracking_url("YAMATO", "400012345678") == (
        "https://jizen.kuronekoyamato.co.jp/jizen/servlet/crjz.b.NQ0010?id=400012345678"
    )
    assert domain.tracking_url("unknown carrier", "1") is None


# -- the carrier CSV --------------------------------------------------------------------------------


def a_packed_shipment(**changes):
    return {
        "shipment_id": "shp_0123456789abcdef",
        "order_id": "ord-1",
        "lines": [{"sku": "BLURAY-BOX-1", "quantity": 2}],
        "address": "text",
        "delivery_address": {
            "recipient": "山田 花子",
            "line1": "千代田1-1",
            "line2": "グランドハイツ101",
            "city": "千代田区",
            "postal_code": "100-0001",
            "region": "東京都",
            "phone": "03-1234-5678",
        },
        "delivery": {"date": "2030-05-20", "time_slot": "am"},
        **changes,
    }


def test_a_parcel_is_one_b2_row_with_the_sender_pays_columns_filled():
    row = dict(zip(B2_COLUMNS, b2_row(a_packed_shipment(), SHIPPER, shipping_day(NOW)), strict=True))

    assert row["お客様管理番号"] == "shp_0123456789abcdef"
    assert (row["送り状種類"], row["クール区分"], row["伝票番号"]) == ("0", "0", "")
    assert (row["出荷予定日"], row["お届け予定日"], row["配達時間帯"]) == ("2030/05/17", "2030/05/20", "0812")
    assert (row["お届け先電話番号"], row["お届け先郵便番号"]) == ("03-1234-5678", "100-0001")
    assert (row["お届け先住所"], row["お届け先アパートマンション名"]) == ("東京都 千代田区 千代田1-1", "グランドハイツ101")
    assert (row["お届け先名"], row["敬称"]) == ("山田 花子", "様")
    assert (row["ご依頼主名"], row["ご依頼主電話番号"], row["請求先顧客コード"]) == (
        "VODショップ",
        "03-0000-0000",
        "012345678901",
    )
    assert row["品名１"] == "BLURAY-BOX-1 x2"


def test_the_file_is_shift_jis_with_crlf_and_a_header():
    content = b2_csv([b2_row(a_packed_shipment(), SHIPPER, shipping_day(NOW))])

    text = content.decode("cp932")
    assert text.count("\r\n") == 2
    assert "\n" not in text.replace("\r\n", "")
    header, row = csv.reader(io.StringIO(text, newline=""))
    assert tuple(header) == B2_COLUMNS
    assert row[0] == "shp_0123456789abcdef"


def test_long_text_is_cut_at_b2s_byte_limits_on_a_character_boundary():
    long_name = "山" * 40  # 80 bytes in Shift-JIS; B2 takes 32
    row = dict(
        zip(
            B2_COLUMNS,
            b2_row(a_packed_shipment(delivery_address={"recipient": long_name, "line1": "x"}), SHIPPER, shipping_day(NOW)),
            strict=True,
        )
    )

    assert row["お届け先名"] == "山" * 16
    assert len(row["お届け先名"].encode("cp932")) == 32


def test_the_shipping_day_is_japans_date():
    assert shipping_day(datetime(2030, 5, 17, 15, 30, tzinfo=UTC)).isoformat() == "2030-05-18"
    assert shipping_day(datetime(2030, 5, 17, 14, 59, tzinfo=UTC)).isoformat() == "2030-05-17"
