"""Authorization, table-driven over every operation in the schema.

WHO_MAY_CALL says, by hand, who may call each operation. It is never derived from the declarations
in the code (`schema/access.py`): a declaration widened by mistake must disagree with it. One test
compares every declaration with the table; another calls every operation as every kind of caller
and checks the answer against the table alone.

Adding an operation: one row in WHO_MAY_CALL below, and a sample call in the OPERATIONS of its
`ops_*.py` module (registered in OPERATIONS here). Until both exist the tests name what is missing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from strawberry.permission import PermissionExtension

from marketplace.clock import ManualClock
from marketplace.domain.accounts import Role
from marketplace.services.container import Services
from schema import build_schema
from schema.access import Access, RequireAccess, allow, declared_access
from tests.conftest import make_settings
from tests.helpers import PASSWORD
from tests.integration import (
    ops_claims,
    ops_couriers,
    ops_delivery,
    ops_dispatch,
    ops_finance,
    ops_jobs,
    ops_kpis,
    ops_payments,
    ops_places,
    ops_recipient_tracking,
    ops_tracking,
    ops_trips,
    ops_vehicles,
    ops_webhooks,
)
from tests.live import Replica, first_answer, replica

C, R, F, A = Role.COURIER, Role.RETAILER, Role.FINANCE, Role.ADMIN


@dataclass(frozen=True, slots=True)
class Who:
    """The roles that may call an operation, whether a retailer's API key may, or anyone at all."""

    roles: frozenset[Role] = frozenset()
    api_keys: bool = False
    public: bool = False


ANYONE = Who(public=True)


def only(*roles: Role, api_keys: bool = False) -> Who:
    return Who(frozenset(roles), api_keys=api_keys)


