"""The storefront on AWS: web/'s built files in a private bucket, and one CloudFront distribution in front
of them and of every service's REST API, so the page calls `/api/<service>/…` on its own origin.

    storefront_template(stage)   the stack `shop-<stage>-storefront` (deploy/web.py deploys it)
    page_config(outputs)         /config.json for the page, from the stage's stack outputs
    content_security_policy(c)   the page's Content-Security-Policy, from that same config

The distribution:
- default behaviour → the bucket (Origin Access Control; the bucket policy lets this distribution alone
  read it). A viewer-request function gives the page's History API paths their app's index.html: an
  extension-less path under /console is the console's, any other the storefront's. Answering S3's
  403/404 with index.html instead (custom error responses) would turn the APIs' own 403s and 404s into
  the storefront's page too, since custom error responses apply to every behaviour.
- `/api/<service>/*` → that service's REST API (its host and stage imported from its stack's exports),
  the prefix stripped by a viewer-request function, the REST API's stage as the origin path. Nothing is
  cached (CachingDisabled), and every viewer header but Host reaches the API (AllViewerExceptHostHeader:
  API Gateway routes by its own Host; Authorization, Idempotency-Key and If-Match go through, as an origin
  request policy that forwards all viewer headers includes Authorization, which it cannot name alone).
- one response headers policy on every behaviour: HSTS, nosniff, DENY framing, a referrer policy and the
  Content-Security-Policy of the stage's config (`content_security_policy`).

Optional aliases and an ACM certificate (us-east-1) give it the shop's own domain (docs/deploy.md: the
playback cookies need the media distribution on a sibling subdomain of it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from policies import SERVICES
from templates import api_exports, user_pool_exports, vod_exports

from shop_eventing.topology import Naming
from shop_infra.resources import API_SCOPE, STOREFRONT_CALLBACK_PATHS

BUCKET_ID = "SiteBucket"
BUCKET_POLICY_ID = "SiteBucketPolicy"
OAC_ID = "SiteOriginAccessControl"
DISTRIBUTION_ID = "SiteDistribution"
APP_PATHS_FUNCTION_ID = "AppPathsFunction"
API_PREFIX_FUNCTION_ID = "ApiPrefixFunction"
HEADERS_POLICY_ID = "SecurityHeadersPolicy"
ALIASES_PARAMETER = "Aliases"
CERTIFICATE_PARAMETER = "CertificateArn"
HAS_CUSTOM_DOMAIN = "HasCustomDomain"
SITE_ORIGIN = "site-bucket"
# The outputs deploy/web.py reads.
BUCKET_OUTPUT = "BucketName"
DISTRIBUTION_OUTPUT = "DistributionId"
URL_OUTPUT = "Url"

# CloudFront's managed policies, by id.
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"]
FUNCTION_RUNTIME = "cloudfront-js-2.0"
# CloudFront refuses a Content-Security-Policy longer than this in a response headers policy.
CSP_MAX_LENGTH = 1783
HSTS_SECONDS = 2 * 365 * 24 * 3600
# IVS serves live shows' playlists and segments from its own hosts (vod's live playback_url), which
# hls.js fetches and plays through Media Source Extensions like the videos.
LIVE_PLAYBACK_SOURCE = "https://*.live-video.net"


def stack_name(stage: str) -> str:
    return f"shop-{stage}-storefront"


def api_path(service: str) -> str:
    return f"/api/{service}"


# -- the page's config and its Content-Security-Policy -----------------------------------------------


@dataclass(frozen=True)
class StageOutputs:
    """What the page's config is made of, as the platform's and vod's stacks output it."""

    issuer: str  # platform Issuer: https://cognito-idp.<region>.amazonaws.com/<pool id>
    client_id: str  # platform UserPoolClientId
    hosted_ui_domain: str  # platform HostedUiDomain: <prefix>.auth.<region>.amazoncognito.com
    push_url: str  # vod PushUrl: wss://<api>.execute-api.<region>.amazonaws.com/<stage>
    media_domain: str  # vod MediaDomain: <distribution>.cloudfront.net
    upload_domain: str  # vod UploadDomain: <media bucket>.s3.amazonaws.com, its presigned uploads' host


