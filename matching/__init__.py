"""Matching engine: assigns parcels to crowd trips, explains the rest, and proves how close it is.

Plain data in, plain data out; nothing here touches the web layer, the database or Stripe.

    from matching import SolveParams, parse_instance, solve
    solution = solve(parse_instance(data), SolveParams(time_limit_s=30))
"""

from matching.check import Report, Violation, check
from matching.codec import InstanceError, instance_to_json, parse_instance, solution_to_json
from matching.generate import generate
from matching.model import (
    Assignment,
    Bound,
    Cost,
    Forbidden,
    Instance,
    Insurance,
    Parcel,
    Pay,
    Reason,
    Rules,
    Solution,
    SolveStats,
    Stop,
    Trip,
    Unassigned,
    VerificationRule,
    WarmStart,
)
from matching.solver import SolveParams, solve, solve_greedy

__all__ = [
    "Assignment",
    "Bound",
    "Cost",
    "Forbidden",
    "Instance",
    "InstanceError",
    "Insurance",
    "Parcel",
    "Pay",
    "Reason",
    "Report",
    "Rules",
    "Solution",
    "SolveParams",
    "SolveStats",
    "Stop",
    "Trip",
    "Unassigned",
    "VerificationRule",
    "Violation",
    "WarmStart",
    "check",
    "generate",
    "instance_to_json",
    "parse_instance",
    "solution_to_json",
    "solve",
    "solve_greedy",
]
