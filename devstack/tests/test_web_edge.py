"""The storefront's edge: the single-page apps' paths, /config.json, the API proxy (headers both ways,
errors as JSON) and the response headers the CloudFront policy adds on AWS."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import urllib3

from shop_devstack.stack import free_port
from shop_devstack.web_edge import RunningWebEdge, WebEdge, content_security_policy

CONFIG = {
    "issuer": "http://127.0.0.1:5102",
    "push_url": "ws://127.0.0.1:5109/api",
    "media_origin": "http://127.0.0.1:5107",
    "upload_origin": "http://127.0.0.1:5100",
    "live_playback_origin": "http://127.0.0.1:5108",
}


class _Api(BaseHTTPRequestHandler):
    """A service's API as the edge sees it: echoes what reached it, with two Set-Cookie headers."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        payload = json.dumps({"path": self.path, "headers": dict(self.headers.items()), "body": body.decode()}).encode()
        self.send_response(409)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "a=1; Path=/outputs/v1/")
        self.send_header("Set-Cookie", "b=2; Path=/outputs/v1/")
        self.send_header("ETag", '"7"')
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("dist")
    (root / "index.html").write_text("<!doctype html><title>store</title>")
    (root / "console").mkdir()
    (root / "console" / "index.html").write_text("<!doctype html><title>console</title>")
    (root / "assets").mkdir()
    (root / "assets" / "app-abc123.js").write_text("console.log(1)")
    api = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    apis = {"orders": f"http://127.0.0.1:{api.server_address[1]}", "vod": f"http://127.0.0.1:{free_port()}"}
    running = RunningWebEdge(WebEdge(root, {**CONFIG, "api": {"orders": "/api/orders"}}, apis), "127.0.0.1", 0).start()
    yield running.url
    running.stop()
    api.shutdown()


http = urllib3.PoolManager(retries=False, timeout=10)


def test_an_app_path_gets_its_app_and_a_missing_file_is_a_404(edge: str) -> None:
    assert b"<title>store</title>" in http.request("GET", f"{edge}/products/SKU-1").data
    assert b"<title>store</title>" in http.request("GET", f"{edge}/").data
    assert b"<title>console</title>" in http.request("GET", f"{edge}/console/videos/v1").data
    assert b"<title>console</title>" in http.request("GET", f"{edge}/console").data
    assert http.request("GET", f"{edge}/assets/app-gone.js").status == 404
    escaping = http.request("GET", f"{edge}/assets/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd")
    assert escaping.status == 404
    assert b"root:" not in escaping.data


def test_hashed_assets_are_cached_for_good_and_pages_never(edge: str) -> None:
    asset = http.request("GET", f"{edge}/assets/app-abc123.js")
    assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert asset.headers["Content-Type"].startswith("text/javascript")
    page = http.request("GET", f"{edge}/orders/o1")
    assert page.headers["Cache-Control"] == "no-cache"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"


def test_config_json_is_what_the_stack_gave(edge: str) -> None:
    reply = http.request("GET", f"{edge}/config.json")
    assert json.loads(reply.data)["issuer"] == CONFIG["issuer"]
    assert reply.headers["Cache-Control"] == "no-cache"


def test_the_api_proxy_forwards_the_request_and_the_answer_as_they_are(edge: str) -> None:
    reply = http.request(
        "POST",
        f"{edge}/api/orders/orders/o1/cancel?reason=x",
        body=b'{"why": "changed my mind"}',
        headers={"Authorization": "Bearer t0k", "Idempotency-Key": "k-1", "If-Match": '"3"', "Content-Type": "application/json"},
    )
    assert reply.status == 409
    seen = json.loads(reply.data)
    assert seen["path"] == "/orders/o1/cancel?reason=x"
    assert seen["body"] == '{"why": "changed my mind"}'
    assert {seen["headers"][h] for h in ("Authorization", "Idempotency-Key", "If-Match")} == {"Bearer t0k", "k-1", '"3"'}
    assert reply.headers.getlist("Set-Cookie") == ["a=1; Path=/outputs/v1/", "b=2; Path=/outputs/v1/"]
    assert reply.headers["ETag"] == '"7"'


def test_a_post_without_a_body_reaches_the_api_without_a_content_type(edge: str) -> None:
    # What a browser's fetch sends for a body-less POST (publish, retire): the API sees no body type,
    # where a proxy's default (application/octet-stream) would be refused with a 415.
    reply = http.request("POST", f"{edge}/api/orders/staff/products/s1/publish", headers={"If-Match": '"1"'})
    seen = json.loads(reply.data)
    assert seen["body"] == ""
    assert "Content-Type" not in seen["headers"], seen["headers"]


def test_an_unknown_or_silent_service_is_a_json_error(edge: str) -> None:
    unknown = http.request("GET", f"{edge}/api/nope/x")
    assert (unknown.status, json.loads(unknown.data)["error"]["code"]) == (404, "not_found")
    silent = http.request("GET", f"{edge}/api/vod/videos")
    assert (silent.status, json.loads(silent.data)["error"]["code"]) == (502, "bad_gateway")


def test_an_unbuilt_storefront_says_how_to_build_it(tmp_path: Path) -> None:
    running = RunningWebEdge(WebEdge(tmp_path, CONFIG, {}), "127.0.0.1", 0).start()
    try:
        reply = http.request("GET", f"{running.url}/")
        assert reply.status == 503
        assert b"make web" in reply.data
    finally:
        running.stop()


def test_the_content_security_policy_lets_the_page_reach_exactly_its_peers() -> None:
    policy = dict(part.split(" ", 1) for part in content_security_policy(CONFIG).split("; "))
    assert policy["connect-src"].split() == [
        "'self'",
        "http://127.0.0.1:5102",
        "ws://127.0.0.1:5109",
        "http://127.0.0.1:5107",
        "http://127.0.0.1:5100",
        "http://127.0.0.1:5108",
    ]
    assert policy["media-src"].split() == ["'self'", "blob:", "http://127.0.0.1:5107", "http://127.0.0.1:5108"]
    assert policy["worker-src"] == "'self' blob:"
    assert "'unsafe-inline'" not in policy["script-src"]
