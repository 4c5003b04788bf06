"""The day's report: one HTML file with embedded PNG plots (matplotlib, no tile server) and the figures as JSON."""

from __future__ import annotations

import base64
import html
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from marketplace.simulation.engine import Day

JSON_KEYS: tuple[str, ...] = (
    "headline",
    "kpis",
    "kpis_by_hour",
    "cost_co2",
    "detours_m",
    "utilisation",
    "unplaced_by_reason",
    "reconciliation",
    "ledger_balance_by_currency",
    "parcel_statuses",
    "payment_statuses",
    "simulation",
)


def _money(value: dict[str, Any] | None) -> float | None:
    return None if value is None else value["amountMinor"] / 100


def _part(parcels: int | None, cost: dict[str, Any] | None, co2_g: int | None, **extra: Any) -> dict[str, Any]:
    """One carrier's parcels, cost and CO2, and both per parcel (EUR, g; None for no parcels)."""
    n, eur = parcels or 0, _money(cost)
    return {
        "parcels": n,
        "cost_eur": eur,
        "cost_per_parcel_eur": None if not n or eur is None else round(eur / n, 2),
        "co2_g": co2_g,
        "co2_per_parcel_g": None if not n or co2_g is None else round(co2_g / n, 1),
        **extra,
    }


def figures(day: Day, *, seed: int, wall_s: float) -> dict[str, Any]:
    r, rec = day.results, day.record
    kpis = r["kpis"] or {}
    baseline, fleet = r["van_baseline"] or {}, r["fleet"] or {}
    # Every figure from the day's KPIs (`deliveryKpis`), which price each fleet and van-only parcel no van
    # route delivers at the tariff and say so; the plans' own counts beside them.
    fleet_parcels = (kpis.get("fleetRouteParcels") or 0) + (kpis.get("fleetTariffParcels") or 0)
    cost_co2: dict[str, Any] = {
        "fleet_source": kpis.get("fleetSource"),
        "van_only_source": kpis.get("vanOnlySource"),
        "crowd": _part(kpis.get("crowdParcels"), kpis.get("crowdPay"), kpis.get("crowdCo2G")),
        "fleet_routes": _part(kpis.get("fleetRouteParcels"), kpis.get("fleetRouteCost"), kpis.get("fleetRouteCo2G")),
        "fleet_tariff": _part(kpis.get("fleetTariffParcels"), kpis.get("fleetTariffCost"), kpis.get("fleetTariffCo2G")),
        "fleet": _part(
            fleet_parcels, kpis.get("fleetCost"), kpis.get("fleetCo2G"), km=(kpis.get("fleetDistanceM") or 0) / 1000
        ),
        "van_only": _part(
            kpis.get("vanOnlyParcels"),
            kpis.get("vanOnlyCost"),
            kpis.get("vanOnlyCo2G"),
            route_parcels=kpis.get("vanOnlyRouteParcels"),
            tariff_parcels=kpis.get("vanOnlyTariffParcels"),
            tariff_cost_eur=_money(kpis.get("vanOnlyTariffCost")),
            km=(kpis.get("vanOnlyDistanceM") or 0) / 1000,
        ),
        "crowd_cost_per_parcel": _money(kpis.get("crowdCostPerParcel")),
        "fleet_cost_per_parcel": _money(kpis.get("fleetCostPerParcel")),
        "cost_per_parcel": _money(kpis.get("costPerParcel")),
        "van_only_cost_per_parcel": _money(kpis.get("vanOnlyCostPerParcel")),
        "co2_per_parcel_g": kpis.get("co2PerParcelG"),
        "van_only_co2_per_parcel_g": kpis.get("vanOnlyCo2PerParcelG"),
        "fleet_plan": {
            "parcels": fleet.get("parcels"),
            "served": fleet.get("served"),
            "routes": len(fleet.get("routes") or []),
        },
        "van_only_plan": {
            "parcels": baseline.get("parcels"),
            "served": baseline.get("served"),
            "routes": len(baseline.get("routes") or []),
        },
    }
    headline = {
        "seed": seed,
        "jobs": len(day.parcels),
        "stores": len(day.store_ids),
        "couriers": len(day.couriers),
        "crowd_share": kpis.get("crowdShare"),
        "cost_per_parcel_eur": cost_co2["cost_per_parcel"],
        "van_only_cost_per_parcel_eur": cost_co2["van_only_cost_per_parcel"],
        "co2_per_parcel_g": cost_co2["co2_per_parcel_g"],
        "van_only_co2_per_parcel_g": cost_co2["van_only_co2_per_parcel_g"],
        "fleet_parcels_by_van_route": cost_co2["fleet_routes"]["parcels"],
        "fleet_parcels_at_tariff": cost_co2["fleet_tariff"]["parcels"],
        "fleet_cost_per_parcel_eur": cost_co2["fleet_cost_per_parcel"],
        "on_time_rate": kpis.get("onTimeRate"),
        "first_attempt_success_rate": kpis.get("firstAttemptSuccessRate"),
        "wall_s": round(wall_s, 1),
    }
    return {
        "headline": headline,
        "kpis": kpis,
        "kpis_by_hour": r["kpis_by_hour"] or [],
        "cost_co2": cost_co2,
        "detours_m": rec.detours_m,
        "utilisation": rec.utilisation,
        "unplaced_by_reason": r["unplaced_by_reason"],
        "reconciliation": r["reconciliation"],
        "ledger_balance_by_currency": r["ledger_balance_by_currency"],
        "parcel_statuses": r["parcel_statuses"],
        "payment_statuses": r["payment_statuses"],
        "simulation": {
            "offers": rec.offers,
            "accepted": rec.accepted,
            "declined": rec.declined,
            "ignored": rec.ignored,
            "failed_attempts": rec.failed_attempts,
            "redirects": rec.redirects,
            "pings_sent": rec.pings_sent,
            "pings_kept": rec.pings_kept,
            "rounds": len(rec.round_ids),
            "errors": rec.errors[:50],
            "error_count": len(rec.errors),
        },
    }


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _plots(day: Day, data: dict[str, Any]) -> list[tuple[str, str]]:
    plots = []
    hours = data["kpis_by_hour"]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    labels = [h["startAt"][11:13] for h in hours]
    for key, name in (
        ("parcelsBooked", "booked"),
        ("parcelsDelivered", "delivered"),
        ("failedAttempts", "failed"),
        ("handedToFleet", "to fleet"),
    ):
        ax.plot(labels, [h[key] for h in hours], marker="o", label=name)
    ax.set_xlabel("hour (UTC)")
    ax.set_ylabel("parcels")
    ax.legend()
    plots.append(("KPIs over the day (deliveryKpisByHour)", _png(fig)))

    cc = data["cost_co2"]
    parts = [
        ("crowd", cc["crowd"]),
        ("fleet (routes)", cc["fleet_routes"]),
        ("fleet (tariff)", cc["fleet_tariff"]),
        ("fleet", cc["fleet"]),
        ("van only", cc["van_only"]),
    ]
    names = [name for name, _ in parts] + ["mixed day"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
    left.bar(names, [p["cost_per_parcel_eur"] or 0 for _, p in parts] + [cc["cost_per_parcel"] or 0])
    left.tick_params(axis="x", labelrotation=30)
    left.set_ylabel("EUR per parcel")
    right.bar(names, [p["co2_per_parcel_g"] or 0 for _, p in parts] + [cc["co2_per_parcel_g"] or 0])
    right.set_ylabel("g CO2 per parcel")
    right.tick_params(axis="x", labelrotation=30)
    plots.append(("Crowd vs fleet vs van-only: cost and CO2 per parcel", _png(fig)))

    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.5))
    left.hist([d / 1000 for d in data["detours_m"]] or [0], bins=20)
    left.set_xlabel("detour of accepted offers, km")
    right.hist(data["utilisation"] or [0], bins=20)
    right.set_xlabel("share of the vehicle's weight capacity used")
    plots.append(("Detour and utilisation", _png(fig)))

    reasons = Counter(data["unplaced_by_reason"])
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.barh(list(reasons) or ["none"], list(reasons.values()) or [0])
    ax.set_xlabel("parcels handed to the fleet, by the engine's reason")
    plots.append(("Unplaced parcels by reason", _png(fig)))

    fig, ax = plt.subplots(figsize=(7, 7))
    for route in day.record.crowd_routes:
        ax.plot([p[1] for p in route], [p[0] for p in route], color="tab:green", linewidth=0.5, alpha=0.5)
    fleet_plan = day.results["fleet"] or {}
    for route in fleet_plan.get("routes", []):
        points = [day.city.depot] + [(s["point"]["lat"], s["point"]["lng"]) for s in route["stops"]] + [day.city.depot]
        ax.plot([p[1] for p in points], [p[0] for p in points], color="tab:red", linewidth=0.6, alpha=0.6)
    ax.scatter(
        [p.plan.dropoff[1] for p in day.parcels],
        [p.plan.dropoff[0] for p in day.parcels],
        s=3,
        color="grey",
        label="drop-offs",
    )
    ax.scatter(
        [s.point[1] for s in day.city.stores],
        [s.point[0] for s in day.city.stores],
        s=40,
        marker="s",
        color="tab:blue",
        label="stores",
    )
    ax.scatter(
        [s.point[1] for s in day.city.lockers],
        [s.point[0] for s in day.city.lockers],
        s=40,
        marker="^",
        color="tab:orange",
        label="lockers",
    )
    ax.scatter([day.city.depot[1]], [day.city.depot[0]], s=80, marker="*", color="black", label="depot")
    ax.plot([], [], color="tab:green", label="crowd routes")
    ax.plot([], [], color="tab:red", label="van routes")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_aspect(1 / 0.61)
    ax.legend(loc="lower left", fontsize=8)
    plots.append(("Map: stores, lockers, depot, crowd and van routes", _png(fig)))
    return plots


