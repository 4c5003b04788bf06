"""The JSON interchange format: what parses, and how every bad field is named."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

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
)
from tests.matching import factory

Mutation = Callable[[dict[str, Any]], None]


def problems_of(data: Any) -> list[str]:
    with pytest.raises(InstanceError) as caught:
        parse_instance(data)
    return caught.value.problems


def test_issue_example_parses_to_the_stated_values() -> None:
    """Every field of the issue's example lands in the dataclass it belongs to, times in UTC."""
    parsed = parse_instance(factory.issue_example())

    assert parsed == Instance(
        now=datetime(2026, 11, 24, 8, 0, tzinfo=UTC),
        rules=Rules(
            road_factor=1.3,
            service_s=120,
            max_parcels_per_trip=3,
            verification=(VerificationRule(0, 0), VerificationRule(10_000, 1), VerificationRule(50_000, 2)),
            pay=Pay(per_parcel=250, per_detour_km=45),
        ),
        parcels=(
            Parcel(
                id="p1",
                pickup=(52.52, 13.40),
                dropoff=(52.50, 13.45),
                pickup_from=datetime(2026, 11, 24, 8, 0, tzinfo=UTC),
                pickup_until=datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
                deliver_from=datetime(2026, 11, 24, 8, 0, tzinfo=UTC),
                deliver_until=datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
                weight_g=1200,
                volume_cm3=4000,
                value=4999,
                currency="EUR",
                fallback_cost=890,
            ),
        ),
        trips=(
            Trip(
                id="t1",
                courier_id="c1",
                origin=(52.53, 13.38),
                destination=(52.49, 13.47),
                depart_after=datetime(2026, 11, 24, 8, 30, tzinfo=UTC),
                arrive_by=datetime(2026, 11, 24, 9, 30, tzinfo=UTC),
                speed_mps=6.0,
                capacity_g=15000,
                capacity_cm3=60000,
                max_detour_m=3000.0,
                verification_level=1,
                insurance=Insurance(
                    per_parcel=50000,
                    per_trip=100000,
                    currency="EUR",
                    valid_from=datetime(2026, 1, 1, tzinfo=UTC),
                    valid_until=datetime(2027, 1, 1, tzinfo=UTC),
                ),
                co2_g_per_km=0.0,
            ),
        ),
    )
    assert parsed.parcels[0].pickup_from.utcoffset() is not None
    assert parsed.forbidden == ()


def test_valid_instance_with_null_insurance_and_offset_times_parses() -> None:
    """`insurance: null` means no policy; a time with a +01:00 offset is the same instant in UTC."""
    data = factory.issue_example()
    data["trips"][0]["insurance"] = None
    data["parcels"][0]["pickup_from"] = "2026-11-24T09:15:00+01:00"

    parsed = parse_instance(data)

    assert parsed.trips[0].insurance is None
    assert parsed.parcels[0].pickup_from == datetime(2026, 11, 24, 8, 15, tzinfo=UTC)
    assert parsed.parcels[0].pickup_from.utcoffset() == UTC.utcoffset(None)


def test_empty_parcel_and_trip_lists_are_a_valid_instance() -> None:
    data = factory.issue_example()
    data["parcels"], data["trips"] = [], []

    parsed = parse_instance(data)

    assert (parsed.parcels, parsed.trips) == ((), ())


