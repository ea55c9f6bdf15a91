"""Package every service for AWS and prove each package deployable, without an AWS account.

    .venv/bin/python deploy/package.py [--service S ...] [--stage dev] [--out build/]

Per service:
1. vendor: wheels of ./eventing and ./contracts (`pip wheel --no-deps`) are unpacked into
   services/<s>/vendor/. Chalice copies vendor/ verbatim into the deployment package (it does not
   install .whl files found there), so the unpacked wheel (package + dist-info) is what Lambda needs;
   the wheels themselves stay in <out>/wheels/.
2. `chalice package --stage S` once to learn Chalice's logical ids, then the merge template
   (deploy/templates.py, from the topology) is written to <out>/merge/<s>.json and
   `chalice package --stage S --merge-template <out>/merge/<s>.json <out>/<s>` builds the real one.
   SHOP_TABLE_STREAM_ARN is a placeholder at package time; the merge template replaces the relay's
   Stream with Fn::GetAtt [ShopTable, StreamArn], and the check below fails if the placeholder survives.
3. cfn-lint <out>/<s>/sam.json (and <out>/platform.json, the shared bus + archive).
4. import check: <out>/<s>/deployment.zip unzipped, imported by a bare python3.13 venv holding only
   boto3 (Lambda's runtime), created once in <out>/.lambda-venv.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from policies import ROOT, SERVICES, policy, policy_path, render
from templates import merge_template, platform_template

from shop_eventing.topology import Naming

VENV_BIN = Path(sys.executable).parent
SHARED_PACKAGES = ("eventing", "contracts")
STREAM_PLACEHOLDER = "arn:aws:dynamodb:us-east-1:000000000000:table/{table}/stream/PACKAGE-TIME-PLACEHOLDER"
# The interpreter behind this venv is the 3.13 the Makefile chose: the Lambda runtime the packages target.
LAMBDA_PYTHON = os.environ.get("LAMBDA_PYTHON") or str(Path(sys.base_prefix) / "bin" / "python3.13")
# cfn-lint findings we accept, with the reason: none needed so far (cfn-lint 1.58 reports nothing).
CFN_LINT_IGNORED: dict[str, str] = {}


@dataclass
class Result:
    service: str
    seconds: float = 0.0
    lint_ok: bool = False
    lint_output: str = ""
    import_ok: bool = False
    import_output: str = ""
    sqs_sources: list[str] = field(default_factory=list)
    sqs_sources_without_partial_batch: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lint_ok and self.import_ok and not self.sqs_sources_without_partial_batch


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)


def checked(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    proc = run(cmd, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def build_wheels(out: Path) -> list[Path]:
    """Wheels of the shared packages, built from a copy so no build/ litters their source folders."""
    wheels_dir = out / "wheels"
    shutil.rmtree(wheels_dir, ignore_errors=True)
    wheels_dir.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="shop-wheels-") as tmp:
        for name in SHARED_PACKAGES:
            src = Path(tmp) / name
            shutil.copytree(ROOT / name, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests"))
            checked([str(VENV_BIN / "python"), "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels_dir), str(src)])
    return sorted(wheels_dir.glob("*.whl"))


def vendor(service: str, wheels: list[Path]) -> None:
    vendor_dir = ROOT / "services" / service / "vendor"
    shutil.rmtree(vendor_dir, ignore_errors=True)
    vendor_dir.mkdir()
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(vendor_dir)


def chalice_env(service: str, stage: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env["SHOP_STAGE"] = stage
    env["SHOP_TABLE_STREAM_ARN"] = STREAM_PLACEHOLDER.format(table=Naming(stage).table(service))
    return env


def chalice_package(service: str, stage: str, target: Path, merge: Path | None = None) -> dict[str, Any]:
    shutil.rmtree(target, ignore_errors=True)
    cmd = [str(VENV_BIN / "chalice"), "package", "--stage", stage]
    if merge is not None:
        cmd += ["--merge-template", str(merge)]
    checked([*cmd, str(target)], cwd=ROOT / "services" / service, env=chalice_env(service, stage))
    return dict(json.loads((target / "sam.json").read_text()))


def cfn_lint(template: Path) -> tuple[bool, str]:
    cmd = [str(VENV_BIN / "cfn-lint"), str(template)]
    for rule in CFN_LINT_IGNORED:
        cmd += ["--ignore-checks", rule]
    proc = run(cmd)
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


def dangling_references(template: dict[str, Any]) -> list[str]:
    """Ref/Fn::GetAtt targets missing from Resources (cfn-lint misses them inside SAM event properties)."""
    known = set(template.get("Resources", {})) | set(template.get("Parameters", {}))
    dangling: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                target = None
                if key == "Ref" and isinstance(value, str):
                    target = value
                elif key == "Fn::GetAtt":
                    target = value[0] if isinstance(value, list) else str(value).split(".", 1)[0]
                if target is not None and not target.startswith("AWS::") and target not in known:
                    dangling.append(target)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(template)
    return dangling


def lambda_venv(out: Path) -> Path:
    """A bare venv with only boto3, as Lambda's runtime has; created once and reused."""
    venv = out.resolve() / ".lambda-venv"
    python = venv / "bin" / "python"
    if not (venv / ".ready").exists():
        shutil.rmtree(venv, ignore_errors=True)
        checked([LAMBDA_PYTHON, "-m", "venv", str(venv)])
        checked([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "boto3"])
        (venv / ".ready").write_text("boto3\n")
    return python


