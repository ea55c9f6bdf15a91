"""moto's server on loopback, quiet: it logs errors, not every request.

python -m shop_devstack.moto_main --port 5100
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from shop_devstack.lifecycle import die_with_parent
from shop_devstack.moto_server import EmbeddedAwsServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    die_with_parent()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # Every request would be one line of noise; errors still show.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = EmbeddedAwsServer(args.host, args.port)
    server.start()
    print(f"moto listening on http://{args.host}:{args.port}", flush=True)
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
