"""Slow: packages one service for real (chalice package + merge template), lints it, imports it in a bare venv.

Run alone with `.venv/bin/python -m pytest deploy/tests -m packaging` (≈10 s per service once the
bare Lambda-like venv is cached in the output folder; the first run creates it).
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
                # Chalice writes the queue's ARN itself; a merged Fn::GetAtt would deep-merge into its value
                # and make an invalid one.
                assert "Fn::GetAtt" not in event["Properties"]["Queue"]
    assert sources == len(TOPOLOGY.service(SERVICE).subscriptions)
    assert packaged.sqs_sources_without_partial_batch == []


def test_shared_packages_are_inside_the_deployment_package(packaged: package.Result) -> None:
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


# Planted defects: each check above must fail on the defect it exists to catch.


def sam_with(mutate: Callable[[dict[str, Any]], None], tmp_path: Path) -> Path:
    sam = json.loads((OUT / SERVICE / "sam.json").read_text())
    mutate(sam)
    path = tmp_path / "sam.json"
    path.write_text(json.dumps(sam, indent=2))
    return path


def test_cfn_lint_fails_on_an_invalid_property(packaged: package.Result, tmp_path: Path) -> None:
    def bad_billing_mode(sam: dict[str, Any]) -> None:
        sam["Resources"]["ShopTable"]["Properties"]["BillingMode"] = "FREE_OF_CHARGE"

    ok, output = package.cfn_lint(sam_with(bad_billing_mode, tmp_path))

    assert not ok
    assert "E3030" in output and "FREE_OF_CHARGE" in output


def test_a_reference_to_a_missing_resource_is_caught(packaged: package.Result) -> None:
    sam = json.loads((OUT / SERVICE / "sam.json").read_text())
    for resource in sam["Resources"].values():
        for event in (resource.get("Properties", {}).get("Events") or {}).values():
            if event["Type"] == "DynamoDB":
                event["Properties"]["Stream"] = {"Fn::GetAtt": ["NoSuchTable", "StreamArn"]}

    assert package.dangling_references(sam) == ["NoSuchTable"]


def test_an_sqs_source_without_partial_batch_responses_is_caught(packaged: package.Result) -> None:
    sam = json.loads((OUT / SERVICE / "sam.json").read_text())
    function, event = next(
        (logical_id, event_id)
        for logical_id, resource in sam["Resources"].items()
        for event_id, event in (resource.get("Properties", {}).get("Events") or {}).items()
        if event["Type"] == "SQS"
    )
    del sam["Resources"][function]["Properties"]["Events"][event]["Properties"]["FunctionResponseTypes"]

    assert package.sqs_event_sources(sam)[1] == [f"{function}.{event}"]


def test_the_import_check_fails_when_a_shared_package_is_missing(packaged: package.Result, tmp_path: Path) -> None:
    broken = tmp_path / "deployment.zip"
    with zipfile.ZipFile(OUT / SERVICE / "deployment.zip") as source, zipfile.ZipFile(broken, "w") as target:
        for item in source.infolist():
            if not item.filename.startswith("shop_eventing/"):
                target.writestr(item, source.read(item))

    overlay = package.import_overlay(SERVICE, OUT, packaged.architecture)
    ok, output = package.import_check(SERVICE, "dev", broken, package.lambda_venv(OUT), overlay)

    assert not ok
    assert "No module named 'shop_eventing'" in output


def test_every_function_logs_to_the_group_its_policy_names(packaged: package.Result) -> None:
    sam = json.loads((OUT / SERVICE / "sam.json").read_text())
    functions = {k: r for k, r in sam["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    group = sam["Resources"]["ServiceLogGroup"]["Properties"]

    assert [f["Properties"].get("LoggingConfig") for f in functions.values()] == [{"LogGroup": {"Ref": "ServiceLogGroup"}}] * len(
        functions
    )
    assert group["RetentionInDays"] > 0
    logs = next(s for s in package.policy(SERVICE, "dev")["Statement"] if s["Sid"] == "Logs")
    assert logs["Resource"] == [
        f"arn:aws:logs:*:*:log-group:{group['LogGroupName']}",
        f"arn:aws:logs:*:*:log-group:{group['LogGroupName']}:*",
    ]


def test_every_function_runs_on_python_3_13_with_the_locked_dependencies(packaged: package.Result) -> None:
    """The Lambda runtime is the interpreter the project develops on, and the package holds exactly the
    versions its lock holds (the requirements/<name>.txt its services/<s>/requirements.txt includes),
    but what the runtime provides."""
    import re

    sam = json.loads((OUT / SERVICE / "sam.json").read_text())
    functions = [r for r in sam["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    assert functions
    assert {f["Properties"]["Runtime"] for f in functions} == {"python3.13"}
    lock = re.search(
        r"^-r ../../requirements/(\S+)$", (package.ROOT / "services" / SERVICE / "requirements.txt").read_text(), re.M
    )
    assert lock is not None
    locked = dict(re.findall(r"^([a-z0-9_-]+)==([^ \\]+)", (package.ROOT / "requirements" / lock[1]).read_text(), re.M))
    shipped = {
        m.group(1).lower().replace("_", "-"): m.group(2)
        for name in zipfile.ZipFile(OUT / SERVICE / "deployment.zip").namelist()
        if (m := re.fullmatch(r"([A-Za-z0-9_.]+)-([0-9][^-/]*)\.dist-info/METADATA", name))
    }
    expected = {name: version for name, version in locked.items() if name not in package.RUNTIME_PROVIDED}
    assert {name: shipped.get(name) for name in locked} == {**expected, **dict.fromkeys(package.RUNTIME_PROVIDED & set(locked))}
    assert "aws-xray-sdk" in shipped, "powertools' Tracer needs the X-Ray SDK in the package"


def functions_of(sam: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in sam["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}


def test_every_function_has_the_memory_its_config_names(packaged: package.Result) -> None:
    import templates

    sam = json.loads((OUT / SERVICE / "sam.json").read_text())
    config = templates.chalice_config(SERVICE)
    functions = functions_of(sam)
    assert functions
    for logical_id, resource in functions.items():
        name = templates.function_name_of(logical_id, resource)
        assert name in config["lambda_functions"], f"{name} is not sized in services/{SERVICE}/.chalice/config.json"
        assert resource["Properties"]["MemorySize"] == templates.function_memory_mb(config, "dev", name), name


def test_every_function_runs_on_arm64_and_the_zip_holds_no_other_machine_code(packaged: package.Result) -> None:
    sam = json.loads((OUT / SERVICE / "sam.json").read_text())

    assert {logical_id: r["Properties"]["Architectures"] for logical_id, r in functions_of(sam).items()} == {
        logical_id: ["arm64"] for logical_id in functions_of(sam)
    }
    assert packaged.architecture == "arm64"
    # pydantic-core at least; every one an AArch64 ELF, every tagged extension cpython-313-aarch64.
    assert any("pydantic_core" in name for name in packaged.native_files)
    assert packaged.native_problems == []
    names = zipfile.ZipFile(OUT / SERVICE / "deployment.zip").namelist()
    assert not [n for n in names if "x86_64" in n or "x86-64" in n]


def test_the_native_check_refuses_an_x86_64_extension_in_an_arm64_zip(packaged: package.Result, tmp_path: Path) -> None:
    overlay = package.import_overlay(SERVICE, OUT, packaged.architecture)
    assert overlay is not None, "the machine running the tests is arm64: the planted module would be native"
    x86 = next(p for p in (overlay / "pydantic_core").glob("*.so"))
    planted = tmp_path / "deployment.zip"
    with zipfile.ZipFile(OUT / SERVICE / "deployment.zip") as source, zipfile.ZipFile(planted, "w") as target:
        for item in source.infolist():
            if not item.filename.startswith("pydantic_core/_pydantic_core"):
                target.writestr(item, source.read(item))
        # Renamed as an aarch64 module: the ELF header, not the name, gives it away.
        target.write(x86, "pydantic_core/_pydantic_core.cpython-313-aarch64-linux-gnu.so")
        target.write(x86, "pydantic_core/_pydantic_core.cpython-312-aarch64-linux-gnu.so")

    _, problems = package.native_check(planted, "arm64")

    assert problems == [
        "pydantic_core/_pydantic_core.cpython-313-aarch64-linux-gnu.so: built for x86_64, not arm64",
        "pydantic_core/_pydantic_core.cpython-312-aarch64-linux-gnu.so: built for x86_64, not arm64",
        "pydantic_core/_pydantic_core.cpython-312-aarch64-linux-gnu.so: an extension for cpython-312-aarch64",
    ]


def test_the_zip_leaves_out_what_lambda_never_reads(packaged: package.Result) -> None:
    names = zipfile.ZipFile(OUT / SERVICE / "deployment.zip").namelist()

    assert not [n for n in names if n.endswith((".pyc", ".pyi")) or "__pycache__/" in n or n.endswith(".dist-info/RECORD")]
    assert not [n for n in names if n.startswith(("tests/", "boto3/", "botocore/", "bin/"))]
