"""The control plane (shop_infra: the resource model, provision, the drift check) never ships inside a
Lambda: no function needs it, and code that creates the platform has no business in the runtime.

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
CONTROL_PLANE = ("shop_infra/", "shop_eventing/provision.py")


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
    """An import of shop_infra from the runtime would fail only on Lambda, where it is absent."""
    offenders = []
    for name in package.SHARED_PACKAGES:
        for path in sorted((package.ROOT / name).glob("shop_*/**/*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.module:
                    modules = [node.module]
                offenders += [f"{path.relative_to(package.ROOT)}: {m}" for m in modules if m.split(".")[0] == "shop_infra"]

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
