"""Deploy one service, or the shared platform, to the AWS account in the environment.

    .venv/bin/python deploy/stacks.py platform --stage dev
    .venv/bin/python deploy/stacks.py service orders --stage dev [--no-execute] [--allow-table-replacement]
    .venv/bin/python deploy/stacks.py status --stage dev
    .venv/bin/python deploy/stacks.py destroy orders --stage dev [--force] [--delete-table]
    .venv/bin/python deploy/stacks.py destroy-platform --stage dev

Credentials and region come from boto3's usual chain (AWS_PROFILE, AWS_REGION, SSO, ...);
AWS_ENDPOINT_URL points every client elsewhere (the tests use the embedded AWS).

One CloudFormation stack per service (`shop-<stage>-<service>`) and one for the platform
(`shop-<stage>-platform`: the bus, its archive and the artifacts bucket). A service deploy:
1. creates the platform stack if the stage has none (it never updates it: that is `platform`'s job);
2. packages the service exactly as CI does (deploy/package.py: `chalice package` with the merge
   template from the topology, cfn-lint, the bare-runtime import check) and stops if any check fails;
3. uploads deployment.zip to the artifacts bucket under its SHA-256 and points the template at it;
4. creates a change set, prints it, refuses one that would replace or remove the table (its data),
   and executes it unless --no-execute; a failure prints the reasons CloudFormation gave;
5. checks that every SQS event source mapping of the stack reports batch item failures.
Why CloudFormation and not `chalice deploy`: docs/decisions/0007-deploy-the-packaged-template.md.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, WaiterError

sys.path.insert(0, str(Path(__file__).resolve().parent))

import package
from policies import ROOT, SERVICES
from storefront import stack_name as storefront_stack
from templates import ALARM_EMAIL_PARAMETER, ARTIFACTS_BUCKET_OUTPUT, TABLE_ID, platform_template

from shop_contracts import TOPOLOGY
from shop_eventing.topology import Naming
from shop_infra.resources import STOREFRONT_URL_PARAMETER

# Above this size CloudFormation wants the template from S3 rather than inline.
TEMPLATE_BODY_LIMIT = 51_200
# The address `make deploy` subscribes to the service stack's alarm topic (docs/deploy.md).
ALARM_EMAIL_VARIABLE = "SHOP_ALARM_EMAIL"
# The storefront's origin, for a stage whose storefront has its own domain before its stack exists.
STOREFRONT_URL_VARIABLE = "SHOP_WEB_URL"
# Chalice's roles; vod's named MediaConvert role (its static policy names the role); the SAM transform.
SERVICE_CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND")
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
BUSY_SUFFIX = "_IN_PROGRESS"
CHALICE_CODE_URI = "./deployment.zip"
REQUIRED_SETTINGS = {
    "orders": {
        "PAYMENT_GATEWAY_URL": "the payment provider's endpoint the orders service charges through",
        "STRIPE_SECRET_KEY_PARAMETER": "the SSM SecureString holding the payment provider's secret key",
    },
    "notify": {
        "SHOP_MAIL_SENDER": "an address or domain verified in SES, the sender of every e-mail",
        "SHOP_CRM_URL": "the CRM's (kintone's) base URL, e.g. https://<subdomain>.cybozu.com",
        "SHOP_CRM_APP_ID": "the id of the CRM app that holds one record per order",
        "SHOP_CRM_API_TOKEN_PARAMETER": "the SSM SecureString parameter (/shop/<stage>/notify/...) holding the app's API token",
    },
}


class DeployError(Exception):
    """A deploy that stopped: the message says what CloudFormation (or a check) refused, and why."""


@dataclass(frozen=True)
class Change:
    action: str  # Add | Modify | Remove | Import | Dynamic
    logical_id: str
    resource_type: str
    replacement: str = ""  # True | False | Conditional, for Modify

    def __str__(self) -> str:
        replacing = f" (replacement: {self.replacement})" if self.replacement else ""
        return f"{self.action:<7} {self.logical_id} [{self.resource_type}]{replacing}"


@dataclass
class Outcome:
    stack: str
    status: str  # created | updated | unchanged | change set ready (not executed)
    changes: list[Change] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    change_set: str = ""


def platform_stack(stage: str) -> str:
    return f"shop-{stage}-platform"


def service_stack(stage: str, service: str) -> str:
    return f"shop-{stage}-{service}"


def table_refusals(changes: Sequence[Change]) -> list[str]:
    """Changes that would lose the service's data: its table removed, or replaced by an empty one.

    The table is retained by CloudFormation either way, but the new stack would not use it.
    """
    return [
        f"{change}: the table holds the service's state and its outbox"
        for change in changes
        if change.logical_id == TABLE_ID
        and (change.action == "Remove" or (change.action == "Modify" and change.replacement in ("True", "Conditional")))
    ]


def missing_settings(service: str, stage: str, config: dict[str, Any]) -> list[str]:
    """Settings `service` cannot work without on AWS, absent from its `.chalice/config.json` stage.

    The apps fall back to the embedded stack's values (a payment gateway on 127.0.0.1, an example
    sender), which would deploy cleanly and then fail on every order.
    """
    stage_config = config.get("stages", {}).get(stage)
    if stage_config is None:
        return [f"stage {stage!r} in services/{service}/.chalice/config.json (see docs/deploy.md, 'A new stage')"]
    variables = {**config.get("environment_variables", {}), **stage_config.get("environment_variables", {})}
    return [f"{name} ({why})" for name, why in REQUIRED_SETTINGS.get(service, {}).items() if not variables.get(name)]


def point_code_at(template: dict[str, Any], code_uri: str) -> dict[str, Any]:
    """The template with every function's code taken from `code_uri` (an s3:// URI)."""
    updated: dict[str, Any] = copy.deepcopy(template)
    functions = [r for r in updated["Resources"].values() if r.get("Type") == "AWS::Serverless::Function"]
    if not functions:
        raise DeployError("the template has no AWS::Serverless::Function: is this Chalice's sam.json?")
    for resource in functions:
        current = resource["Properties"].get("CodeUri")
        if current != CHALICE_CODE_URI:
            # Anything else would be a package this script does not upload.
            raise DeployError(f"unexpected CodeUri {current!r}: expected Chalice's {CHALICE_CODE_URI!r}")
        resource["Properties"]["CodeUri"] = code_uri
    return updated


