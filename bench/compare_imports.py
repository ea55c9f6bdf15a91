"""Import time of each service against another checkout's, interleaved: `python -m bench.compare_imports
--baseline DIR` imports each service's app in fresh processes, alternating this checkout's and the
baseline's, so that both see the same load on a shared machine (the bench's own cold-start phase runs
each service in turn, and a busy neighbour can double one service's figure).

The baseline's shared packages (eventing/, contracts/) are put first on its processes' PYTHONPATH;
third-party packages are this venv's for both. No network, no AWS: the imports only build clients.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench.run import IMPORT_PROBE, REPO_ROOT
from shop_devstack.stack import LOCAL_CREDENTIALS, SERVICES

ENV = {
    **LOCAL_CREDENTIALS,
    "SHOP_STAGE": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "SHOP_TABLE_STREAM_ARN": "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2026-11-29T00:00:00.000",
}


def import_ms(root: Path, service: str, shared_first: bool) -> float:
    env = {**os.environ, **ENV}
    if shared_first:
        env["PYTHONPATH"] = os.pathsep.join(str(root / name) for name in ("eventing", "contracts"))
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE], cwd=root / "services" / service, env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1]) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare_imports", description=__doc__)
    parser.add_argument("--baseline", type=Path, required=True, help="another checkout of the repository")
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args(argv)
    print("| service | baseline median ms | this checkout median ms |\n|---|---:|---:|")
    for service in SERVICES:
        base, this = [], []
        for _ in range(args.runs):
            base.append(import_ms(args.baseline.resolve(), service, shared_first=True))
            this.append(import_ms(REPO_ROOT, service, shared_first=False))
        print(f"| {service} | {statistics.median(base):.0f} | {statistics.median(this):.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
