"""The console's videos in a real browser: sam uploads a real clip (made by ffmpeg) through the form, the
page PUTs it straight to the media bucket with its progress shown, the embedded stack transcodes it and
the video's page shows it READY with its renditions; sam places a product on its timeline, and a
change made meanwhile by someone else is refused and said so."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.browsing import assert_accessible, signed_in
from tests.browser.shop_setup import clip

# Transcoding on a loaded two-core machine: a bound on the wait, not a timing under test.
TRANSCODE_MS = 180_000


def test_staff_upload_a_clip_watch_it_become_ready_and_place_a_marker(shop: Any, new_context: Any, tmp_path: Path) -> None:
    sku = shop.new_product(kind="physical", stock=5)
    source = clip(tmp_path / "console-clip.mp4")
    title = f"Console clip {uuid.uuid4().hex[:6]}"

    page = signed_in(new_context().new_page(), "sam", start="/console/videos")
    expect(page.get_by_role("heading", name="Videos", level=1)).to_be_visible()
    upload = page.get_by_role("region", name="Upload a video")
    upload.get_by_label("Title").fill(title)
    upload.get_by_label("Video file").set_input_files(str(source))
    upload.get_by_role("button", name="Upload").click()

    progress = upload.get_by_role("progressbar")
    expect(progress).to_have_attribute("aria-valuenow", "100")
    expect(upload.get_by_test_id("upload-percent")).to_have_text("100 %")
    expect(upload.get_by_test_id("upload-status")).to_contain_text(f"Uploaded “{title}”")
    assert_accessible(page)
    expect(page.get_by_role("region", name="All videos").get_by_role("link", name=title)).to_be_visible()

    upload.get_by_role("link", name=f"Open “{title}”").click()
    expect(page.get_by_role("heading", name=f"Video: {title}", level=1)).to_be_visible()
    expect(page.get_by_test_id("video-state")).to_have_text("READY", timeout=TRANSCODE_MS)
    renditions = page.get_by_role("region", name="Renditions")
    expect(renditions.get_by_role("row")).to_have_count(3)  # the header and two rungs: 180p and 90p
    expect(renditions.get_by_role("cell", name="320")).to_be_visible()
    expect(page.get_by_test_id("video-duration")).to_contain_text("2.0 s")
    video_id = page.url.rsplit("/", 1)[1]
    assert shop.call("vod", "GET", f"/videos/{video_id}", user="sam").body["state"] == "READY"

    markers = page.get_by_role("region", name="Timeline markers")
    markers.get_by_role("button", name="Add a marker").click()
    markers.get_by_label("Product").select_option(sku)
    markers.get_by_label("From (s)").fill("0.5")
    markers.get_by_label("To (s)").fill("1.5")
    markers.get_by_role("button", name="Save markers").click()
    expect(markers.get_by_test_id("markers-status")).to_have_text("Markers saved (1).")
    saved = shop.call("vod", "GET", f"/videos/{video_id}/markers", user="sam")
    assert [(m["sku"], m["start_s"], m["end_s"]) for m in saved.body["markers"]] == [(sku, 0.5, 1.5)]
    assert_accessible(page)

    # Someone else saves first: this page's version is stale, nothing it sends is kept, and it says so.
    other = shop.call(
        "vod", "PUT", f"/videos/{video_id}/markers", {"markers": []}, {"If-Match": saved.headers["etag"]}, user="sam"
    )
    assert other.status == 200, other.body
    markers.get_by_label("To (s)").fill("1.8")
    markers.get_by_role("button", name="Save markers").click()
    expect(markers.get_by_test_id("markers-conflict")).to_contain_text("Someone else changed the markers")
    assert shop.call("vod", "GET", f"/videos/{video_id}/markers", user="sam").body["markers"] == []
    markers.get_by_role("button", name="Load the latest markers").click()
    expect(markers.get_by_text("No markers yet.")).to_be_visible()
    expect(markers.get_by_test_id("markers-conflict")).to_have_count(0)


def test_a_big_file_goes_up_in_parts_and_a_source_ffmpeg_cannot_read_fails_with_its_reason(
    shop: Any, new_context: Any, tmp_path: Path
) -> None:
    """Above 64 MiB the page uploads through the multipart routes (a presigned PUT per 16 MiB part, each
    part's ETag read from S3's answer); 65 MiB of zeros is no video, so the transcode fails, says why, and
    can be retried."""
    source = tmp_path / "not-a-video.mp4"
    source.write_bytes(bytes(65 * 1024 * 1024))
    title = f"Big file {uuid.uuid4().hex[:6]}"

    page = signed_in(new_context().new_page(), "sam", start="/console/videos")
    upload = page.get_by_role("region", name="Upload a video")
    upload.get_by_label("Title").fill(title)
    upload.get_by_label("Video file").set_input_files(str(source))
    upload.get_by_role("button", name="Upload").click()
    expect(upload.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    expect(upload.get_by_test_id("upload-status")).to_contain_text(f"Uploaded “{title}”")

    upload.get_by_role("link", name=f"Open “{title}”").click()
    expect(page.get_by_test_id("video-state")).to_have_text("FAILED", timeout=TRANSCODE_MS)
    expect(page.get_by_role("alert")).to_contain_text("The transcode failed")
    video_id = page.url.rsplit("/", 1)[1]
    video = shop.call("vod", "GET", f"/videos/{video_id}", user="sam").body
    assert video["size_bytes"] == 65 * 1024 * 1024, video
    assert_accessible(page)

    page.get_by_role("button", name="Retry the transcode").click()
    expect(page.get_by_text("Transcode attempt").locator("xpath=following-sibling::dd[1]")).to_have_text("2")
    expect(page.get_by_test_id("video-state")).to_have_text("FAILED", timeout=TRANSCODE_MS)
