"""A local OpenID Connect issuer, served over HTTP on 127.0.0.1: Cognito's stand-in on the embedded stack.

The embedded stack runs it as its own process (``python -m shop_devstack.oidc_issuer``), like the fake
payment gateway, so the services fetch its JWKS over the network exactly as they fetch Cognito's on AWS.
Tests can start it in-process with ``IssuerServer``.

The protocol is authlib's (``AuthorizationServer``, the authorization code grant with PKCE, S256 only,
and the refresh token grant); keys and signed tokens are joserfc's. Nothing here hand-writes JOSE.

Endpoints:

* ``GET /.well-known/openid-configuration``  discovery
* ``GET /.well-known/jwks.json``              the public keys (Cognito's path): the current one, the next one (published
                                              ahead, so verifiers already hold it when it becomes current)
                                              and, after a rotation, the previous one (its tokens still live)
* ``GET /authorize``                          a minimal HTML sign-in form; ``POST /authorize`` with
                                              ``username`` and ``password`` answers 302 to the redirect URI
                                              with the code (scripts post it directly: shop_devstack.signin).
                                              A browser that signed in keeps a session cookie, as with
                                              Cognito's hosted UI: while it lasts ``GET /authorize`` answers
                                              with a code at once (``prompt=login`` asks again)
* ``POST /token``                             authorization_code (+ code_verifier) and refresh_token grants;
                                              CORS for the storefront's origins (``--web-origin``), which
                                              call it from the page
* ``GET /logout?client_id=…&logout_uri=…``    Cognito's sign-out: the session cookie goes, then 302 to
                                              ``logout_uri`` (one of the storefront's registered pages)
* ``GET /health``

Local only, for tests and drills (Cognito rotates its own keys and has no such switches):

* ``POST /admin/rotate``                      next becomes current, current becomes previous, a new next
* ``POST /admin/retire``                      the previous key leaves the JWKS: its tokens stop verifying
* ``POST /admin/tokens``                      mint an access token with chosen claims (an expired one, one
                                              for another audience) signed by the current key
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, Final, Self
from urllib.parse import parse_qsl, urlencode, urlsplit

from authlib.common.security import generate_token
from authlib.oauth2 import AuthorizationServer, OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from authlib.oidc.core.grants import OpenIDCode
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from shop_devstack.lifecycle import die_with_parent

__all__ = ["AUDIENCE", "CLIENT_ID", "DEMO_USERS", "GROUPS_CLAIM", "REDIRECT_URI", "DemoUser", "IssuerServer", "main"]

logger = logging.getLogger("shop_devstack.oidc_issuer")

# The shop's API audience: what every service accepts in `aud` (on AWS: the Cognito app client id,
# which is what Cognito puts in its tokens' aud / client_id).
AUDIENCE: Final = "shop-api"
# One public client (a browser or CLI app: no secret, so PKCE is what binds the code to its caller).
CLIENT_ID: Final = "shop-web"
# Loopback redirect (RFC 8252): the signin script never follows it; it reads the code off Location.
REDIRECT_URI: Final = "http://127.0.0.1:8765/callback"
# A web origin (the storefront, `--web-origin`) may come back to these pages of its (Cognito: the app
# client's CallbackURLs and LogoutURLs).
WEB_CALLBACK_PATHS: Final = ("/callback", "/console/callback")
WEB_LOGOUT_PATHS: Final = ("/", "/console/")
SESSION_COOKIE: Final = "shop_issuer_session"
SESSION_SECONDS: Final = 8 * 3600
SCOPES: Final = ("openid", "profile", "email", "shop")
# Cognito's claim name, so the services read one name locally and on AWS.
GROUPS_CLAIM: Final = "cognito:groups"
ALGORITHM: Final = "RS256"
ACCESS_TOKEN_SECONDS: Final = 3600
MAX_BODY_BYTES: Final = 64 * 1024


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    email: str
    groups: tuple[str, ...] = ()

    @property
    def sub(self) -> str:
        # Stable across restarts (orders are keyed by sub), as Cognito's are for one user.
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"shop-devstack:user:{self.username}"))

    def get_user_id(self) -> str:  # authlib's user protocol
        return self.sub


DEMO_USERS: Final[Mapping[str, DemoUser]] = {
    u.username: u
    for u in (
        DemoUser("ada", "ada-secret-1815", "ada@example.com"),
        DemoUser("grace", "grace-secret-1906", "grace@example.com"),
        DemoUser("sam", "sam-secret-staff", "sam@example.com", ("staff",)),
        DemoUser("wes", "wes-secret-warehouse", "wes@example.com", ("warehouse",)),
    )
}


class Client(ClientMixin):  # type: ignore[misc]
    """The one public client; authlib asks it what it may do."""

    def __init__(self, web_origins: tuple[str, ...] = ()) -> None:
        self.redirect_uris = frozenset(
            {REDIRECT_URI, *(f"{origin}{path}" for origin in web_origins for path in WEB_CALLBACK_PATHS)}
        )
        self.logout_uris = frozenset(f"{origin}{path}" for origin in web_origins for path in WEB_LOGOUT_PATHS)

    def get_client_id(self) -> str:
        return CLIENT_ID

    def get_default_redirect_uri(self) -> str:
        return REDIRECT_URI

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return "openid shop"
        return " ".join(s for s in scope.split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return False  # public: it has none

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class AuthorizationCode:
    code: str
    user: DemoUser
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    expires_at: float
    nonce: str | None = None
    auth_time: int | None = None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    # OpenID Connect's questions about the sign-in behind the code (the ID token's claims).
    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int | None:
        return self.auth_time

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str] | None:
        return ["pwd"]

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return time.time() > self.expires_at


@dataclass
class RefreshToken:
    token: str
    user: DemoUser
    scope: str
    revoked: bool = False

    def get_scope(self) -> str:
        return self.scope

    def check_client(self, client: Client) -> bool:
        return client.get_client_id() == CLIENT_ID

    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return self.revoked


@dataclass
class State:
    """Codes and refresh tokens, in memory: a restart signs everybody out, as is fine locally."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)


