"""Protected playback: the rules (who may watch, the cookies' expiry, their signature) without AWS, then
POST /videos/{id}/playback through the app against moto: an entitled customer gets signed cookies for
the video's outputs and their playback start is recorded; no entitlement, another customer's, an
expired rental and revoked access are each a 403 with its own code. Captions go into the master.

The signature is checked here with the public key and `cryptography` alone; the local media edge's
own verification has its tests in devstack/tests/test_media_edge.py, and tests/test_vod_playback.py
plays a real stream through it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from types import ModuleType
from typing import Any

import boto3
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from chalicelib.domain import VideoState
from chalicelib.media_signing import CookieSigner, cloudfront_b64decode, cloudfront_b64encode, signer_from_environment
from chalicelib.playback import (
    CookieSettings,
    PlaybackRefused,
    choose_entitlement,
    cookie_expiry,
    master_with_subtitles,
    set_cookie_headers,
    stream_resource,
    subtitles_playlist,
)
from shop_contracts.events import (
    Money,
    OrderCancelledV1,
    OrderLine,
    PaymentCapturedV1,
    ProductPublishedV1,
    StockLevelChangedV1,
    VideoAccess,
)
from shop_devstack.oidc_issuer import DEMO_USERS
from shop_devstack.testing import bearer, deliver_to_subscription, eventbridge_body
from shop_eventing.envelope import DomainEvent, new_event

BUCKET = "shop-local-vod-media"
MEDIA = "https://media.shop.example"
KEY_PAIR_ID = "K2TESTKEYPAIR"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=10)
EUR = Money(amount=399, currency="EUR")

MASTER = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-STREAM-INF:BANDWIDTH=1140800,RESOLUTION=320x180,CODECS="avc1.64000d,mp4a.40.2"
180p/index.m3u8

#EXT-X-STREAM-INF:BANDWIDTH=365200,RESOLUTION=160x90,CODECS="avc1.64000b,mp4a.40.2"
90p/index.m3u8
"""
RENDITION = "\n".join(
    [
        "#EXTM3U",
        "#EXT-X-TARGETDURATION:4",
        "#EXTINF:4.000000,",
        "segment_0000.ts",
        "#EXTINF:1.500000,",
        "segment_0001.ts",
        "#EXT-X-ENDLIST",
        "",
    ]
)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def verify(key: rsa.RSAPrivateKey, cookies: dict[str, str]) -> dict[str, Any]:
    """The policy the cookies carry, after checking its signature as CloudFront does (else InvalidSignature)."""
    policy = cloudfront_b64decode(cookies["CloudFront-Policy"])
    key.public_key().verify(cloudfront_b64decode(cookies["CloudFront-Signature"]), policy, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    return dict(json.loads(policy))


# -- the rules -------------------------------------------------------------------------------------


def entitlement(
    status: str = "ACTIVE", expires: datetime | None = None, granted: str = "2026-11-01", ent: str = "ent_1"
) -> dict[str, Any]:
    return {
        "entitlement_id": ent,
        "status": status,
        "granted_at": granted,
        "expires_at_iso": expires.isoformat() if expires else None,
    }


def test_a_purchase_wins_over_a_rental_and_a_later_rental_over_an_earlier_one():
    rental_soon = entitlement(expires=NOW + timedelta(hours=1), ent="ent_soon")
    rental_late = entitlement(expires=NOW + timedelta(hours=9), ent="ent_late")
    purchase = entitlement(ent="ent_buy")

    assert choose_entitlement([rental_soon, rental_late], NOW)["entitlement_id"] == "ent_late"
    assert choose_entitlement([rental_soon, purchase, rental_late], NOW)["entitlement_id"] == "ent_buy"


@pytest.mark.parametrize(
    ("entitlements", "code"),
    [
        ([], "not_entitled"),
        ([entitlement(expires=NOW)], "rental_expired"),  # DateLessThan-like: at the end it is over
        ([entitlement(status="REVOKED")], "access_revoked"),
        # Both revoked and expired: the latest entitlement says why.
        ([entitlement(status="REVOKED", granted="2026-10", ent="a"), entitlement(expires=NOW - TTL, ent="b")], "rental_expired"),
        ([entitlement(expires=NOW - TTL, granted="2026-10", ent="a"), entitlement(status="REVOKED", ent="b")], "access_revoked"),
    ],
)
def test_without_an_active_entitlement_the_refusal_says_why(entitlements, code):
    with pytest.raises(PlaybackRefused) as refused:
        choose_entitlement(entitlements, NOW)

    assert refused.value.code == code


def test_the_cookies_expire_after_the_ttl_but_never_after_the_rental():
    assert cookie_expiry(NOW, TTL, None) == NOW + TTL
    assert cookie_expiry(NOW, TTL, NOW + timedelta(hours=48)) == NOW + TTL
    assert cookie_expiry(NOW, TTL, NOW + timedelta(minutes=3)) == NOW + timedelta(minutes=3)


def test_the_signed_policy_names_the_attempts_outputs_and_the_expiry(key):
    signer = CookieSigner(KEY_PAIR_ID, pem(key))
    resource = stream_resource(MEDIA + "/", "outputs/vid_1/a2/")

    signed = signer.signed_cookies(resource, NOW + TTL)

    assert resource == "https://media.shop.example/outputs/vid_1/a2/*"
    assert signed.values["CloudFront-Key-Pair-Id"] == KEY_PAIR_ID
    assert verify(key, signed.values) == {
        "Statement": [{"Resource": resource, "Condition": {"DateLessThan": {"AWS:EpochTime": int((NOW + TTL).timestamp())}}}]
    }
    assert not set("+=/") & set(signed.values["CloudFront-Policy"] + signed.values["CloudFront-Signature"])


def test_a_tampered_policy_fails_the_signature_check(key):
    signed = CookieSigner(KEY_PAIR_ID, pem(key)).signed_cookies(stream_resource(MEDIA, "outputs/vid_1/a1/"), NOW + TTL)
    widened = signed.policy.replace("vid_1/a1/*", "*").encode()

    with pytest.raises(InvalidSignature):
        verify(key, {**signed.values, "CloudFront-Policy": cloudfront_b64encode(widened)})


def test_cloudfront_base64_swaps_the_three_characters():
    assert cloudfront_b64encode(b"\xfb\xff\xfe") == "-~~-"
    assert cloudfront_b64encode(b"a") == "YQ__"
    assert cloudfront_b64decode("-~~-") == b"\xfb\xff\xfe"


def test_signing_needs_its_key_and_reads_it_from_ssm_when_no_pem_is_given(key):
    parameters = {"/shop/dev/vod/media-signing-key": pem(key).decode()}
    environ = {"VOD_MEDIA_KEY_PAIR_ID": KEY_PAIR_ID, "VOD_MEDIA_SIGNING_KEY_PARAMETER": "/shop/dev/vod/media-signing-key"}

    signer = signer_from_environment(environ, parameters.__getitem__)

    verify(key, signer.signed_cookies(f"{MEDIA}/outputs/v/a1/*", NOW).values)
    with pytest.raises(RuntimeError, match="VOD_MEDIA_KEY_PAIR_ID"):
        signer_from_environment({"VOD_MEDIA_SIGNING_KEY": pem(key).decode()}, parameters.__getitem__)


@pytest.mark.parametrize(
    ("settings", "attributes"),
    [
        (CookieSettings(secure=True, domain="shop.example"), {"Secure", "SameSite=None", "Domain=shop.example"}),
        (CookieSettings(secure=False), {"SameSite=Lax"}),
    ],
)
def test_the_cookies_are_http_only_for_the_videos_path_until_the_policy_expires(settings, attributes):
    headers = set_cookie_headers(
        {"CloudFront-Policy": "eyJ-_~", "CloudFront-Key-Pair-Id": KEY_PAIR_ID},
        path="/outputs/vid_1/",
        expires=NOW + TTL,
        now=NOW,
        settings=settings,
    )

    assert [h.split(";")[0] for h in headers] == ["CloudFront-Policy=eyJ-_~", f"CloudFront-Key-Pair-Id={KEY_PAIR_ID}"]
    for header in headers:
        parts = {part.strip() for part in header.split(";")[1:]}
        assert parts == {"Path=/outputs/vid_1/", "Max-Age=600", "HttpOnly", *attributes}


def test_the_master_gets_a_subtitles_rendition_per_language_and_every_variant_names_them():
    master = master_with_subtitles(MASTER, ["ja", "en"])

    media = [line for line in master.splitlines() if line.startswith("#EXT-X-MEDIA:")]
    assert media == [
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="en",LANGUAGE="en",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI="subs/en.m3u8"',
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="ja",LANGUAGE="ja",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI="subs/ja.m3u8"',
    ]
    variants = [line for line in master.splitlines() if line.startswith("#EXT-X-STREAM-INF:")]
    assert len(variants) == 2 and all(v.endswith(',SUBTITLES="subs"') for v in variants)
    assert master.index("#EXT-X-MEDIA:") < master.index("#EXT-X-STREAM-INF:")
    # Rewritten again (another caption change): the same, not doubled; with none left, the original.
    assert master_with_subtitles(master, ["en", "ja"]) == master
    assert master_with_subtitles(master, []) == MASTER


def test_a_subtitles_playlist_is_the_whole_vtt_as_one_segment():
    playlist = subtitles_playlist("ja", 5.5)

    assert "#EXT-X-TARGETDURATION:6" in playlist
    assert "#EXTINF:5.500,\nja.vtt\n#EXT-X-ENDLIST" in playlist


# -- through the API -------------------------------------------------------------------------------


@pytest.fixture
def media(vod_app: ModuleType, key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("VOD_MEDIA_BASE_URL", MEDIA)
    monkeypatch.setenv("VOD_MEDIA_KEY_PAIR_ID", KEY_PAIR_ID)
    monkeypatch.setenv("VOD_MEDIA_SIGNING_KEY", pem(key).decode())
    vod_app.cookie_signer.cache_clear()
    yield
    vod_app.cookie_signer.cache_clear()


def ready_video(vod_app: ModuleType, *, state: VideoState = VideoState.READY, attempt: int = 1) -> str:
    """A video as finish_transcode leaves it, with a two-rung master and playlists in the bucket (the
    real transcode is test_ingest's and the end-to-end test's)."""
    video_id = f"vid_{uuid.uuid4().hex[:20]}"
    prefix = f"outputs/{video_id}/a{attempt}/"
    s3 = boto3.client("s3")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}master.m3u8", Body=MASTER.encode())
    for rung in ("180p", "90p"):
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}{rung}/index.m3u8", Body=RENDITION.encode())
    now = datetime.now(UTC).isoformat()
    outputs = {
        "bucket": BUCKET,
        "master_playlist_key": f"{prefix}master.m3u8",
        "renditions": [
            {"name": "180p", "width": 320, "height": 180, "playlist_key": f"{prefix}180p/index.m3u8"},
            {"name": "90p", "width": 160, "height": 90, "playlist_key": f"{prefix}90p/index.m3u8"},
        ],
        "duration_ms": None,
    }
    uow = vod_app.unit_of_work()
    uow.add_video(
        {
            "video_id": video_id,
            "title": "Nightfall",
            "state": str(state),
            "attempt": attempt,
            "content_type": "video/mp4",
            "source_key": f"sources/{video_id}/source",
            "created_by": "sam",
            "created_at": now,
            "updated_at": now,
            "captions": {},
            **({"outputs": outputs} if state == VideoState.READY else {}),
        }
    )
    uow.commit()
    return video_id


