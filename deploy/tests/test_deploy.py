"""deploy.py against the embedded AWS: moto's CloudFormation runs plain templates for real.

moto cannot expand the SAM transform, so a service's own stack is taken as far as its change set
(the `--no-execute` test, marked `packaging`); the topology's resources, the platform, the change-set
flow, the guards and teardown run for real here.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import package
import pytest
import stacks as deploy
from templates import TABLE_ID, platform_template, subscription_resources, table_resource

from shop_contracts import TOPOLOGY
from shop_devstack.testing import embedded_aws
from shop_eventing.topology import Naming
from shop_infra.resources import AWS_ONLY_RESOURCE_TYPES


@pytest.fixture(scope="module")
def aws() -> Iterator[str]:
    with embedded_aws() as endpoint:
        yield endpoint


def without_aws_only(template: dict[str, Any]) -> dict[str, Any]:
    """The platform template less the resources the model declares AWS-only (the Cognito user pool) and
    the outputs made from them: moto's CloudFormation does not implement Cognito's resource types."""
    resources = {k: r for k, r in template["Resources"].items() if r["Type"] not in AWS_ONLY_RESOURCE_TYPES}
    dropped = set(template["Resources"]) - set(resources)
    outputs = {k: o for k, o in template.get("Outputs", {}).items() if not dropped & set(_referenced(o["Value"]))}
    return {**template, "Resources": resources, "Outputs": outputs}


def _referenced(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["Ref"]] if "Ref" in node else []
        if "Fn::GetAtt" in node:
            found.append(node["Fn::GetAtt"][0])
        if "Fn::Sub" in node:
            found += [name for name in AWS_ONLY_IDS if f"${{{name}}}" in str(node["Fn::Sub"])]
        return found + [name for value in node.values() for name in _referenced(value)]
    if isinstance(node, list):
        return [name for value in node for name in _referenced(value)]
    return []


AWS_ONLY_IDS = [k for k, r in platform_template("x")["Resources"].items() if r["Type"] in AWS_ONLY_RESOURCE_TYPES]


@pytest.fixture(autouse=True)
def platform_for_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    real = deploy.platform_template
    monkeypatch.setattr(deploy, "platform_template", lambda stage: without_aws_only(real(stage)))


def test_only_the_aws_only_resources_and_their_outputs_are_left_out_for_moto() -> None:
    real = platform_template("x")
    kept = without_aws_only(real)
    assert sorted(set(real["Resources"]) - set(kept["Resources"])) == sorted(AWS_ONLY_IDS)
    assert AWS_ONLY_IDS  # the user pool, its client, domain, resource server and groups
    assert sorted(set(real["Outputs"]) - set(kept["Outputs"])) == ["Issuer", "UserPoolArn", "UserPoolClientId"]


@pytest.fixture
def stage(aws: str) -> str:
    """A stage of its own per test: moto keeps every stack for the whole process."""
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture
def said() -> list[str]:
    return []


@pytest.fixture
def deployer(stage: str, said: list[str], tmp_path: Path) -> deploy.Deployer:
    return deploy.Deployer(stage, out=tmp_path, say=said.append)


def resources_template(service: str, stage: str) -> dict[str, Any]:
    """The service's topology resources alone: what the merge template adds to Chalice's functions."""
    spec, naming = TOPOLOGY.service(service), Naming(stage)
    resources = {TABLE_ID: table_resource(spec, naming)}
    for subscription in spec.subscriptions:
        resources.update(subscription_resources(spec, subscription, naming))
    return {"Resources": resources}


def test_platform_creates_bus_archive_and_bucket_once(deployer: deploy.Deployer, stage: str) -> None:
    first = deployer.platform()
    second = deployer.platform()

    assert first.status == "created"
    assert {c.logical_id for c in first.changes} == {"EventBus", "EventArchive", "ArtifactsBucket"}
    assert second.status == "unchanged" and second.changes == []
    naming = Naming(stage)
    assert boto3.client("events").describe_event_bus(Name=naming.bus)["Name"] == naming.bus
    assert boto3.client("events").describe_archive(ArchiveName=naming.archive)["State"] == "ENABLED"
    boto3.client("s3").head_bucket(Bucket=first.outputs["ArtifactsBucketName"])


def test_the_platform_keeps_the_storefronts_url_unless_another_is_given(
    deployer: deploy.Deployer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto's stack keeps no resource that reads StorefrontUrl (the app client is AWS-only), so what is
    checked is what the deploy asks CloudFormation for: a given URL, else the stack's previous value."""
    given: list[Any] = []
    monkeypatch.setattr(deployer, "deploy_stack", lambda stack, template, **kwargs: given.append(kwargs["parameters"]))
    monkeypatch.setenv("SHOP_WEB_URL", "https://shop.example.com")
    deployer.platform()
    monkeypatch.delenv("SHOP_WEB_URL")
    deployer.platform()

    assert given == [{"StorefrontUrl": "https://shop.example.com"}, {"StorefrontUrl": None}]
    existing = {"Parameters": [{"ParameterKey": "StorefrontUrl", "ParameterValue": "https://shop.example.com"}]}
    assert deploy.stack_parameters(existing, given[1]) == [{"ParameterKey": "StorefrontUrl", "UsePreviousValue": True}]


