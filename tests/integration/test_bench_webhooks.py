"""The webhook benchmark runs end to end on a throwaway database; its numbers are reported, never timed here."""

from __future__ import annotations

import json

import pytest

from marketplace import bench_webhooks


def test_the_benchmark_delivers_every_message_through_the_worker(
    admin_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = bench_webhooks.main(["--deliveries", "20", "--json", "--server-url", admin_dsn])
    out, err = capsys.readouterr()
    assert code == 0, err
    phases = json.loads(out)
    assert [p["deliveries"] for p in phases] == [20, 20, 20]
    assert all(p["per_s"] > 0 for p in phases)


def test_the_benchmark_refuses_absurd_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_webhooks.main(["--deliveries", "0"]) == 2
    assert "deliveries" in capsys.readouterr().err
