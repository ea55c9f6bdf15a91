"""The drift test: what provision makes on the embedded AWS is what the CloudFormation for AWS declares.

The shop's real topology is provisioned (shop_infra.provision, as the embedded stack does) and read
back resource by resource (shop_infra.drift: describe_table, describe_time_to_live,
describe_continuous_backups, get_queue_attributes, describe_rule, list_targets_by_rule,
describe_archive…), then compared property by property with the platform template and every
service's merge template (deploy/templates.py), their Ref and Fn::GetAtt resolved to the live names
and ARNs. The planted-difference tests below show the comparison fails, naming resource and property.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from templates import merge_template, platform_template

from shop_contracts import TOPOLOGY
from shop_devstack.stack import EMBEDDED_OVERRIDES
from shop_devstack.testing import embedded_aws
from shop_eventing.topology import Naming
from shop_infra import provision as applier
from shop_infra.drift import Drift, drift
from shop_infra.provision import Clients, provision
from shop_infra.resources import NO_OVERRIDES, LocalOverrides, Resources

STAGES = itertools.count(1)
BUILD = Path(__file__).resolve().parents[2] / "build"


def chalice_like_sam(service: str, stage: str) -> dict[str, Any]:
    """What `chalice package` generates for a service, reduced to what merge_template reads: a
    function per subscription fed by its queue, and for a publisher the stream relay and the sweeper."""
    spec, naming = TOPOLOGY.service(service), Naming(stage)
    functions: dict[str, Any] = {}
    for subscription in spec.subscriptions:
        arn = f"arn:${{AWS::Partition}}:sqs:${{AWS::Region}}:${{AWS::AccountId}}:{naming.queue(service, subscription.name)}"
        events = {"Queue": {"Type": "SQS", "Properties": {"Queue": {"Fn::Sub": arn}, "BatchSize": subscription.batch_size}}}
        functions[f"Handle{subscription.name.title().replace('-', '')}"] = ("app.handle", events)
    if spec.publishes:
        stream = {"Type": "DynamoDB", "Properties": {"Stream": "placeholder"}}
        functions["RelayOutbox"] = ("app.relay_outbox", {"Stream": stream})
        functions["SweepOutbox"] = (
            "app.sweep_outbox",
            {"Every": {"Type": "Schedule", "Properties": {"Schedule": "rate(5 minutes)"}}},
        )
    return {
        "Resources": {
            logical_id: {"Type": "AWS::Serverless::Function", "Properties": {"Handler": handler, "Timeout": 60, "Events": events}}
            for logical_id, (handler, events) in functions.items()
        }
    }


def merged(base: Any, patch: Any) -> Any:
    """`chalice package --merge-template`'s deep merge: dicts key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(patch, dict):
        return {**base, **{key: merged(base.get(key), value) for key, value in patch.items()}}
    return copy.deepcopy(patch)


def aws_templates(stage: str) -> dict[str, Resources]:
    """The Resources of every template deployed to AWS for `stage`: the platform, then each service's
    Chalice template merged with its merge template, as deploy/package.py packages it."""
    stacks = {"platform": platform_template(stage)["Resources"]}
    for service in TOPOLOGY.services:
        sam = chalice_like_sam(service.name, stage)
        stacks[service.name] = merged(sam, merge_template(service.name, stage, sam))["Resources"]
    return stacks


@pytest.fixture(scope="module")
def aws() -> Iterator[Clients]:
    with embedded_aws():
        yield Clients()


def provisioned(overrides: LocalOverrides = NO_OVERRIDES) -> Naming:
    """The shop provisioned as a stage of its own (moto keeps every earlier test's resources)."""
    naming = Naming(stage=f"drift{next(STAGES)}")
    provision(TOPOLOGY, naming, overrides=overrides)
    return naming


def found(differences: list[Drift]) -> list[tuple[str, str, str, str]]:
    return [(d.stack, d.logical_id, d.name, d.property) for d in differences]


def test_what_provision_makes_is_what_the_aws_templates_declare(aws: Clients) -> None:
    naming = provisioned()

    differences = drift(aws_templates(naming.stage), aws, naming)

    assert differences == [], "\n".join(map(str, differences))


def test_the_comparison_covers_every_resource_of_the_model(aws: Clients) -> None:
    """Guards against a vacuous pass: every table, queue, rule and policy is read back."""
    stacks = aws_templates("count")
    kinds = [r["Type"] for resources in stacks.values() for r in resources.values()]

    assert kinds.count("AWS::Events::EventBus") == kinds.count("AWS::Events::Archive") == 1
    assert kinds.count("AWS::DynamoDB::Table") == 5
    subscriptions = list(TOPOLOGY.subscriptions())
    # vod's transcode job events and its live channels' events each add a queue, a DLQ, a rule (on the
    # default bus) and a policy of their own.
    assert kinds.count("AWS::SQS::Queue") == 2 * len(subscriptions) + 4
    assert kinds.count("AWS::Events::Rule") == sum(len(sub.events) for _, sub in subscriptions) + 2
    assert kinds.count("AWS::SQS::QueuePolicy") == len(subscriptions) + 2
    # notify's ledger, vod's media and fulfillment's carrier-list buckets are compared; the platform's
    # artifacts bucket exists on AWS alone.
    assert kinds.count("AWS::S3::Bucket") == 4