def _drop(path: tuple[Any, ...]) -> Mutation:
    def apply(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return apply


def _set(path: tuple[Any, ...], value: Any) -> Mutation:
    def apply(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return apply


def _second_parcel_with_id(pid: str) -> Mutation:
    def apply(data: dict[str, Any]) -> None:
        twin = json.loads(json.dumps(data["parcels"][0]))
        twin["id"] = pid
        data["parcels"].append(twin)

    return apply


def _second_trip_with_id(tid: str) -> Mutation:
    def apply(data: dict[str, Any]) -> None:
        twin = json.loads(json.dumps(data["trips"][0]))
        twin["id"] = tid
        twin["courier_id"] = "c2"
        data["trips"].append(twin)

    return apply


# (mutation, the field path the message must start with, words the message must contain)
MALFORMED: dict[str, tuple[Mutation, str, tuple[str, ...]]] = {
    "missing parcel field": (_drop(("parcels", 0, "weight_g")), "parcels[0].weight_g", ("missing",)),
    "missing trip field": (_drop(("trips", 0, "arrive_by")), "trips[0].arrive_by", ("missing",)),
    "missing rules field": (_drop(("rules", "service_s")), "rules.service_s", ("missing",)),
    "missing now": (_drop(("now",)), "now", ("missing",)),
    "missing insurance key": (_drop(("trips", 0, "insurance")), "trips[0].insurance", ("missing",)),
    "unparsable time": (
        _set(("parcels", 0, "pickup_until"), "2026-11-24T25:00:00Z"),
        "parcels[0].pickup_until",
        ("parse",),
    ),
    "time that is not a string": (_set(("now",), 1764000000), "now", ("ISO-8601",)),
    "time without timezone": (
        _set(("trips", 0, "depart_after"), "2026-11-24T08:30:00"),
        "trips[0].depart_after",
        ("timezone",),
    ),
    "negative weight": (_set(("parcels", 0, "weight_g"), -1), "parcels[0].weight_g", (">= 0", "-1")),
    "fractional weight": (_set(("parcels", 0, "weight_g"), 12.5), "parcels[0].weight_g", ("integer",)),
    "unknown parcel currency": (_set(("parcels", 0, "currency"), "EUX"), "parcels[0].currency", ("EUX",)),
    "lower-case currency": (_set(("parcels", 0, "currency"), "eur"), "parcels[0].currency", ("eur",)),
    "unknown insurance currency": (
        _set(("trips", 0, "insurance", "currency"), "XYZ"),
        "trips[0].insurance.currency",
        ("XYZ",),
    ),
    "parcel id used twice": (_second_parcel_with_id("p1"), "parcels[1].id", ("'p1'", "twice")),
    "trip id used twice": (_second_trip_with_id("t1"), "trips[1].id", ("'t1'", "twice")),
    "latitude out of range": (_set(("parcels", 0, "pickup"), [91.0, 13.4]), "parcels[0].pickup", ("range",)),
    "longitude out of range": (_set(("trips", 0, "origin"), [52.5, 181.0]), "trips[0].origin", ("range",)),
    "point with one coordinate": (_set(("parcels", 0, "dropoff"), [52.5]), "parcels[0].dropoff", ("latitude",)),
    "pickup window start after end": (
        _set(("parcels", 0, "pickup_from"), "2026-11-24T10:00:01Z"),
        "parcels[0]",
        ("pickup_from", "pickup_until"),
    ),
    "delivery window start after end": (
        _set(("parcels", 0, "deliver_until"), "2026-11-24T07:59:59Z"),
        "parcels[0]",
        ("deliver_from", "deliver_until"),
    ),
    "trip leaves after it must arrive": (
        _set(("trips", 0, "depart_after"), "2026-11-24T09:30:01Z"),
        "trips[0]",
        ("depart_after", "arrive_by"),
    ),
    "policy valid from after until": (
        _set(("trips", 0, "insurance", "valid_from"), "2027-01-02T00:00:00Z"),
        "trips[0].insurance",
        ("valid_from", "valid_until"),
    ),
    "zero speed": (_set(("trips", 0, "speed_mps"), 0), "trips[0].speed_mps", ("> 0",)),
    "boolean as a number": (_set(("trips", 0, "capacity_g"), True), "trips[0].capacity_g", ("integer",)),
    "empty id": (_set(("parcels", 0, "id"), ""), "parcels[0].id", ("non-empty",)),
    "parcels not a list": (_set(("parcels",), {"id": "p1"}), "parcels", ("list",)),
    "insurance not an object": (_set(("trips", 0, "insurance"), "full cover"), "trips[0].insurance", ("object",)),
    "forbidden not a list": (_set(("forbidden",), {"trip_id": "t1", "parcel_id": "p1"}), "forbidden", ("list",)),
    "forbidden null": (_set(("forbidden",), None), "forbidden", ("list",)),
    "forbidden pair not an object": (_set(("forbidden",), [["t1", "p1"]]), "forbidden[0]", ("object",)),
    "forbidden pair without a parcel": (
        _set(("forbidden",), [{"trip_id": "t1"}]),
        "forbidden[0].parcel_id",
        ("missing",),
    ),
    "forbidden pair with an empty trip id": (
        _set(("forbidden",), [{"trip_id": "", "parcel_id": "p1"}]),
        "forbidden[0].trip_id",
        ("non-empty",),
    ),
    "forbidden pair with a numeric parcel id": (
        _set(("forbidden",), [{"trip_id": "t1", "parcel_id": 1}]),
        "forbidden[0].parcel_id",
        ("non-empty",),
    ),
    "forbidden pair naming an unknown trip": (
        _set(("forbidden",), [{"trip_id": "t1", "parcel_id": "p1"}, {"trip_id": "t9", "parcel_id": "p1"}]),
        "forbidden[1].trip_id",
        ("unknown trip", "'t9'"),
    ),
    "forbidden pair naming an unknown parcel": (
        _set(("forbidden",), [{"trip_id": "t1", "parcel_id": "p9"}]),
        "forbidden[0].parcel_id",
        ("unknown parcel", "'p9'"),
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_instance_names_the_bad_field(case: str) -> None:
    """Exactly one problem is reported, and it starts with the path of the field that is wrong."""
    mutate, path, words = MALFORMED[case]
    data = factory.issue_example()
    mutate(data)

    problems = problems_of(data)

    assert len(problems) == 1, problems
    field, _, message = problems[0].partition(": ")
    assert field == path
    for word in words:
        assert word in message


def test_forbidden_pair_with_its_ids_swapped_names_both_fields() -> None:
    """A parcel id where the trip id belongs, and the other way round: neither is known as such."""
    data = factory.issue_example()
    data["forbidden"] = [{"trip_id": "p1", "parcel_id": "t1"}]

    assert problems_of(data) == [
        "forbidden[0].trip_id: unknown trip 'p1'",
        "forbidden[0].parcel_id: unknown parcel 't1'",
    ]


def test_forbidden_pair_naming_a_broken_trip_reports_only_the_trip() -> None:
    """Ids are matched against the listed ids, so a trip with a problem of its own is still known."""
    data = factory.issue_example()
    data["trips"][0]["speed_mps"] = 0
    data["forbidden"] = [{"trip_id": "t1", "parcel_id": "p1"}]

    assert [p.partition(": ")[0] for p in problems_of(data)] == ["trips[0].speed_mps"]


def test_forbidden_pairs_parse_in_order_and_a_pair_listed_twice_is_kept() -> None:
    data = factory.issue_example()
    data["parcels"].append(dict(data["parcels"][0], id="p2"))
    data["forbidden"] = [
        {"trip_id": "t1", "parcel_id": "p2"},
        {"trip_id": "t1", "parcel_id": "p1"},
        {"trip_id": "t1", "parcel_id": "p2"},
    ]

    parsed = parse_instance(data)

    assert parsed.forbidden == (Forbidden("t1", "p2"), Forbidden("t1", "p1"), Forbidden("t1", "p2"))
    assert instance_to_json(parsed) == data


def test_empty_forbidden_list_parses_and_is_left_out_when_serialised() -> None:
    data = factory.issue_example()
    data["forbidden"] = []

    parsed = parse_instance(data)

    assert parsed.forbidden == ()
    assert "forbidden" not in instance_to_json(parsed)
    assert parsed == parse_instance(factory.issue_example())


def test_instance_that_is_not_an_object_is_reported() -> None:
    assert problems_of([1, 2, 3]) == ["instance: must be an object"]


def test_several_problems_give_one_message_each() -> None:
    """Five independent mistakes in different places: five messages, each naming its own field."""
    data = factory.issue_example()
    del data["parcels"][0]["fallback_cost"]
    data["parcels"][0]["weight_g"] = -5
    data["trips"][0]["insurance"]["currency"] = "ABC"
    data["trips"][0]["arrive_by"] = "tomorrow"
    data["rules"]["pay"]["per_parcel"] = "250"

    problems = problems_of(data)

    fields = sorted(p.partition(": ")[0] for p in problems)
    assert fields == sorted(
        [
            "parcels[0].fallback_cost",
            "parcels[0].weight_g",
            "trips[0].insurance.currency",
            "trips[0].arrive_by",
            "rules.pay.per_parcel",
        ]
    )
    assert str(InstanceError(problems)).splitlines() == problems


def test_duplicate_ids_are_reported_alongside_other_problems_of_other_parcels() -> None:
    data = factory.issue_example()
    _second_parcel_with_id("p1")(data)
    _second_parcel_with_id("p1")(data)
    data["parcels"][0]["value"] = -1

    problems = problems_of(data)

    # parcels[0] is broken, but parcels[1] and parcels[2] still share an id.
    assert "parcels[0].value" in [p.partition(": ")[0] for p in problems]
    assert "parcels[2].id" in [p.partition(": ")[0] for p in problems]


def test_duplicate_id_is_reported_even_when_its_first_use_has_another_problem() -> None:
    data = factory.issue_example()
    _second_parcel_with_id("p1")(data)
    data["parcels"][0]["weight_g"] = -1

    fields = [p.partition(": ")[0] for p in problems_of(data)]

    assert fields == ["parcels[0].weight_g", "parcels[1].id"]


@pytest.mark.parametrize("seed", [1, 7])
def test_generated_instance_round_trips_through_json(seed: int) -> None:
    """instance_to_json -> json text -> parse_instance gives an equal Instance."""
    original = generate(25, 10, seed, density=2.0)

    text = json.dumps(instance_to_json(original))

    assert parse_instance(json.loads(text)) == original


def test_hand_built_instance_round_trips_through_json() -> None:
    """Also with a trip without insurance, a second currency and a policy in another currency."""
    original = factory.instance(
        [factory.parcel("a"), factory.parcel("b", currency="GBP", value=0, weight_g=0)],
        [
            factory.trip("t1", insurance=None),
            factory.trip("t2", insurance=factory.insurance(currency="GBP"), co2_g_per_km=123.5),
        ],
    )

    assert parse_instance(json.loads(json.dumps(instance_to_json(original)))) == original


def test_instance_with_forbidden_pairs_round_trips_through_json() -> None:
    original = factory.instance(
        [factory.parcel("a"), factory.parcel("b")], [factory.trip("t1"), factory.trip("t2", courier_id="c2")]
    )
    original = dataclasses.replace(original, forbidden=(Forbidden("t2", "b"), Forbidden("t1", "b")))

    data = instance_to_json(original)

    assert data["forbidden"] == [{"trip_id": "t2", "parcel_id": "b"}, {"trip_id": "t1", "parcel_id": "b"}]
    assert parse_instance(json.loads(json.dumps(data))) == original


def test_instance_without_forbidden_pairs_serialises_without_the_key() -> None:
    """The format only grows: an instance with nothing forbidden is written exactly as before."""
    data = instance_to_json(generate(5, 3, seed=1))

    assert list(data) == ["now", "rules", "parcels", "trips"]


def test_issue_example_survives_parse_then_serialise() -> None:
    """Serialising the parsed example gives the example back (numbers compare equal, times in Z form)."""
    data = factory.issue_example()

    assert instance_to_json(parse_instance(data)) == data


def test_solution_serialises_in_the_fixed_format() -> None:
    """The example solution of the issue, built as dataclasses, serialises field for field."""
    solution = Solution(
        assignments=(
            Assignment(
                trip_id="t1",
                parcel_ids=("p1",),
                stops=(
                    Stop("p1", "pickup", datetime(2026, 11, 24, 8, 41, 7, tzinfo=UTC)),
                    Stop("p1", "dropoff", datetime(2026, 11, 24, 9, 2, 55, tzinfo=UTC)),
                ),
                detour_m=1234.5,
                cost=306,
                co2_g=0.0,
            ),
        ),
        unassigned=(Unassigned("p9", 890, (Reason("insurance_cover", 14), Reason("detour", 210))),),
        cost=Cost(crowd=306, fallback=890, total=1196, fallback_only=1780),
        bound=Bound(lower=1190, gap=0.005),
        stats=SolveStats(solver="HiGHS"),
    )

    data = solution_to_json(solution)

    assert data["assignments"] == [
        {
            "trip_id": "t1",
            "parcel_ids": ["p1"],
            "stops": [
                {"parcel_id": "p1", "kind": "pickup", "at": "2026-11-24T08:41:07Z"},
                {"parcel_id": "p1", "kind": "dropoff", "at": "2026-11-24T09:02:55Z"},
            ],
            "detour_m": 1234.5,
            "cost": 306,
            "co2_g": 0,
        }
    ]
    assert data["unassigned"] == [
        {
            "parcel_id": "p9",
            "fallback_cost": 890,
            "reasons": [{"code": "insurance_cover", "trips": 14}, {"code": "detour", "trips": 210}],
        }
    ]
    assert data["cost"] == {"crowd": 306, "fallback": 890, "total": 1196, "fallback_only": 1780}
    assert data["bound"] == {"lower": 1190, "gap": 0.005}
    json.dumps(data)
