"""deploy/ is a plain folder of scripts: put it on sys.path so tests import its modules by name."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "packaging: slow; runs chalice package, cfn-lint and the import check (-m packaging)")
