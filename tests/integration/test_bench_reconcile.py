"""The reconciliation benchmark runs end to end on a throwaway database; its numbers are reported, never timed here."""

from __future__ import annotations

import json

import pytest

from marketplace import bench_reconcile


def test_the_benchmark_reconciles_a_seeded_day_without_a_mismatch(
    admin_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = bench_reconcile.main(["--deliveries", "30", "--couriers", "5", "--json", "--server-url", admin_dsn])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert result["deliveries"] == 30
    listed, reconciled, payout, again = result["phases"]
    # Per delivery: the charge's balance transaction and the transfer's, and the transfer object.
    assert listed["stripe_objects"] == 3 * 30
    # Per delivery: the charge, its fee and the transfer, each matched to its entry.
    assert (reconciled["stripe_objects"], reconciled["matched"], reconciled["mismatches"]) == (90, 90, 0)
    # The day's payout carries every charge and transfer (and its own balance transaction); then it matches too.
    assert payout["stripe_objects"] == 2 * 30 + 1
    assert (again["stripe_objects"], again["matched"], again["mismatches"]) == (91, 91, 0)


def test_the_benchmark_refuses_absurd_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_reconcile.main(["--deliveries", "0"]) == 2
    assert "deliveries" in capsys.readouterr().err
