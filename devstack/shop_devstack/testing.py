"""Test helpers: an in-process moto server on loopback, reached with plain boto3.

    with embedded_aws() as endpoint:      # sets AWS_ENDPOINT_URL and fake credentials
        provision(TOPOLOGY, Naming("test"))

Each call starts a server on its own port, but moto keeps its data for the whole Python process,
whichever server serves it: tests isolate themselves by naming their resources uniquely (e.g. a
random stage, `Naming(stage=f"t{uuid4().hex[:8]}")`), never by wiping state others may still use.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from moto.server import ThreadedMotoServer

from shop_devstack.stack import LOCAL_CREDENTIALS, free_port

T = TypeVar("T")


@contextmanager
def embedded_aws() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in [*LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL"]}
    os.environ.update({**LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint})
    try:
        yield endpoint
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def eventually(probe: Callable[[], T | None], *, timeout: float = 20, interval: float = 0.1, what: str = "condition") -> T:
    """Poll until `probe` returns something truthy; fail with `what` after `timeout` seconds.

    For waiting on asynchronous flows only: the timeout bounds a hang, it is never the assertion.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
