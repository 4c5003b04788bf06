"""Alembic, driven from code: used by `crowdship db`, `make run`, /ready and the tests."""

from __future__ import annotations

import re
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from alembic import command

_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def alembic_config(dsn: str) -> Config:
    config = Config(str(_INI))
    config.attributes["dsn"] = dsn
    return config


def upgrade(dsn: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(dsn), revision)


def downgrade(dsn: str, revision: str) -> None:
    command.downgrade(alembic_config(dsn), revision)


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config("")).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"expected one migration head, found {heads}")
    return heads[0]


def all_revisions() -> list[str]:
    """Oldest first."""
    script = ScriptDirectory.from_config(alembic_config(""))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def run_script(script: str) -> None:
    """Executes a migration's SQL one statement at a time (asyncpg prepares each, and refuses several).

    Statements are split at a semicolon that ends a line, so keep function bodies on one line or
    pass them to `op.execute` directly.
    """
    from alembic import op

    for statement in re.split(r";\s*\n", script):
        if statement.strip():
            op.execute(statement)
