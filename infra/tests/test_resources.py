"""The resource model: its shape, the one local override, and the applier's refusal of what it cannot apply."""

from __future__ import annotations

import copy

import boto3
import pytest

from shop_contracts import TOPOLOGY
from shop_eventing.topology import Naming
from shop_infra.provision import Clients, apply
from shop_infra.resources import AWS_ONLY_RESOURCE_TYPES, NO_OVERRIDES, LocalOverrides, model, queue_id

NAMING = Naming(stage="m")
# Refusals come before any call: these clients point where nothing listens.
NOWHERE = Clients(boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"), "http://127.0.0.1:9")


def test_the_model_has_one_group_per_stack() -> None:
    shop = model(TOPOLOGY, NAMING)

    assert sorted(shop.platform) == [
        "ApiResourceServer",
        "EventArchive",
        "EventBus",
        "StaffGroup",
        "UserPool",
        "UserPoolClient",
        "UserPoolDomain",
        "WarehouseGroup",
    ]
    assert list(shop.services) == [s.name for s in TOPOLOGY.services]
    notify = shop.services["notify"]
    assert sorted(notify) == sorted(
        [
            "ShopTable",
            "LedgerBucket",
            *(
                f"{prefix}{suffix}"
                for prefix in ("OrderEmails", "CrmSync", "SalesLedger", "VideoEmails", "ShowReminders")
                for suffix in ("Dlq", "Queue", "QueuePolicy")
            ),
            *(f"OrderEmails{e}Rule" for e in ("PaymentCaptured", "PaymentFailed", "ShipmentDispatched", "ShipmentDelivered")),
            *(f"OrderEmails{e}Rule" for e in ("OrderCancelled", "PaymentRefunded")),
            *(f"CrmSync{e}Rule" for e in ("PaymentCaptured", "OrderCancelled", "PaymentRefunded")),
            *(f"CrmSync{e}Rule" for e in ("ShipmentDispatched", "ShipmentDelivered")),
            "SalesLedgerPaymentCapturedRule",
            "SalesLedgerPaymentRefundedRule",
            "VideoEmailsVideoReadyRule",
            "VideoEmailsVideoFailedRule",
            *(
                f"ShowReminders{e}Rule"
                for e in ("PaymentCaptured", "EntitlementGranted", "EntitlementRevoked", "LiveShowStartingSoon")
            ),
        ]
    )
    assert notify["OrderEmailsPaymentFailedRule"]["Properties"]["Targets"] == [
        {"Id": "queue", "Arn": {"Fn::GetAtt": ["OrderEmailsQueue", "Arn"]}}
    ]


def test_the_local_override_changes_only_the_subscription_queues_visibility() -> None:
    resources = model(TOPOLOGY, NAMING).services["orders"]
    pristine = copy.deepcopy(resources)

    local = LocalOverrides(visibility_timeout_seconds=3).applied_to(resources)

    assert resources == pristine  # the model itself is left alone
    changed = {
        logical_id: local[logical_id]["Properties"]["VisibilityTimeout"]
        for logical_id in resources
        if local[logical_id] != resources[logical_id]
    }
    assert changed == {queue_id(s): 3 for s in TOPOLOGY.service("orders").subscriptions}
    assert NO_OVERRIDES.applied_to(resources) == resources


def test_the_applier_refuses_a_property_it_cannot_apply() -> None:
    resources = model(TOPOLOGY, NAMING).services["vod"]
    resources["ShopTable"]["Properties"]["SSESpecification"] = {"SSEEnabled": True}

    with pytest.raises(ValueError, match=r"ShopTable \(AWS::DynamoDB::Table\): unsupported \['SSESpecification'\]"):
        apply(resources, NOWHERE)


def test_the_applier_refuses_a_type_it_cannot_apply() -> None:
    resources = {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}}

    with pytest.raises(ValueError, match=r"Topic \(AWS::SNS::Topic\): unsupported type"):
        apply(resources, NOWHERE)


def test_sign_in_is_declared_for_aws_only_and_provision_leaves_it_out() -> None:
    """Locally the embedded stack's own OIDC issuer stands in for Cognito; the model says so per type."""
    platform = model(TOPOLOGY, NAMING).platform
    cognito = {r["Type"] for r in platform.values() if r["Type"].startswith("AWS::Cognito::")}
    assert cognito and cognito <= set(AWS_ONLY_RESOURCE_TYPES)
    assert all("OIDC issuer" in AWS_ONLY_RESOURCE_TYPES[kind] for kind in cognito)
    # A stack of AWS-only resources alone asks nothing of the (unreachable) endpoint.
    only_cognito = {k: r for k, r in platform.items() if r["Type"] in AWS_ONLY_RESOURCE_TYPES}
    assert apply(only_cognito, NOWHERE).changes == []
    groups = {r["Properties"]["GroupName"] for r in platform.values() if r["Type"] == "AWS::Cognito::UserPoolGroup"}
    assert groups == {"staff", "warehouse"}
    client = platform["UserPoolClient"]["Properties"]
    assert (client["GenerateSecret"], client["AllowedOAuthFlows"]) == (False, ["code"])


