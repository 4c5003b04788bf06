"""An area's dispatch settings: defaults, set on creation, changed one at a time, every bad value reported."""

from __future__ import annotations

from marketplace.services.container import Services
from tests.helpers import GraphQL, admin_token
from tests.integration.test_areas import area_input

SETTINGS = "roundIntervalS roundTimeLimitS offerTtlS fleetCutoffS"
CREATE = f"""mutation($i: CreateServiceAreaInput!) {{
  createServiceArea(input: $i) {{ serviceArea {{ id {SETTINGS} }} errors {{ field code }} }} }}"""
UPDATE = f"""mutation($i: UpdateServiceAreaInput!) {{
  updateServiceArea(input: $i) {{ serviceArea {{ id {SETTINGS} }} errors {{ field code }} }} }}"""


async def test_dispatch_settings_default_validate_and_update(gql: GraphQL, services: Services) -> None:
    token = await admin_token(gql, services)
    created = (await gql(CREATE, {"i": area_input()}, token=token))["data"]["createServiceArea"]
    area = created["serviceArea"]
    assert {k: area[k] for k in SETTINGS.split()} == {
        "roundIntervalS": 300,
        "roundTimeLimitS": 20,
        "offerTtlS": 180,
        "fleetCutoffS": 1800,
    }

    bad = {"roundIntervalS": 29, "roundTimeLimitS": 601, "offerTtlS": 3601, "fleetCutoffS": -1}
    refused = (await gql(CREATE, {"i": area_input(name="Delft", **bad)}, token=token))["data"]["createServiceArea"]
    assert refused["serviceArea"] is None
    assert sorted((e["field"], e["code"]) for e in refused["errors"]) == sorted(
        (field, "OUT_OF_RANGE") for field in bad
    )

    changed = (await gql(UPDATE, {"i": {"id": area["id"], "offerTtlS": 60}}, token=token))["data"]["updateServiceArea"]
    assert changed["errors"] == []
    assert changed["serviceArea"]["offerTtlS"] == 60
    assert changed["serviceArea"]["roundIntervalS"] == 300  # what was not given stays
    refused = (await gql(UPDATE, {"i": {"id": area["id"], "roundTimeLimitS": 4}}, token=token))["data"][
        "updateServiceArea"
    ]
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("roundTimeLimitS", "OUT_OF_RANGE")]
