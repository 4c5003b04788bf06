"""The settlement benchmark runs end to end on a throwaway database; its numbers are reported, never timed here."""

from __future__ import annotations

import json

import pytest

from marketplace import bench_settle


def test_the_benchmark_settles_every_delivery_and_makes_every_bare_call(
    admin_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = bench_settle.main(["--deliveries", "8", "--couriers", "2", "--in-flight", "2", "--json", "--server-url",
                              admin_dsn])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err  # it checks itself that every job settled with its three entries
    phases = json.loads(out)
    assert [p["deliveries"] for p in phases] == [4, 4, 4, 4]
    assert all(p["per_s"] > 0 for p in phases)


def test_the_benchmark_refuses_absurd_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_settle.main(["--deliveries", "1"]) == 2
    assert "deliveries" in capsys.readouterr().err
