"""Bearer-token sign-in for every service's API: one verifier, one way to require it.

An API's protected view is decorated under `@json_api`:

    @app.route("/orders/{order_id}", methods=["GET"])
    @operation("An order", path=OrderPath, responses={200: OrderResponse}, errors={404})
    @json_api
    @sign_in.required(app)                      # any signed-in caller
    def get_order(order_id: str) -> Any:
        caller = current_caller()               # identity from verified claims only

    @sign_in.required(app, groups={"staff"})    # a member of one of these groups

The token is a JWT access token from the shop's issuer (Cognito on AWS, shop_devstack.oidc_issuer
locally). `TokenVerifier` checks, with PyJWT: the signature against the issuer's JWKS (cached; fetched
again once for a key id it does not know, at most every `min_refresh_seconds`, so garbage kids cannot
make us hammer the issuer), the algorithm (an allow-list: never "none", never HS*), `iss`, `aud` (or
Cognito's `client_id` when a token has no `aud`), `exp`, `nbf` and `iat` with a small leeway for clock
skew. The groups are Cognito's claim `cognito:groups`, locally too.

A missing or bad token is a 401 in the one error shape with `WWW-Authenticate: Bearer ...` (RFC 6750);
a signed-in caller outside the route's groups is a 403. Configuration is by environment:
SHOP_AUTH_ISSUER, SHOP_AUTH_AUDIENCE and SHOP_AUTH_JWKS_URL (default: the issuer's /.well-known/jwks.json,
Cognito's layout).
"""

from __future__ import annotations

import contextvars
import functools
import json
import os
import threading
import time
import urllib.request
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from chalice.app import Chalice

from shop_eventing.http import ApiError, current_request

if TYPE_CHECKING:
    import jwt

GROUPS_CLAIM: Final = "cognito:groups"
ALGORITHMS: Final = ("RS256", "ES256")
LEEWAY_SECONDS: Final = 60
SECURITY_ATTRIBUTE: Final = "__shop_security__"
# Cognito's tokens carry `client_id` and no `aud` in access tokens; an ID token (which has `aud`) is
# refused by token_use. Locally the issuer sets both.
TOKEN_USE_ACCESS: Final = "access"


class Unauthorized(ApiError):
    """401: no token, or one we do not trust. `error` is RFC 6750's (invalid_request/invalid_token)."""

    status = 401
    code = "unauthorized"

    def __init__(self, message: str, *, error: str | None = "invalid_token") -> None:
        super().__init__(message)
        challenge = 'Bearer realm="shop"'
        if error:
            description = message.replace('"', "'")
            challenge += f', error="{error}", error_description="{description}"'
        self.headers = {"WWW-Authenticate": challenge}


class Forbidden(ApiError):
    status = 403
    code = "forbidden"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.headers = {"WWW-Authenticate": 'Bearer realm="shop", error="insufficient_scope"'}


@dataclass(frozen=True)
class Caller:
    """Who is calling, from verified claims only."""

    sub: str
    groups: frozenset[str]
    scope: frozenset[str]
    client_id: str | None
    username: str | None

    def in_any(self, groups: Iterable[str]) -> bool:
        return not self.groups.isdisjoint(groups)


@dataclass(frozen=True)
class Security:
    """What a route requires, recorded for its OpenAPI document."""

    groups: frozenset[str] = frozenset()


Clock = Callable[[], float]
Fetch = Callable[[str], Mapping[str, Any]]


