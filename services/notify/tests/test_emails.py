"""What the shop tells customers, without any I/O: one e-mail per customer-visible event, rendered from
templates in the customer's language, as plain text and HTML."""

from __future__ import annotations

import pytest
from notify_events import cancelled, captured, delivered, dispatched, failed, refunded

from chalicelib.emails import (
    DEFAULT_LOCALE,
    LOCALES,
    PARTS,
    TEMPLATE_FOR,
    TEMPLATES_DIR,
    Email,
    email_for,
    format_money,
    show_reminder,
    show_time,
    video_email,
)
from shop_contracts import TOPOLOGY
from shop_contracts.events import Money, Rendition, StockReservedV1, VideoFailedV1, VideoOutputs, VideoReadyV1

BUILDERS = {
    "PaymentCaptured": captured,
    "PaymentFailed": failed,
    "ShipmentDispatched": dispatched,
    "ShipmentDelivered": delivered,
    "OrderCancelled": cancelled,
    "PaymentRefunded": refunded,
}


# -- every event, every locale, every part -----------------------------------------------------------


def test_every_event_the_subscription_takes_has_a_template_in_both_locales_and_all_parts():
    handled = {ref.event_type for ref in TOPOLOGY.service("notify").subscription("order-emails").events}
    assert set(TEMPLATE_FOR) == handled == set(BUILDERS)
    for name in TEMPLATE_FOR.values():
        for locale in LOCALES:
            for part in PARTS:
                assert (TEMPLATES_DIR / locale / f"{name}.{part}").is_file(), f"{locale}/{name}.{part}"


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("event_type", sorted(BUILDERS))
def test_every_event_renders_in_every_locale(event_type, locale):
    email = email_for(BUILDERS[event_type]("ord-42", locale=locale).data)

    assert email.locale == locale
    assert email.to
    assert "ord-42" in email.subject and "\n" not in email.subject
    assert "ord-42" in email.text
    assert "ord-42" in email.html
    assert email.html.startswith("<!DOCTYPE html>")
    assert f'<html lang="{locale}">' in email.html
    assert "<" not in email.text  # the plain part is text, not markup


def test_without_a_locale_the_shop_writes_japanese():
    assert DEFAULT_LOCALE == "ja"
    email = email_for(captured("ord-42").data)
    assert email.locale == "ja"
    assert email.subject == "ご注文を承りました（注文番号 ord-42）"


# -- what each e-mail says ------------------------------------------------------------------------------


def test_confirmation_in_english_lists_the_lines_and_the_amount():
    email = email_for(captured("ord-42", locale="en", currency="USD", unit=1000).data)

    assert email.subject == "Your order ord-42 is confirmed"
    assert "We received your payment of $25.00 for order ord-42." in email.text
    assert "2 x Blu-ray box  ($10.00 each)" in email.text
    assert "1 x Film rental  ($5.00 each)" in email.text
    assert "We will write again when it ships." in email.text
    assert "<strong>$25.00</strong>" in email.html


def test_confirmation_in_japanese_writes_yen_without_decimals():
    email = email_for(captured("ord-42", locale="ja", currency="JPY", unit=1200).data)

    assert "注文番号 ord-42 のお支払い 2,900円 を確認しました。" in email.text
    assert "Blu-ray box × 2（単価 1,200円）" in email.text
    assert "<strong>2,900円</strong>" in email.html


def test_confirmation_greets_the_parcels_recipient_by_name():
    assert email_for(captured("ord-1", locale="ja", recipient_name="山田 太郎").data).text.startswith("山田 太郎 様\n")
    assert email_for(captured("ord-1", locale="en", recipient_name="Ada").data).text.startswith("Dear Ada,\n")
    assert email_for(captured("ord-1", locale="en").data).text.startswith("Hello,\n\n")


def test_payment_failed_names_the_reason():
    email = email_for(failed("ord-43", locale="en", reason="insufficient_funds").data)

    assert email.to == "bob@example.com"
    assert email.subject == "We could not take payment for order ord-43"
    assert "(reason: insufficient_funds)" in email.text
    assert "$7.00" in email.text


