"""vod end to end: protected playback on the embedded stack, with a real HLS player.

Staff upload a generated clip with English captions; real ffmpeg transcodes it. A staff member puts a
rental of it on sale through the catalog API, ada buys it through the orders API (PaymentCaptured grants
the entitlement), asks vod for playback and gets signed cookies; ffmpeg, a real HLS player, then reads the
whole stream (master, a media playlist, its segments) through the media edge, CloudFront's stand-in,
with those cookies. The edge's request log shows what it served.

Gating, checked against the playlist and a segment: no cookies; another customer (no entitlement);
one video's cookies on another video's paths; the rental over (the stack's clock drill moves vod's
and the edge's clocks 49 hours on: playback says rental_expired and the cookies already issued are past
their DateLessThan); and access revoked by cancelling the order (EntitlementRevoked: access_revoked)."""

from __future__ import annotations

import http.cookiejar
import json
import re
import subprocess
import urllib.request
import uuid
from datetime import timedelta
from typing import Any

import pytest

from shop_devstack.testing import eventually
from tests.test_vod_ingest import ffmpeg, settled

VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello\n\n00:00:01.500 --> 00:00:03.000\nGoodbye\n"


def clip_with_sound(path: Any, seconds: int = 5) -> bytes:
    """A few seconds of test pattern and tone: a stream of two segments per rendition."""
    command = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y"]
    command += ["-f", "lavfi", "-i", f"testsrc=size=320x180:rate=25:duration={seconds}"]
    command += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac", "-shortest"]
    command += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(command, check=True, capture_output=True)
    return bytes(path.read_bytes())


def upload(shop: Any, source: bytes, title: str) -> str:
    created = shop.call("vod", "POST", "/videos", {"title": title}, user="sam")
    assert created.status == 201, created.body
    put = shop.http.request("PUT", created.body["upload_url"], body=source, headers={"Content-Type": "video/mp4"})
    assert put.status == 200
    video_id = str(created.body["video_id"])
    completed = shop.call("vod", "POST", f"/videos/{video_id}/upload/complete", {}, user="sam")
    assert completed.status == 200, completed.body
    return video_id


def put_on_sale(shop: Any, video_id: str) -> str:
    sku = f"RENT-{uuid.uuid4().hex[:10].upper()}"
    product = {
        "sku": sku,
        "name": "Rent the test film for 48 hours",
        "product_type": "video_rental",
        "price": {"amount": 399, "currency": "USD"},
        "access": {"video_id": video_id, "rental_hours": 48},
    }
    draft = shop.call("catalog", "POST", "/staff/products", product, user="sam")
    assert draft.status == 201, draft.body
    published = shop.call("catalog", "POST", f"/staff/products/{sku}/publish", headers={"If-Match": '"1"'}, user="sam")
    assert published.status == 200, published.body
    eventually(lambda: shop.storefront_has(sku), what=f"{sku} in the orders service's catalog view")
    return sku


def play(shop: Any, video_id: str, user: str = "ada") -> Any:
    return shop.call("vod", "POST", f"/videos/{video_id}/playback", user=user)


def edge_get(shop: Any, url: str, cookies: dict[str, str] | None = None) -> Any:
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}
    return shop.http.request("GET", url, headers=headers)


def served(shop: Any, video_id: str) -> list[dict[str, Any]]:
    response = shop.http.request("GET", f"{shop.stack.media_url}/admin/requests?prefix=/outputs/{video_id}/")
    return list(json.loads(response.data)["requests"])


