"""The GraphQL documents the simulated people send: the same API the apps and retailers' systems use."""

E = "errors { field code message }"
SIGN_UP = f"mutation($i: SignUpInput!) {{ signUp(input: $i) {{ user {{ id }} {E} }} }}"
LOGIN = (
    f"mutation($i: LoginInput!) {{ login(input: $i) {{ session {{ accessToken refreshToken user {{ id }} }} {E} }} }}"
)
REFRESH = f"""mutation($i: RefreshSessionInput!) {{
  refreshSession(input: $i) {{ session {{ accessToken refreshToken user {{ id }} }} {E} }} }}"""
CREATE_AREA = f"mutation($i: CreateServiceAreaInput!) {{ createServiceArea(input: $i) {{ serviceArea {{ id }} {E} }} }}"
SET_DEPOT = f"mutation($i: SetFleetDepotInput!) {{ setFleetDepot(input: $i) {{ {E} }} }}"
CREATE_STORE = f"""mutation($i: CreatePickupLocationInput!) {{
  createPickupLocation(input: $i) {{ pickupLocation {{ id }} {E} }} }}"""
CREATE_LOCKER = f"mutation($i: CreateLockerInput!) {{ createLocker(input: $i) {{ locker {{ id }} {E} }} }}"
ADD_CARD = f"mutation($i: SetupPaymentMethodInput!) {{ setupPaymentMethod(input: $i) {{ {E} }} }}"
REGISTER_VEHICLE = f"mutation($i: RegisterVehicleInput!) {{ registerVehicle(input: $i) {{ vehicle {{ id }} {E} }} }}"
REGISTER_POLICY = f"""mutation($i: RegisterInsurancePolicyInput!) {{
  registerInsurancePolicy(input: $i) {{ policy {{ id }} {E} }} }}"""
VERIFY_POLICY = f"""mutation($i: VerifyInsurancePolicyInput!) {{
  verifyInsurancePolicy(input: $i) {{ policy {{ id }} {E} }} }}"""
SUBMIT_VERIFICATION = f"""mutation($i: SubmitVerificationInput!) {{
  submitVerification(input: $i) {{ request {{ id }} {E} }} }}"""
APPROVE_VERIFICATION = f"""mutation($i: ApproveVerificationInput!) {{
  approveVerification(input: $i) {{ request {{ id }} {E} }} }}"""
START_ONBOARDING = f"mutation($i: StartPayoutOnboardingInput) {{ startPayoutOnboarding(input: $i) {{ url {E} }} }}"
CREATE_TRIP = f"mutation($i: CreateTripInput!) {{ createTrip(input: $i) {{ trip {{ id }} {E} }} }}"
QUOTE = (
    f"mutation($i: RequestQuoteInput!) {{ requestQuote(input: $i) {{ quote {{ id price {{ amountMinor }} }} {E} }} }}"
)
BOOK = f"""mutation($i: BookQuoteInput!) {{
  bookQuote(input: $i) {{ job {{ id parcels {{ id labelCode recipientPin }} }} {E} }} }}"""
ROUNDS = """query($a: ID!, $after: String) { matchingRounds(areaId: $a, first: 50, after: $after) {
  edges { cursor node { id status } } } }"""
ROUND = "query($id: ID!) { matchingRound(id: $id) { plan { assignments { tripId parcelIds } } } }"
MY_OFFERS = """query { myOffers(status: OPEN, first: 50) { edges { node {
  id tripId parcelIds detourM co2G pay { amountMinor } stops { parcelId kind plannedAt } } } } }"""
ACCEPT = f"mutation($i: AcceptOfferInput!) {{ acceptOffer(input: $i) {{ offer {{ id status }} {E} }} }}"
DECLINE = f"mutation($i: DeclineOfferInput!) {{ declineOffer(input: $i) {{ offer {{ id status }} {E} }} }}"
STEP = "parcel {{ id status }} " + E
ARRIVE_AT_PICKUP = f"mutation($i: DeliveryStepInput!) {{ arriveAtPickup(input: $i) {{ parcel {{ status }} {E} }} }}"
CONFIRM_PICKUP = f"mutation($i: ConfirmPickupInput!) {{ confirmPickup(input: $i) {{ parcel {{ status }} {E} }} }}"
ARRIVE_AT_DROPOFF = f"mutation($i: DeliveryStepInput!) {{ arriveAtDropoff(input: $i) {{ parcel {{ status }} {E} }} }}"
DELIVER = f"mutation($i: DeliverParcelInput!) {{ deliverParcel(input: $i) {{ parcel {{ status }} {E} }} }}"
FAIL = f"mutation($i: ReportFailedAttemptInput!) {{ reportFailedAttempt(input: $i) {{ parcel {{ status }} {E} }} }}"
DEPOSIT = f"mutation($i: DeliveryStepInput!) {{ depositInLocker(input: $i) {{ parcel {{ status }} {E} }} }}"
SAFE_PLACE = f"""mutation($i: DeliverToSafePlaceInput!) {{
  deliverToSafePlace(input: $i) {{ parcel {{ status }} {E} }} }}"""
