"""Layers: the matching engine and the van planner stay pure, the domain does no I/O, SQL stays in repositories."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "matching": ("marketplace", "schema", "asyncpg", "litestar", "strawberry", "stripe", "sqlalchemy"),
    "vanrounds": ("marketplace", "schema", "matching", "asyncpg", "litestar", "strawberry", "stripe", "sqlalchemy"),
    "marketplace/domain": ("asyncpg", "litestar", "strawberry", "stripe", "schema", "marketplace.repositories"),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_nothing_it_must_not(package: str) -> None:
    offending = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / package).rglob("*.py")
        for name in _imports(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[package])
    }
    assert offending == set()


def test_only_repositories_run_sql() -> None:
    """SQL verbs in string literals appear only in repositories and migrations."""
    offending = []
    for path in list((ROOT / "marketplace").rglob("*.py")) + list((ROOT / "schema").rglob("*.py")):
        if "repositories" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value.upper()
                if any(verb in text for verb in ("SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM")):
                    offending.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offending == []


def test_only_the_bridge_hands_work_to_the_matching_engine() -> None:
    """One place turns marketplace data into engine instances; nothing else depends on the engine."""
    importers = {
        str(path.relative_to(ROOT))
        for package in ("marketplace", "schema")
        for path in (ROOT / package).rglob("*.py")
        if any(name == "matching" or name.startswith("matching.") for name in _imports(path))
    }
    assert importers == {"marketplace/services/matching_bridge.py"}


def test_only_the_van_bridge_hands_work_to_the_van_planner() -> None:
    importers = {
        str(path.relative_to(ROOT))
        for package in ("marketplace", "schema")
        for path in (ROOT / package).rglob("*.py")
        if any(name == "vanrounds" or name.startswith("vanrounds.") for name in _imports(path))
    }
    assert importers == {"marketplace/services/van_bridge.py"}
