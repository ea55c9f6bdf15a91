"""CloudFront signed cookies: what lets a player fetch every file of one video's stream, and nothing else.

A custom policy (botocore's `CloudFrontSigner.build_policy`) names a resource with a wildcard (all of
one attempt's outputs) and a `DateLessThan`; its signature is RSA-SHA1 with PKCS#1 v1.5 padding, as
CloudFront requires, made with `cryptography`. Policy and signature travel in CloudFront's URL-safe
base64 (`+` → `-`, `=` → `_`, `/` → `~`). On AWS the distribution checks them against the public key
of its trusted key group; on the embedded stack `shop_devstack.media_edge` does the same.

The private key is a PEM: on the embedded stack the stack generates one per run and passes it in
`VOD_MEDIA_SIGNING_KEY`; on AWS it is the SSM SecureString `VOD_MEDIA_SIGNING_KEY_PARAMETER` names
(`/shop/<stage>/vod/media-signing-key`), read once per cold start.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

POLICY_COOKIE = "CloudFront-Policy"
SIGNATURE_COOKIE = "CloudFront-Signature"
KEY_PAIR_ID_COOKIE = "CloudFront-Key-Pair-Id"


def cloudfront_b64encode(data: bytes) -> str:
    """Base64 with the three characters CloudFront replaces so the value fits a URL or a cookie."""
    return base64.b64encode(data).decode().translate(str.maketrans("+=/", "-_~"))


def cloudfront_b64decode(text: str) -> bytes:
    return base64.b64decode(text.translate(str.maketrans("-_~", "+=/")), validate=True)


def rsa_sha1_signer(private_key_pem: bytes) -> Callable[[bytes], bytes]:
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("CloudFront signs with an RSA key; the media signing key is not one")

    def sign(message: bytes) -> bytes:
        # SHA-1 is CloudFront's, not a choice: it verifies nothing else for signed cookies and URLs.
        return key.sign(message, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303

    return sign


@dataclass(frozen=True)
class SignedCookies:
    policy: str
    values: dict[str, str]  # cookie name → value


class CookieSigner:
    """Signs custom policies with one CloudFront key (its Key-Pair-Id is the public key's id)."""

    def __init__(self, key_pair_id: str, private_key_pem: bytes) -> None:
        self.key_pair_id = key_pair_id
        self._signer = CloudFrontSigner(key_pair_id, rsa_sha1_signer(private_key_pem))

    def signed_cookies(self, resource: str, date_less_than: datetime) -> SignedCookies:
        policy = self._signer.build_policy(resource, date_less_than)
        signature = self._signer.rsa_signer(policy.encode())
        return SignedCookies(
            policy=policy,
            values={
                POLICY_COOKIE: cloudfront_b64encode(policy.encode()),
                SIGNATURE_COOKIE: cloudfront_b64encode(signature),
                KEY_PAIR_ID_COOKIE: self.key_pair_id,
            },
        )


class SigningNotConfigured(RuntimeError):
    """Playback needs the media base URL, the key pair id and the private key; one is missing."""


def signer_from_environment(environ: Mapping[str, str], read_parameter: Callable[[str], str]) -> CookieSigner:
    """`read_parameter` reads an SSM SecureString by name (app.py gives it its SSM client)."""
    key_pair_id = environ.get("VOD_MEDIA_KEY_PAIR_ID", "")
    pem = environ.get("VOD_MEDIA_SIGNING_KEY", "")
    parameter = environ.get("VOD_MEDIA_SIGNING_KEY_PARAMETER", "")
    if not pem and parameter:
        pem = read_parameter(parameter)
    settings = (("VOD_MEDIA_KEY_PAIR_ID", key_pair_id), ("VOD_MEDIA_SIGNING_KEY(_PARAMETER)", pem))
    missing = [name for name, value in settings if not value]
    if missing:
        raise SigningNotConfigured(f"media signing is not configured: {', '.join(missing)} unset")
    return CookieSigner(key_pair_id, pem.encode())