def stack_parameters(existing: dict[str, Any] | None, given: Mapping[str, str | None]) -> list[dict[str, Any]]:
    """A parameter given a value gets it; one not given keeps the value the stack already has (an update
    without it would reset it to its default, and drop the alarm e-mail set by an earlier deploy); a
    new stack takes the defaults."""
    had = {parameter["ParameterKey"] for parameter in (existing or {}).get("Parameters", [])}
    chosen: list[dict[str, Any]] = []
    for key, value in given.items():
        if value:
            chosen.append({"ParameterKey": key, "ParameterValue": value})
        elif key in had:
            chosen.append({"ParameterKey": key, "UsePreviousValue": True})
    return chosen


def _change(item: dict[str, Any]) -> Change:
    change = item.get("ResourceChange", {})
    return Change(
        change.get("Action", "?"),
        change.get("LogicalResourceId", "?"),
        change.get("ResourceType", "?"),
        change.get("Replacement", ""),
    )


class Deployer:
    def __init__(
        self, stage: str, *, session: boto3.Session | None = None, out: Path | None = None, say: Callable[[str], None] = print
    ):
        # boto3 reads AWS_DEFAULT_REGION; AWS_REGION is what the AWS CLI v2 and the SDKs of other languages read.
        session = session or boto3.Session(region_name=os.environ.get("AWS_REGION") or None)
        if not session.region_name:
            raise DeployError("no AWS region: set AWS_REGION or AWS_DEFAULT_REGION, or use a profile with a region")
        self.stage = stage
        self.naming = Naming(stage)
        self.out = (out or ROOT / "build" / "deploy").resolve()
        self.say = say
        self.cfn = session.client("cloudformation")
        self.s3 = session.client("s3")
        self.sqs = session.client("sqs")
        self.dynamodb = session.client("dynamodb")
        self.lambda_ = session.client("lambda")
        self.region = session.region_name

    # -- stacks ---------------------------------------------------------------------------------

    def describe(self, stack: str) -> dict[str, Any] | None:
        try:
            return dict(self.cfn.describe_stacks(StackName=stack)["Stacks"][0])
        except ClientError as error:
            if "does not exist" in str(error):
                return None
            raise

    def outputs(self, stack: str) -> dict[str, str]:
        described = self.describe(stack) or {}
        return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}

    def deploy_stack(
        self,
        stack: str,
        template: dict[str, Any],
        *,
        capabilities: Sequence[str] = (),
        execute: bool = True,
        refuse: Callable[[Sequence[Change]], list[str]] = lambda changes: [],
        template_bucket: str | None = None,
        parameters: Mapping[str, str | None] | None = None,
    ) -> Outcome:
        """Create or update `stack` through a change set; return what changed. `parameters`: see
        `stack_parameters`."""
        existing = self.describe(stack)
        if (
            existing is not None
            and existing["StackStatus"].endswith(BUSY_SUFFIX)
            and existing["StackStatus"] != "REVIEW_IN_PROGRESS"
        ):
            raise DeployError(f"{stack} is {existing['StackStatus']}: wait for it to finish, then deploy again")
        if existing is not None and existing["StackStatus"] == "ROLLBACK_COMPLETE":
            # A stack whose creation failed can only be deleted; nothing in it ever worked.
            self.say(f"{stack}: its creation failed earlier (ROLLBACK_COMPLETE); deleting it before creating it again")
            self.cfn.delete_stack(StackName=stack)
            self._wait("stack_delete_complete", stack)
            existing = None
        creating = existing is None or existing["StackStatus"] == "REVIEW_IN_PROGRESS"
        name = f"deploy-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
        arguments: dict[str, Any] = {
            "StackName": stack,
            "ChangeSetName": name,
            "ChangeSetType": "CREATE" if creating else "UPDATE",
            "Capabilities": list(capabilities),
            "Tags": [{"Key": "shop:stage", "Value": self.stage}, {"Key": "shop:stack", "Value": stack}],
            **self._template_argument(stack, template, template_bucket),
        }
        given = stack_parameters(None if creating else existing, parameters or {})
        if given:
            arguments["Parameters"] = given
        try:
            change_set_arn = self.cfn.create_change_set(**arguments)["Id"]
        except ClientError as error:
            # CloudFormation says "no changes" in a FAILED change set; some endpoints (moto, for a stack with
            # parameters) refuse to create one instead.
            if not creating and any(marker in error.response["Error"]["Message"] for marker in NO_CHANGES):
                return Outcome(stack, "unchanged", outputs=self.outputs(stack))
            raise DeployError(f"{stack}: CloudFormation refused the template: {error.response['Error']['Message']}") from error
        pages = self._wait_for_change_set(change_set_arn)
        described = pages[0]
        changes = [_change(item) for page in pages for item in page.get("Changes", [])]
        if described["Status"] == "FAILED" or not changes:
            reason = described.get("StatusReason", "")
            if changes or (reason and not any(marker in reason for marker in NO_CHANGES)):
                raise DeployError(f"{stack}: change set failed: {reason}")
            self._discard(stack, change_set_arn, creating)
            return Outcome(stack, "unchanged", outputs=self.outputs(stack))
        for change in changes:
            self.say(f"  {change}")
        refusals = refuse(changes)
        if refusals:
            self._discard(stack, change_set_arn, creating)
            raise DeployError(f"{stack}: refused, nothing changed:\n  " + "\n  ".join(refusals))
        if not execute:
            return Outcome(stack, "change set ready (not executed)", changes, change_set=change_set_arn)
        started = time.time() - 5
        self.cfn.execute_change_set(ChangeSetName=change_set_arn)
        try:
            self._wait("stack_create_complete" if creating else "stack_update_complete", stack)
        except WaiterError as error:
            raise DeployError(f"{stack}: deploy failed and was rolled back:\n{self._failure_reasons(stack, started)}") from error
        return Outcome(stack, "created" if creating else "updated", changes, self.outputs(stack))

    def _discard(self, stack: str, change_set_arn: str, creating: bool) -> None:
        self.cfn.delete_change_set(ChangeSetName=change_set_arn)
        if creating:
            # A CREATE change set leaves an empty stack in REVIEW_IN_PROGRESS behind it.
            self.cfn.delete_stack(StackName=stack)

    def _template_argument(self, stack: str, template: dict[str, Any], bucket: str | None) -> dict[str, str]:
        body = json.dumps(template, indent=1, sort_keys=True)
        if len(body.encode()) <= TEMPLATE_BODY_LIMIT:
            return {"TemplateBody": body}
        if bucket is None:
            raise DeployError(
                f"{stack}: the template is {len(body)} bytes, over CloudFormation's inline limit, and no bucket was given"
            )
        key = self.upload(bucket, f"templates/{stack}", body.encode(), suffix=".json")
        return {"TemplateURL": f"https://{bucket}.s3.{self.region}.amazonaws.com/{key}"}

    def _wait_for_change_set(self, change_set_arn: str) -> list[dict[str, Any]]:
        """Every page of the change set's description: the first carries its Status and StatusReason;
        a large change set spreads its Changes over several pages."""
        # FAILED is an answer too (no changes, or a template error): the caller reads the reason.
        with contextlib.suppress(WaiterError):
            self.cfn.get_waiter("change_set_create_complete").wait(
                ChangeSetName=change_set_arn, WaiterConfig={"Delay": 2, "MaxAttempts": 300}
            )
        paginator = self.cfn.get_paginator("describe_change_set")
        return [dict(page) for page in paginator.paginate(ChangeSetName=change_set_arn)]

    def _wait(self, waiter: str, stack: str) -> None:
        self.cfn.get_waiter(waiter).wait(StackName=stack, WaiterConfig={"Delay": 5, "MaxAttempts": 720})

    def _failure_reasons(self, stack: str, since: float) -> str:
        reasons = []
        for page in self.cfn.get_paginator("describe_stack_events").paginate(StackName=stack):
            for event in page["StackEvents"]:
                if event["Timestamp"].timestamp() < since:
                    break
                if event["ResourceStatus"].endswith("_FAILED"):
                    reasons.append(
                        f"  {event['LogicalResourceId']} {event['ResourceStatus']}: {event.get('ResourceStatusReason', '')}"
                    )
        return "\n".join(reversed(reasons)) or "  (no failed resource events: see the stack's events in the console)"

    # -- artifacts -------------------------------------------------------------------------------

    def upload(self, bucket: str, prefix: str, content: bytes, *, suffix: str) -> str:
        """Put `content` under its SHA-256 (once: the same bytes are never uploaded twice); return the key."""
        key = f"{prefix}/{hashlib.sha256(content).hexdigest()}{suffix}"
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
                raise
            self.s3.put_object(Bucket=bucket, Key=key, Body=content)
        return key

    # -- the commands ----------------------------------------------------------------------------

    def platform(self, *, execute: bool = True) -> Outcome:
        # The storefront's origin is kept from the last deploy (`make deploy-web` sets it) unless given.
        parameters = {STOREFRONT_URL_PARAMETER: os.environ.get(STOREFRONT_URL_VARIABLE)}
        template = platform_template(self.stage)
        return self.deploy_stack(platform_stack(self.stage), template, execute=execute, parameters=parameters)

    def ensure_platform(self) -> dict[str, str]:
        stack = platform_stack(self.stage)
        described = self.describe(stack)
        if described is None or described["StackStatus"] in ("ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS"):
            self.say(f"{stack}: the stage has no platform yet; creating it (bus, archive, artifacts bucket)")
            self.report(self.platform())
        elif described["StackStatus"].endswith("_FAILED") or described["StackStatus"].endswith(BUSY_SUFFIX):
            raise DeployError(f"{stack} is {described['StackStatus']}: fix the platform first (stacks.py platform)")
        outputs = self.outputs(stack)
        if ARTIFACTS_BUCKET_OUTPUT not in outputs:
            raise DeployError(
                f"{stack} has no {ARTIFACTS_BUCKET_OUTPUT} output: update it with `stacks.py platform --stage {self.stage}`"
            )
        return outputs

    def service(
        self, service: str, *, execute: bool = True, allow_table_replacement: bool = False, import_check: bool = True
    ) -> Outcome:
        if service not in SERVICES:
            raise DeployError(f"unknown service {service!r}: one of {', '.join(SERVICES)}")
        config = json.loads((ROOT / "services" / service / ".chalice" / "config.json").read_text())
        missing = missing_settings(service, self.stage, config)
        if missing:
            raise DeployError(
                f"{service}: set in .chalice/config.json, stage {self.stage}, environment_variables: {'; '.join(missing)}"
            )
        bucket = self.ensure_platform()[ARTIFACTS_BUCKET_OUTPUT]
        self.out.mkdir(parents=True, exist_ok=True)
        self.say(f"{service}: packaging (chalice package + merge template, cfn-lint, import check)")
        wheels = package.build_wheels(self.out)
        python = package.lambda_venv(self.out) if import_check else None
        try:
            result = package.package_service(service, self.stage, self.out, wheels, python)
        except RuntimeError as error:
            raise DeployError(f"{service}: packaging failed: {error}") from error
        if not result.ok:
            raise DeployError(
                f"{service}: the package failed its checks, nothing deployed:\n"
                f"cfn-lint: {result.lint_output}\nimport: {result.import_output}\n"
                f"SQS sources without ReportBatchItemFailures: {result.sqs_sources_without_partial_batch}"
            )
        package_key = self.upload(
            bucket, f"packages/{service}", (self.out / service / "deployment.zip").read_bytes(), suffix=".zip"
        )
        self.say(f"{service}: package s3://{bucket}/{package_key}")
        template = point_code_at(json.loads((self.out / service / "sam.json").read_text()), f"s3://{bucket}/{package_key}")
        submitted = self.out / service / "submitted-template.json"
        submitted.write_text(json.dumps(template, indent=2) + "\n")
        self.say(f"{service}: template {submitted}")
        outcome = self.deploy_stack(
            service_stack(self.stage, service),
            template,
            capabilities=SERVICE_CAPABILITIES,
            execute=execute,
            refuse=(lambda changes: []) if allow_table_replacement else table_refusals,
            template_bucket=bucket,
            parameters={ALARM_EMAIL_PARAMETER: os.environ.get(ALARM_EMAIL_VARIABLE)},
        )
        if outcome.status in ("created", "updated", "unchanged"):
            self.check_partial_batch_responses(outcome.stack)
        return outcome

    def check_partial_batch_responses(self, stack: str) -> None:
        """Every SQS event source mapping the stack made must report batch item failures: the
        subscribers return the records they failed instead of raising, and without it Lambda ignores
        that answer and deletes the whole batch, failed records included (they would never be retried)."""
        without = []
        for page in self.cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
            for resource in page["StackResourceSummaries"]:
                if resource["ResourceType"] != "AWS::Lambda::EventSourceMapping":
                    continue
                mapping = self.lambda_.get_event_source_mapping(UUID=resource["PhysicalResourceId"])
                if ":sqs:" in mapping["EventSourceArn"] and "ReportBatchItemFailures" not in mapping.get(
                    "FunctionResponseTypes", []
                ):
                    without.append(mapping["EventSourceArn"])
        if without:
            raise DeployError(f"{stack}: SQS event sources without ReportBatchItemFailures: {without}")

    def status(self) -> list[tuple[str, str]]:
        """The platform's stack first, then every stack that needs it: the services', the storefront's."""
        stacks = [platform_stack(self.stage), *(service_stack(self.stage, s) for s in SERVICES), storefront_stack(self.stage)]
        return [(stack, (self.describe(stack) or {}).get("StackStatus", "not deployed")) for stack in stacks]

    def dlq_depths(self, service: str) -> dict[str, int]:
        depths = {}
        for subscription in TOPOLOGY.service(service).subscriptions:
            name = self.naming.dlq(service, subscription.name)
            try:
                url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
            except ClientError:
                continue
            attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
            depths[name] = int(attributes["ApproximateNumberOfMessages"])
        return depths

    def destroy(self, service: str, *, force: bool = False, delete_table: bool = False) -> None:
        stack = service_stack(self.stage, service)
        if self.describe(stack) is None:
            self.say(f"{stack}: not deployed")
        else:
            parked = {name: depth for name, depth in self.dlq_depths(service).items() if depth}
            if parked and not force:
                raise DeployError(
                    f"{stack}: refused: dead-letter queues still hold events {parked}; redrive or inspect them "
                    "first (docs/deploy.md, 'Teardown'), or pass --force to lose them"
                )
            self.cfn.delete_stack(StackName=stack)
            self._wait("stack_delete_complete", stack)
            self.say(f"{stack}: deleted (functions, API, queues, DLQs, rules)")
        table = self.naming.table(service)
        if delete_table:
            try:
                self.dynamodb.delete_table(TableName=table)
                self.say(f"{table}: deleted")
            except ClientError as error:
                if error.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
        else:
            self.say(f"{table}: retained with its data (DeletionPolicy Retain); --delete-table removes it")

    def destroy_platform(self) -> None:
        remaining = [stack for stack, status in self.status()[1:] if status != "not deployed"]
        if remaining:
            raise DeployError(f"refused: stacks still deployed on stage {self.stage}: {remaining}; destroy them first")
        stack = platform_stack(self.stage)
        bucket = self.outputs(stack).get(ARTIFACTS_BUCKET_OUTPUT)
        if bucket:
            # CloudFormation cannot delete a bucket that still holds objects.
            for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
                objects = [
                    {"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
                ]
                if objects:
                    self.s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
        self.cfn.delete_stack(StackName=stack)
        self._wait("stack_delete_complete", stack)
        self.say(f"{stack}: deleted (bus, archive with its events, artifacts bucket)")

    def report(self, outcome: Outcome) -> None:
        self.say(f"{outcome.stack}: {outcome.status}, {len(outcome.changes)} change(s)")
        if outcome.change_set:
            self.say(f"  review: aws cloudformation describe-change-set --change-set-name {outcome.change_set}")
            self.say(f"  apply:  aws cloudformation execute-change-set --change-set-name {outcome.change_set}")
        for key, value in sorted(outcome.outputs.items()):
            self.say(f"  {key} = {value}")


def main(argv: list[str] | None = None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--stage", required=True, help="e.g. dev, prod: part of every resource's name")
    common.add_argument("--out", type=Path, default=None, help="packaging folder (default build/deploy)")
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    platform = commands.add_parser(
        "platform", parents=[common], help="create or update the stage's bus, archive and artifacts bucket"
    )
    platform.add_argument("--no-execute", action="store_true", help="create and print the change set, do not apply it")
    service = commands.add_parser("service", parents=[common], help="package and deploy one service")
    service.add_argument("service", choices=SERVICES)
    service.add_argument("--no-execute", action="store_true", help="create and print the change set, do not apply it")
    service.add_argument("--allow-table-replacement", action="store_true", help="let a change replace or remove the table")
    service.add_argument(
        "--skip-import-check", action="store_true", help="skip the bare-runtime import check (not for production)"
    )
    commands.add_parser("status", parents=[common], help="each stack of the stage and its status")
    destroy = commands.add_parser("destroy", parents=[common], help="delete one service's stack (its table is kept)")
    destroy.add_argument("service", choices=SERVICES)
    destroy.add_argument("--force", action="store_true", help="even if its DLQs hold events")
    destroy.add_argument("--delete-table", action="store_true", help="also delete its table and every item in it")
    commands.add_parser("destroy-platform", parents=[common], help="delete the stage's bus, archive and artifacts bucket")
    args = parser.parse_args(argv)
    try:
        deployer = Deployer(args.stage, out=args.out)
        if args.command == "platform":
            deployer.report(deployer.platform(execute=not args.no_execute))
        elif args.command == "service":
            outcome = deployer.service(
                args.service,
                execute=not args.no_execute,
                allow_table_replacement=args.allow_table_replacement,
                import_check=not args.skip_import_check,
            )
            deployer.report(outcome)
        elif args.command == "status":
            for stack, status in deployer.status():
                print(f"{stack:<32} {status}")
        elif args.command == "destroy":
            deployer.destroy(args.service, force=args.force, delete_table=args.delete_table)
        else:
            deployer.destroy_platform()
    except DeployError as error:
        print(f"deploy: {error}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as error:  # no credentials, expired session, access denied, ...
        print(f"deploy: AWS refused: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