class S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE is required, and only S256: "plain" would give the code to whoever saw the challenge."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: AuthorizationCode) -> str:
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: AuthorizationCode) -> str:
        return authorization_code.code_challenge_method


class CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        state: State = self.server.state
        with state.lock:
            state.codes[code] = AuthorizationCode(
                code=code,
                user=request.user,
                redirect_uri=data.get("redirect_uri", REDIRECT_URI),
                scope=request.payload.scope or "",
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                expires_at=time.time() + 300,
                nonce=data.get("nonce"),
                auth_time=int(time.time()),
            )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        state: State = self.server.state
        with state.lock:
            return state.codes.get(code)

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        # One use only: a replayed code gets invalid_grant.
        with self.server.state.lock:
            self.server.state.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: AuthorizationCode) -> DemoUser:
        return authorization_code.user


class IdTokens(OpenIDCode):  # type: ignore[misc]
    """The ID token a browser app asks for with the `openid` scope (as Cognito issues it): who signed
    in, for the client (aud), signed by the issuer's current key."""

    def __init__(self, issuer_url: str, keys: KeyRing) -> None:
        super().__init__(require_nonce=False)
        self.issuer_url = issuer_url
        self.keys = keys

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return self.keys.current

    def get_client_algorithm(self, client: Client) -> str:
        return ALGORITHM

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": ALGORITHM, "kid": str(self.keys.current.kid)}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        return {"iss": self.issuer_url, "aud": [CLIENT_ID], "exp": int(time.time()) + ACCESS_TOKEN_SECONDS}

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return False  # codes are single-use already; a nonce only binds the ID token to the request

    def generate_user_info(self, user: DemoUser, scope: str) -> dict[str, Any]:
        return {
            "sub": user.sub,
            "email": user.email,
            "email_verified": True,
            "preferred_username": user.username,
            "cognito:username": user.username,
            GROUPS_CLAIM: list(user.groups),
        }


class RefreshGrant(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]
    # Each refresh token is used once and replaced (rotation), so a stolen one is detected on reuse.
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        with self.server.state.lock:
            found = self.server.state.refresh_tokens.get(refresh_token)
        return found if found and not found.revoked else None

    def authenticate_user(self, refresh_token: RefreshToken) -> DemoUser:
        return refresh_token.user

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        with self.server.state.lock:
            refresh_token.revoked = True


