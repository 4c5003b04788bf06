"""`python -m vanrounds --parcels 2000 --stores 30 --seed 1`: plans a generated city day and prints its
figures as JSON (the numbers in README's van-rounds section come from here)."""

from __future__ import annotations

import argparse
import json
import random
import time

from vanrounds.model import Depot, Parcel, Problem, Site, VanType
from vanrounds.solver import plan_day

H = 3600


def city(parcels: int, stores: int, seed: int) -> Problem:
    """Stores and recipients spread over a 16 km square around Berlin's centre; pickups 8:00-16:00 in
    two-hour windows, deliveries within six hours after pickup opens; 0.2 to 10 kg."""
    rnd = random.Random(seed)  # noqa: S311 - a replayable city, not a secret

    def point(prefix: str, i: int) -> Site:
        return Site(f"{prefix}{i}", 52.52 + rnd.uniform(-0.072, 0.072), 13.40 + rnd.uniform(-0.118, 0.118))

    shops = [point("s", i) for i in range(stores)]
    out = []
    for i in range(parcels):
        opens = rnd.randrange(8, 15) * H
        out.append(
            Parcel(
                f"p{i}",
                rnd.choice(shops),
                point("r", i),
                rnd.randint(200, 10_000),
                opens,
                opens + 2 * H,
                opens + 2 * H,
                opens + 8 * H,
            )
        )
    van = VanType(
        "van",
        count=60,
        capacity_g=800_000,
        fixed_cost_minor=6_000,
        cost_per_km_minor=35,
        cost_per_hour_minor=3_000,
        co2_g_per_km=250,
    )
    return Problem(Depot(Site("depot", 52.52, 13.40), 6 * H, 24 * H), tuple(out), (van,))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m vanrounds")
    parser.add_argument("--parcels", type=int, default=200)
    parser.add_argument("--stores", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runtime", type=float, default=2.0, help="PyVRP's limit per leg, seconds")
    args = parser.parse_args()
    problem = city(args.parcels, args.stores, args.seed)
    started = time.perf_counter()
    plan = plan_day(problem, max_runtime_s=args.runtime, seed=args.seed)
    t = plan.totals
    served = args.parcels - len(plan.unserved)
    print(
        json.dumps(
            {
                "parcels": args.parcels,
                "served": served,
                "repaired": len(plan.repaired),
                "seconds": round(time.perf_counter() - started, 1),
                "routes": t.routes,
                "stops": t.stops,
                "km": round(t.distance_m / 1000, 1),
                "cost_minor": t.cost_minor,
                "cost_per_parcel_minor": round(t.cost_minor / served) if served else None,
                "cost_per_stop_minor": round(t.cost_minor / t.stops) if t.stops else None,
                "co2_g_per_parcel": round(t.co2_g / served, 1) if served else None,
                "co2_g_per_km": round(t.co2_g * 1000 / t.distance_m, 1) if t.distance_m else None,
            }
        )
    )


if __name__ == "__main__":
    main()