def paid(customer: str, access: VideoAccess, *, at: datetime) -> DomainEvent:
    order_id = f"ord-{uuid.uuid4().hex[:12]}"
    line = OrderLine(sku="FILM", name="Nightfall", kind="digital", quantity=1, unit_price=EUR, access=access)
    data = PaymentCapturedV1(
        order_id=order_id,
        payment_id="ch_test",
        amount=EUR,
        customer_email=f"{customer}@example.com",
        lines=[line],
        customer_id=DEMO_USERS[customer].sub,
    )
    return new_event(data, producer="shop.orders", correlation_id=order_id, now=at)


def grant(vod_app: ModuleType, customer: str, access: VideoAccess, *, at: datetime | None = None) -> DomainEvent:
    event = paid(customer, access, at=at or datetime.now(UTC))
    assert deliver_to_subscription(vod_app, "vod", "grant-access", eventbridge_body(event)) == {"batchItemFailures": []}
    return event


def rent(video_id: str, hours: int = 48) -> VideoAccess:
    return VideoAccess(product_type="video_rental", video_id=video_id, rental_hours=hours)


def play(client: Any, issuer: Any, video_id: str, user: str = "grace") -> Any:
    return client.http.post(f"/videos/{video_id}/playback", headers=bearer(issuer, user))


