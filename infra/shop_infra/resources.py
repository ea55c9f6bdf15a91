"""The one resource model: every AWS resource the topology needs, as CloudFormation resource dicts.

deploy/templates.py puts these dicts into the templates deployed to AWS; shop_infra.provision applies
the very same dicts through boto3 to any other endpoint (the embedded AWS, a test). Neither adds a
resource or a property of its own, so what runs locally is what AWS gets, apart from the overrides
named in `LocalOverrides` and the resource types in `AWS_ONLY_RESOURCE_TYPES` (each with its reason).

The model has one group of resources per CloudFormation stack: the platform (bus and archive, and
the Cognito user pool customers and staff sign in with, shared by the stage) and one group per
service (its table; per subscription a queue, its DLQ, one rule per event type and the queue's policy).
Ref and Fn::GetAtt only point inside their own group, as they must inside one stack; a rule names the
platform's bus by name.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from shop_eventing.topology import Naming, ServiceSpec, Subscription, Topology, rule_pattern

type Resource = dict[str, Any]
type Resources = dict[str, Resource]

EVENT_BUS_ID = "EventBus"
ARCHIVE_ID = "EventArchive"
TABLE_ID = "ShopTable"
# A rule has one target, its subscription's queue: the id only has to be stable.
TARGET_ID = "queue"
POLICY_SID = "FromItsRulesOnly"
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # the SQS maximum: time to look at and redrive what failed
ARCHIVE_RETENTION_DAYS = 0  # 0 keeps every event forever: replay must reach back to the first order

USER_POOL_ID = "UserPool"
USER_POOL_CLIENT_ID = "UserPoolClient"
USER_POOL_DOMAIN_ID = "UserPoolDomain"
RESOURCE_SERVER_ID = "ApiResourceServer"
# The shop's API as an OAuth resource server: access tokens carry the scope `shop-api/shop`, which the
# REST APIs' Cognito authorizer requires (with a scope it takes access tokens, not ID tokens).
API_IDENTIFIER = "shop-api"
API_SCOPE = f"{API_IDENTIFIER}/shop"
# Cognito groups, read by the services from the access token's `cognito:groups` claim.
GROUPS = {"staff": "Create and revise products; read shipments", "warehouse": "Read shipments to pack and send them"}
# The CLI sign-in (RFC 8252 loopback redirect).
CALLBACK_URLS = ["http://localhost:8765/callback"]
# The storefront's origin (https://<host>, no trailing slash), a parameter of the platform's template:
# its CloudFront domain exists only once the storefront's stack does, which comes after the platform's
# (docs/decisions/0020-storefront-behind-one-distribution.md). Empty: the CLI's callback alone.
STOREFRONT_URL_PARAMETER = "StorefrontUrl"
HAS_STOREFRONT_CONDITION = "HasStorefront"
# Where the storefront (/) and the staff console (/console/) finish a sign-in and come back after a
# sign-out, relative to the storefront's origin (the pages' redirect_path is /callback).
STOREFRONT_CALLBACK_PATHS = ("/callback", "/console/callback")
STOREFRONT_LOGOUT_PATHS = ("/", "/console/")
ACCESS_TOKEN_MINUTES = 60
REFRESH_TOKEN_DAYS = 30

# Resource types the model declares for AWS alone, each with the reason the embedded AWS has none.
# provision skips them and the drift check does not compare them (shop_infra.drift).
AWS_ONLY_RESOURCE_TYPES: dict[str, str] = {
    kind: "sign-in: locally the embedded stack runs its own OIDC issuer process (shop_devstack.oidc_issuer), which "
    "the services verify exactly as they verify Cognito (JWKS, iss, audience, cognito:groups); a moto user pool "
    "nothing signs in to would prove nothing"
    for kind in (
        "AWS::Cognito::UserPool",
        "AWS::Cognito::UserPoolClient",
        "AWS::Cognito::UserPoolDomain",
        "AWS::Cognito::UserPoolGroup",
        "AWS::Cognito::UserPoolResourceServer",
    )
}


AWS_ONLY_RESOURCE_TYPES["AWS::IVS::RecordingConfiguration"] = (
    "live shows: moto has no IVS; the embedded stack creates the recording "
    "configuration in its fake IVS (shop_devstack.live_channel) at start, as it imports the playback key pair"
)


AWS_ONLY_RESOURCE_TYPES["AWS::IAM::Role"] = (
    "transcoding: locally ffmpeg runs in vod's own worker process with the stack's credentials, so nothing "
    "assumes MediaConvert's role; moto's IAM would only store it, and no local policy is enforced to prove it"
)


# vod's media distribution: locally the embedded stack's media edge (shop_devstack.media_edge) checks the
# same signed cookies in front of moto's bucket; moto's CloudFront would only store the configuration.
AWS_ONLY_RESOURCE_TYPES.update(
    {
        kind: "media delivery: locally the media edge process (shop_devstack.media_edge) stands in for CloudFront, "
        "checking the same signed cookies and URLs against the stack's own key pair in front of moto's bucket"
        for kind in (
            "AWS::CloudFront::Distribution",
            "AWS::CloudFront::OriginAccessControl",
            "AWS::CloudFront::PublicKey",
            "AWS::CloudFront::KeyGroup",
            "AWS::S3::BucketPolicy",
        )
    }
)


def camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-") if part)


def queue_id(subscription: Subscription) -> str:
    return f"{camel(subscription.name)}Queue"


def dlq_id(subscription: Subscription) -> str:
    return f"{camel(subscription.name)}Dlq"


def rule_id(subscription: Subscription, event_type: str) -> str:
    return f"{camel(subscription.name)}{event_type}Rule"


def queue_policy_id(subscription: Subscription) -> str:
    return f"{queue_id(subscription)}Policy"


def hosted_ui_domain_prefix(naming: Naming) -> dict[str, str]:
    """The hosted sign-in's domain prefix; the prefix must be unique in the region, hence the account."""
    return {"Fn::Sub": f"{naming.bus}-${{AWS::AccountId}}"}


def hosted_ui_domain(naming: Naming) -> dict[str, str]:
    """The hosted sign-in's host (its /oauth2/authorize, /oauth2/token and /logout), for the platform's output."""
    return {"Fn::Sub": f"{naming.bus}-${{AWS::AccountId}}.auth.${{AWS::Region}}.amazoncognito.com"}


def _storefront_urls(paths: tuple[str, ...], otherwise: list[str] | None) -> dict[str, Any]:
    """The storefront's URLs for `paths` when the platform knows the storefront's origin; `otherwise` when not
    (None leaves the property out)."""
    urls = [{"Fn::Sub": f"${{{STOREFRONT_URL_PARAMETER}}}{path}"} for path in paths]
    return {
        "Fn::If": [
            HAS_STOREFRONT_CONDITION,
            [*(otherwise or []), *urls],
            otherwise if otherwise is not None else {"Ref": "AWS::NoValue"},
        ]
    }


def identity_resources(naming: Naming) -> Resources:
    """The user pool customers and staff sign in to (code flow with PKCE), its app client, the API's
    scope and the groups the services' access rules name."""
    pool = {"Ref": USER_POOL_ID}
    groups = {
        f"{camel(name)}Group": {
            "Type": "AWS::Cognito::UserPoolGroup",
            "Properties": {"UserPoolId": pool, "GroupName": name, "Description": description},
        }
        for name, description in GROUPS.items()
    }
    return {
        USER_POOL_ID: {
            "Type": "AWS::Cognito::UserPool",
            "Properties": {
                "UserPoolName": f"{naming.bus}-users",
                "UsernameAttributes": ["email"],
                "AutoVerifiedAttributes": ["email"],
                "Policies": {
                    "PasswordPolicy": {
                        "MinimumLength": 12,
                        "RequireLowercase": True,
                        "RequireUppercase": True,
                        "RequireNumbers": True,
                        "RequireSymbols": False,
                    }
                },
                "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]},
                # Customers' accounts and orders hang on their sub: a deleted pool cannot be recreated with them.
                "DeletionProtection": "ACTIVE",
            },
        },
        USER_POOL_DOMAIN_ID: {
            "Type": "AWS::Cognito::UserPoolDomain",
            # The hosted sign-in (authorize/token endpoints); the prefix must be unique in the region.
            "Properties": {"UserPoolId": pool, "Domain": hosted_ui_domain_prefix(naming)},
        },
        RESOURCE_SERVER_ID: {
            "Type": "AWS::Cognito::UserPoolResourceServer",
            "Properties": {
                "UserPoolId": pool,
                "Identifier": API_IDENTIFIER,
                "Name": "shop API",
                "Scopes": [{"ScopeName": API_SCOPE.split("/")[1], "ScopeDescription": "Use the shop's APIs"}],
            },
        },
        USER_POOL_CLIENT_ID: {
            "Type": "AWS::Cognito::UserPoolClient",
            "DependsOn": [RESOURCE_SERVER_ID],  # its scope must exist first
            "Properties": {
                "UserPoolId": pool,
                "ClientName": "shop-web",
                # A public client (browser, CLI): no secret, so the code flow needs PKCE.
                "GenerateSecret": False,
                "AllowedOAuthFlowsUserPoolClient": True,
                "AllowedOAuthFlows": ["code"],
                "AllowedOAuthScopes": ["openid", "email", "profile", API_SCOPE],
                "SupportedIdentityProviders": ["COGNITO"],
                "CallbackURLs": _storefront_urls(STOREFRONT_CALLBACK_PATHS, CALLBACK_URLS),
                "LogoutURLs": _storefront_urls(STOREFRONT_LOGOUT_PATHS, None),
                "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
                "PreventUserExistenceErrors": "ENABLED",
                "EnableTokenRevocation": True,
                "AccessTokenValidity": ACCESS_TOKEN_MINUTES,
                "IdTokenValidity": ACCESS_TOKEN_MINUTES,
                "RefreshTokenValidity": REFRESH_TOKEN_DAYS,
                "TokenValidityUnits": {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "days"},
            },
        },
        **groups,
    }


def platform_resources(naming: Naming) -> Resources:
    """The bus every service publishes on and its archive, and the user pool, shared by the stage."""
    return {
        EVENT_BUS_ID: {"Type": "AWS::Events::EventBus", "Properties": {"Name": naming.bus}},
        ARCHIVE_ID: {
            "Type": "AWS::Events::Archive",
            "Properties": {
                "ArchiveName": naming.archive,
                "SourceArn": {"Fn::GetAtt": [EVENT_BUS_ID, "Arn"]},
                "Description": "every event on the shop's bus, for replay",
                "RetentionDays": ARCHIVE_RETENTION_DAYS,
            },
        },
        **identity_resources(naming),
    }


def table_resource(service: ServiceSpec, naming: Naming) -> Resource:
    spec = service.table
    attributes = [spec.partition_key, spec.sort_key] + [key for _, pk, sk in spec.indexes for key in (pk, sk)]
    return {
        "Type": "AWS::DynamoDB::Table",
        # The table is the service's state and its outbox log: never dropped by a stack update/delete.
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "TableName": naming.table(service.name),
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in dict.fromkeys(attributes)],
            "KeySchema": [
                {"AttributeName": spec.partition_key, "KeyType": "HASH"},
                {"AttributeName": spec.sort_key, "KeyType": "RANGE"},
            ],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": index,
                    "KeySchema": [{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
                for index, pk, sk in spec.indexes
            ],
            # Without its stream the outbox relay is never fed: events would pile up unpublished.
            "StreamSpecification": {"StreamViewType": spec.stream_view_type},
            "TimeToLiveSpecification": {"AttributeName": spec.ttl_attribute, "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        },
    }


def subscription_resources(topology: Topology, service: ServiceSpec, subscription: Subscription, naming: Naming) -> Resources:
    qid, did = queue_id(subscription), dlq_id(subscription)
    resources: Resources = {
        did: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": naming.dlq(service.name, subscription.name),
                "MessageRetentionPeriod": DLQ_RETENTION_SECONDS,
            },
        },
        qid: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": naming.queue(service.name, subscription.name),
                "VisibilityTimeout": subscription.visibility_timeout_seconds,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": [did, "Arn"]},
                    "maxReceiveCount": subscription.max_receive_count,
                },
            },
        },
    }
    rule_arns = []
    for ref in subscription.events:
        rid = rule_id(subscription, ref.event_type)
        resources[rid] = {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": naming.rule(service.name, subscription.name, ref.event_type),
                "EventBusName": naming.bus,
                "EventPattern": rule_pattern(topology.producer_of(ref.event_type), ref),
                "State": "ENABLED",
                # A rule feeds its subscription's queue and nothing else: anything more would leak its events.
                "Targets": [{"Id": TARGET_ID, "Arn": {"Fn::GetAtt": [qid, "Arn"]}}],
            },
        }
        rule_arns.append({"Fn::GetAtt": [rid, "Arn"]})
    resources[queue_policy_id(subscription)] = {
        "Type": "AWS::SQS::QueuePolicy",
        "Properties": {
            "Queues": [{"Ref": qid}],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": POLICY_SID,
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": {"Fn::GetAtt": [qid, "Arn"]},
                        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arns}},
                    }
                ],
            },
        },
    }
    return resources


# -- notify: the sales ledger's bucket ---------------------------------------------------------
LEDGER_BUCKET_ID = "LedgerBucket"


def ledger_bucket_name(naming: Naming) -> str:
    """Named like the stage's other resources (notify's app derives the same name). S3 names are global:
    a stage whose name is taken in another account sets SHOP_LEDGER_BUCKET and a prefix of its own."""
    return f"{naming.prefix}-{naming.stage}-notify-ledger"


def notify_resources(naming: Naming) -> Resources:
    """The bucket of the daily sales ledger (accounting's JSON Lines): private, encrypted, versioned so
    that every rewrite of a day keeps the one before, and kept when the stack goes."""
    return {
        LEDGER_BUCKET_ID: {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketName": ledger_bucket_name(naming),
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "VersioningConfiguration": {"Status": "Enabled"},
            },
        }
    }


# -- vod's own resources ---------------------------------------------------------------------------

MEDIA_BUCKET_ID = "MediaBucket"
JOB_EVENTS_QUEUE_ID = "TranscodeJobsQueue"
JOB_EVENTS_DLQ_ID = "TranscodeJobsDlq"
JOB_EVENTS_RULE_ID = "TranscodeJobStateChangeRule"
JOB_EVENTS_POLICY_ID = "TranscodeJobsQueuePolicy"
# MediaConvert publishes its job state changes on the account's default bus, not on the shop's.
DEFAULT_BUS = "default"
# Browsers PUT sources (and parts) straight to S3 with presigned URLs; the ETag header completes a multipart upload.
MEDIA_CORS_RULES = [
    {
        "AllowedMethods": ["PUT", "GET", "HEAD"],
        "AllowedOrigins": ["*"],
        "AllowedHeaders": ["*"],
        "ExposedHeaders": ["ETag"],
        "MaxAge": 3600,
    }
]


MEDIA_OAC_ID = "MediaOriginAccessControl"
MEDIA_PUBLIC_KEY_ID = "MediaSigningPublicKey"
MEDIA_KEY_GROUP_ID = "MediaKeyGroup"
MEDIA_DISTRIBUTION_ID = "MediaDistribution"
MEDIA_BUCKET_POLICY_ID = "MediaBucketPolicy"
MEDIA_ORIGIN = "media-bucket"
# CloudFront's managed policies: CachingOptimized (no cookies or query in the cache key: the signature is
# checked before the cache, so one cached segment serves every entitled viewer) and CORS-S3Origin.
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CORS_S3_ORIGIN = "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf"


def media_signing_parameters(naming: Naming) -> tuple[str, str]:
    """The SSM parameters of the key pair vod signs playback cookies with: the private key (SecureString,
    read by vod) and the public key (String, read by CloudFormation into the key group)."""
    base = f"/{naming.prefix}/{naming.stage}/vod"
    return f"{base}/media-signing-key", f"{base}/media-signing-public-key"


def media_bucket_name(naming: Naming) -> str:
    """vod's app derives the same name (VOD_MEDIA_BUCKET overrides it there)."""
    return f"{naming.prefix}-{naming.stage}-vod-media"


MEDIACONVERT_ROLE_ID = "MediaConvertRole"
MEDIACONVERT_SERVICE = "mediaconvert.amazonaws.com"


def mediaconvert_role_name(naming: Naming) -> str:
    """Named, not generated: vod's IAM policy is a static file (deploy/policies.py) that may pass this role
    and no other, so the name must be known before the stack exists."""
    return f"{naming.prefix}-{naming.stage}-vod-mediaconvert"


def mediaconvert_role(naming: Naming) -> Resources:
    """The role MediaConvert assumes to run vod's jobs (VOD_MEDIACONVERT_ROLE_ARN): only MediaConvert may
    assume it, and it reads the sources and writes the outputs of the media bucket, nothing else (not
    the captions, not another stage's bucket). AWS only: locally ffmpeg needs no role."""
    bucket = f"arn:${{AWS::Partition}}:s3:::${{{MEDIA_BUCKET_ID}}}"
    return {
        MEDIACONVERT_ROLE_ID: {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": mediaconvert_role_name(naming),
                "Description": "MediaConvert reads vod's sources and writes its outputs",
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"Service": MEDIACONVERT_SERVICE}, "Action": "sts:AssumeRole"}
                    ],
                },
                "Policies": [
                    {
                        "PolicyName": "media-bucket",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Sid": "ReadSources",
                                    "Effect": "Allow",
                                    "Action": "s3:GetObject",
                                    "Resource": {"Fn::Sub": f"{bucket}/sources/*"},
                                },
                                {
                                    # The HLS ladder, the poster and the trick-play images of every attempt.
                                    "Sid": "WriteOutputs",
                                    "Effect": "Allow",
                                    "Action": "s3:PutObject",
                                    "Resource": {"Fn::Sub": f"{bucket}/outputs/*"},
                                },
                            ],
                        },
                    }
                ],
            },
        }
    }


def vod_transcode_environment(naming: Naming) -> dict[str, Any]:
    """What vod's transcode subscriber (the one function that calls CreateJob) reads on AWS: the role
    it passes MediaConvert."""
    return {"VOD_MEDIACONVERT_ROLE_ARN": {"Fn::GetAtt": [MEDIACONVERT_ROLE_ID, "Arn"]}}


def vod_resources(naming: Naming) -> Resources:
    """The media bucket (sources, HLS outputs, captions), the role MediaConvert transcodes with, and the
    queue the transcoder's job state changes reach vod through: a rule on the default bus for
    MediaConvert's events of this stage's jobs (userMetadata.shop_stage), which the embedded stack's
    ffmpeg transcoder emits alike."""
    queue = naming.queue("vod", "transcode-jobs")
    return {
        MEDIA_BUCKET_ID: {
            "Type": "AWS::S3::Bucket",
            # Sources and outputs are the shop's catalogue of videos: never dropped with the stack.
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {"BucketName": media_bucket_name(naming), "CorsConfiguration": {"CorsRules": MEDIA_CORS_RULES}},
        },
        **media_distribution_resources(naming),
        **mediaconvert_role(naming),
        JOB_EVENTS_DLQ_ID: {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": naming.dlq("vod", "transcode-jobs"), "MessageRetentionPeriod": DLQ_RETENTION_SECONDS},
        },
        JOB_EVENTS_QUEUE_ID: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": queue,
                "VisibilityTimeout": 30,
                "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [JOB_EVENTS_DLQ_ID, "Arn"]}, "maxReceiveCount": 5},
            },
        },
        JOB_EVENTS_RULE_ID: {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": f"{queue}-state-change",
                "EventBusName": DEFAULT_BUS,
                "EventPattern": {
                    "source": ["aws.mediaconvert"],
                    "detail-type": ["MediaConvert Job State Change"],
                    "detail": {"status": ["COMPLETE", "ERROR"], "userMetadata": {"shop_stage": [naming.stage]}},
                },
                "State": "ENABLED",
                "Targets": [{"Id": TARGET_ID, "Arn": {"Fn::GetAtt": [JOB_EVENTS_QUEUE_ID, "Arn"]}}],
            },
        },
        JOB_EVENTS_POLICY_ID: {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": JOB_EVENTS_QUEUE_ID}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": POLICY_SID,
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": {"Fn::GetAtt": [JOB_EVENTS_QUEUE_ID, "Arn"]},
                            "Condition": {"ArnEquals": {"aws:SourceArn": [{"Fn::GetAtt": [JOB_EVENTS_RULE_ID, "Arn"]}]}},
                        }
                    ],
                },
            },
        },
    }


def _media_behaviour(path_pattern: str | None) -> dict[str, Any]:
    behaviour: dict[str, Any] = {
        "TargetOriginId": MEDIA_ORIGIN,
        "ViewerProtocolPolicy": "redirect-to-https",
        "AllowedMethods": ["GET", "HEAD", "OPTIONS"],
        "CachedMethods": ["GET", "HEAD"],
        "Compress": True,
        "CachePolicyId": CACHING_OPTIMIZED,
        "OriginRequestPolicyId": CORS_S3_ORIGIN,
        # Only a request signed with the shop's key (vod's cookies) gets through.
        "TrustedKeyGroups": [{"Ref": MEDIA_KEY_GROUP_ID}],
    }
    if path_pattern:
        behaviour["PathPattern"] = path_pattern
    return behaviour


def media_distribution_resources(naming: Naming) -> Resources:
    """CloudFront in front of the media bucket: the bucket stays private (Origin Access Control, and a
    bucket policy letting only this distribution read `outputs/`), and every behaviour trusts one key
    group, so a viewer needs vod's signed cookies (a custom policy over one video's outputs).

    The key group's public key is read from SSM at deploy time (a String parameter, which a person puts
    there with the SecureString of its private key: docs/deploy.md)."""
    name = f"{naming.prefix}-{naming.stage}-vod-media"
    _, public_key_parameter = media_signing_parameters(naming)
    distribution_arn = f"arn:${{AWS::Partition}}:cloudfront::${{AWS::AccountId}}:distribution/${{{MEDIA_DISTRIBUTION_ID}}}"
    return {
        MEDIA_OAC_ID: {
            "Type": "AWS::CloudFront::OriginAccessControl",
            "Properties": {
                "OriginAccessControlConfig": {
                    "Name": name,
                    "Description": "vod's media distribution reads the private media bucket",
                    "OriginAccessControlOriginType": "s3",
                    "SigningBehavior": "always",
                    "SigningProtocol": "sigv4",
                }
            },
        },
        MEDIA_PUBLIC_KEY_ID: {
            "Type": "AWS::CloudFront::PublicKey",
            "Properties": {
                "PublicKeyConfig": {
                    "CallerReference": f"{name}-signing",
                    "Name": f"{name}-signing",
                    "Comment": "verifies vod's playback cookies",
                    "EncodedKey": f"{{{{resolve:ssm:{public_key_parameter}}}}}",
                }
            },
        },
        MEDIA_KEY_GROUP_ID: {
            "Type": "AWS::CloudFront::KeyGroup",
            "Properties": {"KeyGroupConfig": {"Name": f"{name}-playback", "Items": [{"Ref": MEDIA_PUBLIC_KEY_ID}]}},
        },
        MEDIA_DISTRIBUTION_ID: {
            "Type": "AWS::CloudFront::Distribution",
            "Properties": {
                "DistributionConfig": {
                    "Enabled": True,
                    "Comment": f"{name}: HLS outputs for signed viewers",
                    "HttpVersion": "http2and3",
                    "IPV6Enabled": True,
                    "PriceClass": "PriceClass_100",
                    "Origins": [
                        {
                            "Id": MEDIA_ORIGIN,
                            "DomainName": {"Fn::GetAtt": [MEDIA_BUCKET_ID, "RegionalDomainName"]},
                            # Empty with OAC: the legacy origin access identity is not used.
                            "S3OriginConfig": {"OriginAccessIdentity": ""},
                            "OriginAccessControlId": {"Fn::GetAtt": [MEDIA_OAC_ID, "Id"]},
                        }
                    ],
                    "DefaultCacheBehavior": _media_behaviour(None),
                    "CacheBehaviors": [_media_behaviour("outputs/*")],
                }
            },
        },
        MEDIA_BUCKET_POLICY_ID: {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": MEDIA_BUCKET_ID},
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "OnlyTheDistributionReadsOutputs",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudfront.amazonaws.com"},
                            "Action": "s3:GetObject",
                            "Resource": {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::${{{MEDIA_BUCKET_ID}}}/outputs/*"},
                            "Condition": {"StringEquals": {"AWS:SourceArn": {"Fn::Sub": distribution_arn}}},
                        }
                    ],
                },
            },
        },
    }


def vod_playback_environment(naming: Naming) -> dict[str, Any]:
    """What vod's API signs playback cookies with on AWS: the distribution's URL, the public key's id
    (CloudFront's Key-Pair-Id) and the SSM SecureString holding the private key."""
    private_key_parameter, _ = media_signing_parameters(naming)
    return {
        "VOD_MEDIA_BASE_URL": {"Fn::Sub": f"https://${{{MEDIA_DISTRIBUTION_ID}.DomainName}}"},
        "VOD_MEDIA_KEY_PAIR_ID": {"Ref": MEDIA_PUBLIC_KEY_ID},
        "VOD_MEDIA_SIGNING_KEY_PARAMETER": private_key_parameter,
    }


# -- fulfillment: the carrier lists' bucket -------------------------------------------------------
CARRIER_LISTS_BUCKET_ID = "CarrierListsBucket"


# -- vod's live shows: IVS's events and recordings ---------------------------------------------------

LIVE_EVENTS_QUEUE_ID = "LiveEventsQueue"
LIVE_EVENTS_DLQ_ID = "LiveEventsDlq"
LIVE_EVENTS_RULE_ID = "LiveChannelStateChangeRule"
LIVE_EVENTS_POLICY_ID = "LiveEventsQueuePolicy"
LIVE_RECORDING_ID = "LiveRecordingConfiguration"


def live_channel_prefix(naming: Naming) -> str:
    """vod names each show's IVS channel shop-<stage>-<show id> (chalicelib.live.channel_name)."""
    return f"shop-{naming.stage}-"


def vod_live_resources(naming: Naming) -> Resources:
    """IVS's stream and recording state changes of this stage's channels reach vod through their own
    queue (+ DLQ), by a rule on the default bus, where IVS puts them (as MediaConvert's job events reach
    the transcode-jobs queue: one queue per kind of outside event, each with its own parser). The
    recording configuration records every show's channel to the media bucket (AWS only)."""
    queue = naming.queue("vod", "live-events")
    return {
        LIVE_EVENTS_DLQ_ID: {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": naming.dlq("vod", "live-events"), "MessageRetentionPeriod": DLQ_RETENTION_SECONDS},
        },
        LIVE_EVENTS_QUEUE_ID: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": queue,
                "VisibilityTimeout": 30,
                # IVS's events come unordered: an end before its start is retried until the start came.
                "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [LIVE_EVENTS_DLQ_ID, "Arn"]}, "maxReceiveCount": 10},
            },
        },
        LIVE_EVENTS_RULE_ID: {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": f"{queue}-state-change",
                "EventBusName": DEFAULT_BUS,
                "EventPattern": {
                    "source": ["aws.ivs"],
                    "detail-type": ["IVS Stream State Change", "IVS Recording State Change"],
                    "detail": {"channel_name": [{"prefix": live_channel_prefix(naming)}]},
                },
                "State": "ENABLED",
                "Targets": [{"Id": TARGET_ID, "Arn": {"Fn::GetAtt": [LIVE_EVENTS_QUEUE_ID, "Arn"]}}],
            },
        },
        LIVE_EVENTS_POLICY_ID: {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": LIVE_EVENTS_QUEUE_ID}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": POLICY_SID,
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": {"Fn::GetAtt": [LIVE_EVENTS_QUEUE_ID, "Arn"]},
                            "Condition": {"ArnEquals": {"aws:SourceArn": [{"Fn::GetAtt": [LIVE_EVENTS_RULE_ID, "Arn"]}]}},
                        }
                    ],
                },
            },
        },
        LIVE_RECORDING_ID: {
            "Type": "AWS::IVS::RecordingConfiguration",
            "Properties": {
                "Name": f"{naming.prefix}-{naming.stage}-vod-live",
                "DestinationConfiguration": {"S3": {"BucketName": {"Ref": MEDIA_BUCKET_ID}}},
                # One thumbnail a minute; the first is the recording's poster.
                "ThumbnailConfiguration": {"RecordingMode": "INTERVAL", "TargetIntervalSeconds": 60},
            },
        },
    }


def fulfillment_resources(naming: Naming) -> Resources:
    """The bucket of the day's carrier CSV (Yamato B2) for carriers without an API: customers' names and
    addresses, so private and encrypted, and kept when the stack goes (they are shipping records)."""
    return {
        CARRIER_LISTS_BUCKET_ID: {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketName": naming.bucket("fulfillment", "carrier-lists"),
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
            },
        }
    }


# Resources a service has beyond its table and subscriptions, by service.
def vod_own_resources(naming: Naming) -> Resources:
    return {**vod_resources(naming), **vod_live_resources(naming)}


SERVICE_OWN_RESOURCES = {"notify": notify_resources, "vod": vod_own_resources, "fulfillment": fulfillment_resources}


def service_resources(topology: Topology, service: ServiceSpec, naming: Naming) -> Resources:
    """One service's table and, per subscription, its queue, DLQ, rules and queue policy; and what it
    owns besides (SERVICE_OWN_RESOURCES)."""
    resources: Resources = {TABLE_ID: table_resource(service, naming)}
    for subscription in service.subscriptions:
        resources.update(subscription_resources(topology, service, subscription, naming))
    own = SERVICE_OWN_RESOURCES.get(service.name)
    if own:
        resources.update(own(naming))
    return resources


@dataclass(frozen=True)
class Model:
    """Every resource of one stage, grouped by the stack that owns it on AWS."""

    platform: Resources
    services: dict[str, Resources]


def model(topology: Topology, naming: Naming) -> Model:
    return Model(
        platform=platform_resources(naming),
        services={service.name: service_resources(topology, service, naming) for service in topology.services},
    )


@dataclass(frozen=True)
class LocalOverrides:
    """The only ways a stage outside AWS may differ from the model, each named here.

    `visibility_timeout_seconds` replaces every subscription queue's visibility timeout: the
    embedded stack shortens it so a failed record comes back while someone watches, and tests stay
    short. The DLQs keep theirs: nothing consumes them.
    """

    visibility_timeout_seconds: int | None = None

    def applied_to(self, resources: Resources) -> Resources:
        changed = copy.deepcopy(resources)
        if self.visibility_timeout_seconds is None:
            return changed
        for resource in changed.values():
            # The queues subscribers consume are the ones with a redrive policy (to their DLQ).
            if resource["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in resource["Properties"]:
                resource["Properties"]["VisibilityTimeout"] = self.visibility_timeout_seconds
        return changed


NO_OVERRIDES = LocalOverrides()
"""The model as AWS gets it."""
