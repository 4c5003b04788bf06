"""The accept benchmark runs end to end on a throwaway database; its numbers are reported, never timed here."""

from __future__ import annotations

import json

import pytest

from marketplace import bench_accept


def test_the_benchmark_accepts_every_offer(admin_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = bench_accept.main(["--couriers", "3", "--offers-per-courier", "2", "--json", "--server-url", admin_dsn])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert (result["couriers"], result["offers"]) == (3, 6)
    assert result["offers_per_s"] > 0
    assert result["sql_statements_per_accept"] > 0


def test_the_benchmark_refuses_absurd_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_accept.main(["--couriers", "0"]) == 2
    assert "couriers" in capsys.readouterr().err
