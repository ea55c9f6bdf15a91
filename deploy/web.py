"""Deploy the storefront and staff console (web/) to the AWS account in the environment.

    make deploy-web STAGE=dev [DEPLOY_FLAGS=--no-execute|--skip-build]
    .venv/bin/python deploy/web.py --stage dev [--no-execute] [--skip-build]
    make destroy-web STAGE=dev   (= deploy/web.py --stage dev --destroy: empties the bucket, deletes the stack)

After the platform and all five services (the storefront's distribution imports each REST API):
1. reads what the page's /config.json is made of from the stage's stacks: the platform's issuer, app
   client and hosted sign-in host, vod's push channel, media host and upload bucket host;
2. builds web/ from its lock (`npm ci`, `npm run build`: web/dist) unless --skip-build;
3. creates or updates the stack `shop-<stage>-storefront` (deploy/storefront.py) through a change set;
   its own domain, if any, from SHOP_WEB_ALIASES (comma-separated host names, the first is its URL) and
   SHOP_WEB_CERTIFICATE_ARN (ACM, us-east-1), kept by later deploys that leave them unset;
   --no-execute stops here, the change set left for review;
4. gives the platform's app client the storefront's URL (its StorefrontUrl parameter: the platform's
   current template, that one parameter changed) when it differs;
5. uploads web/dist and the rendered config.json: hashed files under assets/ first (cached for a year,
   immutable; those already there are skipped), then every other file (no-cache: revalidated each
   time), the two pages last, so a page never names a file not uploaded yet;
6. invalidates /index.html, /console/* and /config.json in the distribution.

Nothing here runs in `make test`; deploy/tests/test_web.py tests each step against botocore's Stubber.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

sys.path.insert(0, str(Path(__file__).resolve().parent))

from policies import ROOT, SERVICES
from stacks import Deployer, DeployError, Outcome, platform_stack, service_stack
from storefront import (
    ALIASES_PARAMETER,
    BUCKET_OUTPUT,
    CERTIFICATE_PARAMETER,
    DISTRIBUTION_OUTPUT,
    URL_OUTPUT,
    StageOutputs,
    page_config,
    stack_name,
    storefront_template,
)

from shop_infra.resources import STOREFRONT_URL_PARAMETER

WEB_DIR = ROOT / "web"
ALIASES_VARIABLE = "SHOP_WEB_ALIASES"
CERTIFICATE_VARIABLE = "SHOP_WEB_CERTIFICATE_ARN"
CONFIG_KEY = "config.json"
PAGES = ("index.html", "console/index.html")
# Vite names every file under assets/ after a hash of its content: a changed file is a new name.
HASHED_PREFIX = "assets/"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
INVALIDATED_PATHS = ("/index.html", "/console/*", "/config.json")
# Explicit, not the mimetypes module: its answers depend on the machine's /etc/mime.types.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml",
    ".vtt": "text/vtt; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".wasm": "application/wasm",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def content_type(key: str) -> str:
    suffix = key[key.rfind(".") :].lower() if "." in key.rsplit("/", 1)[-1] else ""
    return CONTENT_TYPES.get(suffix, DEFAULT_CONTENT_TYPE)


def cache_control(key: str) -> str:
    return IMMUTABLE if key.startswith(HASHED_PREFIX) else REVALIDATE


@dataclass(frozen=True)
class Upload:
    key: str
    body: bytes
    content_type: str
    cache_control: str


def upload_plan(dist: Path, config: Mapping[str, Any]) -> list[Upload]:
    """Every file of `dist` and config.json, in the order they must reach the bucket: hashed assets, then
    the other files and config.json, the pages last."""
    missing = [page for page in PAGES if not (dist / page).is_file()]
    if missing:
        raise DeployError(f"{dist} has no {', '.join(missing)}: build web/ first (npm ci && npm run build)")
    files = {path.relative_to(dist).as_posix(): path for path in sorted(dist.rglob("*")) if path.is_file()}
    # The build's own config.json, if any, is the local one: the stage's replaces it.
    files.pop(CONFIG_KEY, None)
    uploads = [Upload(key, path.read_bytes(), content_type(key), cache_control(key)) for key, path in files.items()]
    uploads.append(Upload(CONFIG_KEY, (json.dumps(config, indent=2) + "\n").encode(), content_type(CONFIG_KEY), REVALIDATE))

    def rank(upload: Upload) -> tuple[int, str]:
        return (0 if upload.key.startswith(HASHED_PREFIX) else 2 if upload.key in PAGES else 1, upload.key)

    return sorted(uploads, key=rank)


def stage_outputs(platform: Mapping[str, str], vod: Mapping[str, str]) -> StageOutputs:
    """The page's config's ingredients from the platform's and vod's outputs, or what to deploy first."""
    wanted = {
        "platform": (platform, ("Issuer", "UserPoolClientId", "HostedUiDomain")),
        "vod": (vod, ("PushUrl", "MediaDomain", "UploadDomain")),
    }
    missing = [f"{stack} {name}" for stack, (outputs, names) in wanted.items() for name in names if not outputs.get(name)]
    if missing:
        raise DeployError(
            f"the stage's stacks lack outputs the page needs ({', '.join(missing)}): deploy the platform "
            "(make deploy-platform) and vod (make deploy SERVICE=vod) with this version first"
        )
    return StageOutputs(
        issuer=platform["Issuer"],
        client_id=platform["UserPoolClientId"],
        hosted_ui_domain=platform["HostedUiDomain"],
        push_url=vod["PushUrl"],
        media_domain=vod["MediaDomain"],
        upload_domain=vod["UploadDomain"],
    )


def build(web: Path, run: Callable[[list[str], Path], None]) -> Path:
    """web/dist, built from the lock: npm ci installs exactly package-lock.json, or fails."""
    if not (web / "package-lock.json").is_file():
        raise DeployError(f"{web} has no package-lock.json: the storefront is built from its lock only")
    run(["npm", "ci"], web)
    run(["npm", "run", "build"], web)
    return web / "dist"


def run_command(command: list[str], cwd: Path) -> None:
    print(f"  $ {' '.join(command)}  (in {cwd})")
    proc = subprocess.run(command, cwd=cwd, check=False)
    if proc.returncode != 0:
        raise DeployError(f"{' '.join(command)} failed ({proc.returncode}) in {cwd}")


class WebDeployer:
    def __init__(
        self,
        deployer: Deployer,
        *,
        cloudfront: Any = None,
        web: Path = WEB_DIR,
        run: Callable[[list[str], Path], None] = run_command,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.deployer = deployer
        self.stage = deployer.stage
        self.s3 = deployer.s3
        self.cloudfront = cloudfront or boto3.client("cloudfront", region_name=deployer.region)
        self.web = web
        self.run = run
        self.environ = os.environ if environ is None else environ
        self.say = deployer.say

    # -- the stacks --------------------------------------------------------------------------------

    def read_stage(self) -> StageOutputs:
        missing = [service for service in SERVICES if self.deployer.describe(service_stack(self.stage, service)) is None]
        if missing:
            raise DeployError(
                f"services not deployed on stage {self.stage}: {', '.join(missing)} (the storefront forwards /api/<service> "
                f"to each): make deploy-all STAGE={self.stage}"
            )
        platform = self.deployer.outputs(platform_stack(self.stage))
        vod = self.deployer.outputs(service_stack(self.stage, "vod"))
        return stage_outputs(platform, vod)

    def storefront_parameters(self) -> dict[str, str | None]:
        aliases = self.environ.get(ALIASES_VARIABLE) or None
        certificate = self.environ.get(CERTIFICATE_VARIABLE) or None
        if bool(aliases) != bool(certificate):
            raise DeployError(
                f"set both {ALIASES_VARIABLE} and {CERTIFICATE_VARIABLE} (an ACM certificate in us-east-1), or neither"
            )
        return {ALIASES_PARAMETER: aliases, CERTIFICATE_PARAMETER: certificate}

    def storefront_stack(self, *, execute: bool) -> Outcome:
        return self.deployer.deploy_stack(
            stack_name(self.stage), storefront_template(self.stage), execute=execute, parameters=self.storefront_parameters()
        )

    def point_sign_in_at(self, url: str) -> Outcome:
        """The platform's StorefrontUrl set to `url`, on the platform's current template: whatever else
        changed in the platform's template since is `make deploy-platform`'s to roll out."""
        stack = platform_stack(self.stage)
        described = self.deployer.describe(stack)
        if described is None:
            raise DeployError(f"{stack} does not exist: make deploy-platform STAGE={self.stage}")
        current = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
        if STOREFRONT_URL_PARAMETER not in current:
            raise DeployError(
                f"{stack} predates the {STOREFRONT_URL_PARAMETER} parameter: make deploy-platform STAGE={self.stage}"
            )
        if current[STOREFRONT_URL_PARAMETER] == url:
            return Outcome(stack, "unchanged")
        body = self.deployer.cfn.get_template(StackName=stack, TemplateStage="Original")["TemplateBody"]
        template = json.loads(body) if isinstance(body, str) else dict(body)
        given: dict[str, str | None] = dict.fromkeys(current, None) | {STOREFRONT_URL_PARAMETER: url}
        return self.deployer.deploy_stack(stack, template, parameters=given)

    # -- the files ---------------------------------------------------------------------------------

    def upload(self, bucket: str, uploads: Iterable[Upload]) -> list[str]:
        """Puts each upload; a hashed file already in the bucket is the same bytes and is skipped."""
        present = {
            item["Key"]
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=HASHED_PREFIX)
            for item in page.get("Contents", [])
        }
        sent = []
        for upload in uploads:
            if upload.key.startswith(HASHED_PREFIX) and upload.key in present:
                continue
            self.s3.put_object(
                Bucket=bucket,
                Key=upload.key,
                Body=upload.body,
                ContentType=upload.content_type,
                CacheControl=upload.cache_control,
            )
            sent.append(upload.key)
        return sent

    def invalidate(self, distribution_id: str) -> str:
        answer = self.cloudfront.create_invalidation(
            DistributionId=distribution_id,
            InvalidationBatch={
                "Paths": {"Quantity": len(INVALIDATED_PATHS), "Items": list(INVALIDATED_PATHS)},
                "CallerReference": f"deploy-web-{time.time_ns()}",
            },
        )
        return str(answer["Invalidation"]["Id"])

    def empty(self, bucket: str) -> int:
        """Deletes every file of the bucket (CloudFormation cannot delete a bucket that holds any)."""
        deleted = 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self.s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
        return deleted

    # -- the commands ------------------------------------------------------------------------------

    def destroy(self) -> None:
        """The storefront's stack and its files. The platform keeps the app client's storefront URLs until
        the next deploy-web names another (a distribution's domain is never handed to anyone else)."""
        stack = stack_name(self.stage)
        if self.deployer.describe(stack) is None:
            self.say(f"{stack}: not deployed")
            return
        bucket = self.deployer.outputs(stack).get(BUCKET_OUTPUT)
        if bucket:
            self.say(f"{bucket}: {self.empty(bucket)} file(s) deleted")
        self.deployer.cfn.delete_stack(StackName=stack)
        # A distribution takes minutes to disable and delete.
        waiter = self.deployer.cfn.get_waiter("stack_delete_complete")
        waiter.wait(StackName=stack, WaiterConfig={"Delay": 15, "MaxAttempts": 240})
        self.say(f"{stack}: deleted (the distribution, its functions and headers policy, the bucket)")

    def deploy(self, *, execute: bool = True, build_web: bool = True) -> Outcome:
        config = page_config(self.read_stage())
        dist = build(self.web, self.run) if build_web else self.web / "dist"
        plan = upload_plan(dist, config)
        outcome = self.storefront_stack(execute=execute)
        self.deployer.report(outcome)
        if not execute:
            return outcome
        outputs = self.deployer.outputs(outcome.stack)
        sign_in = self.point_sign_in_at(outputs[URL_OUTPUT])
        self.say(f"{sign_in.stack}: sign-in callbacks for {outputs[URL_OUTPUT]}: {sign_in.status}")
        sent = self.upload(outputs[BUCKET_OUTPUT], plan)
        self.say(f"{outputs[BUCKET_OUTPUT]}: {len(sent)} file(s) uploaded, {len(plan) - len(sent)} unchanged asset(s) kept")
        invalidation = self.invalidate(outputs[DISTRIBUTION_OUTPUT])
        self.say(f"{outputs[DISTRIBUTION_OUTPUT]}: invalidation {invalidation} of {' '.join(INVALIDATED_PATHS)}")
        self.say(f"the storefront: {outputs[URL_OUTPUT]}/  the staff console: {outputs[URL_OUTPUT]}/console/")
        return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--no-execute", action="store_true", help="create and print the storefront's change set, upload nothing")
    parser.add_argument("--skip-build", action="store_true", help="upload web/dist as it is")
    parser.add_argument("--destroy", action="store_true", help="empty the bucket and delete the storefront's stack")
    args = parser.parse_args(argv)
    try:
        web = WebDeployer(Deployer(args.stage))
        if args.destroy:
            web.destroy()
        else:
            web.deploy(execute=not args.no_execute, build_web=not args.skip_build)
    except DeployError as error:
        print(f"deploy-web: {error}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as error:
        print(f"deploy-web: AWS refused: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