def error_code(response: Any) -> tuple[int, str]:
    return response.status_code, json.loads(response.body)["error"]["code"]


def test_my_videos_keeps_playbacks_clock_so_it_never_calls_active_what_playback_refuses(
    client, issuer, vod_app, aws, media, tmp_path, monkeypatch
):
    """The embedded stack's clock drill (VOD_CLOCK_OFFSET_FILE) moves playback's clock; GET /me/videos
    reads the same clock, so a rental it lists as active always plays, and one playback refuses is not."""
    video_id = ready_video(vod_app)
    order_id = grant(vod_app, "grace", rent(video_id, hours=1)).data.order_id  # type: ignore[union-attr]

    def listed_active() -> bool:
        response = client.http.get("/me/videos", headers=bearer(issuer, "grace"))
        [mine] = [e for e in json.loads(response.body)["entitlements"] if e["order_id"] == order_id]
        return bool(mine["active"])

    assert (listed_active(), play(client, issuer, video_id).status_code) == (True, 200)
    drill = tmp_path / "clock-offset"
    drill.write_text(str(2 * 3600))  # two hours on: the one-hour rental is over
    monkeypatch.setenv("VOD_CLOCK_OFFSET_FILE", str(drill))

    assert (listed_active(), error_code(play(client, issuer, video_id))) == (False, (403, "rental_expired"))


