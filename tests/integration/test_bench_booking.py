"""The booking benchmark runs end to end on a throwaway database; its numbers are reported, never timed here."""

from __future__ import annotations

import asyncio
import json
import logging
import re

import asyncpg
import pytest

from marketplace import bench_booking
from marketplace.repositories.meta import MetaRepository

ROWS = 20


async def _database_exists(admin_dsn: str, name: str) -> bool:
    conn = await asyncpg.connect(admin_dsn)
    try:
        return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name))
    finally:
        await conn.close()


def test_the_benchmark_books_every_row_both_ways_and_bulk_takes_fewer_statements(
    admin_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = logging.getLogger()
    handlers_before = list(root.handlers)

    code = bench_booking.main(["--rows", str(ROWS), "--repeat", "1", "--json", "--server-url", admin_dsn])

    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    for phase in ("single", "bulk"):
        assert result[phase]["jobs_returned"] == ROWS, phase
        written = result[phase]["rows_written"]
        assert (written["quotes"], written["jobs"], written["parcels"]) == (ROWS, ROWS, ROWS), phase
    assert result["single"]["requests"] == 2 * ROWS
    assert result["bulk"]["requests"] == 1
    assert 0 < result["bulk"]["sql_statements"] < result["single"]["sql_statements"]
    # Listing reads both phases' jobs and writes nothing.
    assert result["listing"]["jobs_returned"] >= 2 * ROWS
    assert result["listing"]["rows_written_total"] == 0

    # The throwaway database is gone, and the process's logging is as it was.
    found = re.search(r"throwaway database (crowdship_bench_[0-9a-f]+)", err)
    assert found is not None, err
    assert not asyncio.run(_database_exists(admin_dsn, found.group(1)))
    assert root.handlers == handlers_before


def test_the_table_names_each_phase_and_the_speed_up(admin_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_booking.main(["--rows", "3", "--repeat", "1", "--server-url", admin_dsn]) == 0
    table = capsys.readouterr().out
    assert "| (a) requestQuote + bookQuote x 3 | 6 |" in table
    assert "| (b) bookJobs with 3 rows | 1 |" in table
    assert "| (c) jobs(first: 100) | 1 |" in table
    assert re.search(r"bookJobs against the baseline: \d+\.\dx faster, \d+ -> \d+ SQL statements", table)


@pytest.mark.parametrize("rows", ["0", "501", "many"])
def test_rows_outside_what_book_jobs_takes_are_refused(rows: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench_booking.main(["--rows", rows])
    assert exit_info.value.code == 2
    assert "--rows" in capsys.readouterr().err


async def test_row_counts_refuse_a_table_name_that_is_not_a_plain_identifier(db: asyncpg.Connection) -> None:
    meta = MetaRepository(db)
    assert await meta.row_counts(["jobs", "parcels"]) == {"jobs": 0, "parcels": 0}
    with pytest.raises(ValueError, match="identifier"):
        await meta.row_counts(["jobs; DROP TABLE jobs"])