def page_config(outputs: StageOutputs) -> dict[str, Any]:
    """/config.json: where the page signs in, and what it calls (the APIs on its own origin)."""
    return {
        "issuer": outputs.issuer,
        "client_id": outputs.client_id,
        "scopes": f"openid profile email {API_SCOPE}",
        "redirect_path": STOREFRONT_CALLBACK_PATHS[0],
        "logout_url": f"https://{outputs.hosted_ui_domain}/logout",
        "api": {service: api_path(service) for service in SERVICES},
        "push_url": outputs.push_url,
        "media_origin": f"https://{outputs.media_domain}",
        "upload_origin": f"https://{outputs.upload_domain}",
    }


def _origin(url: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"not an absolute URL: {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(config: Mapping[str, Any]) -> str:
    """The page's Content-Security-Policy for its config.json: its own files and APIs ('self'); the issuer
    (discovery, keys) and the hosted sign-in (token, logout) for the code flow; the push channel; the
    media origin for playlists, segments (fetched by hls.js, played from blob: through MSE) and images;
    the upload bucket (the console's presigned PUTs); IVS for live shows. No inline or foreign script,
    no framing, no plugins. The embedded stack's web edge sends the same policy for its own config."""
    media = _origin(config["media_origin"])
    uploads = [_origin(config["upload_origin"])] if config.get("upload_origin") else []
    sources = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # What the embedded stack's web edge allows, so that the page meets one policy everywhere.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", media],
        "media-src": ["'self'", "blob:", media, LIVE_PLAYBACK_SOURCE],
        "connect-src": [
            "'self'",
            _origin(config["issuer"]),
            _origin(config["logout_url"]),
            _origin(config["push_url"]),
            media,
            *uploads,
            LIVE_PLAYBACK_SOURCE,
        ],
        # hls.js transmuxes in a worker it starts from a blob: URL.
        "worker-src": ["'self'", "blob:"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{directive} {' '.join(dict.fromkeys(values))}" for directive, values in sources.items())


# The template's stand-ins for what only exists at deploy time: CloudFormation substitutes each.
_IMPORTED = {
    "SignInDomain": "HostedUiDomain",
    "PushDomain": "PushDomain",
    "MediaDomain": "MediaDomain",
    "UploadDomain": "UploadDomain",
}


def _template_csp(naming: Naming) -> dict[str, Any]:
    """content_security_policy of the config the stage's outputs will make, as an Fn::Sub of the imports."""
    placeholders = StageOutputs(
        # Only the issuer's origin is used; the pool id in its path does not matter here.
        issuer="https://cognito-idp.${AWS::Region}.amazonaws.com/",
        client_id="",
        hosted_ui_domain="${SignInDomain}",
        push_url="wss://${PushDomain}/",
        media_domain="${MediaDomain}",
        upload_domain="${UploadDomain}",
    )
    exports = {**user_pool_exports(naming), **vod_exports(naming)}
    variables = {name: {"Fn::ImportValue": exports[output]} for name, output in _IMPORTED.items()}
    return {"Fn::Sub": [content_security_policy(page_config(placeholders)), variables]}


# -- CloudFront Functions (cloudfront-js-2.0) ---------------------------------------------------------

# A path whose last segment has no dot is one of the apps' own routes (/products/X, /console/orders/Y,
# /callback): it gets its app's page. Files (/assets/x.js, /config.json) keep their path. /api/… paths
# reach this behaviour only for a service no behaviour routes: a 404, not the storefront's page.
APP_PATHS_CODE = """\
function handler(event) {
  var request = event.request;
  var uri = request.uri;
  if (uri.slice(uri.lastIndexOf('/') + 1).indexOf('.') !== -1) {
    return request;
  }
  if (uri === '/api' || uri.indexOf('/api/') === 0) {
    return { statusCode: 404, statusDescription: 'Not Found' };
  }
  if (uri === '/console' || uri.indexOf('/console/') === 0) {
    request.uri = '/console/index.html';
  } else {
    request.uri = '/index.html';
  }
  return request;
}
"""

# /api/<service>/products/X → /products/X: the service's routes are its REST API's own paths (the
# origin path adds the API's stage in front).
API_PREFIX_CODE = """\
function handler(event) {
  var request = event.request;
  var rest = request.uri.replace(/^\\/api\\/[^\\/]+/, '');
  request.uri = rest === '' ? '/' : rest;
  return request;
}
"""


def _function(naming: Naming, purpose: str, comment: str, code: str) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudFront::Function",
        "Properties": {
            "Name": f"{naming.bus}-storefront-{purpose}",
            "AutoPublish": True,
            "FunctionConfig": {"Comment": comment, "Runtime": FUNCTION_RUNTIME},
            "FunctionCode": code,
        },
    }


def _viewer_request(function_id: str) -> list[dict[str, Any]]:
    return [{"EventType": "viewer-request", "FunctionARN": {"Fn::GetAtt": [function_id, "FunctionARN"]}}]


def _api_origin(naming: Naming, service: str) -> dict[str, Any]:
    exports = api_exports(naming, service)
    return {
        "Id": f"api-{service}",
        "DomainName": {"Fn::ImportValue": exports["ApiDomain"]},
        "OriginPath": {"Fn::Join": ["", ["/", {"Fn::ImportValue": exports["ApiStage"]}]]},
        "CustomOriginConfig": {"OriginProtocolPolicy": "https-only", "OriginSSLProtocols": ["TLSv1.2"], "HTTPSPort": 443},
    }


def _api_behaviour(service: str) -> dict[str, Any]:
    return {
        "PathPattern": f"{api_path(service)}/*",
        "TargetOriginId": f"api-{service}",
        # Not redirect-to-https: a redirected POST would arrive as a GET.
        "ViewerProtocolPolicy": "https-only",
        "AllowedMethods": ALL_METHODS,
        "CachedMethods": ["GET", "HEAD"],
        "Compress": True,
        "CachePolicyId": CACHING_DISABLED,
        "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST_HEADER,
        "ResponseHeadersPolicyId": {"Ref": HEADERS_POLICY_ID},
        "FunctionAssociations": _viewer_request(API_PREFIX_FUNCTION_ID),
    }


def _security_headers(naming: Naming) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudFront::ResponseHeadersPolicy",
        "Properties": {
            "ResponseHeadersPolicyConfig": {
                "Name": f"{naming.bus}-storefront-security",
                "Comment": "the storefront's security headers and Content-Security-Policy",
                "SecurityHeadersConfig": {
                    # Not includeSubdomains: the storefront's parent domain may serve other sites.
                    "StrictTransportSecurity": {
                        "AccessControlMaxAgeSec": HSTS_SECONDS,
                        "IncludeSubdomains": False,
                        "Override": True,
                    },
                    "ContentTypeOptions": {"Override": True},
                    "FrameOptions": {"FrameOption": "DENY", "Override": True},
                    "ReferrerPolicy": {"ReferrerPolicy": "strict-origin-when-cross-origin", "Override": True},
                    "ContentSecurityPolicy": {"ContentSecurityPolicy": _template_csp(naming), "Override": True},
                },
            }
        },
    }


