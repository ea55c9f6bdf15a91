"""Package every service for AWS and prove each package deployable, without an AWS account.

    .venv/bin/python deploy/package.py [--service S ...] [--stage dev] [--out build/]

Per service:
1. stage: the service's folder (app.py, chalicelib/, .chalice/) is copied to <out>/stage/<s>/, with
   wheels of ./eventing and ./contracts (`pip wheel --no-deps`) unpacked into its vendor/. Chalice
   copies vendor/ verbatim into the deployment package (it does not install .whl files found there),
   so the unpacked wheel (package + dist-info) is what Lambda needs; the wheels stay in <out>/wheels/.
2. `chalice package --stage S` once to learn Chalice's logical ids, then the merge template
   (deploy/templates.py, from the topology) is written to <out>/merge/<s>.json. It names every
   function's architecture (`lambda_architecture` in the service's .chalice/config.json; one per
   package, as the functions share one zip).
3. the third-party dependencies, installed for that architecture into the staged vendor/:
   `pip install --platform manylinux2014_aarch64 (or _x86_64) --python-version 3.13 --implementation cp
   --only-binary=:all: --require-hashes --no-deps -r services/<s>/requirements.txt` (the service's
   hashed lock). Chalice's own dependency step would build for x86_64 only, so the staged project's
   requirements.txt is left empty. What Lambda never reads is pruned: bytecode, type stubs (.pyi),
   the dist-infos' RECORD files.
4. `chalice package --stage S --merge-template <out>/merge/<s>.json <out>/<s>` builds the real one.
   SHOP_TABLE_STREAM_ARN is a placeholder at package time; the merge template replaces the relay's
   Stream with Fn::GetAtt [ShopTable, StreamArn], and the check below fails if the placeholder survives.
5. cfn-lint <out>/<s>/sam.json (and <out>/platform.json, the shared bus + archive, and
   <out>/storefront.json, the web pages' bucket and distribution: deploy/storefront.py).
6. native check: every ELF file in the zip is for the package's architecture (e_machine in its
   header: AArch64 or x86-64, 64-bit little-endian) and every tagged extension module is CPython
   3.13's (or abi3): an aarch64 machine is not needed to tell, and no x86_64 .so reaches an arm64 zip.
7. import check: <out>/<s>/deployment.zip unzipped, imported by a bare python3.13 venv holding only
   boto3 (Lambda's runtime), created once in <out>/.lambda-venv. This machine runs x86_64 only, so
   for an arm64 package the same lock is installed for x86_64 apart (<out>/<s>.x86_64-deps) and laid
   over the unzipped package's dependencies: the package's own code and shared packages are imported
   as shipped, its dependencies at the same versions for the machine at hand.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
from storefront import storefront_template
from templates import ARCHITECTURES, merge_template, platform_template

from shop_eventing.topology import Naming

VENV_BIN = Path(sys.executable).parent
SHARED_PACKAGES = ("eventing", "contracts")
STREAM_PLACEHOLDER = "arn:aws:dynamodb:us-east-1:000000000000:table/{table}/stream/PACKAGE-TIME-PLACEHOLDER"
# The interpreter behind this venv is the 3.13 the Makefile chose: the Lambda runtime the packages target.
LAMBDA_PYTHON = os.environ.get("LAMBDA_PYTHON") or str(Path(sys.base_prefix) / "bin" / "python3.13")
# pip's platform tag for each Lambda architecture (Lambda's python3.13 runs on Amazon Linux 2023, glibc
# 2.34; manylinux2014 is glibc 2.17, which every wheel of the lock publishes), and the ELF e_machine
# and extension-module tag of its native code.
PIP_PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
ELF_MACHINES = {"arm64": 183, "x86_64": 62}  # EM_AARCH64, EM_X86_64
EXTENSION_MACHINES = {"arm64": "aarch64", "x86_64": "x86_64"}
EXTENSION_TAG = re.compile(r"\.cpython-(\d+)-([a-z0-9_]+)-linux-gnu\.so$")
LAMBDA_PYTHON_TAG = "313"
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
    architecture: str = ""
    native_files: list[str] = field(default_factory=list)
    native_problems: list[str] = field(default_factory=list)
    sqs_sources: list[str] = field(default_factory=list)
    sqs_sources_without_partial_batch: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lint_ok and self.import_ok and not self.sqs_sources_without_partial_batch and not self.native_problems


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


STAGE_IGNORED = shutil.ignore_patterns("tests", "vendor", "__pycache__", "deployments", "venv", "*.pyc", "consumer-contracts")


def stage_project(service: str, out: Path, wheels: list[Path]) -> Path:
    """A copy of the service's Chalice project to package from, the shared packages in its vendor/ and
    no requirements for Chalice to resolve (step 3 installs them for the right architecture)."""
    project = out / "stage" / service
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(ROOT / "services" / service, project, ignore=STAGE_IGNORED)
    (project / "requirements.txt").write_text("# Installed into vendor/ by deploy/package.py for the functions' architecture.\n")
    vendor_dir = project / "vendor"
    vendor_dir.mkdir()
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(vendor_dir)
    return project


# Lambda's python3.13 runtime has these (boto3 and what it stands on), so no package ships them even
# where a lock holds them: aws-xray-sdk requires botocore, 32 MB installed, over the runtime's own.
# The versions a function runs are then the runtime's; dev.in pins the same line for local runs.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})


def resolved_lock(requirements: Path) -> list[str]:
    """The lines of a requirements file with its `-r` includes read in place (relative to each file)."""
    lines: list[str] = []
    for line in requirements.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("-r "):
            lines += resolved_lock((requirements.parent / stripped[3:].strip()).resolve())
        else:
            lines.append(line)
    return lines


def without_runtime_provided(lines: list[str]) -> list[str]:
    """A hashed lock minus RUNTIME_PROVIDED: each requirement is its `name==version \\` line and the
    indented hash and comment lines under it."""
    kept: list[str] = []
    dropping = False
    for line in lines:
        if line and not line[0].isspace() and not line.startswith("#"):
            name = re.split(r"[=<>!~\[ ;]", line, maxsplit=1)[0].strip().lower().replace("_", "-")
            dropping = name in RUNTIME_PROVIDED
        elif line and not line[0].isspace():
            dropping = False
        if not dropping:
            kept.append(line)
    return kept


def install_dependencies(service: str, architecture: str, target: Path) -> None:
    """The service's locked dependencies, wheels only, for Lambda's python3.13 on `architecture`, but
    what the runtime provides."""
    lock = without_runtime_provided(resolved_lock(ROOT / "services" / service / "requirements.txt"))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix=f"{service}-lambda-") as requirements:
        requirements.write("\n".join(lock) + "\n")
        requirements.flush()
        checked(
            [
                *(str(VENV_BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"),
                *("--platform", PIP_PLATFORMS[architecture], "--implementation", "cp", "--python-version", "3.13"),
                *("--only-binary=:all:", "--require-hashes", "--no-deps", "--target", str(target)),
                *("-r", requirements.name),
            ]
        )
    prune(target)


def prune(folder: Path) -> None:
    """What Lambda never reads: console scripts, bytecode (Lambda's /var/task is read-only and the
    runtime is not this interpreter build), type stubs and the installers' file lists."""
    shutil.rmtree(folder / "bin", ignore_errors=True)
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_dir() and path.name == "__pycache__":
            shutil.rmtree(path)
        elif path.is_file() and _unread(path):
            path.unlink()


