"""vod: videos — upload, transcode, playback, live, access.

Only its place in the topology exists so far (its table is provisioned); the video features and
digital entitlements (EntitlementGranted on PaymentCaptured) come with their own issues.
"""

from __future__ import annotations

from chalice.app import Chalice

app = Chalice(app_name="shop-vod")


@app.route("/health")
def health() -> dict[str, str]:
    return {"status": "ok", "service": "vod"}
