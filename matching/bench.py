"""`python -m matching bench`: greedy and the MILP, end to end, on synthetic cities S, M, L and
L-dense (L with the generator's density at 2: over 50 trips could carry each parcel).

Each run is a fresh `python -m matching solve` process, timed from process start to the solution
written (imports and compiled-kernel loading included), with its own peak memory. Both methods
run on the same instance in the same bench run, so the greedy column is the baseline. On L-dense
a third run ("milp 5s") gives the engine a 5 s limit: the anytime check (within 5.5 s, no worse
than greedy). Then warm rounds: a city solved, 5% of its parcels and trips replaced, solved again
cold and warm in one process; the speed-up is printed beside both gaps.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from matching.check import check
from matching.codec import instance_to_json, parse_instance
from matching.generate import generate
from matching.model import Instance


@dataclass(frozen=True)
class Size:
    name: str
    parcels: int
    trips: int
    time_limit_s: float  # what the MILP run may spend inside the solver
    density: float = 1.0  # the generator's setting (wider windows and detours)
    anytime_s: float | None = None  # also run the MILP under this limit, as the anytime check


DENSE = 2.0  # the generator's density for L-dense: about 57 trips per parcel at 10,000 x 3,000
SIZES = {
    "S": Size("S", 500, 150, 3.0),
    "M": Size("M", 2_000, 600, 4.5),  # counted from process start since session 5: 5 s end to end
    "L": Size("L", 10_000, 3_000, 50.0),
    "L-DENSE": Size("L-dense", 10_000, 3_000, 110.0, DENSE, anytime_s=5.0),
}


@dataclass
class Row:
    size: str
    method: str
    parcels: int
    trips: int
    trips_per_parcel: float
    columns: int
    wall_s: float
    candidates_s: float
    build_s: float
    solve_s: float
    explanations_s: float
    peak_rss_mb: float
    served_pct: float
    total: int
    fallback_only: int
    saving_pct: float
    bound: int | None
    gap_pct: float | None
    valid: bool


def _progress(message: str, *, ticking: bool = False) -> None:
    """On a terminal a line that updates in place; in a log, ticks only every ten seconds."""
    if sys.stderr.isatty():
        print(f"\rbench: {message:<70}", end="", file=sys.stderr, flush=True)
    elif not ticking:
        print(f"bench: {message}", file=sys.stderr, flush=True)


def _run(
    instance_path: Path, method: str, size: Size, solver: str, time_limit_s: float | None = None
) -> tuple[dict[str, Any], float, float]:
    command = [
        sys.executable, "-m", "matching", "solve", str(instance_path), "--quiet", "--method", method,
        "--solver", solver, "--time-limit", str(time_limit_s or size.time_limit_s), "--gap", "0.005",
    ]  # fmt: skip
    _progress(f"{size.name}: {method} running")
    # Files, not pipes: a solution is larger than a pipe's buffer, and nobody reads it until the end.
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out_file, stderr=err_file)  # noqa: S603
        while process.poll() is None:
            _progress(f"{size.name}: {method} running, {time.perf_counter() - started:5.1f} s", ticking=True)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.5)
        wall = time.perf_counter() - started
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read(), err_file.read()
    if process.returncode != 0:
        raise RuntimeError(f"{method} on {size.name} failed: {err.decode()[-2000:]}")
    # The child reports its own peak (RUSAGE_CHILDREN would give the largest child so far).
    peak_kb = _peak_kb(err)
    return json.loads(out), wall, peak_kb / 1024


def _peak_kb(stderr: bytes) -> float:
    for line in stderr.decode(errors="replace").splitlines():
        if line.startswith("peak_rss_kb="):
            return float(line.split("=", 1)[1])
    return float("nan")


def _warm_up(tmp: str, solver: str) -> float:
    """One small solve first: it loads (or, on a fresh checkout, compiles and caches) the kernels,
    so the sizes below are timed as every later run of the engine will see them."""
    path = Path(tmp) / "warm-up.json"
    path.write_text(json.dumps(instance_to_json(generate(40, 15, 0))))
    _, wall, _ = _run(path, "milp", Size("warm-up", 40, 15, 5.0), solver)
    return wall


def run_bench(args: argparse.Namespace) -> str:
    os.environ["MATCHING_REPORT_PEAK_RSS"] = "1"
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        warm_up_s = _warm_up(tmp, args.solver)
        for key in [s.strip().upper() for s in args.sizes.split(",") if s.strip()]:
            size = SIZES[key]
            name = size.name
            _progress(f"{name}: generating {size.parcels} parcels x {size.trips} trips")
            instance = generate(size.parcels, size.trips, args.seed, density=args.density * size.density)
            path = Path(tmp) / f"{name}.json"
            path.write_text(json.dumps(instance_to_json(instance)))
            instance = parse_instance(json.loads(path.read_text()))
            results = {}
            for method in ("greedy", "milp"):
                solution, wall, peak_mb = _run(path, method, size, args.solver)
                results[method] = (solution, wall, peak_mb)
            if size.anytime_s is not None:
                solution, wall, peak_mb = _run(path, "milp", size, args.solver, size.anytime_s)
                results[f"milp {size.anytime_s:g}s"] = (solution, wall, peak_mb)
            bound = results["milp"][0]["bound"]["lower"]
            for method, (solution, wall, peak_mb) in results.items():
                stats, cost = solution["stats"], solution["cost"]
                timings = stats.get("timings", {})
                served = 1 - len(solution["unassigned"]) / max(1, size.parcels)
                rows.append(
                    Row(
                        size=name,
                        method=method,
                        parcels=size.parcels,
                        trips=size.trips,
                        trips_per_parcel=float(stats.get("trips_per_parcel", 0.0)),
                        columns=int(stats.get("columns", 0)),
                        wall_s=round(wall, 2),
                        candidates_s=float(timings.get("candidates_s", 0.0)),
                        build_s=float(timings.get("build_s", 0.0)) + float(timings.get("greedy_s", 0.0)),
                        solve_s=float(timings.get("column_generation_s", 0.0)) + float(timings.get("solve_s", 0.0)),
                        explanations_s=float(timings.get("explanations_s", 0.0)),
                        peak_rss_mb=round(peak_mb, 1),
                        served_pct=round(100 * served, 2),
                        total=int(cost["total"]),
                        fallback_only=int(cost["fallback_only"]),
                        saving_pct=round(100 * (1 - cost["total"] / max(1, cost["fallback_only"])), 2),
                        bound=bound,
                        gap_pct=None if bound is None else round(100 * (cost["total"] - bound) / cost["total"], 3),
                        # Every assignment and total; reasons of every 50th unassigned parcel on L.
                        valid=check(instance, solution, reasons_every=50 if name.startswith("L") else 1).ok,
                    )
                )
    warm_keys = [k.strip().upper() for k in args.warm_sizes.split(",") if k.strip()]
    if warm_keys:
        _warm_up_rounds(args)
    warm_rows = [_warm_round(SIZES[k], args) for k in warm_keys]
    summary = {
        "warm_up_s": round(warm_up_s, 2),
        "solver": args.solver,
        "rows": [asdict(r) for r in rows],
        "warm_rounds": [asdict(r) for r in warm_rows],
    }
    Path(args.output).write_text(json.dumps(summary, indent=2) + "\n")
    _progress(f"done; results in {args.output}")
    print(file=sys.stderr)
    return (
        format_table(rows)
        + "\n\n"
        + _anytime_line(rows)
        + "\n\n"
        + format_warm_table(warm_rows)
        + f"\n\nwarm-up run (loads or compiles the kernels): {warm_up_s:.2f} s; "
        + f"load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}"
    )


def _anytime_line(rows: list[Row]) -> str:
    """The anytime check, against greedy in the same run: within the limit plus 10%, no worse."""
    lines = []
    for r in rows:
        if not r.method.startswith("milp ") or not r.method.endswith("s"):
            continue
        limit = float(r.method.split()[1][:-1])
        greedy = next(g for g in rows if g.size == r.size and g.method == "greedy")
        within = r.wall_s <= 1.1 * limit
        lines.append(
            f"anytime on {r.size}: limit {limit:g} s, wall {r.wall_s} s ({'within' if within else 'OVER'} "
            f"{1.1 * limit:.1f} s), total {r.total} vs greedy {greedy.total} "
            f"({'no worse' if r.total <= greedy.total else 'WORSE'}), bound {r.bound}"
        )
    return "\n".join(lines)


@dataclass
class WarmRow:
    size: str
    changed_pct: float
    cold_s: float
    warm_s: float
    speedup: float
    cold_gap_pct: float | None
    warm_gap_pct: float | None
    warm_columns_kept: int
    warm_columns_dropped: int
    cold_timings: dict[str, float]
    warm_timings: dict[str, float]


def _replace_share(instance: Instance, other: Instance, share: float, seed: int) -> Instance:
    """`instance` with `share` of its parcels and of its trips replaced by new ones from `other`."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible sample, not a secret)
    n_p, n_t = round(share * len(instance.parcels)), round(share * len(instance.trips))
    gone_p = set(rng.sample(range(len(instance.parcels)), n_p))
    gone_t = set(rng.sample(range(len(instance.trips)), n_t))
    parcels = [p for i, p in enumerate(instance.parcels) if i not in gone_p]
    parcels += [replace(p, id=f"new-{p.id}") for p in other.parcels[:n_p]]
    trips = [t for i, t in enumerate(instance.trips) if i not in gone_t]
    trips += [replace(t, id=f"new-{t.id}", courier_id=f"new-{t.courier_id}") for t in other.trips[:n_t]]
    return replace(instance, parcels=tuple(parcels), trips=tuple(trips))


