"""The one token verifier every API uses (shop_eventing.auth), against the shop's real local issuer
(in-process, over HTTP) and a clock the tests move: key rotation, key removal, the refresh rate limit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from shop_devstack.oidc_issuer import AUDIENCE, DEMO_USERS, IssuerServer
from shop_eventing.auth import JwksCache, TokenVerifier, Unauthorized


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def server() -> Iterator[IssuerServer]:
    with IssuerServer() as issuer:
        yield issuer


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(server: IssuerServer, clock: Clock) -> TokenVerifier:
    jwks = JwksCache(f"{server.url}/.well-known/jwks.json", max_age_seconds=300, min_refresh_seconds=30, clock=clock)
    return TokenVerifier(issuer=server.url, audience=AUDIENCE, jwks=jwks)


def mint(server: IssuerServer, **claims: Any) -> str:
    return server.issuer.mint(claims)


def test_a_good_token_gives_the_caller_from_its_claims(server, verifier):
    caller = verifier.verify(mint(server, username="sam"))
    assert caller.sub == DEMO_USERS["sam"].sub
    assert caller.groups == {"staff"}
    assert "shop" in caller.scope
    assert caller.client_id == "shop-web"


def test_a_rotation_needs_no_refresh_because_the_next_key_was_published_ahead(server, verifier):
    verifier.verify(mint(server))
    fetches = verifier.jwks.fetches
    server.issuer.keys.rotate()
    verifier.verify(mint(server))  # signed by the new current key
    assert verifier.jwks.fetches == fetches


def test_a_token_of_an_unknown_key_makes_one_refresh_then_verifies(server, verifier, clock):
    verifier.verify(mint(server))
    server.issuer.keys.rotate()
    server.issuer.keys.rotate()  # the current key is one the verifier has never seen
    clock.now += 31
    fetches = verifier.jwks.fetches
    verifier.verify(mint(server))
    assert verifier.jwks.fetches == fetches + 1


def test_refreshes_for_unknown_keys_are_rate_limited(server, verifier, clock):
    verifier.verify(mint(server))
    server.issuer.keys.rotate()
    server.issuer.keys.rotate()
    fetches = verifier.jwks.fetches
    # Within the minimum interval: refused without asking the issuer, however many such tokens come.
    for _ in range(5):
        with pytest.raises(Unauthorized, match="does not publish"):
            verifier.verify(mint(server))
    assert verifier.jwks.fetches == fetches
    clock.now += 30
    verifier.verify(mint(server))
    assert verifier.jwks.fetches == fetches + 1


def test_a_key_removed_from_the_jwks_no_longer_verifies_once_the_cache_refreshes(server, verifier, clock):
    old = mint(server)
    verifier.verify(old)
    server.issuer.keys.rotate()
    clock.now += 301
    verifier.verify(old)  # the previous key is still published: its live tokens keep working
    server.issuer.keys.retire()
    clock.now += 301  # the cache's age limit: the JWKS is read again
    with pytest.raises(Unauthorized, match="does not publish"):
        verifier.verify(old)
    verifier.verify(mint(server))


def test_expiry_and_not_before_allow_60_seconds_of_clock_skew(server, verifier):
    now = int(time.time())
    verifier.verify(mint(server, exp=now - 30))  # just expired, within the leeway
    verifier.verify(mint(server, nbf=now + 30))
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(mint(server, exp=now - 120))
    with pytest.raises(Unauthorized, match="not valid yet"):
        verifier.verify(mint(server, nbf=now + 120))


@pytest.mark.parametrize(
    ("claims", "problem"),
    [
        ({"aud": "another-api"}, "audience"),
        ({"iss": "http://127.0.0.1:1"}, "another issuer"),
        ({"cognito:groups": "staff"}, "malformed"),
        ({"token_use": "id"}, "access token"),
    ],
)
def test_claims_that_do_not_fit_are_refused(server, verifier, claims, problem):
    with pytest.raises(Unauthorized, match=problem):
        verifier.verify(mint(server, **claims))


def test_a_cognito_access_token_names_its_audience_in_client_id(server, verifier):
    # Cognito's access tokens have no aud; their client_id is the app client (our audience).
    token = server.issuer.mint({"aud": None, "client_id": AUDIENCE, "token_use": "access"})
    assert verifier.verify(token).client_id == AUDIENCE


def test_algorithms_outside_the_allow_list_are_refused(server, verifier):
    import jwt

    forged = jwt.encode(
        {"sub": "x", "iss": server.url, "aud": AUDIENCE, "exp": int(time.time()) + 60},
        "a-shared-secret-nobody-should-trust-32b",
        algorithm="HS256",
    )
    with pytest.raises(Unauthorized, match="algorithm"):
        verifier.verify(forged)


def test_an_unreachable_issuer_refuses_rather_than_trusts(clock):
    jwks = JwksCache("http://127.0.0.1:9/.well-known/jwks.json", clock=clock)
    verifier = TokenVerifier(issuer="http://127.0.0.1:9", audience=AUDIENCE, jwks=jwks)
    with IssuerServer() as other, pytest.raises(Unauthorized):
        verifier.verify(other.issuer.mint({}))