def test_the_embedded_stacks_override_is_its_only_difference_from_aws(aws: Clients) -> None:
    naming = provisioned(EMBEDDED_OVERRIDES)

    differences = drift(aws_templates(naming.stage), aws, naming)

    queues = [naming.queue(service.name, sub.name) for service, sub in TOPOLOGY.subscriptions()]
    # vod's own consumed queues (the transcoder's job events, the live channels' events)
    queues += [naming.queue("vod", "transcode-jobs"), naming.queue("vod", "live-events")]
    assert sorted(d.name for d in differences) == sorted(queues)
    assert {(d.property, d.declared, d.live) for d in differences} == {("VisibilityTimeout", 30, 3)}


# Planted differences: the drift test must fail on each, naming exactly the resource and property.


def test_an_applier_that_skips_point_in_time_recovery_is_caught(aws: Clients, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(applier._Applier, "_point_in_time_recovery", lambda self, props: None)
    naming = provisioned()

    differences = drift(aws_templates(naming.stage), aws, naming)

    assert found(differences) == [
        (service.name, "ShopTable", naming.table(service.name), "PointInTimeRecoverySpecification")
        for service in TOPOLOGY.services
    ]
    assert {(json.dumps(d.declared), json.dumps(d.live)) for d in differences} == {
        ('{"PointInTimeRecoveryEnabled": true}', '{"PointInTimeRecoveryEnabled": false}')
    }


def test_a_changed_template_property_is_caught(aws: Clients) -> None:
    naming = provisioned()
    stacks = aws_templates(naming.stage)
    # The Sid the old provisioner used, before both sides came from one model.
    policy = copy.deepcopy(stacks["orders"]["ChargePaymentQueuePolicy"])
    policy["Properties"]["PolicyDocument"]["Statement"][0]["Sid"] = "OnlyThisSubscriptionsRules"
    stacks["orders"]["ChargePaymentQueuePolicy"] = policy

    differences = drift(stacks, aws, naming)

    queue = naming.queue("orders", "charge-payment")
    assert found(differences) == [("orders", "ChargePaymentQueuePolicy", f"policy of {queue}", "PolicyDocument")]
    assert differences[0].declared["Statement"][0]["Sid"] == "OnlyThisSubscriptionsRules"
    assert differences[0].live["Statement"][0]["Sid"] == "FromItsRulesOnly"


def test_live_changes_behind_the_model_are_caught(aws: Clients) -> None:
    naming = provisioned()
    rule = naming.rule("notify", "order-emails", "PaymentFailed")
    rogue_arn = aws.sqs.get_queue_attributes(
        QueueUrl=aws.sqs.create_queue(QueueName=f"{naming.bus}-rogue")["QueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    aws.events.put_targets(Rule=rule, EventBusName=naming.bus, Targets=[{"Id": "rogue", "Arn": rogue_arn}])
    ttl_off = {"Enabled": False, "AttributeName": "expires_at"}
    aws.dynamodb.update_time_to_live(TableName=naming.table("vod"), TimeToLiveSpecification=ttl_off)

    differences = drift(aws_templates(naming.stage), aws, naming)

    assert found(differences) == [
        ("vod", "ShopTable", naming.table("vod"), "TimeToLiveSpecification"),
        ("notify", "OrderEmailsPaymentFailedRule", rule, "Targets"),
        ("(none)", "(undeclared)", f"{naming.bus}-rogue", "(resource)"),
    ]


def test_a_carrier_list_bucket_opened_or_unencrypted_behind_the_model_is_caught(aws: Clients) -> None:
    naming = provisioned()
    bucket = naming.bucket("fulfillment", "carrier-lists")
    aws.s3.delete_public_access_block(Bucket=bucket)
    aws.s3.delete_bucket_encryption(Bucket=bucket)

    differences = drift(aws_templates(naming.stage), aws, naming)

    assert found(differences) == [
        ("fulfillment", "CarrierListsBucket", bucket, "BucketEncryption"),
        ("fulfillment", "CarrierListsBucket", bucket, "PublicAccessBlockConfiguration"),
    ]
    assert provision(TOPOLOGY, naming).changes == [
        f"set encryption on bucket {bucket}",
        f"blocked public access to bucket {bucket}",
    ]
    assert drift(aws_templates(naming.stage), aws, naming) == []


@pytest.mark.packaging
@pytest.mark.parametrize("service", [s.name for s in TOPOLOGY.services])
def test_what_provision_makes_is_what_the_packaged_template_declares(aws: Clients, service: str) -> None:
    """The same comparison against `make package`'s real output (build/<service>/sam.json, stage dev)."""
    sam_path = BUILD / service / "sam.json"
    if not sam_path.exists():
        pytest.fail(f"{sam_path} is missing: run `make package` (it runs these tests after packaging)")
    naming = Naming(stage="dev")
    provision(TOPOLOGY, naming)
    stacks = {"platform": platform_template("dev")["Resources"], service: json.loads(sam_path.read_text())["Resources"]}

    differences = [d for d in drift(stacks, aws, naming) if d.stack != "(none)"]

    assert differences == [], "\n".join(map(str, differences))


@pytest.mark.packaging
def test_the_packaged_storefront_template_declares_nothing_the_drift_check_cannot_account_for(aws: Clients) -> None:
    """`make package`'s build/storefront.json: every resource is AWS-only (the web edge plays it locally),
    so the comparison finds nothing to read back and nothing it cannot read."""
    path = BUILD / "storefront.json"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make package` (it runs these tests after packaging)")
    naming = Naming(stage="dev")
    resources = json.loads(path.read_text())["Resources"]

    differences = [d for d in drift({"storefront": resources}, aws, naming) if d.stack != "(none)"]

    assert differences == [], "\n".join(map(str, differences))
    assert {r["Type"] for r in resources.values()} >= {"AWS::CloudFront::Distribution", "AWS::CloudFront::Function"}