def test_the_app_client_signs_in_the_storefront_and_its_console_once_the_platform_knows_its_url() -> None:
    """A public client for the code flow with PKCE: the CLI's loopback callback always; the storefront's
    callbacks and sign-out returns only when the platform's StorefrontUrl parameter is set."""
    client = model(TOPOLOGY, NAMING).platform["UserPoolClient"]["Properties"]

    assert client["AllowedOAuthScopes"] == ["openid", "email", "profile", "shop-api/shop"]
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
    assert client["CallbackURLs"] == {
        "Fn::If": [
            "HasStorefront",
            [
                "http://localhost:8765/callback",
                {"Fn::Sub": "${StorefrontUrl}/callback"},
                {"Fn::Sub": "${StorefrontUrl}/console/callback"},
            ],
            ["http://localhost:8765/callback"],
        ]
    }
    assert client["LogoutURLs"] == {
        "Fn::If": [
            "HasStorefront",
            [{"Fn::Sub": "${StorefrontUrl}/"}, {"Fn::Sub": "${StorefrontUrl}/console/"}],
            {"Ref": "AWS::NoValue"},
        ]
    }


def test_the_media_distribution_is_declared_for_aws_only_and_provision_leaves_it_out() -> None:
    """Locally the media edge stands in for CloudFront; vod's bucket is applied, its distribution is not."""
    vod = model(TOPOLOGY, NAMING).services["vod"]
    cloudfront = {r["Type"] for r in vod.values() if r["Type"].startswith("AWS::CloudFront::")}
    assert cloudfront == {
        "AWS::CloudFront::Distribution",
        "AWS::CloudFront::OriginAccessControl",
        "AWS::CloudFront::PublicKey",
        "AWS::CloudFront::KeyGroup",
    }
    assert all("media edge" in AWS_ONLY_RESOURCE_TYPES[kind] for kind in {*cloudfront, "AWS::S3::BucketPolicy"})
    only_media = {k: r for k, r in vod.items() if r["Type"] in AWS_ONLY_RESOURCE_TYPES}
    assert apply(only_media, NOWHERE).changes == []
    config = vod["MediaDistribution"]["Properties"]["DistributionConfig"]
    behaviours = [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]
    # Every path needs vod's signature: the bucket holds the sources too.
    assert all(b["TrustedKeyGroups"] == [{"Ref": "MediaKeyGroup"}] for b in behaviours)
    assert [b.get("PathPattern") for b in behaviours] == [None, "outputs/*"]
    [statement] = vod["MediaBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (statement["Principal"], statement["Action"]) == ({"Service": "cloudfront.amazonaws.com"}, "s3:GetObject")
    assert statement["Resource"]["Fn::Sub"].endswith("${MediaBucket}/outputs/*")


def test_the_live_recording_configuration_is_aws_only_and_records_to_the_media_bucket() -> None:
    """Locally the stack creates the recording configuration in the fake IVS itself (shop_devstack.stack)."""
    vod = model(TOPOLOGY, NAMING).services["vod"]
    [recording] = [r for r in vod.values() if r["Type"] == "AWS::IVS::RecordingConfiguration"]
    assert "fake IVS" in AWS_ONLY_RESOURCE_TYPES["AWS::IVS::RecordingConfiguration"]
    assert recording["Properties"]["DestinationConfiguration"] == {"S3": {"BucketName": {"Ref": "MediaBucket"}}}
    rule = next(r for r in vod.values() if r["Type"] == "AWS::Events::Rule" and "live-events" in r["Properties"]["Name"])
    assert rule["Properties"]["EventBusName"] == "default"
    assert rule["Properties"]["EventPattern"]["detail"] == {"channel_name": [{"prefix": f"shop-{NAMING.stage}-"}]}


def test_the_mediaconvert_role_is_aws_only_and_may_only_read_sources_and_write_outputs() -> None:
    """The role vod passes MediaConvert (deploy/policies.py lets vod pass it by this name and no other).
    Locally ffmpeg transcodes with the stack's own credentials, so provision leaves it out."""
    vod = model(TOPOLOGY, NAMING).services["vod"]
    [(logical_id, role)] = [(k, r) for k, r in vod.items() if r["Type"] == "AWS::IAM::Role"]
    assert "ffmpeg" in AWS_ONLY_RESOURCE_TYPES["AWS::IAM::Role"]
    assert apply({logical_id: role}, NOWHERE).changes == []
    props = role["Properties"]
    assert props["RoleName"] == f"shop-{NAMING.stage}-vod-mediaconvert"
    assert props["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "mediaconvert.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    [policy] = props["Policies"]
    granted = {(s["Effect"], s["Action"], s["Resource"]["Fn::Sub"]) for s in policy["PolicyDocument"]["Statement"]}
    assert granted == {
        ("Allow", "s3:GetObject", "arn:${AWS::Partition}:s3:::${MediaBucket}/sources/*"),
        ("Allow", "s3:PutObject", "arn:${AWS::Partition}:s3:::${MediaBucket}/outputs/*"),
    }
