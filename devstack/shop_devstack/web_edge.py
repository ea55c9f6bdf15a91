"""The embedded stack's storefront distribution: CloudFront's stand-in in front of the web app.

On AWS one CloudFront distribution serves the built storefront and console from a bucket and forwards
``/api/<service>/…`` to each service's REST API (a viewer-request function strips the prefix), so the
page calls every API on its own origin: no CORS, no preflight per call. This process does the same on
127.0.0.1 (``python -m shop_devstack.web_edge``; tests start it in-process with ``WebEdge``):

* ``GET /config.json``: where the page's issuer, APIs, push channel and media are (``--config``);
* ``/api/<service>/<route>`` (any method): forwarded to that service's local API, headers and body as
  they came (``Authorization``, ``Idempotency-Key``, ``If-Match``; no Content-Type added to a body-less
  POST), the answer back as it came (``Set-Cookie``, ``ETag``, status and JSON errors); an unknown
  service is a JSON 404, a service that does not answer a JSON 502, as CloudFront's own errors;
* everything else: the files of ``--root`` (``web/dist``). A path without a file extension is a page of
  a single-page app: ``/console/…`` gets ``console/index.html``, any other ``index.html``. Hashed
  assets are cached for a year, pages and the config never (a deploy shows at once).

Every answer carries the headers the distribution's response-headers policy adds on AWS, the
Content-Security-Policy among them, so a page that would break under it breaks here first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import mimetypes
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from shop_devstack.lifecycle import die_with_parent

__all__ = ["WebEdge", "content_security_policy", "main"]

logger = logging.getLogger("shop_devstack.web_edge")

READY: Final = "WEB-EDGE-READY"
# Hop-by-hop headers (RFC 9110 7.6.1) and what the proxy itself sets: never forwarded either way.
HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
# API Gateway's payload limit; uploads go straight to S3 with presigned URLs, never through here.
MAX_API_BODY_BYTES: Final = 10 * 1024 * 1024
IMMUTABLE: Final = "public, max-age=31536000, immutable"
NO_CACHE: Final = "no-cache"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy(config: Mapping[str, Any]) -> str:
    """The page may talk to itself, the issuer (token calls), the push channel, the media edge, the
    upload bucket and the live channels' playback (IVS: a live show's playlist with its token); hls.js
    plays through MediaSource (blob: media) and runs its transmuxer in a blob: worker."""
    names = ("issuer", "push_url", "media_origin", "upload_origin", "live_playback_origin")
    origins = {name: _origin(str(config.get(name, ""))) for name in names}

    def sources(*parts: str) -> str:
        return " ".join(part for part in parts if part)

    media = origins["media_origin"]
    return "; ".join(
        (
            "default-src 'self'",
            f"connect-src {sources("'self'", *origins.values())}",
            f"media-src {sources("'self'", 'blob:', media, origins['live_playback_origin'])}",
            f"img-src {sources("'self'", 'data:', media)}",
            "worker-src 'self' blob:",
            "style-src 'self' 'unsafe-inline'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'self'",
            "form-action 'self'",
        )
    )


class WebEdge:
    """The storefront's edge as an aiohttp application: static files, config.json and the API proxy."""

    def __init__(self, root: Path, config: Mapping[str, Any], apis: Mapping[str, str]) -> None:
        self.root = root.resolve()
        self.config = dict(config)
        self.apis = dict(apis)
        self._security_headers = {
            "Content-Security-Policy": content_security_policy(config),
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "strict-origin-when-cross-origin",
        }
        self._session: aiohttp.ClientSession | None = None

    def application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_API_BODY_BYTES, middlewares=[self._headers])
        app.router.add_get("/health", self._health)
        app.router.add_get("/config.json", self._config)
        app.router.add_route("*", "/api/{service}/{route:.*}", self._proxy)
        app.router.add_route("*", "/api/{service}", self._proxy)
        app.router.add_get("/{path:.*}", self._static)
        app.on_cleanup.append(self._close)
        return app

    @web.middleware
    async def _headers(self, request: web.Request, handler: Any) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request)
        for name, value in self._security_headers.items():
            response.headers.setdefault(name, value)
        return response

    async def _close(self, _: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    async def _health(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "built": (self.root / "index.html").is_file()})

    async def _config(self, _: web.Request) -> web.Response:
        return web.json_response(self.config, headers={"Cache-Control": NO_CACHE})

    async def _proxy(self, request: web.Request) -> web.StreamResponse:
        service = request.match_info["service"]
        base = self.apis.get(service)
        if base is None:
            return _json_error(404, "not_found", f"no service {service!r} behind /api/")
        route = request.match_info.get("route", "")
        target = f"{base}/{route}"
        if request.query_string:
            target += f"?{request.query_string}"
        headers = {name: value for name, value in request.headers.items() if name.lower() not in HOP_BY_HOP}
        headers["X-Forwarded-Host"] = request.host
        body = await request.read()
        if self._session is None:
            # No total timeout: the API decides; only an unreachable service fails fast.
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=5), auto_decompress=False
            )
        try:
            async with self._session.request(
                request.method,
                target,
                headers=headers,
                data=body or None,
                allow_redirects=False,
                # aiohttp would add "Content-Type: application/octet-stream" to a POST that came without
                # one (a body-less publish or retire): forwarded as it came, the API sees no body type.
                skip_auto_headers=() if "Content-Type" in headers else ("Content-Type",),
            ) as upstream:
                payload = await upstream.read()
                response = web.Response(status=upstream.status, body=payload)
                for name, value in upstream.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        response.headers.add(name, value)
                return response
        except aiohttp.ClientError as error:
            logger.warning("api %s unreachable: %s", service, error)
            return _json_error(502, "bad_gateway", f"the {service} API did not answer")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        if not (self.root / "index.html").is_file():
            return web.Response(
                status=503,
                text="The storefront is not built yet: `make web` (make run does it) builds web/dist.",
                content_type="text/plain",
            )
        relative = request.match_info["path"]
        wanted = (self.root / relative).resolve()
        if not wanted.is_relative_to(self.root):
            return web.Response(status=404, text="not found")
        if wanted.is_file():
            cache = IMMUTABLE if relative.startswith("assets/") else NO_CACHE
            return _file(wanted, cache)
        last = relative.rsplit("/", 1)[-1]
        if "." in last:  # a file that is not there (a stale asset, a typo): a real 404, not the app
            return web.Response(status=404, text="not found")
        page = "console/index.html" if relative == "console" or relative.startswith("console/") else "index.html"
        return _file(self.root / page, NO_CACHE)