def _unread(path: Path) -> bool:
    installer_list = path.name == "RECORD" and path.parent.suffix == ".dist-info"
    return installer_list or path.suffix in {".pyi", ".pyc"}


def native_check(package: Path, architecture: str) -> tuple[list[str], list[str]]:
    """(the native files in the package, what is wrong with them): each ELF file must be 64-bit
    little-endian for `architecture`, each tagged extension module CPython 3.13's for that machine."""
    files, problems = [], []
    with zipfile.ZipFile(package) as archive:
        for info in archive.infolist():
            base = info.filename.rsplit("/", 1)[-1]
            if not (base.endswith(".so") or ".so." in base):
                continue
            files.append(info.filename)
            with archive.open(info) as stream:
                header = stream.read(20)
            if len(header) < 20 or header[:4] != b"\x7fELF":
                problems.append(f"{info.filename}: not an ELF file")
                continue
            machine = int.from_bytes(header[18:20], "little")
            if header[4] != 2 or header[5] != 1 or machine != ELF_MACHINES[architecture]:
                found = next((a for a, m in ELF_MACHINES.items() if m == machine), f"e_machine {machine}")
                problems.append(f"{info.filename}: built for {found}, not {architecture}")
            tag = EXTENSION_TAG.search(base)
            if tag and tag.groups() != (LAMBDA_PYTHON_TAG, EXTENSION_MACHINES[architecture]):
                problems.append(f"{info.filename}: an extension for cpython-{tag[1]}-{tag[2]}")
    return files, problems


def chalice_env(service: str, stage: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env["SHOP_STAGE"] = stage
    env["SHOP_TABLE_STREAM_ARN"] = STREAM_PLACEHOLDER.format(table=Naming(stage).table(service))
    return env


def chalice_package(service: str, stage: str, project: Path, target: Path, merge: Path | None = None) -> dict[str, Any]:
    shutil.rmtree(target, ignore_errors=True)
    cmd = [str(VENV_BIN / "chalice"), "package", "--stage", stage]
    if merge is not None:
        cmd += ["--merge-template", str(merge)]
    checked([*cmd, str(target)], cwd=project, env=chalice_env(service, stage))
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


def import_check(service: str, stage: str, package: Path, python: Path, overlay: Path | None = None) -> tuple[bool, str]:
    """`import app` from the unzipped package; `overlay` (the same lock installed for this machine)
    replaces the package's dependencies when they are built for another architecture."""
    with tempfile.TemporaryDirectory(prefix=f"shop-import-{service}-") as tmp:
        with zipfile.ZipFile(package) as archive:
            archive.extractall(tmp)
        for entry in sorted(overlay.iterdir()) if overlay is not None else []:
            shutil.rmtree(Path(tmp) / entry.name, ignore_errors=True)
            (Path(tmp) / entry.name).unlink(missing_ok=True)
            (shutil.copytree if entry.is_dir() else shutil.copy2)(entry, Path(tmp) / entry.name)
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": tmp,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "SHOP_STAGE": stage,
            "SHOP_TABLE_STREAM_ARN": chalice_env(service, stage)["SHOP_TABLE_STREAM_ARN"],
        }
        # The X-Ray SDK is imported on the first traced invocation, not by `import app`: patching the
        # runtime's botocore with it here proves the package's SDK works without a botocore of its own.
        code = (
            "import app, sys; from aws_xray_sdk.core import patch; patch(('botocore',)); "
            "print('imported', app.app.app_name, 'from', app.__file__, 'and patched botocore for X-Ray')"
        )
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


