"""Slow: packages one service for real (chalice package + merge template), lints it, imports it in a bare venv.

Run alone with `.venv/bin/python -m pytest deploy/tests -m packaging` (≈10 s per service once the
bare Lambda-like venv is cached in the output folder; the first run creates it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import package
import pytest

from shop_contracts import TOPOLOGY

pytestmark = pytest.mark.packaging

SERVICE = os.environ.get("SHOP_PACKAGE_SERVICE", "catalog")
OUT = Path(os.environ.get("SHOP_PACKAGE_OUT", package.ROOT / "build" / "package-test"))


@pytest.fixture(scope="module")
def packaged() -> package.Result:
    OUT.mkdir(parents=True, exist_ok=True)
    wheels = package.build_wheels(OUT)
    return package.package_service(SERVICE, "dev", OUT, wheels, package.lambda_venv(OUT))


def test_cfn_lint_passes(packaged: package.Result) -> None:
    assert packaged.lint_ok, packaged.lint_output


def test_app_imports_in_a_bare_lambda_like_venv(packaged: package.Result) -> None:
    assert packaged.import_ok, packaged.import_output


def test_every_sqs_event_source_reports_batch_item_failures(packaged: package.Result) -> None:
    sam = json.loads((OUT / SERVICE / "sam.json").read_text())
    sources = 0
    for resource in sam["Resources"].values():
        for event in (resource.get("Properties", {}).get("Events") or {}).values():
            if event["Type"] == "SQS":
                sources += 1
                assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
                assert "Fn::GetAtt" not in event["Properties"]["Queue"]  # DESIGN §8
    assert sources == len(TOPOLOGY.service(SERVICE).subscriptions)
    assert packaged.sqs_sources_without_partial_batch == []


def test_shared_packages_are_inside_the_deployment_package(packaged: package.Result) -> None:
    import zipfile

    names = zipfile.ZipFile(OUT / SERVICE / "deployment.zip").namelist()
    assert "shop_eventing/__init__.py" in names
    assert "shop_contracts/__init__.py" in names


def test_the_relay_reads_the_table_stream_from_the_template(packaged: package.Result) -> None:
    sam = json.loads((OUT / SERVICE / "sam.json").read_text())
    streams = [
        event["Properties"]["Stream"]
        for resource in sam["Resources"].values()
        for event in (resource.get("Properties", {}).get("Events") or {}).values()
        if event["Type"] == "DynamoDB"
    ]
    expected = 1 if TOPOLOGY.service(SERVICE).publishes else 0
    assert streams == [{"Fn::GetAtt": ["ShopTable", "StreamArn"]}] * expected