def test_a_services_topology_resources_deploy_through_a_change_set(deployer: deploy.Deployer, stage: str) -> None:
    deployer.platform()
    outcome = deployer.deploy_stack(f"shop-{stage}-orders", resources_template("orders", stage))

    assert outcome.status == "created"
    naming, sqs = Naming(stage), boto3.client("sqs")
    table = boto3.client("dynamodb").describe_table(TableName=naming.table("orders"))["Table"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    for subscription in TOPOLOGY.service("orders").subscriptions:
        url = sqs.get_queue_url(QueueName=naming.queue("orders", subscription.name))["QueueUrl"]
        redrive = json.loads(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
        )
        assert redrive["deadLetterTargetArn"].endswith(naming.dlq("orders", subscription.name))
        for ref in subscription.events:
            rule = naming.rule("orders", subscription.name, ref.event_type)
            targets = boto3.client("events").list_targets_by_rule(Rule=rule, EventBusName=naming.bus)["Targets"]
            assert [t["Arn"].rsplit(":", 1)[-1] for t in targets] == [naming.queue("orders", subscription.name)]


def test_deploying_the_same_template_again_changes_nothing(deployer: deploy.Deployer, stage: str) -> None:
    deployer.platform()
    deployer.deploy_stack(f"shop-{stage}-notify", resources_template("notify", stage))

    again = deployer.deploy_stack(f"shop-{stage}-notify", resources_template("notify", stage))

    assert again.status == "unchanged"
    summaries = boto3.client("cloudformation").list_change_sets(StackName=f"shop-{stage}-notify")["Summaries"]
    assert [s["ExecutionStatus"] for s in summaries if s["StackName"] == f"shop-{stage}-notify"] == ["EXECUTE_COMPLETE"]


def test_no_execute_leaves_a_change_set_to_review_and_creates_nothing(deployer: deploy.Deployer, stage: str) -> None:
    outcome = deployer.platform(execute=False)

    assert outcome.status == "change set ready (not executed)"
    assert outcome.change_set
    described = boto3.client("cloudformation").describe_change_set(ChangeSetName=outcome.change_set)
    assert described["Status"] == "CREATE_COMPLETE" and described["ExecutionStatus"] == "AVAILABLE"
    with pytest.raises(boto3.client("events").exceptions.ResourceNotFoundException):
        boto3.client("events").describe_event_bus(Name=Naming(stage).bus)


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        (deploy.Change("Modify", TABLE_ID, "AWS::DynamoDB::Table", "True"), True),
        (deploy.Change("Modify", TABLE_ID, "AWS::DynamoDB::Table", "Conditional"), True),
        (deploy.Change("Remove", TABLE_ID, "AWS::DynamoDB::Table"), True),
        (deploy.Change("Modify", TABLE_ID, "AWS::DynamoDB::Table", "False"), False),
        (deploy.Change("Add", TABLE_ID, "AWS::DynamoDB::Table"), False),
        (deploy.Change("Modify", "OrderHistoryQueue", "AWS::SQS::Queue", "True"), False),
    ],
)
def test_changes_that_would_lose_the_table_are_refused(change: deploy.Change, refused: bool) -> None:
    assert bool(deploy.table_refusals([change])) is refused


