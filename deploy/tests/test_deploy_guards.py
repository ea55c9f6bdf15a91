"""stacks.py's guards for states the embedded AWS never reaches: a stack still in progress, a change
set whose changes span several pages, a platform whose first creation failed (ROLLBACK_COMPLETE),
an SQS event source mapping without partial batch responses, and the CLI's exit code on a refusal.

moto finishes every operation at once and never fails one, so botocore's Stubber answers here: each
test lists the calls stacks.py must make, in order, and the Stubber fails the test on any other.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import stacks as deploy
from botocore.stub import ANY, Stubber
from templates import ARTIFACTS_BUCKET_OUTPUT, TABLE_ID

STACK = "shop-dev-orders"
PLATFORM = "shop-dev-platform"
CHANGE_SET = "arn:aws:cloudformation:eu-west-1:123456789012:changeSet/deploy-1/abc"
TEMPLATE = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}
NOW = datetime(2026, 11, 29, tzinfo=UTC)


def described(stack: str, status: str, outputs: dict[str, str] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"StackName": stack, "CreationTime": NOW, "StackStatus": status}
    if outputs:
        entry["Outputs"] = [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()]
    return {"Stacks": [entry]}


def resource_change(action: str, logical_id: str, resource_type: str, replacement: str | None = None) -> dict[str, Any]:
    change: dict[str, Any] = {"Action": action, "LogicalResourceId": logical_id, "ResourceType": resource_type}
    if replacement:
        change["Replacement"] = replacement
    return {"Type": "Resource", "ResourceChange": change}


class Stubbed:
    def __init__(self, deployer: deploy.Deployer) -> None:
        self.cfn = Stubber(deployer.cfn)
        self.lambda_ = Stubber(deployer.lambda_)

    def stack(self, stack: str, status: str, outputs: dict[str, str] | None = None) -> None:
        self.cfn.add_response("describe_stacks", described(stack, status, outputs), {"StackName": stack})

    def change_set_created(self, stack: str, kind: str) -> None:
        expected = {
            "StackName": stack,
            "ChangeSetName": ANY,
            "ChangeSetType": kind,
            "Capabilities": ANY,
            "Tags": ANY,
            "TemplateBody": ANY,
        }
        self.cfn.add_response("create_change_set", {"Id": CHANGE_SET, "StackId": f"{stack}-id"}, expected)
        # The waiter's poll: the change set is ready at once.
        self.cfn.add_response(
            "describe_change_set", {"ChangeSetId": CHANGE_SET, "Status": "CREATE_COMPLETE"}, {"ChangeSetName": CHANGE_SET}
        )

    def change_set_pages(self, *pages: list[dict[str, Any]]) -> None:
        for number, changes in enumerate(pages, start=1):
            page: dict[str, Any] = {"ChangeSetId": CHANGE_SET, "Status": "CREATE_COMPLETE", "Changes": changes}
            if number < len(pages):
                page["NextToken"] = f"page-{number + 1}"
            expected = {"ChangeSetName": CHANGE_SET} | ({"NextToken": f"page-{number}"} if number > 1 else {})
            self.cfn.add_response("describe_change_set", page, expected)

    def assert_every_call_made(self) -> None:
        self.cfn.assert_no_pending_responses()
        self.lambda_.assert_no_pending_responses()


@pytest.fixture
def said() -> list[str]:
    return []


@pytest.fixture
def deployer(said: list[str], tmp_path: Path) -> deploy.Deployer:
    session = boto3.Session(region_name="eu-west-1", aws_access_key_id="stub", aws_secret_access_key="stub")
    return deploy.Deployer("dev", session=session, out=tmp_path, say=said.append)


@pytest.fixture
def aws(deployer: deploy.Deployer) -> Iterator[Stubbed]:
    stubbed = Stubbed(deployer)
    with stubbed.cfn, stubbed.lambda_:
        yield stubbed


@pytest.mark.parametrize(
    "status",
    ["CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"],
)
def test_a_stack_still_in_progress_is_not_touched(deployer: deploy.Deployer, aws: Stubbed, status: str) -> None:
    aws.stack(STACK, status)  # and nothing after it: a change set would be an unexpected call

    with pytest.raises(deploy.DeployError, match=f"{STACK} is {status}: wait for it to finish"):
        deployer.deploy_stack(STACK, TEMPLATE)
    aws.assert_every_call_made()


def test_a_stack_left_in_review_by_an_unexecuted_first_change_set_is_created(deployer: deploy.Deployer, aws: Stubbed) -> None:
    """REVIEW_IN_PROGRESS is the one "in progress" that is not busy: a CREATE change set was never executed."""
    aws.stack(STACK, "REVIEW_IN_PROGRESS")
    aws.change_set_created(STACK, "CREATE")
    aws.change_set_pages([resource_change("Add", "AQueue", "AWS::SQS::Queue")])

    outcome = deployer.deploy_stack(STACK, TEMPLATE, execute=False)

    assert outcome.status == "change set ready (not executed)"
    aws.assert_every_call_made()


def test_a_platform_still_in_progress_stops_a_service_deploy(deployer: deploy.Deployer, aws: Stubbed) -> None:
    aws.stack(PLATFORM, "UPDATE_IN_PROGRESS", {ARTIFACTS_BUCKET_OUTPUT: "bucket"})

    with pytest.raises(deploy.DeployError, match=f"{PLATFORM} is UPDATE_IN_PROGRESS: fix the platform first"):
        deployer.ensure_platform()
    aws.assert_every_call_made()


def test_a_change_on_a_later_page_of_the_change_set_is_refused(deployer: deploy.Deployer, aws: Stubbed, said: list[str]) -> None:
    aws.stack(STACK, "UPDATE_COMPLETE")
    aws.change_set_created(STACK, "UPDATE")
    aws.change_set_pages(
        [resource_change("Modify", "OrderEmailsQueue", "AWS::SQS::Queue", "False")],
        [resource_change("Remove", TABLE_ID, "AWS::DynamoDB::Table")],
    )
    aws.cfn.add_response("delete_change_set", {}, {"ChangeSetName": CHANGE_SET})

    with pytest.raises(deploy.DeployError, match=f"refused, nothing changed:\n  Remove  {TABLE_ID}"):
        deployer.deploy_stack(STACK, TEMPLATE, refuse=deploy.table_refusals)
    aws.assert_every_call_made()


def test_every_page_of_the_change_set_is_printed_and_returned(deployer: deploy.Deployer, aws: Stubbed, said: list[str]) -> None:
    aws.stack(STACK, "UPDATE_COMPLETE")
    aws.change_set_created(STACK, "UPDATE")
    aws.change_set_pages(
        [resource_change("Add", "AQueue", "AWS::SQS::Queue")],
        [resource_change("Add", "BQueue", "AWS::SQS::Queue")],
        [resource_change("Modify", "CFunction", "AWS::Serverless::Function", "False")],
    )

    outcome = deployer.deploy_stack(STACK, TEMPLATE, execute=False)

    assert [change.logical_id for change in outcome.changes] == ["AQueue", "BQueue", "CFunction"]
    assert [line.split()[1] for line in said] == ["AQueue", "BQueue", "CFunction"]
    assert outcome.status == "change set ready (not executed)"
    aws.assert_every_call_made()


def test_a_platform_whose_creation_failed_is_deleted_and_created_again(
    deployer: deploy.Deployer, aws: Stubbed, said: list[str]
) -> None:
    aws.stack(PLATFORM, "ROLLBACK_COMPLETE")  # ensure_platform's look
    aws.stack(PLATFORM, "ROLLBACK_COMPLETE")  # deploy_stack's look
    aws.cfn.add_response("delete_stack", {}, {"StackName": PLATFORM})
    aws.cfn.add_client_error(  # the delete waiter's poll: the stack is gone
        "describe_stacks",
        service_error_code="ValidationError",
        service_message=f"Stack with id {PLATFORM} does not exist",
        expected_params={"StackName": PLATFORM},
    )
    aws.change_set_created(PLATFORM, "CREATE")  # a CREATE change set: an UPDATE of the failed stack cannot run
    aws.change_set_pages([resource_change("Add", "EventBus", "AWS::Events::EventBus")])
    aws.cfn.add_response("execute_change_set", {}, {"ChangeSetName": CHANGE_SET})
    aws.stack(PLATFORM, "CREATE_COMPLETE")  # the create waiter's poll
    aws.stack(PLATFORM, "CREATE_COMPLETE", {ARTIFACTS_BUCKET_OUTPUT: "shop-dev-artifacts"})  # the outcome's outputs
    aws.stack(PLATFORM, "CREATE_COMPLETE", {ARTIFACTS_BUCKET_OUTPUT: "shop-dev-artifacts"})  # ensure_platform's outputs

    outputs = deployer.ensure_platform()

    assert outputs == {ARTIFACTS_BUCKET_OUTPUT: "shop-dev-artifacts"}
    assert any("ROLLBACK_COMPLETE" in line and "deleting it" in line for line in said)
    assert f"{PLATFORM}: created, 1 change(s)" in said
    aws.assert_every_call_made()


def mapping_uuid(resource_id: str) -> str:
    """The mapping's UUID (Lambda's identifier of an event source mapping, its physical id)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, resource_id))


