"""Everything in tests/realmodel runs a real model: mark it, and provide ``real_model``."""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent
_PLUGIN = "tests.realmodel.fixtures"


def pytest_configure(config: pytest.Config) -> None:
    """Register the fixtures plugin unless tests/conftest.py already did."""
    # Importing the fixture here as well would define it twice and could start two servers.
    if not config.pluginmanager.has_plugin(_PLUGIN):
        config.pluginmanager.import_plugin(_PLUGIN)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder ``realmodel`` so ``-m realmodel`` selects them."""
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.realmodel)