def _file(path: Path, cache: str) -> web.Response:
    content_type, _ = mimetypes.guess_type(path.name)
    if path.suffix == ".js":
        content_type = "text/javascript"
    return web.Response(
        body=path.read_bytes(),
        content_type=content_type or "application/octet-stream",
        charset="utf-8" if (content_type or "").startswith(("text/", "application/json")) else None,
        headers={"Cache-Control": cache},
    )


def _json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class RunningWebEdge:
    """The edge on its own event loop thread (tests, and main below)."""

    def __init__(self, edge: WebEdge, host: str, port: int) -> None:
        self.edge = edge
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="web-edge", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> RunningWebEdge:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.edge.application(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        await site.start()
        if self.port == 0:
            server = site._server  # the port the kernel chose
            assert server is not None
            self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", type=Path, required=True, help="the built web app (web/dist)")
    parser.add_argument("--config", required=True, help="config.json's content, as JSON")
    parser.add_argument("--apis", required=True, help='{"<service>": "<its local API URL>", …}, as JSON')
    args = parser.parse_args(argv)
    die_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s web-edge %(levelname)s %(message)s")
    running = RunningWebEdge(WebEdge(args.root, json.loads(args.config), json.loads(args.apis)), args.host, args.port)
    running.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"{READY} {running.url}", flush=True)
    stop.wait()
    running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