def event_source_mapping(resource_id: str) -> dict[str, Any]:
    return {
        "LogicalResourceId": resource_id,
        "PhysicalResourceId": mapping_uuid(resource_id),
        "ResourceType": "AWS::Lambda::EventSourceMapping",
        "LastUpdatedTimestamp": NOW,
        "ResourceStatus": "CREATE_COMPLETE",
    }


def test_an_sqs_event_source_without_partial_batch_responses_fails_the_deploy(deployer: deploy.Deployer, aws: Stubbed) -> None:
    queue = "arn:aws:sqs:eu-west-1:123456789012:shop-dev-orders-charge-payment"
    without = "arn:aws:sqs:eu-west-1:123456789012:shop-dev-orders-order-history"
    stream = "arn:aws:dynamodb:eu-west-1:123456789012:table/shop-dev-orders/stream/2026"
    summaries = [event_source_mapping(name) for name in ("Charge", "History", "Relay")]
    summaries.append({**event_source_mapping("Table"), "ResourceType": "AWS::DynamoDB::Table"})
    aws.cfn.add_response("list_stack_resources", {"StackResourceSummaries": summaries}, {"StackName": STACK})
    for resource_id, arn, response_types in (
        ("Charge", queue, ["ReportBatchItemFailures"]),
        ("History", without, None),
        ("Relay", stream, None),  # a DynamoDB stream source: partial batch responses are not asked of it
    ):
        mapping: dict[str, Any] = {"UUID": mapping_uuid(resource_id), "EventSourceArn": arn}
        if response_types is not None:
            mapping["FunctionResponseTypes"] = response_types
        aws.lambda_.add_response("get_event_source_mapping", mapping, {"UUID": mapping_uuid(resource_id)})

    with pytest.raises(deploy.DeployError) as refused:
        deployer.check_partial_batch_responses(STACK)

    assert str(refused.value) == f"{STACK}: SQS event sources without ReportBatchItemFailures: {[without]}"
    aws.assert_every_call_made()


