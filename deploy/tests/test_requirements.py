"""The dependency pins: each direct dependency pinned once (requirements/*.in), locked with hashes (*.txt)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import package
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


LOCKS = sorted(path.stem for path in REQUIREMENTS.glob("*.in"))
INCLUDED_LOCK = re.compile(r"^-r\s+\.\./\.\./requirements/(\S+)\.txt\s*$", re.M)


def service_lock(service: Path) -> str:
    """The one lock a service's requirements.txt includes (the name of its requirements/<name>.in)."""
    included = INCLUDED_LOCK.findall((service / "requirements.txt").read_text())
    assert len(included) == 1, f"{service}/requirements.txt must include exactly one requirements/<name>.txt"
    return str(included[0])


@pytest.mark.parametrize("lock", LOCKS)
def test_every_direct_pin_is_what_its_lock_holds(lock: str) -> None:
    wanted = direct_pins(REQUIREMENTS / f"{lock}.in")
    locked = pins(REQUIREMENTS / f"{lock}.txt")
    assert {name: locked.get(name) for name in wanted} == wanted, "run `make lock` after changing an .in file"


@pytest.mark.parametrize("lock", LOCKS)
def test_every_locked_package_carries_hashes(lock: str) -> None:
    lines = (REQUIREMENTS / f"{lock}.txt").read_text().splitlines()
    pinned = [(line, following) for line, following in itertools.pairwise(lines) if PIN.match(line)]
    assert len(pinned) > 5
    for line, following in pinned:
        assert line.endswith("\\") and "--hash=sha256:" in following, line


def test_each_direct_dependency_is_pinned_in_one_place_only() -> None:
    """Services include a lock instead of pinning; the shared packages declare ranges only."""
    for requirements in (ROOT / "services").glob("*/requirements.txt"):
        assert pins(requirements) == {}, requirements
        assert service_lock(requirements.parent) in LOCKS, requirements
    for pyproject in ROOT.glob("*/pyproject.toml"):
        assert "==" not in pyproject.read_text(), pyproject
    seen: dict[str, str] = {}
    for lock in LOCKS:
        for name in pins(REQUIREMENTS / f"{lock}.in"):  # each file's own pins, not those it includes
            assert name not in seen, f"{name} is pinned in both {seen.get(name)}.in and {lock}.in"
            seen[name] = lock


@pytest.mark.parametrize("service", sorted(p.parent.name for p in (ROOT / "services").glob("*/requirements.txt")))
def test_a_service_with_signed_in_routes_ships_the_token_verifier(service: str) -> None:
    """A lock without PyJWT is for services whose app never verifies a token: one that does would
    import, then answer its first signed-in request with a 500."""
    app = (ROOT / "services" / service / "app.py").read_text()
    locked = pins(REQUIREMENTS / f"{service_lock(ROOT / 'services' / service)}.txt")
    if "shop_eventing.auth" in app:
        assert {"pyjwt", "cryptography"} <= set(locked), service
    else:
        assert "cryptography" not in locked, f"{service} verifies no token: a lock of requirements/lambda-base.in will do"


@pytest.mark.parametrize("lock", [lock for lock in LOCKS if lock != "dev"])
def test_a_package_lock_ships_the_versions_the_tests_run_with(lock: str) -> None:
    """Each lock is resolved on its own: what it pins must be what the venv's dev.txt pins, or a
    deployment package would ship other versions than the tests ran with."""
    locked, dev = pins(REQUIREMENTS / f"{lock}.txt"), pins(REQUIREMENTS / "dev.txt")
    assert {name: dev.get(name) for name in locked} == locked


def test_the_packages_lock_leaves_out_what_lambdas_runtime_provides_and_keeps_the_rest_whole() -> None:
    lock = package.resolved_lock(ROOT / "services" / "orders" / "requirements.txt")
    shipped = package.without_runtime_provided(lock)
    shipped_pins = pins_of_lines(shipped)

    assert "botocore" in pins_of_lines(lock), "aws-xray-sdk brings botocore into the lock"
    assert not package.RUNTIME_PROVIDED & set(shipped_pins)
    assert {"aws-xray-sdk", "aws-lambda-powertools", "wrapt"} <= set(shipped_pins)

    # Every kept requirement keeps all its hashes (pip --require-hashes refuses one without): the hash
    # lines dropped are exactly those of the runtime's packages.
    def hashes(lines: list[str]) -> int:
        return sum(1 for line in lines if line.strip().startswith("--hash="))

    runtime_only = [line for line in lock if line not in shipped]
    assert hashes(shipped) + hashes(runtime_only) == hashes(lock)
    assert set(pins_of_lines(runtime_only)) == package.RUNTIME_PROVIDED & set(pins_of_lines(lock))


def pins_of_lines(lines: list[str]) -> dict[str, str]:
    return {name.lower().replace("_", "-"): version for name, version in PIN.findall("\n".join(lines))}
