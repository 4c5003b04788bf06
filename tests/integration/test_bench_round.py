"""The round benchmark runs end to end on a small city (its numbers are for `make bench`, not asserted here)."""

from __future__ import annotations

from marketplace.bench_round import format_table, measure
from tests.conftest import make_settings


async def test_the_round_benchmark_measures_a_round_beside_the_engine(database_url: str) -> None:
    result = await measure(make_settings(database_url), database_url, 60, 20, 1, 5)
    [run] = result.repeats
    assert run.engine_s > 0
    assert run.round_s >= run.solve_s > 0
    assert run.offers > 0
    assert run.parcels_offered + run.unplaced == 60
    assert "round / engine" in format_table(result)