class KeyRing:
    """The signing keys: previous (after a rotation, until retired), current (signs), next (published
    ahead). Verifiers cache the JWKS, so the key that will sign next is in it before it signs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.previous: RSAKey | None = None
        self.current = self._new()
        self.next = self._new()

    @staticmethod
    def _new() -> RSAKey:
        key = RSAKey.generate_key(2048, parameters={"alg": ALGORITHM, "use": "sig"}, auto_kid=True)
        return key

    def signing_keys(self) -> KeySet:
        with self._lock:
            return KeySet([self.current])

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            keys = [k for k in (self.current, self.next, self.previous) if k is not None]
            return {"keys": [k.as_dict(private=False) for k in keys]}

    def rotate(self) -> dict[str, str]:
        new = self._new()
        with self._lock:
            self.previous, self.current, self.next = self.current, self.next, new
            return self._kids()

    def retire(self) -> dict[str, str]:
        with self._lock:
            self.previous = None
            return self._kids()

    def _kids(self) -> dict[str, str]:
        kids = {"current": str(self.current.kid), "next": str(self.next.kid)}
        if self.previous is not None:
            kids["previous"] = str(self.previous.kid)
        return kids


def _opaque_refresh_token(**_: Any) -> str:
    # Refresh tokens are opaque and stored here (they are only ever shown to this issuer again).
    return str(generate_token(48))


class AccessTokens(JWTBearerTokenGenerator):  # type: ignore[misc]
    """RFC 9068 JWT access tokens, with the claims Cognito's carry (groups, scope, client_id)."""

    def __init__(self, issuer: str, audience: str, keys: KeyRing) -> None:
        super().__init__(issuer=issuer, alg=ALGORITHM, refresh_token_generator=_opaque_refresh_token)
        self.audience = audience
        self.keys = keys

    def get_jwks(self) -> KeySet:
        return self.keys.signing_keys()

    def get_audiences(self, client: Client, user: DemoUser | None, scope: str) -> str:
        return self.audience

    def get_extra_claims(self, client: Client, grant_type: str, user: DemoUser | None, scope: str) -> dict[str, Any]:
        claims: dict[str, Any] = {"nbf": int(time.time())}
        if user is not None:
            claims |= {"username": user.username, GROUPS_CLAIM: list(user.groups)}
        return claims

    def _get_expires_in(self, client: Client, grant_type: str) -> int:
        return ACCESS_TOKEN_SECONDS


class Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, values: list[tuple[str, str]]) -> None:
        self._values = values

    @property
    def data(self) -> dict[str, str]:
        return dict(self._values)

    @property
    def datalist(self) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = {}
        for name, value in self._values:
            grouped.setdefault(name, []).append(value)
        return grouped


class HttpRequest(OAuth2Request):  # type: ignore[misc]
    def __init__(self, method: str, uri: str, headers: Mapping[str, str], query: str, form: str) -> None:
        super().__init__(method=method, uri=uri, headers=dict(headers))
        self._args = dict(parse_qsl(query, keep_blank_values=True))
        self._form = dict(parse_qsl(form, keep_blank_values=True))
        self.payload = Payload(parse_qsl(query, keep_blank_values=True) + parse_qsl(form, keep_blank_values=True))

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def json_reply(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status, json.dumps(payload).encode(), (("Content-Type", "application/json"), *headers))


