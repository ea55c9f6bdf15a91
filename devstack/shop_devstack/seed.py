"""`make run`'s demo shop, made through the services' own APIs as staff (sam) would, so everything flows
as events: two physical products, and a real film a customer can rent or buy and watch.

The film is a few seconds of 360p made by the stack's own ffmpeg (imageio-ffmpeg's binary), uploaded to
vod like any staff upload and transcoded by the stack's transcoder; once it is READY, the rental and the
purchase are put on sale for its video id and the T-shirt is placed on its timeline. So a newcomer signs
in as ada, rents `RENT-NIGHTFALL-48H` and plays it.

Seeding again against a running stack changes nothing that is already there: the products are PUT
(created or revised to the same values), a READY film of the same title is reused rather than uploaded
again, and the marker is placed only when the timeline lacks it.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shop_devstack.signin import sign_in

DEMO_PRODUCTS: list[dict[str, Any]] = [
    {
        "sku": "TSHIRT-BLUE-M",
        "name": "Director's cut T-shirt (blue, M)",
        "kind": "physical",
        "price": {"amount": 2500, "currency": "USD"},
        "stock": 25,
    },
    {"sku": "POSTER-A2", "name": "Film poster A2", "kind": "physical", "price": {"amount": 1500, "currency": "USD"}, "stock": 3},
]
FILM_TITLE = "Nightfall"
RENTAL_SKU = "RENT-NIGHTFALL-48H"
PURCHASE_SKU = "BUY-NIGHTFALL"
# The product on the film's timeline, and when (seconds): within the clip, whatever the transcode rounds.
MARKED_SKU, MARK_START_S, MARK_END_S = "TSHIRT-BLUE-M", 1.0, 3.0
DEMO_SKUS = (*(p["sku"] for p in DEMO_PRODUCTS), RENTAL_SKU, PURCHASE_SKU)
CLIP_SECONDS = 4
# The transcode runs behind an event and a queue; on a loaded 2-core machine it takes seconds, not minutes.
READY_TIMEOUT_SECONDS = 180.0


class SeedError(RuntimeError):
    """The demo film could not be made ready; the products already put stay."""


@dataclass(frozen=True)
class Seeded:
    video_id: str
    uploaded: bool  # False: a READY film of a previous seed was reused


def film_products(video_id: str) -> list[dict[str, Any]]:
    return [
        {
            "sku": RENTAL_SKU,
            "name": f"Rent '{FILM_TITLE}' for 48 hours",
            "kind": "digital",
            "price": {"amount": 399, "currency": "USD"},
            "product_type": "video_rental",
            "access": {"video_id": video_id, "rental_hours": 48},
        },
        {
            "sku": PURCHASE_SKU,
            "name": f"Buy '{FILM_TITLE}'",
            "kind": "digital",
            "price": {"amount": 1299, "currency": "USD"},
            "product_type": "video_purchase",
            "access": {"video_id": video_id},
        },
    ]


# -- HTTP ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: Any


def call(method: str, url: str, token: str, body: Any = None, headers: Mapping[str, str] | None = None) -> Answer:
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return Answer(response.status, dict(response.headers), json.load(response))
    except urllib.error.HTTPError as error:
        raise SeedError(f"{method} {url}: {error.code} {error.read().decode(errors='replace')[:500]}") from None


def put_product(catalog_url: str, product: Mapping[str, Any], token: str) -> dict[str, Any]:
    body = {k: v for k, v in product.items() if k != "sku"}
    return dict(call("PUT", f"{catalog_url}/products/{product['sku']}", token, body).body)


# -- the film -------------------------------------------------------------------------------------------


def make_clip(path: Path, seconds: int = CLIP_SECONDS) -> Path:
    """A real H.264/AAC MP4 (a test pattern and a tone), 640x360: what a phone or an editor would upload."""
    import imageio_ffmpeg  # noqa: PLC0415 - the dev-only wheel, loaded only when a film is made

    # fmt: off
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path),
    ]
    # fmt: on
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    return path


def ready_film(vod_url: str, token: str) -> str | None:
    """A READY video of the demo film's title, newest first: what an earlier seed left."""
    videos = call("GET", f"{vod_url}/videos?limit=100", token).body["videos"]
    return next((v["video_id"] for v in videos if v["title"] == FILM_TITLE and v["state"] == "READY"), None)


def upload_film(vod_url: str, token: str) -> str:
    created = call("POST", f"{vod_url}/videos", token, {"title": FILM_TITLE, "content_type": "video/mp4"}).body
    with tempfile.TemporaryDirectory(prefix="shop-seed-") as work:
        clip = make_clip(Path(work) / "nightfall.mp4")
        upload = urllib.request.Request(
            created["upload_url"], data=clip.read_bytes(), method="PUT", headers={"Content-Type": "video/mp4"}
        )
        with urllib.request.urlopen(upload, timeout=30):
            pass
    call("POST", f"{vod_url}/videos/{created['video_id']}/upload/complete", token, {})
    return str(created["video_id"])


def wait_until_ready(vod_url: str, video_id: str, token: str, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while True:
        video = call("GET", f"{vod_url}/videos/{video_id}", token).body
        if video["state"] == "READY":
            return
        if video["state"] == "FAILED":
            raise SeedError(f"the demo film {video_id} failed to transcode: {video.get('error')}")
        if time.monotonic() > deadline:
            raise SeedError(f"the demo film {video_id} is still {video['state']} after {timeout:.0f} s")
        time.sleep(0.5)


def place_marker(vod_url: str, video_id: str, token: str) -> None:
    current = call("GET", f"{vod_url}/videos/{video_id}/markers", token)
    staff = [m for m in current.body["markers"] if m["source"] == "staff"]
    if any(m["sku"] == MARKED_SKU for m in staff):
        return
    wanted = [{k: m[k] for k in ("sku", "start_s", "end_s")} for m in staff]
    wanted.append({"sku": MARKED_SKU, "start_s": MARK_START_S, "end_s": MARK_END_S})
    etag = current.headers.get("ETag") or current.headers.get("etag") or '"0"'
    call("PUT", f"{vod_url}/videos/{video_id}/markers", token, {"markers": wanted}, {"If-Match": etag})


def seed(service_urls: Mapping[str, str], issuer_url: str, *, ready_timeout: float = READY_TIMEOUT_SECONDS) -> Seeded:
    """As staff (sam), signed in at the local issuer like anybody else: the physical products first (the
    storefront has them while the film transcodes), then the film, its two products and its marker."""
    token = sign_in("sam", issuer_url=issuer_url)["access_token"]
    catalog, vod = service_urls["catalog"], service_urls["vod"]
    for product in DEMO_PRODUCTS:
        put_product(catalog, product, token)
    video_id = ready_film(vod, token)
    uploaded = video_id is None
    if video_id is None:
        video_id = upload_film(vod, token)
        wait_until_ready(vod, video_id, token, ready_timeout)
    for product in film_products(video_id):
        put_product(catalog, product, token)
    place_marker(vod, video_id, token)
    return Seeded(video_id, uploaded)