def test_shipped_gives_the_carrier_the_tracking_number_and_a_link():
    url = "https://track.example/4912-3456-7890?lang=ja&x=1"
    email = email_for(dispatched("ord-44", locale="ja", url=url).data)

    assert email.subject == "ご注文の商品を発送しました（注文番号 ord-44）"
    assert "お問い合わせ番号: 4912-3456-7890" in email.text
    assert f"配送状況の確認: {url}" in email.text
    assert '<a href="https://track.example/4912-3456-7890?lang=ja&amp;x=1">' in email.html


def test_shipped_without_a_tracking_url_has_no_link():
    email = email_for(dispatched("ord-44", locale="en").data)

    assert "Tracking number: 4912-3456-7890" in email.text
    assert "Track your parcel" not in email.text
    assert "<a " not in email.html


def test_a_tracking_url_that_is_not_a_web_address_never_becomes_a_link():
    email = email_for(dispatched("ord-44", locale="en", url="javascript:alert(1)").data)

    assert "javascript:" not in email.html
    assert "javascript:" not in email.text


def test_delivered_thanks_the_customer():
    email = email_for(delivered("ord-45", locale="en").data)

    assert email.subject == "Your order ord-45 was delivered"
    assert "yamato delivered your order ord-45 (tracking number 4912-3456-7890)." in email.text


def test_cancelled_gives_the_reason_and_the_total_and_announces_the_refund():
    email = email_for(cancelled("ord-46", locale="en", reason="changed my mind").data)

    assert email.subject == "Your order ord-46 is cancelled"
    assert "Your order ord-46 (¥1,200) was cancelled as you asked." in email.text
    assert "Reason: changed my mind" in email.text
    assert "we will confirm the refund in a separate e-mail" in email.text


def test_refunded_in_part_and_in_full():
    partly = email_for(refunded("ord-47", locale="ja", amount=500, total=500, full=False).data)
    fully = email_for(refunded("ord-47", locale="en", amount=700, total=1200, full=True).data)

    assert partly.subject == "返金のお知らせ（注文番号 ord-47）"
    assert "注文番号 ord-47 について 500円 を返金しました。" in partly.text
    assert "このご注文の返金額の合計: 500円" in partly.text
    assert "We refunded ¥700 for order ord-47." in fully.text
    assert "The order is now fully refunded (¥1,200 in all)." in fully.text


# -- escaping -------------------------------------------------------------------------------------------


def test_markup_in_a_name_or_a_reason_is_escaped_in_html_and_kept_as_text_in_plain_text():
    script = "<script>alert('x')</script>"
    confirmation = email_for(captured("ord-48", locale="en", name=script, recipient_name=f"Ada {script}").data)
    cancellation = email_for(cancelled("ord-48", locale="ja", reason=script).data)
    refund = email_for(refunded("ord-48", locale="en", reason=script).data)

    for email in (confirmation, cancellation, refund):
        assert "<script>" not in email.html
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in email.html
        assert script in email.text
    assert confirmation.text.startswith(f"Dear Ada {script},")


# -- money ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "text"),
    [
        (1200, "JPY", "ja", "1,200円"),
        (1200, "JPY", "en", "¥1,200"),
        (1, "JPY", "ja", "1円"),
        (2500, "USD", "en", "$25.00"),
        (2500, "USD", "ja", "$25.00"),
        (0, "USD", "en", "$0.00"),
        (5, "EUR", "en", "€0.05"),
        (123456789, "EUR", "ja", "€1,234,567.89"),
        (99, "GBP", "en", "£0.99"),
        (50000, "KRW", "en", "50,000 KRW"),
        (1000, "KWD", "en", "1.000 KWD"),
        (1999, "CHF", "ja", "19.99 CHF"),
    ],
)
def test_format_money(amount, currency, locale, text):
    assert format_money(Money(amount=amount, currency=currency), locale) == text


# -- anything else --------------------------------------------------------------------------------------