# fmt: off
WHO_MAY_CALL: dict[str, Who] = {
    # accounts
    "Query.me":                         only(C, R, F, A, api_keys=True),
    "Query.users":                      only(A),
    "Query.apiKeys":                    only(R, api_keys=True),
    "Mutation.signUp":                  ANYONE,
    "Mutation.login":                   ANYONE,
    "Mutation.refreshSession":          ANYONE,
    "Mutation.logout":                  only(C, R, F, A),
    "Mutation.updateProfile":           only(C, R, F, A),
    "Mutation.createApiKey":            only(R),
    "Mutation.revokeApiKey":            only(R),
    # service areas, pickup locations, organisation users, lockers
    "Query.serviceAreas":               only(C, R, F, A, api_keys=True),
    "Query.serviceArea":                only(C, R, F, A, api_keys=True),
    "Query.locateServiceArea":          only(C, R, F, A, api_keys=True),
    "Query.pickupLocations":            only(R, A, api_keys=True),
    "Query.pickupLocation":             only(R, A, api_keys=True),
    "Query.organizationUsers":          only(R, A),
    "Query.lockers":                    only(C, R, F, A, api_keys=True),
    "Query.locker":                     only(C, R, F, A, api_keys=True),
    "Query.compartmentSizes":           only(C, R, F, A, api_keys=True),
    "Mutation.createServiceArea":       only(A),
    "Mutation.updateServiceArea":       only(A),
    "Mutation.createPickupLocation":    only(R, api_keys=True),
    "Mutation.updatePickupLocation":    only(R, api_keys=True),
    "Mutation.archivePickupLocation":   only(R, api_keys=True),
    "Mutation.createOrganizationUser":  only(R),
    "Mutation.createLocker":            only(A),
    "Mutation.updateLocker":            only(A),
    # vehicles
    "Query.vehicles":                   only(C, A),
    "Query.vehicle":                    only(C, A),
    "Query.vehicleKinds":               only(C, R, F, A, api_keys=True),
    "Mutation.registerVehicle":         only(C),
    "Mutation.updateVehicle":           only(C),
    "Mutation.retireVehicle":           only(C),
    # courier verification and insurance
    "Query.verification":               only(C, A),
    "Query.verificationRequest":        only(C, A),
    "Query.verificationRequests":       only(C, A),
    "Query.insurancePolicy":            only(C, A),
    "Query.insurancePolicies":          only(C, A),
    "Mutation.submitVerification":      only(C),
    "Mutation.approveVerification":     only(A),
    "Mutation.rejectVerification":      only(A),
    "Mutation.revokeVerification":      only(A),
    "Mutation.registerInsurancePolicy": only(C),
    "Mutation.verifyInsurancePolicy":   only(A),
    "Mutation.rejectInsurancePolicy":   only(A),
    # trips and commutes
    "Query.trips":                      only(C, A),
    "Query.trip":                       only(C, A),
    "Query.commutes":                   only(C, A),
    "Mutation.createTrip":              only(C),
    "Mutation.updateTrip":              only(C),
    "Mutation.cancelTrip":              only(C, A),
    "Mutation.createCommute":           only(C),
    "Mutation.updateCommute":           only(C),
    "Mutation.setCommuteActive":        only(C, A),
    "Mutation.scheduleCommuteTrips":    only(C, A),
    # quotes and jobs
    "Query.quote":                      only(R, A, api_keys=True),
    "Query.job":                        only(R, A, C, api_keys=True),
    "Query.jobs":                       only(R, A, api_keys=True),
    "Query.jobByReference":             only(R, A, api_keys=True),
    "Mutation.requestQuote":            only(R, api_keys=True),
    "Mutation.bookQuote":               only(R, api_keys=True),
    "Mutation.bookJobs":                only(R, api_keys=True),
    # dispatch: rounds, the fleet, background jobs
    "Query.matchingRounds":             only(A),
    "Query.matchingRound":              only(A),
    "Query.fleetManifest":              only(A),
    "Query.failedJobs":                 only(A),
    "Query.fleetDepot":                 only(A),
    "Query.vanBaseline":                only(A),
    "Mutation.runMatchingRound":        only(A),
    "Mutation.setFleetDepot":           only(A),
    "Mutation.planVanRounds":           only(A),
    # offers and delivery
    "Query.myOffers":                   only(C, A),
    "Query.offer":                      only(C, A),
    "Query.parcel":                     only(R, A, C, api_keys=True),
    "Mutation.acceptOffer":             only(C),
    "Mutation.declineOffer":            only(C),
    "Mutation.arriveAtPickup":          only(C),
    "Mutation.confirmPickup":           only(C),
    "Mutation.arriveAtDropoff":         only(C),
    "Mutation.deliverParcel":           only(C),
    "Mutation.reportFailedAttempt":     only(C),
    "Mutation.depositInLocker":         only(C),
    "Mutation.deliverToSafePlace":      only(C),
    "Mutation.confirmReturn":           only(C),
    "Mutation.recordLockerCollection":  only(A),
    "Mutation.resetRecipientPin":       only(A),
    "Mutation.cancelJob":               only(R, api_keys=True),
    "Mutation.cancelParcel":            only(R, api_keys=True),
    # finance: the ledger
    "Query.ledgerBalances":             only(F, A),
    "Query.courierStatement":           only(C, F, A),
    "Query.organizationCharges":        only(R, F, A, api_keys=True),
    "Query.dailyFinanceSummary":        only(F, A),
    "Query.reconciliationRuns":         only(F, A),
    "Query.reconciliationMismatches":   only(F, A),
    "Query.payouts":                    only(F, A),
    "Query.courierPayouts":             only(C, F, A),
    # operations' KPIs
    "Query.deliveryKpis":               only(F, A),
    "Query.deliveryKpisByHour":         only(F, A),
    # live tracking
    "Mutation.recordLocationPings":     only(C),
    "Subscription.parcelUpdates":       only(R, A, api_keys=True),
    "Subscription.offerUpdates":        only(C),
    "Subscription.organizationParcelEvents": only(R, A, api_keys=True),
    # the recipient's tracking token (the token is the credential)
    "Subscription.trackedParcel":       ANYONE,
    "Mutation.redirectTrackedParcel":   ANYONE,
    # webhooks
    "Query.webhookEndpoints":           only(R, A, api_keys=True),
    "Query.webhookEndpoint":            only(R, A, api_keys=True),
    "Query.webhookEventTypes":          only(R, A, api_keys=True),
    "Mutation.createWebhookEndpoint":   only(R, api_keys=True),
    "Mutation.updateWebhookEndpoint":   only(R, api_keys=True),
    "Mutation.rotateWebhookSecret":     only(R, api_keys=True),
    "Mutation.redeliverWebhookEvent":   only(R, api_keys=True),
    "Mutation.sendWebhookTestEvent":    only(R, api_keys=True),
    # payments
    "Mutation.setupPaymentMethod":      only(R),
    "Mutation.startPayoutOnboarding":   only(C),
    "Query.payoutAccount":              only(C, A),
    "Query.heldTransfers":              only(F, A),
    # refunds and claims: couriers never see claims; finance reads them
    "Mutation.refundPayment":           only(A),
    "Mutation.fileClaim":               only(R, api_keys=True),
    "Mutation.upholdClaim":             only(A),
    "Mutation.rejectClaim":             only(A),
    "Query.claim":                      only(R, F, A, api_keys=True),
    "Query.claims":                     only(R, F, A, api_keys=True),
    "Query.refunds":                    only(R, F, A, api_keys=True),
}
# fmt: on

