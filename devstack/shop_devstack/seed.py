"""Demo products, created through the catalog's own API (so they flow to orders as events), and a demo
film behind the rental: a short test picture and tone made with the stack's ffmpeg, uploaded through
vod's API as staff and transcoded like any upload, with the two physical products on its timeline, so a
newcomer can rent it in the storefront, watch it and buy from it."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import imageio_ffmpeg  # the dev requirement the embedded stack's transcoder uses as well

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
    {
        "sku": "RENT-NIGHTFALL-48H",
        "name": "Rent 'Nightfall' for 48 hours",
        "kind": "digital",
        "price": {"amount": 399, "currency": "USD"},
        "product_type": "video_rental",
        "access": {"video_id": "nightfall", "rental_hours": 48},
    },
]


def put_product(catalog_url: str, product: dict[str, Any], token: str) -> dict[str, Any]:
    body = {k: v for k, v in product.items() if k != "sku"}
    request = urllib.request.Request(
        f"{catalog_url}/products/{product['sku']}",
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.load(response))


DEMO_FILM_VIDEO_ID = "nightfall"  # the rental's placeholder, replaced by the uploaded film's id
DEMO_FILM_SECONDS = 12
# The physical demo products on the film's timeline: (sku, from second, to second).
DEMO_MARKERS = (("TSHIRT-BLUE-M", 1.0, 5.5), ("POSTER-A2", 6.5, 11.5))
# The transcode takes seconds; seed waits for it, so the film plays once the banner shows and no
# transcode is still running should the shop be stopped at once.
DEMO_FILM_READY_SECONDS = 120


def _call(url: str, token: str, body: Any = None, method: str = "POST", headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body if body is not None else {}).encode(),
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def upload_demo_film(vod_url: str, token: str) -> str:
    """Make the clip, upload it and start its transcode; returns the video id (READY a little later)."""
    seconds = DEMO_FILM_SECONDS
    with tempfile.TemporaryDirectory() as workdir:
        clip = Path(workdir) / "nightfall.mp4"
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
        command += ["-f", "lavfi", "-i", f"testsrc=size=640x360:rate=25:duration={seconds}"]
        command += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac", "-shortest"]
        command += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(clip)]
        subprocess.run(command, check=True, capture_output=True, timeout=120)
        created = _call(f"{vod_url}/videos", token, {"title": "Nightfall (demo)"})
        upload = urllib.request.Request(
            created["upload_url"], data=clip.read_bytes(), method="PUT", headers={"Content-Type": "video/mp4"}
        )
        with urllib.request.urlopen(upload, timeout=60):
            pass
    video_id = str(created["video_id"])
    _call(f"{vod_url}/videos/{video_id}/upload/complete", token)
    markers = [{"sku": sku, "start_s": start, "end_s": end} for sku, start, end in DEMO_MARKERS]
    _call(f"{vod_url}/videos/{video_id}/markers", token, {"markers": markers}, "PUT", {"If-Match": '"0"'})
    deadline = time.monotonic() + DEMO_FILM_READY_SECONDS
    while (state := _get(f"{vod_url}/videos/{video_id}", token)["state"]) not in ("READY", "FAILED"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the demo film is still {state} after {DEMO_FILM_READY_SECONDS} s")
        time.sleep(0.5)
    if state == "FAILED":
        raise ValueError("the demo film's transcode failed (vod's log says why)")
    return video_id


def _get(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def seed(catalog_url: str, issuer_url: str, vod_url: str | None = None) -> str | None:
    """As staff (sam), signed in at the local issuer like anybody else. With `vod_url`, the demo film
    too (its id is returned); a film that cannot be made leaves the rental pointing at nothing, and says so."""
    token = sign_in("sam", issuer_url=issuer_url)["access_token"]
    video_id: str | None = None
    if vod_url:
        try:
            video_id = upload_demo_film(vod_url, token)
        except (OSError, subprocess.SubprocessError, urllib.error.URLError, KeyError, ValueError) as error:
            print(f"the demo film could not be made ({error}); the rental has nothing to play", flush=True)
    for demo in DEMO_PRODUCTS:
        access = demo.get("access")
        if video_id and access and access.get("video_id") == DEMO_FILM_VIDEO_ID:
            demo = {**demo, "access": {**access, "video_id": video_id}}  # noqa: PLW2901 - the film's real id
        put_product(catalog_url, demo, token)
    return video_id
