"""The rules that keep every service deployable alone (docs/design-rules.md#services), checked on the source.

The import rules themselves are import-linter contracts (`.importlinter`, `services/importlinter.ini`,
run by `make lint`); these tests check what import-linter cannot, and that its contracts can fail."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shop_contracts import TOPOLOGY

REPO_ROOT = Path(__file__).resolve().parents[1]
SERVICES = sorted(p.name for p in (REPO_ROOT / "services").iterdir() if p.is_dir())
# What a service may import beyond the standard library: its own chalicelib, the shared packages,
# and its runtime libraries (all in its requirements.txt or provided by Lambda).
ALLOWED_TOP_LEVEL = {
    "chalicelib",
    "shop_contracts",
    "shop_eventing",
    "chalice",
    "boto3",
    "botocore",
    "aws_lambda_powertools",
    "pydantic",
    "urllib3",
    "jinja2",
    "app",
}
# Libraries that only one service's package holds (its requirements.txt includes its own lock), or that a
# service's code uses directly from its lock: vod signs playback cookies with cryptography and its live
# shows' playback tokens with PyJWT (ES384), both in lambda.txt, pinned there for the token verifier.
SERVICE_LIBRARIES = {"orders": {"stripe"}, "vod": {"cryptography", "jwt"}}


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_five_services_and_the_topology_agree():
    assert SERVICES == ["catalog", "fulfillment", "notify", "orders", "vod"]
    assert sorted(s.name for s in TOPOLOGY.services) == SERVICES


@pytest.mark.parametrize("service", SERVICES)
def test_service_has_the_standard_skeleton(service):
    folder = REPO_ROOT / "services" / service
    for required in ("app.py", "chalicelib/__init__.py", ".chalice/config.json", "requirements.txt", "README.md"):
        assert (folder / required).exists(), f"services/{service}/{required} is missing"
    config = json.loads((folder / ".chalice" / "config.json").read_text())
    assert config["app_name"] == f"shop-{service}"


@pytest.mark.parametrize("service", SERVICES)
def test_service_imports_only_what_its_package_holds(service):
    """Beyond import-linter's contracts (`make lint`): every top-level import of a service is the
    standard library, its own code, the shared packages or a runtime library its package holds."""
    folder = REPO_ROOT / "services" / service
    stdlib = set(sys.stdlib_module_names)
    for path in folder.rglob("*.py"):
        # vendor/ is deploy/package.py's copy of the shared packages (gitignored): checked at their source.
        if {"tests", "vendor"} & set(path.relative_to(folder).parts):
            continue
        foreign = imported_top_levels(path) - stdlib - ALLOWED_TOP_LEVEL - SERVICE_LIBRARIES.get(service, set())
        assert not foreign, f"{path.relative_to(REPO_ROOT)} imports {sorted(foreign)}"


def _literal_arguments(path: Path, callee: str) -> list[str]:
    """The string literals passed to every `callee(...)` or `<anything>.callee(...)` call in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        if name == callee:
            found += [arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_service_runtime_is_its_own(service):
    """Table and queue names derive from the service's own topology entry, so it cannot touch another's."""
    app = REPO_ROOT / "services" / service / "app.py"
    assert set(_literal_arguments(app, "ServiceRuntime")) <= {service}
    assert set(_literal_arguments(app, "service")) <= {service}
    assert set(_literal_arguments(app, "table")) <= {service}


def _lint_imports(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    return subprocess.run(
        [str(lint_imports), "--config", str(config), "--no-cache", "--no-logo"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("module", "planted", "broken_contract"),
    [
        ("domain.py", "import boto3", "chalicelib is not allowed to import boto3"),
        ("domain.py", "from chalice.app import Response", "chalicelib.domain is not allowed to import chalice"),
        ("usecases.py", "from services.catalog.chalicelib import domain", "chalicelib is not allowed to import services"),
        ("usecases.py", "import shop_devstack.testing", "chalicelib is not allowed to import shop_devstack"),
    ],
)
def test_import_linter_catches_a_planted_violation(tmp_path, module, planted, broken_contract):
    """The service contracts pass on the real code and fail, naming the import, on a copy with one bad line."""
    config = REPO_ROOT / "services" / "importlinter.ini"
    assert _lint_imports(config, REPO_ROOT / "services" / "orders").returncode == 0
    shutil.copytree(REPO_ROOT / "services" / "orders" / "chalicelib", tmp_path / "chalicelib")
    with (tmp_path / "chalicelib" / module).open("a") as source:
        source.write(f"\n{planted}\n")
    result = _lint_imports(config, tmp_path)
    assert result.returncode == 1, result.stdout
    assert broken_contract in " ".join(result.stdout.split()), result.stdout


def test_import_linter_catches_the_backbone_importing_the_contracts(tmp_path):
    for package in ("eventing/shop_eventing", "contracts/shop_contracts", "infra/shop_infra", "devstack/shop_devstack"):
        shutil.copytree(REPO_ROOT / package, tmp_path / Path(package).name)
    shutil.copy(REPO_ROOT / ".importlinter", tmp_path / ".importlinter")
    assert _lint_imports(tmp_path / ".importlinter", tmp_path).returncode == 0
    with (tmp_path / "shop_eventing" / "envelope.py").open("a") as source:
        source.write("\nfrom shop_contracts import TOPOLOGY\n")
    result = _lint_imports(tmp_path / ".importlinter", tmp_path)
    assert result.returncode == 1, result.stdout
    assert "shop_eventing.envelope -> shop_contracts" in result.stdout