def write(day: Day, out: Path, *, seed: int, wall_s: float) -> dict[str, Any]:
    """Writes report.json and report.html into `out`; returns the figures."""
    out.mkdir(parents=True, exist_ok=True)
    data = figures(day, seed=seed, wall_s=wall_s)
    (out / "report.json").write_text(json.dumps(data, indent=1, default=str))
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in data["headline"].items()
    )
    images = "".join(
        f'<h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" src="data:image/png;base64,{png}">'
        for title, png in _plots(day, data)
    )
    cc = data["cost_co2"]
    carriers = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{p['parcels']}</td><td>{p['cost_eur']}</td>"
        f"<td>{p['cost_per_parcel_eur']}</td><td>{p['co2_g']}</td><td>{p['co2_per_parcel_g']}</td></tr>"
        for name, p in (
            ("crowd", cc["crowd"]),
            ("fleet, van routes", cc["fleet_routes"]),
            ("fleet, tariff (no van route)", cc["fleet_tariff"]),
            (f"fleet ({cc['fleet_source']})", cc["fleet"]),
            (f"van only ({cc['van_only_source']})", cc["van_only"]),
        )
    )
    recon = data["reconciliation"] or {}
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Crowdship simulated day</title>
<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto}}
td,th{{text-align:left;padding:.2rem .8rem}}img{{max-width:100%}}</style>
</head><body><h1>Crowdship: a simulated city day ({day.city.day.isoformat()}, seed {seed})</h1>
<table>{rows}</table>
<h2>Cost and CO2 by carrier (deliveryKpis)</h2>
<table><tr><th></th><th>parcels</th><th>EUR</th><th>EUR per parcel</th><th>g CO2</th><th>g CO2 per parcel</th></tr>
{carriers}</table>
<p>The fleet's van plan delivered {cc["fleet_plan"]["served"]} of its {cc["fleet_plan"]["parcels"]} parcels;
the van-only plan {cc["van_only_plan"]["served"]} of {cc["van_only_plan"]["parcels"]}. A parcel no van route
delivers is priced at the fleet tariff (0.8 km and 200 g CO2 by the per-parcel van estimate).</p>
<p>Reconciliation: {recon.get("matched")} matched, {recon.get("mismatchCount")} mismatches;
ledger balance by currency: {html.escape(str(data["ledger_balance_by_currency"]))}.
The figures are in report.json.</p>{images}</body></html>"""
    (out / "report.html").write_text(page)
    return data