ACCOUNT_OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "Query.me": ("query { me { role } }", {}),
    "Query.users": ("query { users(first: 1) { edges { node { id } } } }", {}),
    "Query.apiKeys": ("query { apiKeys(first: 1) { edges { node { id } } } }", {}),
    "Mutation.signUp": (
        "mutation($i: SignUpInput!) { signUp(input: $i) { errors { code } } }",
        {"i": {"email": "not-an-email", "password": PASSWORD, "role": "COURIER"}},
    ),
    "Mutation.login": (
        "mutation($i: LoginInput!) { login(input: $i) { errors { code } } }",
        {"i": {"email": "nobody@example.com", "password": PASSWORD}},
    ),
    "Mutation.refreshSession": (
        "mutation($i: RefreshSessionInput!) { refreshSession(input: $i) { errors { code } } }",
        {"i": {"refreshToken": "csr_nothing"}},
    ),
    "Mutation.logout": ("mutation { logout(input: {}) { ok } }", {}),
    "Mutation.updateProfile": ("mutation { updateProfile(input: {firstName: null}) { errors { code } } }", {}),
    "Mutation.createApiKey": ('mutation { createApiKey(input: {name: "probe"}) { errors { code } } }', {}),
    "Mutation.revokeApiKey": ('mutation { revokeApiKey(input: {id: "QXBpS2V5Om5vbmU="}) { errors { code } } }', {}),
}

OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    **ACCOUNT_OPERATIONS,
    **ops_places.OPERATIONS,
    **ops_vehicles.OPERATIONS,
    **ops_couriers.OPERATIONS,
    **ops_trips.OPERATIONS,
    **ops_jobs.OPERATIONS,
    **ops_dispatch.OPERATIONS,
    **ops_delivery.OPERATIONS,
    **ops_finance.OPERATIONS,
    **ops_kpis.OPERATIONS,
    **ops_tracking.OPERATIONS,
    **ops_recipient_tracking.OPERATIONS,
    **ops_webhooks.OPERATIONS,
    **ops_payments.OPERATIONS,
    **ops_claims.OPERATIONS,
}

CALLERS = ["anonymous", "courier", "retailer", "finance", "admin", "retailer_api_key"]


def schema_operations() -> dict[str, Access | None]:
    schema = build_schema()
    found: dict[str, Access | None] = {}
    for root in ("Query", "Mutation", "Subscription"):
        definition = schema.get_type_by_name(root)
        if definition is None:
            continue
        for field in definition.fields:  # type: ignore[union-attr]
            name = schema.config.name_converter.get_graphql_name(field)
            found[f"{root}.{name}"] = declared_access(field)
    return found


def test_the_table_names_exactly_the_operations_of_the_schema() -> None:
    in_schema = set(schema_operations())
    assert sorted(in_schema - set(WHO_MAY_CALL)) == [], "operations without a row in WHO_MAY_CALL"
    assert sorted(set(WHO_MAY_CALL) - in_schema) == [], "rows of WHO_MAY_CALL naming no operation"


def test_every_operation_has_a_sample_call() -> None:
    assert sorted(set(schema_operations()) - set(OPERATIONS)) == [], "operations without a sample call"
    assert sorted(set(OPERATIONS) - set(schema_operations())) == [], "sample calls of no operation"


def test_the_table_is_consistent() -> None:
    """An API key is a retailer organisation's: only an operation retailers may call can admit it."""
    assert [name for name, who in WHO_MAY_CALL.items() if who.api_keys and Role.RETAILER not in who.roles] == []
    assert [name for name, who in WHO_MAY_CALL.items() if who.public and who.roles] == []


def declaration_mismatches() -> dict[str, tuple[Who | None, Who]]:
    """Operations whose declared access differs from the hand-written table: (declared, table)."""
    found: dict[str, tuple[Who | None, Who]] = {}
    for name, access in schema_operations().items():
        declared = None if access is None else Who(access.roles, api_keys=access.api_keys, public=access.public)
        want = WHO_MAY_CALL.get(name)
        if want is not None and declared != want:
            found[name] = (declared, want)
    return found