def _warm_up_rounds(args: argparse.Namespace) -> None:
    """A tiny cold and warm round in this process first: the warm rounds below run here, not in
    a fresh process, and the first call of each compiled kernel loads it from the cache (a
    kernel only the warm path uses, on a fresh checkout, compiles), which neither round should pay."""
    from matching.solver import SolveParams, solve

    tiny = generate(40, 15, 0)
    params = SolveParams(time_limit_s=10.0, solver=args.solver)
    solve(_replace_share(tiny, generate(40, 15, 1), 0.1, 0), params, warm=solve(tiny, params))


def _warm_round(size: Size, args: argparse.Namespace) -> WarmRow:
    """A round, then the next one with 5% of the city changed, cold and warm, in this process."""
    from matching.solver import SolveParams, solve

    _progress(f"{size.name}: warm rounds")
    density = args.density * size.density
    first = generate(size.parcels, size.trips, args.seed, density=density)
    later = _replace_share(first, generate(size.parcels, size.trips, args.seed + 1, density=density), 0.05, args.seed)
    # A limit neither run reaches, so the times compare convergence, not the deadline.
    params = SolveParams(time_limit_s=max(60.0, 2 * size.time_limit_s), gap=0.005, solver=args.solver)
    previous = solve(first, params)
    started = time.perf_counter()
    cold = solve(later, params)
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    warm = solve(later, params, warm=previous)
    warm_s = time.perf_counter() - started
    return WarmRow(
        size=size.name,
        changed_pct=5.0,
        cold_s=round(cold_s, 2),
        warm_s=round(warm_s, 2),
        speedup=round(cold_s / max(warm_s, 1e-9), 2),
        cold_gap_pct=None if cold.bound.gap is None else round(100 * cold.bound.gap, 3),
        warm_gap_pct=None if warm.bound.gap is None else round(100 * warm.bound.gap, 3),
        warm_columns_kept=warm.stats.warm_columns_kept,
        warm_columns_dropped=warm.stats.warm_columns_dropped,
        cold_timings=_split(cold.stats.timings, cold_s),
        warm_timings=_split(warm.stats.timings, warm_s),
    )