class Issuer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, issuer_url: str, audience: str = AUDIENCE, web_origins: tuple[str, ...] = ()) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.issuer_url = issuer_url
        self.audience = audience
        self.web_origins = frozenset(web_origins)
        self.state = State()
        self.keys = KeyRing()
        self.client = Client(web_origins)
        # Browser sessions (the hosted UI's cookie): session id -> (username, expiry).
        self._sessions: dict[str, tuple[str, float]] = {}
        self.tokens = AccessTokens(issuer_url, audience, self.keys)
        self.register_token_generator("default", self.tokens)
        self.register_grant(CodeGrant, [S256Only(required=True), IdTokens(issuer_url, self.keys)])
        self.register_grant(RefreshGrant)

    # -- authlib's framework hooks ---------------------------------------------------------------
    def query_client(self, client_id: str) -> Client | None:
        return self.client if client_id == CLIENT_ID else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        refresh = token.get("refresh_token")
        if refresh:
            with self.state.lock:
                self.state.refresh_tokens[refresh] = RefreshToken(refresh, request.user, token.get("scope", ""))

    def create_oauth2_request(self, request: HttpRequest) -> HttpRequest:
        return request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Reply:
        if isinstance(body, dict):
            return json_reply(status, body, tuple((k, v) for k, v in headers if k.lower() != "content-type"))
        return Reply(status, (body or "").encode(), tuple(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    # -- the shop's endpoints ----------------------------------------------------------------------
    def discovery(self) -> dict[str, Any]:
        base = self.issuer_url
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "end_session_endpoint": f"{base}/logout",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "scopes_supported": list(SCOPES),
        }

    def authorize(self, request: HttpRequest) -> Reply:
        try:
            grant = self.get_consent_grant(request)
        except OAuth2Error as error:
            # No trustworthy redirect URI yet: say it to the person, not to a URL.
            return json_reply(HTTPStatus.BAD_REQUEST, dict(error.get_body()))
        if request.method == "GET":
            signed_in = self._session_user(request)
            if signed_in is not None and request.args.get("prompt") != "login":
                remembered: Reply = self.create_authorization_response(request, grant_user=signed_in, grant=grant)
                return remembered
            return _html_reply(HTTPStatus.OK, _form(request.args))
        user = DEMO_USERS.get(request.form.get("username", ""))
        if user is None or request.form.get("password") != user.password:
            if "text/html" in request.headers.get("Accept", ""):
                return _html_reply(HTTPStatus.UNAUTHORIZED, _form(request.args, error="Unknown user or wrong password."))
            return json_reply(
                HTTPStatus.UNAUTHORIZED, {"error": "access_denied", "error_description": "unknown user or wrong password"}
            )
        reply: Reply = self.create_authorization_response(request, grant_user=user, grant=grant)
        session = generate_token(32)
        with self.state.lock:
            self._sessions[session] = (user.username, time.time() + SESSION_SECONDS)
        cookie = f"{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax; Max-Age={SESSION_SECONDS}"
        return Reply(reply.status, reply.body, (*reply.headers, ("Set-Cookie", cookie)))

    def _session_id(self, request: HttpRequest) -> str | None:
        cookies = str(request.headers.get("Cookie", ""))
        for part in cookies.split(";"):
            name, _, value = part.strip().partition("=")
            if name == SESSION_COOKIE and value:
                return value
        return None

    def _session_user(self, request: HttpRequest) -> DemoUser | None:
        session = self._session_id(request)
        with self.state.lock:
            found = self._sessions.get(session or "")
        if found is None or found[1] < time.time():
            return None
        return DEMO_USERS.get(found[0])

    def logout(self, request: HttpRequest) -> Reply:
        """Cognito's /logout: forget the browser's session, then back to a registered sign-out page."""
        target = request.args.get("logout_uri", "")
        if request.args.get("client_id") != CLIENT_ID or target not in self.client.logout_uris:
            return json_reply(
                HTTPStatus.BAD_REQUEST, {"error": "invalid_request", "error_description": "unknown client_id or logout_uri"}
            )
        session = self._session_id(request)
        with self.state.lock:
            self._sessions.pop(session or "", None)
        expired = f"{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
        return Reply(HTTPStatus.FOUND, b"", (("Location", target), ("Set-Cookie", expired)))

    def cors_headers(self, request_headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
        """The storefront's page calls the token endpoint (and reads discovery) from its own origin."""
        origin = request_headers.get("Origin", "")
        if origin not in self.web_origins:
            return ()
        return (
            ("Access-Control-Allow-Origin", origin),
            ("Vary", "Origin"),
            ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
            ("Access-Control-Allow-Headers", "Content-Type, Authorization"),
            ("Access-Control-Max-Age", "600"),
        )

    def mint(self, claims: Mapping[str, Any]) -> str:
        """An access token with chosen claims over sensible defaults, signed by the current key (admin only)."""
        now = int(time.time())
        user = DEMO_USERS[str(claims.get("username", "ada"))]
        defaults: dict[str, Any] = {
            "iss": self.issuer_url,
            "sub": user.sub,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + ACCESS_TOKEN_SECONDS,
            "scope": "openid shop",
            "client_id": CLIENT_ID,
            "username": user.username,
            GROUPS_CLAIM: list(user.groups),
            "jti": generate_token(16),
        }
        # A claim given as None is left out (a Cognito-like token without aud, say).
        chosen = {name: value for name, value in {**defaults, **claims}.items() if value is not None}
        return jwt.encode({"alg": ALGORITHM, "typ": "at+jwt"}, chosen, self.keys.signing_keys())


def _html_reply(status: int, page: str) -> Reply:
    return Reply(status, page.encode(), (("Content-Type", "text/html; charset=utf-8"),))


_FORM_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem;color:#1b1b1f}"
    "label{display:block;margin:.75rem 0}input{display:block;width:100%;padding:.4rem;font:inherit;box-sizing:border-box}"
    "button{margin-top:1rem;padding:.5rem 1rem;font:inherit;background:#0b57d0;color:#fff;border:0;border-radius:6px}"
    ":focus-visible{outline:3px solid #f9ab00;outline-offset:2px}.error{color:#b3261e;font-weight:600}"
)


def _form(args: Mapping[str, str], error: str = "") -> str:
    """The sign-in page; the request's parameters ride in the form's action, as the signin script sends them."""
    alert = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Sign in to the shop</title><style>{_FORM_STYLE}</style></head><body><main>"
        f"<h1>Sign in to the shop</h1>{alert}"
        f'<form method="post" action="/authorize?{html.escape(urlencode(args))}">'
        '<label for="username">User name</label>'
        '<input id="username" name="username" autocomplete="username" required autofocus>'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" autocomplete="current-password" required>'
        '<button type="submit">Sign in</button></form></main></body></html>'
    )


