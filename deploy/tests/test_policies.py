"""Every service's committed IAM policy is the generated one, and nothing in it reaches beyond the service."""

from __future__ import annotations

import json
from typing import Any

import pytest
from policies import SERVICES, UNSCOPED_ALLOWED, policy, policy_path, render

from shop_contracts import TOPOLOGY
from shop_eventing.topology import Naming
from shop_infra.resources import model

STAGE = "dev"


def statements(service: str) -> list[dict[str, Any]]:
    return list(json.loads(policy_path(service, STAGE).read_text())["Statement"])


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def own_resource_prefixes(service: str) -> list[str]:
    spec = TOPOLOGY.service(service)
    naming = Naming(STAGE)
    table = f"arn:aws:dynamodb:*:*:table/{naming.table(service)}"
    prefixes = [table, f"{table}/", f"arn:aws:logs:*:*:log-group:{naming.log_group(service)}"]
    for subscription in spec.subscriptions:
        prefixes += [
            f"arn:aws:sqs:*:*:{naming.queue(service, subscription.name)}",
            f"arn:aws:sqs:*:*:{naming.dlq(service, subscription.name)}",
        ]
    prefixes.append(f"arn:aws:events:*:*:event-bus/{naming.bus}")
    if service == "notify":
        prefixes += [
            "arn:aws:ses:*:*:identity/",
            f"arn:aws:s3:::{naming.prefix}-{STAGE}-notify-ledger/",
            f"arn:aws:ssm:*:*:parameter/{naming.prefix}/{STAGE}/notify/",
        ]
    if service == "vod":
        # Its media bucket, its transcoder's job-events queue (+ DLQ), MediaConvert jobs and the role they run as;
        # its live channels' events queue (+ DLQ), IVS channels and its own secrets (the playback key).
        prefixes += [
            f"arn:aws:s3:::{naming.prefix}-{naming.stage}-vod-media/",
            f"arn:aws:sqs:*:*:{naming.queue(service, 'transcode-jobs')}",
            f"arn:aws:sqs:*:*:{naming.queue(service, 'live-events')}",
            "arn:aws:ivs:*:*:channel/",
            "arn:aws:ivs:*:*:recording-configuration/",
            f"arn:aws:ssm:*:*:parameter/{naming.prefix}/{STAGE}/vod/",
            "arn:aws:mediaconvert:*:*:queues/",
            "arn:aws:mediaconvert:*:*:jobs/",
            f"arn:aws:iam::*:role/{naming.prefix}-{naming.stage}-vod-mediaconvert",
            # The private key it signs playback cookies with.
            f"arn:aws:ssm:*:*:parameter/{naming.prefix}/{STAGE}/vod/",
        ]
    if service == "orders":
        prefixes.append(f"arn:aws:ssm:*:*:parameter/{naming.prefix}/{STAGE}/orders/")
    if service == "fulfillment":
        prefixes += [
            f"arn:aws:s3:::{naming.bucket(service, 'carrier-lists')}/",
            f"arn:aws:ssm:*:*:parameter/{naming.prefix}/{STAGE}/{service}/",
        ]
    return prefixes


@pytest.mark.parametrize("service", SERVICES)
def test_committed_policy_is_the_generated_one(service: str) -> None:
    path = policy_path(service, STAGE)
    assert path.exists(), f"{path} missing: run .venv/bin/python deploy/policies.py {STAGE}"
    assert path.read_text() == render(policy(service, STAGE)), f"{path} is stale: run deploy/policies.py {STAGE}"


@pytest.mark.parametrize("service", SERVICES)
def test_chalice_uses_the_policy_file(service: str) -> None:
    config = json.loads((policy_path(service, STAGE).parent / "config.json").read_text())["stages"][STAGE]
    assert config["autogen_policy"] is False
    assert config["iam_policy_file"] == f"policy-{STAGE}.json"


@pytest.mark.parametrize("service", SERVICES)
def test_no_wildcard_action_or_resource_beyond_the_named_exceptions(service: str) -> None:
    for statement in statements(service):
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement and "NotResource" not in statement
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{service}/{statement['Sid']}: wildcard action {action}"
        if "*" in as_list(statement["Resource"]):
            # dynamodb:ListStreams has no resource type in IAM: it cannot be scoped.
            assert statement["Sid"] in UNSCOPED_ALLOWED, f"{service}/{statement['Sid']}: Resource *"
            assert as_list(statement["Action"]) == UNSCOPED_ALLOWED[statement["Sid"]]
            assert as_list(statement["Resource"]) == ["*"]


