"""Start and stop the whole embedded shop: moto's server, the fake payment gateway, every service.

Used by `make run` (python -m shop_devstack) and by the end-to-end tests, so both exercise the same
start-up. Every process listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import boto3
import imageio_ffmpeg

from shop_contracts import TOPOLOGY
from shop_devstack import crm_kintone
from shop_devstack.oidc_issuer import AUDIENCE
from shop_devstack.service_host import DUPLICATE_DRILL_FLAG_ENV, READY
from shop_eventing.topology import Naming
from shop_infra.provision import Provisioned, provision
from shop_infra.resources import LocalOverrides

SERVICES = ("catalog", "vod", "orders", "fulfillment", "notify")
# The WebSocket API's stage, as Chalice names it on AWS (api_gateway_stage in services/vod/.chalice/config.json).
WEBSOCKET_STAGE = "api"
MAIL_SENDER = "shop@example.com"
# The fake 3PL's API token and the tracking webhook's shared secret, given to both sides (on AWS they
# are SSM SecureString parameters: services/fulfillment/README.md).
LOGISTICS_API_TOKEN = "local-3pl-token"
LOGISTICS_WEBHOOK_SECRET = "local-3pl-webhook-secret"
LOGISTICS_WEBHOOK_PATH = "/logistics/tracking"
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


# Locally a failed record comes back after 3 s instead of the topology's production value, so that
# retries show up while you watch (and tests stay short). Its resources differ from AWS in this
# alone (deploy/tests/test_drift.py checks it).
EMBEDDED_OVERRIDES = LocalOverrides(visibility_timeout_seconds=3)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass
class StackOptions:
    host: str = "127.0.0.1"
    moto_port: int = 0
    gateway_port: int = 0
    issuer_port: int = 0
    crm_port: int = 0
    logistics_port: int = 0
    service_ports: dict[str, int] = field(default_factory=dict)
    stage: str = "local"
    log_dir: Path | None = None  # None: children's output goes to this terminal, prefixed
    duplicate_deliveries: bool = False
    overrides: LocalOverrides = EMBEDDED_OVERRIDES
    websocket_port: int = 0  # the push channel's WebSocket API (shop_devstack.websocket_gateway)


class EmbeddedShop:
    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.naming = Naming(stage=options.stage)
        self.endpoint = ""
        self.gateway_url = ""
        self.issuer_url = ""
        self.crm_url = ""
        self.logistics_url = ""
        self.service_urls: dict[str, str] = {}
        # The push channel: clients connect to websocket_url, vod posts to them through push_endpoint.
        self.websocket_url = ""
        self.push_endpoint = ""
        self._websocket_integration_port = 0
        self.provisioned: Provisioned | None = None
        self._processes: list[tuple[str, subprocess.Popen[str]]] = []
        self._pumps: list[threading.Thread] = []
        self._control_dir = Path(tempfile.mkdtemp(prefix="shop-control-"))
        self._drill_flag = self._control_dir / "duplicate-deliveries"

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        o = self.options
        moto_port = o.moto_port or free_port(o.host)
        self.endpoint = f"http://{o.host}:{moto_port}"
        # Children get the embedded AWS through their environment; this process keeps its own
        # untouched and uses explicit clients (self.client), so two shops can live in one test run.
        child_env = {**os.environ, **LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint, "SHOP_STAGE": o.stage}
        self._start_server("moto", "shop_devstack.moto_main", moto_port, "/moto-api/", child_env)
        # The card network's stand-in, and Cognito's: a real OIDC issuer whose JWKS the services fetch.
        self.gateway_url = self._start_server(
            "payment-gateway", "shop_devstack.payment_gateway", o.gateway_port or free_port(o.host), "/health", child_env
        )
        self.issuer_url = self._start_server(
            "oidc-issuer", "shop_devstack.oidc_issuer", o.issuer_port or free_port(o.host), "/health", child_env
        )
        # The back office's CRM (a kintone app), which notify keeps up to date.
        self.crm_url = self._start_server(
            "crm", "shop_devstack.crm_kintone", o.crm_port or free_port(o.host), "/health", child_env
        )
        # The logistics service (3PL) fulfillment instructs; it calls fulfillment's tracking webhook back.
        logistics_env = {
            **child_env,
            "LOGISTICS_API_TOKEN": LOGISTICS_API_TOKEN,
            "LOGISTICS_WEBHOOK_SECRET": LOGISTICS_WEBHOOK_SECRET,
        }
        self.logistics_url = self._start_server(
            "logistics-3pl", "shop_devstack.logistics_3pl", o.logistics_port or free_port(o.host), "/health", logistics_env
        )

        self.provisioned = provision(
            TOPOLOGY,
            self.naming,
            self.session(),
            endpoint_url=self.endpoint,
            overrides=o.overrides,
        )
        # On AWS the sender identity is verified once by a human (DNS/mail click); moto needs the call.
        self.client("ses").verify_email_identity(EmailAddress=MAIL_SENDER)

        if o.duplicate_deliveries:
            self._drill_flag.touch()
        self._start_websocket_gateway(child_env)
        waiting = []
        for service in SERVICES:
            port = o.service_ports.get(service) or free_port(o.host)
            env = {
                **child_env,
                "SHOP_TABLE_STREAM_ARN": self.provisioned.table_stream_arns[service],
                "PAYMENT_GATEWAY_URL": self.gateway_url,
                "SHOP_AUTH_ISSUER": self.issuer_url,
                "SHOP_AUTH_AUDIENCE": AUDIENCE,
                "SHOP_MAIL_SENDER": MAIL_SENDER,
                "SHOP_CRM_URL": self.crm_url,
                "SHOP_CRM_API_TOKEN": crm_kintone.DEFAULT_TOKEN,
                "SHOP_CRM_APP_ID": crm_kintone.DEFAULT_APP_ID,
                **self._logistics_environment(service),
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_NAMESPACE": "shop",
                "PYTHONUNBUFFERED": "1",
                # vod transcodes with the real ffmpeg of the pinned wheel (MediaConvert on AWS).
                "VOD_TRANSCODER": "ffmpeg",
                "VOD_FFMPEG": imageio_ffmpeg.get_ffmpeg_exe(),
                **self._push_environment(service),
            }
            command = [
                sys.executable,
                "-m",
                "shop_devstack.service_host",
                "--service",
                service,
                "--host",
                o.host,
                "--port",
                str(port),
                *self._push_arguments(service),
            ]
            env[DUPLICATE_DRILL_FLAG_ENV] = str(self._drill_flag)
            ready = self._spawn(service, command, env)
            self.service_urls[service] = f"http://{o.host}:{port}"
            waiting.append((service, ready))
        for service, ready in waiting:
            if not ready.wait(timeout=60):
                raise RuntimeError(f"{service} did not start; see its log")
            _wait_http(f"{self.service_urls[service]}/health", service)
        _post_json(
            f"{self.logistics_url}/admin/config", {"webhook_url": f"{self.service_urls['fulfillment']}{LOGISTICS_WEBHOOK_PATH}"}
        )

    def _logistics_environment(self, service: str) -> dict[str, str]:
        """The 3PL's URL, token and webhook secret, for fulfillment alone."""
        if service != "fulfillment":
            return {}
        return {
            "LOGISTICS_API_URL": self.logistics_url,
            "LOGISTICS_API_TOKEN": LOGISTICS_API_TOKEN,
            "LOGISTICS_WEBHOOK_SECRET": LOGISTICS_WEBHOOK_SECRET,
            # Short enough that the fault drills' timeouts show up quickly.
            "LOGISTICS_TIMEOUT_SECONDS": "2",
        }

    # -- the push channel: API Gateway's WebSocket API, played by shop_devstack.websocket_gateway ----------
    def _start_websocket_gateway(self, env: dict[str, str]) -> None:
        """The gateway first: vod's process needs its management endpoint, and the gateway calls vod's
        WebSocket functions (served by vod's process on a port chosen here) only once a client connects."""
        o = self.options
        port = o.websocket_port or free_port(o.host)
        self._websocket_integration_port = free_port(o.host)
        command = [
            *(sys.executable, "-m", "shop_devstack.websocket_gateway", "--host", o.host, "--port", str(port)),
            *("--integration", f"http://{o.host}:{self._websocket_integration_port}", "--stage", WEBSOCKET_STAGE),
        ]
        self._spawn("websocket-gateway", command, env)
        _wait_http(f"http://{o.host}:{port}/health", "websocket-gateway")
        self.websocket_url = f"ws://{o.host}:{port}/{WEBSOCKET_STAGE}"
        self.push_endpoint = f"http://{o.host}:{port}/{WEBSOCKET_STAGE}"

    def _push_environment(self, service: str) -> dict[str, str]:
        return {"VOD_PUSH_ENDPOINT": self.push_endpoint} if service == "vod" else {}

    def _push_arguments(self, service: str) -> list[str]:
        return ["--websocket-integration-port", str(self._websocket_integration_port)] if service == "vod" else []

    def _start_server(self, name: str, module: str, port: int, probe: str, env: dict[str, str]) -> str:
        """Start one of the stack's own HTTP servers (`python -m module --host --port`, logging as
        `name`) and wait until `probe` answers; returns its base URL."""
        url = f"http://{self.options.host}:{port}"
        command = [sys.executable, "-m", module, "--host", self.options.host, "--port", str(port)]
        self._spawn(name, command, env)
        _wait_http(f"{url}{probe}", name)
        return url

    def stop(self) -> None:
        # Services first, the embedded AWS last: a poller must never find moto gone.
        services = [p for name, p in self._processes if name != "moto"]
        aws = [p for name, p in self._processes if name == "moto"]
        for group in (services, aws):
            for process in group:
                if process.poll() is None:
                    process.terminate()
            deadline = time.monotonic() + 10
            for process in group:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for pump in self._pumps:
            pump.join(timeout=2)
        self._processes.clear()
        shutil.rmtree(self._control_dir, ignore_errors=True)

    @contextmanager
    def duplicate_deliveries(self) -> Iterator[None]:
        """The at-least-once drill, for the duration of the block: every SQS message a service handles is
        delivered once more. The pollers check the switch after each batch, so messages received from
        the moment it is on are duplicated; the shop need not restart."""
        self._drill_flag.touch()
        try:
            yield
        finally:
            self._drill_flag.unlink(missing_ok=True)

    def dead_processes(self) -> list[str]:
        return [name for name, process in self._processes if process.poll() is not None]

    # -- inspection helpers for tests and ops --------------------------------------------------
    def session(self) -> boto3.Session:
        return boto3.Session(
            aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=LOCAL_CREDENTIALS["AWS_SESSION_TOKEN"],
            region_name=LOCAL_CREDENTIALS["AWS_DEFAULT_REGION"],
        )

    def client(self, service_name: str) -> Any:
        """A boto3 client of this shop's embedded AWS."""
        return self.session().client(service_name, endpoint_url=self.endpoint)

    def sent_emails(self) -> list[dict[str, Any]]:
        """Every e-mail SES accepted, as moto recorded it."""
        with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=10) as response:
            data = json.load(response)
        return list(data.get("ses", {}).get("Message", []))

    def log_path(self, name: str) -> Path | None:
        return self.options.log_dir / f"{name}.log" if self.options.log_dir else None

    # -- processes -----------------------------------------------------------------------------
    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> threading.Event:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops children in order.
        )
        self._processes.append((name, process))
        ready = threading.Event()
        log_file: IO[str] | None = None
        path = self.log_path(name)
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            log_file = path.open("a", encoding="utf-8")
        pump = threading.Thread(target=_pump, args=(name, process, ready, log_file), daemon=True)
        pump.start()
        self._pumps.append(pump)
        return ready


def _pump(name: str, process: subprocess.Popen[str], ready: threading.Event, log_file: IO[str] | None) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(READY):
            ready.set()
        if log_file:
            log_file.write(line)
            log_file.flush()
        else:
            sys.stdout.write(f"[{name}] {line}")
    if log_file:
        log_file.close()


def _post_json(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _wait_http(url: str, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception as error:  # not up yet
            last = error
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer at {url}: {last}")


@contextmanager
def running_shop(options: StackOptions) -> Iterator[EmbeddedShop]:
    shop = EmbeddedShop(options)
    shop.start()
    try:
        yield shop
    finally:
        shop.stop()
