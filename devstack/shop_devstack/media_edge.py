"""The embedded stack's CloudFront: serves the media bucket's objects (from moto's S3) to a player only
with a valid CloudFront signature, checked as CloudFront checks it for a distribution whose behaviour
trusts a key group.

The stack runs it as its own process (``python -m shop_devstack.media_edge``); tests start it
in-process with ``MediaEdge``. A werkzeug WSGI app on ``shop_devstack.fake_server``.

What it checks, for every request (``GET``/``HEAD``) under ``/outputs/``:

* the signature: signed cookies (``CloudFront-Policy``, ``CloudFront-Signature``,
  ``CloudFront-Key-Pair-Id``; or a canned policy's ``CloudFront-Expires``) or the signed URL's query
  parameters (``Policy``/``Expires``, ``Signature``, ``Key-Pair-Id``); the Key-Pair-Id must name one of
  the trusted public keys, and the signature is RSA-SHA1 with PKCS#1 v1.5 over the policy, as CloudFront's;
* the policy: the request's URL must match the statement's ``Resource`` (``*`` any run of characters,
  ``?`` one), the time must be before ``DateLessThan`` (and after ``DateGreaterThan``), the client's
  address inside ``IpAddress`` when the policy names one.

Anything else is a 403 with a CloudFront-like XML body; everything outside ``/outputs/`` is a 403 too
(the distribution serves nothing else). A granted request is the object from S3 with the
Content-Type of its kind (m3u8, ts, vtt, jpg), ``Range`` requests answered 206 as S3 answers them, and
CORS with credentials for the configured browser origins.

Admin endpoints (no signature; tests and the README use them):

* ``GET /admin/requests?prefix=/outputs/<video_id>/``: the requests it answered (method, path, status,
  reason, bytes), oldest first.
* ``GET /health``.

The clock: ``--clock-offset-file`` names the file the stack's clock drill writes a number of seconds
into (the vod service reads the same file), so a test can move past a rental's end and its cookies'.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fnmatch
import ipaddress
import json
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import boto3
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from werkzeug.wrappers import Request, Response

from shop_devstack.fake_server import FakeServer, serve_until_stopped
from shop_devstack.lifecycle import die_with_parent

__all__ = ["Denied", "MediaEdge", "MediaEdgeApp", "main"]

logger = logging.getLogger("shop_devstack.media_edge")

PROTECTED_PREFIX: Final = "/outputs/"
CONTENT_TYPES: Final = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".vtt": "text/vtt",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".mp4": "video/mp4",
    ".m4s": "video/iso.segment",
    ".aac": "audio/aac",
}
# Cookie and query names as CloudFront reads them.
COOKIES: Final = {
    "policy": "CloudFront-Policy",
    "expires": "CloudFront-Expires",
    "signature": "CloudFront-Signature",
    "key": "CloudFront-Key-Pair-Id",
}
QUERY: Final = {"policy": "Policy", "expires": "Expires", "signature": "Signature", "key": "Key-Pair-Id"}
LOG_SIZE: Final = 5000


class Denied(Exception):
    """Why CloudFront would refuse the request (its 403 body's message)."""


def cloudfront_b64decode(text: str) -> bytes:
    return base64.b64decode(text.translate(str.maketrans("-_~", "+=/")), validate=True)


def load_public_keys(keys: Mapping[str, str]) -> dict[str, rsa.RSAPublicKey]:
    """Key-Pair-Id → public key (the trusted key group), from PEM text."""
    loaded = {}
    for key_id, pem in keys.items():
        key = serialization.load_pem_public_key(pem.encode())
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError(f"{key_id}: CloudFront keys are RSA")
        loaded[key_id] = key
    return loaded


def resource_matches(pattern: str, url: str) -> bool:
    """CloudFront's wildcards: `*` any characters (also `/`), `?` exactly one; everything else literally."""
    return re.fullmatch(fnmatch.translate(pattern.replace("[", "[[]")), url) is not None


def _epoch(condition: Mapping[str, Any], name: str) -> int | None:
    value = condition.get(name, {}).get("AWS:EpochTime")
    if value is None:
        return None
    if not isinstance(value, int):
        raise Denied("Malformed Policy")
    return value


@dataclass(frozen=True)
class Signed:
    policy: bytes
    signature: str
    key_pair_id: str
    canned: bool


def credentials_of(request: Request) -> Signed:
    """The signature a request carries: the signed URL's query parameters first, then the cookies."""
    for source, names in ((request.args, QUERY), (request.cookies, COOKIES)):
        if names["signature"] in source or names["key"] in source:
            key = source.get(names["key"], "")
            signature = source.get(names["signature"], "")
            if not key:
                raise Denied("Missing Key-Pair-Id query parameter or cookie value")
            if not signature:
                raise Denied("Missing Signature query parameter or cookie value")
            if names["policy"] in source:
                try:
                    policy = cloudfront_b64decode(source[names["policy"]])
                except ValueError:
                    raise Denied("Malformed Policy") from None
                return Signed(policy, signature, key, canned=False)
            if names["expires"] in source:
                return Signed(source[names["expires"]].encode(), signature, key, canned=True)
            raise Denied("Missing Policy or Expires query parameter or cookie value")
    raise Denied("Missing Key-Pair-Id query parameter or cookie value")


def check(signed: Signed, url: str, client_ip: str, now: float, keys: Mapping[str, rsa.RSAPublicKey]) -> None:
    """Raises Denied unless `signed` opens `url` now (CloudFront's checks, in its order)."""
    key = keys.get(signed.key_pair_id)
    if key is None:
        raise Denied("Unknown Key")
    if signed.canned:
        try:
            expires = int(signed.policy)
        except ValueError:
            raise Denied("Malformed Expires") from None
        # A canned policy is signed as the custom policy it stands for, with the URL as the resource.
        policy = json.dumps(
            {"Statement": [{"Resource": url.split("?", 1)[0], "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}]},
            separators=(",", ":"),
        ).encode()
    else:
        policy = signed.policy
    try:
        key.verify(cloudfront_b64decode(signed.signature), policy, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - CloudFront's
    except (InvalidSignature, ValueError):
        raise Denied("Access denied") from None
    try:
        [statement] = json.loads(policy)["Statement"]
        resource, condition = statement.get("Resource", "*"), statement["Condition"]
    except (ValueError, KeyError, TypeError):
        raise Denied("Malformed Policy") from None
    if not isinstance(resource, str) or not resource_matches(resource, url):
        raise Denied("Access denied")
    before, after = _epoch(condition, "DateLessThan"), _epoch(condition, "DateGreaterThan")
    if before is None:
        raise Denied("Malformed Policy")
    if now >= before or (after is not None and now <= after):
        raise Denied("Access denied")
    allowed = condition.get("IpAddress", {}).get("AWS:SourceIp")
    if allowed is not None:
        try:
            inside = ipaddress.ip_address(client_ip) in ipaddress.ip_network(allowed, strict=False)
        except ValueError:
            raise Denied("Malformed Policy") from None
        if not inside:
            raise Denied("Access denied")


@dataclass(frozen=True)
class Served:
    method: str
    path: str
    status: int
    reason: str
    bytes: int
    at: float


def _clock(offset_file: Path | None) -> Callable[[], float]:
    def now() -> float:
        offset = 0.0
        if offset_file is not None:
            with contextlib.suppress(FileNotFoundError):  # no file: the drill is off
                offset = float(offset_file.read_text() or 0)
        return time.time() + offset

    return now


class MediaEdgeApp:
    """The edge's WSGI app: signature checks in front of the bucket, and its request log."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        public_keys: Mapping[str, str],
        *,
        cors_origins: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._keys = load_public_keys(public_keys)
        self._origins = frozenset(cors_origins)
        self._clock = clock
        self._log: deque[Served] = deque(maxlen=LOG_SIZE)
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:  # noqa: PLR0911 - one answer per way a request ends
        if request.path == "/health":
            return Response(json.dumps({"status": "ok"}), content_type="application/json")
        if request.path == "/admin/requests":
            return self._requests(request)
        if request.method == "OPTIONS":
            return self._cors(request, Response(status=204, headers={"Access-Control-Max-Age": "600"}), preflight=True)
        if request.method not in ("GET", "HEAD"):
            return self._answer(request, _denied("MethodNotAllowed", "This distribution serves GET and HEAD", 405), "method")
        if not request.path.startswith(PROTECTED_PREFIX):
            return self._answer(request, _denied("AccessDenied", "Access denied"), "outside /outputs/")
        try:
            check(credentials_of(request), _url_of(request), request.remote_addr or "", self._clock(), self._keys)
        except Denied as denied:
            return self._answer(request, _denied("AccessDenied", str(denied)), str(denied))
        return self._answer(request, self._object(request), "served")

    def requests(self, prefix: str = "") -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(served) for served in self._log if served.path.startswith(prefix)]

    def _requests(self, request: Request) -> Response:
        body = {"requests": self.requests(request.args.get("prefix", ""))}
        return Response(json.dumps(body), content_type="application/json")

    def _object(self, request: Request) -> Response:
        key = request.path.removeprefix("/")
        arguments: dict[str, Any] = {"Bucket": self._bucket, "Key": key}
        if request.headers.get("Range"):
            arguments["Range"] = request.headers["Range"]
        try:
            found = (self._s3.head_object if request.method == "HEAD" else self._s3.get_object)(**arguments)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code in ("NoSuchKey", "404", "NotFound"):
                # What CloudFront answers for a missing object of a private bucket behind OAC.
                return _denied("AccessDenied", "Access Denied")
            if code in ("InvalidRange", "416"):
                return Response(status=416, headers={"Content-Range": "bytes */*"})
            raise
        body = b"" if request.method == "HEAD" else found["Body"].read()
        headers = {
            "Content-Type": CONTENT_TYPES.get(Path(key).suffix, found.get("ContentType") or "application/octet-stream"),
            "Accept-Ranges": "bytes",
            "ETag": found.get("ETag", ""),
            "Content-Length": str(found["ContentLength"]),
        }
        if found.get("ContentRange"):
            headers["Content-Range"] = found["ContentRange"]
        response = Response(body, status=206 if found.get("ContentRange") else 200, headers=headers)
        # werkzeug would otherwise count the (absent) HEAD body.
        response.headers["Content-Length"] = str(found["ContentLength"])
        return response

    def _answer(self, request: Request, response: Response, reason: str) -> Response:
        response = self._cors(request, response)
        with self._lock:
            self._log.append(
                Served(request.method, request.path, response.status_code, reason, int(response.content_length or 0), time.time())
            )
        return response

    def _cors(self, request: Request, response: Response, *, preflight: bool = False) -> Response:
        origin = request.headers.get("Origin")
        response.headers["Vary"] = "Origin"
        if origin and origin in self._origins:
            # A browser sends the cookies (credentials) only to an origin named exactly, never to `*`.
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Access-Control-Expose-Headers"] = "Content-Length, Content-Range"
            if preflight:
                response.headers["Access-Control-Allow-Methods"] = "GET, HEAD"
                response.headers["Access-Control-Allow-Headers"] = "Range"
        return response


def _url_of(request: Request) -> str:
    """The URL the policy's resource is matched against: as the client asked for it, query included,
    minus the signed URL's own parameters."""
    query = "&".join(f"{name}={value}" for name, value in request.args.items(multi=True) if name not in QUERY.values())
    return f"{request.scheme}://{request.host}{request.path}" + (f"?{query}" if query else "")


def _denied(code: str, message: str, status: int = 403) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return Response(body, status=status, content_type="text/xml")


class MediaEdge(FakeServer):
    """The edge on werkzeug's threaded server (tests: in-process; the stack: `python -m ...media_edge`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **settings: Any) -> None:
        self.app = MediaEdgeApp(**settings)
        super().__init__("media-edge", self.app, host, port)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shop_devstack.media_edge", description="Serve the media edge until SIGTERM.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bucket", default=os.environ.get("MEDIA_EDGE_BUCKET", "shop-local-vod-media"))
    parser.add_argument(
        "--cors-origin", action="append", default=[], help="a browser origin allowed with credentials (repeatable)"
    )
    parser.add_argument(
        "--clock-offset-file",
        type=Path,
        default=os.environ.get("MEDIA_EDGE_CLOCK_OFFSET_FILE") or None,
        help="a file holding seconds to add to the clock (the stack's drill)",
    )
    args = parser.parse_args(argv)
    die_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # The trusted key group: MEDIA_EDGE_PUBLIC_KEYS is JSON, Key-Pair-Id → public key PEM.
    keys = json.loads(os.environ.get("MEDIA_EDGE_PUBLIC_KEYS", "{}"))
    origins = args.cors_origin or [o for o in os.environ.get("MEDIA_EDGE_CORS_ORIGINS", "").split(",") if o]
    server = MediaEdge(
        args.host,
        args.port,
        s3=boto3.client("s3"),
        bucket=args.bucket,
        public_keys=keys,
        cors_origins=origins,
        clock=_clock(args.clock_offset_file),
    )
    serve_until_stopped(server)


if __name__ == "__main__":
    main()
