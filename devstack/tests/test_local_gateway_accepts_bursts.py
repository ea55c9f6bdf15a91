"""The local API gateway takes a burst of new connections without resetting any (a bench finding: 40
orders placed at once saw resets from socketserver's default backlog of 5)."""

from __future__ import annotations

import socket
import socketserver
from collections.abc import Iterator

import pytest

from shop_devstack.service_host import accept_bursts

BURST = 64


@pytest.fixture
def unattended_server() -> Iterator[socketserver.TCPServer]:
    # Listening but never accepting: the worst case of a server busy with other requests.
    server = socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    yield server
    server.server_close()


def connections_until_one_fails(address: tuple[str, int]) -> int:
    """How many of a burst of connections the listener takes before the first one is not answered."""
    clients = []
    try:
        for connected in range(BURST):
            client = socket.socket()
            clients.append(client)
            # A full accept queue drops the SYN: the connection is never answered, so a short wait says it.
            client.settimeout(0.5)
            try:
                client.connect(address)
            except OSError:
                return connected
        return BURST
    finally:
        for client in clients:
            client.close()


def test_socketservers_default_backlog_does_not_hold_a_burst(unattended_server: socketserver.TCPServer) -> None:
    # What the fix is for: without it the kernel's accept queue holds about 5.
    assert connections_until_one_fails(unattended_server.server_address) < BURST  # type: ignore[arg-type]


def test_the_widened_backlog_holds_the_whole_burst(unattended_server: socketserver.TCPServer) -> None:
    accept_bursts(unattended_server.socket)
    assert connections_until_one_fails(unattended_server.server_address) == BURST  # type: ignore[arg-type]
