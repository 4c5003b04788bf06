"""`crowdship` as an operator runs it: a real process, real arguments, real exit codes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from marketplace.db import migrations
from marketplace.services.container import Services

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "Granite-falcon-river-2718"


async def crowdship(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    # Cheap hashing keeps the process quick; the policy under test does not depend on the cost.
    environment.update(PASSWORD_HASH_TIME_COST="1", PASSWORD_HASH_MEMORY_KIB="64")
    environment.update(env or {})
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "marketplace.cli", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


async def user_count(db: asyncpg.Connection) -> int:
    count = await db.fetchval("SELECT count(*) FROM users")
    assert isinstance(count, int)
    return count


@pytest.mark.parametrize(
    ("args", "usage"),
    [
        (["--help"], "usage: crowdship"),
        (["serve", "--help"], "usage: crowdship serve"),
        (["db", "--help"], "usage: crowdship db"),
        (["db", "upgrade", "--help"], "usage: crowdship db upgrade"),
        (["users", "create", "--help"], "usage: crowdship users create"),
    ],
    ids=["root", "serve", "db", "db-upgrade", "users-create"],
)
async def test_help_prints_usage_and_exits_zero_without_a_database(args: list[str], usage: str) -> None:
    result = await crowdship(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(usage), result.stdout
    # Help needs no settings and no database: nothing about an embedded server, no warnings.
    assert result.stderr == ""


async def test_users_create_help_lists_roles_and_offers_stdin_for_the_password() -> None:
    result = await crowdship("users", "create", "--help")
    assert result.returncode == 0
    assert "--password-stdin" in result.stdout
    assert "{courier,retailer,finance,admin}" in result.stdout


async def test_users_create_makes_an_admin_whose_stdin_password_logs_in(
    database_url: str, db: asyncpg.Connection, services: Services
) -> None:
    result = await crowdship(
        "users",
        "create",
        "--role",
        "admin",
        "--email",
        "ops@example.com",
        "--password-stdin",
        env={"DATABASE_URL": database_url},
        stdin=ADMIN_PASSWORD + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert "created admin ops@example.com" in result.stdout
    assert ADMIN_PASSWORD not in result.stdout + result.stderr

    rows = await db.fetch("SELECT email, role, organization_id, password_hash FROM users")
    assert len(rows) == 1
    row = rows[0]
    assert (row["email"], row["role"], row["organization_id"]) == ("ops@example.com", "admin", None)
    assert ADMIN_PASSWORD not in row["password_hash"]
    # The password read from stdin (newline stripped) is the one stored.
    pair = await services.accounts.login(email="ops@example.com", password=ADMIN_PASSWORD, client_address=None)
    assert pair.user.role.value == "admin"


async def test_users_create_refuses_a_weak_password_with_exit_2_and_writes_nothing(
    database_url: str, db: asyncpg.Connection
) -> None:
    result = await crowdship(
        "users",
        "create",
        "--role",
        "admin",
        "--email",
        "ops@example.com",
        "--password-stdin",
        env={"DATABASE_URL": database_url},
        stdin="short\n",
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "password" in result.stderr
    assert "WEAK_PASSWORD" in result.stderr
    assert "Traceback" not in result.stderr
    assert "created" not in result.stdout
    assert await user_count(db) == 0
    assert await db.fetchval("SELECT count(*) FROM organizations") == 0


async def test_users_create_rejects_an_unknown_role_before_touching_the_database(
    database_url: str, db: asyncpg.Connection
) -> None:
    result = await crowdship(
        "users",
        "create",
        "--role",
        "wizard",
        "--email",
        "ops@example.com",
        "--password-stdin",
        env={"DATABASE_URL": database_url},
        stdin=ADMIN_PASSWORD + "\n",
    )
    assert result.returncode == 2
    assert "usage: crowdship users create" in result.stderr
    assert "invalid choice: 'wizard'" in result.stderr
    assert await user_count(db) == 0


async def test_db_current_prints_the_head_revision(database_url: str) -> None:
    result = await crowdship("db", "current", env={"DATABASE_URL": database_url})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == migrations.head_revision()


async def test_db_downgrade_and_upgrade_move_the_revision_db_current_reports(database_url: str) -> None:
    env = {"DATABASE_URL": database_url}
    down = await crowdship("db", "downgrade", "base", env=env)
    assert down.returncode == 0, down.stderr
    assert (await crowdship("db", "current", env=env)).stdout.strip() == "none"

    up = await crowdship("db", "upgrade", env=env)
    assert up.returncode == 0, up.stderr
    assert (await crowdship("db", "current", env=env)).stdout.strip() == migrations.head_revision()


@pytest.mark.parametrize(
    "args",
    [
        ["db", "current"],
        ["serve"],
        ["users", "create", "--role", "admin", "--email", "ops@example.com", "--password-stdin"],
    ],
    ids=["db-current", "serve", "users-create"],
)
async def test_invalid_setting_exits_2_naming_the_variable_without_a_traceback(
    args: list[str], database_url: str, db: asyncpg.Connection
) -> None:
    result = await crowdship(*args, env={"DATABASE_URL": database_url, "PORT": "abc"}, stdin=ADMIN_PASSWORD + "\n")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "PORT" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert await user_count(db) == 0
