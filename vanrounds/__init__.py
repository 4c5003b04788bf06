"""Van rounds for the professional fleet, planned with PyVRP; imports nothing of the service."""

from vanrounds.check import Violation, check_plan, check_route, plan_totals
from vanrounds.model import Depot, Leg, Parcel, Plan, Problem, Route, Site, Stop, Totals, VanType
from vanrounds.solver import PlanInfeasibleError, plan_day

__all__ = [
    "Depot",
    "Leg",
    "Parcel",
    "Plan",
    "PlanInfeasibleError",
    "Problem",
    "Route",
    "Site",
    "Stop",
    "Totals",
    "VanType",
    "Violation",
    "check_plan",
    "check_route",
    "plan_day",
    "plan_totals",
]