def test_an_entitled_customer_gets_signed_cookies_for_the_videos_outputs(client, issuer, vod_app, aws, media, key):
    video_id = ready_video(vod_app)
    event = grant(vod_app, "grace", rent(video_id))

    response = play(client, issuer, video_id)

    assert response.status_code == 200, response.body
    body = json.loads(response.body)
    assert body["master_url"] == f"{MEDIA}/outputs/{video_id}/a1/master.m3u8"
    policy = verify(key, body["cookies"])
    [statement] = policy["Statement"]
    assert statement["Resource"] == f"{MEDIA}/outputs/{video_id}/a1/*"
    expires = datetime.fromisoformat(body["expires_at"])
    assert statement["Condition"]["DateLessThan"]["AWS:EpochTime"] == int(expires.timestamp())
    assert expires < event.metadata.occurred_at + timedelta(hours=48)  # the TTL, well before the rental's end
    set_cookies = response.headers["Set-Cookie"]
    jar: SimpleCookie = SimpleCookie()
    for header in set_cookies if isinstance(set_cookies, list) else [set_cookies]:
        jar.load(header)
    assert {name: morsel.value for name, morsel in jar.items()} == body["cookies"]
    assert {morsel["path"] for morsel in jar.values()} == {f"/outputs/{video_id}/"}
    assert all(morsel["httponly"] for morsel in jar.values())
    assert response.headers["Cache-Control"] == "no-store"