def _split(timings: dict[str, float], wall_s: float) -> dict[str, float]:
    """A round's time by phase: candidates, column generation (with the master's build), the
    integer part (dive, local search, models), explanations, and the rest (arrays, greedy)."""
    parts = {
        "candidates": timings.get("candidates_s", 0.0),
        "pricing": timings.get("column_generation_s", 0.0) + timings.get("build_s", 0.0),
        "integer": timings.get("solve_s", 0.0),
        "explain": timings.get("explanations_s", 0.0),
    }
    parts["other"] = max(0.0, wall_s - sum(parts.values()))
    return {k: round(v, 2) for k, v in parts.items()}


def format_warm_table(rows: list[WarmRow]) -> str:
    header = (
        "| size | changed % | cold s | warm s | speed-up (cold/warm) | cold gap % | warm gap % "
        "| cold split: cand/pricing/integer/explain/other s | warm split | warm columns kept | dropped |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]

    def split(t: dict[str, float]) -> str:
        return "/".join(f"{t.get(k, 0.0):.2f}" for k in ("candidates", "pricing", "integer", "explain", "other"))

    for r in rows:
        lines.append(
            f"| {r.size} | {r.changed_pct} | {r.cold_s} | {r.warm_s} | {r.speedup}x | {r.cold_gap_pct} "
            f"| {r.warm_gap_pct} | {split(r.cold_timings)} | {split(r.warm_timings)} | {r.warm_columns_kept} "
            f"| {r.warm_columns_dropped} |"
        )
    return "\n".join(lines)


def format_table(rows: list[Row]) -> str:
    header = (
        "| size | method | trips/parcel | columns | wall s | candidates s | build s | solve s | explain s "
        "| peak MB | served % | total | saving % | gap to bound % | valid |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in rows:
        lines.append(
            f"| {r.size} | {r.method} | {r.trips_per_parcel} | {r.columns} | {r.wall_s} | {r.candidates_s} "
            f"| {r.build_s:.3f} | {r.solve_s:.3f} | {r.explanations_s} | {r.peak_rss_mb} | {r.served_pct} | {r.total} "
            f"| {r.saving_pct} | {r.gap_pct} | {'yes' if r.valid else 'NO'} |"
        )
    return "\n".join(lines)
