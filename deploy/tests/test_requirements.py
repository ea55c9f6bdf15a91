"""The dependency pins: each direct dependency pinned once (requirements/*.in), locked with hashes (*.txt)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements"
PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", re.M)


def pins(path: Path) -> dict[str, str]:
    return {name.lower().replace("_", "-"): version for name, version in PIN.findall(path.read_text())}


def direct_pins(path: Path) -> dict[str, str]:
    """The pins of an .in file, with the files it includes (`-r other.in`)."""
    found = pins(path)
    for included in re.findall(r"^-r\s+(\S+)", path.read_text(), re.M):
        found |= direct_pins(path.parent / included)
    return found


@pytest.mark.parametrize("lock", ["lambda", "orders", "dev"])
def test_every_direct_pin_is_what_its_lock_holds(lock: str) -> None:
    wanted = direct_pins(REQUIREMENTS / f"{lock}.in")
    locked = pins(REQUIREMENTS / f"{lock}.txt")
    assert {name: locked.get(name) for name in wanted} == wanted, "run `make lock` after changing an .in file"


@pytest.mark.parametrize("lock", ["lambda", "orders", "dev"])
def test_every_locked_package_carries_hashes(lock: str) -> None:
    lines = (REQUIREMENTS / f"{lock}.txt").read_text().splitlines()
    pinned = [(line, following) for line, following in itertools.pairwise(lines) if PIN.match(line)]
    assert len(pinned) > 5
    for line, following in pinned:
        assert line.endswith("\\") and "--hash=sha256:" in following, line


def test_each_direct_dependency_is_pinned_in_one_place_only() -> None:
    """Services include the lambda lock instead of pinning; the shared packages declare ranges only."""
    for requirements in (ROOT / "services").glob("*/requirements.txt"):
        assert pins(requirements) == {}, requirements
        # orders alone adds the payment provider's library (requirements/orders.in includes lambda.in).
        lock = "orders" if requirements.parent.name == "orders" else "lambda"
        assert f"-r ../../requirements/{lock}.txt" in requirements.read_text(), requirements
    for pyproject in ROOT.glob("*/pyproject.toml"):
        assert "==" not in pyproject.read_text(), pyproject
    lambda_pins, dev_only = direct_pins(REQUIREMENTS / "orders.in"), pins(REQUIREMENTS / "dev.in")
    assert not set(lambda_pins) & set(dev_only)


def test_the_orders_lock_ships_what_every_lambda_and_the_tests_use() -> None:
    """orders.txt is resolved on its own: it must agree with lambda.txt and with the venv's dev.txt,
    or the orders package would ship other versions than the tests ran with."""
    orders, shared, dev = (pins(REQUIREMENTS / f"{lock}.txt") for lock in ("orders", "lambda", "dev"))
    assert {name: orders.get(name) for name in shared} == shared
    assert {name: dev.get(name) for name in orders} == orders
