"""Where the embedded AWS spends its time serving orders: a sampling profile of moto's server threads
while the floor's calls (bench/floor.py) run against it.

    .venv/bin/python -m bench.profile_moto [--seconds 15]

No profiler is in the lock (py-spy needs ptrace, which containers often refuse), and cProfile sees one
thread only, while moto answers each request on a thread of its own. So this runs moto's server (the
stack's own, shop_devstack.moto_server) in this process and samples every server thread's stack every
few milliseconds: "inclusive" is the share of samples in which a function was anywhere on the stack,
"self" the share in which it was running.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections import Counter
from types import FrameType

import boto3

from bench.floor import Floor
from shop_devstack.moto_server import EmbeddedAwsServer
from shop_devstack.stack import LOCAL_CREDENTIALS, MAIL_SENDER, free_port


def _where(frame: FrameType) -> str:
    code = frame.f_code
    path = code.co_filename
    for marker in ("site-packages/", "lib/python3.13/", "shop_devstack/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{code.co_name}"


def sample(threads: set[int], stop: threading.Event, interval: float) -> tuple[Counter[str], Counter[str], int]:
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    samples = 0
    while not stop.wait(interval):
        for ident, frame in sys._current_frames().items():
            if ident not in threads:
                continue
            top = _where(frame)
            if "selectors.py" in top or "socket.py:accept" in top or "threading.py:wait" in top:
                continue  # an idle server thread waiting for a request
            samples += 1
            self_time[top] += 1
            seen = set()
            current: FrameType | None = frame
            while current is not None:
                seen.add(_where(current))
                current = current.f_back
            inclusive.update(seen)
    return inclusive, self_time, samples


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 (set-up, sampling and report, in order)
    parser = argparse.ArgumentParser(prog="python -m bench.profile_moto", description=__doc__)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    # As moto_main does: a log line per request would be most of what we measure.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    before = set(threading.enumerate())
    server = EmbeddedAwsServer("127.0.0.1", port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    session = boto3.Session(
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=LOCAL_CREDENTIALS["AWS_DEFAULT_REGION"],
    )
    session.client("ses", endpoint_url=endpoint).verify_email_identity(EmailAddress=MAIL_SENDER)
    floor = Floor(session, endpoint, MAIL_SENDER)
    floor.provision()
    floor.one_order()
    me = threading.get_ident()
    stop = threading.Event()
    result: dict[str, tuple[Counter[str], Counter[str], int]] = {}

    def sampler() -> None:
        # Every thread but this process's own (the client's, this sampler's) is moto's.
        own = {me, threading.get_ident()} | {t.ident for t in before if t.ident}

        def refresh() -> set[int]:  # werkzeug starts a thread per connection: keep discovering them
            return {ident for ident in sys._current_frames() if ident not in own}

        inclusive: Counter[str] = Counter()
        self_time: Counter[str] = Counter()
        total = 0
        while not stop.is_set():
            server_threads = refresh()
            chunk_stop = threading.Event()
            timer = threading.Timer(0.5, chunk_stop.set)
            timer.start()
            i, s, n = sample(server_threads, chunk_stop, 0.002)
            inclusive.update(i)
            self_time.update(s)
            total += n
        result["profile"] = (inclusive, self_time, total)

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    orders = 0
    start = time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        floor.one_order()
        orders += 1
    stop.set()
    thread.join()
    server.stop()
    inclusive, self_time, total = result["profile"]
    print(f"{orders} floor orders in {args.seconds:.0f} s; {total} samples of moto's busy threads\n")
    print("inclusive  function (moto's request threads)")
    # The server's own frames (thread, socket server, WSGI plumbing) are on every stack: left out.
    plumbing = ("threading.py", "socketserver.py", "http/server.py", "werkzeug/serving.py")
    for name, count in [(n, c) for n, c in inclusive.most_common() if not n.startswith(plumbing)][: args.top]:
        print(f"{count / total:8.1%}  {name}")
    print("\nself       function")
    for name, count in self_time.most_common(args.top // 2):
        print(f"{count / total:8.1%}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
