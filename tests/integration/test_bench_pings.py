"""The pings benchmark runs end to end on a throwaway database; its numbers are reported, never timed here."""

from __future__ import annotations

import json

import pytest

from marketplace import bench_pings


def test_the_benchmark_ingests_every_ping_and_fans_out_across_replicas(
    admin_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--couriers", "3", "--batches", "2", "--samples", "3", "--json", "--server-url", admin_dsn]
    code = bench_pings.main(args)
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = {r["what"]: r for r in json.loads(out)}
    assert rows["recordLocationPings on one replica"]["count"] == 3 * 2 * 10
    assert rows["baseline: the same batches' insert alone"]["count"] == 3 * 2 * 10
    assert rows["ping on replica A -> subscriber on replica B"]["count"] == 3
    assert all(r["p50_ms"] > 0 for r in rows.values())


def test_the_benchmark_refuses_absurd_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_pings.main(["--couriers", "0"]) == 2
    assert "couriers" in capsys.readouterr().err