@pytest.mark.parametrize("service", SERVICES)
def test_every_resource_belongs_to_the_service(service: str) -> None:
    prefixes = own_resource_prefixes(service)
    for statement in statements(service):
        for resource in as_list(statement["Resource"]):
            if resource == "*":
                continue  # checked above
            assert any(resource == p or resource.startswith(p) for p in prefixes), (
                f"{service}/{statement['Sid']}: {resource} is not one of its own resources"
            )
            naming = Naming(STAGE)
            others = [s for s in SERVICES if s != service]
            for other in others:
                assert naming.table(other) not in resource.split("/")
                assert f":{naming.table(other)}-" not in resource


@pytest.mark.parametrize("service", SERVICES)
def test_put_events_only_with_its_own_source(service: str) -> None:
    spec = TOPOLOGY.service(service)
    puts = [s for s in statements(service) if "events:PutEvents" in as_list(s["Action"])]
    if not spec.publishes:
        assert puts == [], f"{service} publishes nothing and must not be able to put events"
        return
    assert puts, f"{service} publishes but cannot put events"
    for statement in puts:
        assert as_list(statement["Action"]) == ["events:PutEvents"]
        assert statement["Resource"] == f"arn:aws:events:*:*:event-bus/{Naming(STAGE).bus}"
        assert statement["Condition"] == {"StringEquals": {"events:source": spec.source}}


@pytest.mark.parametrize("service", SERVICES)
def test_only_notify_sends_email(service: str) -> None:
    actions = {a for s in statements(service) for a in as_list(s["Action"])}
    services_used = {a.split(":")[0] for a in actions}
    # Every function writes its traces (Tracing: Active).
    expected = {"logs", "dynamodb", "xray"} | ({"events"} if TOPOLOGY.service(service).publishes else set())
    # Its queues, and their oldest messages' ages from CloudWatch (the staff's GET /ops/status).
    expected |= {"sqs", "cloudwatch"} if TOPOLOGY.service(service).subscriptions else set()
    expected |= {"ses", "s3", "ssm"} if service == "notify" else set()
    # vod: its media, MediaConvert and its role; IVS channels; its signing keys (its own parameters).
    expected |= {"s3", "mediaconvert", "iam", "ivs", "ssm"} if service == "vod" else set()
    expected |= {"ssm"} if service == "orders" else set()  # its payment provider's key, read only
    # fulfillment's carrier lists (its own bucket) and the 3PL's secrets (its own parameters).
    expected |= {"s3", "ssm"} if service == "fulfillment" else set()
    assert services_used == expected


@pytest.mark.parametrize("service", SERVICES)
def test_the_ops_status_route_may_read_exactly_its_own_queues_and_dlqs(service: str) -> None:
    """GET /ops/status reads each subscription's queue and DLQ (URL, depths) and nothing else of SQS's
    beyond what consuming needs; the ages come from CloudWatch's metric reads alone."""
    naming = Naming(STAGE)
    spec = TOPOLOGY.service(service)
    readable = {
        resource
        for s in statements(service)
        if {"sqs:GetQueueUrl", "sqs:GetQueueAttributes"} <= set(as_list(s["Action"]))
        for resource in as_list(s["Resource"])
    }
    assert readable == {f"arn:aws:sqs:*:*:{naming.queue(service, s.name)}" for s in spec.subscriptions} | {
        f"arn:aws:sqs:*:*:{naming.dlq(service, s.name)}" for s in spec.subscriptions
    }
    [metrics] = [s for s in statements(service) if "cloudwatch:GetMetricStatistics" in as_list(s["Action"])]
    assert as_list(metrics["Action"]) == ["cloudwatch:GetMetricStatistics"]


def test_a_broader_policy_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks above fail on a planted defect: a wildcard action on another service's table."""
    broad = {"Sid": "Oops", "Effect": "Allow", "Action": "dynamodb:*", "Resource": "arn:aws:dynamodb:*:*:table/shop-dev-orders"}
    document = policy("catalog", STAGE)
    document["Statement"].append(broad)
    monkeypatch.setitem(globals(), "statements", lambda service: document["Statement"])
    with pytest.raises(AssertionError):
        test_no_wildcard_action_or_resource_beyond_the_named_exceptions("catalog")
    with pytest.raises(AssertionError):
        test_every_resource_belongs_to_the_service("catalog")


def test_vod_may_pass_only_the_mediaconvert_role_its_stack_declares() -> None:
    """The policy names the role literally (a static file); the model's role must carry that very name."""
    [passing] = [s for s in statements("vod") if "iam:PassRole" in as_list(s["Action"])]
    vod = model(TOPOLOGY, Naming("dev")).services["vod"]
    [role] = [r for r in vod.values() if r["Type"] == "AWS::IAM::Role"]

    assert passing["Resource"] == f"arn:aws:iam::*:role/{role['Properties']['RoleName']}"
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "mediaconvert.amazonaws.com"}}