def package_architecture(service: str, merge: dict[str, Any]) -> str:
    """The one architecture of a service's functions (they share one zip, so one set of wheels)."""
    found = {
        architecture
        for resource in merge["Resources"].values()
        for architecture in resource.get("Properties", {}).get("Architectures", [])
    }
    if len(found) != 1 or not found <= set(ARCHITECTURES):
        raise RuntimeError(f"{service}: its functions must share one architecture of {ARCHITECTURES}, found {sorted(found)}")
    return str(found.pop())


def machine_architecture() -> str:
    machine = os.uname().machine.lower()
    return "arm64" if machine in {"aarch64", "arm64"} else "x86_64"


def import_overlay(service: str, out: Path, architecture: str) -> Path | None:
    """Where the import check's dependencies for this machine go, when the package's are for another."""
    return None if architecture == machine_architecture() else out / f"{service}.{machine_architecture()}-deps"


def package_service(service: str, stage: str, out: Path, wheels: list[Path], python: Path | None) -> Result:
    started = time.monotonic()
    result = Result(service)
    check_policy(service, stage)
    project = stage_project(service, out, wheels)
    with tempfile.TemporaryDirectory(prefix=f"shop-pass1-{service}-") as tmp:
        first = chalice_package(service, stage, project, Path(tmp) / "out")
    merge = merge_template(service, stage, first)
    result.architecture = package_architecture(service, merge)
    merge_file = out / "merge" / f"{service}.json"
    merge_file.parent.mkdir(parents=True, exist_ok=True)
    merge_file.write_text(json.dumps(merge, indent=2) + "\n")
    install_dependencies(service, result.architecture, project / "vendor")
    sam = chalice_package(service, stage, project, out / service, merge_file)
    if "PACKAGE-TIME-PLACEHOLDER" in json.dumps(sam):
        raise RuntimeError(f"{service}: the placeholder stream ARN survived the merge")
    result.sqs_sources, result.sqs_sources_without_partial_batch = sqs_event_sources(sam)
    result.lint_ok, result.lint_output = cfn_lint(out / service / "sam.json")
    dangling = dangling_references(sam)
    if dangling:
        result.lint_ok = False
        result.lint_output += f"\nreferences to resources not in the template: {sorted(set(dangling))}"
    package = out / service / "deployment.zip"
    result.native_files, result.native_problems = native_check(package, result.architecture)
    if python is not None:
        overlay = import_overlay(service, out, result.architecture)
        if overlay is not None:
            shutil.rmtree(overlay, ignore_errors=True)
            install_dependencies(service, machine_architecture(), overlay)
        result.import_ok, result.import_output = import_check(service, stage, package, python, overlay)
    else:
        result.import_ok, result.import_output = True, "skipped"
    result.seconds = time.monotonic() - started
    return result


def package_platform(stage: str, out: Path) -> tuple[bool, str]:
    path = out / "platform.json"
    path.write_text(json.dumps(platform_template(stage), indent=2) + "\n")
    return cfn_lint(path)


def package_storefront(stage: str, out: Path) -> tuple[bool, str]:
    """The storefront's stack (deploy/storefront.py), written to <out>/storefront.json and linted."""
    path = out / "storefront.json"
    template = storefront_template(stage)
    path.write_text(json.dumps(template, indent=2) + "\n")
    ok, output = cfn_lint(path)
    dangling = dangling_references(template)
    if dangling:
        return False, f"{output}\nreferences to resources not in the template: {sorted(set(dangling))}".strip()
    return ok, output


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
    storefront_ok, storefront_output = package_storefront(args.stage, out)
    print(f"storefront: cfn-lint {'ok' if storefront_ok else 'FAILED'} {storefront_output}")
    failed = not (platform_ok and storefront_ok)
    for service in args.service or SERVICES:
        result = package_service(service, args.stage, out, wheels, python)
        failed |= not result.ok
        size = (out / service / "deployment.zip").stat().st_size / 1024
        print(
            f"{service}: {result.seconds:.1f}s {result.architecture}, {size:.0f} KiB zip; "
            f"cfn-lint {'ok' if result.lint_ok else 'FAILED'}; "
            f"native {len(result.native_files)} files {'ok' if not result.native_problems else result.native_problems}; "
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
