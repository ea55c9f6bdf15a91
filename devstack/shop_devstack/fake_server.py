"""How the embedded stack serves its fakes of outside services (payment provider, 3PL, CRM): a
werkzeug WSGI app on werkzeug's threaded server, in a daemon thread of a test or in a process of its
own that the stack starts and stops with SIGTERM."""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any, Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

__all__ = ["FakeServer", "serve_until_stopped"]


class FakeServer:
    """One fake's app on werkzeug's threaded server, served from a daemon thread.

    The socket is bound (and listening) as soon as the object exists, so `url` is valid before
    `start()` and requests made right after `start()` never race the server's start-up.
    """

    def __init__(
        self, name: str, app: Any, host: str = "127.0.0.1", port: int = 0, request_handler: type[WSGIRequestHandler] | None = None
    ) -> None:
        self.name = name
        self._host = host
        self._httpd: BaseWSGIServer = make_server(host, port, app, threaded=True, request_handler=request_handler)
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._lifecycle_lock = threading.Lock()

    @property
    def url(self) -> str:
        # A wildcard bind address is not something a client can connect to.
        host = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host  # noqa: S104
        return f"http://{host}:{self._httpd.server_port}"

    def start(self) -> None:
        with self._lifecycle_lock:
            if self._stopped:
                raise RuntimeError(f"a stopped {self.name} cannot be restarted; create a new one")
            if self._thread is not None:
                raise RuntimeError(f"{self.name} is already running")
            # A short poll interval keeps stop() (and so every test teardown) quick.
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"{self.name}:{self._httpd.server_port}",
                daemon=True,
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port. Safe to call more than once, or before start()."""
        with self._lifecycle_lock:
            if self._stopped:
                return
            self._stopped = True
            self._before_stop()
            # shutdown() waits for serve_forever(); without a running loop it would wait forever.
            if self._thread is not None:
                self._httpd.shutdown()
                self._thread.join()
            self._httpd.server_close()

    def _before_stop(self) -> None:
        """What a fake must let go of before its server stops (e.g. answers it is holding back)."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


class _StopRequested(Exception):
    """Raised from the SIGTERM handler to unwind the main thread's wait."""


def serve_until_stopped(server: FakeServer) -> None:
    """A fake's process: serve until SIGTERM (the stack stopping it) or Ctrl+C, then release the port."""

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        # Raising (rather than setting an Event) is what reliably interrupts the blocking wait
        # below, and cannot deadlock on a lock the interrupted code already holds.
        raise _StopRequested

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        server.start()
        print(f"{server.name} listening on {server.url}", flush=True)
        threading.Event().wait()
    except (KeyboardInterrupt, _StopRequested):
        pass
    finally:
        # Back to the previous handler first, so a second SIGTERM during shutdown still works.
        signal.signal(signal.SIGTERM, previous)
        server.stop()
