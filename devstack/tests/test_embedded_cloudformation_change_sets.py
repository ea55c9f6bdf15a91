"""moto applies an executed change set without recomputing the stack's Outputs and Exports; the
embedded AWS fixes that (moto_server.keep_change_set_outputs), because deploy/stacks.py deploys
through change sets and reads the artifacts bucket's name from the platform stack's outputs."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3

from shop_devstack.testing import embedded_aws

TEMPLATE = {
    "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
    "Outputs": {"QueueUrl": {"Value": {"Ref": "Queue"}, "Export": {"Name": "EXPORT"}}},
}


def execute(cfn: Any, stack: str, kind: str, template: dict[str, object]) -> None:
    change_set = cfn.create_change_set(
        StackName=stack, ChangeSetName=f"c{uuid.uuid4().hex[:8]}", ChangeSetType=kind, TemplateBody=json.dumps(template)
    )["Id"]
    cfn.execute_change_set(ChangeSetName=change_set)


def test_a_stack_made_by_a_change_set_reports_its_outputs_and_can_be_deleted() -> None:
    with embedded_aws():
        cfn = boto3.client("cloudformation")
        stack, export = f"s{uuid.uuid4().hex[:8]}", f"e{uuid.uuid4().hex[:8]}"
        template = json.loads(json.dumps(TEMPLATE).replace("EXPORT", export))
        execute(cfn, stack, "CREATE", template)

        outputs = cfn.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
        assert [o["OutputKey"] for o in outputs] == ["QueueUrl"]
        assert outputs[0]["OutputValue"].startswith("http")
        assert export in [e["Name"] for e in cfn.list_exports()["Exports"]]

        template["Outputs"]["QueueArn"] = {"Value": {"Fn::GetAtt": ["Queue", "Arn"]}}
        execute(cfn, stack, "UPDATE", template)
        outputs = cfn.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
        assert sorted(o["OutputKey"] for o in outputs) == ["QueueArn", "QueueUrl"]

        cfn.delete_stack(StackName=stack)
        assert export not in [e["Name"] for e in cfn.list_exports()["Exports"]]
