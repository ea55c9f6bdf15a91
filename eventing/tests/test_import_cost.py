"""Cold start: what importing the shared packages must not pull in (docs/performance.md, import time).

Every function of a Chalice app imports the module that declares all of them, so whatever a module
imports or builds at import time, every function pays on every cold start. A fresh interpreter
tells what an import brings, whatever this test process already holds."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import shop_eventing.auth, shop_eventing.consumer, shop_eventing.openapi, shop_eventing.runtime
from shop_contracts import REGISTRY, TOPOLOGY
from shop_eventing.runtime import ServiceRuntime

runtime = ServiceRuntime(TOPOLOGY, "orders", REGISTRY)
subscriber = runtime.subscriber("charge-payment", {"StockReserved": lambda event, subscriber: None})
from chalice import Chalice
runtime.trace(Chalice(app_name="probe"))
print(" ".join(sorted(m for m in LAZY if m in sys.modules)))
"""
# PyJWT imports cryptography (the token verifier's, used by the API alone, on its first token);
# powertools' batch and idempotency modules are used by a subscriber's own function, on its first batch;
# the X-Ray SDK on AWS alone, on the first traced invocation.
LAZY = (
    "jwt",
    "cryptography",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.idempotency",
    "aws_xray_sdk",
)


def test_importing_the_shared_packages_and_declaring_a_subscriber_loads_none_of_the_lazy_modules() -> None:
    env = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "PATH": ""}
    proc = subprocess.run(
        [sys.executable, "-c", f"LAZY = {LAZY!r}\n{PROBE}"], capture_output=True, text=True, check=False, env=env, timeout=60
    )

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == []
