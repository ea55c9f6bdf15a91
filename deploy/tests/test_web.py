"""`make deploy-web` (deploy/web.py) step by step, without AWS: botocore's Stubber answers for S3,
CloudFront and CloudFormation, a fake runner stands in for npm, and a folder in tmp_path for web/dist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import stacks
from botocore.stub import ANY, Stubber
from storefront import StageOutputs, page_config

import web

OUTPUTS = StageOutputs(
    issuer="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
    client_id="4tq7example",
    hosted_ui_domain="shop-dev-123456789012.auth.eu-west-1.amazoncognito.com",
    push_url="wss://abc123.execute-api.eu-west-1.amazonaws.com/api",
    media_domain="d2media.cloudfront.net",
    upload_domain="shop-dev-vod-media.s3.amazonaws.com",
)
BUCKET = "shop-dev-storefront-sitebucket-1a2b3c"


@pytest.fixture
def said() -> list[str]:
    return []


@pytest.fixture
def deployer(said: list[str], tmp_path: Path) -> stacks.Deployer:
    # Credentials of no account: every call below is answered by a Stubber, and none may leave the process.
    session = boto3.Session(region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    return stacks.Deployer("dev", session=session, out=tmp_path / "out", say=said.append)


@pytest.fixture
def cloudfront() -> Any:
    return boto3.client("cloudfront", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")


def built(dist: Path) -> Path:
    """A web/dist as Vite lays it out: two pages, hashed assets, a file copied from public/."""
    files = {
        "index.html": "<!doctype html><script type=module src=/assets/store-3f2a9c.js></script>",
        "console/index.html": "<!doctype html><script type=module src=/assets/console-77aa01.js></script>",
        "assets/store-3f2a9c.js": "export{}",
        "assets/store-3f2a9c.js.map": "{}",
        "assets/console-77aa01.js": "export{}",
        "assets/store-b81c2d.css": "body{}",
        "favicon.ico": "ico",
        "config.json": '{"issuer": "http://127.0.0.1:9000/"}',
    }
    for name, text in files.items():
        (dist / name).parent.mkdir(parents=True, exist_ok=True)
        (dist / name).write_text(text)
    return dist


# -- content types, cache headers, the order of the uploads ---------------------------------------------


@pytest.mark.parametrize(
    ("key", "content_type", "cache_control"),
    [
        ("index.html", "text/html; charset=utf-8", "no-cache"),
        ("console/index.html", "text/html; charset=utf-8", "no-cache"),
        ("config.json", "application/json", "no-cache"),
        ("assets/store-3f2a9c.js", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"),
        ("assets/store-b81c2d.css", "text/css; charset=utf-8", "public, max-age=31536000, immutable"),
        ("assets/store-3f2a9c.js.map", "application/json", "public, max-age=31536000, immutable"),
        ("assets/logo-0c1d2e.SVG", "image/svg+xml", "public, max-age=31536000, immutable"),
        ("assets/font-9a8b7c.woff2", "font/woff2", "public, max-age=31536000, immutable"),
        ("favicon.ico", "image/x-icon", "no-cache"),
        ("LICENSE", "application/octet-stream", "no-cache"),
        ("a.b/LICENSE", "application/octet-stream", "no-cache"),
    ],
)
def test_each_file_gets_its_content_type_and_only_hashed_assets_are_cached_for_good(
    key: str, content_type: str, cache_control: str
) -> None:
    assert (web.content_type(key), web.cache_control(key)) == (content_type, cache_control)


def test_assets_go_first_the_pages_last_and_the_stages_config_replaces_the_builds(tmp_path: Path) -> None:
    config = page_config(OUTPUTS)

    plan = web.upload_plan(built(tmp_path), config)

    assert [upload.key for upload in plan] == [
        "assets/console-77aa01.js",
        "assets/store-3f2a9c.js",
        "assets/store-3f2a9c.js.map",
        "assets/store-b81c2d.css",
        "config.json",
        "favicon.ico",
        "console/index.html",
        "index.html",
    ]
    [uploaded_config] = [upload for upload in plan if upload.key == "config.json"]
    assert json.loads(uploaded_config.body) == config
    assert (uploaded_config.content_type, uploaded_config.cache_control) == ("application/json", "no-cache")


def test_a_build_without_both_pages_is_not_uploaded(tmp_path: Path) -> None:
    (built(tmp_path) / "console" / "index.html").unlink()

    with pytest.raises(stacks.DeployError, match=r"no console/index\.html"):
        web.upload_plan(tmp_path, page_config(OUTPUTS))


def test_every_file_is_put_with_its_headers_and_assets_already_there_are_skipped(
    deployer: stacks.Deployer, cloudfront: Any, tmp_path: Path
) -> None:
    plan = web.upload_plan(built(tmp_path), page_config(OUTPUTS))
    with Stubber(deployer.s3) as s3:
        s3.add_response(
            "list_objects_v2",
            {"Contents": [{"Key": "assets/store-3f2a9c.js"}], "IsTruncated": False},
            {"Bucket": BUCKET, "Prefix": "assets/"},
        )
        for upload in plan:
            if upload.key != "assets/store-3f2a9c.js":
                expected = {
                    "Bucket": BUCKET,
                    "Key": upload.key,
                    "Body": upload.body,
                    "ContentType": upload.content_type,
                    "CacheControl": upload.cache_control,
                }
                s3.add_response("put_object", {"ETag": '"etag"'}, expected)

        sent = web.WebDeployer(deployer, cloudfront=cloudfront).upload(BUCKET, plan)

        s3.assert_no_pending_responses()
    assert sent == [upload.key for upload in plan if upload.key != "assets/store-3f2a9c.js"]


def test_the_pages_and_the_config_are_invalidated(deployer: stacks.Deployer, cloudfront: Any) -> None:
    with Stubber(cloudfront) as stub:
        stub.add_response(
            "create_invalidation",
            {"Location": "https://cloudfront/x", "Invalidation": invalidation("I2J0I21PCUYOIK")},
            {
                "DistributionId": "E1EXAMPLE",
                "InvalidationBatch": {
                    "Paths": {"Quantity": 3, "Items": ["/index.html", "/console/*", "/config.json"]},
                    "CallerReference": ANY,
                },
            },
        )

        assert web.WebDeployer(deployer, cloudfront=cloudfront).invalidate("E1EXAMPLE") == "I2J0I21PCUYOIK"


def invalidation(identifier: str) -> dict[str, Any]:
    return {
        "Id": identifier,
        "Status": "InProgress",
        "CreateTime": "2026-11-29T00:00:00Z",
        "InvalidationBatch": {"Paths": {"Quantity": 1, "Items": ["/index.html"]}, "CallerReference": "r"},
    }


# -- the build, the stage's outputs, the stacks ------------------------------------------------------------


def test_web_is_built_from_its_lock_with_npm_ci_then_the_build(tmp_path: Path) -> None:
    ran: list[tuple[list[str], Path]] = []
    (tmp_path / "package-lock.json").write_text("{}")

    dist = web.build(tmp_path, lambda command, cwd: ran.append((command, cwd)))

    assert ran == [(["npm", "ci"], tmp_path), (["npm", "run", "build"], tmp_path)]
    assert dist == tmp_path / "dist"


def test_web_without_a_lock_is_not_built(tmp_path: Path) -> None:
    with pytest.raises(stacks.DeployError, match=r"no package-lock\.json"):
        web.build(tmp_path, lambda command, cwd: pytest.fail("nothing may run"))


def test_the_pages_config_comes_from_the_platforms_and_vods_outputs() -> None:
    platform = {"Issuer": OUTPUTS.issuer, "UserPoolClientId": OUTPUTS.client_id, "HostedUiDomain": OUTPUTS.hosted_ui_domain}
    vod = {
        "PushUrl": OUTPUTS.push_url,
        "MediaDomain": OUTPUTS.media_domain,
        "UploadDomain": OUTPUTS.upload_domain,
        "TableName": "shop-dev-vod",
    }

    assert web.stage_outputs(platform, vod) == OUTPUTS
    with pytest.raises(stacks.DeployError, match="platform HostedUiDomain, vod MediaDomain, vod UploadDomain"):
        web.stage_outputs({**platform, "HostedUiDomain": ""}, {"PushUrl": OUTPUTS.push_url})


def test_aliases_need_their_certificate(deployer: stacks.Deployer, cloudfront: Any) -> None:
    def parameters(environ: dict[str, str]) -> dict[str, str | None]:
        return web.WebDeployer(deployer, cloudfront=cloudfront, environ=environ).storefront_parameters()

    assert parameters({}) == {"Aliases": None, "CertificateArn": None}
    certificate = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
    both = {"SHOP_WEB_ALIASES": "shop.example.com", "SHOP_WEB_CERTIFICATE_ARN": certificate}
    assert parameters(both) == {"Aliases": "shop.example.com", "CertificateArn": certificate}
    with pytest.raises(stacks.DeployError, match="set both"):
        parameters({"SHOP_WEB_ALIASES": "shop.example.com"})


def platform_described(storefront_url: str) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackName": "shop-dev-platform",
                "CreationTime": "2026-11-29T00:00:00Z",
                "StackStatus": "UPDATE_COMPLETE",
                "Parameters": [{"ParameterKey": "StorefrontUrl", "ParameterValue": storefront_url}],
            }
        ]
    }


def test_the_platforms_client_gets_the_storefronts_url_on_its_current_template(
    deployer: stacks.Deployer, cloudfront: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = {"Resources": {"EventBus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "shop-dev"}}}}
    deployed: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    monkeypatch.setattr(
        deployer,
        "deploy_stack",
        lambda stack, template, **kw: deployed.append((stack, template, kw)) or stacks.Outcome(stack, "updated"),
    )
    with Stubber(deployer.cfn) as cfn:
        cfn.add_response("describe_stacks", platform_described(""), {"StackName": "shop-dev-platform"})
        cfn.add_response(
            "get_template", {"TemplateBody": json.dumps(live)}, {"StackName": "shop-dev-platform", "TemplateStage": "Original"}
        )
        cfn.add_response(
            "describe_stacks", platform_described("https://d1site.cloudfront.net"), {"StackName": "shop-dev-platform"}
        )

        site = web.WebDeployer(deployer, cloudfront=cloudfront)
        first = site.point_sign_in_at("https://d1site.cloudfront.net")
        again = site.point_sign_in_at("https://d1site.cloudfront.net")

    assert (first.status, again.status) == ("updated", "unchanged")
    assert deployed == [("shop-dev-platform", live, {"parameters": {"StorefrontUrl": "https://d1site.cloudfront.net"}})]


def test_deploy_web_reads_builds_deploys_points_sign_in_uploads_and_invalidates_in_that_order(
    deployer: stacks.Deployer, cloudfront: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "package-lock.json").write_text("{}")
    site = web.WebDeployer(deployer, cloudfront=cloudfront, web=tmp_path, run=lambda command, cwd: built(tmp_path / "dist"))
    steps: list[str] = []
    outputs = {"BucketName": BUCKET, "DistributionId": "E1EXAMPLE", "Url": "https://d1site.cloudfront.net"}
    monkeypatch.setattr(site, "read_stage", lambda: steps.append("read") or OUTPUTS)
    monkeypatch.setattr(
        site,
        "storefront_stack",
        lambda execute: steps.append(f"stack {execute}") or stacks.Outcome("shop-dev-storefront", "created"),
    )
    monkeypatch.setattr(deployer, "outputs", lambda stack: outputs)
    monkeypatch.setattr(site, "point_sign_in_at", lambda url: steps.append(f"sign-in {url}") or stacks.Outcome("p", "updated"))
    monkeypatch.setattr(site, "upload", lambda bucket, plan: steps.append(f"upload {bucket} {len(plan)}") or [])
    monkeypatch.setattr(site, "invalidate", lambda distribution: steps.append(f"invalidate {distribution}") or "I1")

    site.deploy()
    reviewed = len(steps)
    site.deploy(execute=False)

    assert steps[:reviewed] == [
        "read",
        "stack True",
        "sign-in https://d1site.cloudfront.net",
        f"upload {BUCKET} 8",
        "invalidate E1EXAMPLE",
    ]
    # --no-execute: the change set only; no file, no sign-in change.
    assert steps[reviewed:] == ["read", "stack False"]


def test_deploy_web_refuses_while_a_service_is_missing(
    deployer: stacks.Deployer, cloudfront: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        deployer, "describe", lambda stack: None if stack == "shop-dev-notify" else {"StackStatus": "CREATE_COMPLETE"}
    )

    with pytest.raises(stacks.DeployError, match="services not deployed on stage dev: notify"):
        web.WebDeployer(deployer, cloudfront=cloudfront).read_stage()


def test_destroying_the_storefront_empties_its_bucket_first(deployer: stacks.Deployer, cloudfront: Any) -> None:
    with Stubber(deployer.s3) as s3:
        s3.add_response(
            "list_objects_v2",
            {"Contents": [{"Key": "index.html"}, {"Key": "assets/a-1.js"}], "IsTruncated": False},
            {"Bucket": BUCKET},
        )
        s3.add_response(
            "delete_objects",
            {"Deleted": []},
            {"Bucket": BUCKET, "Delete": {"Objects": [{"Key": "index.html"}, {"Key": "assets/a-1.js"}], "Quiet": True}},
        )

        assert web.WebDeployer(deployer, cloudfront=cloudfront).empty(BUCKET) == 2
        s3.assert_no_pending_responses()
