"""Fixtures every service's tests share, loaded by pytest through the `pytest11` entry point of the
shop-devstack package (so no conftest repeats them). Nothing here runs unless a test asks for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shop_devstack.oidc_issuer import IssuerServer


@pytest.fixture(scope="session")
def issuer() -> Iterator[IssuerServer]:
    """The shop's local OIDC issuer, in-process; its keys mint the tests' tokens."""
    # Imported when asked for: the plugin loads in every pytest run, most of which never need it.
    from shop_devstack.testing import local_issuer  # noqa: PLC0415

    with local_issuer() as server:
        yield server