def fetch_json(url: str) -> Mapping[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        document: Mapping[str, Any] = json.load(response)
    return document


class JwksCache:
    """The issuer's public keys by `kid`. Fetched on first use, again when older than `max_age_seconds`
    (so a key the issuer removed stops verifying), and again for an unknown kid (a rotation we have
    not seen), but never more often than every `min_refresh_seconds`."""

    def __init__(
        self,
        url: str,
        *,
        max_age_seconds: float = 300,
        min_refresh_seconds: float = 10,
        clock: Clock = time.monotonic,
        fetch: Fetch = fetch_json,
    ) -> None:
        self.url = url
        self.max_age_seconds = max_age_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self._clock = clock
        self._fetch = fetch
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self.fetches = 0

    def key(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            now = self._clock()
            age = None if self._fetched_at is None else now - self._fetched_at
            stale = age is None or age >= self.max_age_seconds
            if stale or (kid not in self._keys and age is not None and age >= self.min_refresh_seconds):
                self._refresh(now)
            found = self._keys.get(kid)
        if found is None:
            raise Unauthorized("the token is signed by a key the issuer does not publish")
        return found

    def _refresh(self, now: float) -> None:
        import jwt  # noqa: PLC0415 (see TokenVerifier.verify)

        try:
            document = self._fetch(self.url)
            keys = jwt.PyJWKSet.from_dict(dict(document)).keys
        except Exception as error:
            # Keep what we had: an issuer outage must not sign everyone out at once.
            if self._fetched_at is None:
                raise Unauthorized(f"cannot read the issuer's keys ({type(error).__name__})") from None
            return
        finally:
            self.fetches += 1
        self._keys = {str(k.key_id): k for k in keys if k.key_id}
        self._fetched_at = now


class TokenVerifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks: JwksCache,
        algorithms: Collection[str] = ALGORITHMS,
        leeway_seconds: int = LEEWAY_SECONDS,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwks
        self.algorithms = list(algorithms)
        self.leeway_seconds = leeway_seconds

    def verify(self, token: str) -> Caller:
        # PyJWT imports cryptography (a tenth of a cold start) for RS256: on the first token, not at
        # import, as every function of an app imports its module and only the API's verifies tokens.
        import jwt  # noqa: PLC0415

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("the token is not a JWT") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in self.algorithms:
            raise Unauthorized(f"the token's algorithm {alg!r} is not accepted")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("the token names no signing key (kid)")
        key = self.jwks.key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                # aud is checked below: Cognito's access tokens name their audience in client_id.
                options={"require": ["exp", "iat", "iss", "sub"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthorized("the token is not valid yet") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("the token is from another issuer") from None
        except jwt.PyJWTError as error:
            raise Unauthorized(f"the token is invalid: {error}") from None
        self._check_audience(claims)
        token_use = claims.get("token_use")
        if token_use is not None and token_use != TOKEN_USE_ACCESS:
            raise Unauthorized("an access token is required")
        groups = claims.get(GROUPS_CLAIM) or []
        scope = claims.get("scope") or ""
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups) or not isinstance(scope, str):
            raise Unauthorized("the token's groups or scope are malformed")
        return Caller(
            sub=str(claims["sub"]),
            groups=frozenset(groups),
            scope=frozenset(scope.split()),
            client_id=claims.get("client_id"),
            username=claims.get("username"),
        )

    def _check_audience(self, claims: Mapping[str, Any]) -> None:
        audience = claims.get("aud", claims.get("client_id"))
        audiences = audience if isinstance(audience, list) else [audience]
        if self.audience not in audiences:
            raise Unauthorized("the token is for another audience")


_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("shop_caller", default=None)


def current_caller() -> Caller:
    """The verified caller of the current request (inside a view under `SignIn.required`)."""
    caller = _caller.get()
    if caller is None:
        raise RuntimeError("no caller: the view is not under SignIn.required")
    return caller


def bearer_token(headers: Mapping[str, str]) -> str:
    value = headers.get("authorization") or headers.get("Authorization")
    if not value:
        raise Unauthorized("sign in: send Authorization: Bearer <access token>", error=None)
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <access token>'", error="invalid_request")
    return token.strip()


class SignIn:
    """A service's sign-in requirement; the verifier is built on first use, from the environment."""

    def __init__(self, verifier: TokenVerifier | None = None) -> None:
        self._verifier = verifier
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls) -> SignIn:
        return cls()

    @property
    def verifier(self) -> TokenVerifier:
        with self._lock:
            if self._verifier is None:
                self._verifier = verifier_from_environment(os.environ)
            return self._verifier

    def use(self, verifier: TokenVerifier) -> None:
        """Tests: verify against another issuer."""
        with self._lock:
            self._verifier = verifier

    def authenticate(self, headers: Mapping[str, str], groups: Collection[str] = ()) -> Caller:
        caller = self.verifier.verify(bearer_token(headers))
        if groups and not caller.in_any(groups):
            raise Forbidden(f"this needs the {' or '.join(sorted(groups))} group")
        return caller

    def required[F: Callable[..., Any]](self, app: Chalice, *, groups: Collection[str] = ()) -> Callable[[F], F]:
        def decorate(view: F) -> F:
            @functools.wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                caller = self.authenticate(current_request(app).headers, groups)
                token = _caller.set(caller)
                try:
                    return view(*args, **kwargs)
                finally:
                    _caller.reset(token)

            setattr(wrapper, SECURITY_ATTRIBUTE, Security(frozenset(groups)))
            return wrapper  # type: ignore[return-value]

        return decorate


def verifier_from_environment(environ: Mapping[str, str]) -> TokenVerifier:
    issuer = environ.get("SHOP_AUTH_ISSUER", "").rstrip("/")
    audience = environ.get("SHOP_AUTH_AUDIENCE", "")
    if not issuer or not audience:
        # Fail closed: a service without its issuer configured refuses every protected request.
        raise RuntimeError("sign-in is not configured on this service: set SHOP_AUTH_ISSUER and SHOP_AUTH_AUDIENCE")
    jwks_url = environ.get("SHOP_AUTH_JWKS_URL") or f"{issuer}/.well-known/jwks.json"
    return TokenVerifier(issuer=issuer, audience=audience, jwks=JwksCache(jwks_url))
