"""The hot-path benchmark runs end to end on a throwaway database; its numbers are reported, never timed here."""

from __future__ import annotations

import json

import pytest

from marketplace import bench_api


def test_the_benchmark_measures_every_path_both_ways_after_checking_the_bytes_match(
    admin_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = bench_api.main(
        ["--clients", "2", "--duration", "0.3", "--rounds", "2", "--workers", "2", "--json", "--server-url", admin_dsn]
    )

    out, err = capsys.readouterr()
    assert code == 0, err
    assert "same bytes from both" in err
    result = json.loads(out)
    rows = {(r["path"], r["target"]): r for r in result["rows"]}
    assert set(rows) == {(p, t) for p in bench_api.PATHS for t in ("graphql", "raw", "graphql x2")}
    for row in rows.values():
        assert row["done"] > 0, row
        assert row["p50_ms"] <= row["p99_ms"], row
        assert row["server_cpu_ms_per_unit"] > 0, row
    # The statement counts of issue 15's acceptance, as the server itself counted them.
    assert result["sql"]["read"][0] <= 5
    assert result["sql"]["requestQuote"][0] <= 8
    assert result["sql"]["bookQuote"][0] <= 10


@pytest.mark.parametrize("argv", [["--paths", "nothing"], ["--clients", "0"], ["--clients", "x"]])
def test_bad_arguments_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench_api.main(argv)
    assert exit_info.value.code == 2