def test_every_declaration_says_what_the_table_says() -> None:
    assert declaration_mismatches() == {}


def test_a_declaration_widened_by_mistake_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards the guard: requestQuote widened to couriers and admins once went unnoticed by every test."""
    mutation = build_schema().get_type_by_name("Mutation")
    field = next(f for f in mutation.fields if f.python_name == "request_quote")  # type: ignore[union-attr]
    rule = next(p for e in field.extensions if isinstance(e, PermissionExtension) for p in e.permissions)
    assert isinstance(rule, RequireAccess)
    monkeypatch.setattr(rule, "access", allow(C, R, A, api_keys=True))
    assert set(declaration_mismatches()) == {"Mutation.requestQuote"}


class Credentials:
    """Fresh credentials for each call, so a logout in one call cannot spoil the next."""

    def __init__(self, server: Replica, services: Services) -> None:
        self.server = server
        self.gql = server.gql
        self.services = services
        self.api_key = ""

    async def call(self, document: str, variables: dict[str, Any], caller: str) -> dict[str, Any]:
        """Over HTTP, or over graphql-transport-ws for a subscription."""
        token = await self.token(caller)
        if document.lstrip().startswith("subscription"):
            return await first_answer(self.server, token, document, variables)
        return await self.gql(document, variables, token=token)

    async def setup(self) -> None:
        await self.gql.sign_up("courier@example.com", "COURIER")
        await self.gql.sign_up("retailer@example.com", "RETAILER", organization="Shop")
        for role in (Role.FINANCE, Role.ADMIN):
            await self.services.accounts.create_user(email=f"{role.value}@example.com", password=PASSWORD, role=role)
        token = await self.token("retailer")
        body = await self.gql('mutation { createApiKey(input: {name: "authz"}) { secret } }', token=token)
        self.api_key = body["data"]["createApiKey"]["secret"]

    async def token(self, caller: str) -> str | None:
        if caller == "anonymous":
            return None
        if caller == "retailer_api_key":
            return self.api_key
        session = await self.gql.login(f"{caller}@example.com")
        return str(session["session"]["accessToken"])


def expected(who: Who, caller: str) -> str | None:
    """The answer the table promises `caller`: None (let through), UNAUTHENTICATED or FORBIDDEN."""
    if who.public:
        return None
    if caller == "anonymous":
        return "UNAUTHENTICATED"
    if caller == "retailer_api_key":
        return None if who.api_keys and Role.RETAILER in who.roles else "FORBIDDEN"
    return None if Role(caller) in who.roles else "FORBIDDEN"


@pytest.fixture
async def callers(database_url: str, clock: ManualClock, services: Services) -> AsyncIterator[Credentials]:
    settings = make_settings(database_url, login_max_attempts_per_address=10_000, login_max_attempts_per_email=10_000)
    async with replica(settings, clock) as server:
        callers = Credentials(server, services)
        await callers.setup()
        yield callers


async def test_every_operation_answers_every_caller_as_the_table_says(callers: Credentials) -> None:
    outcomes: dict[tuple[str, str], tuple[str | None, str | None]] = {}
    for operation, (document, variables) in OPERATIONS.items():
        for caller in CALLERS:
            body = await callers.call(document, variables, caller)
            codes = {e.get("extensions", {}).get("code") for e in body.get("errors", [])}
            got = next((c for c in codes if c in ("UNAUTHENTICATED", "FORBIDDEN")), None)
            # A subscription let through may still refuse its argument (NOT_FOUND): a stream has no partial data.
            if got is None and not operation.startswith("Subscription."):
                assert body.get("data") is not None, (operation, caller, body)
            outcomes[(operation, caller)] = (got, expected(WHO_MAY_CALL[operation], caller))
    mismatches = {k: v for k, v in outcomes.items() if v[0] != v[1]}
    assert mismatches == {}


async def test_the_table_is_not_trivially_open(callers: Credentials) -> None:
    """Guards the guard: admin-only and retailer-only operations really refuse others."""
    body = await callers.gql(*OPERATIONS["Query.users"], token=await callers.token("courier"))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await callers.gql(*OPERATIONS["Mutation.createApiKey"], token=await callers.token("retailer_api_key"))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
