"""The control plane (shop_infra: the resource model, provision, the drift check) and the operator's
command (shop_ops) never ship inside a Lambda: no function needs them, and code that creates or
operates the platform has no business in the runtime.

The cheap check builds the very wheels deploy/package.py vendors into every service; the `packaging`
one opens each deployment.zip `make package` built.
"""

from __future__ import annotations

import ast
import zipfile
from pathlib import Path

import package
import pytest

BUILD = package.ROOT / "build"
CONTROL_PLANE = ("shop_infra/", "shop_ops/", "shop_eventing/provision.py")
OUTSIDE_THE_RUNTIME = {"shop_infra", "shop_ops"}


def control_plane_files(names: list[str]) -> list[str]:
    return sorted(name for name in names if name.startswith(CONTROL_PLANE))


def wheel_files(out: Path) -> list[str]:
    names: list[str] = []
    for wheel in package.build_wheels(out):
        with zipfile.ZipFile(wheel) as archive:
            names += archive.namelist()
    return names


def test_the_vendored_wheels_hold_the_runtime_and_no_control_plane(tmp_path: Path) -> None:
    names = wheel_files(tmp_path)

    assert "shop_eventing/__init__.py" in names and "shop_contracts/__init__.py" in names
    assert control_plane_files(names) == []


def test_the_check_finds_the_control_plane_when_it_is_vendored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(package, "SHARED_PACKAGES", (*package.SHARED_PACKAGES, "infra"))

    found = control_plane_files(wheel_files(tmp_path))

    assert "shop_infra/provision.py" in found and "shop_infra/resources.py" in found


def test_the_vendored_packages_never_import_the_control_plane() -> None:
    """An import of shop_infra or shop_ops from the runtime would fail only on Lambda, where they are absent."""
    offenders = []
    for name in package.SHARED_PACKAGES:
        for path in sorted((package.ROOT / name).glob("shop_*/**/*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.module:
                    modules = [node.module]
                offenders += [f"{path.relative_to(package.ROOT)}: {m}" for m in modules if m.split(".")[0] in OUTSIDE_THE_RUNTIME]

    assert offenders == []


@pytest.mark.packaging
@pytest.mark.parametrize("service", package.SERVICES)
def test_no_deployment_package_holds_the_control_plane(service: str) -> None:
    path = BUILD / service / "deployment.zip"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make package` (it runs these tests after packaging)")
    names = zipfile.ZipFile(path).namelist()

    assert "shop_eventing/__init__.py" in names
    assert control_plane_files(names) == []