def import_check(service: str, stage: str, package: Path, python: Path) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory(prefix=f"shop-import-{service}-") as tmp:
        with zipfile.ZipFile(package) as archive:
            archive.extractall(tmp)
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": tmp,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "SHOP_STAGE": stage,
            "SHOP_TABLE_STREAM_ARN": chalice_env(service, stage)["SHOP_TABLE_STREAM_ARN"],
        }
        code = "import app, sys; print('imported', app.app.app_name, 'from', app.__file__)"
        proc = run([str(python), "-s", "-c", code], cwd=tmp, env=env)
        return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


def sqs_event_sources(sam: dict[str, Any]) -> tuple[list[str], list[str]]:
    sources, missing = [], []
    for logical_id, resource in sam["Resources"].items():
        events = resource.get("Properties", {}).get("Events") or {}
        for event_id, event in events.items():
            if event.get("Type") == "SQS":
                sources.append(f"{logical_id}.{event_id}")
                if event["Properties"].get("FunctionResponseTypes") != ["ReportBatchItemFailures"]:
                    missing.append(f"{logical_id}.{event_id}")
    return sources, missing


def check_policy(service: str, stage: str) -> None:
    path = policy_path(service, stage)
    if not path.exists() or path.read_text() != render(policy(service, stage)):
        raise RuntimeError(f"{path} is missing or stale: run .venv/bin/python deploy/policies.py {stage}")
    config = json.loads((path.parent / "config.json").read_text())["stages"].get(stage, {})
    if config.get("autogen_policy") is not False or config.get("iam_policy_file") != path.name:
        raise RuntimeError(f"{path.parent}/config.json stage {stage} must set autogen_policy false, iam_policy_file {path.name}")


def package_service(service: str, stage: str, out: Path, wheels: list[Path], python: Path | None) -> Result:
    started = time.monotonic()
    result = Result(service)
    check_policy(service, stage)
    vendor(service, wheels)
    with tempfile.TemporaryDirectory(prefix=f"shop-pass1-{service}-") as tmp:
        first = chalice_package(service, stage, Path(tmp) / "out")
    merge_file = out / "merge" / f"{service}.json"
    merge_file.parent.mkdir(parents=True, exist_ok=True)
    merge_file.write_text(json.dumps(merge_template(service, stage, first), indent=2) + "\n")
    sam = chalice_package(service, stage, out / service, merge_file)
    if "PACKAGE-TIME-PLACEHOLDER" in json.dumps(sam):
        raise RuntimeError(f"{service}: the placeholder stream ARN survived the merge")
    result.sqs_sources, result.sqs_sources_without_partial_batch = sqs_event_sources(sam)
    result.lint_ok, result.lint_output = cfn_lint(out / service / "sam.json")
    dangling = dangling_references(sam)
    if dangling:
        result.lint_ok = False
        result.lint_output += f"\nreferences to resources not in the template: {sorted(set(dangling))}"
    if python is not None:
        result.import_ok, result.import_output = import_check(service, stage, out / service / "deployment.zip", python)
    else:
        result.import_ok, result.import_output = True, "skipped"
    result.seconds = time.monotonic() - started
    return result


def package_platform(stage: str, out: Path) -> tuple[bool, str]:
    path = out / "platform.json"
    path.write_text(json.dumps(platform_template(stage), indent=2) + "\n")
    return cfn_lint(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", action="append", choices=SERVICES, help="repeatable; default: every service")
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", default="build", type=Path)
    parser.add_argument("--skip-import-check", action="store_true")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    wheels = build_wheels(out)
    python = None if args.skip_import_check else lambda_venv(out)
    platform_ok, platform_output = package_platform(args.stage, out)
    print(f"platform: cfn-lint {'ok' if platform_ok else 'FAILED'} {platform_output}")
    failed = not platform_ok
    for service in args.service or SERVICES:
        result = package_service(service, args.stage, out, wheels, python)
        failed |= not result.ok
        print(
            f"{service}: {result.seconds:.1f}s cfn-lint {'ok' if result.lint_ok else 'FAILED'}; "
            f"import {'ok' if result.import_ok else 'FAILED'}; "
            f"SQS sources {len(result.sqs_sources)}, without ReportBatchItemFailures {result.sqs_sources_without_partial_batch}"
        )
        for text in (result.lint_output, result.import_output):
            if text:
                print("  " + text.replace("\n", "\n  "))
    print(f"total {time.monotonic() - started:.1f}s: {'FAILED' if failed else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
