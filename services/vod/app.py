"""vod: videos — upload, transcode, playback, live, access.

Only its place in the topology exists so far (its table is provisioned); the video features and
digital entitlements (EntitlementGranted on PaymentCaptured) come with their own issues.
"""

from __future__ import annotations

from chalice.app import Chalice

from shop_eventing.http import use_one_error_shape
from shop_eventing.openapi import Health, operation, serve_openapi

app = Chalice(app_name="shop-vod")
use_one_error_shape(app)
serve_openapi(
    app,
    title="shop vod API",
    version="1",
    description="Videos: upload, transcode, playback, live, access (only its health so far).",
)


@app.route("/health")
@operation("Liveness", responses={200: Health})
def health() -> dict[str, str]:
    return {"status": "ok", "service": "vod"}
