"""`python -m matching solve|check|generate|bench`: a thin command line over the package."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

from matching.codec import InstanceError, instance_to_json, parse_instance, solution_to_json


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Solvers print banners from C code straight to file descriptor 1; send them to stderr."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _load_json(path: str) -> Any:
    if path == "-":
        return json.load(sys.stdin)
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _read_instance(path: str, err: TextIO) -> Any:
    try:
        return parse_instance(_load_json(path))
    except (OSError, json.JSONDecodeError) as exc:
        print(f"matching: cannot read {path}: {exc}", file=err)
    except InstanceError as exc:
        print(f"matching: {path} is not a valid instance:", file=err)
        for problem in exc.problems:
            print(f"  {problem}", file=err)
    return None


def _progress(message: str) -> None:
    print(f"matching: {message}", file=sys.stderr, flush=True)


_IMPORTED = time.perf_counter()  # the process is at least this old when a command runs
_STARTUP_AT_MOST_S = 5.0  # interpreter and imports before this module; more means /proc misled us


def _process_started() -> float:
    """When this process started, on `time.perf_counter`'s scale (Linux: from /proc), so that
    `--time-limit` counts the interpreter, the imports and reading the instance too. Where that
    cannot be read, or reads implausibly (a kernel counting start times on another clock), the
    moment this module was imported."""
    try:
        with open("/proc/self/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22, starttime, in clock ticks after boot
        started = time.perf_counter() - (time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return _IMPORTED
    return started if _IMPORTED - _STARTUP_AT_MOST_S <= started <= _IMPORTED else _IMPORTED


def _solve(args: argparse.Namespace) -> int:
    from matching.solver import SolveParams, solve, solve_greedy

    instance = _read_instance(args.instance, sys.stderr)
    if instance is None:
        return 2
    params = SolveParams(
        time_limit_s=args.time_limit,
        gap=args.gap,
        solver=args.solver,
        memory_budget_mb=args.memory_budget_mb,
        threads=args.threads,
    )
    with stdout_to_stderr():
        if args.method == "greedy":
            solution = solve_greedy(instance)
        else:
            solution = solve(
                instance, params, progress=_progress if not args.quiet else lambda _: None, started=_process_started()
            )
    json.dump(solution_to_json(solution), sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()
    if os.environ.get("MATCHING_REPORT_PEAK_RSS"):
        import resource

        print(f"peak_rss_kb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr)
    return 0


def _check(args: argparse.Namespace) -> int:
    from matching.check import check

    instance = _read_instance(args.instance, sys.stderr)
    if instance is None:
        return 2
    try:
        solution = _load_json(args.solution)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"matching: cannot read {args.solution}: {exc}", file=sys.stderr)
        return 2
    report = check(instance, solution)
    json.dump(report.to_json(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if report.ok else 1


def _generate(args: argparse.Namespace) -> int:
    from matching.generate import generate

    instance = generate(args.parcels, args.trips, args.seed, density=args.density)
    json.dump(instance_to_json(instance), sys.stdout)
    sys.stdout.write("\n")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from matching.bench import run_bench

    with stdout_to_stderr():
        table = run_bench(args)
    print(table)
    return 0


def _positive(kind: type) -> Any:
    def parse(value: str) -> Any:
        parsed = kind(value)
        if parsed <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {value}")
        return parsed

    return parse


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m matching", description="Match parcels to crowd trips.")
    commands = root.add_subparsers(dest="command", required=True)

    solve = commands.add_parser("solve", help="solve an instance; the solution JSON goes to standard output")
    solve.add_argument("instance", help="instance JSON file, or - for standard input")
    solve.add_argument("--time-limit", type=_positive(float), default=60.0, help="seconds (default 60)")
    solve.add_argument("--gap", type=float, default=0.005, help="relative gap to stop at (default 0.005)")
    solve.add_argument("--solver", choices=["cbc", "highs"], default="cbc", help="MILP solver (default cbc)")
    solve.add_argument("--method", choices=["milp", "greedy"], default="milp", help="default milp")
    solve.add_argument("--quiet", action="store_true", help="no progress on standard error")
    solve.add_argument("--memory-budget-mb", type=_positive(float), default=2048.0, help="default 2048")
    solve.add_argument("--threads", type=_positive(int), default=None, help="numba threads (default: every core)")
    solve.set_defaults(run=_solve)

    check = commands.add_parser("check", help="verify a solution against every rule")
    check.add_argument("instance")
    check.add_argument("solution")
    check.set_defaults(run=_check)

    generate = commands.add_parser("generate", help="write a synthetic city's instance to standard output")
    generate.add_argument("--parcels", type=_positive(int), required=True)
    generate.add_argument("--trips", type=_positive(int), required=True)
    generate.add_argument("--seed", type=int, default=1)
    generate.add_argument("--density", type=_positive(float), default=1.0, help="wider windows and detours (>1)")
    generate.set_defaults(run=_generate)

    bench = commands.add_parser("bench", help="greedy vs MILP on sizes S, M, L and L-dense, then warm rounds")
    bench.add_argument("--sizes", default="S,M,L,L-dense", help="comma-separated sizes (default S,M,L,L-dense)")
    bench.add_argument("--warm-sizes", default="M,L", help="sizes for the warm-round comparison (default M,L)")
    bench.add_argument("--solver", choices=["cbc", "highs"], default="highs")
    bench.add_argument("--seed", type=int, default=1)
    bench.add_argument("--density", type=_positive(float), default=1.0)
    bench.add_argument("--output", default="bench.json", help="where to write the JSON results")
    bench.set_defaults(run=_bench)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "solve" and not 0 <= args.gap < 1:
        print("matching: --gap must be in [0, 1)", file=sys.stderr)
        return 2
    return int(args.run(args))