class _IssuerHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], issuer_for: Callable[[str], Issuer]) -> None:
        super().__init__(address, _Handler)
        host, port = self.server_address[:2]
        self.issuer = issuer_for(f"http://{host!s}:{port}")

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection from %s failed", client_address, exc_info=sys.exc_info())


class _Handler(BaseHTTPRequestHandler):
    server: _IssuerHTTPServer
    server_version = "ShopLocalIssuer/1.0"
    timeout = 30

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.command, self.path.split("?")[0])

    def _dispatch(self) -> None:
        try:
            reply = self._route()
        except Exception:
            logger.exception("unhandled error serving %s %s", self.command, self.path)
            reply = json_reply(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "server_error"})
        self.send_response(reply.status)
        for name, value in (*reply.headers, *self.server.issuer.cors_headers(dict(self.headers.items()))):
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(reply.body)

    def _route(self) -> Reply:
        issuer = self.server.issuer
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            return json_reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "invalid_request"})
        body = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
        route = (self.command, url.path)
        if self.command == "OPTIONS":  # a CORS preflight: the headers are added to every reply
            return Reply(HTTPStatus.NO_CONTENT, b"")
        if route == ("GET", "/health"):
            return json_reply(HTTPStatus.OK, {"status": "ok"})
        if route == ("GET", "/.well-known/openid-configuration"):
            return json_reply(HTTPStatus.OK, issuer.discovery())
        if route == ("GET", "/.well-known/jwks.json"):
            return json_reply(HTTPStatus.OK, issuer.keys.jwks())
        request = HttpRequest(self.command, f"{issuer.issuer_url}{self.path}", dict(self.headers.items()), url.query, body)
        routes: dict[tuple[str, str], Callable[[], Reply]] = {
            ("GET", "/authorize"): lambda: issuer.authorize(request),
            ("POST", "/authorize"): lambda: issuer.authorize(request),
            ("POST", "/token"): lambda: issuer.create_token_response(request),
            ("GET", "/logout"): lambda: issuer.logout(request),
            ("POST", "/admin/rotate"): lambda: json_reply(HTTPStatus.OK, issuer.keys.rotate()),
            ("POST", "/admin/retire"): lambda: json_reply(HTTPStatus.OK, issuer.keys.retire()),
            ("POST", "/admin/tokens"): lambda: json_reply(
                HTTPStatus.CREATED, {"access_token": issuer.mint(json.loads(body or "{}"))}
            ),
        }
        handler = routes.get(route)
        return handler() if handler else json_reply(HTTPStatus.NOT_FOUND, {"error": "not_found"})


class IssuerServer:
    """The issuer on a background thread, for tests: ``with IssuerServer() as issuer: issuer.url``."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, audience: str = AUDIENCE, web_origins: tuple[str, ...] = ()
    ) -> None:
        self._http = _IssuerHTTPServer((host, port), lambda url: Issuer(url, audience, web_origins))
        self._thread: threading.Thread | None = None

    @property
    def issuer(self) -> Issuer:
        return self._http.issuer

    @property
    def url(self) -> str:
        return self.issuer.issuer_url

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._http.serve_forever, name="oidc-issuer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    die_with_parent()
    parser = argparse.ArgumentParser(description="The embedded shop's local OpenID Connect issuer.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5102)
    parser.add_argument("--audience", default=AUDIENCE)
    parser.add_argument(
        "--web-origin", action="append", default=[], help="a storefront origin: its /callback pages, CORS, sign-out"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    server = IssuerServer(args.host, args.port, args.audience, tuple(args.web_origin))

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logger.info("issuer %s listening (audience %s)", server.url, args.audience)
    server._http.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
