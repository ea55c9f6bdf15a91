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
