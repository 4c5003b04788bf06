"""Tests of the matching engine: pure computation, no database (none of tests/conftest.py's
fixtures are requested here)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent

# PuLP 3.3 announces its 4.0 API on every variable the engine creates; that is not under test here.
PULP_DEPRECATIONS = (
    "ignore:Constructing LpVariable:DeprecationWarning",
    "ignore:PULP_CBC_CMD is deprecated:DeprecationWarning",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            for spec in PULP_DEPRECATIONS:
                item.add_marker(pytest.mark.filterwarnings(spec))