def test_a_refused_change_set_changes_nothing(deployer: deploy.Deployer, stage: str) -> None:
    with pytest.raises(deploy.DeployError, match="refused, nothing changed"):
        deployer.deploy_stack(f"shop-{stage}-notify", resources_template("notify", stage), refuse=lambda changes: ["no"])

    assert deployer.describe(f"shop-{stage}-notify") is None
    with pytest.raises(boto3.client("sqs").exceptions.QueueDoesNotExist):
        boto3.client("sqs").get_queue_url(QueueName=Naming(stage).queue("notify", "order-emails"))


def test_the_code_of_every_function_points_at_the_uploaded_package() -> None:
    sam = {
        "Resources": {
            "ApiHandler": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "./deployment.zip"}},
            "Relay": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "./deployment.zip"}},
            "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
        }
    }

    pointed = deploy.point_code_at(sam, "s3://bucket/packages/orders/abc.zip")

    assert [r["Properties"].get("CodeUri") for r in pointed["Resources"].values()] == [
        "s3://bucket/packages/orders/abc.zip",
        "s3://bucket/packages/orders/abc.zip",
        None,
    ]
    assert sam["Resources"]["ApiHandler"]["Properties"]["CodeUri"] == "./deployment.zip"


def test_a_code_uri_the_script_did_not_build_is_refused() -> None:
    sam = {"Resources": {"F": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "./other.zip"}}}}

    with pytest.raises(deploy.DeployError, match=r"other\.zip"):
        deploy.point_code_at(sam, "s3://bucket/key.zip")


def test_an_artifact_is_uploaded_once_under_its_hash(deployer: deploy.Deployer) -> None:
    bucket = deployer.platform().outputs["ArtifactsBucketName"]

    first = deployer.upload(bucket, "packages/orders", b"zip bytes", suffix=".zip")
    second = deployer.upload(bucket, "packages/orders", b"zip bytes", suffix=".zip")
    other = deployer.upload(bucket, "packages/orders", b"other bytes", suffix=".zip")

    assert first == second != other
    listed = boto3.client("s3").list_object_versions(Bucket=bucket, Prefix="packages/orders/")["Versions"]
    assert sorted(v["Key"] for v in listed) == sorted([first, other])


def test_destroy_refuses_while_a_dlq_holds_events_and_keeps_the_table(
    deployer: deploy.Deployer, stage: str, said: list[str]
) -> None:
    deployer.platform()
    deployer.deploy_stack(f"shop-{stage}-notify", resources_template("notify", stage))
    naming, sqs = Naming(stage), boto3.client("sqs")
    dlq = sqs.get_queue_url(QueueName=naming.dlq("notify", "order-emails"))["QueueUrl"]
    sqs.send_message(QueueUrl=dlq, MessageBody="{}")

    with pytest.raises(deploy.DeployError, match="dead-letter queues still hold events"):
        deployer.destroy("notify")
    assert deployer.describe(f"shop-{stage}-notify") is not None

    deployer.destroy("notify", force=True)
    assert deployer.describe(f"shop-{stage}-notify") is None
    assert boto3.client("dynamodb").describe_table(TableName=naming.table("notify"))["Table"]["TableName"]
    assert any("retained" in line for line in said)


def test_the_platform_outlives_its_services_only(deployer: deploy.Deployer, stage: str) -> None:
    deployer.platform()
    deployer.deploy_stack(f"shop-{stage}-vod", resources_template("vod", stage))

    with pytest.raises(deploy.DeployError, match="stacks still deployed"):
        deployer.destroy_platform()
    deployer.destroy("vod", delete_table=True)
    deployer.upload(deployer.outputs(f"shop-{stage}-platform")["ArtifactsBucketName"], "packages/vod", b"x", suffix=".zip")
    deployer.destroy_platform()

    assert [status for _, status in deployer.status()] == ["not deployed"] * 7
    with pytest.raises(boto3.client("events").exceptions.ResourceNotFoundException):
        boto3.client("events").describe_event_bus(Name=Naming(stage).bus)


