"""A stateful, Stripe-compatible server for development and tests (see README, "The Stripe fake").

Only the endpoints Crowdship uses, answered in the shapes the official `stripe` SDK parses.
"""

from stripefake.app import create_app
from stripefake.clock import Clock, ShiftedClock, SystemClock
from stripefake.core import FailPlan, FakeStripe, FeeModel
from stripefake.delivery import signature_header
from stripefake.server import RunningFake
from stripefake.store import Store

__all__ = [
    "Clock",
    "FailPlan",
    "FakeStripe",
    "FeeModel",
    "RunningFake",
    "ShiftedClock",
    "Store",
    "SystemClock",
    "create_app",
    "signature_header",
]