def test_playback_carries_the_videos_shoppable_timeline_with_prices_and_stock_now(client, issuer, vod_app, aws, media):
    """A player needs the buy buttons with the stream: the same entries GET /videos/{id}/timeline answers."""
    video_id = ready_video(vod_app)
    grant(vod_app, "grace", rent(video_id))
    code = f"TEE-{uuid.uuid4().hex[:8].upper()}"
    for data in (
        ProductPublishedV1(sku=code, name="Blue tee", kind="physical", price=EUR, revision=1, product_type="physical_good"),
        StockLevelChangedV1(sku=code, on_hand=2, stock_version=3),
    ):
        event = new_event(data, producer="shop.catalog", correlation_id=f"product:{code}")
        assert deliver_to_subscription(vod_app, "vod", "product-view", eventbridge_body(event)) == {"batchItemFailures": []}
    placed = client.http.put(
        f"/videos/{video_id}/markers",
        headers={"Content-Type": "application/json", "If-Match": '"0"', **bearer(issuer, "sam")},
        body=json.dumps({"markers": [{"sku": code, "start_s": 1.5, "end_s": 4}]}),
    )
    assert placed.status_code == 200, placed.body

    response = play(client, issuer, video_id)

    assert response.status_code == 200, response.body
    [marker] = json.loads(response.body)["markers"]
    timeline = client.http.get(f"/videos/{video_id}/timeline", headers=bearer(issuer, "grace"))
    assert json.loads(timeline.body)["markers"] == [marker]
    assert (marker["sku"], marker["start_s"], marker["end_s"]) == (code, 1.5, 4.0)
    assert marker["product"]["price"] == EUR.model_dump()
    assert (marker["stock"], marker["purchasable"]) == ({"on_hand": 2, "availability": "low"}, True)


def test_a_playback_start_is_recorded_once_as_first_and_counted_every_time(client, issuer, vod_app, aws, media):
    video_id = ready_video(vod_app)
    event = grant(vod_app, "grace", rent(video_id))

    first = json.loads(play(client, issuer, video_id).body)
    second = json.loads(play(client, issuer, video_id).body)

    assert (first["play_count"], second["play_count"]) == (1, 2)
    assert first["first_played_at"] == second["first_played_at"]
    [item] = [i for i in vod_app.repository.entitlements(DEMO_USERS["grace"].sub, f"VIDEO#{video_id}")]
    assert item["order_id"] == event.data.order_id  # type: ignore[union-attr]
    assert item["first_played_at"] == first["first_played_at"] <= item["last_played_at"]


def test_a_rentals_cookies_never_outlive_the_rental(client, issuer, vod_app, aws, media, key):
    video_id = ready_video(vod_app)
    # Paid 47 h 57 min ago for 48 hours: three minutes are left, less than the TTL.
    paid_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=47, minutes=57)
    grant(vod_app, "grace", rent(video_id), at=paid_at)

    body = json.loads(play(client, issuer, video_id).body)

    assert datetime.fromisoformat(body["expires_at"]) == paid_at + timedelta(hours=48)
    [statement] = verify(key, body["cookies"])["Statement"]
    assert statement["Condition"]["DateLessThan"]["AWS:EpochTime"] == int((paid_at + timedelta(hours=48)).timestamp())


def test_no_entitlement_and_another_customers_are_not_entitled(client, issuer, vod_app, aws, media):
    video_id = ready_video(vod_app)
    assert error_code(play(client, issuer, video_id, "ada")) == (403, "not_entitled")

    grant(vod_app, "grace", rent(video_id))

    assert play(client, issuer, video_id, "grace").status_code == 200
    assert error_code(play(client, issuer, video_id, "ada")) == (403, "not_entitled")


def test_an_expired_rental_is_refused(client, issuer, vod_app, aws, media):
    video_id = ready_video(vod_app)
    grant(vod_app, "grace", rent(video_id, 48), at=datetime.now(UTC) - timedelta(hours=49))

    response = play(client, issuer, video_id)

    assert error_code(response) == (403, "rental_expired")
    assert "Set-Cookie" not in response.headers