CONFIRM_RETURN = f"mutation($i: DeliveryStepInput!) {{ confirmReturn(input: $i) {{ parcel {{ status }} {E} }} }}"
COLLECT = f"""mutation($i: RecordLockerCollectionInput!) {{
  recordLockerCollection(input: $i) {{ parcel {{ status }} {E} }} }}"""
PINGS = f"mutation($i: RecordLocationPingsInput!) {{ recordLocationPings(input: $i) {{ kept flagged {E} }} }}"
REDIRECT = f"""mutation($i: RedirectTrackedParcelInput!) {{
  redirectTrackedParcel(input: $i) {{ parcel {{ status }} {E} }} }}"""
PARCEL = "query($id: ID!) { parcel(id: $id) { id status lockerPickupCode placement { state reasons { code } } } }"
PLAN_VANS = f"mutation($i: PlanVanRoundsInput!) {{ planVanRounds(input: $i) {{ queued {E} }} }}"
VAN_PLAN = """kind parcels served stops distanceM cost { amountMinor currency } co2G costPerParcel { amountMinor }
  costPerStop { amountMinor } co2GPerParcel co2GPerKm
  routes { leg distanceM stops { point { lat lng } } }"""
VAN_BASELINE = f"query($a: ID!, $d: Date!) {{ vanBaseline(areaId: $a, date: $d) {{ {VAN_PLAN} }} }}"
MANIFEST = f"""query($a: ID!, $d: Date!) {{ fleetManifest(areaId: $a, date: $d) {{
  lines {{ parcelId reasons {{ code }} }} vanRounds {{ {VAN_PLAN} }} }} }}"""
MONEY = "{ amountMinor currency }"
KPI_FIELDS = f"""startAt endAt parcelsBooked parcelsDelivered deliveredOnTime onTimeRate firstAttempts
  firstAttemptSuccesses firstAttemptSuccessRate deliveryAttempts failedAttempts failedDeliveryRate
  failedByReason {{ reason count rate }} returned handedToFleet crowdParcels crowdShare crowdStops fleetStops
  crowdPay {MONEY} fleetCost {MONEY} costPerParcel {MONEY} costPerStop {MONEY} crowdCostPerParcel {MONEY}
  fleetCostPerParcel {MONEY} vanOnlyCost {MONEY} vanOnlyCostPerParcel {MONEY} revenue {MONEY}
  revenuePerParcel {MONEY} offers offersAccepted offerAcceptanceRate trips capacityWeightUsed
  capacityVolumeUsed bookingToAssignmentMedianS bookingToAssignmentP90S crowdCo2G fleetCo2G co2PerParcelG
  vanOnlyCo2PerParcelG crowdCostPerStop {MONEY} fleetCostPerStop {MONEY} crowdDetourM
  crowdCo2GPerKm co2GPerKm fleetSource fleetRouteParcels fleetRouteCost {MONEY} fleetRouteCo2G
  fleetTariffParcels fleetTariffCost {MONEY} fleetTariffCo2G fleetDistanceM fleetCo2GPerKm vanOnlySource
  vanOnlyParcels vanOnlyRouteParcels vanOnlyTariffParcels vanOnlyTariffCost {MONEY} vanOnlyStops
  vanOnlyCostPerStop {MONEY} vanOnlyDistanceM vanOnlyCo2G vanOnlyCo2GPerKm
  emissionsByVehicle {{ kind offers parcels detourM co2G }} lockerDeposits
  lockerCollections lockerReturns lockerShare"""
KPIS = f"query($a: ID!, $d: Date!) {{ deliveryKpis(areaId: $a, date: $d) {{ {KPI_FIELDS} }} }}"
KPIS_BY_HOUR = f"query($a: ID!) {{ deliveryKpisByHour(areaId: $a) {{ {KPI_FIELDS} }} }}"
RECONCILIATION = """query($d: Date!) { reconciliationRuns(date: $d, first: 5) { edges { node {
  id supersededAt stripeObjects ledgerEntries matched mismatchCount } } } }"""
LEDGER = """query($after: String) { ledgerBalances(first: 100, after: $after) {
  edges { node { balance { amountMinor currency } } } pageInfo { hasNextPage endCursor } } }"""
