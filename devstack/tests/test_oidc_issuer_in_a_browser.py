"""The issuer as a browser app meets it (Cognito's hosted UI does the same): the storefront's callback
pages are registered, the sign-in is remembered by an HttpOnly session cookie, /logout forgets it, the
token endpoint answers CORS for the storefront's origin only, and the `openid` scope brings an ID token."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import urllib3
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt

from shop_devstack.oidc_issuer import CLIENT_ID, IssuerServer

WEB = "http://127.0.0.1:5110"
http = urllib3.PoolManager(retries=False, timeout=10)


@pytest.fixture(scope="module")
def issuer() -> Iterator[IssuerServer]:
    with IssuerServer(web_origins=(WEB,)) as server:
        yield server


def _authorize_query(redirect_uri: str, verifier: str, **extra: str) -> str:
    return urlencode(
        {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": redirect_uri,
            "scope": "openid shop",
            "state": "s1",
            "nonce": "n1",
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
            **extra,
        }
    )


def _sign_in(issuer: IssuerServer, verifier: str) -> tuple[str, str]:
    """Post the form as the browser does; returns the code and the session cookie."""
    query = _authorize_query(f"{WEB}/callback", verifier)
    reply = http.request(
        "POST",
        f"{issuer.url}/authorize?{query}",
        body=urlencode({"username": "ada", "password": "ada-secret-1815"}),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"},
        redirect=False,
    )
    assert reply.status == 302, reply.data
    cookie = reply.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    code = parse_qs(urlsplit(reply.headers["Location"]).query)["code"][0]
    return code, cookie.split(";", 1)[0]


def test_a_remembered_sign_in_skips_the_form_until_logout(issuer: IssuerServer) -> None:
    _, session = _sign_in(issuer, secrets.token_urlsafe(48))
    query = _authorize_query(f"{WEB}/console/callback", secrets.token_urlsafe(48))
    again = http.request("GET", f"{issuer.url}/authorize?{query}", headers={"Cookie": session}, redirect=False)
    assert again.status == 302
    assert again.headers["Location"].startswith(f"{WEB}/console/callback?code=")

    asked = http.request("GET", f"{issuer.url}/authorize?{query}&prompt=login", headers={"Cookie": session}, redirect=False)
    assert asked.status == 200
    assert b'<label for="password">' in asked.data

    logout = http.request(
        "GET",
        f"{issuer.url}/logout?{urlencode({'client_id': CLIENT_ID, 'logout_uri': f'{WEB}/'})}",
        headers={"Cookie": session},
        redirect=False,
    )
    assert (logout.status, logout.headers["Location"]) == (302, f"{WEB}/")
    assert "Max-Age=0" in logout.headers["Set-Cookie"]
    forgotten = http.request("GET", f"{issuer.url}/authorize?{query}", headers={"Cookie": session}, redirect=False)
    assert forgotten.status == 200


def test_logout_returns_only_to_a_registered_page(issuer: IssuerServer) -> None:
    reply = http.request(
        "GET", f"{issuer.url}/logout?{urlencode({'client_id': CLIENT_ID, 'logout_uri': 'https://evil.example/'})}", redirect=False
    )
    assert reply.status == 400


def test_an_unregistered_callback_is_refused(issuer: IssuerServer) -> None:
    query = _authorize_query("http://127.0.0.1:9999/callback", secrets.token_urlsafe(48))
    reply = http.request("GET", f"{issuer.url}/authorize?{query}", redirect=False)
    assert reply.status == 400


def test_a_wrong_password_in_the_form_shows_the_form_again_with_the_reason(issuer: IssuerServer) -> None:
    query = _authorize_query(f"{WEB}/callback", secrets.token_urlsafe(48))
    reply = http.request(
        "POST",
        f"{issuer.url}/authorize?{query}",
        body=urlencode({"username": "ada", "password": "nope"}),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"},
        redirect=False,
    )
    assert reply.status == 401
    assert b'role="alert"' in reply.data
    assert "Set-Cookie" not in reply.headers


def test_the_token_endpoint_answers_cors_for_the_storefront_and_issues_an_id_token(issuer: IssuerServer) -> None:
    verifier = secrets.token_urlsafe(48)
    code, _ = _sign_in(issuer, verifier)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": f"{WEB}/callback",
        "client_id": CLIENT_ID,
        "code_verifier": verifier,
    }
    reply = http.request(
        "POST",
        f"{issuer.url}/token",
        body=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": WEB},
    )
    assert reply.status == 200
    assert reply.headers["Access-Control-Allow-Origin"] == WEB
    tokens = json.loads(reply.data)
    claims = jwt.decode(tokens["id_token"], issuer.issuer.keys.signing_keys()).claims
    assert (claims["aud"], claims["nonce"], claims["preferred_username"], claims["iss"]) == ([CLIENT_ID], "n1", "ada", issuer.url)

    elsewhere = http.request("OPTIONS", f"{issuer.url}/token", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in elsewhere.headers
