"""The engine writes nothing to standard output: a service solving in-process (the worker, `crowdship
simulate`) owns its stdout. HiGHS's banner is written from C once per process, so this runs in a fresh one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A small city whose LP is fractional, so both HiGHS paths run: the master (highspy) and the MILP (PuLP).
SOLVE = """
import sys
import matching
from matching.generate import generate
# No deadline pressure and no gap allowance: a loaded machine or a good first plan never skips the MILP.
params = matching.SolveParams(time_limit_s=120.0, gap=0.0, solver="highs")
solution = matching.solve(generate(20, 8, seed=2, density=2.0), params)
print(solution.stats.milps, file=sys.stderr)
"""


def test_a_highs_solve_prints_nothing_to_stdout() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SOLVE], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stderr.strip().splitlines()[-1]) >= 1  # the integer model ran
    assert done.stdout == ""
