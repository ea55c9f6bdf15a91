"""The rules that keep every service deployable alone (DESIGN §1), checked on the source."""

from __future__ import annotations

import ast
import json
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
    "app",
}


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
def test_service_imports_nothing_from_another_service(service):
    folder = REPO_ROOT / "services" / service
    stdlib = set(__import__("sys").stdlib_module_names)
    for path in folder.rglob("*.py"):
        # vendor/ is deploy/package.py's copy of the shared packages (gitignored): checked at their source.
        if {"tests", "vendor"} & set(path.relative_to(folder).parts):
            continue
        foreign = imported_top_levels(path) - stdlib - ALLOWED_TOP_LEVEL
        assert not foreign, f"{path.relative_to(REPO_ROOT)} imports {sorted(foreign)}"
        text = path.read_text()
        for other in set(SERVICES) - {service}:
            assert f"services/{other}" not in text and f"services.{other}" not in text, path


@pytest.mark.parametrize("service", SERVICES)
def test_service_runtime_is_its_own(service):
    """Table names derive from the service's own topology entry, so it cannot touch another's table."""
    source = (REPO_ROOT / "services" / service / "app.py").read_text()
    runtimes = [line for line in source.splitlines() if "TOPOLOGY.service(" in line]
    assert all(f'TOPOLOGY.service("{service}")' in line for line in runtimes), runtimes
    for other in set(SERVICES) - {service}:
        assert f'service("{other}")' not in source
        assert f'table("{other}")' not in source