def hls_player(master_url: str, cookies: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """ffmpeg as the player: it reads the master, picks a rendition, reads its playlist and every segment."""
    header = "; ".join(f"{name}={value}" for name, value in cookies.items())
    command = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-headers", f"Cookie: {header}\r\n", "-i", master_url]
    command += ["-map", "0:v:0", "-map", "0:a:0", "-f", "null", "-"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def films(shop: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Two READY videos: `a` with English captions attached while it was transcoding, and `b`."""
    source = clip_with_sound(tmp_path_factory.mktemp("clips") / "film.mp4")
    a, b = upload(shop, source, "Film A"), upload(shop, source, "Film B")
    captions = shop.call("vod", "PUT", f"/videos/{a}/captions/en", VTT, {"Content-Type": "text/vtt"}, user="sam")
    assert captions.status == 200, captions.body
    for video_id in (a, b):
        assert settled(shop, video_id)["state"] == "READY"
    return {"a": a, "b": b}


def test_a_rented_video_plays_through_the_edge_with_its_cookies_and_only_with_them(shop, films):
    a, b = films["a"], films["b"]
    sku = put_on_sale(shop, a)
    placed = shop.place_order([(sku, 1)], address=None, user="ada")
    assert placed.status == 201, placed.body
    order_id = placed.body["order_id"]
    assert shop.settled_order(order_id, wanting={"PAID"})["status"] == "PAID"

    # vod grants the rental on PaymentCaptured; playback is refused until then, and for anybody else.
    started = eventually(lambda: ((r := play(shop, a)).status == 200 and r) or None, timeout=30, what="ada's playback")
    assert (play(shop, a, "grace").status, play(shop, a, "grace").body["error"]["code"]) == (403, "not_entitled")
    body = started.body
    assert body["master_url"] == f"{shop.stack.media_url}/outputs/{a}/a1/master.m3u8"
    assert body["play_count"] >= 1
    cookies = body["cookies"]

    # A real HLS player reads the stream through the edge with the cookies: master, media playlist, segments.
    player = hls_player(body["master_url"], cookies)
    assert player.returncode == 0, player.stderr
    # ffmpeg asks with Range: bytes=0-, which S3 (and so CloudFront, and the edge) answer with a 206.
    ok = [r["path"] for r in served(shop, a) if r["status"] in (200, 206)]
    assert f"/outputs/{a}/a1/master.m3u8" in ok
    assert any(re.fullmatch(rf"/outputs/{a}/a1/[^/]+/index\.m3u8", path) for path in ok)
    assert sum(1 for path in ok if path.endswith(".ts")) >= 2

    # The master names the captions, which are under the same protected outputs.
    master = edge_get(shop, body["master_url"], cookies)
    assert master.status == 200
    assert '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="en",LANGUAGE="en"' in master.data.decode()
    assert all(
        line.endswith(',SUBTITLES="subs"') for line in master.data.decode().splitlines() if line.startswith("#EXT-X-STREAM-INF")
    )
    base = body["master_url"].rsplit("/", 1)[0]
    assert edge_get(shop, f"{base}/subs/en.vtt", cookies).data.decode() == VTT
    rendition = next(line for line in master.data.decode().splitlines() if line.endswith("index.m3u8"))
    playlist = edge_get(shop, f"{base}/{rendition}", cookies)
    segment = next(line for line in playlist.data.decode().splitlines() if line.endswith(".ts"))
    segment_url = f"{base}/{rendition.rsplit('/', 1)[0]}/{segment}"
    protected = (body["master_url"], segment_url)
    assert [edge_get(shop, url, cookies).status for url in protected] == [200, 200]

    # No cookies: CloudFront's 403, for the playlist and for a segment.
    assert [edge_get(shop, url).status for url in protected] == [403, 403]

    # Video A's cookies on video B's paths, and the other way round.
    b_started = play(shop, b, "sam")  # staff may play anything
    assert b_started.status == 200, b_started.body
    b_master = b_started.body["master_url"]
    b_segment = segment_url.replace(f"/outputs/{a}/", f"/outputs/{b}/")
    assert edge_get(shop, b_segment, b_started.body["cookies"]).status == 200  # B's stream has that segment
    assert [edge_get(shop, url, cookies).status for url in (b_master, b_segment)] == [403, 403]
    assert [edge_get(shop, url, b_started.body["cookies"]).status for url in protected] == [403, 403]

    # 49 hours later the rental is over: playback says so, and the cookies issued are past DateLessThan.
    with shop.stack.clock_ahead(timedelta(hours=49)):
        expired = play(shop, a)
        assert (expired.status, expired.body["error"]["code"]) == (403, "rental_expired")
        assert [edge_get(shop, url, cookies).status for url in protected] == [403, 403]
    assert play(shop, a).status == 200  # back in the rental's time

    # Cancelling the order takes the access back (OrderCancelled → revoke-access → EntitlementRevoked).
    cancelled = shop.call("orders", "POST", f"/orders/{order_id}/cancel", {"reason": "changed my mind"}, user="ada")
    assert cancelled.status == 200, cancelled.body

    def revoked() -> Any:
        reply = play(shop, a)
        return reply if reply.status == 403 else None

    refused = eventually(revoked, timeout=30, what="playback refused after the cancellation")
    assert refused.body["error"]["code"] == "access_revoked"
    # Cookies already issued stay valid until their DateLessThan: CloudFront cannot revoke them, the
    # short TTL bounds the lag (services/vod/README.md).
    assert edge_get(shop, body["master_url"], cookies).status == 200


def test_cookies_set_by_the_vod_api_reach_the_edge_on_another_port(shop, films):
    """Cookies belong to a host, not a port: a browser (here http.cookiejar) that got them from vod on
    127.0.0.1:<vod port> sends them to the edge on 127.0.0.1:<edge port>, and only under the video's path."""
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    video_id = films["b"]
    request = urllib.request.Request(
        f"{shop.stack.service_urls['vod']}/videos/{video_id}/playback",
        data=b"",
        method="POST",
        headers={"Authorization": f"Bearer {shop.token('sam')}", "Content-Type": "application/json"},
    )
    with browser.open(request, timeout=30) as response:
        master_url = json.load(response)["master_url"]

    assert {cookie.name for cookie in jar} == {"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"}
    assert {(cookie.domain, cookie.path) for cookie in jar} == {("127.0.0.1", f"/outputs/{video_id}/")}
    assert master_url.startswith(shop.stack.media_url) and shop.stack.media_url != shop.stack.service_urls["vod"]
    with browser.open(master_url, timeout=30) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/vnd.apple.mpegurl"
        assert response.read().startswith(b"#EXTM3U")
