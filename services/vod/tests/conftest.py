"""vod test fixtures.

Domain tests use none of these and never touch AWS. The integration tests share one in-process moto
server per session, provisioned from the topology (the media bucket and the job-events queue too)
*before* `app` is imported (app.py builds its boto3 clients at import); each test makes its own
videos and orders, so tests do not see each other's data. The transcoder is the embedded stack's:
real ffmpeg from the pinned wheel, run in a background process as `make run` runs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import ModuleType
from typing import Any
from unittest import mock

import pytest


@pytest.fixture(scope="session")
def aws() -> Iterator[Any]:
    """The vod table on the session's embedded AWS (shop_devstack.testing.ServiceTable)."""
    import imageio_ffmpeg

    from shop_devstack.testing import service_table

    ffmpeg = {"VOD_TRANSCODER": "ffmpeg", "VOD_FFMPEG": imageio_ffmpeg.get_ffmpeg_exe()}
    with mock.patch.dict(os.environ, ffmpeg), service_table("vod") as table:
        yield table


@pytest.fixture(scope="session")
def vod_app(aws: Any) -> ModuleType:
    import app

    return app


@pytest.fixture
def client(vod_app: ModuleType, issuer: Any) -> Iterator[Any]:
    """Signed in as sam (staff) by default; `client.http.anonymous` sends no token."""
    from shop_devstack.testing import signed_in_client

    with signed_in_client(vod_app.app, issuer, "sam") as signed_in:
        yield signed_in


# -- live shows ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ivs(vod_app: ModuleType) -> Iterator[dict[str, Any]]:
    """The fake IVS (shop_devstack.live_channel), set up as the embedded stack sets it up: a playback key
    pair (vod gets the private key, IVS the public one) and a recording configuration into the media bucket;
    vod's IVS adapter reaches it through AWS_ENDPOINT_URL_IVS."""
    import boto3
    import imageio_ffmpeg
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from shop_devstack.live_channel import LiveChannelServer
    from shop_devstack.testing import LOCAL_NAMING

    key = ec.generate_private_key(ec.SECP384R1())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with LiveChannelServer(ffmpeg=imageio_ffmpeg.get_ffmpeg_exe(), session=boto3.Session()) as server:
        client = boto3.client("ivs", endpoint_url=server.url)
        client.import_playback_key_pair(publicKeyMaterial=public)
        bucket = f"{LOCAL_NAMING.prefix}-{LOCAL_NAMING.stage}-vod-media"
        recording = client.create_recording_configuration(destinationConfiguration={"s3": {"bucketName": bucket}})
        environment = {
            "AWS_ENDPOINT_URL_IVS": server.url,
            "VOD_IVS_RECORDING_CONFIGURATION_ARN": recording["recordingConfiguration"]["arn"],
            "VOD_PLAYBACK_PRIVATE_KEY": private,
        }
        with mock.patch.dict(os.environ, environment):
            vod_app.live_channels.cache_clear()
            vod_app.playback_private_key.cache_clear()
            yield {"server": server, "public": public, "bucket": bucket}
            vod_app.live_channels.cache_clear()
            vod_app.playback_private_key.cache_clear()
