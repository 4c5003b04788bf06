"""`python -m matching solve|check|generate` as separate processes, as other systems run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from matching.codec import instance_to_json, parse_instance
from matching.generate import generate
from tests.matching import factory

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 120


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "matching", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=TIMEOUT_S,
        check=False,
    )


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 parcels x 15 trips, dense enough (density 2) that the integer model runs."""
    path = tmp_path_factory.mktemp("cli") / "city.json"
    path.write_text(json.dumps(instance_to_json(generate(40, 15, seed=1, density=2.0))))
    return path


@pytest.fixture(scope="module")
def solved_city(city: Path) -> tuple[Path, dict[str, Any]]:
    result = run("solve", str(city), "--solver", "cbc", "--time-limit", "20")
    assert result.returncode == 0, result.stderr
    path = city.with_name("solution.json")
    path.write_text(result.stdout)
    return path, json.loads(result.stdout)


def assert_only_solution_json(stdout: str) -> dict[str, Any]:
    """stdout holds one JSON document and nothing else: no banner, no progress."""
    assert "Running HiGHS" not in stdout
    assert "Copyright" not in stdout
    assert "matching:" not in stdout
    assert stdout.endswith("\n")
    assert stdout.count("\n") == 1
    solution = json.loads(stdout)
    assert isinstance(solution, dict)
    assert set(solution) >= {"assignments", "unassigned", "cost", "bound"}
    return solution


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_solve_writes_only_the_solution_json_to_stdout(city: Path, solver: str) -> None:
    result = run("solve", str(city), "--solver", solver, "--time-limit", "20", "--gap", "0")

    assert result.returncode == 0, result.stderr
    solution = assert_only_solution_json(result.stdout)
    assert solution["assignments"], "this city should carry parcels"
    assert solution["stats"]["solver"] == {"cbc": "CBC", "highs": "HiGHS"}[solver]
    assert set(solution["stats"]) >= {"solver", "wall_s", "columns", "components"}
    # The integer model really ran, so its solver had the chance to print.
    assert solution["stats"]["milps"] >= 1
    assert "Traceback" not in result.stderr


def test_solve_dash_reads_the_instance_from_stdin(city: Path) -> None:
    result = run("solve", "-", "--solver", "cbc", "--time-limit", "20", stdin=city.read_text())

    assert result.returncode == 0, result.stderr
    solution = assert_only_solution_json(result.stdout)
    # Same instance as the file: the same set of parcels is placed or explained.
    placed = [p for a in solution["assignments"] for p in a["parcel_ids"]] + [
        u["parcel_id"] for u in solution["unassigned"]
    ]
    assert sorted(placed) == sorted(f"p{i}" for i in range(40))


def test_quiet_solve_prints_no_progress(city: Path) -> None:
    result = run("solve", str(city), "--quiet", "--time-limit", "20")

    assert result.returncode == 0
    assert "round" not in result.stderr
    assert_only_solution_json(result.stdout)


def test_malformed_instance_exits_2_naming_every_bad_field(tmp_path: Path) -> None:
    data = factory.issue_example()
    del data["parcels"][0]["weight_g"]
    data["parcels"][0]["pickup_until"] = "soon"
    data["trips"][0]["depart_after"] = "2026-11-24T08:30:00"
    data["trips"][0]["insurance"]["currency"] = "EURO"
    twin = dict(data["parcels"][0], id="p2", weight_g=-3)
    data["parcels"].append(twin)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    bad_fields = [
        "parcels[0].weight_g",
        "parcels[0].pickup_until",
        "parcels[1].weight_g",
        "parcels[1].pickup_until",
        "trips[0].depart_after",
        "trips[0].insurance.currency",
    ]

    result = run("solve", str(path))

    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    for field in bad_fields:
        assert len([line for line in lines if f"{field}:" in line]) == 1, (field, result.stderr)


def test_malformed_instance_on_stdin_and_unreadable_json_exit_2(tmp_path: Path) -> None:
    negative = factory.issue_example()
    negative["parcels"][0]["weight_g"] = -1

    from_stdin = run("solve", "-", stdin=json.dumps(negative))
    not_json = run("solve", "-", stdin="{")
    missing = run("solve", str(tmp_path / "nowhere.json"))

    for result in (from_stdin, not_json, missing):
        assert result.returncode == 2
        assert result.stdout == ""
        assert "Traceback" not in result.stderr
    assert "parcels[0].weight_g" in from_stdin.stderr


def test_check_accepts_the_engines_solution(city: Path, solved_city: tuple[Path, dict[str, Any]]) -> None:
    solution_path, _ = solved_city

    result = run("check", str(city), str(solution_path))

    assert result.returncode == 0, result.stdout
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["violations"] == []


