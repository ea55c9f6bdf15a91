"""The media edge alone, over HTTP, in front of a bucket on an in-process embedded AWS: it serves an object
only with a CloudFront signature made by a trusted key (signed cookies, or a signed URL's query) whose
policy covers the URL now, and answers everything else with CloudFront's 403.

The signatures are made here with botocore's CloudFrontSigner and `cryptography`, as the shop's vod
service (or anybody following CloudFront's documentation) makes them, not with the edge's own code."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from shop_devstack.media_edge import MediaEdge, resource_matches
from shop_devstack.testing import embedded_aws

KEY_ID = "K2TESTEDGE"
ORIGIN = "http://127.0.0.1:5173"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SEGMENT = bytes(range(256)) * 8
FILES = {
    "outputs/vid_a/a1/master.m3u8": (b"#EXTM3U\n", "application/vnd.apple.mpegurl"),
    "outputs/vid_a/a1/180p/segment_0000.ts": (SEGMENT, "video/mp2t"),
    "outputs/vid_a/a1/subs/ja.vtt": ("WEBVTT\n\n00:00.000 --> 00:01.000\nやあ\n".encode(), "text/vtt"),
    "outputs/vid_a/a1/poster.jpg": (b"\xff\xd8\xff\xe0jpeg", "image/jpeg"),
    "outputs/vid_b/a1/master.m3u8": (b"#EXTM3U\n", "application/vnd.apple.mpegurl"),
    "sources/vid_a/source": (b"the original", "video/mp4"),
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode().translate(str.maketrans("+=/", "-_~"))


@dataclass
class Edge:
    url: str
    key: rsa.RSAPrivateKey
    clock: list[float]
    server: MediaEdge

    def signer(self, key: rsa.RSAPrivateKey | None = None, key_id: str = KEY_ID) -> CloudFrontSigner:
        signing_key = key or self.key
        return CloudFrontSigner(key_id, lambda message: signing_key.sign(message, padding.PKCS1v15(), hashes.SHA1()))  # noqa: S303

    def cookies(self, resource: str, expires: datetime = NOW + timedelta(minutes=10), **options: Any) -> dict[str, str]:
        signer = self.signer(**options)
        policy = signer.build_policy(resource, expires).encode()
        return {
            "CloudFront-Policy": b64(policy),
            "CloudFront-Signature": b64(signer.rsa_signer(policy)),
            "CloudFront-Key-Pair-Id": signer.key_id,
        }


def pem_public(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def edge() -> Iterator[Edge]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    clock = [NOW.timestamp()]
    with embedded_aws():
        s3 = boto3.client("s3")
        bucket = f"media-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        for name, (body, content_type) in FILES.items():
            # Stored as a browser upload might have labelled it: the edge answers with the kind's own type.
            s3.put_object(
                Bucket=bucket, Key=name, Body=body, ContentType="binary/octet-stream" if name.endswith(".ts") else content_type
            )
        server = MediaEdge(
            s3=s3, bucket=bucket, public_keys={KEY_ID: pem_public(key)}, cors_origins=[ORIGIN], clock=lambda: clock[0]
        )
        with server:
            yield Edge(server.url, key, clock, server)


def get(
    edge: Edge, path: str, cookies: dict[str, str] | None = None, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    sent = dict(headers or {})
    if cookies:
        sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    request = urllib.request.Request(f"{edge.url}{path}", headers=sent, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def whole_video(edge: Edge, video: str = "vid_a") -> str:
    return f"{edge.url}/outputs/{video}/a1/*"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/outputs/vid_a/a1/master.m3u8", "application/vnd.apple.mpegurl"),
        ("/outputs/vid_a/a1/180p/segment_0000.ts", "video/mp2t"),
        ("/outputs/vid_a/a1/subs/ja.vtt", "text/vtt"),
        ("/outputs/vid_a/a1/poster.jpg", "image/jpeg"),
    ],
)
def test_signed_cookies_for_the_videos_outputs_open_each_of_its_files(edge, path, content_type):
    status, headers, body = get(edge, path, edge.cookies(whole_video(edge)))

    assert (status, headers["Content-Type"]) == (200, content_type)
    assert body == FILES[path.removeprefix("/")][0]


def test_without_a_signature_it_is_cloudfronts_403(edge):
    status, headers, body = get(edge, "/outputs/vid_a/a1/master.m3u8")

    assert (status, headers["Content-Type"]) == (403, "text/xml")
    assert b"<Code>AccessDenied</Code><Message>Missing Key-Pair-Id query parameter or cookie value</Message>" in body


def test_a_tampered_signature_or_policy_is_refused(edge):
    good = edge.cookies(whole_video(edge))
    signature = bytearray(base64.b64decode(good["CloudFront-Signature"].translate(str.maketrans("-_~", "+=/"))))
    signature[10] ^= 1
    widened = edge.signer().build_policy(f"{edge.url}/*", NOW + timedelta(minutes=10)).encode()

    assert get(edge, "/outputs/vid_a/a1/master.m3u8", {**good, "CloudFront-Signature": b64(bytes(signature))})[0] == 403
    assert get(edge, "/outputs/vid_b/a1/master.m3u8", {**good, "CloudFront-Policy": b64(widened)})[0] == 403


def test_another_keys_signature_or_an_unknown_key_pair_id_is_refused(edge):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    assert get(edge, "/outputs/vid_a/a1/master.m3u8", edge.cookies(whole_video(edge), key=stranger))[0] == 403
    status, _, body = get(edge, "/outputs/vid_a/a1/master.m3u8", edge.cookies(whole_video(edge), key_id="K2OTHER"))
    assert status == 403 and b"Unknown Key" in body


def test_one_videos_cookies_do_not_open_another_video_or_the_sources(edge):
    cookies = edge.cookies(whole_video(edge, "vid_a"))

    assert get(edge, "/outputs/vid_b/a1/master.m3u8", cookies)[0] == 403
    assert get(edge, "/sources/vid_a/source", edge.cookies(f"{edge.url}/*"))[0] == 403
    assert get(edge, "/outputs/vid_a/a1/master.m3u8", cookies)[0] == 200


def test_a_policy_opens_until_its_date_less_than_and_not_a_second_after(edge):
    cookies = edge.cookies(whole_video(edge), NOW + timedelta(minutes=10))
    try:
        edge.clock[0] = (NOW + timedelta(minutes=10, seconds=-1)).timestamp()
        assert get(edge, "/outputs/vid_a/a1/180p/segment_0000.ts", cookies)[0] == 200
        edge.clock[0] = (NOW + timedelta(minutes=10)).timestamp()
        assert get(edge, "/outputs/vid_a/a1/180p/segment_0000.ts", cookies)[0] == 403
    finally:
        edge.clock[0] = NOW.timestamp()


def test_a_signed_url_works_with_a_custom_or_a_canned_policy(edge):
    url = f"{edge.url}/outputs/vid_a/a1/180p/segment_0000.ts"
    signer = edge.signer()
    custom = signer.generate_presigned_url(url, policy=signer.build_policy(whole_video(edge), NOW + timedelta(minutes=5)))
    canned = signer.generate_presigned_url(url, date_less_than=NOW + timedelta(minutes=5))
    elsewhere = signer.generate_presigned_url(url.replace("vid_a", "vid_b"), date_less_than=NOW + timedelta(minutes=5))

    for signed in (custom, canned):
        status, _, body = get(edge, signed.removeprefix(edge.url))
        assert (status, body) == (200, SEGMENT)
    assert get(edge, elsewhere.replace("vid_b", "vid_a").removeprefix(edge.url))[0] == 403


def test_a_range_request_gets_those_bytes(edge):
    status, headers, body = get(
        edge, "/outputs/vid_a/a1/180p/segment_0000.ts", edge.cookies(whole_video(edge)), {"Range": "bytes=100-199"}
    )

    assert (status, headers["Content-Range"], body) == (206, f"bytes 100-199/{len(SEGMENT)}", SEGMENT[100:200])


def test_cors_with_credentials_only_for_a_configured_origin(edge):
    cookies = edge.cookies(whole_video(edge))
    _, allowed, _ = get(edge, "/outputs/vid_a/a1/master.m3u8", cookies, {"Origin": ORIGIN})
    _, other, _ = get(edge, "/outputs/vid_a/a1/master.m3u8", cookies, {"Origin": "http://evil.example"})
    status, preflight, _ = get(
        edge, "/outputs/vid_a/a1/master.m3u8", None, {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}, "OPTIONS"
    )

    assert (allowed["Access-Control-Allow-Origin"], allowed["Access-Control-Allow-Credentials"]) == (ORIGIN, "true")
    assert "Access-Control-Allow-Origin" not in other
    assert (status, preflight["Access-Control-Allow-Headers"]) == (204, "Range")


def test_the_request_log_says_what_was_served_and_why_not(edge):
    path = "/outputs/vid_a/a1/poster.jpg"
    get(edge, path)
    get(edge, path, edge.cookies(whole_video(edge)))

    with urllib.request.urlopen(f"{edge.url}/admin/requests?prefix={path}", timeout=10) as response:
        logged = json.load(response)["requests"][-2:]

    assert [(r["status"], r["reason"]) for r in logged] == [
        (403, "Missing Key-Pair-Id query parameter or cookie value"),
        (200, "served"),
    ]


@pytest.mark.parametrize(
    ("pattern", "url", "matches"),
    [
        ("https://m.example/outputs/v/a1/*", "https://m.example/outputs/v/a1/720p/s.ts", True),
        ("https://m.example/outputs/v/a1/*", "https://m.example/outputs/v/a10/x", False),
        ("https://m.example/outputs/v/a?/x", "https://m.example/outputs/v/a1/x", True),
        ("https://m.example/outputs/[v]/*", "https://m.example/outputs/v/x", False),
        ("https://m.example/outputs/v/a1/*", "http://m.example/outputs/v/a1/x", False),
    ],
)
def test_resource_wildcards_are_cloudfronts(pattern, url, matches):
    assert resource_matches(pattern, url) is matches