def test_event_sources_that_report_batch_item_failures_pass(deployer: deploy.Deployer, aws: Stubbed) -> None:
    queue = "arn:aws:sqs:eu-west-1:123456789012:shop-dev-orders-charge-payment"
    aws.cfn.add_response(
        "list_stack_resources", {"StackResourceSummaries": [event_source_mapping("Charge")]}, {"StackName": STACK}
    )
    aws.lambda_.add_response(
        "get_event_source_mapping",
        {"UUID": mapping_uuid("Charge"), "EventSourceArn": queue, "FunctionResponseTypes": ["ReportBatchItemFailures"]},
        {"UUID": mapping_uuid("Charge")},
    )

    deployer.check_partial_batch_responses(STACK)

    aws.assert_every_call_made()


@pytest.fixture
def no_region(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))


@pytest.mark.usefixtures("no_region")
def test_the_cli_exits_non_zero_with_the_reason_when_a_deploy_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy.main(["status", "--stage", "dev"]) == 1
    assert capsys.readouterr().err.startswith("deploy: no AWS region")


@pytest.mark.usefixtures("no_region")
def test_the_script_exits_non_zero_when_a_deploy_is_refused() -> None:
    """The same through the command line `make deploy` runs: its exit status is what CI and make see."""
    proc = subprocess.run(
        [sys.executable, deploy.__file__, "platform", "--stage", "dev"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=dict(os.environ),
    )

    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.startswith("deploy: no AWS region"), proc.stderr


def test_the_alarm_email_is_set_when_given_and_kept_when_not() -> None:
    """An update without the parameter would reset it to its default (none), unsubscribing on-call."""
    with_email = {"Parameters": [{"ParameterKey": "AlarmEmail", "ParameterValue": "oncall@example.com"}]}

    assert deploy.stack_parameters(None, {"AlarmEmail": "a@example.com"}) == [
        {"ParameterKey": "AlarmEmail", "ParameterValue": "a@example.com"}
    ]
    assert deploy.stack_parameters(with_email, {"AlarmEmail": None}) == [{"ParameterKey": "AlarmEmail", "UsePreviousValue": True}]
    assert deploy.stack_parameters(with_email, {"AlarmEmail": "b@example.com"}) == [
        {"ParameterKey": "AlarmEmail", "ParameterValue": "b@example.com"}
    ]
    # A new stack, or one from before the parameter existed: its default.
    assert deploy.stack_parameters(None, {"AlarmEmail": None}) == []
    assert deploy.stack_parameters({"Parameters": []}, {"AlarmEmail": ""}) == []