def storefront_template(stage: str) -> dict[str, Any]:
    naming = Naming(stage)
    distribution_arn = f"arn:${{AWS::Partition}}:cloudfront::${{AWS::AccountId}}:distribution/${{{DISTRIBUTION_ID}}}"
    bucket_arn = f"arn:${{AWS::Partition}}:s3:::${{{BUCKET_ID}}}"
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"shop storefront ({stage}): the web pages' files and one distribution for them and the APIs",
        "Parameters": {
            ALIASES_PARAMETER: {
                "Type": "CommaDelimitedList",
                "Default": "",
                "Description": "The storefront's own host names (the first is its URL); empty: CloudFront's domain",
            },
            CERTIFICATE_PARAMETER: {
                "Type": "String",
                "Default": "",
                "Description": "An ACM certificate in us-east-1 covering the aliases (required with them)",
            },
        },
        "Conditions": {HAS_CUSTOM_DOMAIN: {"Fn::Not": [{"Fn::Equals": [{"Ref": CERTIFICATE_PARAMETER}, ""]}]}},
        "Resources": {
            BUCKET_ID: {
                "Type": "AWS::S3::Bucket",
                # Rebuilt from web/ by every `make deploy-web`: nothing in it to keep.
                "Properties": {
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                    },
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True,
                        "RestrictPublicBuckets": True,
                    },
                    "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                },
            },
            OAC_ID: {
                "Type": "AWS::CloudFront::OriginAccessControl",
                "Properties": {
                    "OriginAccessControlConfig": {
                        "Name": f"{naming.bus}-storefront",
                        "Description": "the storefront's distribution reads the private site bucket",
                        "OriginAccessControlOriginType": "s3",
                        "SigningBehavior": "always",
                        "SigningProtocol": "sigv4",
                    }
                },
            },
            BUCKET_POLICY_ID: {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": {"Ref": BUCKET_ID},
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                # ListBucket too, so a missing file is S3's 404 rather than its 403.
                                "Sid": "OnlyTheDistributionReads",
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudfront.amazonaws.com"},
                                "Action": ["s3:GetObject", "s3:ListBucket"],
                                "Resource": [{"Fn::Sub": bucket_arn}, {"Fn::Sub": f"{bucket_arn}/*"}],
                                "Condition": {"StringEquals": {"AWS:SourceArn": {"Fn::Sub": distribution_arn}}},
                            }
                        ],
                    },
                },
            },
            APP_PATHS_FUNCTION_ID: _function(
                naming, "app-paths", "an app's History API path gets its index.html", APP_PATHS_CODE
            ),
            API_PREFIX_FUNCTION_ID: _function(
                naming, "api-prefix", "/api/<service>/x reaches the service's API as /x", API_PREFIX_CODE
            ),
            HEADERS_POLICY_ID: _security_headers(naming),
            DISTRIBUTION_ID: {
                "Type": "AWS::CloudFront::Distribution",
                "Properties": {
                    "DistributionConfig": {
                        "Enabled": True,
                        "Comment": f"{naming.bus} storefront: web pages and /api/<service>",
                        "HttpVersion": "http2and3",
                        "IPV6Enabled": True,
                        "PriceClass": "PriceClass_100",
                        "Aliases": {"Fn::If": [HAS_CUSTOM_DOMAIN, {"Ref": ALIASES_PARAMETER}, {"Ref": "AWS::NoValue"}]},
                        "ViewerCertificate": {
                            "Fn::If": [
                                HAS_CUSTOM_DOMAIN,
                                {
                                    "AcmCertificateArn": {"Ref": CERTIFICATE_PARAMETER},
                                    "SslSupportMethod": "sni-only",
                                    "MinimumProtocolVersion": "TLSv1.2_2021",
                                },
                                {"CloudFrontDefaultCertificate": True},
                            ]
                        },
                        "Origins": [
                            {
                                "Id": SITE_ORIGIN,
                                "DomainName": {"Fn::GetAtt": [BUCKET_ID, "RegionalDomainName"]},
                                # Empty with OAC: the legacy origin access identity is not used.
                                "S3OriginConfig": {"OriginAccessIdentity": ""},
                                "OriginAccessControlId": {"Fn::GetAtt": [OAC_ID, "Id"]},
                            },
                            *(_api_origin(naming, service) for service in SERVICES),
                        ],
                        "DefaultCacheBehavior": {
                            "TargetOriginId": SITE_ORIGIN,
                            "ViewerProtocolPolicy": "redirect-to-https",
                            "AllowedMethods": ["GET", "HEAD"],
                            "CachedMethods": ["GET", "HEAD"],
                            "Compress": True,
                            # The files' own Cache-Control decides (deploy/web.py sets it per file).
                            "CachePolicyId": CACHING_OPTIMIZED,
                            "ResponseHeadersPolicyId": {"Ref": HEADERS_POLICY_ID},
                            "FunctionAssociations": _viewer_request(APP_PATHS_FUNCTION_ID),
                        },
                        "CacheBehaviors": [_api_behaviour(service) for service in SERVICES],
                    }
                },
            },
        },
        "Outputs": {
            BUCKET_OUTPUT: {"Value": {"Ref": BUCKET_ID}},
            DISTRIBUTION_OUTPUT: {"Value": {"Ref": DISTRIBUTION_ID}},
            "DistributionDomain": {"Value": {"Fn::GetAtt": [DISTRIBUTION_ID, "DomainName"]}},
            # The origin the app client's callbacks are made of (the platform's StorefrontUrl).
            URL_OUTPUT: {
                "Value": {
                    "Fn::If": [
                        HAS_CUSTOM_DOMAIN,
                        {"Fn::Join": ["", ["https://", {"Fn::Select": [0, {"Ref": ALIASES_PARAMETER}]}]]},
                        {"Fn::Join": ["", ["https://", {"Fn::GetAtt": [DISTRIBUTION_ID, "DomainName"]}]]},
                    ]
                }
            },
        },
    }