def test_check_rejects_a_tampered_solution(
    city: Path, solved_city: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    _, solution = solved_city
    tampered = json.loads(json.dumps(solution))
    tampered["assignments"][0]["cost"] -= 10
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(tampered))

    result = run("check", str(city), str(path))

    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert [v["code"] for v in report["violations"]] == ["cost"]


def test_declined_pair_in_the_file_is_honoured_by_solve_and_check(
    city: Path, solved_city: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """With the solved plan's first pair forbidden in the instance file, `check` rejects the old plan
    and `solve` makes a new one without that pair, which `check` accepts."""
    old_path, old = solved_city
    trip_id, parcel_id = old["assignments"][0]["trip_id"], old["assignments"][0]["parcel_ids"][0]
    data = json.loads(city.read_text())
    data["forbidden"] = [{"trip_id": trip_id, "parcel_id": parcel_id}]
    restricted = tmp_path / "declined.json"
    restricted.write_text(json.dumps(data))

    rejected = run("check", str(restricted), str(old_path))
    solved = run("solve", str(restricted), "--quiet", "--time-limit", "20")
    new_path = tmp_path / "replanned.json"
    new_path.write_text(solved.stdout)
    accepted = run("check", str(restricted), str(new_path))

    assert rejected.returncode == 1
    assert [v["code"] for v in json.loads(rejected.stdout)["violations"]] == ["forbidden"]
    assert solved.returncode == 0, solved.stderr
    new = assert_only_solution_json(solved.stdout)
    assert all(parcel_id not in a["parcel_ids"] for a in new["assignments"] if a["trip_id"] == trip_id)
    assert accepted.returncode == 0, accepted.stdout


def test_check_of_a_malformed_instance_exits_2(tmp_path: Path, solved_city: tuple[Path, dict[str, Any]]) -> None:
    solution_path, _ = solved_city
    data = factory.issue_example()
    data["parcels"][0]["currency"] = "???"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))

    result = run("check", str(path), str(solution_path))

    assert result.returncode == 2
    assert "parcels[0].currency" in result.stderr
    assert "Traceback" not in result.stderr


def test_generate_is_deterministic_for_a_seed() -> None:
    first = run("generate", "--parcels", "30", "--trips", "10", "--seed", "5")
    again = run("generate", "--parcels", "30", "--trips", "10", "--seed", "5")
    other = run("generate", "--parcels", "30", "--trips", "10", "--seed", "6")

    assert first.returncode == again.returncode == other.returncode == 0
    assert first.stdout == again.stdout
    assert first.stdout != other.stdout
    instance = parse_instance(json.loads(first.stdout))
    assert (len(instance.parcels), len(instance.trips)) == (30, 10)
    assert instance == generate(30, 10, 5)


def test_generate_density_widens_detours() -> None:
    plain = parse_instance(json.loads(run("generate", "--parcels", "5", "--trips", "8", "--seed", "2").stdout))
    dense = parse_instance(
        json.loads(run("generate", "--parcels", "5", "--trips", "8", "--seed", "2", "--density", "2").stdout)
    )

    assert sum(t.max_detour_m for t in dense.trips) > sum(t.max_detour_m for t in plain.trips)


@pytest.mark.parametrize("command", ["solve", "check", "generate", "bench"])
def test_help_works_for_each_subcommand(command: str) -> None:
    result = run(command, "--help")

    assert result.returncode == 0
    assert result.stdout.startswith("usage: python -m matching " + command)
    assert result.stderr == ""


def test_top_level_help_lists_the_subcommands() -> None:
    result = run("--help")

    assert result.returncode == 0
    for command in ("solve", "check", "generate", "bench"):
        assert command in result.stdout


@pytest.mark.parametrize("args", [["solve", "x.json", "--solver", "gurobi"], ["solve", "x.json", "--gap", "1.5"]])
def test_bad_options_exit_2(args: list[str]) -> None:
    result = run(*args)

    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


def test_check_of_an_ill_typed_solution_reports_instead_of_crashing(
    city: Path, solved_city: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    _, solution = solved_city
    broken = json.loads(json.dumps(solution))
    broken["assignments"][0]["stops"][0] = "pickup"
    path = tmp_path / "ill-typed.json"
    path.write_text(json.dumps(broken))

    result = run("check", str(city), str(path))

    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    assert json.loads(result.stdout)["ok"] is False


def test_the_time_limit_counts_from_the_process_start_not_from_the_import_of_the_command_line() -> None:
    """`--time-limit` is the wall clock a caller waits for: the interpreter's start counts too."""
    code = "from matching import cli; print(cli._IMPORTED - cli._process_started())"
    before_import = float(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )

    assert 0.0 < before_import <= 5.0
