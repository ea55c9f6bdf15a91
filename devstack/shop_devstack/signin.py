"""Sign in to the local issuer and print an access token: the authorization code flow with PKCE, as a
script does it (no browser: the sign-in form is posted directly and the code read off the redirect).

    python -m shop_devstack.signin ada              # prints ada's access token
    TOKEN=$(python -m shop_devstack.signin ada)     # for curl -H "Authorization: Bearer $TOKEN"
    python -m shop_devstack.signin sam --json       # the whole token response (refresh token too)

SHOP_ISSUER_URL (default http://127.0.0.1:5102, what `make run` starts) names the issuer.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from shop_devstack.oidc_issuer import CLIENT_ID, DEMO_USERS, REDIRECT_URI

DEFAULT_ISSUER_URL = "http://127.0.0.1:5102"


class SignInFailed(Exception):
    pass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # The redirect URI is the client's own callback; the code is in its Location header.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _post(url: str, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=urlencode(form).encode(), method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def sign_in(username: str, password: str | None = None, issuer_url: str = DEFAULT_ISSUER_URL) -> dict[str, Any]:
    """The token response (access_token, refresh_token, expires_in, ...) for a demo user."""
    if password is None:
        user = DEMO_USERS.get(username)
        if user is None:
            raise SignInFailed(f"no demo user {username!r}; they are {', '.join(DEMO_USERS)}")
        password = user.password
    verifier = secrets.token_urlsafe(48)
    state = secrets.token_urlsafe(16)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid shop",
            "state": state,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    status, headers, body = _post(f"{issuer_url}/authorize?{query}", {"username": username, "password": password})
    location = headers.get("Location") or headers.get("location")
    if status != 302 or not location:
        raise SignInFailed(f"sign-in refused ({status}): {body.decode(errors='replace')}")
    returned = parse_qs(urlsplit(location).query)
    if returned.get("state") != [state] or "code" not in returned:
        raise SignInFailed(f"unexpected redirect: {location}")
    return refresh_or_exchange(
        issuer_url,
        {
            "grant_type": "authorization_code",
            "code": returned["code"][0],
            "redirect_uri": REDIRECT_URI,
            "client_id": CLIENT_ID,
            "code_verifier": verifier,
        },
    )


def refresh(refresh_token: str, issuer_url: str = DEFAULT_ISSUER_URL) -> dict[str, Any]:
    return refresh_or_exchange(
        issuer_url, {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": CLIENT_ID}
    )


def refresh_or_exchange(issuer_url: str, form: dict[str, str]) -> dict[str, Any]:
    status, _, body = _post(f"{issuer_url}/token", form)
    if status != 200:
        raise SignInFailed(f"token endpoint refused ({status}): {body.decode(errors='replace')}")
    tokens: dict[str, Any] = json.loads(body)
    return tokens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Sign in to the local issuer (code flow + PKCE); print an access token.")
    parser.add_argument("username", help=f"one of {', '.join(DEMO_USERS)}")
    parser.add_argument("--password", help="default: the demo user's")
    parser.add_argument("--json", action="store_true", help="print the whole token response")
    parser.add_argument("--issuer", default=os.environ.get("SHOP_ISSUER_URL", DEFAULT_ISSUER_URL))
    args = parser.parse_args(argv)
    try:
        tokens = sign_in(args.username, args.password, args.issuer)
    except (SignInFailed, OSError) as error:
        print(f"signin: {error}", file=sys.stderr)
        return 1
    print(json.dumps(tokens, indent=2) if args.json else tokens["access_token"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
