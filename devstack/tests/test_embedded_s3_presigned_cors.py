"""A browser PUTs a file to a presigned URL of a bucket whose CORS rules admit its origin (the console's
video upload): the preflight is answered from the rules without a signature check, as S3 answers it
(moto alone refuses it, 403), and the PUT itself is still checked and lands."""

from __future__ import annotations

import boto3
import urllib3

from shop_devstack.testing import embedded_aws

ORIGIN = "http://127.0.0.1:5110"
PREFLIGHT = {"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type"}


def test_a_browser_may_put_to_a_presigned_url_from_an_allowed_origin_only() -> None:
    with embedded_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="uploads")
        rule = {"AllowedOrigins": [ORIGIN], "AllowedMethods": ["PUT"], "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"]}
        s3.put_bucket_cors(Bucket="uploads", CORSConfiguration={"CORSRules": [rule]})
        url = s3.generate_presigned_url("put_object", Params={"Bucket": "uploads", "Key": "a/source", "ContentType": "video/mp4"})

        allowed = urllib3.request("OPTIONS", url, headers={"Origin": ORIGIN, **PREFLIGHT})
        assert allowed.status == 200, allowed.data
        assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "PUT" in allowed.headers["Access-Control-Allow-Methods"]
        refused = urllib3.request("OPTIONS", url, headers={"Origin": "http://elsewhere.example", **PREFLIGHT})
        assert refused.status == 403

        put = urllib3.request("PUT", url, body=b"frames", headers={"Origin": ORIGIN, "Content-Type": "video/mp4"})
        assert put.status == 200
        assert put.headers["Access-Control-Expose-Headers"] == "ETag"
        tampered = urllib3.request("PUT", url.replace("a%2Fsource", "b").replace("/a/source", "/b"), body=b"x")
        assert tampered.status == 403
        assert s3.get_object(Bucket="uploads", Key="a/source")["Body"].read() == b"frames"
