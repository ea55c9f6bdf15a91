"""Start and stop the whole embedded shop: moto's server, the fake payment gateway, every service.

Used by `make run` (python -m shop_devstack) and by the end-to-end tests, so both exercise the same
start-up. Every process listens on 127.0.0.1 only.

A service process that exits on its own is started again, as Lambda starts a new execution environment
after a crash, instead of the whole shop stopping: the supervisor logs a line, waits a backoff that
doubles with each restart, and gives up (the process then counts as dead) after `MAX_RESTARTS` within
`RESTART_WINDOW_SECONDS`. Messages the crashed process held come back after their visibility timeout.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import boto3
import imageio_ffmpeg
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shop_contracts import TOPOLOGY
from shop_devstack import crm_kintone
from shop_devstack.faults import FAULTS_ENV, Fault, FaultBoard
from shop_devstack.oidc_issuer import AUDIENCE, CLIENT_ID, SCOPES
from shop_devstack.service_host import DUPLICATE_DRILL_FLAG_ENV, READY, SQS_POLLERS_ENV
from shop_eventing.topology import Naming
from shop_infra.provision import Provisioned, provision
from shop_infra.resources import LocalOverrides, media_bucket_name

SERVICES = ("catalog", "vod", "orders", "fulfillment", "notify")
# The built storefront and console (`make web`), served by the stack's web edge.
WEB_ROOT = Path(__file__).resolve().parents[2] / "web" / "dist"
# The WebSocket API's stage, as Chalice names it on AWS (api_gateway_stage in services/vod/.chalice/config.json).
WEBSOCKET_STAGE = "api"
MAIL_SENDER = "shop@example.com"
# The fake 3PL's API token and the tracking webhook's shared secret, given to both sides (on AWS they
# are SSM SecureString parameters: services/fulfillment/README.md).
LOGISTICS_API_TOKEN = "local-3pl-token"
LOGISTICS_WEBHOOK_SECRET = "local-3pl-webhook-secret"
LOGISTICS_WEBHOOK_PATH = "/logistics/tracking"
# The media edge (CloudFront's stand-in): the id vod signs its cookies under and the edge trusts; the
# key pair itself is made afresh by every stack (on AWS: a key group's public key, the private key in SSM).
MEDIA_KEY_PAIR_ID = "K2LOCALMEDIAEDGE"
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

# A service that crashes more often than this is broken, not unlucky: the shop stops (make run) or the
# tests see it dead, rather than restarting it forever.
MAX_RESTARTS = 5
RESTART_WINDOW_SECONDS = 60.0
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 8.0


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
    media_edge_port: int = 0
    # Browser origins the media edge answers CORS with credentials for (a storefront on another port).
    media_origins: tuple[str, ...] = ()
    live_channel_port: int = 0
    service_ports: dict[str, int] = field(default_factory=dict)
    stage: str = "local"
    log_dir: Path | None = None  # None: children's output goes to this terminal, prefixed
    duplicate_deliveries: bool = False
    # The fault drills' hooks in every service process (shop_devstack.faults; EmbeddedShop.fault).
    faults: bool = False
    # Each queue's concurrent pollers (SHOP_SQS_POLLERS); None: the service host's default.
    sqs_pollers: int | None = None
    overrides: LocalOverrides = EMBEDDED_OVERRIDES
    websocket_port: int = 0  # the push channel's WebSocket API (shop_devstack.websocket_gateway)
    web_port: int = 0  # the storefront's edge (shop_devstack.web_edge)
    web_root: Path = WEB_ROOT


class EmbeddedShop:
    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.naming = Naming(stage=options.stage)
        self.endpoint = ""
        self.gateway_url = ""
        self.issuer_url = ""
        self.crm_url = ""
        self.logistics_url = ""
        self.media_url = ""
        self.live_channel_url = ""
        # The storefront (/) and the staff console (/console/), with every API under /api/<service>/.
        self.web_url = ""
        self._live: dict[str, str] = {}
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
        self.faults = FaultBoard(self._control_dir / "faults") if options.faults else None
        # Each service's command and environment, to start it again after a crash.
        self._service_commands: dict[str, tuple[list[str], dict[str, str]]] = {}
        self.restarts: dict[str, int] = {}
        self._recent_restarts: dict[str, deque[float]] = {}
        self._given_up: set[str] = set()
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._media_clock = self._control_dir / "media-clock-offset"
        self._media_private_key, self._media_public_key = _media_key_pair()

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
        # The storefront's origin is known first: the issuer, the media edge and the media bucket let it in.
        web_port = o.web_port or free_port(o.host)
        self.web_url = f"http://{o.host}:{web_port}"
        self._start_server("moto", "shop_devstack.moto_main", moto_port, "/moto-api/", child_env)
        # The card network's stand-in, and Cognito's: a real OIDC issuer whose JWKS the services fetch.
        self.gateway_url = self._start_server(
            "payment-gateway", "shop_devstack.payment_gateway", o.gateway_port or free_port(o.host), "/health", child_env
        )
        self.issuer_url = self._start_server(
            "oidc-issuer",
            "shop_devstack.oidc_issuer",
            o.issuer_port or free_port(o.host),
            "/health",
            child_env,
            ("--web-origin", self.web_url),
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
        # CloudFront's stand-in in front of the media bucket: signed cookies or URLs, or a 403.
        media_env = {
            **child_env,
            "MEDIA_EDGE_BUCKET": media_bucket_name(self.naming),
            "MEDIA_EDGE_PUBLIC_KEYS": json.dumps({MEDIA_KEY_PAIR_ID: self._media_public_key}),
            "MEDIA_EDGE_CORS_ORIGINS": ",".join((*o.media_origins, self.web_url)),
            "MEDIA_EDGE_CLOCK_OFFSET_FILE": str(self._media_clock),
        }
        self.media_url = self._start_server(
            "media-edge", "shop_devstack.media_edge", o.media_edge_port or free_port(o.host), "/health", media_env
        )

        # IVS's stand-in for vod's live shows: its channels, real live HLS from ffmpeg, its events and recordings.
        self.live_channel_url, self._live = self._start_live_channel(child_env)

        self.provisioned = provision(
            TOPOLOGY,
            self.naming,
            self.session(),
            endpoint_url=self.endpoint,
            overrides=o.overrides,
        )
        # On AWS the sender identity is verified once by a human (DNS/mail click); moto needs the call.
        self.client("ses").verify_email_identity(EmailAddress=MAIL_SENDER)
        self._let_the_console_upload()

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
                **self._media_environment(service),
                **(self._live if service == "vod" else {}),
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
            if self.faults is not None:
                env[FAULTS_ENV] = str(self.faults.directory)
            if o.sqs_pollers is not None:
                env[SQS_POLLERS_ENV] = str(o.sqs_pollers)
            self._service_commands[service] = (command, env)
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
        self._start_web_edge(web_port, child_env)
        self._supervisor = threading.Thread(target=self._supervise, name="supervisor", daemon=True)
        self._supervisor.start()

    # -- the storefront ---------------------------------------------------------------------------------
    def web_config(self) -> dict[str, Any]:
        """The page's /config.json: what `make deploy-web` writes from the stage's outputs on AWS."""
        return {
            "issuer": self.issuer_url,
            "client_id": CLIENT_ID,
            "scopes": " ".join(SCOPES),
            "redirect_path": "/callback",
            "logout_url": f"{self.issuer_url}/logout",
            "api": {service: f"/api/{service}" for service in SERVICES},
            "push_url": self.websocket_url,
            "media_origin": self.media_url,
            # The console uploads sources straight to the bucket with presigned URLs (moto's S3 here).
            "upload_origin": self.endpoint,
            # A live show's playlist comes from the live channels (IVS's playback domain on AWS).
            "live_playback_origin": self.live_channel_url,
        }

    def _start_web_edge(self, port: int, env: dict[str, str]) -> None:
        o = self.options
        command = [
            *(sys.executable, "-m", "shop_devstack.web_edge", "--host", o.host, "--port", str(port)),
            *("--root", str(o.web_root), "--config", json.dumps(self.web_config()), "--apis", json.dumps(self.service_urls)),
        ]
        self._spawn("web-edge", command, env)
        _wait_http(f"{self.web_url}/health", "web-edge")

    def _let_the_console_upload(self) -> None:
        """The console PUTs video sources to presigned URLs of the media bucket from the storefront's
        origin: the bucket answers CORS for it (and exposes ETag, which a multipart upload reports)."""
        self.client("s3").put_bucket_cors(
            Bucket=media_bucket_name(self.naming),
            CORSConfiguration={
                "CORSRules": [
                    {
                        "AllowedOrigins": [self.web_url],
                        "AllowedMethods": ["PUT", "GET", "HEAD"],
                        "AllowedHeaders": ["*"],
                        "ExposeHeaders": ["ETag"],
                        "MaxAgeSeconds": 600,
                    }
                ]
            },
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

    def _media_environment(self, service: str) -> dict[str, str]:
        """Playback's settings, for vod alone: where the edge is, the key to sign cookies with, plain http."""
        if service != "vod":
            return {}
        return {
            "VOD_MEDIA_BASE_URL": self.media_url,
            "VOD_MEDIA_KEY_PAIR_ID": MEDIA_KEY_PAIR_ID,
            "VOD_MEDIA_SIGNING_KEY": self._media_private_key,
            # The edge is http on 127.0.0.1: a Secure cookie would never be sent to it.
            "VOD_MEDIA_COOKIE_SECURE": "false",
            "VOD_CLOCK_OFFSET_FILE": str(self._media_clock),
        }

    def _start_live_channel(self, child_env: dict[str, str]) -> tuple[str, dict[str, str]]:
        """Start the fake IVS and set it up as a stage is set up on AWS (docs/deploy.md): a playback key
        pair made here (EC P-384), its public key imported into IVS, and a recording configuration into
        the media bucket. Returns its URL and what vod is given: the endpoint, the recording
        configuration and the private key that signs playback tokens."""
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415 - only the stack makes keys
        from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

        url = self._start_server(
            "live-channel",
            "shop_devstack.live_channel",
            self.options.live_channel_port or free_port(self.options.host),
            "/health",
            {**child_env, "VOD_FFMPEG": imageio_ffmpeg.get_ffmpeg_exe()},
        )
        key = ec.generate_private_key(ec.SECP384R1())
        private_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        public_pem = (
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        )
        ivs = self.session().client("ivs", endpoint_url=url)
        ivs.import_playback_key_pair(publicKeyMaterial=public_pem, name=f"shop-{self.options.stage}-vod-playback")
        recording = ivs.create_recording_configuration(
            name=f"shop-{self.options.stage}-vod-live",
            destinationConfiguration={"s3": {"bucketName": f"{self.naming.prefix}-{self.options.stage}-vod-media"}},
        )["recordingConfiguration"]["arn"]
        return url, {
            "AWS_ENDPOINT_URL_IVS": url,
            "VOD_IVS_RECORDING_CONFIGURATION_ARN": recording,
            "VOD_PLAYBACK_PRIVATE_KEY": private_pem,
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

    def _start_server(
        self, name: str, module: str, port: int, probe: str, env: dict[str, str], arguments: tuple[str, ...] = ()
    ) -> str:
        """Start one of the stack's own HTTP servers (`python -m module --host --port [arguments]`,
        logging as `name`) and wait until `probe` answers; returns its base URL."""
        url = f"http://{self.options.host}:{port}"
        command = [sys.executable, "-m", module, "--host", self.options.host, "--port", str(port), *arguments]
        self._spawn(name, command, env)
        _wait_http(f"{url}{probe}", name)
        return url

    def stop(self) -> None:
        # No restarts from here on: the processes about to exit are being stopped, not crashing.
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=MAX_BACKOFF_SECONDS + 5)
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
    def duplicate_deliveries(self, copies: int = 1) -> Iterator[None]:
        """The at-least-once drill, for the duration of the block: every SQS message a service handles is
        delivered `copies` more times. The pollers check the switch after each batch, so messages
        received from the moment it is on are duplicated; the shop need not restart."""
        if copies < 1:
            raise ValueError("a duplicate-delivery drill sends at least one more copy")
        self._drill_flag.write_text(str(copies))
        try:
            yield
        finally:
            self._drill_flag.unlink(missing_ok=True)

    @contextmanager
    def fault(self, *faults: Fault) -> Iterator[FaultBoard]:
        """The fault drills (shop_devstack.faults), for the duration of the block: each rule fires in the
        service processes' AWS calls until it is used up or the block ends. Needs `faults=True`."""
        if self.faults is None:
            raise RuntimeError("this stack was started without its fault hooks (StackOptions(faults=True))")
        for fault in faults:
            self.faults.add(fault)
        try:
            yield self.faults
        finally:
            for fault in faults:
                self.faults.remove(fault.name)

    @contextmanager
    def subscriber_down(self, service: str, subscription: str) -> Iterator[None]:
        """The subscription's event source disabled for the block: its queue fills and nothing is handled
        (what a receive brings back meanwhile is made visible again at once). Needs `faults=True`."""
        if self.faults is None:
            raise RuntimeError("this stack was started without its fault hooks (StackOptions(faults=True))")
        queue = self.naming.queue(service, subscription)
        self.faults.pause(queue)
        try:
            yield
        finally:
            self.faults.resume(queue)

    @contextmanager
    def clock_ahead(self, delta: timedelta) -> Iterator[None]:
        """The clock drill, for the duration of the block: vod's playback clock and the media edge's run
        `delta` ahead (rentals end, cookies expire) while everything else keeps the real time."""
        self._media_clock.write_text(str(delta.total_seconds()))
        try:
            yield
        finally:
            self._media_clock.unlink(missing_ok=True)

    def dead_processes(self) -> list[str]:
        """Processes that exited and will not be started again: any but a service, or a service that
        crashed too often (one being restarted is not dead)."""
        return [
            name
            for name, process in self._processes
            if process.poll() is not None and (name not in self._service_commands or name in self._given_up)
        ]

    def pid(self, name: str) -> int:
        """The current process id of one of the stack's processes (a service's changes when it restarts)."""
        return next(process.pid for process_name, process in reversed(self._processes) if process_name == name)

    def _supervise(self) -> None:
        while not self._stopping.wait(0.2):
            for name, process in list(self._processes):
                if name in self._service_commands and name not in self._given_up and process.poll() is not None:
                    self._restart(name, process)

    def _restart(self, name: str, crashed: subprocess.Popen[str]) -> None:
        now = time.monotonic()
        recent = self._recent_restarts.setdefault(name, deque())
        while recent and now - recent[0] > RESTART_WINDOW_SECONDS:
            recent.popleft()
        if len(recent) >= MAX_RESTARTS:
            self._given_up.add(name)
            window = f"{RESTART_WINDOW_SECONDS:g}s"
            self._say(
                name,
                f"{name} exited (code {crashed.returncode}) {len(recent)} times within {window}: not restarting it",
                level=logging.ERROR,
                exit_code=crashed.returncode,
                restarts=len(recent),
            )
            return
        backoff = min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** len(recent))
        recent.append(now)
        self.restarts[name] = self.restarts.get(name, 0) + 1
        self._say(
            name,
            f"{name} exited (code {crashed.returncode}); starting it again in {backoff:g}s (restart {self.restarts[name]})",
            level=logging.WARNING,
            exit_code=crashed.returncode,
            restart=self.restarts[name],
            backoff_seconds=backoff,
        )
        if self._stopping.wait(backoff):
            return
        self._processes.remove((name, crashed))
        command, env = self._service_commands[name]
        ready = self._spawn(name, command, env)
        if ready.wait(timeout=60):
            self._say(name, f"{name} is back (pid {self.pid(name)})", pid=self.pid(name), restart=self.restarts[name])

    def _say(self, name: str, message: str, *, level: int = logging.INFO, **fields: Any) -> None:
        """A supervisor's line in the service's log (or on this terminal, prefixed like the rest): JSON in
        the shape of the service's own lines (supervisor_line)."""
        line = supervisor_line(name, message, level=level, **fields)
        path = self.log_path(name)
        if path:
            with path.open("a", encoding="utf-8") as log:
                log.write(f"{line}\n")
        else:
            sys.stdout.write(f"[{name}] {line}\n")
            sys.stdout.flush()

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
        # moto's data.json can fail (500) when another service's model changes while it is serialized
        # (the embedded server holds only DynamoDB still for it): such a read is simply made again.
        for attempt in range(1, 6):
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=10) as response:
                    data = json.load(response)
                break
            except urllib.error.HTTPError as error:
                if error.code != 500 or attempt == 5:
                    raise
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


SUPERVISOR_LOGGER = "shop.supervisor"


def supervisor_line(name: str, message: str, *, level: int = logging.INFO, **fields: Any) -> str:
    """One supervisor line as JSON in powertools' shape, like the service host's own lines (level,
    location, message, timestamp, service) with `logger` "shop.supervisor" and the process's `fields`
    (exit code, restart, pid)."""
    record = logging.LogRecord(SUPERVISOR_LOGGER, level, __file__, 0, message, None, None, func="supervisor")
    for key, value in {"logger": SUPERVISOR_LOGGER, "process_name": name, **fields}.items():
        setattr(record, key, value)
    return LambdaPowertoolsFormatter(service=f"shop.{name}").format(record)


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


def _media_key_pair() -> tuple[str, str]:
    """A fresh RSA key pair (PEM private, PEM public) for the media edge's trusted key group."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private.decode(), public.decode()


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