def test_revoked_access_is_refused(client, issuer, vod_app, aws, media):
    video_id = ready_video(vod_app)
    payment = grant(vod_app, "grace", VideoAccess(product_type="video_purchase", video_id=video_id))
    assert play(client, issuer, video_id).status_code == 200
    order = payment.data.model_dump()  # type: ignore[union-attr]
    cancellation = OrderCancelledV1(
        order_id=order["order_id"],
        cancelled_by="customer",
        reason="changed my mind",
        customer_email=order["customer_email"],
        customer_id=order["customer_id"],
        lines=order["lines"],
        total=order["amount"],
        payment_id=order["payment_id"],
    )
    cancelled = new_event(cancellation, producer="shop.orders", correlation_id=order["order_id"])
    assert deliver_to_subscription(vod_app, "vod", "revoke-access", eventbridge_body(cancelled)) == {"batchItemFailures": []}

    assert error_code(play(client, issuer, video_id)) == (403, "access_revoked")


def test_staff_may_play_any_ready_video_and_nobody_one_that_is_not(client, issuer, vod_app, aws, media):
    ready = ready_video(vod_app)
    transcoding = ready_video(vod_app, state=VideoState.TRANSCODING)
    grant(vod_app, "grace", rent(transcoding))

    assert play(client, issuer, ready, "sam").status_code == 200
    assert error_code(play(client, issuer, transcoding, "sam")) == (409, "not_ready")
    assert error_code(play(client, issuer, transcoding, "grace")) == (409, "not_ready")
    assert error_code(play(client, issuer, f"vid_{uuid.uuid4().hex[:20]}", "grace")) == (404, "not_found")
    assert client.http.anonymous.post(f"/videos/{ready}/playback").status_code == 401


def test_captions_of_a_ready_video_are_published_under_its_protected_outputs(client, vod_app, aws, media):
    video_id = ready_video(vod_app)
    vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nこんにちは\n"

    for language in ("ja", "en"):
        path = f"/videos/{video_id}/captions/{language}"
        response = client.http.put(path, headers={"Content-Type": "text/vtt"}, body=vtt.encode())
        assert response.status_code == 200, response.body

    s3 = boto3.client("s3")

    def text(key: str) -> str:
        return str(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode())

    prefix = f"outputs/{video_id}/a1/"
    master = text(f"{prefix}master.m3u8")
    assert master == master_with_subtitles(MASTER, ["en", "ja"])
    assert text(f"{prefix}subs/ja.vtt") == vtt
    assert "#EXTINF:5.500,\nja.vtt" in text(f"{prefix}subs/ja.m3u8")  # the rendition's length: 4 + 1.5 s
    head = s3.head_object(Bucket=BUCKET, Key=f"{prefix}subs/en.m3u8")
    assert head["ContentType"] == "application/vnd.apple.mpegurl"


def test_captions_attached_while_transcoding_are_published_when_the_video_becomes_ready(client, vod_app, aws):
    from chalicelib import usecases
    from chalicelib.transcoder import JobOutcome, RenditionOutput

    video_id = ready_video(vod_app, state=VideoState.TRANSCODING)
    vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nBonjour\n"
    stored = client.http.put(f"/videos/{video_id}/captions/fr", headers={"Content-Type": "text/vtt"}, body=vtt.encode())
    assert stored.status_code == 200, stored.body
    prefix = f"outputs/{video_id}/a1/"
    s3 = boto3.client("s3")

    def text(key: str) -> str:
        return str(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode())

    assert text(f"{prefix}master.m3u8") == MASTER  # not READY: nothing published yet
    outcome = JobOutcome(
        video_id,
        1,
        f"{video_id}-a1",
        "COMPLETE",
        bucket=BUCKET,
        master_playlist_key=f"{prefix}master.m3u8",
        renditions=[RenditionOutput(320, 180, f"{prefix}180p/index.m3u8"), RenditionOutput(160, 90, f"{prefix}90p/index.m3u8")],
        duration_ms=5500,
    )

    assert usecases.finish_transcode(outcome, vod_app.repository, vod_app.unit_of_work, vod_app.media_store()) == "COMPLETE"

    assert text(f"{prefix}master.m3u8") == master_with_subtitles(MASTER, ["fr"])
    assert text(f"{prefix}subs/fr.vtt") == vtt
    assert "#EXTINF:5.500,\nfr.vtt" in text(f"{prefix}subs/fr.m3u8")
