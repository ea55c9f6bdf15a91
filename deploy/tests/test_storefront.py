"""The storefront's stack (deploy/storefront.py): its shape, its Content-Security-Policy as a function of the
page's config, and its two CloudFront Functions run under node (CloudFront's runtime is JavaScript too).

Nothing here reaches AWS; cfn-lint checks the template under `make package` (test_package.py)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import pytest
import storefront
from policies import SERVICES
from storefront import StageOutputs, content_security_policy, page_config, storefront_template

from shop_infra.drift import is_aws_only

OUTPUTS = StageOutputs(
    issuer="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
    client_id="4tq7example",
    hosted_ui_domain="shop-dev-123456789012.auth.eu-west-1.amazoncognito.com",
    push_url="wss://abc123.execute-api.eu-west-1.amazonaws.com/api",
    media_domain="d2media.cloudfront.net",
    upload_domain="shop-dev-vod-media.s3.amazonaws.com",
)


def distribution(template: dict[str, Any]) -> dict[str, Any]:
    return dict(template["Resources"]["SiteDistribution"]["Properties"]["DistributionConfig"])


def directives(csp: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in csp.split("; "))}


# -- config.json and the CSP ---------------------------------------------------------------------------


def test_the_pages_config_signs_in_at_cognito_and_calls_every_api_on_its_own_origin() -> None:
    assert page_config(OUTPUTS) == {
        "issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
        "client_id": "4tq7example",
        "scopes": "openid profile email shop-api/shop",
        "redirect_path": "/callback",
        "logout_url": "https://shop-dev-123456789012.auth.eu-west-1.amazoncognito.com/logout",
        "api": {
            "catalog": "/api/catalog",
            "vod": "/api/vod",
            "orders": "/api/orders",
            "fulfillment": "/api/fulfillment",
            "notify": "/api/notify",
        },
        "push_url": "wss://abc123.execute-api.eu-west-1.amazonaws.com/api",
        "media_origin": "https://d2media.cloudfront.net",
        "upload_origin": "https://shop-dev-vod-media.s3.amazonaws.com",
    }


def test_the_csp_lets_the_page_reach_its_issuer_push_channel_media_and_uploads_and_runs_no_inline_script() -> None:
    found = directives(content_security_policy(page_config(OUTPUTS)))

    assert found["default-src"] == found["script-src"] == ["'self'"]
    assert found["style-src"] == ["'self'", "'unsafe-inline'"]  # as the embedded stack's web edge
    assert found["connect-src"] == [
        "'self'",
        "https://cognito-idp.eu-west-1.amazonaws.com",
        "https://shop-dev-123456789012.auth.eu-west-1.amazoncognito.com",
        "wss://abc123.execute-api.eu-west-1.amazonaws.com",
        "https://d2media.cloudfront.net",
        "https://shop-dev-vod-media.s3.amazonaws.com",
        "https://*.live-video.net",
    ]
    assert found["media-src"] == ["'self'", "blob:", "https://d2media.cloudfront.net", "https://*.live-video.net"]
    assert found["img-src"] == ["'self'", "data:", "https://d2media.cloudfront.net"]
    assert found["worker-src"] == ["'self'", "blob:"]
    assert (found["object-src"], found["frame-ancestors"]) == (["'none'"], ["'none'"])
    assert not [name for name, values in found.items() if "'unsafe-eval'" in values]
    assert [name for name, values in found.items() if "data:" in values] == ["img-src"]


def test_the_csp_follows_the_config_and_names_a_shared_origin_once() -> None:
    local = {
        "issuer": "http://127.0.0.1:9000/",
        "logout_url": "http://127.0.0.1:9000/logout",
        "push_url": "ws://127.0.0.1:9100/",
        "media_origin": "http://127.0.0.1:9200",
    }

    found = directives(content_security_policy(local))

    assert found["connect-src"] == [
        "'self'",
        "http://127.0.0.1:9000",
        "ws://127.0.0.1:9100",
        "http://127.0.0.1:9200",
        "https://*.live-video.net",
    ]
    with pytest.raises(ValueError, match="not an absolute URL"):
        content_security_policy({**local, "media_origin": "/media"})


def test_the_template_csp_is_the_function_of_the_config_its_imports_make() -> None:
    """CloudFormation substitutes the imports; the result must be the CSP of the config deploy-web writes."""
    headers = storefront_template("dev")["Resources"]["SecurityHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    text, variables = headers["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"]
    imported = {
        "shop-dev-hosted-ui-domain": OUTPUTS.hosted_ui_domain,
        "shop-dev-vod-push-domain": "abc123.execute-api.eu-west-1.amazonaws.com",
        "shop-dev-vod-media-domain": OUTPUTS.media_domain,
        "shop-dev-vod-upload-domain": OUTPUTS.upload_domain,
    }
    values = {name: imported[value["Fn::ImportValue"]] for name, value in variables.items()} | {"AWS::Region": "eu-west-1"}

    resolved = re.sub(r"\$\{([^}]+)\}", lambda match: values[match[1]], text)

    assert resolved == content_security_policy(page_config(OUTPUTS))


def test_the_csp_fits_cloudfronts_limit_with_long_names() -> None:
    long = StageOutputs(
        issuer="https://cognito-idp.ap-southeast-4.amazonaws.com/ap-southeast-4_" + "x" * 40,
        client_id="c" * 40,
        hosted_ui_domain=f"shop-{'s' * 40}-123456789012.auth.ap-southeast-4.amazoncognito.com",
        push_url=f"wss://{'w' * 10}.execute-api.ap-southeast-4.amazonaws.com/api",
        media_domain=f"{'m' * 40}.cloudfront.net",
        upload_domain=f"shop-{'s' * 40}-vod-media.s3.amazonaws.com",
    )

    assert len(content_security_policy(page_config(long))) < storefront.CSP_MAX_LENGTH


# -- the template -----------------------------------------------------------------------------------------


def test_every_service_has_its_api_behaviour_to_its_own_rest_api_uncached_with_every_header_but_host() -> None:
    config = distribution(storefront_template("dev"))
    origins = {origin["Id"]: origin for origin in config["Origins"]}

    assert [b["PathPattern"] for b in config["CacheBehaviors"]] == [f"/api/{service}/*" for service in SERVICES]
    for behaviour, service in zip(config["CacheBehaviors"], SERVICES, strict=True):
        assert behaviour["TargetOriginId"] == f"api-{service}"
        assert behaviour["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # CachingDisabled
        assert behaviour["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"  # AllViewerExceptHostHeader
        assert sorted(behaviour["AllowedMethods"]) == ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
        assert behaviour["ViewerProtocolPolicy"] == "https-only"
        assert behaviour["FunctionAssociations"] == [
            {"EventType": "viewer-request", "FunctionARN": {"Fn::GetAtt": ["ApiPrefixFunction", "FunctionARN"]}}
        ]
        assert behaviour["ResponseHeadersPolicyId"] == {"Ref": "SecurityHeadersPolicy"}
        origin = origins[f"api-{service}"]
        assert origin["DomainName"] == {"Fn::ImportValue": f"shop-dev-{service}-api-domain"}
        assert origin["OriginPath"] == {"Fn::Join": ["", ["/", {"Fn::ImportValue": f"shop-dev-{service}-api-stage"}]]}
        assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"


def test_the_pages_come_from_the_private_bucket_through_origin_access_control_only() -> None:
    template = storefront_template("dev")
    resources = template["Resources"]
    config = distribution(template)

    default = config["DefaultCacheBehavior"]
    assert default["TargetOriginId"] == "site-bucket"
    assert default["FunctionAssociations"] == [
        {"EventType": "viewer-request", "FunctionARN": {"Fn::GetAtt": ["AppPathsFunction", "FunctionARN"]}}
    ]
    assert default["ResponseHeadersPolicyId"] == {"Ref": "SecurityHeadersPolicy"}
    # Custom error responses would also rewrite the APIs' own 403s and 404s into the storefront's page.
    assert "CustomErrorResponses" not in config
    [site] = [origin for origin in config["Origins"] if origin["Id"] == "site-bucket"]
    assert site["OriginAccessControlId"] == {"Fn::GetAtt": ["SiteOriginAccessControl", "Id"]}
    block = resources["SiteBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    [statement] = resources["SiteBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert statement["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"].endswith(":distribution/${SiteDistribution}")


def test_the_security_headers_are_set_on_every_response() -> None:
    headers = storefront_template("dev")["Resources"]["SecurityHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    security = headers["SecurityHeadersConfig"]

    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 365 * 24 * 3600
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert "ContentTypeOptions" in security
    assert all(setting["Override"] for setting in security.values())


def test_the_aliases_and_certificate_are_optional_and_give_the_storefront_its_url() -> None:
    template = storefront_template("dev")
    config = distribution(template)

    assert template["Parameters"]["Aliases"]["Default"] == template["Parameters"]["CertificateArn"]["Default"] == ""
    assert config["Aliases"] == {"Fn::If": ["HasCustomDomain", {"Ref": "Aliases"}, {"Ref": "AWS::NoValue"}]}
    assert config["ViewerCertificate"]["Fn::If"][2] == {"CloudFrontDefaultCertificate": True}
    assert config["ViewerCertificate"]["Fn::If"][1]["AcmCertificateArn"] == {"Ref": "CertificateArn"}
    url = template["Outputs"]["Url"]["Value"]["Fn::If"]
    assert url[1] == {"Fn::Join": ["", ["https://", {"Fn::Select": [0, {"Ref": "Aliases"}]}]]}
    assert url[2] == {"Fn::Join": ["", ["https://", {"Fn::GetAtt": ["SiteDistribution", "DomainName"]}]]}


def test_every_resource_is_aws_only_for_the_drift_check() -> None:
    """Locally the web edge serves the files and proxies /api; nothing of this stack exists on moto."""
    resources = storefront_template("dev")["Resources"]

    assert [logical_id for logical_id, r in resources.items() if not is_aws_only(r["Type"], r["Properties"])] == []


# -- the CloudFront Functions, run by node --------------------------------------------------------------

NODE = shutil.which("node")


def run_function(code: str, uris: list[str]) -> list[Any]:
    if NODE is None:
        pytest.skip("node is not installed: the CloudFront Functions' JavaScript cannot run here")
    harness = (
        code + "\nconst uris = JSON.parse(process.argv[1]);\n"
        "console.log(JSON.stringify(uris.map((uri) => handler({version: '1.0', context: {eventType: 'viewer-request'}, "
        "viewer: {ip: '192.0.2.1'}, request: {method: 'GET', uri: uri, querystring: {}, headers: {}, cookies: {}}}))));\n"
    )
    proc = subprocess.run([NODE, "-e", harness, json.dumps(uris)], capture_output=True, text=True, check=True, timeout=60)
    return list(json.loads(proc.stdout))


def test_an_apps_history_api_paths_get_its_page_and_files_keep_theirs() -> None:
    uris = [
        "/",
        "/products/TSHIRT-1",
        "/orders/01J9",
        "/callback",
        "/console",
        "/console/",
        "/console/callback",
        "/console/products/TSHIRT-1",
        "/assets/index-3f2a9c.js",
        "/console/index.html",
        "/config.json",
        "/favicon.ico",
        "/consoles/x",
    ]

    results = run_function(storefront.APP_PATHS_CODE, uris)

    assert [result["uri"] for result in results] == [
        "/index.html",
        "/index.html",
        "/index.html",
        "/index.html",
        "/console/index.html",
        "/console/index.html",
        "/console/index.html",
        "/console/index.html",
        "/assets/index-3f2a9c.js",
        "/console/index.html",
        "/config.json",
        "/favicon.ico",
        "/index.html",
    ]


def test_an_api_path_no_behaviour_routes_is_a_404_not_the_storefronts_page() -> None:
    results = run_function(storefront.APP_PATHS_CODE, ["/api/nosuch/products", "/api"])

    assert results == [{"statusCode": 404, "statusDescription": "Not Found"}] * 2


def test_the_api_prefix_is_stripped_and_the_rest_of_the_path_kept() -> None:
    results = run_function(
        storefront.API_PREFIX_CODE,
        ["/api/catalog/products/TSHIRT-1", "/api/orders/orders", "/api/vod/", "/api/notify/a/api/notify/b"],
    )

    assert [result["uri"] for result in results] == ["/products/TSHIRT-1", "/orders", "/", "/a/api/notify/b"]