def test_no_region_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))

    with pytest.raises(deploy.DeployError, match="no AWS region"):
        deploy.Deployer("dev", session=boto3.Session())


@pytest.mark.packaging
def test_make_deploy_packages_uploads_and_prepares_the_services_change_set(aws: str) -> None:
    """`make deploy` end to end, stopped before execution: moto cannot expand the SAM transform."""
    out = package.ROOT / "build" / "package-test"
    # The stage's platform as moto's CloudFormation can run it (without the Cognito user pool), made
    # here so that `make deploy`, in its own process, finds it instead of creating the whole one.
    deploy.Deployer("dev", out=out, say=lambda _: None).platform()
    proc = subprocess.run(
        ["make", "--no-print-directory", "deploy", "SERVICE=notify", "STAGE=dev", f"DEPLOY_FLAGS=--no-execute --out {out}"],
        cwd=package.ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "shop-dev-notify: change set ready (not executed)" in proc.stdout
    cfn = boto3.client("cloudformation")
    stack = "shop-dev-notify"
    change_set = next(s["ChangeSetId"] for s in cfn.list_change_sets(StackName=stack)["Summaries"] if s["StackName"] == stack)
    changes = cfn.describe_change_set(ChangeSetName=change_set)["Changes"]
    template = json.loads((out / "notify" / "submitted-template.json").read_text())
    assert {c["ResourceChange"]["LogicalResourceId"] for c in changes} == set(template["Resources"])
    functions = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    code_uris = {f["Properties"]["CodeUri"] for f in functions.values()}
    assert len(code_uris) == 1
    bucket, key = code_uris.pop().removeprefix("s3://").split("/", 1)
    uploaded = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    assert uploaded == (out / "notify" / "deployment.zip").read_bytes()
    sqs_events = [e for f in functions.values() for e in f["Properties"].get("Events", {}).values() if e["Type"] == "SQS"]
    assert sqs_events and all(e["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for e in sqs_events)
    assert {"ShopTable", "OrderEmailsQueue", "OrderEmailsDlq", "OrderEmailsPaymentCapturedRule"} <= set(template["Resources"])


def test_a_service_missing_a_setting_it_needs_on_aws_is_not_deployed() -> None:
    config = {"stages": {"prod": {"environment_variables": {"SHOP_STAGE": "prod"}}}}

    assert deploy.missing_settings("orders", "prod", config) == [
        "PAYMENT_GATEWAY_URL (the payment provider's endpoint the orders service charges through)",
        "STRIPE_SECRET_KEY_PARAMETER (the SSM SecureString holding the payment provider's secret key)",
    ]
    assert deploy.missing_settings("catalog", "prod", config) == []
    assert "stage 'qa'" in deploy.missing_settings("catalog", "qa", config)[0]
    config["environment_variables"] = {"PAYMENT_GATEWAY_URL": "https://pay.example", "STRIPE_SECRET_KEY_PARAMETER": "/k"}
    assert deploy.missing_settings("orders", "prod", config) == []


def test_every_committed_stage_has_the_settings_its_services_need() -> None:
    for service in package.SERVICES:
        config = json.loads((package.ROOT / "services" / service / ".chalice" / "config.json").read_text())
        for stage in config["stages"]:
            if stage != "local":  # the embedded stack's: its defaults are the right values
                assert deploy.missing_settings(service, stage, config) == [], (service, stage)


def test_deploy_all_deploys_every_service_once() -> None:
    makefile = (package.ROOT / "Makefile").read_text()
    order = next(line for line in makefile.splitlines() if line.startswith("DEPLOY_ORDER :=")).split(":=")[1].split()

    assert sorted(order) == sorted(package.SERVICES)
    assert order.index("catalog") < order.index("orders")  # an order's OrderPlaced needs catalog's rule