def test_an_event_without_an_email_raises():
    with pytest.raises(ValueError, match="StockReservedV1"):
        email_for(StockReservedV1(order_id="ord-1", lines=[]))


def test_an_email_is_a_plain_value():
    assert email_for(failed("ord-1").data) == email_for(failed("ord-1").data)
    assert isinstance(email_for(failed("ord-1").data), Email)


# -- the uploader's e-mails and the ticket holders' reminder --------------------------------------------


def ready(**more: object) -> VideoReadyV1:
    outputs = VideoOutputs(
        bucket="b",
        master_playlist_key="m.m3u8",
        renditions=[Rendition(name="720p", width=1280, height=720, playlist_key="720p/i.m3u8")],
        duration_ms=125_400,
    )
    fields: dict[str, object] = {"video_id": "vid_1", "attempt": 1, "job_id": "vid_1-a1", "outputs": outputs, **more}
    return VideoReadyV1.model_validate(fields)


def failed_video(**more: object) -> VideoFailedV1:
    fields: dict[str, object] = {
        "video_id": "vid_1",
        "attempt": 2,
        "error_code": "probe_failed",
        "error_message": "no video stream",
    }
    return VideoFailedV1.model_validate({**fields, **more})


@pytest.mark.parametrize("locale", LOCALES)
def test_the_uploader_is_told_a_video_is_ready_or_failed_in_both_parts(locale):
    done = video_email(ready(title="My film", uploaded_by_email="sam@example.com", locale=locale))
    assert done is not None
    assert (done.to, done.locale) == ("sam@example.com", locale)
    assert "My film" in done.subject and "vid_1" in done.text and "2:05" in done.text and "720p" in done.html
    assert f'<html lang="{locale}">' in done.html

    broken = video_email(failed_video(title="My film", uploaded_by_email="sam@example.com"))
    assert broken is not None and broken.locale == "ja"  # VideoFailed carries no locale: the shop's default
    assert broken.subject == "動画「My film」の変換に失敗しました"
    assert "probe_failed" in broken.text and "no video stream" in broken.html and "2回目" in broken.text


def test_no_uploader_address_no_email_and_a_title_is_escaped_in_html():
    assert video_email(ready(live_show_id="show-1")) is None  # a live show's recording: nobody uploaded it
    assert video_email(failed_video(title="x")) is None

    email = video_email(ready(title="<script>alert(1)</script>", uploaded_by_email="sam@example.com", locale="en"))
    assert email is not None
    assert "<script>" not in email.html and "&lt;script&gt;" in email.html
    assert email.subject == 'Your video "<script>alert(1)</script>" is ready'  # plain text: as given


def test_untitled_videos_are_named_by_their_id():
    email = video_email(ready(uploaded_by_email="sam@example.com", locale="en"))
    assert email is not None and email.subject == 'Your video "vid_1" is ready'


@pytest.mark.parametrize(
    ("locale", "text"),
    [("ja", "2026年12月1日 20:00（日本時間）"), ("en", "1 December 2026, 20:00 Japan time (11:00 UTC)")],
)
def test_a_shows_time_is_japans_and_utc_for_english(locale, text):
    assert show_time("2026-12-01T11:00:00+00:00", locale) == text
    assert show_time("2026-12-01T11:00:00Z", locale) == text


@pytest.mark.parametrize("locale", [*LOCALES, None])
def test_the_show_starts_soon_reminder_renders_with_a_safe_link(locale):
    email = show_reminder(
        to="ann@example.com",
        locale=locale,
        title="Live <b>",
        starts_at="2026-12-01T11:00:00+00:00",
        watch_url="https://w.example/1",
    )
    assert email.locale == (locale or "ja")
    assert "Live <b>" in email.subject and "Live &lt;b&gt;" in email.html
    assert '<a href="https://w.example/1">' in email.html and "https://w.example/1" in email.text

    unsafe = show_reminder(to="a@example.com", locale="en", title="x", starts_at="2026-12-01T11:00:00Z", watch_url="javascript:x")
    assert "javascript" not in unsafe.html and "javascript" not in unsafe.text
